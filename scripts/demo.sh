#!/usr/bin/env bash
# The demo: the whole job on the fixture chart examples/demo, against throw-away local registries.
#
#   scripts/demo.sh            every step below; the first lists the images as a table
#   scripts/demo.sh -o json    ... the first step with these `helm images` flags instead
#                              (stdout carries every step's output, not only that step's)
#
#   1. helm template demo examples/demo | helm images        what the chart pulls, as published
#   2. three local registries (.purser/bin/oci-registry, plain HTTP on free 127.0.0.1 ports):
#      "upstream" stands in for docker.io and cr.fluentbit.io, "mirror" is yours, "inside" is
#      behind an air gap; crane builds the chart's four images (a tiny layer each) into upstream,
#      and upstream.yaml points the chart's image values at it
#   3. helm mirror copy  -> mirror, with its lock (mirror.lock)
#   4. helm template --post-renderer relocate --lock=mirror.lock --to=mirror: every image at the
#      mirror, pinned by digest
#   5. helm mirror export (bundle.tar, from upstream), inspect, import into inside, and relocate
#      against the import's lock: the air-gap path
#   6. only when .purser/bin/cosign exists (the full scripts/setup.sh builds it; the demo does
#      not): a throw-away cosign key, helm mirror copy --sign-key at the mirror, cosign verify
#   7. only when .purser/bin/trivy and .purser/bin/trivy-db exist (set-up installs them unless
#      PURSER_SKIP_TRIVY=1): the scan gate, offline, with the tiny database the tests build
#      (native/tests/fixtures/trivy-db, made-up CVE-2099-*); crane builds two Alpine images into
#      upstream, demo/vulnerable:1 (openssl 3.1.4-r1, busybox) and demo/patched:1 (3.1.4-r6), a
#      tiny chart pulls both; helm mirror scan --fail-on HIGH blocks the first (exit 1), and
#      helm mirror copy --fail-on HIGH copies only the second to the mirror (exit 1, said so)
#
# (Earlier versions ended with `helm package examples/demo && helm images --all < demo-0.1.0.tgz`,
# the switched-off metrics subchart's image too; that step is gone, run it by hand.)
# Sets itself up with scripts/setup.sh, the registries step narrowed to oci-registry and crane
# (PURSER_REGISTRIES_DEMO_ONLY=1; no Debian packages, cosign or cluster) and Trivy set up as
# usual (the first time a 50 MB download; PURSER_SKIP_TRIVY=1 skips it), so a second run takes
# seconds. Leaves nothing behind: the registries are stopped and the temporary folder removed on
# any exit (an error, ^C). Exits non-zero when any step fails.
# Uses the Helm homes of the caller (export HELM_DATA_HOME etc. to keep yours untouched).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The demo needs Helm, the plugins, oci-registry and crane, and Trivy for its last step: not the
# test registries, cosign nor the test cluster.
PURSER_REGISTRIES_DEMO_ONLY=${PURSER_REGISTRIES_DEMO_ONLY:-1} PURSER_SKIP_KUBE=${PURSER_SKIP_KUBE:-1} \
  "$PURSER_ROOT/scripts/setup.sh"
[ "$#" -gt 0 ] || set -- -o table

for tool in oci-registry crane; do
  [ -x "$PURSER_LOCAL/bin/$tool" ] ||
    die "demo: $PURSER_LOCAL/bin/$tool is missing (run without PURSER_SKIP_REGISTRIES=1)"
done

# --- the throw-away state: registries and a work folder, gone on any exit -----------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/purser-demo.XXXXXX")
registry_pids=()
cleanup() {
  local pid
  for pid in ${registry_pids[@]+"${registry_pids[@]}"}; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in ${registry_pids[@]+"${registry_pids[@]}"}; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_registry NAME: an oci-registry on a free port (it picks one: -address 127.0.0.1:0, and
# logs where it listens); sets $registry to 127.0.0.1:PORT.
start_registry() {
  local name=$1 log=$work/$1.log i
  : >"$log" # before the background job opens it: sed reads it at once
  "$PURSER_LOCAL/bin/oci-registry" -address 127.0.0.1:0 -blobs-dir "$work/$name-blobs" \
    </dev/null >"$log" 2>&1 &
  registry_pids+=($!)
  registry=
  for i in $(seq 1 100); do
    registry=$(sed -n 's/.*oci-registry: serving on \(127\.0\.0\.1:[0-9][0-9]*\).*/\1/p' "$log")
    [ -z "$registry" ] || break
    kill -0 "${registry_pids[${#registry_pids[@]} - 1]}" 2>/dev/null ||
      { cat "$log" >&2; die "demo: the $name registry did not start"; }
    sleep 0.1
  done
  [ -n "$registry" ] || { cat "$log" >&2; die "demo: the $name registry did not start within 10s"; }
}

# step TEXT: a header, saying what the next command proves. show CMD...: the command as typed
# (helm for $HELM_BIN, paths relative to the work folder), then it runs.
step() { printf '\n' >&2; say "== $*"; }
show() { say "\$ $*"; }
helm() { "$HELM_BIN" "$@"; }

cd "$work"
ln -s "$PURSER_ROOT/examples" examples # so that commands read `examples/demo`

# --- 1. what the chart pulls ----------------------------------------------------------------------

step "1. what the chart pulls, as published: helm images reads the rendered manifests"
show "helm template demo examples/demo | helm images $*"
helm template demo examples/demo | helm images "$@"

# --- 2. upstream, mirror, inside ------------------------------------------------------------------

step "2. three throw-away registries: upstream (stands in for docker.io and cr.fluentbit.io), mirror (yours), inside (behind the air gap)"
start_registry upstream
upstream=$registry
start_registry mirror
mirror=$registry
start_registry inside
inside=$registry
say "upstream $upstream   mirror $mirror   inside $inside"

step "   the chart's images, built into upstream with crane (one tiny layer each)"
images=(library/nginx:1.27.3 library/busybox:1.37.0 fluent/fluent-bit:3.2.4 library/postgres:17.2-alpine)
for image in "${images[@]}"; do
  layer=$work/layer-${image//[\/:]/-}
  mkdir -p "$layer/etc"
  printf 'purser demo image %s\n' "$image" >"$layer/etc/demo-image"
  tar -C "$layer" -cf "$layer.tar" etc
  show "crane append --oci-empty-base -f layer.tar -t $upstream/$image"
  crane append --oci-empty-base -f "$layer.tar" -t "$upstream/$image" 2>"$work/crane.log" ||
    { cat "$work/crane.log" >&2; die "demo: crane append $upstream/$image failed"; }
done

cat >upstream.yaml <<EOF
# The demo chart's images, at the local upstream instead of docker.io and cr.fluentbit.io.
image:
  registry: $upstream
initImage:
  repository: $upstream/library/busybox
logShipper:
  image: $upstream/fluent/fluent-bit:3.2.4
backup:
  image:
    registry: $upstream
EOF
step "   upstream.yaml: the chart's values pointing at upstream (the chart itself is unchanged)"
show "cat upstream.yaml"
cat upstream.yaml
show "helm template demo examples/demo -f upstream.yaml | helm images -o list"
helm template demo examples/demo -f upstream.yaml | helm images -o list

# --- 3. copy ----------------------------------------------------------------------------------

step "3. helm mirror copy: the chart and every image it pulls into the mirror, byte-exact, with the lock of the copy"
show "helm mirror copy examples/demo -f upstream.yaml --to $mirror/mirror -o mirror.lock --plain-http $upstream --plain-http $mirror"
helm mirror copy examples/demo -f upstream.yaml --to "$mirror/mirror" -o mirror.lock \
  --plain-http "$upstream" --plain-http "$mirror"

# --- 4. relocate ------------------------------------------------------------------------------

step "4. relocate: the release pulls only from the mirror, each image pinned to the digest copied"
show "helm template demo examples/demo -f upstream.yaml --post-renderer relocate --post-renderer-args --to=$mirror/mirror --post-renderer-args --lock=mirror.lock --post-renderer-args --enforce | grep image:"
helm template demo examples/demo -f upstream.yaml --post-renderer relocate \
  --post-renderer-args "--to=$mirror/mirror" --post-renderer-args --lock=mirror.lock \
  --post-renderer-args --enforce >relocated.yaml
grep 'image:' relocated.yaml
[ "$(grep -c "image: \"$mirror/mirror/.*@sha256:" relocated.yaml)" = "${#images[@]}" ] ||
  die "demo: relocate did not move and pin all ${#images[@]} images (see above)"
show "helm mirror status examples/demo -f upstream.yaml --to $mirror/mirror --plain-http $upstream --plain-http $mirror"
helm mirror status examples/demo -f upstream.yaml --to "$mirror/mirror" \
  --plain-http "$upstream" --plain-http "$mirror"

# --- 5. air gap -------------------------------------------------------------------------------

step "5. the air gap: export the chart and its images from upstream into one file ..."
show "helm mirror export examples/demo -f upstream.yaml -o bundle.tar --plain-http $upstream"
helm mirror export examples/demo -f upstream.yaml -o bundle.tar --plain-http "$upstream"
step "   ... inspect it (every blob present, exit 1 if not) ..."
show "helm mirror inspect bundle.tar"
helm mirror inspect bundle.tar
step "   ... carry it inside and import it into the inside registry ..."
show "helm mirror import bundle.tar --to $inside/mirror -o inside.lock --plain-http $inside"
helm mirror import bundle.tar --to "$inside/mirror" -o inside.lock --plain-http "$inside"
step "   ... and install from there, pinned to what was imported"
show "helm template demo examples/demo -f upstream.yaml --post-renderer relocate --post-renderer-args --to=$inside/mirror --post-renderer-args --lock=inside.lock --post-renderer-args --enforce | grep image:"
helm template demo examples/demo -f upstream.yaml --post-renderer relocate \
  --post-renderer-args "--to=$inside/mirror" --post-renderer-args --lock=inside.lock \
  --post-renderer-args --enforce >inside.yaml
grep 'image:' inside.yaml
[ "$(grep -c "image: \"$inside/mirror/.*@sha256:" inside.yaml)" = "${#images[@]}" ] ||
  die "demo: relocate did not move and pin all ${#images[@]} images to the inside registry"

# --- 6. signing (only with cosign) --------------------------------------------------------------

cosign_bin=$PURSER_LOCAL/bin/cosign
if [ ! -x "$cosign_bin" ]; then
  step "6. signing at the mirror: skipped, no $cosign_bin (the full scripts/setup.sh builds it; the demo does not, to stay quick)"
else
  # cosign offline and apart from the user: its own HOME and caches, and a proxy nobody listens
  # on, so an attempt to reach Sigstore's public services fails at once (loopback is not proxied).
  mkdir -p cosign/home cosign/docker cosign/tuf cosign/cache cosign/config
  cosign() {
    env HOME="$work/cosign/home" DOCKER_CONFIG="$work/cosign/docker" TUF_ROOT="$work/cosign/tuf" \
      SIGSTORE_NO_CACHE=1 XDG_CACHE_HOME="$work/cosign/cache" XDG_CONFIG_HOME="$work/cosign/config" \
      HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
      http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 COSIGN_PASSWORD=demo \
      "$cosign_bin" "$@"
  }
  step "6. signing: the mirror signs what it publishes (a throw-away cosign key), so admission policies accept it"
  show "COSIGN_PASSWORD=demo cosign generate-key-pair"
  cosign generate-key-pair 2>&1
  show "COSIGN_PASSWORD=demo helm mirror copy examples/demo -f upstream.yaml --to $mirror/mirror --sign-key cosign.key --plain-http $upstream --plain-http $mirror"
  COSIGN_PASSWORD=demo helm mirror copy examples/demo -f upstream.yaml --to "$mirror/mirror" \
    --sign-key cosign.key --plain-http "$upstream" --plain-http "$mirror"
  nginx=$(sed -n "s/.*image: \"\($mirror\/mirror\/library\/nginx\):[^@]*\(@sha256:[0-9a-f]*\)\".*/\1\2/p" relocated.yaml | head -n 1)
  [ -n "$nginx" ] || die "demo: no nginx reference in the relocated manifests"
  step "   cosign itself accepts the mirror's signature (no transparency log: --insecure-ignore-tlog)"
  show "cosign verify --key cosign.pub --insecure-ignore-tlog $nginx"
  cosign verify --key cosign.pub --insecure-ignore-tlog "$nginx" 2>&1 >cosign-verify.json
  say "(cosign's JSON on stdout: $(wc -c <cosign-verify.json) bytes, not shown)"
fi

# --- 7. the scan gate (only with Trivy) ---------------------------------------------------------

trivy_bin=$PURSER_LOCAL/bin/trivy
trivy_db_bin=$PURSER_LOCAL/bin/trivy-db
if [ ! -x "$trivy_bin" ] || [ ! -x "$trivy_db_bin" ]; then
  step "7. the scan gate: skipped, no $trivy_bin or $trivy_db_bin (scripts/setup.sh installs both into .purser unless PURSER_SKIP_TRIVY=1; elsewhere set PURSER_TRIVY or put trivy on PATH, and give helm mirror scan a database: --trivy-cache-dir DIR)"
else
  export PURSER_TRIVY=$trivy_bin # what the mirror plugin runs (else trivy on PATH)
  step "7. the scan gate: Trivy scans every platform of every image where it is, before anything moves; an image over --fail-on stays behind"
  say "Trivy $("$trivy_bin" --version 2>/dev/null | awk '$1 == "Version:" { print $2; exit }') at .purser/bin/trivy (PURSER_TRIVY), offline"
  step "   the tiny database the tests build: made-up CVE-2099-0001 HIGH and -0002 MEDIUM in openssl 3.1.4-r1 (fixed in -r5, -r6), -0003 CRITICAL in busybox (no fix)"
  show "trivy-db native/tests/fixtures/trivy-db trivy-cache"
  "$trivy_db_bin" "$PURSER_ROOT/native/tests/fixtures/trivy-db" "$work/trivy-cache"

  # alpine_image NAME OPENSSL_VERSION [busybox]: an Alpine 3.19.1 root filesystem whose apk
  # database lists libcrypto3 and libssl3 (origin openssl) at that version, and busybox if
  # asked, as one uncompressed tar layer; pushed to upstream as demo/NAME:1, linux/amd64.
  alpine_image() {
    local name=$1 version=$2 root=$work/rootfs-$1 package
    mkdir -p "$root/etc" "$root/lib/apk/db"
    printf '3.19.1\n' >"$root/etc/alpine-release"
    printf 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n' \
      >"$root/etc/os-release"
    : >"$root/lib/apk/db/installed"
    for package in libcrypto3 libssl3; do
      printf 'P:%s\nV:%s\nA:x86_64\no:openssl\n\n' "$package" "$version" >>"$root/lib/apk/db/installed"
    done
    [ "${3:-}" != busybox ] ||
      printf 'P:busybox\nV:1.36.1-r15\nA:x86_64\no:busybox\n\n' >>"$root/lib/apk/db/installed"
    say "rootfs-$name/lib/apk/db/installed: $(awk -F: '$1 == "P" { p = $2 }
      $1 == "V" { printf "%s%s %s", sep, p, $2; sep = ", " }' "$root/lib/apk/db/installed")"
    tar -C "$root" -cf "$root.tar" etc lib
    show "crane append --oci-empty-base -f rootfs-$name.tar -t $upstream/demo/$name:1"
    crane append --oci-empty-base -f "$root.tar" -t "$upstream/demo/$name:1" 2>"$work/crane.log" >/dev/null ||
      { cat "$work/crane.log" >&2; die "demo: crane append $upstream/demo/$name:1 failed"; }
    show "crane mutate --set-platform linux/amd64 $upstream/demo/$name:1"
    crane mutate --set-platform linux/amd64 "$upstream/demo/$name:1" 2>"$work/crane.log" ||
      { cat "$work/crane.log" >&2; die "demo: crane mutate $upstream/demo/$name:1 failed"; }
  }
  step "   two Alpine images built into upstream with crane: demo/vulnerable:1 and demo/patched:1"
  alpine_image vulnerable 3.1.4-r1 busybox
  alpine_image patched 3.1.4-r6

  mkdir -p gated/templates
  printf 'apiVersion: v2\nname: gated\nversion: 0.1.0\n' >gated/Chart.yaml
  printf 'registry: docker.io\n' >gated/values.yaml
  cat >gated/templates/deployment.yaml <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: vulnerable
          image: {{ .Values.registry }}/demo/vulnerable:1
        - name: patched
          image: {{ .Values.registry }}/demo/patched:1
EOF
  step "   a tiny chart, gated/, pulling both (--set registry= points it at upstream)"
  show "helm template gated gated --set registry=$upstream | helm images -o list"
  helm template gated gated --set registry="$upstream" | helm images -o list

  step "   helm mirror scan --fail-on HIGH: one row per image and platform; demo/vulnerable is blocked, naming the findings, so it exits 1"
  show "helm mirror scan gated --set registry=$upstream --plain-http $upstream --trivy-cache-dir trivy-cache --reports reports --fail-on HIGH"
  rc=0
  helm mirror scan gated --set registry="$upstream" --plain-http "$upstream" \
    --trivy-cache-dir trivy-cache --reports reports --fail-on HIGH >scan.txt || rc=$?
  cat scan.txt
  [ "$rc" = 1 ] || die "demo: helm mirror scan --fail-on HIGH exited $rc, not 1 (demo/vulnerable is over the gate)"
  grep -q "demo/vulnerable:1 .* blocked (CVE-2099-0003, CVE-2099-0001)" scan.txt &&
    grep -q "demo/patched:1 .* clean" scan.txt ||
    die "demo: the scan did not block demo/vulnerable and pass demo/patched (see above)"
  say "(exit 1, as expected: the gate stopped demo/vulnerable; each Trivy report is in reports/)"

  step "   helm mirror copy --fail-on HIGH: the same gate before anything moves; demo/patched is copied, demo/vulnerable stays behind (exit 1)"
  show "helm mirror copy gated --set registry=$upstream --to $mirror/scanned -o scanned.lock --plain-http $upstream --plain-http $mirror --trivy-cache-dir trivy-cache --reports reports --fail-on HIGH"
  rc=0
  helm mirror copy gated --set registry="$upstream" --to "$mirror/scanned" -o scanned.lock \
    --plain-http "$upstream" --plain-http "$mirror" \
    --trivy-cache-dir trivy-cache --reports reports --fail-on HIGH || rc=$?
  [ "$rc" = 1 ] || die "demo: helm mirror copy --fail-on HIGH exited $rc, not 1 (demo/vulnerable is over the gate)"
  say "(exit 1, as expected: one image blocked by the scan gate, the rest copied)"

  step "   at the mirror: the chart and demo/patched, at the digest scanned upstream; nothing of demo/vulnerable"
  show "crane catalog $mirror | grep ^scanned/"
  crane catalog "$mirror" | grep '^scanned/'
  show "crane digest $upstream/demo/patched:1; crane digest $mirror/scanned/demo/patched:1"
  patched=$(crane digest "$upstream/demo/patched:1")
  copied=$(crane digest "$mirror/scanned/demo/patched:1")
  printf '%s\n%s\n' "$patched" "$copied"
  [ "$patched" = "$copied" ] || die "demo: the mirror's demo/patched:1 is $copied, not upstream's $patched"
  show "crane digest $mirror/scanned/demo/vulnerable:1"
  if crane digest "$mirror/scanned/demo/vulnerable:1" >/dev/null 2>"$work/crane.log"; then
    die "demo: demo/vulnerable:1 is at the mirror though the gate blocked it"
  fi
  say "(not found at the mirror: the gate kept it out)"
fi

step "done: listed, copied, relocated, bundled and imported (and signed, scanned, where cosign, Trivy are here); the registries stop and $work goes now"
