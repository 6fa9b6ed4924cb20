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
node --import tsx node_modules/uvu/bin.js test "$pattern" --no-color 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

total=$(grep -E '^ *Total: +[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
passed=$(grep -E '^ *Passed: +[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
rm -f "$log"
if [ -z "$total" ] || [ -z "$passed" ]; then
  echo "uvu printed no summary (a suite crashed or exited early)"
  echo "0 passed, 1 failed"
  exit 1
fi
failed=$((total - passed))
echo "${passed} passed, ${failed} failed"
if [ "$total" -eq 0 ]; then echo "no test ran"; exit 1; fi
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
