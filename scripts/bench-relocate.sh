#!/usr/bin/env bash
# Benchmarks the `relocate` post-renderer (`purser post-render`) and prints a table of timings
# and ratios. A benchmark, not a test: it reports what it measures and fails only when
# something cannot run.
#
#   scripts/bench-relocate.sh                  set up, measure, print the table
#   scripts/bench-relocate.sh --out FILE       also write the table to FILE (plain text)
#
#   PURSER_BENCH_SKIP_SETUP=1    do not run scripts/setup.sh (use the builds that are there)
#   PURSER_BENCH_RUNS=N          runs of each timing (default 10; hyperfine's mean and min shown)
#
# What it measures:
#   1. the corpus: every chart under ../shared/charts, `helm template CHART-NAME CHART`, once
#   2. `purser post-render` on the corpus repeated to >= 10 MB: --to; --to --lock --enforce;
#      --lock alone (pin in place); against `cat` (reading and writing the bytes, nothing else)
#   3. side by side with what users pick today for the same job, on the corpus once (kustomize
#      refuses the repeated stream: same resource ids): `kubectl kustomize` with an `images:`
#      entry per image (needs kubectl), and a `sed` that rewrites registries textually
#   4. what the post-renderer adds to `helm template CHART` through Helm 4, against no
#      post-renderer and a pass-through one (`cat`), for the corpus's biggest chart
set -euo pipefail
caller_dir=$(pwd)
# Benchmarks measure what ships: the release profile (scripts/env.sh).
export PURSER_PROFILE=${PURSER_PROFILE:-release}
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

bench_args "$caller_dir" "${BASH_SOURCE[0]}" "$@"

runs=${PURSER_BENCH_RUNS:-10}
corpus_dir=$PURSER_ROOT/../shared/charts
target_bytes=$((10 * 1024 * 1024))
to=registry.internal/mirror

command -v hyperfine >/dev/null 2>&1 || die "hyperfine is needed (apt-get install hyperfine)"
[ -d "$corpus_dir" ] || die "no chart corpus at $corpus_dir"

work=$(mktemp -d "${TMPDIR:-/tmp}/purser-bench-relocate.XXXXXX")
trap '[ -n "${PURSER_BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
export HELM_DATA_HOME=$work/helm/data HELM_CONFIG_HOME=$work/helm/config
export HELM_CACHE_HOME=$work/helm/cache HELM_PLUGINS=$work/helm/data/plugins
mkdir -p "$HELM_DATA_HOME" "$HELM_CONFIG_HOME" "$HELM_CACHE_HOME" "$HELM_PLUGINS"

if [ "${PURSER_BENCH_SKIP_SETUP:-}" != 1 ]; then
  PURSER_SKIP_REGISTRIES=1 PURSER_SKIP_KUBE=1 scripts/setup.sh
else
  # The relocate plugin still has to be in these Helm homes.
  "$HELM_BIN" plugin install "$PURSER_LOCAL/plugins/relocate" >/dev/null
fi
purser=$PURSER_BUILD/purser
[ -x "$purser" ] || die "no $purser: run scripts/setup.sh"
mkdir -p "$work/passthrough"
cat >"$work/passthrough/plugin.yaml" <<'EOF'
apiVersion: v1
name: passthrough
type: postrenderer/v1
runtime: subprocess
version: 0.1.0
config: {}
runtimeConfig:
  platformCommand:
    - command: cat
EOF
"$HELM_BIN" plugin install "$work/passthrough" >/dev/null

results=()
row() { results+=("$(printf '  %-72s %10s %10s  %s' "$1" "$2" "$3" "${4:-}" | sed 's/ *$//')"); }
section() { results+=("" "$(printf '%-74s %10s %10s' "$1" mean min)"); }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# time_it NAME COMMAND: hyperfine's mean and min (seconds) into $mean and $min.
time_it() {
  hyperfine --runs "$runs" --warmup 2 --style none --export-json "$work/t.json" "$2" >/dev/null 2>&1 ||
    die "$1 failed: $2"
  mean=$(sed -n 's/^ *"mean": \([0-9.e-]*\),*$/\1/p' "$work/t.json" | head -n 1)
  min=$(sed -n 's/^ *"min": \([0-9.e-]*\),*$/\1/p' "$work/t.json" | head -n 1)
}
ms() { calc '%.1f ms' "$1 * 1000"; }

# --- 1. the corpus ------------------------------------------------------------------------------
say "corpus: rendering $(ls "$corpus_dir" | wc -l) entries of $corpus_dir"
: >"$work/corpus.yaml"
biggest= biggest_size=0
for chart in "$corpus_dir"/*/; do
  [ -f "$chart/Chart.yaml" ] || continue
  name=$(basename "$chart")
  extra=()
  [ "$name" = opentelemetry-collector ] &&
    extra=(--set mode=deployment --set image.repository=otel/opentelemetry-collector-k8s)
  "$HELM_BIN" template "$name" "$chart" ${extra[@]+"${extra[@]}"} >"$work/$name.yaml" 2>/dev/null ||
    { say "corpus: $name does not render; left out"; continue; }
  cat "$work/$name.yaml" >>"$work/corpus.yaml"
  size=$(wc -c <"$work/$name.yaml")
  if [ "$size" -gt "$biggest_size" ] && [ ${#extra[@]} = 0 ]; then biggest=$name biggest_size=$size; fi
done
corpus_bytes=$(wc -c <"$work/corpus.yaml")
: >"$work/big.yaml"
while [ "$(wc -c <"$work/big.yaml")" -lt "$target_bytes" ]; do cat "$work/corpus.yaml" >>"$work/big.yaml"; done
big_bytes=$(wc -c <"$work/big.yaml")
big_mb=$(calc '%.1f' "$big_bytes / 1048576")

# A lock for every image of the corpus, each with a digest (the one it names, if any).
# (Long references are written folded: `image: >-` and the reference on the next line.)
"$purser" images -o lock <"$work/corpus.yaml" | awk '
  function digest(image) {
    n++
    if (index(image, "@") > 0) { split(image, p, "@"); print "  digest: " p[2] }
    else printf "  digest: sha256:%064x\n", n
  }
  /^  image: >-$/ { print; getline; print; digest($1); next }
  /^  image: / { print; digest($2); next }
  { print }' >"$work/images.lock"
images=$(grep -c '^  image: ' "$work/images.lock")
references=$("$purser" images -o json <"$work/big.yaml" | grep -c '"source": "rendered"' || true)

# --- 2. purser post-render on >= 10 MB ---------------------------------------------------------------
section "purser post-render, ${big_mb} MB stream ($references references of $images images)"
time_it cat "cat $work/big.yaml > /dev/null"
row "cat > /dev/null (a floor: the kernel moves the bytes)" "$(ms "$mean")" "$(ms "$min")"
for args in "--to $to" "--to $to --lock $work/images.lock --enforce" "--lock $work/images.lock" "--to $to --typed-only"; do
  time_it post-render "$purser post-render $args < $work/big.yaml > /dev/null"
  label=$(echo "$args" | sed "s|$work/||g")
  row "purser post-render $label" "$(ms "$mean")" "$(ms "$min")" "$(calc '%.0f MB/s' "$big_bytes / 1048576 / $min")"
done

# --- 3. side by side, corpus once ---------------------------------------------------------------------
corpus_mb=$(calc '%.1f' "$corpus_bytes / 1048576")
section "the same job with other tools, corpus once (${corpus_mb} MB)"
time_it post-render "$purser post-render --to $to < $work/corpus.yaml > /dev/null"
purser_min=$min
row "purser post-render --to $to" "$(ms "$mean")" "$(ms "$min")" "1.0x"
if command -v kubectl >/dev/null 2>&1; then
  mkdir -p "$work/kustomize"
  cp "$work/corpus.yaml" "$work/kustomize/corpus.yaml"
  {
    echo "resources: [corpus.yaml]"
    echo "images:"
    "$purser" images -o list <"$work/corpus.yaml" | while read -r image; do
      name=${image%%@*}
      name=${name%:*}
      short=${name#*/}
      echo "  - {name: \"$name\", newName: \"$to/$short\"}"
    done
  } >"$work/kustomize/kustomization.yaml"
  if kubectl kustomize "$work/kustomize" >/dev/null 2>"$work/kustomize.err"; then
    time_it kustomize "kubectl kustomize $work/kustomize > /dev/null"
    row "kubectl kustomize (images: transformer)" "$(ms "$mean")" "$(ms "$min")" \
      "$(calc '%.1fx' "$min / $purser_min")"
  else
    row "kubectl kustomize: failed ($(head -c 80 "$work/kustomize.err"))" - -
  fi
else
  row "kubectl kustomize: no kubectl here" - -
fi
time_it sed "sed -E 's#(image: *\"?)(docker.io|quay.io|ghcr.io|registry.k8s.io)/#\\1$to/#' $work/corpus.yaml > /dev/null"
row "sed over image: lines (registries only, no args/env/pinning)" "$(ms "$mean")" "$(ms "$min")" \
  "$(calc '%.1fx' "$min / $purser_min")"

# --- 4. through Helm -----------------------------------------------------------------------------------
section "helm template $biggest ($(calc '%.1f' "$biggest_size / 1048576") MB) through Helm 4"
chart=$corpus_dir/$biggest
time_it helm "$HELM_BIN template $biggest $chart > /dev/null"
plain=$min
row "helm template" "$(ms "$mean")" "$(ms "$min")"
time_it helm "$HELM_BIN template $biggest $chart --post-renderer passthrough > /dev/null"
pass=$min
row "  --post-renderer passthrough (cat)" "$(ms "$mean")" "$(ms "$min")" "+$(ms "($pass - $plain)") for Helm's post-render work"
time_it helm "$HELM_BIN template $biggest $chart --post-renderer relocate --post-renderer-args --to=$to > /dev/null"
row "  --post-renderer relocate --to $to" "$(ms "$mean")" "$(ms "$min")" "+$(ms "($min - $pass)") over cat"

{
  echo "purser relocate benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, hyperfine $runs runs"
  printf '%s\n' "${results[@]}"
} | tee ${out_file:+"$out_file"}
