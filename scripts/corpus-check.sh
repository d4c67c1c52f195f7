#!/usr/bin/env bash
# Corpus check on the public charts in ../shared/charts (CORPUS.md there lists them).
# Placeholder: the real check is still to be written; it succeeds and says so.
#
#   scripts/corpus-check.sh [CHARTS_DIR]    (default: ../shared/charts next to the repo)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

corpus=${1:-$PURSER_ROOT/../shared/charts}
[ -d "$corpus" ] || die "no chart corpus at $corpus"
count=$(find "$corpus" -mindepth 1 -maxdepth 1 \( -type d -o -name '*.tgz' \) | wc -l | tr -d ' ')
say "corpus check: not written yet; $count charts in $corpus left unchecked"
