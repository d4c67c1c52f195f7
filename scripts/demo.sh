#!/usr/bin/env bash
# The demo: set up, then list the images of the fixture chart examples/demo.
#
#   scripts/demo.sh            helm template demo examples/demo | helm images -o table
#   scripts/demo.sh -o json    ... | helm images -o json (any `helm images` flags)
#
# Then, from the packaged chart, `helm images --all`: also the image of the metrics subchart,
# which is switched off by its condition (metrics.enabled: false).
# Uses the Helm homes of the caller (export HELM_DATA_HOME etc. to keep yours untouched).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The demo needs Helm and the plugins only: not the test registries nor the test cluster.
PURSER_SKIP_REGISTRIES=${PURSER_SKIP_REGISTRIES:-1} PURSER_SKIP_KUBE=${PURSER_SKIP_KUBE:-1} \
  "$PURSER_ROOT/scripts/setup.sh"
[ "$#" -gt 0 ] || set -- -o table

chart=$PURSER_ROOT/examples/demo
say "demo: helm template demo examples/demo | helm images $*"
"$HELM_BIN" template demo "$chart" | "$HELM_BIN" images "$@"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$HELM_BIN" package "$chart" --destination "$work" >/dev/null
say "demo: helm package examples/demo && helm images --all $* < demo-0.1.0.tgz"
"$HELM_BIN" images --all "$@" <"$work/demo-0.1.0.tgz"
