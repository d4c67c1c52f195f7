#!/usr/bin/env bash
# Every test: what CI runs (through .ci/run) and what a developer runs before pushing.
#
#   1. scripts/setup.sh, with Helm homes in a temporary folder (the plugin install is tested
#      there; your own Helm homes are left alone)
#   2. cargo test --workspace --release (arguments go to cargo test, e.g. `-- --nocapture`);
#      release, so the tests reuse the release builds setup.sh just made
#   3. scripts/corpus-check.sh on ../shared/charts, where that folder exists
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

homes=$(mktemp -d "${TMPDIR:-/tmp}/purser-setup-homes.XXXXXX")
trap 'rm -rf "$homes"' EXIT
env -u HELM_PLUGINS HELM_DATA_HOME="$homes/data" HELM_CONFIG_HOME="$homes/config" \
  HELM_CACHE_HOME="$homes/cache" scripts/setup.sh

say "test: cargo test --workspace --release $*"
cargo test --workspace --release "$@"

corpus=$PURSER_ROOT/../shared/charts
if [ -d "$corpus" ]; then
  say "test: scripts/corpus-check.sh $corpus"
  scripts/corpus-check.sh
else
  say "test: no $corpus here; corpus check skipped"
fi
