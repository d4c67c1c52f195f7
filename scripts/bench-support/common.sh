# What the registry benchmarks share (scripts/bench-copy.sh, scripts/bench-bundle.sh): options,
# set-up, the processes they start, the seeded SOURCE, the chart, timing and the report's start.
# Source it after scripts/env.sh (it uses say, die and bench_args); it only defines functions.
# Globals it sets for the script: scale, images, out_file (bench_options); crane, regctl,
# purser, support (bench_setup); work, pids (bench_work); reg_host, reg_pid (start_registry);
# src (seed_source, which writes the image list $work/refs the others read); label, dir
# (row_available). The scripts' rows go to $work/rows.tsv (row), read by their report.

# --- options and set-up --------------------------------------------------------------------------

bench_options() { # CALLER_DIR SCRIPT ARGS...: --scale full|small, --images N and bench_args' --out, --help; sets scale, images, out_file. The images at each scale: BENCH_FULL_IMAGES (40) and BENCH_SMALL_IMAGES (6), set by the script before
  local from=$1 script=$2 rest=() default_images
  shift 2
  scale=full
  images=
  while [ "$#" -gt 0 ]; do
    case $1 in
      --images) [ "$#" -ge 2 ] || die "--images needs a number"; images=$2; shift 2 ;;
      --images=*) images=${1#--images=}; shift ;;
      --scale) [ "$#" -ge 2 ] || die "--scale needs full or small"; scale=$2; shift 2 ;;
      --scale=*) scale=${1#--scale=}; shift ;;
      *) rest+=("$1"); shift ;;
    esac
  done
  bench_args "$from" "$script" ${rest[@]+"${rest[@]}"}
  scale=$(printf '%s' "$scale" | tr '[:upper:]' '[:lower:]')
  case $scale in
    full) default_images=${BENCH_FULL_IMAGES:-40} ;;
    small) default_images=${BENCH_SMALL_IMAGES:-6} ;;
    *) die "--scale $scale: use full or small" ;;
  esac
  images=${images:-$default_images}
  [[ $images =~ ^[1-9][0-9]*$ ]] || die "--images $images: give a positive number"
}

bench_setup() { # scripts/setup.sh (unless PURSER_BENCH_SKIP_SETUP=1) and GNU time; sets crane, regctl, purser, support and checks crane and docker-registry
  [ "${PURSER_BENCH_SKIP_SETUP:-}" = 1 ] ||
    PURSER_BENCH_PEERS=1 PURSER_SKIP_PLUGIN_INSTALL=1 PURSER_SKIP_KUBE=1 scripts/setup.sh
  if [ ! -x /usr/bin/time ]; then
    say "bench: apt-get install time"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time; } >&2 ||
      die "GNU time (/usr/bin/time) is needed: apt-get install time"
  fi
  crane=$PURSER_LOCAL/bin/crane
  regctl=$PURSER_LOCAL/bin/regctl
  purser=${PURSER_BENCH_PURSER:-$PURSER_BUILD/purser}
  support=$PURSER_ROOT/scripts/bench-support
  [ -x "$crane" ] || die "no $crane: run scripts/setup-registries.sh"
  command -v docker-registry >/dev/null 2>&1 || die "no docker-registry: run scripts/setup-registries.sh"
}

bench_work() { # NAME: a temporary work folder purser-bench-NAME.* (sets work, pids; removed on exit unless PURSER_BENCH_KEEP) holding Helm's homes
  work=$(mktemp -d "${TMPDIR:-/tmp}/purser-bench-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  export HELM_DATA_HOME=$work/helm/data HELM_CONFIG_HOME=$work/helm/config
  export HELM_CACHE_HOME=$work/helm/cache HELM_PLUGINS=$work/helm/data/plugins
  mkdir -p "$HELM_DATA_HOME" "$HELM_CONFIG_HOME" "$HELM_CACHE_HOME" "$HELM_PLUGINS"
}

bench_cleanup() { # (the EXIT trap) stop every process still in pids; remove the work folder, or say where it is kept
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do stop_pid "$pid"; done
  if [ -n "${PURSER_BENCH_KEEP:-}" ]; then say "bench: kept $work"; else rm -rf "$work"; fi
}

# --- processes: registries -----------------------------------------------------------------------

free_port() { # prints a free TCP port on 127.0.0.1
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_pid() { # PID: stop a process this script started (TERM, KILL after 10s), and forget it
  local pid kept=() tries=0
  kill -TERM "$1" 2>/dev/null || true
  while :; do
    case $(ps -o stat= -p "$1" 2>/dev/null) in '' | Z*) break ;; esac # gone, or exited unreaped
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then kill -KILL "$1" 2>/dev/null || true; break; fi
    sleep 0.1
  done
  wait "$1" 2>/dev/null || true
  for pid in ${pids[@]+"${pids[@]}"}; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=(${kept[@]+"${kept[@]}"})
}

start_registry() { # DIR: docker-registry storing under DIR/data; sets reg_host and reg_pid
  local dir=$1 port
  mkdir -p "$dir"
  port=$(free_port)
  cat >"$dir/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: purser-bench-secret
EOF
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  reg_pid=$!
  pids+=("$reg_pid")
  reg_host=127.0.0.1:$port
  for _ in $(seq 100); do
    curl -fsS "http://$reg_host/v2/" >/dev/null 2>&1 && return
    sleep 0.1
  done
  cat "$dir/registry.log" >&2
  die "docker-registry did not start on $reg_host"
}

start_relay() { # UPSTREAM DIR [NAME [MIB/S]]: the counting relay in front of UPSTREAM (DIR/NAME.json its stats; capped per connection); sets relay_host, relay_pid
  local upstream=$1 dir=$2 name=${3:-relay} rate=${4:-0}
  python3 "$support/count-relay.py" --upstream "$upstream" --rate-mib "$rate" \
    --port-file "$dir/$name.port" --stats "$dir/$name.json" 2>"$dir/$name.log" &
  relay_pid=$!
  pids+=("$relay_pid")
  for _ in $(seq 100); do
    [ -s "$dir/$name.port" ] && break
    sleep 0.05
  done
  [ -s "$dir/$name.port" ] || { cat "$dir/$name.log" >&2; die "the counting relay did not start"; }
  relay_host=127.0.0.1:$(cat "$dir/$name.port")
}

quietly() { # LOG COMMAND...: run COMMAND with its output in LOG; on failure show LOG and stop
  local log=$1
  shift
  "$@" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "failed: $*"; }
}

# --- SOURCE: seeded with crane (not timed) -------------------------------------------------------

layer() { # NAME MIB: prints the path of a gzipped tar holding MIB MiB from /dev/urandom
  local dir=$work/layers/$1
  mkdir -p "$dir/data"
  head -c $(($2 * 1024 * 1024)) /dev/urandom >"$dir/data/$1.bin"
  tar -C "$dir" -cf - data | gzip -1 -n >"$dir.tar.gz"
  rm -rf "$dir"
  echo "$dir.tar.gz"
}

base_mib() { # STACK LAYER: a base layer's size in MiB, 1-2 at small scale, else 10-40
  if [ "$scale" = small ]; then echo $((1 + ($1 + $2) % 2)); else echo $((10 + ($1 * 17 + $2 * 11 + 5) % 31)); fi
}

unique_mib() { # IMAGE LAYER: an image's own layer's size in MiB, 1-2 at small scale, else 1-5
  if [ "$scale" = small ]; then echo $((1 + ($1 + $2) % 2)); else echo $((1 + ($1 * 7 + $2 * 3) % 5)); fi
}

unique_layers() { # IMAGE TAG: -f/--append arguments for 1-2 fresh unique layers of IMAGE
  local k=$1 tag=$2 j
  for j in $(seq 0 $((k % 2))); do
    layer "img$k-$tag-$j" "$(unique_mib "$k" "$j")"
  done
}

seed_source() { # start SOURCE (sets src) and push $images images on up to 4 base stacks; writes $work/refs, source.digests, source.json
  local log=$work/seed.log stacks started s l k base repo f files ref
  start_registry "$work/source"
  src=$reg_host
  mkdir -p "$work/layers"
  stacks=$((images < 4 ? images : 4))
  say "bench: seeding $src with $images images on $stacks base stacks ($scale scale)"
  started=$SECONDS
  for s in $(seq 0 $((stacks - 1))); do
    files=()
    for l in $(seq 0 $((s % 2 == 0 ? 2 : 1))); do
      files+=(-f "$(layer "base$s-$l" "$(base_mib "$s" "$l")")")
    done
    quietly "$log" "$crane" append --insecure --oci-empty-base "${files[@]}" -t "$src/bench/base$s:v1"
    quietly "$log" "$crane" mutate --insecure --set-platform linux/amd64 "$src/bench/base$s:v1" -t "$src/bench/base$s:v1"
    rm -f "$work"/layers/*.tar.gz
  done

  : >"$work/refs"
  for k in $(seq 1 "$images"); do
    base=$src/bench/base$(((k - 1) % stacks)):v1
    repo=$src/bench/img$k
    files=()
    while read -r f; do files+=(-f "$f"); done < <(unique_layers "$k" amd64)
    if [ $((k % 3)) -ne 0 ]; then
      quietly "$log" "$crane" append --insecure -b "$base" "${files[@]}" -t "$repo:v1"
    else
      quietly "$log" "$crane" append --insecure -b "$base" "${files[@]}" -t "$repo:v1-amd64"
      files=()
      while read -r f; do files+=(--append "$f"); done < <(unique_layers "$k" arm64)
      quietly "$log" "$crane" mutate --insecure "$base" --set-platform linux/arm64 "${files[@]}" -t "$repo:v1-arm64"
      quietly "$log" "$crane" index append --insecure -m "$repo:v1-amd64" -m "$repo:v1-arm64" -t "$repo:v1"
      # crane puts artifactType on the index's descriptors; indexes built by docker buildx do
      # not, and skopeo 1.9.3 drops it (changing the digest). Write the index as buildx would.
      "$crane" manifest --insecure "$repo:v1" |
        python3 -c 'import json, sys
d = json.load(sys.stdin)
for m in d["manifests"]:
    m.pop("artifactType", None)
sys.stdout.write(json.dumps(d, separators=(",", ":")))' >"$work/index.json"
      quietly "$log" "$crane" edit manifest --insecure "$repo:v1" <"$work/index.json"
    fi
    rm -f "$work"/layers/*.tar.gz
    echo "bench/img$k:v1" >>"$work/refs"
  done

  : >"$work/source.digests"
  while read -r ref; do
    "$crane" digest --insecure "$src/$ref" >>"$work/source.digests" || die "crane digest $src/$ref failed"
  done <"$work/refs"
  # shellcheck disable=SC2046 # one argument per image reference
  python3 "$support/source-sizes.py" "$src" $(cat "$work/refs") >"$work/source.json" ||
    die "could not read the seeded images back from $src"
  say "bench: seeded in $((SECONDS - started))s: $(cat "$work/source.json")"
}

write_chart() { # NAME: the chart $work/chart (named NAME) whose values list the images, one Deployment uses them
  mkdir -p "$work/chart/templates"
  printf 'apiVersion: v2\nname: %s\nversion: 0.1.0\n' "$1" >"$work/chart/Chart.yaml"
  {
    echo "images:"
    sed "s|^|  - $src/|" "$work/refs"
  } >"$work/chart/values.yaml"
  cat >"$work/chart/templates/deployment.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
spec:
  selector:
    matchLabels: {app: $1}
  template:
    metadata:
      labels: {app: $1}
    spec:
      containers:
{{- range \$i, \$image := .Values.images }}
        - name: c{{ \$i }}
          image: {{ \$image | quote }}
{{- end }}
EOF
}

# --- the rows that both benchmarks run -----------------------------------------------------------

available_helm() { # prints why and returns 1 when there is no helm for purser (HELM_BIN)
  [ -x "$HELM_BIN" ] || command -v "$HELM_BIN" >/dev/null 2>&1 || {
    echo "no helm ($HELM_BIN)"
    say "bench: no helm at $HELM_BIN (scripts/setup.sh builds it); skipping purser's row"
    return 1
  }
}

# available_NAME (the rows' check): prints why and returns 1 when NAME's tool is not installed
available_regctl() { [ -x "$regctl" ] || { echo "not installed"; return 1; }; }
available_skopeo() { command -v skopeo >/dev/null 2>&1 || { echo "not installed"; return 1; }; }
available_skopeo-sync() { available_skopeo; }

regctl_home() { # DIR REGISTRY...: HOME=DIR/home (exported) with regctl set to plain HTTP for each REGISTRY
  local registry
  export HOME=$1/home
  mkdir -p "$HOME"
  for registry in "${@:2}"; do quietly "$1/prep.log" "$regctl" registry set --tls disabled "$registry"; done
}

prep_skopeo-sync() { # DIR: DIR/sync.yml, skopeo sync's --src yaml listing every SOURCE image
  {
    echo "$src:"
    echo "  tls-verify: false"
    echo "  images:"
    sed 's|^\(.*\):\(.*\)$|    \1: ["\2"]|' "$work/refs"
  } >"$1/sync.yml"
}

# --- runs: timing, peak RSS, digests -------------------------------------------------------------

row_available() { # NAME: sets label and dir ($work/run-NAME); with the row's tool missing, writes its row (why) and returns 1
  local label_var=label_${1//-/_} why
  label=${!label_var}
  dir=$work/run-$1
  mkdir -p "$dir"
  if ! why=$("available_$1"); then
    row "$1" "$label" - - - - - - "$why"
    return 1
  fi
}

sampled() { # RSS_FILE OUT_FILE COMMAND...: prints a script running COMMAND, its stdout in OUT_FILE (- leaves it), and its own VmHWM (KiB) sampled into RSS_FILE
  # /usr/bin/time would report the largest process of the run, which for purser is the
  # `helm template` it starts (about 53 MiB), not purser.
  local file=$1 out=$2
  shift 2
  printf '%q ' "$@"
  [ "$out" = - ] || printf '>%q ' "$out"
  printf '&\n'
  printf 'pid=$!; hwm=0\n'
  printf 'while [ -r /proc/$pid/status ]; do\n'
  printf '  v=$(awk '"'"'/^VmHWM:/ { print $2 }'"'"' /proc/$pid/status 2>/dev/null); [ -n "$v" ] && hwm=$v\n'
  printf '  sleep 0.02\n'
  printf 'done\n'
  printf 'wait $pid; rc=$?; echo "$hwm" > %q; exit $rc\n' "$file"
}

timed() { # DIR PHASE: run DIR/PHASE.sh under /usr/bin/time and timeout (PURSER_BENCH_TIMEOUT, 900s) into DIR/PHASE.time, .log; returns its status
  /usr/bin/time -v -o "$1/$2.time" timeout "${PURSER_BENCH_TIMEOUT:-900}" bash "$1/$2.sh" >"$1/$2.log" 2>&1
}

wall_of() { # TIME_FILE: wall seconds from /usr/bin/time -v
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"
}

rss_of() { # DIR PHASE: peak RSS in KiB, purser's own when sampled (DIR/PHASE-rss), else /usr/bin/time's
  if [ -s "$1/$2-rss" ]; then cat "$1/$2-rss"; else awk -F': ' '/Maximum resident set size/ { print $2 }' "$1/$2.time"; fi
}

failure() { # RC WHO WHAT LOG: says WHO failed (exit RC) and shows the end of LOG; prints the status "FAILED (WHAT exit RC)"
  say "bench: $2 failed (exit $1); the end of its output:"
  tail -n 15 "$4" >&2
  echo "FAILED (${3:+$3 }exit $1)"
}

digest_status() { # STATUS PREFIX: prints STATUS, adding how many images under PREFIX lack SOURCE's digest
  local status=$1 ref want got bad=0 i=0
  while read -r ref; do
    i=$((i + 1))
    want=$(sed -n "${i}p" "$work/source.digests")
    got=$("$crane" digest --insecure "$2/$ref" 2>/dev/null) || got=
    [ "$got" = "$want" ] || bad=$((bad + 1))
  done <"$work/refs"
  if [ "$bad" -gt 0 ]; then
    [ "$status" = ok ] && status="FAILED ($bad of $images digests missing or different)" ||
      status="$status, $bad of $images digests missing or different"
  fi
  echo "$status"
}

row() { # NAME LABEL COLUMNS... STATUS: one tab-separated line of $work/rows.tsv (the script names the columns)
  local IFS=$'\t'
  echo "$*" >>"$work/rows.tsv"
}

# --- report --------------------------------------------------------------------------------------

bench_python() { # ARGS... <SCRIPT: runs the report's Python SCRIPT after the shared start (src, MB, rows, num, ref: purser's row if ok); ARGS are sys.argv[6:]
  python3 -c 'import json, sys

rows_file, source_file, images, scale, cores = sys.argv[1:6]
src = json.load(open(source_file))
MB = 1e6
rows = [line.rstrip("\n").split("\t") for line in open(rows_file) if line.strip()]

def num(x):
    try:
        return float(x)
    except ValueError:
        return None

ref = next((r for r in rows if r[0] == "purser" and r[8] == "ok"), None)
'"$(cat)" "$work/rows.tsv" "$work/source.json" "$images" "$scale" "$(nproc)" "$@"
}

print_report() { # the script's report (its function report), and again into --out's FILE when given
  report
  if [ -n "$out_file" ]; then report >"$out_file"; fi
}
