#!/usr/bin/env bash
# Runs every check the project has: typecheck, lint, then all tests (unit, integration, end-to-end)
# with node:test against the embedded stack, which it starts if it is not running and stops after.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== typecheck"; npx tsc --noEmit -p tsconfig.json
echo "== lint";      npx eslint .

started_stack=0
if ! bin/stoq status --quiet; then
  bin/stoq up
  started_stack=1
fi
cleanup() { if [ "$started_stack" = 1 ]; then bin/stoq down || true; fi; }
trap cleanup EXIT

mapfile -t files < <(find lib services test bench cli -path '*/node_modules' -prune -o -name '*.test.ts' -print | sort)
echo "== tests (${#files[@]} files)"
# Integration tests share one broker; each uses its own topics, so files may run two at a time.
# --test-force-exit: a file whose tests all finished must not hold the run open on a leaked socket.
node --import tsx --test --test-concurrency=2 --test-force-exit --test-reporter=spec "${files[@]}"
