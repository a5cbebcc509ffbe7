#!/usr/bin/env bash
# Instructions per request of a generated bookstore service, counted by valgrind's
# callgrind: repeatable for the same binary whatever else the machine is doing, unlike
# requests per second on a shared VM. Prints one line per binary:
#   bench: instructions <label> get_by_id <n> per_request
#
# Usage: scripts/instructions.sh BINARY [BINARY...]   (release builds of the bookstore,
#   specs/bookstore.yaml on SQLite; the label is the binary's parent folder name)
#   AUTH=1 sends the admin's access token with every request (the route is public, but a
#   presented token is verified: signature, claims and the revocation check), and the
#   line says get_by_id_authenticated.
# Each binary runs twice under callgrind on a fresh SQLite database: seeded (an admin,
# one author, one book), then GET /api/v1/books/{id} sent FEW and MANY times over one
# keep-alive connection. The difference of the two totals over MANY - FEW requests is the
# cost of one request, start-up and seeding cancelled out.
# Needs: valgrind, python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/service.sh
FEW=${FEW:-200}
MANY=${MANY:-1200}
W=${INSTR_DIR:-$PWD/target/instructions}
mkdir -p "$W"
command -v valgrind >/dev/null || { echo "instructions: install valgrind" >&2; exit 2; }
export JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 RUST_LOG=info
export RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000

# total BINARY REQUESTS: callgrind's instruction total for one run.
total() {
  local bin=$1 n=$2 pid token id
  rm -f "$W"/db.sqlite* "$W"/cg.out
  DATABASE_URL="sqlite://$W/db.sqlite" PORT=3833 valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$bin" serve >"$W/service.log" 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:3833/healthz" 300
  export DATABASE_URL="sqlite://$W/db.sqlite"
  token=$(admin_token "$bin" http://127.0.0.1:3833 /api/v1/auth)
  id=$(seed_bookstore http://127.0.0.1:3833 "$token" 1)
  python3 - "$id" "$n" "${AUTH:-0}" "$token" <<'PY'
import http.client, sys
book, n, auth, token = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
headers = {"Authorization": f"Bearer {token}"} if auth else {}
c = http.client.HTTPConnection("127.0.0.1", 3833, timeout=60)
for _ in range(n):
    c.request("GET", f"/api/v1/books/{book}", headers=headers)
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk '/^summary:/ {print $2} /^totals:/ {print $2}' "$W/cg.out" | head -1
}

for bin in "$@"; do
  label=$(basename "$(dirname "$(readlink -f "$bin")")")
  few=$(total "$bin" "$FEW")
  many=$(total "$bin" "$MANY")
  what=get_by_id; [ "${AUTH:-0}" = 1 ] && what=get_by_id_authenticated
  echo "bench: instructions $label $what $(( (many - few) / (MANY - FEW) )) per_request"
done
