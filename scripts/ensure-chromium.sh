#!/usr/bin/env bash
# The dashboard's browser test drives Debian's chromium headless (playwright-core never downloads a
# browser here); install the package when it is missing.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
found() { command -v chromium >/dev/null && chromium --version >/dev/null 2>&1; }
found && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "chromium not found: installing Debian's chromium package"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  found && exit 0
fi
echo "chromium is required by the dashboard's browser test. Install it with: sudo apt-get install chromium" >&2
exit 1
