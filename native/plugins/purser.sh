#!/bin/sh
# The launcher of purser's Helm 3 legacy plugins (images-legacy, mirror-legacy): runs
# `purser COMMAND ARGS...`, where plugin.yaml gives COMMAND (`images`, `mirror`) and Helm the
# rest. The binary is the first of: $PURSER_BIN, $HELM_PLUGIN_DIR/bin/purser, `purser` on PATH.
set -eu
if [ -n "${PURSER_BIN:-}" ]; then
  bin=$PURSER_BIN
elif [ -n "${HELM_PLUGIN_DIR:-}" ] && [ -x "$HELM_PLUGIN_DIR/bin/purser" ]; then
  bin=$HELM_PLUGIN_DIR/bin/purser
elif command -v purser >/dev/null 2>&1; then
  bin=purser
else
  echo "helm ${1:-purser}: the purser binary was not found; put it on PATH, in ${HELM_PLUGIN_DIR:-<plugin dir>}/bin/, or set PURSER_BIN" >&2
  exit 127
fi
exec "$bin" "$@"
