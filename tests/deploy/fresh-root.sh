#!/usr/bin/env bash
# Make a fresh minimal Debian 12 root filesystem, as a machine nobody prepared by hand:
#
#   tests/deploy/fresh-root.sh DIR [PACKAGE,PACKAGE...]
#
# mmdebstrap --variant=minbase bookworm, plus the named packages. The only things copied in
# from this machine are its package clients' configuration — apt sources and settings (proxy
# included), pip's config files, the CA bundle — and resolv.conf, because a root made here
# reaches the package registries only through them. Used by .ci/run (the whole test suite in a
# fresh root) and tests/deploy/test_systemd_boot.py (the units under real systemd).
set -euo pipefail
dir="${1:?usage: fresh-root.sh DIR [PACKAGES]}"
include="${2:-}"
[ "$(id -u)" = 0 ] || { echo "fresh-root: needs root" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "fresh-root: mmdebstrap is not installed" >&2; exit 1; }

sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] && grep -qEv '^\s*(#|$)' "$f" && sources+=("$f")
done
# Host apt settings (proxy, validity checks of a snapshot mirror) for mmdebstrap's own apt.
aptopts=()
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && aptopts+=(--aptopt="$f")
done

mkdir -p "$dir"
mmdebstrap --quiet --variant=minbase ${include:+--include="$include"} "${aptopts[@]}" \
  bookworm "$dir" "${sources[@]}"

copy() {  # copy host file $1 to the same path in the root, if the host has it
  [ -e "$1" ] || return 0
  mkdir -p "$dir$(dirname "$1")"
  cp -a "$1" "$dir$1"
}
# (mmdebstrap already wrote the sources it was given into the root.)
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/* /etc/apt/auth.conf.d/*; do copy "$f"; done
for f in /etc/pip.conf /etc/xdg/pip/* "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
  [ -e "$f" ] || continue
  target="${f/#$HOME//root}"
  mkdir -p "$dir$(dirname "$target")"
  cp -a "$f" "$dir$target"
done
copy /etc/ssl/certs/ca-certificates.crt
for f in /usr/local/share/ca-certificates/*; do copy "$f"; done
rm -f "$dir/etc/resolv.conf"
cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
echo "fresh-root: $dir ($(du -sh "$dir" | cut -f1))"
