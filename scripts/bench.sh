#!/usr/bin/env bash
# Benchmarks; prints numbers, asserts nothing (the targets are in the README's performance
# section, next to the last numbers measured). Lines of the form
#   bench: <what> <value> <unit>
# are the results; everything else is progress on stderr.
#
# Usage: scripts/bench.sh [--quick]
#   1. apigen itself: wall time (best of 3) and peak memory of `inspect` and `new` on the
#      GitHub REST description (octokit) and on petstore (oas-examples 3.0).
#   2. Clean release build time of the generated bookstore (specs/bookstore.yaml, SQLite)
#      and of the hand-written baseline in benches/baseline, each in an empty target dir,
#      in alternating rounds (BUILD_ROUNDS, default 2)
#      (crates fetched beforehand, so downloads are not timed).
#   3. wrk on GET /api/v1/books/{id} and GET /api/v1/books?limit=20, generated service
#      (full middleware stack: auth guard, rate limiter with a limit it never reaches,
#      request logs at info, metrics, timeouts) and baseline on the same seeded database,
#      SQLite and PostgreSQL, in the same run: 5 alternating rounds of 10 s each, the
#      median round reported.
#   4. Keyset paging, generated service, both databases: with 10,000 more books seeded
#      (one after another, as page 1's were: see seed_deep_books in service.sh),
#      GET /api/v1/books?limit=20 (page 1) against page 500 of the same list (its cursor
#      found by walking the pages), alternating rounds; the ratio of page 500's req/s to
#      page 1's (target: at least 90 %).
#   On PostgreSQL, each seeding is followed by VACUUM ANALYZE, so no round runs while
#   autovacuum catches up with the rows just written.
# --quick: 1 round of 3 s and no clean builds (reuses the target dirs under $BENCH_DIR);
#   for trying the script.
# --build: only the clean builds (BUILD_ROUNDS alternating rounds each, default 2).
# --serve: only the services (3 and 4), at full length, without the clean builds.
# BENCH_DATABASES: the databases of 3 and 4, default "sqlite postgres".
# Needs: wrk and GNU time (Debian packages wrk, time), curl, python3, PostgreSQL on
# 127.0.0.1:5432 (PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres; the
# benchmark creates and drops its own database, apigen_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/service.sh
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
BUILD_ONLY=0; [ "${1:-}" = "--build" ] && BUILD_ONLY=1
SERVE_ONLY=0; [ "${1:-}" = "--serve" ] && SERVE_ONLY=1
BUILD_ROUNDS=${BUILD_ROUNDS:-2}
DURATION=$([ $QUICK = 1 ] && echo 3s || echo 10s)
ROUNDS=$([ $QUICK = 1 ] && echo 1 || echo 5)
# PostgreSQL: a database of its own (apigen_bench), dropped and created on each run.
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG=${PG_ADMIN%/*}/apigen_bench
CORPUS=${APIGEN_CORPUS:-$HOME/.cache/apigen-corpus}
W=${BENCH_DIR:-$PWD/target/bench}
mkdir -p "$W"
command -v wrk >/dev/null || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: install GNU time (apt-get install time)" >&2; exit 2; }
result() { echo "bench: $*"; }
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

build_apigen
bash corpus/fetch.sh "$CORPUS" >/dev/null

# 1. apigen wall time and peak memory.
measure_apigen() {  # name command...
  local name=$1; shift
  local best=999 mem=0 t m
  for _ in 1 2 3; do
    rm -rf "$W/apigen-out"
    /usr/bin/time -f '%e %M' -o "$W/time.txt" "$@" >/dev/null 2>&1 || { echo "bench: $name failed" >&2; return 1; }
    read -r t m < "$W/time.txt"
    best=$(python3 -c "print(min($best, $t))"); mem=$((m > mem ? m : mem))
  done
  result "apigen $name wall $best s"
  result "apigen $name peak_rss $((mem / 1024)) MB"
}
GITHUB=$CORPUS/octokit/package/generated/api.github.com.json
PETSTORE=$CORPUS/oas-examples/package/3.0/yaml/petstore.yaml
if [ $BUILD_ONLY = 0 ] && [ $SERVE_ONLY = 0 ]; then
measure_apigen "inspect github" "$APIGEN" inspect "$GITHUB"
measure_apigen "new github" "$APIGEN" new "$W/apigen-out" --spec "$GITHUB"
measure_apigen "inspect petstore" "$APIGEN" inspect "$PETSTORE"
measure_apigen "new petstore" "$APIGEN" new "$W/apigen-out" --spec "$PETSTORE"
fi

# 2. Projects and clean builds.
rm -rf "$W/gen-sqlite" "$W/gen-pg" "$W/base-pg-src"
"$APIGEN" new "$W/gen-sqlite" --spec specs/bookstore.yaml >/dev/null
"$APIGEN" new "$W/gen-pg" --spec specs/bookstore.yaml --database postgres >/dev/null
(cd "$W/gen-sqlite" && cargo fetch --quiet) && (cd benches/baseline && cargo fetch --quiet)
clean_build() {  # dir target [cargo args]
  local dir=$1 target=$2; shift 2
  rm -rf "$target"
  local start end
  start=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR=$target cargo build --release --quiet "$@")
  end=$(date +%s.%N)
  python3 -c "print(round($end - $start, 1))"
}
if [ $QUICK = 0 ] && [ $SERVE_ONLY = 0 ]; then
  # Alternating rounds, so a slow spell of the machine falls on both; the ratio is of the
  # means (one clean build each moved by 20 s between sessions).
  gen_all=() base_all=()
  for ((r = 1; r <= BUILD_ROUNDS; r++)); do
    gen_all+=("$(clean_build "$W/gen-sqlite" "$W/t-gen")")
    base_all+=("$(clean_build benches/baseline "$W/t-base")")
    echo "bench: build round $r: generated ${gen_all[-1]} s, baseline ${base_all[-1]} s" >&2
  done
  mean() { python3 -c "import sys; v = [float(x) for x in sys.argv[1:]]; print(round(sum(v) / len(v), 1))" "$@"; }
  gen_s=$(mean "${gen_all[@]}"); base_s=$(mean "${base_all[@]}")
  result "build generated_clean_release $gen_s s (mean of ${gen_all[*]})"
  result "build baseline_clean_release $base_s s (mean of ${base_all[*]})"
  result "build ratio $(python3 -c "print(round($gen_s / $base_s, 2))") x"
fi
[ $BUILD_ONLY = 1 ] && exit 0
(cd "$W/gen-sqlite" && CARGO_TARGET_DIR=$W/t-gen cargo build --release --quiet)
cp "$W/t-gen/release/bookstore" "$W/generated-sqlite"
(cd "$W/gen-pg" && CARGO_TARGET_DIR=$W/t-gen cargo build --release --quiet)
cp "$W/t-gen/release/bookstore" "$W/generated-pg"
(cd benches/baseline && CARGO_TARGET_DIR=$W/t-base cargo build --release --quiet)
cp "$W/t-base/release/baseline" "$W/baseline-sqlite"
(cd benches/baseline && CARGO_TARGET_DIR=$W/t-base cargo build --release --quiet --no-default-features --features postgres)
cp "$W/t-base/release/baseline" "$W/baseline-pg"

# 3. Throughput and latency.
export JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000
export AUTH_RATE_LIMIT_PER_MINUTE=100000 AUTH_RATE_LIMIT_BURST=100000
wrk_run() {  # label url: appends "rps p50 p99 errors" to $W/wrk-<label>
  local out rps p50 p99 errs
  out=$(wrk -t2 -c32 -d"$DURATION" --latency "$2")
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx/ {n += $NF} /Socket errors/ {n += 1} END {print n + 0}')
  echo "$rps $p50 $p99 $errs" >> "$W/wrk-$1"
  echo "bench: round $1 $rps req/s" >&2
}
# Prints the median round of a label (by req/s) and the errors of all its rounds; keeps the
# median's req/s in $W/median-<label> for the ratio.
wrk_report() {  # label
  python3 - "$W/wrk-$1" "$1" "$W/median-$1" <<'PY'
import sys
rounds = sorted((l.split() for l in open(sys.argv[1]) if l.strip()), key=lambda r: float(r[0]))
rps, p50, p99, _ = rounds[len(rounds) // 2]
open(sys.argv[3], "w").write(rps)
label = sys.argv[2].replace("_get", " get").replace("_list", " list")
print(f"bench: wrk {label} rps {rps} req/s (median of {len(rounds)}: {' '.join(r[0] for r in rounds)})")
print(f"bench: wrk {label} latency_p50 {p50}")
print(f"bench: wrk {label} latency_p99 {p99}")
print(f"bench: wrk {label} errors {sum(int(r[3]) for r in rounds)}")
PY
}
# Both services run side by side on the same database and take turns under load, round
# after round, so drift in the machine's speed (a shared VM's is large) falls on both.
bench_db() {  # db url generated-binary baseline-binary
  local db=$1 url=$2 gen=$3 base=$4 token id gpid bpid op path r
  export DATABASE_URL=$url PORT=3811
  "$gen" serve >"$W/gen-$db.log" 2>&1 & gpid=$!; pids+=("$gpid")
  wait_http "http://127.0.0.1:3811/readyz"
  token=$(admin_token "$gen" http://127.0.0.1:3811 /api/v1/auth)
  id=$(seed_bookstore http://127.0.0.1:3811 "$token" 200)
  settle "$db"
  PORT=3812 "$base" >"$W/base-$db.log" 2>&1 & bpid=$!; pids+=("$bpid")
  sleep 0.5; wait_http "http://127.0.0.1:3812/api/v1/books/$id"
  rm -f "$W"/wrk-* "$W"/median-*
  for ((r = 1; r <= ROUNDS; r++)); do
    for op in get list; do
      path=/api/v1/books/$id; [ $op = list ] && path="/api/v1/books?limit=20"
      wrk_run "generated_${db}_$op" "http://127.0.0.1:3811$path"
      wrk_run "baseline_${db}_$op" "http://127.0.0.1:3812$path"
    done
  done
  for op in get list; do
    wrk_report "generated_${db}_$op"
    wrk_report "baseline_${db}_$op"
    result "ratio $db $op $(python3 -c "print(round($(cat "$W/median-generated_${db}_$op") / $(cat "$W/median-baseline_${db}_$op") * 100, 1))") %_of_baseline_rps"
  done
  kill "$bpid"; wait "$bpid" 2>/dev/null || true
  deep_pages "$db" "$token"
  kill "$gpid"; wait "$gpid" 2>/dev/null || true
}
# PostgreSQL measured in its steady state: the rows just written vacuumed and analysed now,
# not by autovacuum in the middle of some round (whose plans would then change under it).
settle() {  # db
  [ "$1" = postgres ] && psql "$PG" -q -c 'VACUUM ANALYZE'
  return 0
}
# Page 1 against page 500 of GET /api/v1/books?limit=20 on the generated service at :3811.
deep_pages() {  # db token
  local db=$1 token=$2 cursor i r
  seed_deep_books http://127.0.0.1:3811 "$token" "$DEEP_ROWS"
  settle "$db"
  cursor=
  for ((i = 1; i < 500; i++)); do
    cursor=$(curl -sf "http://127.0.0.1:3811/api/v1/books?limit=20${cursor:+&cursor=$cursor}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta"]["nextCursor"] or "")')
    [ -n "$cursor" ] || { echo "bench: the list ended before page 500" >&2; return 1; }
  done
  rm -f "$W"/wrk-page*
  for ((r = 1; r <= ROUNDS; r++)); do
    wrk_run "page1_$db" "http://127.0.0.1:3811/api/v1/books?limit=20"
    wrk_run "page500_$db" "http://127.0.0.1:3811/api/v1/books?limit=20&cursor=$cursor"
  done
  wrk_report "page1_$db"
  wrk_report "page500_$db"
  result "ratio $db page500_to_page1 $(python3 -c "print(round($(cat "$W/median-page500_$db") / $(cat "$W/median-page1_$db") * 100, 1))") %"
}
DEEP_ROWS=${DEEP_ROWS:-10000}
for db in ${BENCH_DATABASES:-sqlite postgres}; do
  case $db in
    sqlite)
      rm -f "$W"/bench.db*
      bench_db sqlite "sqlite://$W/bench.db" "$W/generated-sqlite" "$W/baseline-sqlite" ;;
    postgres)
      psql "$PG_ADMIN" -q -c 'DROP DATABASE IF EXISTS apigen_bench' -c 'CREATE DATABASE apigen_bench'
      bench_db postgres "$PG" "$W/generated-pg" "$W/baseline-pg" ;;
    *) echo "bench: BENCH_DATABASES takes sqlite and postgres, not $db" >&2; exit 2 ;;
  esac
done
