#!/usr/bin/env bash
# The long run of the regeneration torture test (tests/torture.rs, issue 21): CASES seeded
# random scenarios per example contract (the domain spec and specs/tasks.openapi.yaml),
# each a new project, random user edits, random contract changes, then generate / migrate /
# add-resource and check. Every user edit must come out kept verbatim or inside conflict
# markers the command reported; a run stops at the first that does not and prints the
# scenario's seed and steps. Prints one line per contract:
#   torture <contract>: <n> scenarios, <r> rounds, <e> edits: <k> kept verbatim, <m> inside
#   reported conflict markers, 0 lost or altered; ...
#
# Usage: scripts/torture.sh [CASES] [SEED]    (defaults: 1000, the test's fixed seed)
set -euo pipefail
cd "$(dirname "$0")/.."
export APIGEN_TORTURE_CASES=${1:-1000}
if [ -n "${2:-}" ]; then export APIGEN_TORTURE_SEED=$2; fi
log=$(mktemp)
status=0
cargo test --locked --release --test torture -- --nocapture --test-threads 2 >"$log" 2>&1 || status=$?
if [ "$status" -eq 0 ]; then
  grep -E '^torture ' "$log"
else
  cat "$log"
fi
rm -f "$log"
exit "$status"
