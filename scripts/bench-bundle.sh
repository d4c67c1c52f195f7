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
#   PURSER_BENCH_PURSER=BIN     the purser to measure (default target/release/purser, built by set-up)
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
# Benchmarks measure what ships: the release profile (scripts/env.sh).
export PURSER_PROFILE=${PURSER_PROFILE:-release}
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

. "$PURSER_ROOT/scripts/bench-support/common.sh"

bench_options "$caller_dir" "${BASH_SOURCE[0]}" "$@"
tools=${PURSER_BENCH_TOOLS:-purser skopeo-sync skopeo regctl}

bench_setup
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

bench_work bundle

# SOURCE, seeded with crane (not timed) as scripts/bench-copy.sh seeds it, and the chart
# `purser mirror export` reads: its values list the images, one Deployment uses them.
seed_source
write_chart bench-bundle

# --- the rows ------------------------------------------------------------------------------------
# prep_NAME DIR (untimed set-up, optional), export_NAME DIR and import_NAME DIR (print the timed
# scripts). The export writes into DIR/bundle (a folder the script creates), the import reads it
# and pushes to $target/p. Globals while a row runs: $target. available_regctl, available_skopeo,
# available_skopeo-sync and prep_skopeo-sync are in scripts/bench-support/common.sh, shared with
# scripts/bench-copy.sh.

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

available_purser() {
  if ! { [ -x "$purser" ] && "$purser" mirror export --help >/dev/null 2>&1 &&
    "$purser" mirror import --help >/dev/null 2>&1; }; then
    echo "not built yet"
    say "bench: purser mirror export/import is not built yet; skipping its row"
    return 1
  fi
  available_helm
}
export_purser() {
  sampled "$1/export-rss" "$1/export.json" "$purser" mirror export "$work/chart" -o "$1/bundle/bundle.tar" \
    --plain-http "$src" --json
}
import_purser() {
  sampled "$1/import-rss" "$1/import.json" "$purser" mirror import "$1/bundle/bundle.tar" --to "$target/p" \
    --plain-http "$target" --json
}

export_skopeo() {
  each_ref "skopeo copy --all --preserve-digests --src-tls-verify=false -q docker://{src} oci-archive:$1/bundle/{stem}.tar:v1"
}
import_skopeo() {
  each_ref "skopeo copy --all --preserve-digests --dest-tls-verify=false -q oci-archive:$1/bundle/{stem}.tar:v1 docker://{dst}"
}

export_skopeo-sync() {
  # skopeo sync keeps only the last path component of a repository: bench/imgK -> DIR/imgK:v1
  echo "skopeo sync --all --preserve-digests --src yaml --dest dir '$1/sync.yml' '$1/bundle'"
}
import_skopeo-sync() {
  # --src dir names each image by its path under the folder: DIR/imgK:v1 -> DEST/imgK:v1
  echo "skopeo sync --all --preserve-digests --src dir --dest docker --dest-tls-verify=false '$1/bundle' '$target/p/bench'"
}

prep_regctl() { regctl_home "$1" "$src" "$target"; }
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
# rows.tsv: NAME LABEL EXPORT_S IMPORT_S BUNDLE_BYTES FILES EXPORT_RSS_KB IMPORT_RSS_KB STATUS

: >"$work/rows.tsv"

run_tool() { # NAME
  local name=$1 label dir target_pid status=ok rc=0
  row_available "$name" || return 0
  start_registry "$dir/target"
  target=$reg_host target_pid=$reg_pid # sets the global target, which each_ref reads
  mkdir -p "$dir/bundle"
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
    status=$(failure "$rc" "$label: export" export "$dir/export.log")
  else
    say "bench: $label: import into $target/p"
    timed "$dir" import || rc=$?
    [ "$rc" -eq 0 ] || status=$(failure "$rc" "$label: import" import "$dir/import.log")
  fi

  status=$(digest_status "$status" "$target/p")
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

report() { # bench_python gives src, MB, rows, num and ref (purser's row when it is ok)
  bench_python "$purser_report" <<'EOF'
purser_file = sys.argv[6]
unique = src["unique_bytes"]

purser_json = None
try:
    purser_json = json.load(open(purser_file))
except (ValueError, OSError):
    pass

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
print_report
