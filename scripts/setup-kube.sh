#!/usr/bin/env bash
# A real Kubernetes control plane for the tests that need a cluster to talk to (`helm upgrade
# --install`, even with --dry-run=client, asks the cluster for the release's history first):
#
#   .purser/bin/kube-apiserver   built with go from the Kubernetes sources (scripts/kube/go.mod
#                                pins the version; the first build takes minutes)
#   .purser/bin/etcd             built with go from etcd's server module, same go.mod
#   .purser/bin/kube-controller-manager   the real Job controller (the `--engine kube` tests run it
#                                with --controllers=job,garbagecollector,serviceaccount,...)
#
# The tests start both on loopback ports with throw-away data and stop them (tests/support/kube.rs).
# Safe to run again: binaries built from the same go.mod are kept.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT/scripts/kube"
mkdir -p "$PURSER_LOCAL/bin"

command -v go >/dev/null 2>&1 || die "Go is needed to build kube-apiserver and etcd (scripts/kube)"

stamp=$PURSER_LOCAL/bin/.kube-go-sum
want=$(cat go.mod go.sum | cksum)
if [ -x "$PURSER_LOCAL/bin/kube-apiserver" ] && [ -x "$PURSER_LOCAL/bin/etcd" ] &&
  [ -x "$PURSER_LOCAL/bin/kube-controller-manager" ] &&
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "kube: kube-apiserver, kube-controller-manager and etcd present"
  exit 0
fi
started=$(date +%s)
say "kube: building etcd, kube-apiserver and kube-controller-manager $(awk '$1 == "k8s.io/kubernetes" { print $2 }' go.mod) (the first time takes minutes)"
# One go build for the three: their many shared packages are compiled once, in parallel.
go build -trimpath -o "$PURSER_LOCAL/bin/" ./cmd/etcd ./cmd/kube-apiserver ./cmd/kube-controller-manager >&2 ||
  die "go build of etcd, kube-apiserver and kube-controller-manager failed"
echo "$want" >"$stamp"
say "kube: built in $(($(date +%s) - started))s"
