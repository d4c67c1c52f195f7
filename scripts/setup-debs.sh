#!/usr/bin/env bash
# Real Debian bookworm packages for the `helm mirror patch` tests, downloaded once into
# .purser/debs/ with `apt-get download` (the machine's own Debian mirror, apt's signed indexes):
#
#   libssl3_3.0.17-1~deb12u2_amd64.deb   vulnerable in native/tests/fixtures/trivy-db/debian.yaml
#   libssl3_3.0.22-1~deb12u2_amd64.deb   past the fix
#   ed_1.19-1_amd64.deb                  58 KB, with a real postinst (update-alternatives) and prerm
#
# Safe to run again: a file already there is kept (checked with dpkg-deb: package, version,
# architecture), so a second run takes a fraction of a second. When a download fails, apt's lists
# are refreshed once (`apt-get update`, which needs root) and the download retried. Runs as the
# current user; no sudo. PURSER_SKIP_DEBS=1 skips it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PURSER_ROOT"

if [ "${PURSER_SKIP_DEBS:-}" = 1 ]; then
  say "debs: skipped (PURSER_SKIP_DEBS=1)"
  exit 0
fi

DEBS_DIR=$PURSER_LOCAL/debs
# package architecture version: each becomes PACKAGE_VERSION_ARCH.deb
DEBS=(
  "libssl3 amd64 3.0.17-1~deb12u2"
  "libssl3 amd64 3.0.22-1~deb12u2"
  "ed amd64 1.19-1"
)

deb_file() { # PACKAGE ARCH VERSION: the file name apt-get download gives it (epoch as %3a)
  printf '%s_%s_%s.deb' "$1" "${3//:/%3a}" "$2"
}

deb_ok() { # FILE PACKAGE ARCH VERSION: whether FILE is that package
  [ -s "$1" ] || return 1
  local got
  got=$(dpkg-deb -f "$1" Package Version Architecture 2>/dev/null | tr '\n' ' ') || return 1
  [ "$got" = "Package: $2 Version: $4 Architecture: $3 " ]
}

updated=
download() { # PACKAGE ARCH VERSION FILE: apt-get download into a scratch folder, then moved in
  local package=$1 arch=$2 version=$3 file=$4 scratch log
  scratch=$(mktemp -d "$DEBS_DIR/.download.XXXXXX")
  log=$scratch/apt.log
  # As root, apt cannot hand this folder to its _apt sandbox user and downloads unsandboxed,
  # saying so in the log: the files stay the current user's.
  if ! (cd "$scratch" && apt-get download -q "$package:$arch=$version") >"$log" 2>&1; then
    if [ -z "$updated" ]; then
      say "debs: $package $version not downloadable; refreshing apt's lists (apt-get update) and retrying"
      updated=1
      if ! apt-get update -qq >>"$log" 2>&1; then
        cat "$log" >&2
        rm -rf "$scratch"
        die "debs: apt-get update failed (it needs root: run 'sudo apt-get update', then scripts/setup-debs.sh again)"
      fi
      if (cd "$scratch" && apt-get download -q "$package:$arch=$version") >>"$log" 2>&1; then
        finish "$package" "$arch" "$version" "$file" "$scratch"
        return
      fi
    fi
    cat "$log" >&2
    rm -rf "$scratch"
    die "debs: apt-get download $package:$arch=$version failed (is $version still on the Debian mirror? apt-cache madison $package)"
  fi
  finish "$package" "$arch" "$version" "$file" "$scratch"
}

finish() { # PACKAGE ARCH VERSION FILE SCRATCH: check what came and move it into place
  local package=$1 arch=$2 version=$3 file=$4 scratch=$5
  if ! deb_ok "$scratch/$file" "$package" "$arch" "$version"; then
    ls -l "$scratch" >&2
    rm -rf "$scratch"
    die "debs: apt-get download $package:$arch=$version left no $file holding that package"
  fi
  chmod 0644 "$scratch/$file"
  mv -f "$scratch/$file" "$DEBS_DIR/$file"
  rm -rf "$scratch"
  say "debs: downloaded $file ($(wc -c <"$DEBS_DIR/$file") bytes)"
}

command -v dpkg-deb >/dev/null 2>&1 || die "debs: dpkg-deb is needed (a Debian or Ubuntu machine)"
mkdir -p "$DEBS_DIR"
rm -rf "$DEBS_DIR"/.download.* # left by an interrupted run

missing=()
for spec in "${DEBS[@]}"; do
  read -r package arch version <<<"$spec"
  file=$(deb_file "$package" "$arch" "$version")
  if deb_ok "$DEBS_DIR/$file" "$package" "$arch" "$version"; then
    continue
  fi
  missing+=("$spec")
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "debs: ${#DEBS[@]} packages present in $DEBS_DIR"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "debs: apt-get is needed to download ${missing[*]%% *} (a Debian machine)"
for spec in "${missing[@]}"; do
  read -r package arch version <<<"$spec"
  download "$package" "$arch" "$version" "$(deb_file "$package" "$arch" "$version")"
done
say "debs: ready in $DEBS_DIR"
