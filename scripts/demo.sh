#!/usr/bin/env bash
# The demo: starts the bundled TDS test server (standing in for SQL Server), a throwaway
# PostgreSQL cluster with pgmig installed, and runs demo/demo.sql against it in psql.
# The server serves a generated StackOverflow-like dbo.Posts (DEMO_POSTS rows, ~1 KB bodies);
# the demo pulls it with progress NOTICEs and prints the summary. Release builds: the demo shows
# real speed. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
DEMO_DIR=/tmp/pgmig-demo-cluster
# Ports below Linux's ephemeral range (32768-60999): a port inside it can be held by the local
# end of any outgoing connection (the bench smoke's 55438 was, twice, after the e2e tests).
PG_PORT=${PGMIG_DEMO_PORT:-25436}
TDS_PORT=${PGMIG_DEMO_TDS_PORT:-21433}
DEMO_POSTS=${DEMO_POSTS:-200000}

source scripts/lib.sh

step "setup"
bash scripts/setup.sh

step "build and install pgmig"
cargo pgrx install --release --pg-config "$PG_CONFIG"
cargo build --release -p pgmig-tds-server

tds_pid=
cleanup() {
    [ -n "$tds_pid" ] && kill "$tds_pid" 2>/dev/null || true
    bash scripts/cluster.sh stop "$DEMO_DIR"
}
trap cleanup EXIT

step "start the TDS test server on 127.0.0.1:$TDS_PORT"
start_tds_server "target/release/pgmig-tds-server" --listen "127.0.0.1:$TDS_PORT" \
    --user loader --password 'demo-Passw0rd' --generate "posts=$DEMO_POSTS,votes=$DEMO_POSTS"

step "start a PostgreSQL 15 cluster on 127.0.0.1:$PG_PORT"
dsn=$(bash scripts/cluster.sh start "$DEMO_DIR" "$PG_PORT")

step "psql -f demo/demo.sql"
psql "$dsn" -X -v ON_ERROR_STOP=1 -v tds_port="$TDS_PORT" -f demo/demo.sql
