#!/usr/bin/env bash
# Integration tests start real nats-server processes; install Debian's package when it is missing.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
command -v nats-server >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "nats-server not found: installing Debian's nats-server package"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  command -v nats-server >/dev/null && exit 0
fi
echo "nats-server is required by the integration tests. Install it with: sudo apt-get install nats-server" >&2
exit 1
