#!/usr/bin/env bash
# Benchmark for `purser mirror export` and `purser mirror import` (also `helm mirror export` and
# `import`): moving a chart's images through a file, registry -> bundle -> registry, side by side
# in one run with the tools users pick for the same job. Prints a table of export and import
# wall time, the bundle's size on disk against the images' unique blob bytes, peak RSS and
# ratios. A benchmark, not a test: it reports what it measures and fails only when something
# cannot run.
#
#   scripts/bench-bundle.sh [--scale full|small] [--images N] [--out FILE]
#
#   --scale full     (default) 40 images, about 525 MB of distinct blobs in all
#   --scale small    6 images with 1-2 MB layers: a quick check of the script and the tools
#   --images N       N images instead of the scale's number (layer sizes stay the scale's)
#   --out FILE       also write the table to FILE (plain text)
#
#   PURSER_BENCH_SKIP_SETUP=1   do not run scripts/setup.sh (use the builds that are there)
#   PURSER_BENCH_PURSER=BIN     the purser to measure (default target/release/purser)
#   PURSER_BENCH_TOOLS="..."    the rows to run, in order (default: purser skopeo-sync skopeo
#                               regctl)
#   PURSER_BENCH_TIMEOUT=S      give up on one tool's export or import after S seconds (900)
#   PURSER_BENCH_KEEP=1         keep the work folder (registries' data, bundles, logs)
#
# How:
#   - SOURCE is Debian's docker-registry (distribution 2.8), filesystem storage in a temporary
#     folder, plain HTTP on a free loopback port, seeded (not timed) exactly as
#     scripts/bench-copy.sh seeds it: 4 base stacks of 2-3 layers (10-40 MB each, from
#     /dev/urandom so they do not compress away) and N images bench/imgK:v1, each one base stack
#     plus 1-2 unique layers of 1-5 MB; every third image is an OCI index with linux/amd64 and
#     linux/arm64 children. Images share base layers across repositories, as a chart's do.
#   - Every tool exports all N images from SOURCE into a bundle folder of its own (one file or
#     several, as the tool writes them), then imports that bundle into a TARGET of its own
#     (docker-registry, started empty for its run and removed after it), under TARGET/p.
#   - Bundle size: `du -sb` of what the export wrote. The least a bundle can hold is every
#     distinct blob and manifest once (scripts/bench-support/source-sizes.py, "unique"); a
#     bundle per image holds each image's base layers again ("per image").
#   - Each phase runs once under /usr/bin/time -v (wall time; peak RSS is the largest single
#     process of the phase, so for a loop the largest of its processes; for purser its own
#     VmHWM, sampled, since the largest child of its export is `helm template`). Then every
#     image in TARGET is checked with `crane digest` against SOURCE; a row with a missing or
#     different digest is marked FAILED.
#
# The rows, all moving bench/imgK:v1 to TARGET/p/bench/imgK:v1 with every platform:
#   purser        `purser mirror export CHART -o bundle.tar --plain-http SOURCE` (one process, on
#                 a generated chart whose values list the N images; includes helm template), then
#                 `purser mirror import bundle.tar --to TARGET/p --plain-http TARGET`
#   skopeo-sync   `skopeo sync --all --preserve-digests --src yaml --dest dir` (one process, the
#                 images read with the docker transport; a directory per image), then
#                 `skopeo sync --all --preserve-digests --src dir --dest docker` (one process)
#   skopeo        `skopeo copy --all --preserve-digests docker://... oci-archive:imgK.tar:v1` per
#                 image (an oci-archive holds one image), then `skopeo copy --all
#                 --preserve-digests oci-archive:imgK.tar:v1 docker://...` per image (Debian's 1.9.3)
#   regctl        `regctl image export REF imgK.tar` per image, then `regctl image import REF
#                 imgK.tar` per image (regclient v0.11.7)
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
tools=${PURSER_BENCH_TOOLS:-purser skopeo-sync skopeo regctl}
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
purser=${PURSER_BENCH_PURSER:-$PURSER_ROOT/target/release/purser}
support=$PURSER_ROOT/scripts/bench-support
[ -x "$crane" ] || die "no $crane: run scripts/setup-registries.sh"
command -v docker-registry >/dev/null 2>&1 || die "no docker-registry: run scripts/setup-registries.sh"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

work=$(mktemp -d "${TMPDIR:-/tmp}/purser-bench-bundle.XXXXXX")
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

# --- processes: registries -----------------------------------------------------------------------

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

quietly() { # LOG COMMAND...: run COMMAND with its output in LOG; on failure show LOG and stop
  local log=$1
  shift
  "$@" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "failed: $*"; }
}

# --- SOURCE: seeded with crane (not timed), as scripts/bench-copy.sh seeds it ---------------------

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

: >"$work/refs"
for k in $(seq 1 "$images"); do
  base=$src/bench/base$(((k - 1) % stacks)):v1
  repo=$src/bench/img$k
  files=()
  while read -r f; do files+=(-f "$f"); done < <(unique_layers "$k" amd64)
  if [ $((k % 3)) -ne 0 ]; then
    quietly "$seed_log" "$crane" append --insecure -b "$base" "${files[@]}" -t "$repo:v1"
  else
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

# The chart `purser mirror export` reads: its values list the images, one Deployment uses them.
mkdir -p "$work/chart/templates"
printf 'apiVersion: v2\nname: bench-bundle\nversion: 0.1.0\n' >"$work/chart/Chart.yaml"
{
  echo "images:"
  sed "s|^|  - $src/|" "$work/refs"
} >"$work/chart/values.yaml"
cat >"$work/chart/templates/deployment.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench-bundle
spec:
  selector:
    matchLabels: {app: bench-bundle}
  template:
    metadata:
      labels: {app: bench-bundle}
    spec:
      containers:
{{- range $i, $image := .Values.images }}
        - name: c{{ $i }}
          image: {{ $image | quote }}
{{- end }}
EOF

# --- the rows ------------------------------------------------------------------------------------
# prep_NAME DIR (untimed set-up, optional), export_NAME DIR and import_NAME DIR (print the timed
# scripts). The export writes into DIR/bundle (a folder the script creates), the import reads it
# and pushes to $target/p. Globals while a row runs: $target.

each_ref() { # TEMPLATE: one line per image, with {src} the SOURCE reference, {dst} the TARGET
  # one and {stem} a file name for the image (imgK)
  local ref line stem
  while read -r ref; do
    stem=${ref#bench/}
    line=${1//\{src\}/$src/$ref}
    line=${line//\{dst\}/$target/p/$ref}
    echo "${line//\{stem\}/${stem%%:*}}"
  done <"$work/refs"
}

sampled() { # RSS_FILE OUT_FILE COMMAND...: prints a script running COMMAND, its stdout in
  # OUT_FILE, and its own VmHWM (KiB) sampled into RSS_FILE. /usr/bin/time would report the
  # largest process of the run, which for purser's export is the `helm template` it starts
  # (about 53 MiB), not purser.
  local file=$1 out=$2
  shift 2
  printf '%q ' "$@"
  printf '>%q &\n' "$out"
  printf 'pid=$!; hwm=0\n'
  printf 'while [ -r /proc/$pid/status ]; do\n'
  printf '  v=$(awk '"'"'/^VmHWM:/ { print $2 }'"'"' /proc/$pid/status 2>/dev/null); [ -n "$v" ] && hwm=$v\n'
  printf '  sleep 0.02\n'
  printf 'done\n'
  printf 'wait $pid; rc=$?; echo "$hwm" > %q; exit $rc\n' "$file"
}

available_purser() {
  if ! { [ -x "$purser" ] && "$purser" mirror export --help >/dev/null 2>&1 &&
    "$purser" mirror import --help >/dev/null 2>&1; }; then
    echo "not built yet"
    say "bench: purser mirror export/import is not built yet; skipping its row"
    return 1
  fi
  [ -x "$HELM_BIN" ] || command -v "$HELM_BIN" >/dev/null 2>&1 || {
    echo "no helm ($HELM_BIN)"
    say "bench: no helm at $HELM_BIN (scripts/setup.sh builds it); skipping purser's row"
    return 1
  }
}
export_purser() {
  sampled "$1/export-rss" "$1/export.json" "$purser" mirror export "$work/chart" -o "$1/bundle/bundle.tar" \
    --plain-http "$src" --json
}
import_purser() {
  sampled "$1/import-rss" "$1/import.json" "$purser" mirror import "$1/bundle/bundle.tar" --to "$target/p" \
    --plain-http "$target" --json
}

available_skopeo() { command -v skopeo >/dev/null 2>&1 || { echo "not installed"; return 1; }; }
export_skopeo() {
  each_ref "skopeo copy --all --preserve-digests --src-tls-verify=false -q docker://{src} oci-archive:$1/bundle/{stem}.tar:v1"
}
import_skopeo() {
  each_ref "skopeo copy --all --preserve-digests --dest-tls-verify=false -q oci-archive:$1/bundle/{stem}.tar:v1 docker://{dst}"
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
export_skopeo-sync() {
  # skopeo sync keeps only the last path component of a repository: bench/imgK -> DIR/imgK:v1
  echo "skopeo sync --all --preserve-digests --src yaml --dest dir '$1/sync.yml' '$1/bundle'"
}
import_skopeo-sync() {
  # --src dir names each image by its path under the folder: DIR/imgK:v1 -> DEST/imgK:v1
  echo "skopeo sync --all --preserve-digests --src dir --dest docker --dest-tls-verify=false '$1/bundle' '$target/p/bench'"
}

available_regctl() { [ -x "$regctl" ] || { echo "not installed"; return 1; }; }
prep_regctl() {
  export HOME=$1/home
  mkdir -p "$HOME"
  quietly "$1/prep.log" "$regctl" registry set --tls disabled "$src"
  quietly "$1/prep.log" "$regctl" registry set --tls disabled "$target"
}
export_regctl() {
  echo "export HOME='$1/home'"
  each_ref "'$regctl' image export {src} '$1/bundle/{stem}.tar'"
}
import_regctl() {
  echo "export HOME='$1/home'"
  each_ref "'$regctl' image import {dst} '$1/bundle/{stem}.tar'"
}

label_purser="purser mirror export/import"
label_skopeo_sync="skopeo sync --all, dir"
label_skopeo="skopeo copy, oci-archive per image"
label_regctl="regctl image export/import, per image"

# --- runs ----------------------------------------------------------------------------------------

: >"$work/rows.tsv"
row() { # NAME LABEL EXPORT_S IMPORT_S BUNDLE_BYTES FILES EXPORT_RSS_KB IMPORT_RSS_KB STATUS
  local IFS=$'\t'
  echo "$*" >>"$work/rows.tsv"
}

wall_of() { # TIME_FILE: wall seconds from /usr/bin/time -v
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"
}
rss_of() { # DIR PHASE: peak RSS in KiB, purser's own when sampled
  if [ -s "$1/$2-rss" ]; then cat "$1/$2-rss"; else awk -F': ' '/Maximum resident set size/ { print $2 }' "$1/$2.time"; fi
}

timed() { # DIR PHASE: run DIR/PHASE.sh under /usr/bin/time and timeout; prints nothing, returns its status
  /usr/bin/time -v -o "$1/$2.time" timeout "$run_timeout" bash "$1/$2.sh" >"$1/$2.log" 2>&1
}

run_tool() { # NAME
  local name=$1 label_var dir target_pid status=ok rc=0 why
  label_var=label_${name//-/_}
  local label=${!label_var}
  dir=$work/run-$name
  mkdir -p "$dir/bundle"
  if ! why=$("available_$name"); then
    row "$name" "$label" - - - - - - "$why"
    return
  fi
  start_registry "$dir/target"
  target=$reg_host target_pid=$reg_pid
  (
    if declare -F "prep_$name" >/dev/null; then "prep_$name" "$dir"; fi
    "export_$name" "$dir" >"$dir/export.sh"
    "import_$name" "$dir" >"$dir/import.sh"
  )

  say "bench: $label: export from $src into $dir/bundle"
  timed "$dir" export || rc=$?
  local bytes files
  bytes=$(du -sb "$dir/bundle" | awk '{ print $1 }')
  files=$(find "$dir/bundle" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    status="FAILED (export exit $rc)"
    say "bench: $label: export failed (exit $rc); the end of its output:"
    tail -n 15 "$dir/export.log" >&2
  else
    say "bench: $label: import into $target/p"
    timed "$dir" import || rc=$?
    if [ "$rc" -ne 0 ]; then
      status="FAILED (import exit $rc)"
      say "bench: $label: import failed (exit $rc); the end of its output:"
      tail -n 15 "$dir/import.log" >&2
    fi
  fi

  local ref want got bad=0 i=0
  while read -r ref; do
    i=$((i + 1))
    want=$(sed -n "${i}p" "$work/source.digests")
    got=$("$crane" digest --insecure "$target/p/$ref" 2>/dev/null) || got=
    [ "$got" = "$want" ] || bad=$((bad + 1))
  done <"$work/refs"
  if [ "$bad" -gt 0 ]; then
    [ "$status" = ok ] && status="FAILED ($bad of $images digests missing or different)" ||
      status="$status, $bad of $images digests missing or different"
  fi
  stop_pid "$target_pid"
  [ -n "${PURSER_BENCH_KEEP:-}" ] || rm -rf "$dir/target/data" "$dir/bundle"

  local export_s import_s=- export_rss import_rss=-
  export_s=$(wall_of "$dir/export.time")
  export_rss=$(rss_of "$dir" export)
  if [ -s "$dir/import.time" ]; then
    import_s=$(wall_of "$dir/import.time")
    import_rss=$(rss_of "$dir" import)
  fi
  row "$name" "$label" "${export_s:--}" "${import_s:--}" "$bytes" "$files" "${export_rss:--}" "${import_rss:--}" "$status"
}

for name in $tools; do
  declare -F "export_$name" >/dev/null || die "PURSER_BENCH_TOOLS: no row named $name (purser skopeo-sync skopeo regctl)"
  run_tool "$name"
done

# purser's own count of what its bundle holds, when it ran: blobs and their bytes
purser_report=$work/run-purser/export.json
[ -s "$purser_report" ] || purser_report=/dev/null

# --- report --------------------------------------------------------------------------------------

report() {
  python3 - "$work/rows.tsv" "$work/source.json" "$purser_report" "$images" "$scale" "$(nproc)" <<'EOF'
import json, sys

rows_file, source_file, purser_file, images, scale, cores = sys.argv[1:]
src = json.load(open(source_file))
MB = 1e6
rows = [line.rstrip("\n").split("\t") for line in open(rows_file) if line.strip()]
unique = src["unique_bytes"]

purser_json = None
try:
    purser_json = json.load(open(purser_file))
except (ValueError, OSError):
    pass

def num(x):
    try:
        return float(x)
    except ValueError:
        return None

ref = next((r for r in rows if r[0] == "purser" and r[8] == "ok"), None)

def ratio(r, *cols):
    if not ref:
        return "-"
    a = [num(r[c]) for c in cols]
    b = [num(ref[c]) for c in cols]
    if None in a or None in b or not sum(b):
        return "-"
    return f"{sum(a) / sum(b):.2f}"

def rss_ratio(r):
    if not ref:
        return "-"
    a = [num(r[c]) for c in (6, 7)]
    b = [num(ref[c]) for c in (6, 7)]
    if None in a or None in b:
        return "-"
    return f"{max(a) / max(b):.2f}"

print(f"purser mirror export/import benchmark ({scale}): {images} images, {src['multi_platform']} of them "
      f"multi-platform (linux/amd64 + linux/arm64), sharing base layers")
print(f"  SOURCE -> bundle on disk -> TARGET: docker-registry 2.8 on loopback, plain HTTP, an empty TARGET "
      f"per tool; {cores} cores; one run each")
print(f"  in SOURCE: {unique / MB:.1f} MB of distinct blobs and manifests ({src['unique_blobs']} blobs, "
      f"{src['manifests']} manifests: \"unique\"); {src['per_repo_bytes'] / MB:.1f} MB counted once per image")
if purser_json:
    print(f"  purser's export report: {purser_json.get('blobs')} blobs, blobBytes {purser_json.get('blobBytes', 0) / MB:.1f} MB, "
          f"bundleBytes {purser_json.get('bundleBytes', 0) / MB:.1f} MB in {len(purser_json.get('files', []))} file(s)")
print()
head = ("tool", "export s", "import s", "bundle MB", "files", "over unique", "exp RSS MiB", "imp RSS MiB",
        "exp x", "imp x", "total x", "size x", "RSS x", "status")
fmt = "  {:<37} {:>8} {:>8} {:>9} {:>5} {:>11} {:>11} {:>11} {:>6} {:>6} {:>7} {:>6} {:>6}  {}"
print(fmt.format(*head))
for r in rows:
    name, label, exp, imp, size, files, exp_rss, imp_rss, status = r
    e, i, s, er, ir = num(exp), num(imp), num(size), num(exp_rss), num(imp_rss)
    print(fmt.format(
        label,
        f"{e:.2f}" if e is not None else "-",
        f"{i:.2f}" if i is not None else "-",
        f"{s / MB:.1f}" if s is not None else "-",
        files,
        f"{(s - unique) / unique * 100:+.2f}%" if s is not None else "-",
        f"{er / 1024:.1f}" if er is not None else "-",
        f"{ir / 1024:.1f}" if ir is not None else "-",
        ratio(r, 2), ratio(r, 3), ratio(r, 2, 3), ratio(r, 4), rss_ratio(r), status))
print()
if ref:
    print("  exp x, imp x, total x, size x, RSS x: the tool's over purser's (above 1: purser is faster, smaller)")
    print("  RSS x compares the larger of each tool's two peaks")
else:
    print("  ratios: against purser, which did not run or failed (none)")
print("  bundle MB: du -sb of what the export wrote; over unique: its size over the distinct blobs and manifests")
print("  purser's export time includes rendering the chart with helm template; peak RSS: purser's own (VmHWM,")
print("  sampled), for the others the largest single process of the phase (a loop: of its processes)")
if ref:
    s = num(ref[4])
    t = num(ref[2]) + num(ref[3])
    peers = [r for r in rows if r[0] != "purser" and num(r[2]) is not None and num(r[3]) is not None]
    print(f"  target: purser's bundle under unique + 1%: {'yes' if s < unique * 1.01 else 'NO'} "
          f"({(s - unique) / unique * 100:+.2f}%); purser faster (export + import) than each peer that ran: "
          f"{'yes' if peers and all(num(r[2]) + num(r[3]) > t for r in peers) else 'NO'}")
EOF
}
report
if [ -n "$out_file" ]; then report >"$out_file"; fi
