#!/usr/bin/env bash
# The pull benchmark: `make bench [ROWS=1000000] [TABLE=posts|votes|votes,posts] [REPEAT=3]`.
# Starts the TDS test server with generated dbo.Posts and dbo.Votes of ROWS rows, a throwaway
# PostgreSQL 15 cluster with pgmig and tds_fdw, and runs scripts/bench.py, which measures
# PostgreSQL's own binary COPY (the ceiling), every pgmig mode and tds_fdw on the same rows and
# writes results under bench/results/. PROFILE=debug reuses the test build (CI's smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
BENCH_DIR=/tmp/pgmig-bench-cluster
# Ports below Linux's ephemeral range (32768-60999): a port inside it can be held by the local
# end of any outgoing connection (the bench smoke's 55438 was, twice, after the e2e tests).
PG_PORT=${PGMIG_BENCH_PORT:-25438}
TDS_PORT=${PGMIG_BENCH_TDS_PORT:-21438}
PROFILE=${PROFILE:-release}
export ROWS=${ROWS:-100000} TABLE=${TABLE:-votes,posts} REPEAT=${REPEAT:-3}
export RESULTS=${RESULTS:-bench/results}
export BENCH_TDS_PORT=$TDS_PORT BENCH_TDS_USER=bench BENCH_TDS_PASSWORD='bench-Passw0rd'

source scripts/lib.sh

step "setup"
bash scripts/setup.sh

step "build and install pgmig ($PROFILE)"
if [ "$PROFILE" = release ]; then
    cargo pgrx install --release --pg-config "$PG_CONFIG"
    cargo build --release -p pgmig-tds-server
else
    cargo pgrx install --pg-config "$PG_CONFIG"
    cargo build -p pgmig-tds-server
fi

tds_pid=
cleanup() {
    [ -n "$tds_pid" ] && kill "$tds_pid" 2>/dev/null || true
    bash scripts/cluster.sh stop "$BENCH_DIR"
}
trap cleanup EXIT

step "start the TDS test server with posts=$ROWS,votes=$ROWS"
start_tds_server "target/$PROFILE/pgmig-tds-server" --listen "127.0.0.1:$TDS_PORT" \
    --user "$BENCH_TDS_USER" --password "$BENCH_TDS_PASSWORD" --generate "posts=$ROWS,votes=$ROWS"

step "start a PostgreSQL 15 cluster on 127.0.0.1:$PG_PORT"
BENCH_DSN=$(bash scripts/cluster.sh start "$BENCH_DIR" "$PG_PORT")
export BENCH_DSN BENCH_TDS_PID=$tds_pid

step "measure"
python3 scripts/bench.py
