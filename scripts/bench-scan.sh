#!/usr/bin/env bash
# Benchmark for `helm mirror scan` (purser mirror scan): scanning every platform of every image
# a chart pulls with the real Trivy, side by side in one run with what users do today (helmper
# and the like: a shell loop of `trivy image`, one image and platform at a time), against the
# same offline database, and the re-run that reuses the kept reports. Prints a table of wall
# time, peak memory, platform manifests scanned, findings and ratios. A benchmark, not a test:
# it reports what it measures and fails only when something cannot run; a row whose findings
# differ from what was seeded (or from the loop's) is marked FAILED.
#
#   scripts/bench-scan.sh [--images N] [--filler-mib M] [--out FILE]
#
#   --images N       N images in the chart (default 12); every third is multi-platform
#   --filler-mib M   MiB of random data in each image's layer (default 4), so pulls are not trivial
#   --out FILE       also write the table to FILE (plain text)
#
#   PURSER_BENCH_SKIP_SETUP=1   do not run scripts/setup.sh (use the builds that are there)
#   PURSER_BENCH_PURSER=BIN     the purser to measure (default target/release/purser, built by
#                               set-up; target/local/purser when there is no release build)
#   PURSER_BENCH_SCAN_CONCURRENCY="2 4"
#                               the --scan-concurrency values of purser's rows (default: 2,
#                               purser's default, and the machine's core count when it differs)
#   PURSER_BENCH_TIMEOUT=S      give up on one row after S seconds (default 900)
#   PURSER_BENCH_KEEP=1         keep the work folder (registry data, reports, logs)
#
# How:
#   - One registry, .purser/bin/oci-registry (blobs on disk in a temporary folder), plain HTTP
#     on a loopback port it picks. The database is the tests' tiny offline one,
#     `.purser/bin/trivy-db native/tests/fixtures/trivy-db` (made-up CVE-2099-* for Alpine 3.19:
#     openssl fixed in 3.1.4-r5 and 3.1.4-r6, busybox unfixed). Every row scans against a fresh
#     copy of it, so no row finds Trivy's layer cache (CACHE/fanal) warmed by another.
#   - The registry is seeded (not timed) with crane: N images bench/imgK:v1, each an Alpine
#     3.19.1 root filesystem in one layer (etc/alpine-release, etc/os-release,
#     lib/apk/db/installed with libcrypto3, libssl3 at 3.1.4-r1, -r5 or -r6 and busybox
#     1.36.1-r15, and M MiB from /dev/urandom); crane append gzips the tar. Every third image
#     is an OCI index with a linux/amd64 and a linux/arm64 child, each with a layer of its own.
#     Each platform has 5, 3 or 1 findings by its openssl version: the expected total is known.
#   - The chart has one Deployment with N containers, image: {{ .Values.registry }}/bench/imgK:v1,
#     rendered with --set registry=HOST.
#   - Each row runs once under /usr/bin/time -v: wall time and "peak RSS", the largest single
#     process of the row (a trivy, for every row that runs one); "all at once" is the most the
#     row's processes held together (sampled every 50 ms from /proc), which is what running
#     scans side by side costs.
#
# The rows:
#   trivy loop           `trivy image --image-src remote --scanners vuln --format json
#                        --cache-dir CACHE --skip-db-update ... --insecure HOST/bench/imgK:v1`,
#                        one after the other, with --platform linux/amd64 and linux/arm64 for the
#                        multi-platform images (what a careful loop does); a JSON file each
#   purser scan          `helm mirror scan CHART --set registry=HOST --plain-http HOST
#                        --trivy-cache-dir CACHE --reports DIR --scan-concurrency C --json`
#                        (includes helm template and resolving every image's platforms), with
#                        the mirror plugin installed in throw-away Helm homes
#   purser scan, re-run  the first purser row's command again, same CACHE and --reports: the
#                        reports are reused (every row must say so), Trivy scans nothing
set -euo pipefail
caller_dir=$(pwd)
# Benchmarks measure what ships: the release profile (scripts/env.sh).
export PURSER_PROFILE=${PURSER_PROFILE:-release}
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"
. "$PURSER_ROOT/scripts/bench-support/common.sh"

images=12
filler_mib=4
rest=()
while [ "$#" -gt 0 ]; do
  case $1 in
    --images) [ "$#" -ge 2 ] || die "--images needs a number"; images=$2; shift 2 ;;
    --images=*) images=${1#--images=}; shift ;;
    --filler-mib) [ "$#" -ge 2 ] || die "--filler-mib needs a number"; filler_mib=$2; shift 2 ;;
    --filler-mib=*) filler_mib=${1#--filler-mib=}; shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
bench_args "$caller_dir" "${BASH_SOURCE[0]}" ${rest[@]+"${rest[@]}"}
[[ $images =~ ^[1-9][0-9]*$ ]] || die "--images $images: give a positive number"
[[ $filler_mib =~ ^[0-9]+$ ]] || die "--filler-mib $filler_mib: give a number of MiB"

# --- set-up --------------------------------------------------------------------------------------

[ "${PURSER_BENCH_SKIP_SETUP:-}" = 1 ] ||
  PURSER_SKIP_PLUGIN_INSTALL=1 PURSER_SKIP_KUBE=1 scripts/setup.sh
if [ ! -x /usr/bin/time ]; then
  say "bench: apt-get install time"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time; } >&2 ||
    die "GNU time (/usr/bin/time) is needed: apt-get install time"
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed (reading the reports, sampling memory)"
crane=$PURSER_LOCAL/bin/crane
trivy=$PURSER_LOCAL/bin/trivy
trivy_db=$PURSER_LOCAL/bin/trivy-db
oci_registry=$PURSER_LOCAL/bin/oci-registry
if [ -n "${PURSER_BENCH_PURSER:-}" ]; then
  purser=$PURSER_BENCH_PURSER
elif [ -x "$PURSER_BUILD/purser" ]; then
  purser=$PURSER_BUILD/purser
else
  purser=${CARGO_TARGET_DIR:-$PURSER_ROOT/target}/local/purser
  say "bench: no $PURSER_BUILD/purser; measuring $purser"
fi
[ -x "$crane" ] && [ -x "$oci_registry" ] || die "no $crane or $oci_registry: run scripts/setup-registries.sh"
[ -x "$trivy" ] && [ -x "$trivy_db" ] || die "no $trivy or $trivy_db: run scripts/setup-trivy.sh"
[ -x "$purser" ] && "$purser" mirror scan --help >/dev/null 2>&1 ||
  die "no purser with mirror scan at $purser: run scripts/setup.sh (or set PURSER_BENCH_PURSER)"
[ -x "$HELM_BIN" ] || command -v "$HELM_BIN" >/dev/null 2>&1 || die "no helm ($HELM_BIN): run scripts/setup.sh"
trivy_version=$("$trivy" --version 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')

cores=$(nproc)
concurrency=${PURSER_BENCH_SCAN_CONCURRENCY:-2 $cores}
concurrency=$(printf '%s\n' $concurrency | awk '!seen[$0]++' | tr '\n' ' ')
for c in $concurrency; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "PURSER_BENCH_SCAN_CONCURRENCY: $c is no positive number"; done

bench_work scan # sets work and pids, the EXIT trap (bench_cleanup) and throw-away Helm homes

# The mirror plugin in these Helm homes, as scripts/setup.sh stages it: the plugin.yaml of
# native/plugins/mirror and the purser measured as bin/purser (links; Helm links the folder).
stage=$work/stage/mirror
mkdir -p "$stage/bin"
ln -s "$PURSER_ROOT/native/plugins/mirror/plugin.yaml" "$stage/plugin.yaml"
ln -s "$(cd "$(dirname "$purser")" && pwd)/$(basename "$purser")" "$stage/bin/purser"
quietly "$work/plugin.log" "$HELM_BIN" plugin install "$stage"
"$HELM_BIN" mirror scan --help >/dev/null 2>&1 || die "helm mirror scan --help fails after installing the plugin from $stage"

# --- the registry and the database (not timed) ---------------------------------------------------

start_oci_registry() { # DIR: .purser/bin/oci-registry with its blobs in DIR; sets reg_host, reg_pid
  local dir=$1 log=$1.log
  : >"$log" # before the background job opens it: sed reads it at once
  "$oci_registry" -address 127.0.0.1:0 -blobs-dir "$dir" </dev/null >"$log" 2>&1 &
  reg_pid=$!
  pids+=("$reg_pid")
  reg_host=
  for _ in $(seq 100); do
    reg_host=$(sed -n 's/.*oci-registry: serving on \(127\.0\.0\.1:[0-9][0-9]*\).*/\1/p' "$log")
    [ -z "$reg_host" ] || return 0
    kill -0 "$reg_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  die "oci-registry did not start"
}

start_oci_registry "$work/registry"
host=$reg_host
quietly "$work/db.log" "$trivy_db" native/tests/fixtures/trivy-db "$work/db"
[ -s "$work/db/db/trivy.db" ] || die "trivy-db wrote no $work/db/db/trivy.db"

# --- the images (not timed) ----------------------------------------------------------------------

versions=(3.1.4-r1 3.1.4-r5 3.1.4-r6)
findings_of=(5 3 1) # per platform: CVE-2099-0001 and -0002 on libcrypto3 and libssl3, -0003 on busybox

rootfs_layer() { # NAME ARCH OPENSSL: prints the path of a tar layer, an Alpine 3.19.1 rootfs
  local dir=$work/layers/$1 name version origin
  mkdir -p "$dir/etc" "$dir/lib/apk/db" "$dir/opt/bench"
  printf '3.19.1\n' >"$dir/etc/alpine-release"
  printf 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n' >"$dir/etc/os-release"
  : >"$dir/lib/apk/db/installed"
  # The stanza format of native/tests/support/rootfs.rs (Trivy reads P, V, A and o).
  while read -r name version origin; do
    printf 'C:Q1%s=\nP:%s\nV:%s\nA:%s\nS:1024\nI:4096\nT:%s for the purser bench\nU:https://purser.invalid/\nL:MIT\no:%s\n\n' \
      "$(printf '%s' "$name" | sha256sum | cut -c1-27)" "$name" "$version" "$2" "$name" "$origin" >>"$dir/lib/apk/db/installed"
  done <<EOF
libcrypto3 $3 openssl
libssl3 $3 openssl
busybox 1.36.1-r15 busybox
EOF
  head -c $((filler_mib * 1024 * 1024)) /dev/urandom >"$dir/opt/bench/filler.bin"
  tar -C "$dir" --owner=0 --group=0 --numeric-owner --sort=name --mtime=@1700000000 -cf "$dir.tar" etc lib opt
  rm -rf "$dir"
  echo "$dir.tar"
}

push_platform() { # TAG ARCH APK_ARCH VERSION_INDEX: one single-platform image at TAG
  local layer
  layer=$(rootfs_layer "${1##*/}-$2" "$3" "${versions[$4]}")
  quietly "$work/seed.log" "$crane" append --insecure --oci-empty-base -f "$layer" -t "$1"
  quietly "$work/seed.log" "$crane" mutate --insecure --set-platform "linux/$2" "$1" -t "$1"
  rm -f "$layer"
}

say "bench: seeding $host with $images images, ${filler_mib} MiB of filler a platform"
started=$SECONDS
mkdir -p "$work/layers"
: >"$work/targets" # REF PLATFORM (- for a single-platform image), what the loop scans
expected=0
multi=0
for k in $(seq 1 "$images"); do
  repo=$host/bench/img$k
  v=$(((k + k / 3) % 3)) # varied so that single- and multi-platform images both get each version
  if [ $((k % 3)) -ne 0 ]; then
    push_platform "$repo:v1" amd64 x86_64 "$v"
    echo "$repo:v1 -" >>"$work/targets"
    expected=$((expected + findings_of[v]))
  else
    w=$(((v + 1) % 3))
    push_platform "$repo:v1-amd64" amd64 x86_64 "$v"
    push_platform "$repo:v1-arm64" arm64 aarch64 "$w"
    quietly "$work/seed.log" "$crane" index append --insecure -m "$repo:v1-amd64" -m "$repo:v1-arm64" -t "$repo:v1"
    printf '%s linux/amd64\n%s linux/arm64\n' "$repo:v1" "$repo:v1" >>"$work/targets"
    expected=$((expected + findings_of[v] + findings_of[w]))
    multi=$((multi + 1))
  fi
done
platforms=$(wc -l <"$work/targets" | tr -d ' ')
say "bench: seeded in $((SECONDS - started))s: $platforms platform manifests, $expected findings expected"

# The chart: one Deployment with a container per image, the registry from --set registry=HOST.
mkdir -p "$work/chart/templates"
printf 'apiVersion: v2\nname: bench-scan\nversion: 0.1.0\n' >"$work/chart/Chart.yaml"
printf 'registry: registry.invalid\n' >"$work/chart/values.yaml"
{
  cat <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench-scan
spec:
  selector:
    matchLabels: {app: bench-scan}
  template:
    metadata:
      labels: {app: bench-scan}
    spec:
      containers:
EOF
  for k in $(seq 1 "$images"); do
    printf '        - name: c%s\n          image: "{{ .Values.registry }}/bench/img%s:v1"\n' "$k" "$k"
  done
} >"$work/chart/templates/deployment.yaml"

# --- runs ----------------------------------------------------------------------------------------
# rows.tsv: NAME LABEL WALL_S RSS_KB ALL_KB PLATFORMS FINDINGS STATUS

: >"$work/rows.tsv"

tree_rss() { # PID OUT: until PID is gone, the most its process tree held at once (KiB, VmRSS summed) into OUT
  python3 -c 'import os, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
page = os.sysconf("SC_PAGE_SIZE") // 1024
peak = 0
while os.path.exists(f"/proc/{root}"):
    parent, rss = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            with open(f"/proc/{p}/statm") as f:
                rss[int(p)] = int(f.read().split()[1]) * page
        except OSError:
            continue
        parent[int(p)] = int(stat.rsplit(")", 1)[1].split()[1])
    total = 0
    for p, kib in rss.items():
        q = p
        while q > 1 and q != root:
            q = parent.get(q, 0)
        if q == root:
            total += kib
    peak = max(peak, total)
    time.sleep(0.05)
open(out, "w").write(f"{peak}\n")' "$1" "$2" &
}

run_timed() { # DIR: runs DIR/run.sh (timed, in common.sh) with its process tree sampled; returns its status
  local rc=0 tpid
  timed "$1" run &
  tpid=$!
  tree_rss "$tpid" "$1/run.tree"
  local sampler=$!
  wait "$tpid" || rc=$?
  wait "$sampler" 2>/dev/null || true
  return "$rc"
}

finish_row() { # NAME LABEL DIR PLATFORMS FINDINGS STATUS: check the counts, write the row
  local name=$1 label=$2 dir=$3 got_platforms=$4 got=$5 status=$6 wall rss all want_note=
  if [ "$got_platforms" != "$platforms" ]; then
    want_note="$got_platforms of $platforms platforms"
  fi
  if [ "$got" != "$expected" ]; then
    want_note="${want_note:+$want_note, }$got findings, $expected seeded"
  fi
  if [ -n "${loop_findings:-}" ] && [ "$name" != loop ] && [ "$got" != "$loop_findings" ]; then
    want_note="${want_note:+$want_note, }the loop found $loop_findings"
  fi
  if [ -n "$want_note" ]; then
    [ "$status" = ok ] && status="FAILED ($want_note)" || status="$status; $want_note"
  fi
  wall=$(wall_of "$dir/run.time")
  rss=$(rss_of "$dir" run)
  all=$(cat "$dir/run.tree" 2>/dev/null || true)
  row "$name" "$label" "${wall:--}" "${rss:--}" "${all:--}" "$got_platforms" "$got" "$status"
}

# trivy loop: one `trivy image` per image and platform, one after the other
dir=$work/run-loop
mkdir -p "$dir/out"
cp -r "$work/db" "$dir/cache"
{
  echo "set -e"
  i=0
  while read -r ref platform; do
    i=$((i + 1))
    flag=
    [ "$platform" = - ] || flag="--platform $platform "
    printf '%q image --image-src remote --scanners vuln --format json --cache-dir %q --skip-db-update --skip-java-db-update --disable-telemetry --skip-version-check --quiet --insecure %s%s >%q\n' \
      "$trivy" "$dir/cache" "$flag" "$ref" "$dir/out/$i.json"
  done <"$work/targets"
} >"$dir/run.sh"
label="trivy image, a loop ($platforms runs)"
say "bench: $label"
rc=0
run_timed "$dir" || rc=$?
status=ok
[ "$rc" -eq 0 ] || status=$(failure "$rc" "the trivy loop" "" "$dir/run.log")
read -r got_platforms loop_findings < <(python3 -c 'import glob, json, sys
n = found = 0
for f in glob.glob(sys.argv[1] + "/*.json"):
    try:
        d = json.load(open(f))
    except ValueError:
        continue
    n += 1
    found += sum(len(r.get("Vulnerabilities") or []) for r in d.get("Results") or [])
print(n, found)' "$dir/out")
finish_row loop "$label" "$dir" "$got_platforms" "$loop_findings" "$status"

purser_script() { # DIR CACHE_REPORTS_DIR C: prints the script of one `helm mirror scan`, its report in DIR/scan.json
  printf 'export PURSER_TRIVY=%q HELM_BIN=%q\n' "$trivy" "$HELM_BIN"
  printf '%q mirror scan %q --set registry=%s --plain-http %s --trivy-cache-dir %q --reports %q --scan-concurrency %s --json >%q\n' \
    "$HELM_BIN" "$work/chart" "$host" "$host" "$2/cache" "$2/reports" "$3" "$1/scan.json"
}

purser_row() { # NAME LABEL DIR: run DIR/run.sh, read DIR/scan.json, write the row; REUSE=1 checks every report was reused
  local name=$1 label=$2 dir=$3 rc=0 status=ok got_platforms got reused total errors
  say "bench: $label"
  run_timed "$dir" || rc=$?
  [ "$rc" -eq 0 ] || status=$(failure "$rc" "$label" "" "$dir/run.log")
  if read -r got_platforms got reused total errors < <(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
rows = d.get("rows") or []
ok = [r for r in rows if r.get("state") in ("clean", "findings")]
found = sum(sum(v for k, v in (r.get("vulnerabilities") or {}).items() if k != "fixable") for r in ok)
errors = len(rows) - len(ok) + len(d.get("unreadable") or [])
print(len(ok), found, sum(1 for r in rows if r.get("reused")), len(rows), errors)' "$dir/scan.json" 2>/dev/null); then
    if [ "$errors" -ne 0 ]; then
      [ "$status" = ok ] && status="FAILED ($errors platform(s) not scanned)" || status="$status; $errors platform(s) not scanned"
    fi
    if [ "${REUSE:-}" = 1 ] && [ "$reused" -ne "$total" ]; then
      [ "$status" = ok ] && status="FAILED (only $reused of $total reports reused)" || status="$status; $reused of $total reused"
    fi
  else
    got_platforms=- got=-
    [ "$status" = ok ] && status="FAILED (no JSON report)"
  fi
  finish_row "$name" "$label" "$dir" "$got_platforms" "$got" "$status"
}

first=
for c in $concurrency; do
  dir=$work/run-purser-c$c
  mkdir -p "$dir"
  cp -r "$work/db" "$dir/cache"
  purser_script "$dir" "$dir" "$c" >"$dir/run.sh"
  purser_row "purser-c$c" "helm mirror scan, $c at once" "$dir"
  if [ -z "$first" ]; then
    first=$c
    # the same command again, the same cache and --reports: every report reused
    rerun=$work/run-purser-rerun
    mkdir -p "$rerun"
    purser_script "$rerun" "$dir" "$c" >"$rerun/run.sh"
    REUSE=1 purser_row purser-rerun "helm mirror scan, re-run (reuse)" "$rerun"
  fi
done
stop_pid "$reg_pid"

# --- report --------------------------------------------------------------------------------------

report() {
  python3 - "$work/rows.tsv" "$images" "$multi" "$platforms" "$expected" "$filler_mib" "$cores" \
    "${trivy_version:-?}" "$purser" <<'EOF'
import sys
rows_file, images, multi, platforms, expected, filler, cores, trivy, purser = sys.argv[1:10]
rows = [line.rstrip("\n").split("\t") for line in open(rows_file) if line.strip()]

def num(x):
    try:
        return float(x)
    except ValueError:
        return None

loop = next((r for r in rows if r[0] == "loop" and r[7] == "ok"), None)
lw = num(loop[2]) if loop else None
print(f"helm mirror scan benchmark: {images} images, {multi} of them multi-platform (linux/amd64 + "
      f"linux/arm64): {platforms} platform manifests, {filler} MiB of filler each; {expected} findings seeded")
print(f"  Trivy {trivy}, offline fixture database (a fresh copy per row); oci-registry on loopback, "
      f"plain HTTP; {cores} cores; one run each")
print(f"  purser: {purser}")
print()
head = ("tool", "wall s", "peak RSS MiB", "all at once MiB", "platforms", "findings", "loop time x", "status")
fmt = "  {:<36} {:>8} {:>13} {:>16} {:>10} {:>9} {:>12}  {}"
print(fmt.format(*head))
for name, label, wall, rss, tree, plats, found, status in rows:
    w, m, t = num(wall), num(rss), num(tree)
    print(fmt.format(
        label,
        f"{w:.2f}" if w is not None else "-",
        f"{m / 1024:.1f}" if m is not None else "-",
        f"{t / 1024:.1f}" if t is not None else "-",
        plats, found,
        f"{lw / w:.2f}" if lw and w else "-",
        status))
print()
if loop:
    print("  loop time x: the trivy loop's wall time over the row's (above 1: faster than the loop)")
else:
    print("  loop time x: against the trivy loop, which failed (no ratios)")
print("  peak RSS: the largest single process of the row; all at once: the most its processes held together")
print("  purser's times include helm template and resolving each image's platforms at the registry")
EOF
}
print_report
