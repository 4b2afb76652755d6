#!/usr/bin/env bash
# The project's test command (`deno task test`): format, lint, type-check, unit tests, notebooks.
# Ends with one plain line: "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
export NO_COLOR=1
passed=0; failed=0; fails=()
step() { # name, command...
  local name=$1; shift
  echo "== $name"
  if "$@"; then passed=$((passed+1)); else failed=$((failed+1)); fails+=("$name"); fi
}
step fmt deno fmt --check
step lint deno lint
step check deno check lib/ cli/ tools/ bench/ tests/
log=$(mktemp)
deno test -A --parallel tests/ 2>&1 | tee "$log"
tp=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
tf=$(grep -Eo '[0-9]+ failed' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
if ! grep -qE '^(ok|FAILED) \|' "$log"; then tf=$((tf+1)); fails+=("deno test did not finish"); fi
passed=$((passed+tp)); failed=$((failed+tf))
if [ -d ../shared/fixtures/reference ]; then
  step parity deno run -A tools/parity/main.ts ../shared/fixtures/reference
else
  echo "== parity: SKIP (../shared/fixtures/reference not found)"
fi
step notebooks deno run -A tools/notebooks.ts --check
[ ${#fails[@]} -gt 0 ] && echo "failed: ${fails[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
