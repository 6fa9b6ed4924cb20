#!/usr/bin/env bash
# The one test command (npm test): installs what the tests need, type-checks, runs every uvu suite,
# and closes with the line CI reads: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund || exit 1
bash scripts/ensure-nats-server.sh || exit 1
bash scripts/ensure-chromium.sh || exit 1

echo "typecheck: tsc --noEmit"
node_modules/.bin/tsc --noEmit -p . || { echo "0 passed, 1 failed"; exit 1; }

pattern="${1:-\\.test\\.ts\$}"
log=$(mktemp)
# Each test has its own deadline (test/support/suite.ts); this watchdog is the last line, for what
# that cannot catch (a hook stuck in a sync loop, handles kept open after the summary). It kills the
# whole process group, nats-servers and node processes the tests spawned included. Generous by default
# (30 min): on a loaded shared machine a healthy run has taken over 9 min; CI may set a tighter one.
watchdog_s="${SLUICE_TEST_WATCHDOG_S:-1800}"
timeout --kill-after=10 "$watchdog_s" node --import tsx node_modules/uvu/bin.js test "$pattern" --no-color 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "watchdog: the test run did not finish within ${watchdog_s} s and was killed (SLUICE_TEST_WATCHDOG_S)"
fi

total=$(grep -E '^ *Total: +[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
passed=$(grep -E '^ *Passed: +[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
rm -f "$log"
if [ -z "$total" ] || [ -z "$passed" ]; then
  echo "uvu printed no summary (a suite crashed or exited early)"
  echo "0 passed, 1 failed"
  exit 1
fi
failed=$((total - passed))
# A run the watchdog killed after uvu's summary still failed: open handles kept it alive.
if [ "$failed" -eq 0 ] && [ "$status" -ne 0 ]; then failed=1; fi
echo "${passed} passed, ${failed} failed"
if [ "$total" -eq 0 ]; then echo "no test ran"; exit 1; fi
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
