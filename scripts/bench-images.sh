#!/usr/bin/env bash
# Benchmarks `helm images` (plugin.wasm in Helm 4's extism runtime) and `purser images` (native)
# on the shared chart corpus, side by side with the helm-images plugin users pick today
# (github.com/nikhilsbhat/helm-images), and prints a table of timings and ratios. A benchmark,
# not a test: it reports what it measures and fails only when something cannot run.
#
#   scripts/bench-images.sh                  set up, measure, print the table
#   scripts/bench-images.sh --out FILE       also write the table to FILE (plain text)
#
#   PURSER_BENCH_SKIP_SETUP=1    do not run scripts/setup.sh (use the builds that are there)
#   PURSER_BENCH_REPS=N          repetitions per chart in the per-chart timings (default 3)
#   PURSER_BENCH_RUNS=N          runs of each throughput timing, best one counts (default 5)
#   PURSER_BENCH_HELM_IMAGES=BIN a helm-images binary to compare with; otherwise
#                                .purser/bench-bin/helm-images, built by `go install` if missing
#   PURSER_BENCH_ONLY=ratio      only what `| helm images` adds to `helm template` (parts 1, 4,
#                                and the start-up rows of 3): no big.yaml, no helm-images
#
# What it measures:
#   1. the corpus: every chart under ../shared/charts with a Chart.yaml, `helm template release`
#   2. core throughput, native: `purser images -o list < big.yaml` (the corpus repeated to 50 MB)
#   3. core throughput, WASM: `helm images -o list < big.yaml`, start-up cost, peak RSS
#   4. what `| helm images` adds to `helm template`, per chart, summed over the corpus, and the
#      median over the charts of (template | images) / (template alone), beside plugin.wasm's size
#   5. wall time per corpus: helm-images, `purser images ./chart`, `helm template | helm images`
#
# Helm runs with temporary HELM_DATA_HOME, HELM_CONFIG_HOME and HELM_CACHE_HOME: the caller's
# Helm is not touched. The `images` plugin is installed there by scripts/setup.sh. helm-images
# is also named `images`, so it gets Helm homes of its own.
set -euo pipefail
caller_dir=$(pwd)
# Benchmarks measure what ships: the release profile (scripts/env.sh).
export PURSER_PROFILE=${PURSER_PROFILE:-release}
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

bench_args "$caller_dir" "${BASH_SOURCE[0]}" "$@"

reps=${PURSER_BENCH_REPS:-3}
only=${PURSER_BENCH_ONLY:-}
case $only in '' | ratio) ;; *) die "PURSER_BENCH_ONLY=$only: the only choice is ratio" ;; esac
runs=${PURSER_BENCH_RUNS:-5}
corpus_dir=$PURSER_ROOT/../shared/charts
target_mb=50

work=$(mktemp -d "${TMPDIR:-/tmp}/purser-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

export HELM_DATA_HOME=$work/helm/data HELM_CONFIG_HOME=$work/helm/config
export HELM_CACHE_HOME=$work/helm/cache HELM_PLUGINS=$work/helm/data/plugins
mkdir -p "$HELM_DATA_HOME" "$HELM_CONFIG_HOME" "$HELM_CACHE_HOME" "$HELM_PLUGINS"

# --- results -------------------------------------------------------------------------------------

results=()
row() { results+=("$(printf '  %-60s %12s  %s' "$1" "$2" "${3:-}" | sed 's/ *$//')"); }
section() { results+=("" "$1"); }
note() { results+=("  note: $*"); say "$*"; }

calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR
ms() { calc '%.0f ms' "$1 * 1000"; }
secs() { calc '%.2f s' "$1"; }

# --- timing ----------------------------------------------------------------------------------------
# best_of RUNS WARMUP COMMAND: the fastest wall time (seconds) of COMMAND, a sh command line, into
# $best. hyperfine when installed (it subtracts the shell's own start-up), else a loop that does
# the same with `date +%s%N`.

have_hyperfine=0
command -v hyperfine >/dev/null 2>&1 && have_hyperfine=1
now_ns() { date +%s%N; }

loop_best() { # RUNS WARMUP COMMAND -> seconds on stdout
  local i s e t best=
  for ((i = 0; i < $1 + $2; i++)); do
    s=$(now_ns)
    sh -c "$3" || return 1
    e=$(now_ns)
    t=$((e - s))
    [ "$i" -lt "$2" ] && continue
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  calc '%.6f' "$best / 1e9"
}

shell_start=
best_of() {
  if [ "$have_hyperfine" = 1 ]; then
    hyperfine --style none --runs "$1" --warmup "$2" --export-json "$work/hf.json" "$3" >/dev/null 2>"$work/hf.err" ||
      { sh -c "$3" 2>&1 | tail -n 5 >&2; die "failed: $3"; } # once more, to show why
    best=$(sed -n 's/^ *"min": *\([-0-9.e+]*\),*$/\1/p' "$work/hf.json" | head -n 1)
  else
    [ -n "$shell_start" ] || shell_start=$(loop_best 10 2 true)
    best=$(loop_best "$1" "$2" "$3") || die "failed: $3"
    best=$(calc '%.6f' "$best - $shell_start")
  fi
}

rss_of() { # COMMAND... (stdin from the caller) -> peak RSS in MiB in $rss, or "n/a"
  rss=n/a
  [ -x /usr/bin/time ] || return 0
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null || die "failed: $*"
  rss=$(calc '%.0f' "$(tail -n 1 "$work/rss") / 1024")
}

# --- set-up ----------------------------------------------------------------------------------------

if [ "${PURSER_BENCH_SKIP_SETUP:-}" = 1 ]; then
  say "bench: setup skipped (PURSER_BENCH_SKIP_SETUP=1); installing the plugin from .purser/plugins/images"
  [ -f plugin.wasm ] || die "no plugin.wasm: run scripts/setup.sh"
  stage=$PURSER_LOCAL/plugins/images
  mkdir -p "$stage"
  ln -sfn ../../../plugin.yaml "$stage/plugin.yaml"
  ln -sfn ../../../plugin.wasm "$stage/plugin.wasm"
  "$HELM_BIN" plugin install "$stage" >&2
else
  say "bench: scripts/setup.sh (Helm homes in $work/helm)"
  "$PURSER_ROOT/scripts/setup.sh"
fi
purser=$PURSER_BUILD/purser
[ -n "$only" ] || [ -x "$purser" ] || die "no native purser at $purser: run scripts/setup.sh"
module_bytes=$(wc -c <plugin.wasm | tr -d ' ')
"$HELM_BIN" plugin list 2>/dev/null | grep -q '^images[[:space:]]' || die "the images plugin is not installed in $HELM_DATA_HOME"

# a go-built Helm reports only v4.2 itself; its module version is exact
helm_version=
command -v go >/dev/null 2>&1 &&
  helm_version=$(go version -m "$HELM_BIN" 2>/dev/null | awk '$1 == "mod" && $2 == "helm.sh/helm/v4" { print $3 }')
[ -n "$helm_version" ] || helm_version=$("$HELM_BIN" version --template '{{.Version}}' 2>/dev/null || echo '?')
wasm_limit_pages=$(sed -n 's/^ *maxPages: *\([0-9]*\).*/\1/p' plugin.yaml | head -n 1)
wasm_limit_mib=n/a
[ -n "$wasm_limit_pages" ] && wasm_limit_mib=$((wasm_limit_pages * 64 / 1024))

# --- 1. the corpus ------------------------------------------------------------------------------------

charts=()      # chart directories
chart_args=()  # extra render flags per chart, one string each (word-split on use)
if [ -d "$corpus_dir" ]; then
  corpus_dir=$(cd "$corpus_dir" && pwd)
  for dir in "$corpus_dir"/*/; do
    [ -f "$dir/Chart.yaml" ] || continue
    charts+=("${dir%/}")
    case $(basename "$dir") in
      # CORPUS.md: does not render with default values
      opentelemetry-collector) chart_args+=("--set mode=deployment --set image.repository=otel/opentelemetry-collector-k8s") ;;
      *) chart_args+=("") ;;
    esac
  done
fi
have_corpus=0
[ "${#charts[@]}" -gt 0 ] && have_corpus=1
if [ "$have_corpus" = 0 ]; then
  # Without the shared corpus the throughput parts still run, on this repository's own charts.
  for dir in "$PURSER_ROOT"/examples/*/ "$PURSER_ROOT"/tests/fixtures/charts/*/; do
    [ -f "$dir/Chart.yaml" ] || continue
    charts+=("${dir%/}")
    chart_args+=("")
  done
  [ "${#charts[@]}" -gt 0 ] || die "no charts: neither $corpus_dir nor examples/ or tests/fixtures/charts/ hold one"
fi

say "bench: rendering ${#charts[@]} charts"
mkdir -p "$work/rendered"
ok_charts=() ok_args=() ok_bytes=()
render_fail=()
corpus_bytes=0
s=$(now_ns)
for i in "${!charts[@]}"; do
  name=$(basename "${charts[$i]}")
  # shellcheck disable=SC2086 # chart_args holds flags, split on purpose
  if "$HELM_BIN" template release "${charts[$i]}" ${chart_args[$i]} >"$work/rendered/$i-$name.yaml" 2>"$work/render.err"; then
    ok_charts+=("${charts[$i]}")
    ok_args+=("${chart_args[$i]}")
    ok_bytes+=("$(wc -c <"$work/rendered/$i-$name.yaml")")
    corpus_bytes=$((corpus_bytes + ok_bytes[${#ok_bytes[@]} - 1]))
  else
    render_fail+=("$name")
    rm -f "$work/rendered/$i-$name.yaml"
    say "bench: helm template failed for $name: $(head -n 1 "$work/render.err")"
  fi
done
e=$(now_ns)
[ "${#ok_charts[@]}" -gt 0 ] || die "no chart rendered"
cat "$work/rendered"/*.yaml >"$work/corpus.yaml"

section "corpus (Helm $helm_version, $(nproc 2>/dev/null || echo ?) cores)"
if [ "$have_corpus" = 1 ]; then
  row "charts rendered (../shared/charts)" "${#ok_charts[@]}/${#charts[@]}" \
    "$(calc '%.1f MB of manifests' "$corpus_bytes / 1e6")"
else
  note "../shared/charts is absent: parts 4 and 5 are skipped; throughput uses this repository's ${#ok_charts[@]} charts"
  row "charts rendered (examples/, tests/fixtures/charts/)" "${#ok_charts[@]}/${#charts[@]}" \
    "$(calc '%.3f MB of manifests' "$corpus_bytes / 1e6")"
fi
row "helm template, once over the corpus" "$(secs "$(calc '%.6f' "($e - $s) / 1e9")")"
[ "${#render_fail[@]}" -eq 0 ] || note "did not render: ${render_fail[*]}"

# big.yaml: the corpus repeated to >= 50 MB; tiny.yaml: one pod
copies=$(((target_mb * 1000000 + corpus_bytes - 1) / corpus_bytes))
[ -n "$only" ] || for ((i = 0; i < copies; i++)); do cat "$work/corpus.yaml"; done >"$work/big.yaml"
cat >"$work/tiny.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: tiny
spec:
  containers:
    - name: app
      image: nginx:1.27
EOF
big=$work/big.yaml tiny=$work/tiny.yaml
q() { printf '%q' "$1"; }

# --- 2. core throughput, native -------------------------------------------------------------------

if [ -z "$only" ]; then
big_bytes=$(wc -c <"$work/big.yaml")
big_mb=$(calc '%.6f' "$big_bytes / 1e6")
say "bench: native core on $(calc '%.1f' "$big_mb") MB ($copies copies of the corpus)"
best_of "$runs" 1 "$(q "$purser") images -o list < $(q "$big") > /dev/null"
native_big=$best
best_of "$runs" 2 "$(q "$purser") images -o list < $(q "$tiny") > /dev/null"
native_tiny=$best
rss_of "$purser" images -o list <"$big"
native_rss=$rss
native_mbs=$(calc '%.0f' "$big_mb / $native_big")
native_net=$(calc '%.6f' "$native_big - $native_tiny")
native_net_mbs=$(calc '%.0f' "$big_mb / ($native_net > 0 ? $native_net : 1e-9)")

section "2. core throughput, native: purser images -o list < big.yaml ($(calc '%.1f' "$big_mb") MB, best of $runs)"
row "wall time" "$(ms "$native_big")"
row "native core" "$native_mbs MB/s" "(target >= 200)"
row "start-up (tiny input)" "$(ms "$native_tiny")"
row "native core, net of start-up" "$native_net_mbs MB/s"
row "peak RSS" "$native_rss MiB"
fi

# --- 3. core throughput, WASM -------------------------------------------------------------------

say "bench: WASM core (helm images) on the same input"
# Cold: the first run after install compiles plugin.wasm (wazero caches the result in
# HELM_CACHE_HOME); measured with empty caches, then the cache is warm for the rest.
wazero_cache=$HELM_CACHE_HOME/wazero-build
"$HELM_BIN" images -o list <"$tiny" >/dev/null
cold_note="(best of 3, empty wazero cache)"
[ -d "$wazero_cache" ] || cold_note="(no compilation cache at $wazero_cache: every call may be cold)"
cold_best=
for ((i = 0; i < 3; i++)); do
  rm -rf "$wazero_cache"
  s=$(now_ns)
  "$HELM_BIN" images -o list <"$tiny" >/dev/null
  e=$(now_ns)
  t=$((e - s))
  if [ -z "$cold_best" ] || [ "$t" -lt "$cold_best" ]; then cold_best=$t; fi
done
wasm_cold=$(calc '%.6f' "$cold_best / 1e9")
best_of "$runs" 2 "$(q "$HELM_BIN") images -o list < $(q "$tiny") > /dev/null"
wasm_tiny=$best
best_of "$runs" 2 "$(q "$HELM_BIN") version > /dev/null"
helm_start=$best
if [ -n "$only" ]; then
  section "3. start-up of helm images (Helm's extism runtime, best of $runs; PURSER_BENCH_ONLY=$only)"
  row "start-up, warm (tiny input; plugin.wasm compiled)" "$(ms "$wasm_tiny")" \
    "(of which Helm itself, helm version: $(ms "$helm_start"))"
  row "start-up, cold (first call: compiles plugin.wasm)" "$(ms "$wasm_cold")" "$cold_note"
else
best_of "$runs" 1 "$(q "$HELM_BIN") images -o list < $(q "$big") > /dev/null"
wasm_big=$best
rss_of "$HELM_BIN" images -o list <"$big"
wasm_rss=$rss
rss_of "$HELM_BIN" images -o list <"$tiny"
wasm_tiny_rss=$rss
wasm_mbs=$(calc '%.1f' "$big_mb / $wasm_big")
wasm_net=$(calc '%.6f' "$wasm_big - $wasm_tiny")
wasm_net_mbs=$(calc '%.1f' "$big_mb / ($wasm_net > 0 ? $wasm_net : 1e-9)")

section "3. core throughput, WASM: helm images -o list < big.yaml (Helm's extism runtime, best of $runs)"
row "wall time" "$(ms "$wasm_big")"
row "WASM core, with Helm start-up" "$wasm_mbs MB/s"
row "start-up, warm (tiny input; plugin.wasm compiled)" "$(ms "$wasm_tiny")" \
  "(of which Helm itself, helm version: $(ms "$helm_start"))"
row "start-up, cold (first call: compiles plugin.wasm)" "$(ms "$wasm_cold")" "$cold_note"
row "WASM core, net of warm start-up" "$wasm_net_mbs MB/s"
row "peak RSS, big.yaml (whole helm process)" "$wasm_rss MiB" "(plugin.yaml caps WASM memory at $wasm_limit_mib MiB; run succeeded)"
row "peak RSS, tiny.yaml" "$wasm_tiny_rss MiB"
row "WASM vs native core (net of start-up)" "$(calc '%.1fx' "$native_net_mbs / $wasm_net_mbs") slower"
fi

# --- 4. what helm images adds to helm template -----------------------------------------------------

run_template() { # INDEX
  # shellcheck disable=SC2086
  "$HELM_BIN" template release "${ok_charts[$1]}" ${ok_args[$1]} >/dev/null 2>&1
}
run_pipeline() { # INDEX
  # shellcheck disable=SC2086
  "$HELM_BIN" template release "${ok_charts[$1]}" ${ok_args[$1]} 2>/dev/null | "$HELM_BIN" images -o list >/dev/null
}
timed() { # FUNCTION INDEX -> nanoseconds in $took
  local s e
  s=$(now_ns)
  "$1" "$2" || die "failed: $1 ${ok_charts[$2]}"
  e=$(now_ns)
  took=$((e - s))
}
min_into() { # ARRAY INDEX VALUE
  local cur
  eval "cur=\${$1[$2]:-}"
  if [ -z "$cur" ] || [ "$3" -lt "$cur" ]; then eval "$1[$2]=$3"; fi
}

n=${#ok_charts[@]}
if [ "$have_corpus" = 1 ]; then
  say "bench: helm template vs helm template | helm images, $n charts x $reps"
  t_template=() t_pipeline=()
  for ((r = 0; r < reps; r++)); do
    for ((i = 0; i < n; i++)); do
      timed run_template "$i"
      min_into t_template "$i" "$took"
      timed run_pipeline "$i"
      min_into t_pipeline "$i" "$took"
    done
  done
  sum_template=0 sum_pipeline=0
  for ((i = 0; i < n; i++)); do
    sum_template=$((sum_template + t_template[i]))
    sum_pipeline=$((sum_pipeline + t_pipeline[i]))
  done
  tpl_s=$(calc '%.6f' "$sum_template / 1e9")
  pipe_s=$(calc '%.6f' "$sum_pipeline / 1e9")
  added_s=$(calc '%.6f' "$pipe_s - $tpl_s")
  added_pct=$(calc '%.1f' "100 * $added_s / $tpl_s")
  # Split by rendered size: on small charts the fixed start-up of `helm images` is what shows;
  # in the pipe it starts while helm template renders, so part of it is hidden (2+ cores).
  small_limit=100000
  small_n=0 small_tpl=0 small_pipe=0 large_n=0 large_tpl=0 large_pipe=0
  for ((i = 0; i < n; i++)); do
    if [ "${ok_bytes[i]}" -lt "$small_limit" ]; then
      small_n=$((small_n + 1)) small_tpl=$((small_tpl + t_template[i])) small_pipe=$((small_pipe + t_pipeline[i]))
    else
      large_n=$((large_n + 1)) large_tpl=$((large_tpl + t_template[i])) large_pipe=$((large_pipe + t_pipeline[i]))
    fi
  done
  median_added=$(for ((i = 0; i < n; i++)); do echo $((t_pipeline[i] - t_template[i])); done |
    sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1e9 }')
  # per chart: (template | images) / (template alone); median, lowest and highest
  ratios=$(for ((i = 0; i < n; i++)); do calc '%.6f\n' "${t_pipeline[i]} / ${t_template[i]}"; done | sort -n)
  ratio_median=$(awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }' <<<"$ratios")
  ratio_low=$(head -n 1 <<<"$ratios")
  ratio_high=$(tail -n 1 <<<"$ratios")
  section "4. helm template | helm images vs helm template, $n charts (per chart best of $reps, summed)"
  row "(template | images) / template alone, median over charts" "$(calc '%.3f' "$ratio_median")" \
    "(target <= 1.10; range $(calc '%.3f' "$ratio_low")-$(calc '%.3f' "$ratio_high"); plugin.wasm $module_bytes bytes)"
  row "helm template > /dev/null" "$(secs "$tpl_s")"
  row "helm template | helm images -o list > /dev/null" "$(secs "$pipe_s")"
  row "helm images adds" "$added_pct%" "(target < 5%; $(ms "$added_s") over $n charts)"
  row "  added per chart, median" "$(ms "$median_added")"
  [ "$small_n" -eq 0 ] || row "  on the $small_n charts rendering < 100 KB" \
    "$(calc '%.1f%%' "100 * ($small_pipe - $small_tpl) / $small_tpl")" \
    "($(ms "$(calc '%.6f' "($small_pipe - $small_tpl) / $small_n / 1e9")") a chart)"
  [ "$large_n" -eq 0 ] || row "  on the $large_n charts rendering >= 100 KB" \
    "$(calc '%.1f%%' "100 * ($large_pipe - $large_tpl) / $large_tpl")" \
    "($(ms "$(calc '%.6f' "($large_pipe - $large_tpl) / $large_n / 1e9")") a chart)"
  row "fixed cost of one helm images call, warm (alone)" "$(ms "$wasm_tiny")" \
    "(Helm start-up $(ms "$helm_start") + plugin; first call after install: $(ms "$wasm_cold"))"
else
  section "4. helm template | helm images vs helm template"
  note "skipped: ../shared/charts is absent"
fi

# --- 5. the peer: helm-images -------------------------------------------------------------------

peer_bin=${PURSER_BENCH_HELM_IMAGES:-}
peer_why=
[ -z "$only" ] || peer_why="skipped (PURSER_BENCH_ONLY=$only)"
peer_from=
if [ -n "$peer_bin" ]; then
  [ -x "$peer_bin" ] || peer_why="PURSER_BENCH_HELM_IMAGES=$peer_bin is not an executable"
  peer_from="PURSER_BENCH_HELM_IMAGES"
else
  peer_bin=$PURSER_LOCAL/bench-bin/helm-images
  if [ -x "$peer_bin" ]; then
    peer_from="$peer_bin, built earlier"
  elif ! command -v go >/dev/null 2>&1; then
    peer_why="no Go here to build it (go install github.com/nikhilsbhat/helm-images@latest)"
  else
    say "bench: go install github.com/nikhilsbhat/helm-images@latest (into .purser/bench-bin)"
    if GOBIN=$PURSER_LOCAL/bench-bin go install github.com/nikhilsbhat/helm-images@latest >"$work/go.log" 2>&1 &&
      [ -x "$peer_bin" ]; then
      peer_from="go install @latest"
    else
      peer_why="go install github.com/nikhilsbhat/helm-images@latest failed: $(grep -v '^go: downloading' "$work/go.log" | head -n 2 | tr '\n' ' ')"
    fi
  fi
fi
peer_version=
if [ -z "$peer_why" ] && command -v go >/dev/null 2>&1; then
  peer_version=$(go version -m "$peer_bin" 2>/dev/null | awk '$1 == "mod" { print $3; exit }')
  [ "$peer_version" != "(devel)" ] || peer_version="built from source"
fi

[ -n "$only" ] ||
  section "5. side by side with helm-images (github.com/nikhilsbhat/helm-images${peer_version:+, $peer_version})"
if [ -n "$peer_why" ] && [ -z "$only" ]; then
  note "helm-images not measured: $peer_why"
  note "build it from source and pass PURSER_BENCH_HELM_IMAGES=/path/to/helm-images to compare"
fi

if [ -z "$peer_why" ]; then
  # helm-images is a Helm 3 style plugin named `images` too: it gets Helm homes of its own,
  # installed from a plugin.yaml without its install hook (the hook downloads a release binary).
  peer_home=$work/peer
  mkdir -p "$peer_home/data/plugins" "$peer_home/config" "$peer_home/cache" "$peer_home/stage/images/bin"
  ln -s "$peer_bin" "$peer_home/stage/images/bin/helm-images"
  cat >"$peer_home/stage/images/plugin.yaml" <<'EOF'
name: "images"
version: "0.0.0"
usage: "Lists all/selected docker images that are part of deployment"
description: "helm-images, installed by purser's scripts/bench-images.sh (no install hook)"
useTunnel: true
command: "$HELM_PLUGIN_DIR/bin/helm-images"
EOF
  peer_env=(env "HELM_DATA_HOME=$peer_home/data" "HELM_CONFIG_HOME=$peer_home/config"
    "HELM_CACHE_HOME=$peer_home/cache" "HELM_PLUGINS=$peer_home/data/plugins")
  peer_mode=plugin
  if ! "${peer_env[@]}" "$HELM_BIN" plugin install "$peer_home/stage/images" >"$work/peer.log" 2>&1 ||
    ! "${peer_env[@]}" "$HELM_BIN" images get --raw - <"$tiny" >/dev/null 2>>"$work/peer.log"; then
    note "helm-images does not run as a Helm $helm_version plugin ($(head -n 1 "$work/peer.log")); running its binary directly with HELM_BIN set, as Helm would"
    peer_mode=direct
  fi
  run_peer() { # INDEX
    local cmd=("${peer_env[@]}" "$HELM_BIN" images)
    [ "$peer_mode" = plugin ] || cmd=(env "HELM_BIN=$HELM_BIN" "$peer_bin")
    # shellcheck disable=SC2086
    "${cmd[@]}" get release "${ok_charts[$1]}" ${ok_args[$1]} >/dev/null 2>"$work/peer.err"
  }
  run_native() { # INDEX
    # shellcheck disable=SC2086
    "$purser" images "${ok_charts[$1]}" ${ok_args[$1]} -o list >/dev/null 2>"$work/native.err"
  }

  # the cores, without rendering: the same big.yaml through helm-images --raw
  say "bench: helm-images core (get --raw -) on big.yaml"
  peer_core_runs=$((runs < 3 ? runs : 3))
  best_of "$peer_core_runs" 0 "$(q "$peer_bin") get --raw - < $(q "$big") > /dev/null 2>&1"
  peer_big=$best
  rss_of "$peer_bin" get --raw - <"$big" 2>"$work/peer-core.err"
  peer_rss=$rss
  peer_errors=$(grep -c '"level":"error"' "$work/peer-core.err" || true)
  row "helm-images core: get --raw - < big.yaml" "$(ms "$peer_big")" \
    "$(calc '%.1f MB/s' "$big_mb / $peer_big"), peak RSS $peer_rss MiB (binary, best of $peer_core_runs)"
  row "purser core, native, same input" "$(ms "$native_big")" "$native_mbs MB/s, peak RSS $native_rss MiB"
  row "purser core, WASM (helm images), same input" "$(ms "$wasm_big")" "$wasm_mbs MB/s, peak RSS $wasm_rss MiB"
  row "native purser vs helm-images, core" "$(calc '%.2fx' "$native_big / $peer_big") the time"
  row "helm images (WASM) vs helm-images, core" "$(calc '%.2fx' "$wasm_big / $peer_big") the time"
  [ "$peer_errors" = 0 ] || note "helm-images logged $peer_errors errors on big.yaml ($(grep '"level":"error"' "$work/peer-core.err" | grep -o '"msg":"[^"]*' | sed 's/"msg":"//; s/ errored with.*//; s/ of configmap.*//' | sort | uniq -c | sort -rn | awk '{ $1 = $1 "x"; print }' | paste -sd ';' - | sed 's/;/; /g'))"
fi

if [ -z "$peer_why" ] && [ "$have_corpus" = 1 ]; then
  say "bench: per corpus: helm-images vs purser images ./chart, $n charts x $reps"
  t_peer=() t_native=()
  peer_failed=() native_failed=()
  for ((r = 0; r < reps; r++)); do
    for ((i = 0; i < n; i++)); do
      s=$(now_ns)
      if run_peer "$i"; then
        e=$(now_ns)
        min_into t_peer "$i" $((e - s))
      elif [ "$r" = 0 ]; then
        peer_failed+=("$(basename "${ok_charts[$i]}")")
        say "bench: helm-images failed on $(basename "${ok_charts[$i]}"): $(tail -n 1 "$work/peer.err")"
      fi
      s=$(now_ns)
      if run_native "$i"; then
        e=$(now_ns)
        min_into t_native "$i" $((e - s))
      elif [ "$r" = 0 ]; then
        native_failed+=("$(basename "${ok_charts[$i]}")")
        say "bench: purser images failed on $(basename "${ok_charts[$i]}"): $(tail -n 1 "$work/native.err")"
      fi
    done
  done
  # compare over the charts every tool handled
  both=0 s_peer=0 s_native=0 s_pipe=0 s_tpl=0
  for ((i = 0; i < n; i++)); do
    [ -n "${t_peer[i]:-}" ] && [ -n "${t_native[i]:-}" ] || continue
    both=$((both + 1))
    s_peer=$((s_peer + t_peer[i]))
    s_native=$((s_native + t_native[i]))
    s_pipe=$((s_pipe + t_pipeline[i]))
    s_tpl=$((s_tpl + t_template[i]))
  done
  peer_how="helm images get release ./chart (helm-images plugin)"
  [ "$peer_mode" = plugin ] || peer_how="helm-images get release ./chart (binary)"
  results+=("" "  wall time per corpus, $both charts every tool handled (per chart best of $reps, summed):")
  row "$peer_how" "$(secs "$(calc '%.6f' "$s_peer / 1e9")")"
  row "purser images ./chart -o list (native; renders via helm)" "$(secs "$(calc '%.6f' "$s_native / 1e9")")"
  row "helm template ./chart | helm images -o list (WASM)" "$(secs "$(calc '%.6f' "$s_pipe / 1e9")")"
  row "helm template ./chart alone (the floor for all three)" "$(secs "$(calc '%.6f' "$s_tpl / 1e9")")"
  if [ "$s_peer" -gt 0 ]; then
    row "purser (native) vs helm-images" "$(calc '%.2fx' "$s_native / $s_peer") the time"
    row "helm template | helm images vs helm-images" "$(calc '%.2fx' "$s_pipe / $s_peer") the time"
  fi
  [ "${#peer_failed[@]}" -eq 0 ] || note "helm-images failed on: ${peer_failed[*]}"
  [ "${#native_failed[@]}" -eq 0 ] || note "purser images failed on: ${native_failed[*]}"
  [ -z "$peer_from" ] || note "helm-images binary: $peer_from"
elif [ -z "$peer_why" ]; then
  note "per-corpus comparison skipped: ../shared/charts is absent"
fi

# --- report ------------------------------------------------------------------------------------------

timer=hyperfine
[ "$have_hyperfine" = 1 ] || timer="a date +%s%N loop (install hyperfine for its timing)"
{
  echo "purser bench-images — $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$PURSER_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), timings by $timer"
  printf '%s\n' "${results[@]}"
} >"$work/report.txt"
cat "$work/report.txt"
if [ -n "$out_file" ]; then
  cp "$work/report.txt" "$out_file"
  say "bench: written to $out_file"
fi
