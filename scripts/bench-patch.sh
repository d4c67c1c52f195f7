#!/usr/bin/env bash
# Benchmark for `helm mirror patch`: the exact form a check outside the project runs
# (`PURSER_TRIVY=… helm mirror patch CHART --to HOST/mirror --plain-http HOST
# --trivy-cache-dir DIR`) on the two end-to-end images of native/tests/mirror_patch.rs, run
# RUNS times, and prints per image and platform the wall time of the whole run (scan every
# platform, fetch and verify the packages, build the layers, publish, re-scan, VEX), the
# original image's bytes, the patch layer's bytes and their ratio.
#
#   scripts/bench-patch.sh [--runs N] [--out FILE]
#
# The images (built by the tests' support, real parts, nothing mocked):
#   debian  an OCI index of linux/amd64 + linux/arm64/v8 Debian 12 roots with the real libssl3
#           3.0.17-1~deb12u2 installed (uncompressed layer), patched to the real 3.0.22-1~deb12u2
#           from a signed APT repository on loopback;
#   alpine  an OCI index of x86_64 + aarch64 Alpine 3.19 roots with synthetic signed apks
#           (libcrypto3/libssl3 3.1.4-r1 -> r6 plus a new dependency and a dropped file).
#
# Copacetic, the tool users would pick instead, cannot run here (it needs BuildKit and a
# container runtime; neither is served on this machine), so it is not a row: by its own
# documentation it also adds one layer per patch run, built by running the package manager in
# a tooling container, for one platform per run (helmper runs it per image, under the upstream
# tag). purser's layer holds only the new packages' files, whiteouts and database entries.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: scripts/bench-patch.sh [--runs N] [--out FILE]" >&2; exit 2 ;;
  esac
done
[ "${PURSER_BENCH_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for i in $(seq 1 "$runs"); do
  echo "run $i of $runs" >&2
  cargo test --profile local -p purser-native --test e2e mirror_patch::a_two_platform \
    -- --nocapture --test-threads 1 2>&1 | grep -o 'patch-bench: .*' >>"$log" || {
      echo "the patch tests failed: cargo test --profile local -p purser-native --test e2e mirror_patch::" >&2
      exit 1
    }
done
table="$(python3 - "$log" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"patch-bench: (\S+) (\S+): (\d+) ms for the run; image (\d+) bytes, patch layer (\d+) bytes", line)
    if m:
        key = (m[1], m[2])
        rows.setdefault(key, []).append((int(m[3]), int(m[4]), int(m[5])))
print(f"{'image':8} {'platform':16} {'runs':>4} {'median ms':>10} {'image bytes':>12} {'patch layer':>12} {'layer/image':>12}")
for (image, platform), samples in sorted(rows.items()):
    ms = statistics.median(s[0] for s in samples)
    size, layer = samples[-1][1], samples[-1][2]
    print(f"{image:8} {platform:16} {len(samples):>4} {ms:>10.0f} {size:>12} {layer:>12} {layer/size:>12.2f}")
PY
)"
echo "$table"
[ -z "$out" ] || echo "$table" >"$out"
