#!/usr/bin/env bash
# Conformance: runs schemathesis (PyPI) against generated services with every check on —
# response schema conformance, documented status codes, negative data rejected, content
# types, headers, authorisation checks (ignored_auth, object-level authorisation), stateful
# links — and credentials configured, so protected operations are exercised.
#
# Usage: scripts/conformance.sh [--examples N] [--phases LIST] [TARGET...]
#   TARGET: bookstore (specs/bookstore.yaml, the domain-spec example), petstore-expanded,
#   train-travel (oas-examples, fetched by corpus/fetch.sh), or a contract path.
#   Default: all three. --examples: test cases per operation and phase (default 100).
#   --phases: schemathesis phases (default all four: examples,coverage,fuzzing,stateful).
# For each target: `apigen new`, build (one shared target dir, target/conformance), start
# the service on a fresh SQLite database, create an admin with the service's own
# `create-user` command, sign in, and pass the access token (and an API key, where the
# contract takes one in a header) to schemathesis. Operations apigen generates as 501 stubs
# (operations apigen reports as answering 501 until a user writes them: custom actions,
# constructs it cannot serve) are excluded and listed: they are user code, not generated
# behaviour. Restores of soft-deleted rows are left out too: bringing a deleted row back is
# their point, which schemathesis' use-after-free check (ST301) takes for a deleted resource
# still served; the generated tests cover them. Prints `conformance: <target> PASS|FAIL` and a summary; exits 1 on any failure.
# Environment: APIGEN (an apigen binary to use instead of building one), CONFORMANCE_TARGET
# (the cargo target dir for the generated projects). Needs: python3 with schemathesis (pip install 'schemathesis>=4.3,<5'), curl.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/service.sh
EXAMPLES=100
PHASES=examples,coverage,fuzzing,stateful
if [ "${1:-}" = "--examples" ]; then EXAMPLES=$2; shift 2; fi
if [ "${1:-}" = "--phases" ]; then PHASES=$2; shift 2; fi
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(bookstore petstore-expanded train-travel)
CORPUS=${APIGEN_CORPUS:-$HOME/.cache/apigen-corpus}
W=${CONFORMANCE_DIR:-$PWD/target/conformance}
command -v schemathesis >/dev/null || { echo "conformance: install schemathesis first: pip install 'schemathesis>=4.3,<5'" >&2; exit 2; }
mkdir -p "$W"
# A schema-valid body can still name a row that does not exist (a foreign key): the
# service answers 422 (RFC 9110 §15.5.21), as its served document says, so positive data
# may be refused with 422 as well as with the statuses schemathesis expects by default.
# A list cursor is valid only as the service issued it (sealed: any other text is 400), so
# no schema can generate one: schemathesis sends the empty cursor, the first page.
cat >"$W/schemathesis.toml" <<'TOML'
[parameters]
"query.cursor" = ""

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
TOML
build_apigen || exit 2
export CARGO_TARGET_DIR=${CONFORMANCE_TARGET:-$W/target}
export JWT_SECRET=conformance-secret-conformance-secret-0123
# Limits schemathesis never reaches: it checks behaviour, not the limiter (tested elsewhere).
export RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000
export AUTH_RATE_LIMIT_PER_MINUTE=1000000 AUTH_RATE_LIMIT_BURST=1000000
failed=0; port=3840; pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT
for target in "${TARGETS[@]}"; do
  case $target in
    bookstore) spec=specs/bookstore.yaml ;;
    petstore-expanded) spec=$CORPUS/oas-examples/package/3.0/yaml/petstore-expanded.yaml ;;
    train-travel) spec=$CORPUS/oas-examples/package/3.1/yaml/train-travel.yaml ;;
    *) spec=$target ;;
  esac
  [ -f "$spec" ] || bash corpus/fetch.sh "$CORPUS" >/dev/null
  name=$(basename "$target" | tr '.' '_')
  dir=$W/$name
  rm -rf "$dir"
  "$APIGEN" new "$dir" --spec "$spec" >/dev/null || { echo "conformance: $target FAIL (apigen refused it)"; failed=1; continue; }
  (cd "$dir" && cargo build --quiet) || { echo "conformance: $target FAIL (build)"; failed=1; continue; }
  model=$("$APIGEN" inspect "$spec" --format json)
  bin=$CARGO_TARGET_DIR/debug/$(echo "$model" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"]["package"])')
  prefix=$(echo "$model" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"]["security"]["auth_prefix"])')
  excluded=$(echo "$model" | python3 -c 'import json,sys
m = json.load(sys.stdin)["model"]
print(" ".join("--exclude-operation-id=" + o["operation_id"] for r in m["resources"] for o in r["operations"] if not o["implemented"] or o["kind"] == "restore"))')
  port=$((port + 1))
  export DATABASE_URL=sqlite://$dir/conformance.db PORT=$port
  "$bin" serve >"$dir/service.log" 2>&1 & pid=$!
  wait_http "http://127.0.0.1:$port/readyz" || { echo "conformance: $target FAIL (service did not start)"; failed=1; continue; }
  token=$(admin_token "$bin" "http://127.0.0.1:$port" "$prefix")
  headers=(-H "Authorization: Bearer $token")
  # API keys in a header: issue one and send it too.
  for h in $(curl -s "http://127.0.0.1:$port/openapi.json" | python3 -c 'import json,sys
d = json.load(sys.stdin)
for s in (d.get("components") or {}).get("securitySchemes", {}).values():
    if s.get("type") == "apiKey" and s.get("in") == "header" and s.get("name", "").lower() != "authorization":
        print(s["name"])' | sort -u); do
    key=$("$bin" issue-api-key --name conformance --role admin 2>/dev/null | tail -1)
    headers+=(-H "$h: $key")
  done
  echo "conformance: $target ($EXAMPLES examples per operation${excluded:+, excluding stubs and restores: ${excluded//--exclude-operation-id=/}})"
  schemathesis --config-file "$W/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" --url "http://127.0.0.1:$port" \
    --checks all --phases "$PHASES" -n "$EXAMPLES" --workers 1 --seed 1 --no-color "${headers[@]}" $excluded \
    >"$dir/schemathesis.log" 2>&1
  code=$?
  grep -E '^(Test cases:|  [0-9]+ generated)|❌|^=+ .* in ' "$dir/schemathesis.log" | sed 's/^/  /'
  if [ $code -eq 0 ]; then echo "conformance: $target PASS"; else echo "conformance: $target FAIL (see $dir/schemathesis.log)"; failed=1; fi
  kill "$pid"; wait "$pid" 2>/dev/null; pid=
done
exit $failed
