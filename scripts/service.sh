# Shared helpers for the scripts that run a generated service (bench.sh, faults.sh,
# conformance.sh). Source it; it defines functions only.
#
# Conventions: $APIGEN is the release apigen binary; services listen on 127.0.0.1:$PORT;
# every function fails loudly (non-zero, message on stderr) instead of carrying on.

# Builds the release apigen binary into the repository's own target dir and sets $APIGEN,
# unless $APIGEN already names an executable (the test suite passes its own build).
build_apigen() {
  if [ -n "${APIGEN:-}" ] && [ -x "$APIGEN" ]; then return 0; fi
  cargo build --release --quiet --target-dir "$PWD/target" || return 2
  APIGEN=$PWD/target/release/apigen
}

# wait_http URL [SECONDS]: waits until URL answers 200 (default 60 s).
wait_http() {
  local url=$1 limit=${2:-60} i
  for ((i = 0; i < limit * 10; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] && return 0
    sleep 0.1
  done
  echo "service at $url did not become ready in ${limit}s" >&2
  return 1
}

# json_field FIELD: reads a JSON answer on stdin and prints data.FIELD (or FIELD).
json_field() {
  python3 -c 'import sys, json
d = json.load(sys.stdin)
d = d.get("data", d) if isinstance(d, dict) and isinstance(d.get("data"), dict) else d
print(d[sys.argv[1]])' "$1"
}

# admin_token BIN BASE_URL AUTH_PREFIX: creates admin@bench.test with the service's own
# create-user command (same environment as the running service) and signs in; prints the
# access token.
admin_token() {
  local bin=$1 base=$2 prefix=$3
  NEW_USER_PASSWORD=bench-password-123 "$bin" create-user --email admin@bench.test --role admin >/dev/null 2>&1 || true
  curl -sf -X POST "$base$prefix/login" -H 'content-type: application/json' \
    -d '{"email":"admin@bench.test","password":"bench-password-123"}' | json_field accessToken
}

# seed_bookstore BASE_URL TOKEN COUNT: one author and COUNT books; prints one book id.
seed_bookstore() {
  local base=$1 token=$2 count=$3 author i id
  author=$(curl -sf -X POST "$base/api/v1/authors" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"Ursula K. Le Guin","email":"ursula@bench.test"}' | json_field id) || return 1
  for ((i = 0; i < count; i++)); do
    id=$(curl -sf -X POST "$base/api/v1/books" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' \
      -d "{\"title\":\"Book $i\",\"authorId\":\"$author\",\"priceCents\":$((1000 + i))}" | json_field id) || return 1
  done
  echo "$id"
}

# seed_deep_books BASE_URL TOKEN COUNT: one more author and COUNT books ("Deep N"), sent one
# after another over one keep-alive connection. One after another on purpose: rows written
# by concurrent clients land on interleaved heap pages (PostgreSQL extends a table for each
# inserting backend), so a deep page's 20 rows would sit on ~10 pages while page 1's (seeded
# one by one) sit on one, and a depth benchmark would measure that layout, not the depth.
seed_deep_books() {
  local base=$1 token=$2 count=$3 author
  author=$(curl -sf -X POST "$base/api/v1/authors" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"Octavia E. Butler","email":"octavia@bench.test"}' | json_field id) || return 1
  python3 - "$base" "$token" "$count" "$author" <<'PY'
import http.client, json, sys, urllib.parse
base, token, count, author = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
for i in range(1, count + 1):
    body = json.dumps({"title": f"Deep {i}", "authorId": author, "priceCents": i})
    conn.request("POST", "/api/v1/books", body, headers)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 201:
        sys.exit(f"seed_deep_books: book {i} answered {answer.status}")
PY
}

# rss_kb PID: resident set size of a process in KiB.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
