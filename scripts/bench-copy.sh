#!/usr/bin/env bash
# Benchmark for `purser mirror copy` (also `helm mirror copy`): copying a chart's images from
# one registry to another, side by side in one run with the tools users pick for the same job,
# and prints a table of wall time, bytes sent to the target, requests, peak RSS and ratios. A
# benchmark, not a test: it reports what it measures and fails only when something cannot run.
#
#   scripts/bench-copy.sh [--scale full|small] [--images N] [--out FILE]
#
#   --scale full     (default) 40 images, about 500 MB of distinct blobs in all
#   --scale small    6 images with 1-2 MB layers: a quick check of the script and the tools
#   --images N       N images instead of the scale's number (layer sizes stay the scale's)
#   --out FILE       also write the table to FILE (plain text)
#
#   PURSER_BENCH_SKIP_SETUP=1   do not run scripts/setup.sh (use the builds that are there)
#   PURSER_BENCH_PURSER=BIN     the purser to measure (default target/release/purser)
#   PURSER_BENCH_TOOLS="..."    the rows to run, in order (default: purser crane regctl
#                               regsync skopeo skopeo-sync)
#   PURSER_BENCH_TIMEOUT=S      give up on one tool's copy after S seconds (default 900)
#   PURSER_BENCH_KEEP=1         keep the work folder (registries' data, logs, relay stats)
#
# How:
#   - SOURCE and TARGET are Debian's docker-registry (distribution 2.8), filesystem storage in
#     a temporary folder, plain HTTP on free loopback ports. Every tool copies into a TARGET of
#     its own, started empty for its run and removed after it.
#   - SOURCE is seeded (not timed) with crane: 4 base stacks of 2-3 layers (10-40 MB each,
#     from /dev/urandom so they do not compress away) and N images bench/imgK:v1, each one base
#     stack plus 1-2 unique layers of 1-5 MB; every third image is an OCI index with linux/amd64
#     and linux/arm64 children (the arm64 child has its own unique layers, same base stack).
#     Images share base layers across repositories, as a chart's images do.
#   - Every tool pushes through a counting relay in front of TARGET
#     (scripts/bench-support/count-relay.py): bytes client -> registry and HTTP requests,
#     measured the same way for all tools. The least a copy must send is the sum of SOURCE's
#     distinct blobs and manifests (scripts/bench-support/source-sizes.py); without cross-
#     repository mounts a copy sends each repository's base layers again.
#   - Each copy runs once under /usr/bin/time -v (wall time; peak RSS is the largest single
#     process of the run, so for a loop the largest of its processes; for purser its own
#     VmHWM, sampled, since its largest child is `helm template`). Then every image in
#     TARGET is checked with `crane digest` against SOURCE; a row with a missing or different
#     digest is marked FAILED.
#
# The rows, all copying bench/imgK:v1 to TARGET/mirror/bench/imgK:v1 with every platform:
#   purser        `purser mirror copy CHART --to RELAY/mirror --plain-http ...`, one process,
#                 on a generated chart whose values list the N images (includes helm template)
#   crane         `crane copy` (go-containerregistry v0.22.1), one process per image
#   regctl        `regctl image copy` (regclient v0.11.7), one process per image
#   regsync       `regsync once` with a generated config listing the N images, one process
#   skopeo        `skopeo copy --all --preserve-digests` (Debian's 1.9.3), one process per image
#   skopeo-sync   `skopeo sync --all --preserve-digests --src yaml`, one process
# crane with --insecure and skopeo with --tls-verify=false try HTTPS first: those handshakes cross
# the relay too (a few hundred bytes each, counted in bytes; no requests in them). The table
# says how many, and how many connections had their requests approximated (see the relay).
set -euo pipefail
caller_dir=$(pwd)
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

scale=full
images=
rest=()
while [ "$#" -gt 0 ]; do
  case $1 in
    --images) [ "$#" -ge 2 ] || die "--images needs a number"; images=$2; shift 2 ;;
    --images=*) images=${1#--images=}; shift ;;
    --scale) [ "$#" -ge 2 ] || die "--scale needs full or small"; scale=$2; shift 2 ;;
    --scale=*) scale=${1#--scale=}; shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
bench_args "$caller_dir" "${BASH_SOURCE[0]}" ${rest[@]+"${rest[@]}"}

scale=$(printf '%s' "$scale" | tr '[:upper:]' '[:lower:]')
case $scale in
  full) default_images=40 ;;
  small) default_images=6 ;;
  *) die "--scale $scale: use full or small" ;;
esac
images=${images:-$default_images}
[[ $images =~ ^[1-9][0-9]*$ ]] || die "--images $images: give a positive number"
tools=${PURSER_BENCH_TOOLS:-purser crane regctl regsync skopeo skopeo-sync}
run_timeout=${PURSER_BENCH_TIMEOUT:-900}

[ "${PURSER_BENCH_SKIP_SETUP:-}" = 1 ] ||
  PURSER_BENCH_PEERS=1 PURSER_SKIP_PLUGIN_INSTALL=1 PURSER_SKIP_KUBE=1 scripts/setup.sh
if [ ! -x /usr/bin/time ]; then
  say "bench: apt-get install time"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time; } >&2 ||
    die "GNU time (/usr/bin/time) is needed: apt-get install time"
fi
crane=$PURSER_LOCAL/bin/crane
regctl=$PURSER_LOCAL/bin/regctl
regsync=$PURSER_LOCAL/bin/regsync
purser=${PURSER_BENCH_PURSER:-$PURSER_ROOT/target/release/purser}
support=$PURSER_ROOT/scripts/bench-support
[ -x "$crane" ] || die "no $crane: run scripts/setup-registries.sh"
command -v docker-registry >/dev/null 2>&1 || die "no docker-registry: run scripts/setup-registries.sh"
command -v python3 >/dev/null 2>&1 || die "python3 is needed (the counting relay)"

work=$(mktemp -d "${TMPDIR:-/tmp}/purser-bench-copy.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do stop_pid "$pid"; done
  if [ -n "${PURSER_BENCH_KEEP:-}" ]; then say "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
export HELM_DATA_HOME=$work/helm/data HELM_CONFIG_HOME=$work/helm/config
export HELM_CACHE_HOME=$work/helm/cache HELM_PLUGINS=$work/helm/data/plugins
mkdir -p "$HELM_DATA_HOME" "$HELM_CONFIG_HOME" "$HELM_CACHE_HOME" "$HELM_PLUGINS"

# --- processes: registries and relays ------------------------------------------------------------

free_port() {
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

start_relay() { # UPSTREAM DIR: the counting relay in front of UPSTREAM; sets relay_host, relay_pid
  local upstream=$1 dir=$2
  python3 "$support/count-relay.py" --upstream "$upstream" \
    --port-file "$dir/relay.port" --stats "$dir/relay.json" 2>"$dir/relay.log" &
  relay_pid=$!
  pids+=("$relay_pid")
  for _ in $(seq 100); do
    [ -s "$dir/relay.port" ] && break
    sleep 0.05
  done
  [ -s "$dir/relay.port" ] || { cat "$dir/relay.log" >&2; die "the counting relay did not start"; }
  relay_host=127.0.0.1:$(cat "$dir/relay.port")
}

quietly() { # LOG COMMAND...: run COMMAND with its output in LOG; on failure show LOG and stop
  local log=$1
  shift
  "$@" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "failed: $*"; }
}

# --- SOURCE: seeded with crane (not timed) -------------------------------------------------------

start_registry "$work/source"
src=$reg_host
seed_log=$work/seed.log
mib=$((1024 * 1024))
mkdir -p "$work/layers"

layer() { # NAME MIB: prints the path of a gzipped tar holding MIB MiB from /dev/urandom
  local dir=$work/layers/$1
  mkdir -p "$dir/data"
  head -c $(($2 * mib)) /dev/urandom >"$dir/data/$1.bin"
  tar -C "$dir" -cf - data | gzip -1 -n >"$dir.tar.gz"
  rm -rf "$dir"
  echo "$dir.tar.gz"
}

if [ "$scale" = small ]; then
  base_mib() { echo $((1 + ($1 + $2) % 2)); }   # STACK LAYER: 1-2 MiB
  unique_mib() { echo $((1 + ($1 + $2) % 2)); } # IMAGE LAYER: 1-2 MiB
else
  base_mib() { echo $((10 + ($1 * 17 + $2 * 11 + 5) % 31)); } # 10-40 MiB
  unique_mib() { echo $((1 + ($1 * 7 + $2 * 3) % 5)); }       # 1-5 MiB
fi

unique_layers() { # IMAGE TAG: -f/--append arguments for 1-2 fresh unique layers of IMAGE
  local k=$1 tag=$2 j
  for j in $(seq 0 $((k % 2))); do
    layer "img$k-$tag-$j" "$(unique_mib "$k" "$j")"
  done
}

stacks=$((images < 4 ? images : 4))
say "bench: seeding $src with $images images on $stacks base stacks ($scale scale)"
started=$SECONDS
for s in $(seq 0 $((stacks - 1))); do
  files=()
  for l in $(seq 0 $((s % 2 == 0 ? 2 : 1))); do
    files+=(-f "$(layer "base$s-$l" "$(base_mib "$s" "$l")")")
  done
  quietly "$seed_log" "$crane" append --insecure --oci-empty-base "${files[@]}" -t "$src/bench/base$s:v1"
  quietly "$seed_log" "$crane" mutate --insecure --set-platform linux/amd64 "$src/bench/base$s:v1" -t "$src/bench/base$s:v1"
  rm -f "$work"/layers/*.tar.gz
done

multi=0
: >"$work/refs"
for k in $(seq 1 "$images"); do
  base=$src/bench/base$(((k - 1) % stacks)):v1
  repo=$src/bench/img$k
  files=()
  while read -r f; do files+=(-f "$f"); done < <(unique_layers "$k" amd64)
  if [ $((k % 3)) -ne 0 ]; then
    quietly "$seed_log" "$crane" append --insecure -b "$base" "${files[@]}" -t "$repo:v1"
  else
    multi=$((multi + 1))
    quietly "$seed_log" "$crane" append --insecure -b "$base" "${files[@]}" -t "$repo:v1-amd64"
    files=()
    while read -r f; do files+=(--append "$f"); done < <(unique_layers "$k" arm64)
    quietly "$seed_log" "$crane" mutate --insecure "$base" --set-platform linux/arm64 "${files[@]}" -t "$repo:v1-arm64"
    quietly "$seed_log" "$crane" index append --insecure -m "$repo:v1-amd64" -m "$repo:v1-arm64" -t "$repo:v1"
    # crane puts artifactType on the index's descriptors; indexes built by docker buildx do
    # not, and skopeo 1.9.3 drops it (changing the digest). Write the index as buildx would.
    "$crane" manifest --insecure "$repo:v1" |
      python3 -c 'import json, sys
d = json.load(sys.stdin)
for m in d["manifests"]:
    m.pop("artifactType", None)
sys.stdout.write(json.dumps(d, separators=(",", ":")))' >"$work/index.json"
    quietly "$seed_log" "$crane" edit manifest --insecure "$repo:v1" <"$work/index.json"
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

# The chart `purser mirror copy` reads: its values list the images, one Deployment uses them.
mkdir -p "$work/chart/templates"
printf 'apiVersion: v2\nname: bench-copy\nversion: 0.1.0\n' >"$work/chart/Chart.yaml"
{
  echo "images:"
  sed "s|^|  - $src/|" "$work/refs"
} >"$work/chart/values.yaml"
cat >"$work/chart/templates/deployment.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench-copy
spec:
  selector:
    matchLabels: {app: bench-copy}
  template:
    metadata:
      labels: {app: bench-copy}
    spec:
      containers:
{{- range $i, $image := .Values.images }}
        - name: c{{ $i }}
          image: {{ $image | quote }}
{{- end }}
EOF

# --- the rows: each writes the script that copies every image to $relay/mirror -------------------
# prep_NAME DIR (untimed set-up, optional) and script_NAME DIR (prints the timed script).

each_ref() { # FORMAT: one line per image, %1$s the SOURCE reference, %2$s the TARGET one
  local ref
  while read -r ref; do
    # shellcheck disable=SC2059 # FORMAT is ours
    printf "$1\n" "$src/$ref" "$relay/mirror/$ref"
  done <"$work/refs"
}

available_purser() {
  if ! { [ -x "$purser" ] && "$purser" mirror copy --help >/dev/null 2>&1; }; then
    echo "not built yet"
    say "bench: purser mirror copy is not built yet ($purser mirror copy --help fails); skipping its row"
    return 1
  fi
  [ -x "$HELM_BIN" ] || command -v "$HELM_BIN" >/dev/null 2>&1 || {
    echo "no helm ($HELM_BIN)"
    say "bench: no helm at $HELM_BIN (scripts/setup.sh builds it); skipping purser's row"
    return 1
  }
}
script_purser() {
  # purser's own peak RSS (VmHWM), sampled while it runs: /usr/bin/time would report the
  # largest process of the run, which is the `helm template` purser starts (about 53 MiB).
  printf '%q mirror copy %q --to %q --plain-http %q --plain-http %q &\n' \
    "$purser" "$work/chart" "$relay/mirror" "$src" "$relay"
  printf 'pid=$!; hwm=0\n'
  printf 'while [ -r /proc/$pid/status ]; do\n'
  printf '  v=$(awk '"'"'/^VmHWM:/ { print $2 }'"'"' /proc/$pid/status 2>/dev/null); [ -n "$v" ] && hwm=$v\n'
  printf '  sleep 0.02\n'
  printf 'done\n'
  printf 'wait $pid; rc=$?; echo "$hwm" > %q; exit $rc\n' "$1/self-rss"
}

available_crane() { :; }
script_crane() { each_ref "'$crane' copy --insecure %s %s"; }

available_regctl() { [ -x "$regctl" ] || { echo "not installed"; return 1; }; }
prep_regctl() {
  export HOME=$1/home
  mkdir -p "$HOME"
  quietly "$1/prep.log" "$regctl" registry set --tls disabled "$src"
  quietly "$1/prep.log" "$regctl" registry set --tls disabled "$relay"
}
script_regctl() {
  echo "export HOME='$1/home'"
  each_ref "'$regctl' image copy %s %s"
}

available_regsync() { [ -x "$regsync" ] || { echo "not installed"; return 1; }; }
prep_regsync() {
  mkdir -p "$1/home"
  {
    echo "version: 1"
    echo "creds:"
    echo "  - {registry: \"$src\", tls: disabled}"
    echo "  - {registry: \"$relay\", tls: disabled}"
    echo "sync:"
    each_ref '  - {source: "%s", target: "%s", type: image}'
  } >"$1/regsync.yml"
}
script_regsync() {
  echo "export HOME='$1/home'"
  echo "'$regsync' once --abort-on-error -v warn -c '$1/regsync.yml'"
}

available_skopeo() { command -v skopeo >/dev/null 2>&1 || { echo "not installed"; return 1; }; }
script_skopeo() {
  each_ref "skopeo copy --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false -q docker://%s docker://%s"
}

available_skopeo-sync() { available_skopeo; }
prep_skopeo-sync() {
  {
    echo "$src:"
    echo "  tls-verify: false"
    echo "  images:"
    sed 's|^\(.*\):\(.*\)$|    \1: ["\2"]|' "$work/refs"
  } >"$1/sync.yml"
}
script_skopeo-sync() {
  # skopeo sync keeps only the last path component of a repository: bench/imgK -> DEST/imgK
  echo "skopeo sync --all --preserve-digests --src yaml --dest docker --dest-tls-verify=false '$1/sync.yml' '$relay/mirror/bench'"
}

label_purser="purser mirror copy"
label_crane="crane copy, per image"
label_regctl="regctl image copy, per image"
label_regsync="regsync once"
label_skopeo="skopeo copy --all, per image"
label_skopeo_sync="skopeo sync --all"

# --- runs ----------------------------------------------------------------------------------------

: >"$work/rows.tsv"
row() { # NAME LABEL WALL_S BYTES REQUESTS RSS_KB TLS_PROBES APPROXIMATED STATUS
  local IFS=$'\t'
  echo "$*" >>"$work/rows.tsv"
}

run_tool() { # NAME
  local name=$1 label_var dir target target_pid status rc=0 why
  label_var=label_${name//-/_}
  local label=${!label_var}
  dir=$work/run-$name
  mkdir -p "$dir"
  if ! why=$("available_$name"); then
    row "$name" "$label" - - - - - - "$why"
    return
  fi
  start_registry "$dir/target"
  target=$reg_host target_pid=$reg_pid
  start_relay "$target" "$dir"
  relay=$relay_host
  (
    if declare -F "prep_$name" >/dev/null; then "prep_$name" "$dir"; fi
    "script_$name" "$dir" >"$dir/run.sh"
  )
  say "bench: $label -> $relay (TARGET $target)"
  /usr/bin/time -v -o "$dir/time" timeout "$run_timeout" bash "$dir/run.sh" >"$dir/log" 2>&1 || rc=$?
  stop_pid "$relay_pid" # on TERM it writes relay.json and exits

  status=ok
  if [ "$rc" -ne 0 ]; then
    status="FAILED (exit $rc)"
    say "bench: $label failed (exit $rc); the end of its output:"
    tail -n 15 "$dir/log" >&2
  fi
  local ref want got bad=0 i=0
  while read -r ref; do
    i=$((i + 1))
    want=$(sed -n "${i}p" "$work/source.digests")
    got=$("$crane" digest --insecure "$target/mirror/$ref" 2>/dev/null) || got=
    [ "$got" = "$want" ] || bad=$((bad + 1))
  done <"$work/refs"
  if [ "$bad" -gt 0 ]; then
    [ "$status" = ok ] && status="FAILED ($bad of $images digests missing or different)" ||
      status="$status, $bad of $images digests missing or different"
  fi
  stop_pid "$target_pid"
  rm -rf "$dir/target/data"

  local wall rss bytes requests tls approx
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$dir/time")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$dir/time")
  [ -s "$dir/self-rss" ] && rss=$(cat "$dir/self-rss")
  if [ -s "$dir/relay.json" ]; then
    read -r bytes requests tls approx < <(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["bytes_up"], d["requests"], d["tls_probes"], d["approximated"])' "$dir/relay.json")
  else
    bytes=- requests=- tls=- approx=-
    status="$status; no relay counts"
  fi
  row "$name" "$label" "${wall:--}" "$bytes" "$requests" "${rss:--}" "$tls" "$approx" "$status"
}

for name in $tools; do
  declare -F "script_$name" >/dev/null || die "PURSER_BENCH_TOOLS: no row named $name (purser crane regctl regsync skopeo skopeo-sync)"
  run_tool "$name"
done

# --- report --------------------------------------------------------------------------------------

report() {
  python3 - "$work/rows.tsv" "$work/source.json" "$images" "$scale" "$(nproc)" <<'EOF'
import json, sys

rows_file, source_file, images, scale, cores = sys.argv[1:]
src = json.load(open(source_file))
MB = 1e6
rows = [line.rstrip("\n").split("\t") for line in open(rows_file) if line.strip()]

def num(x):
    try:
        return float(x)
    except ValueError:
        return None

ref = next((r for r in rows if r[0] == "purser" and r[8] == "ok"), None)

def ratio(r, col):
    a, b = num(r[col]), num(ref[col]) if ref else None
    return f"{a / b:.2f}" if a is not None and b else "-"

print(f"purser mirror copy benchmark ({scale}): {images} images, {src['multi_platform']} of them "
      f"multi-platform (linux/amd64 + linux/arm64), sharing base layers")
print(f"  SOURCE -> relay -> TARGET: docker-registry 2.8 on loopback, plain HTTP, an empty TARGET per "
      f"tool; {cores} cores; one run each")
print(f"  in SOURCE: {src['unique_bytes'] / MB:.1f} MB of distinct blobs and manifests (the least a copy "
      f"sends: \"x least\" = 1); {src['per_repo_bytes'] / MB:.1f} MB counted once per repository")
print()
head = ("tool", "wall s", "sent MB", "x least", "requests", "peak RSS MiB", "time x", "sent x", "req x", "status")
fmt = "  {:<30} {:>8} {:>9} {:>8} {:>9} {:>13} {:>7} {:>7} {:>7}  {}"
print(fmt.format(*head))
notes = []
for r in rows:
    name, label, wall, sent, reqs, rss, tls, approx, status = r
    w, s, q, m = num(wall), num(sent), num(reqs), num(rss)
    print(fmt.format(
        label,
        f"{w:.2f}" if w is not None else "-",
        f"{s / MB:.1f}" if s is not None else "-",
        f"{s / src['unique_bytes']:.2f}" if s is not None else "-",
        f"{int(q)}" if q is not None else "-",
        f"{m / 1024:.1f}" if m is not None else "-",
        ratio(r, 2), ratio(r, 3), ratio(r, 4), status))
    if num(tls):
        notes.append(f"{label}: {int(num(tls))} connection(s) began with a TLS handshake (HTTPS tried "
                     "first): bytes counted, no requests in them")
    if num(approx):
        notes.append(f"{label}: {int(num(approx))} connection(s) did not parse as HTTP/1.x: their "
                     "requests approximated (reads starting with a /v2/ request line)")
print()
if ref:
    print("  time x, sent x, req x: the tool's over purser's (time x above 1: purser is faster)")
else:
    print("  time x, sent x, req x: against purser, which did not run or failed (no ratios)")
print("  sent: bytes client -> TARGET through the relay, HTTP headers included; requests: HTTP requests")
print("  purser's time includes rendering the chart with helm template; peak RSS: purser's own (VmHWM, sampled),")
print("  for the others the largest single process")
for n in notes:
    print("  " + n)
EOF
}
report
if [ -n "$out_file" ]; then report >"$out_file"; fi
