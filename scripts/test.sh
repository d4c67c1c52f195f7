#!/usr/bin/env bash
# Every test: what CI runs (through .ci/run) and what a developer runs before pushing.
#
#   1. scripts/setup.sh, with Helm homes in a temporary folder (the plugin install is tested
#      there; your own Helm homes are left alone). Its Go builds run beside its Rust builds,
#      and with PURSER_BUILD_TESTS=1 the test binaries build in the same cargo run as purser
#      (profile `local`: the crate graph compiles once; one end-to-end binary a crate,
#      tests/main.rs and native/tests/main.rs)
#   2. cargo test --workspace --profile local (arguments go to cargo test, e.g. a filter or
#      `-- --nocapture`); the corpus check on ../shared/charts runs with them where that folder
#      exists (scripts/corpus-check.sh runs it alone, with its table)
#
# At the end (also after a failure) it prints one line per phase with its time, and the count of
# tests passed, failed and ignored, so that a regression in either shows.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

work=$(mktemp -d "${TMPDIR:-/tmp}/purser-test.XXXXXX")
export PURSER_PHASE_LOG=$work/phases.tsv
: >"$PURSER_PHASE_LOG"
began=$SECONDS

summary() {
  local status=$? name seconds passed failed ignored
  set +e
  phase_took "total" $((SECONDS - began))
  while IFS=$'\t' read -r name seconds; do
    printf 'purser: time: %-52s %3dm%02ds\n' "$name" $((seconds / 60)) $((seconds % 60)) >&2
  done <"$PURSER_PHASE_LOG"
  if [ -s "$work/tests.log" ]; then
    read -r passed failed ignored < <(awk '/^test result:/ {
        for (i = 1; i <= NF; i++) { n = $(i - 1) + 0
          if ($i ~ /^passed/) p += n; if ($i ~ /^failed/) f += n; if ($i ~ /^ignored/) g += n }
      } END { print p + 0, f + 0, g + 0 }' "$work/tests.log")
    say "tests: $passed passed, $failed failed, $ignored ignored"
  fi
  rm -rf "$work"
  exit "$status"
}
trap summary EXIT

env -u HELM_PLUGINS HELM_DATA_HOME="$work/data" HELM_CONFIG_HOME="$work/config" \
  HELM_CACHE_HOME="$work/cache" PURSER_BUILD_TESTS=1 scripts/setup.sh

say "test: cargo test --workspace --profile $PURSER_PROFILE $*"
run_began=$SECONDS
status=0
cargo test --workspace --profile "$PURSER_PROFILE" "$@" 2>&1 | tee "$work/tests.log" || status=$?
phase_took "run: tests" $((SECONDS - run_began))
exit "$status"
