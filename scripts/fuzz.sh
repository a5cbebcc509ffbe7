#!/usr/bin/env bash
# Fuzzes apigen's load + resolve stages with cargo-fuzz (libFuzzer) on the stable toolchain.
#
# Usage: scripts/fuzz.sh [SECONDS]     (default 300)
#
# Seeds: the example contracts in specs/, the test fixtures, and — when the corpus has been
# fetched (corpus/fetch.sh) — the small oas-examples documents. The working
# corpus lives in fuzz/corpus/ (not committed). Any input that crashes is copied into
# tests/fixtures/fuzz/, which `cargo test` replays (tests/fuzz_regressions.rs): commit it with
# the fix. Prints `fuzz: N runs, N crashes` and exits 1 when something crashed.
# Needs: cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-300}
CORPUS_SRC=${APIGEN_CORPUS:-$HOME/.cache/apigen-corpus}
command -v cargo-fuzz >/dev/null || { echo "fuzz: install cargo-fuzz first: cargo install cargo-fuzz --locked" >&2; exit 2; }
WORK=fuzz/corpus/load_resolve
mkdir -p "$WORK" fuzz/artifacts/load_resolve tests/fixtures/fuzz
cp specs/*.yaml tests/fixtures/*.yaml "$WORK"/ 2>/dev/null || true
if [ -d "$CORPUS_SRC/oas-examples/package/3.0/yaml" ]; then
  # Small documents only: libFuzzer mutates better near its max_len.
  find "$CORPUS_SRC/oas-examples/package" -name '*.yaml' -size -24k -exec cp {} "$WORK"/ \;
fi
before=$(ls fuzz/artifacts/load_resolve | wc -l)
# -s none: no sanitizer, so the stable toolchain builds it (the target is safe Rust; panics,
# stack overflows, timeouts and out-of-memory are what it looks for).
set +e
(cd fuzz && cargo fuzz run -s none -O load_resolve corpus/load_resolve -- \
  -dict=openapi.dict -max_len=32768 -timeout=10 -rss_limit_mb=2048 \
  -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1) 2>&1 | tee /tmp/apigen-fuzz.log | grep -E '^(#[0-9]+.*(DONE|pulse)|==|stat::number_of_executed_units|SUMMARY|thread .* panicked)' || true
set -e
runs=$(grep -m1 'stat::number_of_executed_units' /tmp/apigen-fuzz.log | awk '{print $2}')
crashes=0
for f in fuzz/artifacts/load_resolve/*; do
  [ -f "$f" ] || continue
  name=$(basename "$f")
  if [ ! -f "tests/fixtures/fuzz/$name" ]; then cp "$f" "tests/fixtures/fuzz/$name"; fi
  crashes=$((crashes+1))
done
new=$(( $(ls fuzz/artifacts/load_resolve | wc -l) - before ))
echo "fuzz: ${runs:-0} runs in ${SECONDS_TO_RUN}s, $new new crash(es); all crash inputs are in tests/fixtures/fuzz/"
[ "$new" -eq 0 ]
