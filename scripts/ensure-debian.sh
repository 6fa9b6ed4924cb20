#!/usr/bin/env bash
# ensure-debian.sh [--why TEXT] PKG[:BIN]…  Makes sure each Debian package's program is on PATH
# (BIN defaults to PKG: `varnish:varnishd`). Missing ones are installed with apt-get when running as
# root; otherwise, or when that fails, prints how to install them and exits 1. apt never starts the
# services: whoever needs one starts it.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
why="sluice"
if [ "${1:-}" = "--why" ]; then why="$2"; shift 2; fi

missing_pkgs=()
missing() {
  missing_pkgs=()
  for spec in "$@"; do
    pkg="${spec%%:*}"; bin="${spec#*:}"
    command -v "$bin" >/dev/null || missing_pkgs+=("$pkg")
  done
}

missing "$@"
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "${missing_pkgs[*]} not found: installing Debian's package(s) for $why"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
  missing "$@"
  [ ${#missing_pkgs[@]} -eq 0 ] && exit 0
fi
echo "${missing_pkgs[*]} is needed by $why. Install it with: sudo apt-get install ${missing_pkgs[*]}" >&2
exit 1
