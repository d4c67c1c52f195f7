#!/usr/bin/env bash
# The real registries (and tools) the native tests and the benchmark run. Safe to run again:
# what is there is kept, so a second run takes a second or two. scripts/setup.sh calls it;
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
#   4. the real cosign the trust tests sign and verify with (tests/support/cosign.rs), go install:
#      .purser/bin/cosign (cosign v3.1.3) and .purser/bin/cosign-v2 (cosign v2.6.5; the binary
#      is named cosign too, so it is installed elsewhere and renamed). Cold, each takes minutes:
#      they build in the background while the rest is set up, and the script waits for them
#   5. .purser/bin/helm3: Helm v3.22.0 (go install helm.sh/helm/v3/cmd/helm; named helm, so
#      installed elsewhere and renamed like cosign-v2), for the Helm 3 tests of the legacy
#      plugins (native/tests/helm3.rs); built after cosign in the same background chain
#   6. only with PURSER_BENCH_PEERS=1 (scripts/bench-copy.sh sets it; the tests do not need
#      it): .purser/bin/regsync (regclient v0.11.7, go install), a copy benchmark peer
#
# `--go-only` does steps 2 to 6 only (no apt-get): scripts/setup.sh starts it in the background
# before its own builds, so that the Go builds overlap them, and runs this script again later.
# PURSER_REGISTRIES_DEMO_ONLY=1 (scripts/demo.sh sets it) sets up only what the demo runs:
# .purser/bin/oci-registry and crane (steps 2 and the crane of 3); no apt-get, regctl, skopeo,
# cosign or helm3. A later run without it completes the rest.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

go_only=
case ${1:-} in
  '') ;;
  --go-only) go_only=1 ;;
  *) die "setup-registries.sh: unknown argument $1 (only --go-only)" ;;
esac

if [ "${PURSER_SKIP_REGISTRIES:-}" = 1 ]; then
  say "registries: skipped (PURSER_SKIP_REGISTRIES=1)"
  exit 0
fi
mkdir -p "$PURSER_LOCAL/bin"

CRANE_VERSION=v0.22.1
REGCLIENT_VERSION=v0.11.7
COSIGN_VERSION=v3.1.3
COSIGN_V2_VERSION=v2.6.5
HELM3_VERSION=v3.22.0

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

# --- 2. to 6. Go-built tools -------------------------------------------------------------------

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

go_tool_present() { # NAME MODULE VERSION: .purser/bin/NAME is built from MODULE@VERSION
  local bin=$PURSER_LOCAL/bin/$1
  [ -x "$bin" ] && [ "$(go_module_version "$bin" "$2")" = "$3" ]
}

install_go_tool() { # TOOL MODULE VERSION [NAME]: go install MODULE/cmd/TOOL@VERSION as .purser/bin/NAME
  local tool=$1 module=$2 version=$3 name=${4:-$1} gobin
  if [ "$name" = "$tool" ]; then
    GOBIN=$PURSER_LOCAL/bin go install "$module/cmd/$tool@$version" >&2 ||
      die "registries: go install $module/cmd/$tool@$version failed"
  else # built as TOOL beside nothing else, then renamed (on the same file system: one rename)
    rm -rf "$PURSER_LOCAL/bin/.$name".* # left by an interrupted run
    gobin=$(mktemp -d "$PURSER_LOCAL/bin/.$name.XXXXXX")
    GOBIN=$gobin go install "$module/cmd/$tool@$version" >&2 || {
      rm -rf "$gobin"
      die "registries: go install $module/cmd/$tool@$version (for $name) failed"
    }
    mv -f "$gobin/$tool" "$PURSER_LOCAL/bin/$name" && rmdir "$gobin"
  fi
  go_tool_present "$name" "$module" "$version" ||
    die "registries: go install left no $name built from $module $version in $PURSER_LOCAL/bin"
}

ensure_go_tool() { # TOOL MODULE VERSION [NAME]: .purser/bin/NAME from MODULE/cmd/TOOL@VERSION
  local name=${4:-$1}
  if go_tool_present "$name" "$2" "$3"; then
    say "registries: $name $3 present"
    return
  fi
  command -v go >/dev/null 2>&1 || die "registries: Go is needed to build $name"
  say "registries: building $name $3 (go install)"
  install_go_tool "$@"
}

# Background builds: each chain of builds runs in a subshell writing to its own log in
# .purser/logs; wait_go_tools fails with the log of one that failed. Builds still running when
# the script ends (it failed, or was interrupted) are stopped.
bg_pids=()
bg_labels=()
bg_logs=()

stop_go_tools() {
  local pid
  for pid in ${bg_pids[@]+"${bg_pids[@]}"}; do
    if kill -0 "$pid" 2>/dev/null; then
      pkill -TERM -P "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
}
trap stop_go_tools EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_go_tools() { # LABEL "TOOL MODULE VERSION NAME"...: the missing ones, one after another
  local label=$1 spec tool module version name need=()
  shift
  for spec in "$@"; do
    read -r tool module version name <<<"$spec"
    if go_tool_present "$name" "$module" "$version"; then
      say "registries: $name $version present"
    else
      need+=("$spec")
    fi
  done
  [ ${#need[@]} -gt 0 ] || return 0
  command -v go >/dev/null 2>&1 || die "registries: Go is needed to build $label"
  mkdir -p "$PURSER_LOCAL/logs"
  local log=$PURSER_LOCAL/logs/go-install-$label.log
  say "registries: building $label in the background (go install; log: $log)"
  (
    trap - EXIT INT TERM
    for spec in "${need[@]}"; do
      read -r tool module version name <<<"$spec"
      local began=$SECONDS
      say "registries: building $name $version (go install)"
      install_go_tool "$tool" "$module" "$version" "$name"
      say "registries: $name $version built ($((SECONDS - began))s)"
    done
  ) >"$log" 2>&1 </dev/null &
  bg_pids+=($!)
  bg_labels+=("$label")
  bg_logs+=("$log")
}

wait_go_tools() { # every background build, or fail with the log of one that failed
  local i began=$SECONDS
  for i in ${bg_pids[@]+"${!bg_pids[@]}"}; do
    if ! wait "${bg_pids[i]}"; then
      {
        printf -- '--- %s ---\n' "${bg_logs[i]}"
        cat "${bg_logs[i]}"
        printf -- '--- end of %s ---\n' "${bg_logs[i]}"
      } >&2
      die "registries: building ${bg_labels[i]} in the background failed (its log is above)"
    fi
    grep '^purser: ' "${bg_logs[i]}" >&2 || true
  done
  [ ${#bg_pids[@]} -eq 0 ] || say "registries: waited $((SECONDS - began))s for the background builds"
  bg_pids=()
}

started=$SECONDS
if [ "${PURSER_REGISTRIES_DEMO_ONLY:-}" = 1 ]; then
  ensure_oci_registry
  ensure_go_tool crane github.com/google/go-containerregistry "$CRANE_VERSION"
  say "registries: the demo's oci-registry and crane ready ($((SECONDS - started))s; PURSER_REGISTRIES_DEMO_ONLY=1)"
  exit 0
fi
# cosign v3 and v2 first, then Helm 3, as one background chain: they take longest and build
# while the rest is set up; one after the other, v2 reuses the build cache of the many modules
# it shares with v3 (on two cores, cold builds side by side would only compete).
start_go_tools cosign-helm3 \
  "cosign github.com/sigstore/cosign/v3 $COSIGN_VERSION cosign" \
  "cosign github.com/sigstore/cosign/v2 $COSIGN_V2_VERSION cosign-v2" \
  "helm helm.sh/helm/v3 $HELM3_VERSION helm3"
[ -n "$go_only" ] || ensure_packages
ensure_oci_registry
ensure_go_tool crane github.com/google/go-containerregistry "$CRANE_VERSION"
ensure_go_tool regctl github.com/regclient/regclient "$REGCLIENT_VERSION"
if [ "${PURSER_BENCH_PEERS:-}" = 1 ]; then
  ensure_go_tool regsync github.com/regclient/regclient "$REGCLIENT_VERSION"
fi
wait_go_tools
say "registries: ready ($((SECONDS - started))s)"
