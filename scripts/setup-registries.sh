#!/usr/bin/env bash
# The real registries (and tools) the native tests and the benchmark run. Safe to run again:
# what is there is kept, so a second run takes a second. scripts/setup.sh calls it;
# PURSER_SKIP_REGISTRIES=1 skips it.
#
#   1. Debian's docker-registry (distribution 2.8: no referrers API), apache2-utils (htpasswd
#      for the basic-auth registry) and openssl (the test CA), with apt-get, when missing
#   2. .purser/bin/oci-registry: an OCI 1.1 registry with the referrers API, built from
#      native/tests/oci-registry (go-containerregistry's pkg/registry). It stands in for zot,
#      which the Go module proxy this project builds from does not serve.
#   3. .purser/bin/crane (go-containerregistry v0.22.1, go install), for the benchmarks'
#      side-by-side runs and for building test images; Debian's skopeo (1.9.3) and
#      .purser/bin/regctl (regclient v0.11.7, go install), which the bundle tests read purser
#      bundles with (and write foreign OCI layouts with)
#   4. only with PURSER_BENCH_PEERS=1 (scripts/bench-copy.sh sets it; the tests do not need
#      it): .purser/bin/regsync (regclient v0.11.7, go install), a copy benchmark peer
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

if [ "${PURSER_SKIP_REGISTRIES:-}" = 1 ]; then
  say "registries: skipped (PURSER_SKIP_REGISTRIES=1)"
  exit 0
fi
mkdir -p "$PURSER_LOCAL/bin"

CRANE_VERSION=v0.22.1
REGCLIENT_VERSION=v0.11.7

# --- 1. Debian packages -------------------------------------------------------------------------

ensure_packages() {
  local missing=()
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  if [ ${#missing[@]} -eq 0 ]; then
    say "registries: docker-registry, htpasswd, openssl, skopeo present"
    return
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "registries: missing ${missing[*]} and no apt-get here; install them by hand (or PURSER_SKIP_REGISTRIES=1)"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "registries: apt-get install ${missing[*]}"
  # Another setup (the wasm toolchain's apt-get) may hold the lock: wait for it, do not fail.
  local wait=(-o DPkg::Lock::Timeout=600)
  $sudo apt-get "${wait[@]}" update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2
  # The package may start a system registry on :5000; the tests never use it. Leave it be.
  command -v docker-registry >/dev/null 2>&1 || die "registries: apt-get left no docker-registry"
  command -v skopeo >/dev/null 2>&1 || die "registries: apt-get left no skopeo"
}

# --- 2., 3. and 4. Go-built tools ---------------------------------------------------------------

go_module_version() { # BINARY MODULE: the version of MODULE a go-built binary was built from
  go version -m "$1" 2>/dev/null | awk -v m="$2" '($1 == "mod" || $1 == "dep") && $2 == m { print $3 }'
}

ensure_oci_registry() {
  local bin=$PURSER_LOCAL/bin/oci-registry src=native/tests/oci-registry
  if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -type f | head -n 1)" ]; then
    say "registries: oci-registry present"
    return
  fi
  command -v go >/dev/null 2>&1 || die "registries: Go is needed to build $src"
  say "registries: building oci-registry (go build $src)"
  (cd "$src" && go build -o "$bin" .) >&2 || die "registries: go build $src failed"
}

ensure_go_tool() { # TOOL MODULE VERSION: .purser/bin/TOOL from MODULE/cmd/TOOL@VERSION
  local tool=$1 module=$2 version=$3 bin=$PURSER_LOCAL/bin/$1
  if [ -x "$bin" ] && [ "$(go_module_version "$bin" "$module")" = "$version" ]; then
    say "registries: $tool $version present"
    return
  fi
  command -v go >/dev/null 2>&1 || die "registries: Go is needed to build $tool"
  say "registries: building $tool $version (go install)"
  GOBIN=$PURSER_LOCAL/bin go install "$module/cmd/$tool@$version" >&2 ||
    die "registries: go install $tool failed"
}

started=$SECONDS
ensure_packages
ensure_oci_registry
ensure_go_tool crane github.com/google/go-containerregistry "$CRANE_VERSION"
ensure_go_tool regctl github.com/regclient/regclient "$REGCLIENT_VERSION"
if [ "${PURSER_BENCH_PEERS:-}" = 1 ]; then
  ensure_go_tool regsync github.com/regclient/regclient "$REGCLIENT_VERSION"
fi
say "registries: ready ($((SECONDS - started))s)"
