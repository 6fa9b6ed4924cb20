#!/usr/bin/env bash
# Integration tests start real nats-server processes; install Debian's package when it is missing.
exec bash "$(dirname "$0")/ensure-debian.sh" --why "the integration tests" nats-server
