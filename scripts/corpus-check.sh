#!/usr/bin/env bash
# Corpus check on the public charts in ../shared/charts (CORPUS.md there lists them): each is
# rendered by real Helm and piped into `helm images`; every image field of the output must be
# found and no certain finding invented; for charts that list their images in an annotation,
# `purser images --all` on a copy without the annotation must still find each of them.
# Prints a per-chart table of found / missed / extra. Needs scripts/setup.sh to have run.
#
#   scripts/corpus-check.sh    (the corpus must sit at ../shared/charts beside the repository)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

corpus=$PURSER_ROOT/../shared/charts
[ -d "$corpus" ] || die "no chart corpus at $corpus"
say "corpus check: $(find "$corpus" -mindepth 2 -maxdepth 2 -name Chart.yaml | wc -l | tr -d ' ') charts in $corpus"
cargo test --workspace --profile "$PURSER_PROFILE" --test e2e -- corpus::corpus_check --exact --nocapture
