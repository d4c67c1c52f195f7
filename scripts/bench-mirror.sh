#!/usr/bin/env bash
# Benchmark for `helm mirror`: resolving a chart's images against a local registry.
#
#   scripts/bench-mirror.sh [--images N] [--out FILE]
#
# Starts Debian's docker-registry on a free loopback port, pushes N (default 200) small
# images as distinct tags with crane, renders a chart that uses all of them, and measures in
# one run, side by side:
#   - purser mirror lock (resolves every image: one GET each, manifests and platforms)
#   - purser mirror verify (nothing changed: the requests per image, target one HEAD per tag)
#   - a loop of `skopeo inspect --raw` (Debian) and a loop of `crane digest` over the same images
# and prints wall times and ratios. A benchmark, not a test: it reports, it does not judge.
set -euo pipefail
# Benchmarks measure what ships: the release profile (scripts/env.sh).
export PURSER_PROFILE=${PURSER_PROFILE:-release}
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

images=200
out=
while [ $# -gt 0 ]; do
  case $1 in
    --images) images=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) die "unknown argument $1 (takes --images N, --out FILE)" ;;
  esac
done

[ "${PURSER_BENCH_SKIP_SETUP:-}" = 1 ] || PURSER_SKIP_PLUGIN_INSTALL=1 scripts/setup.sh
if ! command -v skopeo >/dev/null 2>&1; then
  say "bench: apt-get install skopeo"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo; } >&2 ||
    say "bench: skopeo could not be installed; its column is skipped"
fi
crane=$PURSER_LOCAL/bin/crane
purser=$PURSER_BUILD/purser
[ -x "$crane" ] || die "no $crane: run scripts/setup.sh (scripts/setup-registries.sh builds it)"

work=$(mktemp -d "${TMPDIR:-/tmp}/purser-bench-mirror.XXXXXX")
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: $host}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do
  curl -fsS "http://$host/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://$host/v2/" >/dev/null || die "docker-registry did not start (see $work/registry.log)"

say "bench: pushing $images images to $host"
mkdir -p "$work/chart/templates"
printf 'apiVersion: v2\nname: bench\nversion: 0.1.0\n' >"$work/chart/Chart.yaml"
: >"$work/refs"
{
  echo "apiVersion: v1"
  echo "kind: Pod"
  echo "metadata: {name: bench}"
  echo "spec:"
  echo "  containers:"
} >"$work/chart/templates/pod.yaml"
for i in $(seq 1 "$images"); do
  echo "layer $i" >"$work/f"
  tar -C "$work" -cf "$work/layer.tar" f
  ref=$host/bench/app$((i % 20)):v$i
  "$crane" append --insecure -f "$work/layer.tar" -t "$ref" >/dev/null 2>&1 || die "crane append $ref failed"
  echo "$ref" >>"$work/refs"
  echo "    - {name: c$i, image: \"$ref\"}" >>"$work/chart/templates/pod.yaml"
done

now_ms() { date +%s%3N; }
time_ms() { # COMMAND...: wall milliseconds of the best of 3 runs
  local best= start end
  for _ in 1 2 3; do
    start=$(now_ms)
    "$@" >/dev/null 2>&1 || die "failed: $*"
    end=$(now_ms)
    if [ -z "$best" ] || [ $((end - start)) -lt "$best" ]; then best=$((end - start)); fi
  done
  echo "$best"
}
skopeo_loop() { while read -r ref; do skopeo inspect --raw --tls-verify=false "docker://$ref" >/dev/null; done <"$work/refs"; }
crane_loop() { while read -r ref; do "$crane" digest --insecure "$ref" >/dev/null; done <"$work/refs"; }

lock_ms=$(time_ms "$purser" mirror lock "$work/chart" --plain-http "$host" -o "$work/images.lock")
"$purser" mirror lock "$work/chart" --plain-http "$host" -o "$work/images.lock" 2>/dev/null
verify_ms=$(time_ms "$purser" mirror verify "$work/chart" --plain-http "$host" --lock "$work/images.lock")
requests=$("$purser" mirror verify "$work/chart" --plain-http "$host" --lock "$work/images.lock" --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["images"], d["clean"])')
template_ms=$(time_ms "$HELM_BIN" template bench "$work/chart")
crane_ms=$(time_ms crane_loop)
skopeo_ms=
command -v skopeo >/dev/null 2>&1 && skopeo_ms=$(time_ms skopeo_loop)

read -r req n clean <<<"$requests"
report() {
  echo "helm mirror benchmark: $images images in a local docker-registry ($host), 2 cores, best of 3"
  printf '  %-52s %8s ms\n' "helm template alone (included in purser's times)" "$template_ms"
  printf '  %-52s %8s ms\n' "purser mirror lock (render + resolve all)" "$lock_ms"
  printf '  %-52s %8s ms\n' "purser mirror verify (render + HEAD all)" "$verify_ms"
  printf '  %-52s %8s ms\n' "crane digest, one process per image" "$crane_ms"
  [ -n "$skopeo_ms" ] && printf '  %-52s %8s ms\n' "skopeo inspect --raw, one process per image" "$skopeo_ms"
  printf '  %-52s %8s\n' "requests per image, verify, nothing changed" \
    "$(python3 -c "print(f'{$req/$n:.2f} ({$req} for $n images, clean=$clean; target 1 HEAD)')")"
  python3 - "$lock_ms" "$verify_ms" "$crane_ms" "${skopeo_ms:-0}" <<'EOF'
import sys
lock, verify, crane, skopeo = (int(x) for x in sys.argv[1:])
print(f"  purser mirror lock vs crane loop            {lock / crane:6.2f}x the time")
print(f"  purser mirror verify vs crane loop          {verify / crane:6.2f}x the time")
if skopeo:
    print(f"  purser mirror lock vs skopeo loop           {lock / skopeo:6.2f}x the time")
EOF
}
report
[ -z "$out" ] || report >"$out"
