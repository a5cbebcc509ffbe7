#!/usr/bin/env bash
# CPU time per request of a generated bookstore service and of the PostgreSQL backends
# serving it, read from /proc: unlike requests per second under wrk, it hardly moves with
# whatever else the machine is doing, and it shows which side of the connection a cost is
# on. Prints one line per binary and request:
#   bench: cputime <label> <request> service <us> postgres <us> per_request
#
# Usage: scripts/cputime.sh BINARY [BINARY...]   (release builds of the bookstore,
#   specs/bookstore.yaml with --database postgres, or with --database sqlite and
#   CPUTIME_DATABASE=sqlite: the database then runs inside the service, and the postgres
#   column is 0; the label is the binary's parent folder name). N requests each (default 5000), sent one after another over one
#   keep-alive connection after 300 warm-up requests, for: a book by id, page 1 of
#   GET /api/v1/books?limit=20, and page DEPTH (default 500) of the same list.
# Each binary gets a database of its own (apigen_cputime), seeded with 200 + 20 * DEPTH
# books through the API, one after another (seed_deep_books in service.sh), then vacuumed
# and analysed. Needs: PostgreSQL on 127.0.0.1:5432 (PG_ADMIN_URL), python3,
# curl, pgrep.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/service.sh
N=${N:-5000}
DEPTH=${DEPTH:-500}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
CPUTIME_DATABASE=${CPUTIME_DATABASE:-postgres}
case $CPUTIME_DATABASE in
  postgres) DATABASE_URL=${PG_ADMIN%/*}/apigen_cputime ;;
  sqlite) DATABASE_URL="sqlite://${TMPDIR:-/tmp}/apigen_cputime.db" ;;
  *) echo "cputime: CPUTIME_DATABASE is postgres or sqlite, not $CPUTIME_DATABASE" >&2; exit 2 ;;
esac
export DATABASE_URL PORT=3844
export JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 RUST_LOG=info
export RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000
pids=()
trap 'for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done' EXIT

# measure PID LABEL WHAT PATH: one result line.
measure() {
  python3 - "$1" "$N" "$4" <<'PY' | sed "s/^/bench: cputime $2 $3 /"
import http.client, os, subprocess, sys
pid, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tick = os.sysconf("SC_CLK_TCK")
def cpu(p):
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / tick
    except FileNotFoundError:
        return 0.0
def backends():
    out = subprocess.run(["pgrep", "-f", "postgres: .* apigen_cputime"], capture_output=True, text=True).stdout
    return sum(cpu(int(p)) for p in out.split())
c = http.client.HTTPConnection("127.0.0.1", 3844, timeout=60)
def get():
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
for _ in range(300):
    get()
s, p = cpu(pid), backends()
for _ in range(n):
    get()
print(f"service {(cpu(pid) - s) / n * 1e6:.1f} postgres {(backends() - p) / n * 1e6:.1f} per_request")
PY
}

for bin in "$@"; do
  label=$(basename "$(dirname "$(readlink -f "$bin")")")
  if [ "$CPUTIME_DATABASE" = postgres ]; then
    psql "$PG_ADMIN" -q -c 'DROP DATABASE IF EXISTS apigen_cputime' -c 'CREATE DATABASE apigen_cputime'
  else
    rm -f "${TMPDIR:-/tmp}"/apigen_cputime.db*
  fi
  "$bin" serve >"${TMPDIR:-/tmp}/cputime-service.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_http "http://127.0.0.1:3844/readyz"
  token=$(admin_token "$bin" http://127.0.0.1:3844 /api/v1/auth)
  id=$(seed_bookstore http://127.0.0.1:3844 "$token" 200)
  seed_deep_books http://127.0.0.1:3844 "$token" $((20 * DEPTH))
  [ "$CPUTIME_DATABASE" = postgres ] && psql "$DATABASE_URL" -q -c 'VACUUM ANALYZE'
  cursor=
  for ((i = 1; i < DEPTH; i++)); do
    cursor=$(curl -sf "http://127.0.0.1:3844/api/v1/books?limit=20${cursor:+&cursor=$cursor}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["nextCursor"] or "")')
  done
  measure "$pid" "$label" get_by_id "/api/v1/books/$id"
  measure "$pid" "$label" list_page1 "/api/v1/books?limit=20"
  measure "$pid" "$label" "list_page$DEPTH" "/api/v1/books?limit=20&cursor=$cursor"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
