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
#   PURSER_BENCH_PURSER=BIN     the purser to measure (default target/release/purser, built by set-up)
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
# Benchmarks measure what ships: the release profile (scripts/env.sh).
export PURSER_PROFILE=${PURSER_PROFILE:-release}
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"
. "$PURSER_ROOT/scripts/bench-support/common.sh"

bench_options "$caller_dir" "${BASH_SOURCE[0]}" "$@"
tools=${PURSER_BENCH_TOOLS:-purser crane regctl regsync skopeo skopeo-sync}

bench_setup
regsync=$PURSER_LOCAL/bin/regsync
command -v python3 >/dev/null 2>&1 || die "python3 is needed (the counting relay)"

bench_work copy

# SOURCE, seeded with crane (not timed), and the chart `purser mirror copy` reads: its values
# list the images, one Deployment uses them.
seed_source
write_chart bench-copy

# --- the rows: each writes the script that copies every image to $relay/mirror -------------------
# prep_NAME DIR (untimed set-up, optional) and script_NAME DIR (prints the timed script).
# available_regctl, available_skopeo, available_skopeo-sync and prep_skopeo-sync are in
# scripts/bench-support/common.sh, shared with scripts/bench-bundle.sh.

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
  available_helm
}
script_purser() { # purser's own peak RSS (VmHWM), sampled while it runs
  sampled "$1/run-rss" - "$purser" mirror copy "$work/chart" --to "$relay/mirror" --plain-http "$src" --plain-http "$relay"
}

available_crane() { :; }
script_crane() { each_ref "'$crane' copy --insecure %s %s"; }

prep_regctl() { regctl_home "$1" "$src" "$relay"; }
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

script_skopeo() {
  each_ref "skopeo copy --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false -q docker://%s docker://%s"
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
# rows.tsv: NAME LABEL WALL_S BYTES REQUESTS RSS_KB TLS_PROBES APPROXIMATED STATUS

: >"$work/rows.tsv"

run_tool() { # NAME
  local name=$1 label dir target target_pid status rc=0
  row_available "$name" || return 0
  start_registry "$dir/target"
  target=$reg_host target_pid=$reg_pid
  start_relay "$target" "$dir"
  relay=$relay_host
  (
    if declare -F "prep_$name" >/dev/null; then "prep_$name" "$dir"; fi
    "script_$name" "$dir" >"$dir/run.sh"
  )
  say "bench: $label -> $relay (TARGET $target)"
  timed "$dir" run || rc=$?
  stop_pid "$relay_pid" # on TERM it writes relay.json and exits

  status=ok
  [ "$rc" -eq 0 ] || status=$(failure "$rc" "$label" "" "$dir/run.log")
  status=$(digest_status "$status" "$target/mirror")
  stop_pid "$target_pid"
  rm -rf "$dir/target/data"

  local wall rss bytes requests tls approx
  wall=$(wall_of "$dir/run.time")
  rss=$(rss_of "$dir" run)
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

report() { # bench_python gives src, MB, rows, num and ref (purser's row when it is ok)
  bench_python <<'EOF'
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
print_report
