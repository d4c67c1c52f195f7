#!/usr/bin/env bash
# Builds purser's release packages into dist/ (reproducibly: the same commit gives the same bytes).
#
#   dist/images-VERSION.tgz              Helm 4 plugin `images`: images/plugin.yaml, images/plugin.wasm
#   dist/mirror-VERSION.tgz              Helm 4 plugin `mirror`: mirror/plugin.yaml and
#                                        mirror/bin/purser-linux-{amd64,arm64}; the packaged
#                                        plugin.yaml's runtimeConfig.platformCommand picks the
#                                        binary by os/arch (generated from
#                                        native/plugins/mirror/plugin.yaml)
#   dist/relocate-VERSION.tgz            Helm 4 plugin `relocate`: the same, for post-render
#   dist/images-legacy-VERSION.tgz       Helm 3 legacy plugin `images` (native/plugins/images-legacy)
#                                        with plugin.yaml at the archive root (Helm 3 needs it
#                                        there), purser.sh (native/plugins/purser.sh, the
#                                        launcher), bin/purser-linux-{amd64,arm64} and
#                                        bin/purser, a sh script that runs the one for `uname -m`
#   dist/mirror-legacy-VERSION.tgz       Helm 3 legacy plugin `mirror` (native/plugins/mirror-legacy):
#                                        the same layout. Helm 3 installs these
#                                        from a directory (extract, then `helm plugin install
#                                        DIR`) or an http(s) URL served as application/gzip;
#                                        it reads no .prov
#   dist/purser-VERSION-linux-{amd64,arm64}.tar.gz
#                                        purser-VERSION-linux-ARCH/purser (+ README.md, LICENSE
#                                        when the repository has them)
#   dist/*.tgz.prov                      with PURSER_SIGN_KEY and PURSER_KEYRING: a provenance file
#                                        beside each plugin tarball, as `helm plugin package
#                                        --sign` writes it (`helm plugin verify` and
#                                        `helm plugin install` check it)
#   dist/SHA256SUMS                      sha256sum of every archive above (not the .prov files:
#                                        signatures carry their time, so they differ per run)
#
# Helm 4 installs a plugin tarball NAME-VERSION.tgz from the directory NAME/ inside it; Helm 3
# wants plugin.yaml at the root and a directory entry before each file in it. Both layouts are
# made here. Archives: GNU tar, ustar, names sorted, owner and group 0, mtime SOURCE_DATE_EPOCH,
# modes 0755/0644, `gzip -n -9`.
#
# Binaries: the native purser statically linked against musl, built with rustup's
# x86_64-unknown-linux-musl and aarch64-unknown-linux-musl targets (added when missing), ring's
# C and assembly compiled by musl-gcc (amd64) and aarch64-linux-gnu-gcc (arm64, also the
# linker), symbols stripped, source paths remapped (/purser, /cargo) so the bytes do not depend
# on where the checkout or ~/.cargo is. plugin.wasm: rustup's wasm32-wasip1 target.
# All builds go to target/package/ (target/release is left alone).
#
# Needs: rustup (or the targets already installed), cargo, GNU tar, gzip, sha256sum; on Debian
#   apt-get install musl-tools gcc-aarch64-linux-gnu     (qemu-user-static to run the arm64 check)
#   signing: gpg and Helm 4 (HELM_BIN, else .purser/bin/helm)
#
# Usage: scripts/package.sh [all|build|pack]     (default all; pack reuses target/package builds)
#        scripts/package.sh image REGISTRY/REPOSITORY:TAG [purser image push flags…]
#
# `image` pushes purser's own container image (what `helm mirror jobs --image` runs) of the
# target/package static binaries, with `purser image push` (daemonless, reproducible, one
# CycloneDX SBOM referrer per platform from `cargo metadata --filter-platform`, the revision and
# SOURCE_DATE_EPOCH from git): the same commit gives the same image digest. Signed with
# PURSER_IMAGE_SIGN_KEY (a cosign key; COSIGN_PASSWORD opens it). Flags after the reference go
# to purser image push (--plain-http HOST, --ca-file, …).
#
# Environment:
#   PURSER_PACKAGE_ARCHES   linux architectures to build and ship (default "amd64 arm64")
#   PURSER_PACKAGE_TARGET   cargo target dir (default target/package)
#   PURSER_DIST             output directory (default dist)
#   PURSER_PACKAGE_BINARY   pack this purser instead of the static builds (one architecture in
#                           PURSER_PACKAGE_ARCHES; not checked for static linking): how the
#                           tests package the build they just made, in seconds. Not a release.
#   PURSER_PACKAGE_WASM     pack this plugin.wasm instead of the target/package build
#   SOURCE_DATE_EPOCH       archive mtime (default: the commit date of HEAD)
#   PURSER_SIGN_KEY         signing key name (a user id or part of it, as `helm plugin package
#                           --key`); with PURSER_KEYRING, .prov files are made, else not
#   PURSER_KEYRING          a legacy secret keyring (`gpg --export-secret-keys > secring.gpg`)
#   PURSER_PASSPHRASE_FILE  the key's passphrase, if it has one
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

mode=${1:-all}
case $mode in
  all | build | pack | image) ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument $mode (try --help)" ;;
esac

ARCHES=${PURSER_PACKAGE_ARCHES:-amd64 arm64}
TARGET_DIR=${PURSER_PACKAGE_TARGET:-$PURSER_ROOT/target/package}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$PURSER_ROOT/$TARGET_DIR ;; esac
DIST=${PURSER_DIST:-$PURSER_ROOT/dist}
case $DIST in /*) ;; *) DIST=$PURSER_ROOT/$DIST ;; esac
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}

VERSION=$(awk '/^\[workspace.package\]/ { p = 1; next } /^\[/ { p = 0 }
  p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
[ -n "$VERSION" ] || die "no [workspace.package] version in Cargo.toml"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || die "set SOURCE_DATE_EPOCH (no git commit here)"
fi
export SOURCE_DATE_EPOCH
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for arch in $ARCHES; do
  case $arch in amd64 | arm64) ;; *) die "PURSER_PACKAGE_ARCHES: $arch is not amd64 or arm64" ;; esac
done

triple_of() {
  case $1 in
    amd64) echo x86_64-unknown-linux-musl ;;
    arm64) echo aarch64-unknown-linux-musl ;;
  esac
}

binary_of() {
  if [ -n "${PURSER_PACKAGE_BINARY:-}" ]; then
    echo "$PURSER_PACKAGE_BINARY"
  else
    echo "$TARGET_DIR/$(triple_of "$1")/release/purser"
  fi
}
WASM=${PURSER_PACKAGE_WASM:-$TARGET_DIR/wasm32-wasip1/wasm-release/purser_wasm.wasm}
if [ -n "${PURSER_PACKAGE_BINARY:-}" ]; then
  [ "$mode" = pack ] || die "PURSER_PACKAGE_BINARY is for \`scripts/package.sh pack\` only"
  [ "$(echo "$ARCHES" | wc -w)" = 1 ] || die "PURSER_PACKAGE_BINARY needs one architecture in PURSER_PACKAGE_ARCHES, not: $ARCHES"
  [ -x "$PURSER_PACKAGE_BINARY" ] || die "PURSER_PACKAGE_BINARY=$PURSER_PACKAGE_BINARY is not an executable file"
  say "pack: $PURSER_PACKAGE_BINARY as the linux/$ARCHES binary (a test package, not a release)"
fi

ensure_target() {
  rustc --print sysroot >/dev/null 2>&1 || die "rustc not found (rustup's toolchain is needed)"
  [ -d "$(rustc --print sysroot)/lib/rustlib/$1" ] && return 0
  command -v rustup >/dev/null 2>&1 || die "the Rust target $1 is missing and there is no rustup to add it"
  say "rustup target add $1"
  rustup target add "$1" >&2 || die "rustup target add $1 failed (no access to static.rust-lang.org?)"
}

need_tool() { # $1: command, $2: the Debian package that has it
  command -v "$1" >/dev/null 2>&1 || die "$1 not found (Debian: apt-get install $2)"
}

# Flags for reproducible bytes, as a cargo --config value for the target (merged with the
# target's rustflags from .cargo/config.toml, unlike RUSTFLAGS, which would replace them).
remap_config() { # $1: triple
  printf 'target.%s.rustflags=["--remap-path-prefix=%s=/purser","--remap-path-prefix=%s=/cargo"]' \
    "$1" "$PURSER_ROOT" "$CARGO_HOME_DIR"
}

build_native() { # $1: amd64|arm64
  local arch=$1 triple env=() started
  triple=$(triple_of "$arch")
  ensure_target "$triple"
  case $arch in
    amd64)
      need_tool musl-gcc musl-tools
      env=(CC_x86_64_unknown_linux_musl=musl-gcc)
      ;;
    arm64)
      need_tool aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
      env=(CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
        AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc)
      ;;
  esac
  say "build: purser for linux/$arch ($triple, static) in $TARGET_DIR"
  started=$(date +%s)
  env "${env[@]}" cargo build --release --locked -p purser-native --bin purser --target "$triple" \
    --target-dir "$TARGET_DIR" --config 'profile.release.strip="symbols"' \
    --config "$(remap_config "$triple")" >&2 || die "cargo build for $triple failed"
  say "build: linux/$arch done in $(($(date +%s) - started))s: $(wc -c <"$(binary_of "$arch")") bytes"
  check_static "$arch"
}

check_static() { # $1: arch
  local bin description
  [ -z "${PURSER_PACKAGE_BINARY:-}" ] || return 0
  bin=$(binary_of "$1")
  [ -f "$bin" ] || die "no $bin (run scripts/package.sh build)"
  if command -v file >/dev/null 2>&1; then
    description=$(file -b "$bin")
    case $description in
      *"statically linked"* | *"static-pie linked"*) ;;
      *) die "$bin is not statically linked: $description" ;;
    esac
  fi
}

build_wasm() {
  ensure_target wasm32-wasip1
  say "build: plugin.wasm (wasm32-wasip1) in $TARGET_DIR"
  cargo build --profile wasm-release --locked -p purser-wasm --target wasm32-wasip1 --target-dir "$TARGET_DIR" \
    --config "$(remap_config wasm32-wasip1)" >&2 || die "cargo build for wasm32-wasip1 failed"
}

# --- archives ------------------------------------------------------------------------------------

# tgz OUT DIR NAME...: the NAMEs in DIR (recursively, each directory before its contents).
tgz() {
  local out=$1 dir=$2
  shift 2
  find "$dir" -type d -exec chmod 0755 {} +
  find "$dir" -type f -perm /111 -exec chmod 0755 {} +
  find "$dir" -type f ! -perm /111 -exec chmod 0644 {} +
  (cd "$dir" && LC_ALL=C tar --format=ustar --sort=name --mtime="@$SOURCE_DATE_EPOCH" \
    --owner=0 --group=0 --numeric-owner --no-acls --no-xattrs --no-selinux -cf - "$@") |
    gzip -n -9 >"$out.tmp"
  mv "$out.tmp" "$out"
  say "dist: $(basename "$out") $(wc -c <"$out") bytes"
}

# The shipped plugin.yaml of a subprocess plugin: the source file up to runtimeConfig (the
# last top-level key), then a platformCommand with one entry per shipped binary.
subprocess_plugin_yaml() { # $1: source plugin.yaml
  local src=$1 args
  [ "$(awk '/^[A-Za-z]/ { last = $1 } END { print last }' "$src")" = "runtimeConfig:" ] ||
    die "$src: runtimeConfig is not its last top-level key; scripts/package.sh cannot rewrite it"
  args=$(awk '$1 == "args:" { $1 = ""; sub(/^ /, ""); print; exit }' "$src")
  [ -n "$args" ] || die "$src: no platformCommand args"
  check_plugin_version "$src"
  sed '/^runtimeConfig:/,$d' "$src"
  echo "# Packaged by scripts/package.sh: one static binary per platform in bin/."
  echo "runtimeConfig:"
  echo "  platformCommand:"
  for arch in $ARCHES; do
    echo "    - os: linux"
    echo "      arch: $arch"
    echo "      command: \$HELM_PLUGIN_DIR/bin/purser-linux-$arch"
    echo "      args: $args"
  done
}

check_plugin_version() {
  local v
  v=$(awk '$1 == "version:" { print $2; exit }' "$1")
  [ "$v" = "$VERSION" ] || die "$1 says version $v, Cargo.toml $VERSION"
}

# shellcheck disable=SC2016 # expanded by the launcher, not here
LAUNCHER='#!/bin/sh
# purser for this machine: bin/purser-linux-ARCH by `uname -m` (made by scripts/package.sh).
dir=$(dirname "$0")
case $(uname -s)/$(uname -m) in
  Linux/x86_64 | Linux/amd64) bin=$dir/purser-linux-amd64 ;;
  Linux/aarch64 | Linux/arm64) bin=$dir/purser-linux-arm64 ;;
  *) bin= ;;
esac
if [ -n "$bin" ] && [ -x "$bin" ]; then
  exec "$bin" "$@"
fi
echo "purser: this plugin has no binary for $(uname -s)/$(uname -m); set PURSER_BIN to a purser" >&2
exit 127'

# legacy_package NAME STAGE: dist/NAME-legacy-VERSION.tgz, the Helm 3 plugin in
# native/plugins/NAME-legacy (plugin.yaml) and the launcher both share (native/plugins/purser.sh)
# at the archive root, with bin/purser (LAUNCHER) and bin/purser-linux-ARCH.
legacy_package() {
  local name=$1 src=native/plugins/$1-legacy dir=$2/$1-legacy arch files
  check_plugin_version "$src/plugin.yaml"
  mkdir -p "$dir/bin"
  cp "$src/plugin.yaml" native/plugins/purser.sh "$dir/"
  chmod +x "$dir/purser.sh"
  printf '%s\n' "$LAUNCHER" >"$dir/bin/purser"
  chmod +x "$dir/bin/purser"
  for arch in $ARCHES; do
    cp "$(binary_of "$arch")" "$dir/bin/purser-linux-$arch"
  done
  files=$(cd "$dir" && LC_ALL=C ls)
  # shellcheck disable=SC2086 # plain file names
  tgz "$DIST/$name-legacy-$VERSION.tgz" "$dir" $files
}

pack() {
  local stage arch name
  for arch in $ARCHES; do check_static "$arch"; done
  [ "$ARCHES" = "amd64 arm64" ] || say "pack: binaries for linux/{${ARCHES// /,}} only (PURSER_PACKAGE_ARCHES)"
  [ -f "$WASM" ] || die "no $WASM (run scripts/package.sh build)"
  stage=$WORK/stage
  rm -rf "$stage" && mkdir "$stage"
  mkdir -p "$DIST"
  rm -f "$DIST"/*.tgz "$DIST"/*.tar.gz "$DIST"/*.prov "$DIST"/SHA256SUMS

  # images (Helm 4, extism/v1)
  check_plugin_version plugin.yaml
  mkdir -p "$stage/images/images"
  cp plugin.yaml "$stage/images/images/plugin.yaml"
  cp "$WASM" "$stage/images/images/plugin.wasm"
  tgz "$DIST/images-$VERSION.tgz" "$stage/images" images

  # mirror and relocate (Helm 4, subprocess)
  for name in mirror relocate; do
    mkdir -p "$stage/$name/$name/bin"
    subprocess_plugin_yaml "native/plugins/$name/plugin.yaml" >"$stage/$name/$name/plugin.yaml"
    for arch in $ARCHES; do
      cp "$(binary_of "$arch")" "$stage/$name/$name/bin/purser-linux-$arch"
    done
    tgz "$DIST/$name-$VERSION.tgz" "$stage/$name" "$name"
  done

  # images-legacy and mirror-legacy (Helm 3): plugin.yaml at the root
  legacy_package images "$stage"
  legacy_package mirror "$stage"

  # the plain binaries
  for arch in $ARCHES; do
    name=purser-$VERSION-linux-$arch
    mkdir -p "$stage/$name/$name"
    cp "$(binary_of "$arch")" "$stage/$name/$name/purser"
    for f in LICENSE README.md; do
      [ ! -f "$f" ] || cp "$f" "$stage/$name/$name/"
    done
    tgz "$DIST/$name.tar.gz" "$stage/$name" "$name"
  done

  sign
  (cd "$DIST" && printf '%s\n' ./*.tgz ./*.tar.gz | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
  say "dist: SHA256SUMS"
  cat "$DIST/SHA256SUMS" >&2
}

# --- signatures ----------------------------------------------------------------------------------
# A .prov is Helm's provenance format (pkg/provenance): an OpenPGP clear-signed message whose
# text is the plugin.yaml metadata as Helm marshals it, "...", and `files: {NAME: sha256:HEX}`.
# Helm checks only the signature and that sha256 (internal/plugin/verify.go). Helm itself
# signs the tarball it makes, which is not reproducible (file owners, modes and mtimes), so:
# `helm plugin package --sign` on the same plugin directory gives the metadata text as Helm
# writes it, and gpg clear-signs that text with the files line for our tarball, using the same
# key (imported from PURSER_KEYRING into a temporary GNUPGHOME), SHA512 like Helm.

sign() {
  if [ -z "${PURSER_SIGN_KEY:-}" ] || [ -z "${PURSER_KEYRING:-}" ]; then
    say "sign: PURSER_SIGN_KEY and PURSER_KEYRING not both set: no .prov files"
    return 0
  fi
  [ -f "$PURSER_KEYRING" ] || die "PURSER_KEYRING=$PURSER_KEYRING is not a file"
  need_tool gpg gpg
  command -v "$HELM_BIN" >/dev/null 2>&1 || die "signing needs Helm 4: $HELM_BIN not found (set HELM_BIN)"
  local work tgz name base helm_args=() gpg_args=()
  work=$WORK/sign
  rm -rf "$work" && mkdir -p "$work" && mkdir -m 700 "$work/gnupg"
  local gpg=(gpg --homedir "$work/gnupg" --batch --quiet --no-tty)
  "${gpg[@]}" --import "$PURSER_KEYRING" 2>/dev/null || die "gpg cannot import $PURSER_KEYRING"
  if [ -n "${PURSER_PASSPHRASE_FILE:-}" ]; then
    helm_args=(--passphrase-file "$PURSER_PASSPHRASE_FILE")
    gpg_args=(--pinentry-mode loopback --passphrase-file "$PURSER_PASSPHRASE_FILE")
  fi
  for tgz in "$DIST"/images-"$VERSION".tgz "$DIST"/mirror-"$VERSION".tgz \
    "$DIST"/relocate-"$VERSION".tgz "$DIST"/images-legacy-"$VERSION".tgz \
    "$DIST"/mirror-legacy-"$VERSION".tgz; do
    base=$(basename "$tgz")
    rm -rf "$work/x" "$work/helm"
    mkdir -p "$work/x" "$work/helm"
    tar -xzf "$tgz" -C "$work/x"
    name=$(ls "$work/x")
    [ -f "$work/x/plugin.yaml" ] && name=. # the legacy layout
    "$HELM_BIN" plugin package "$work/x/$name" --sign --key "$PURSER_SIGN_KEY" \
      --keyring "$PURSER_KEYRING" ${helm_args[@]+"${helm_args[@]}"} -d "$work/helm" >/dev/null ||
      die "helm plugin package --sign failed for $base"
    local helm_prov
    helm_prov=$(ls "$work"/helm/*.prov)
    # The clear-signed text: from after the armor header's blank line to the signature.
    awk 'NR == 1, /^$/ { next } /^-----BEGIN PGP SIGNATURE-----$/ { exit } { print }' "$helm_prov" |
      sed 's/^- //' | awk '/^\.\.\.$/ { print; exit } { print }' >"$work/message"
    printf 'files:\n  %s: sha256:%s\n' "$base" "$(sha256sum <"$tgz" | cut -d' ' -f1)" >>"$work/message"
    "${gpg[@]}" ${gpg_args[@]+"${gpg_args[@]}"} --local-user "$PURSER_SIGN_KEY" --digest-algo SHA512 \
      --clearsign --output "$tgz.prov.tmp" "$work/message" || die "gpg --clearsign failed for $base"
    mv "$tgz.prov.tmp" "$tgz.prov"
    say "sign: $base.prov"
  done
}

case $mode in
  all | build)
    for arch in $ARCHES; do build_native "$arch"; done
    build_wasm
    ;;
esac
case $mode in
  all | pack) pack ;;
esac

# image REF [FLAGS…]: the static builds as purser's image, pushed by the build for this machine.
push_image() {
  local reference=${1:-}
  [ -n "$reference" ] || die "usage: scripts/package.sh image REGISTRY/REPOSITORY:TAG [flags]"
  shift
  local args=(image push "$reference" --version "$VERSION" --created "$SOURCE_DATE_EPOCH")
  local revision
  revision=$(git rev-parse HEAD 2>/dev/null) && args+=(--revision "$revision")
  local arch bin self=
  for arch in $ARCHES; do
    bin=$(binary_of "$arch")
    [ -f "$bin" ] || die "no $bin (run scripts/package.sh build)"
    cargo metadata --format-version 1 --locked --offline --filter-platform "$(triple_of "$arch")" \
      > "$WORK/metadata-$arch.json" || die "cargo metadata for $arch failed"
    args+=(--binary "linux/$arch=$bin" --cargo-metadata "linux/$arch=$WORK/metadata-$arch.json")
    case $arch/$(uname -m) in amd64/x86_64 | arm64/aarch64) self=$bin ;; esac
  done
  [ -n "$self" ] || die "no build for this machine ($(uname -m)) among PURSER_PACKAGE_ARCHES to run the push"
  [ -n "${PURSER_IMAGE_SIGN_KEY:-}" ] && args+=(--sign-key "$PURSER_IMAGE_SIGN_KEY")
  "$self" "${args[@]}" "$@"
}
if [ "$mode" = image ]; then
  shift
  push_image "$@"
fi
