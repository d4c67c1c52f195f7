# Shared settings for the scripts in this folder. Source it from bash: `. scripts/env.sh`.
#
#   PURSER_ROOT          the repository root
#   PURSER_LOCAL         project-local tools and state: .purser/ (gitignored)
#   PURSER_HELM_VERSION  the Helm release the project builds and tests against
#   HELM_BIN             the helm to use: kept if set, else .purser/bin/helm (built by setup.sh)
#
# Helm's own homes (HELM_DATA_HOME, HELM_CONFIG_HOME, HELM_CACHE_HOME, HELM_PLUGINS) are left
# alone: the user's by default, whatever the caller exported otherwise.

PURSER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PURSER_LOCAL=$PURSER_ROOT/.purser
PURSER_HELM_VERSION=v4.2.4

# Tools built by setup.sh first; cargo and go in their usual homes when PATH lacks them.
PATH=$PURSER_LOCAL/bin:$PATH
for _purser_dir in "$HOME/.cargo/bin" /usr/local/go/bin; do
  case ":$PATH:" in
    *":$_purser_dir:"*) ;;
    *) [ -d "$_purser_dir" ] && PATH=$PATH:$_purser_dir ;;
  esac
done
unset _purser_dir
export PATH

HELM_BIN=${HELM_BIN:-$PURSER_LOCAL/bin/helm}
export HELM_BIN

# The cargo profile this checkout builds, runs and tests with: `local` (Cargo.toml says why),
# or `release`, what ships, which the benchmarks measure (`PURSER_PROFILE=release`).
# PURSER_BUILD is the folder its binaries land in.
PURSER_PROFILE=${PURSER_PROFILE:-local}
PURSER_BUILD=${CARGO_TARGET_DIR:-$PURSER_ROOT/target}/$PURSER_PROFILE
export PURSER_PROFILE

# Never let `go install` fetch a newer Go toolchain: build with the one on the machine.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# Every Go build of set-up with the same flags, so that one build cache serves them all (the
# standard library and shared modules compile once, not once with -trimpath and once without),
# and without DWARF (-w): nothing here debugs them, and linking cosign takes 4 s, not 10.
case " ${GOFLAGS:-} " in *" -trimpath -ldflags=-w "*) ;; *) GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath -ldflags=-w" ;; esac
export GOFLAGS

# Progress and failure lines, on stderr so that stdout stays the command's own output.
say() { printf 'purser: %s\n' "$*" >&2; }
die() { printf 'purser: error: %s\n' "$*" >&2; exit 1; }

# Phase times, for the table scripts/test.sh prints at its end: `timed NAME CMD...` runs CMD
# and, when PURSER_PHASE_LOG names a file, appends NAME and its seconds to it (as
# `phase_took NAME SECONDS` does for a phase timed another way).
phase_took() { [ -z "${PURSER_PHASE_LOG:-}" ] || printf '%s\t%s\n' "$1" "$2" >>"$PURSER_PHASE_LOG"; }
timed() {
  local name=$1 began=$SECONDS
  shift
  "$@"
  phase_took "$name" $((SECONDS - began))
}

# Benchmarks: `--out FILE` (relative to where the script was started) and `-h/--help` (the
# script's header comment). Sets out_file. Usage: bench_args "$caller_dir" "$0" "$@"
bench_args() {
  local from=$1 script=$2
  shift 2
  out_file=
  while [ "$#" -gt 0 ]; do
    case $1 in
      --out) [ "$#" -ge 2 ] || die "--out needs a file name"; out_file=$2; shift 2 ;;
      --out=*) out_file=${1#--out=}; shift ;;
      -h | --help) sed -n '2,/^set -euo/p' "$script" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown argument $1 (try --help)" ;;
    esac
  done
  if [ -n "$out_file" ]; then
    case $out_file in /*) ;; *) out_file=$from/$out_file ;; esac
  fi
}
