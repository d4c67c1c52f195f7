#!/usr/bin/env bash
# Benchmark for a copy spread over processes (`purser mirror plan`, `execute`, `commit`): the
# same images copied by `purser mirror copy` in one process and by a plan run with 1, 2 and 4
# executors at once, against registries with a bandwidth cap per connection, side by side in
# one run; a table of wall times, bytes, manifest GETs at the source and ratios. A benchmark,
# not a test: it reports what it measures and fails only when something cannot run.
#
#   scripts/bench-plan.sh [--scale full|small] [--images N] [--out FILE]
#
#   --scale full     (default) 200 images with a heavy-tailed size mix (below)
#   --scale small    12 images with 1-2 MB layers: a quick check of the script
#   --images N       N images instead of the scale's number
#   --out FILE       also write the table to FILE (plain text)
#
#   PURSER_BENCH_SKIP_SETUP=1    do not run scripts/setup.sh (use the builds that are there)
#   PURSER_BENCH_PURSER=BIN      the purser to measure (default target/release/purser)
#   PURSER_BENCH_RATE=MIB        the cap per connection and direction, MiB/s (default 8)
#   PURSER_BENCH_CONCURRENCY=C   requests in flight per purser process (default 4): one
#                                machine's budget, the same for copy and for each executor
#   PURSER_BENCH_EXECUTORS="..." the executor counts to run (default "1 2 4")
#   PURSER_BENCH_KEEP=1          keep the work folder
#
# How:
#   - SOURCE and every TARGET are Debian's docker-registry (distribution 2.8) on loopback, each
#     behind the counting relay (scripts/bench-support/count-relay.py) with --rate-mib: every
#     connection is held to the cap in each direction, as a registry or a link with a
#     per-connection limit is, so more connections (more executors) move more.
#   - SOURCE is seeded (not timed) with crane as scripts/bench-copy.sh seeds it (4 base stacks
#     of 10-40 MB, every third image an OCI index of two platforms), but the images' own layers
#     are heavy-tailed: 1 MiB mostly, 12 MiB for every 10th image, 48 MiB for every 40th.
#   - Rows: `copy` (one process); `plan --shards K`, K `execute --shard I` processes at once,
#     then `commit`, for each K. Each row copies into a TARGET of its own, started empty; every
#     image at the TARGET is checked against SOURCE's digest.
#   - Manifest GETs at SOURCE are read from its relay between phases (SIGUSR1 snapshots): the
#     plan's (one per manifest is the least), the executors' (goal: none) and the commit's.
#   - The plan's size is measured for N images; "per 1,000 images" scales it linearly (a plan
#     holds each manifest once, and its size follows the manifests, not the bytes).
set -euo pipefail
caller_dir=$(pwd)
export PURSER_PROFILE=${PURSER_PROFILE:-release}
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"
. "$PURSER_ROOT/scripts/bench-support/common.sh"

BENCH_FULL_IMAGES=200 BENCH_SMALL_IMAGES=12
bench_options "$caller_dir" "${BASH_SOURCE[0]}" "$@"
rate=${PURSER_BENCH_RATE:-8}
concurrency=${PURSER_BENCH_CONCURRENCY:-4}
executors=${PURSER_BENCH_EXECUTORS:-1 2 4}

bench_setup
command -v python3 >/dev/null 2>&1 || die "python3 is needed (the counting relay)"
bench_work plan

# Heavy-tailed own layers (replaces common.sh's 1-5 MiB).
unique_mib() { # IMAGE LAYER
  if [ "$scale" = small ]; then echo $((1 + ($1 + $2) % 2)); return; fi
  if [ $(($1 % 40)) -eq 0 ] && [ "$2" -eq 0 ]; then echo 48
  elif [ $(($1 % 10)) -eq 0 ] && [ "$2" -eq 0 ]; then echo 12
  else echo 1; fi
}

seed_source
# The source relay's stats go to $work/source.json, where seed_source put the source's sizes.
mv "$work/source.json" "$work/source-sizes.json"
src_direct=$src
start_relay "$src_direct" "$work" source "$rate"
src=$relay_host src_relay_pid=$relay_pid
write_chart bench-plan
available_helm >/dev/null || die "no Helm for purser (HELM_BIN): run scripts/setup.sh"

snapshot() { # NAME: the source relay's stats so far into $work/source-NAME.json
  rm -f "$work/source.json"
  kill -USR1 "$src_relay_pid"
  for _ in $(seq 100); do
    [ -s "$work/source.json" ] && break
    sleep 0.05
  done
  [ -s "$work/source.json" ] || die "the source relay wrote no stats"
  mv "$work/source.json" "$work/source-$1.json"
}

purser_flags=(--plain-http "$src" --concurrency "$concurrency")

: >"$work/rows.tsv"
run_row() { # NAME LABEL K (K=0: copy)
  local name=$1 label=$2 k=$3 dir=$work/run-$1 target target_pid relay status=ok rc=0 i
  mkdir -p "$dir"
  start_registry "$dir/target"
  target=$reg_host target_pid=$reg_pid
  start_relay "$target" "$dir" relay "$rate"
  relay=$relay_host
  local flags=("${purser_flags[@]}" --plain-http "$relay")
  say "bench: $label -> $relay (TARGET $target)"
  snapshot "$name-start"
  if [ "$k" -eq 0 ]; then
    printf '%q ' "$purser" mirror copy "$work/chart" --to "$relay/mirror" "${flags[@]}" >"$dir/all.sh"
    timed "$dir" all || rc=$?
    snapshot "$name-plan"
    cp "$work/source-$name-plan.json" "$work/source-$name-exec.json"
  else
    printf '%q ' "$purser" mirror plan "$work/chart" --to "$relay/mirror" --shards "$k" \
      --out "$dir/plan.json" "${flags[@]}" >"$dir/plan.sh"
    {
      for i in $(seq 0 $((k - 1))); do
        printf '%q ' "$purser" mirror execute "$dir/plan.json" --shard "$i" --concurrency "$concurrency"
        printf '>%q 2>&1 &\n' "$dir/execute-$i.log"
      done
      echo 'rc=0; for p in $(jobs -p); do wait "$p" || rc=$?; done; exit $rc'
    } >"$dir/execute.sh"
    printf '%q ' "$purser" mirror commit "$dir/plan.json" --concurrency "$concurrency" >"$dir/commit.sh"
    timed "$dir" plan || rc=$?
    snapshot "$name-plan"
    [ "$rc" -eq 0 ] && { timed "$dir" execute || rc=$?; }
    snapshot "$name-exec"
    [ "$rc" -eq 0 ] && { timed "$dir" commit || rc=$?; }
  fi
  snapshot "$name-end"
  stop_pid "$relay_pid"
  [ "$rc" -eq 0 ] || status=$(failure "$rc" "$label" "" "$(ls -t "$dir"/*.log | head -1)")
  status=$(digest_status "$status" "$target/mirror")
  stop_pid "$target_pid"
  rm -rf "$dir/target/data"
  local plan_s exec_s commit_s plan_bytes=-
  if [ "$k" -eq 0 ]; then
    plan_s=- exec_s=$(wall_of "$dir/all.time") commit_s=-
  else
    plan_s=$(wall_of "$dir/plan.time" 2>/dev/null || echo -)
    exec_s=$(wall_of "$dir/execute.time" 2>/dev/null || echo -)
    commit_s=$(wall_of "$dir/commit.time" 2>/dev/null || echo -)
    [ -f "$dir/plan.json" ] && plan_bytes=$(stat -c %s "$dir/plan.json")
  fi
  local sent
  sent=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["bytes_up"])' "$dir/relay.json" 2>/dev/null || echo -)
  row "$name" "$label" "$k" "${plan_s:--}" "${exec_s:--}" "${commit_s:--}" "$sent" "$plan_bytes" "$status"
}

run_row copy "copy, one process" 0
for k in $executors; do
  run_row "plan-$k" "plan + $k executor(s) + commit" "$k"
done

report() {
  python3 - "$work" "$images" "$rate" "$concurrency" "$(nproc)" <<'EOF'
import json, os, sys
work, images, rate, conc, cores = sys.argv[1:6]
images = int(images)
MB = 1e6
src = json.load(open(os.path.join(work, "source-sizes.json")))
def stats(name):
    try:
        return json.load(open(os.path.join(work, f"source-{name}.json")))
    except (OSError, ValueError):
        return {}
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(work, "rows.tsv")) if l.strip()]
manifests = src.get("manifests")
print(f"purser plan/execute/commit benchmark: {images} images ({src['multi_platform']} multi-platform), "
      f"heavy-tailed own layers; {src['unique_bytes'] / MB:.1f} MB of distinct blobs and manifests")
print(f"  every connection capped at {rate} MiB/s each way (counting relays); {conc} requests in flight per "
      f"purser process; {cores} cores; one run each")
print()
fmt = "  {:<34} {:>7} {:>9} {:>8} {:>8} {:>8} {:>9} {:>11} {:>11} {:>10}  {}"
print(fmt.format("row", "plan s", "execute s", "commit s", "total s", "x copy", "sent MB",
                 "mGET plan", "mGET exec", "plan KB", "status"))
copy_total = None
for name, label, k, plan_s, exec_s, commit_s, sent, plan_bytes, status in rows:
    parts = [num(x) for x in (plan_s, exec_s, commit_s)]
    total = sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
    if name == "copy" and status == "ok":
        copy_total = total
    start, after_plan, after_exec = stats(f"{name}-start"), stats(f"{name}-plan"), stats(f"{name}-exec")
    mget = lambda a, b: (b.get("manifest_gets", 0) - a.get("manifest_gets", 0)) if a and b else None
    mp, me = mget(start, after_plan), mget(after_plan, after_exec)
    s = num(sent)
    pb = num(plan_bytes)
    print(fmt.format(label, plan_s, exec_s, commit_s,
                     f"{total:.2f}" if total is not None else "-",
                     f"{copy_total / total:.2f}" if copy_total and total else "-",
                     f"{s / MB:.1f}" if s is not None else "-",
                     f"{mp / images:.2f}/img" if mp is not None else "-",
                     f"{me}" if (me is not None and name != "copy") else "-",
                     f"{pb / 1024:.0f}" if pb is not None else "-", status))
print()
print("  x copy: copy's total time over the row's (above 1: faster than one process)")
print("  mGET plan: manifest GETs at SOURCE per image while planning (copy: the whole copy); mGET exec:")
print("  manifest GETs at SOURCE from all executors together (goal 0)")
plans = [(int(r[2]), num(r[7])) for r in rows if r[0] != "copy" and num(r[7])]
if plans:
    k, b = plans[0]
    print(f"  plan size: {b / 1024:.0f} KB for {images} images, about {b / images * 1000 / 1e6:.1f} MB per 1,000 "
          "images (scaled linearly)")
EOF
}
print_report
