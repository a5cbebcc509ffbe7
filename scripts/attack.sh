#!/usr/bin/env bash
# Attack drills against a generated service (specs/bookstore.yaml on SQLite, release
# build, default settings unless named below). Prints `attack: <measure> <value>` lines and
# `attack: PASS|FAIL <check>`; exits 1 if any check failed.
#
#   1. sign-in flood: 200 concurrent logins (argon2id, 19 MiB each). The service hashes at
#      most PASSWORD_HASH_CONCURRENCY (default: the cores) at once and answers the rest 503
#      with Retry-After at once. Measured: the peak resident memory of the process (VmHWM)
#      against its resident memory before, and how many logins got 200 and 503.
#      Check: the peak stays under 300 MB.
#   2. slowloris: 1,000 connections each sending a request line, then one header line every
#      2 s and never the blank line that ends the header. Measured: how long the service
#      keeps them (it closes a connection HEADER_READ_TIMEOUT_SECS after it opened, 10 s by
#      default) and whether a normal request is served during the attack.
#      Checks: every dripping connection is closed within HEADER_READ_TIMEOUT_SECS + 5 s,
#      and the normal request answers 200.
#
# Usage: scripts/attack.sh   Needs: curl, python3.
set -euo pipefail
ulimit -n 8192 2>/dev/null || true
cd "$(dirname "$0")/.."
. scripts/service.sh
W=${BENCH_DIR:-$PWD/target/bench}
mkdir -p "$W"
failed=0
check() {  # name condition-exit-code
  if [ "$2" -eq 0 ]; then echo "attack: PASS $1"; else echo "attack: FAIL $1"; failed=1; fi
}
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

build_apigen
rm -rf "$W/attack"
"$APIGEN" new "$W/attack" --spec specs/bookstore.yaml >/dev/null
(cd "$W/attack" && CARGO_TARGET_DIR=$W/t-gen cargo build --release --quiet)
BIN=$W/attack-bookstore
cp "$W/t-gen/release/bookstore" "$BIN"
rm -f "$W/attack.db"*
export DATABASE_URL=sqlite://$W/attack.db PORT=3822
export JWT_SECRET=attack-secret-attack-secret-attack-secret-0123
# The sign-in bucket is per client address: open it, so the flood meets the hashing limit
# rather than the rate limit.
export AUTH_RATE_LIMIT_PER_MINUTE=100000 AUTH_RATE_LIMIT_BURST=100000
BASE=http://127.0.0.1:$PORT
: > "$W/attack.log"
"$BIN" serve >>"$W/attack.log" 2>&1 &
pid=$!
wait_http "$BASE/readyz"
admin_token "$BIN" "$BASE" /api/v1/auth >/dev/null

# 1. Sign-in flood.
before=$(rss_kb "$pid")
codes=$(python3 - "$PORT" <<'PY'
import socket, sys, threading
port = int(sys.argv[1])
body = b'{"email":"admin@bench.test","password":"bench-password-123"}'
request = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
conns = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(200)]
codes = [None] * len(conns)
def send(i, c):
    c.sendall(request)
    data = b""
    try:
        while chunk := c.recv(65536):
            data += chunk
    except OSError:
        pass
    line = data.split(b"\r\n", 1)[0].split()
    codes[i] = line[1].decode() if len(line) > 1 else "none"
threads = [threading.Thread(target=send, args=(i, c)) for i, c in enumerate(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(" ".join(codes))
PY
)
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
after=$(rss_kb "$pid")
ok=$(echo "$codes" | tr ' ' '\n' | grep -c '^200$' || true)
busy=$(echo "$codes" | tr ' ' '\n' | grep -c '^503$' || true)
echo "attack: signin_flood logins 200"
echo "attack: signin_flood answered_200 $ok"
echo "attack: signin_flood answered_503 $busy"
echo "attack: signin_flood rss_before_kb $before"
echo "attack: signin_flood peak_rss_kb $peak"
echo "attack: signin_flood rss_after_kb $after"
check "every sign-in is answered 200 or 503" "$([ $((ok + busy)) = 200 ] && echo 0 || echo 1)"
check "peak memory stays under 300 MB" "$([ "$peak" -lt 307200 ] && echo 0 || echo 1)"

# 2. Slowloris.
timeout=${HEADER_READ_TIMEOUT_SECS:-10}
read -r closed kept p50 p100 normal < <(python3 - "$PORT" "$timeout" <<'PY'
import selectors, socket, sys, time, urllib.request
port, limit = int(sys.argv[1]), float(sys.argv[2])
sel = selectors.DefaultSelector()
opened = {}
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    opened[s] = time.monotonic()
start = time.monotonic()
closed_after = []
normal = "none"
next_drip = start + 2
while opened and time.monotonic() - start < limit + 5:
    now = time.monotonic()
    if normal == "none" and now - start > 1:
        try:
            normal = str(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status)
        except Exception as e:
            normal = "error"
    if now >= next_drip:
        for s in list(opened):
            try:
                s.send(b"X-Drip: 1\r\n")
            except OSError:
                pass
        next_drip = now + 2
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed_after.append(time.monotonic() - opened.pop(s))
            sel.unregister(s)
            s.close()
closed_after.sort()
p50 = closed_after[len(closed_after) // 2] if closed_after else -1
p100 = closed_after[-1] if closed_after else -1
print(len(closed_after), len(opened), round(p50, 2), round(p100, 2), normal)
PY
)
echo "attack: slowloris connections 1000"
echo "attack: slowloris closed $closed"
echo "attack: slowloris still_open_after_$((timeout + 5))s $kept"
echo "attack: slowloris closed_after_median_s $p50"
echo "attack: slowloris closed_after_max_s $p100"
echo "attack: slowloris normal_request_during_attack $normal"
check "every dripping connection is closed within $((timeout + 5)) s" "$([ "$kept" = 0 ] && echo 0 || echo 1)"
check "a normal request is served during the attack" "$([ "$normal" = 200 ] && echo 0 || echo 1)"
kill -0 "$pid" 2>/dev/null && alive=0 || alive=1
check "the process survived" "$alive"
check "no panic in the service log" "$(grep -q panicked "$W/attack.log" && echo 1 || echo 0)"
exit $failed
