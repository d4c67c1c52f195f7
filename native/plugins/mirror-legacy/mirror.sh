#!/bin/sh
# helm mirror (Helm 3 legacy plugin): exec the native `purser mirror` with Helm's arguments.
# The binary is the first of: $PURSER_BIN, $HELM_PLUGIN_DIR/bin/purser, `purser` on PATH.
set -eu
if [ -n "${PURSER_BIN:-}" ]; then
  bin=$PURSER_BIN
elif [ -n "${HELM_PLUGIN_DIR:-}" ] && [ -x "$HELM_PLUGIN_DIR/bin/purser" ]; then
  bin=$HELM_PLUGIN_DIR/bin/purser
elif command -v purser >/dev/null 2>&1; then
  bin=purser
else
  echo "helm mirror: the purser binary was not found; put it on PATH, in ${HELM_PLUGIN_DIR:-<plugin dir>}/bin/, or set PURSER_BIN" >&2
  exit 127
fi
exec "$bin" mirror "$@"
