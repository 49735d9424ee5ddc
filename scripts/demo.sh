#!/usr/bin/env bash
# The demo: starts the bundled TDS test server (standing in for SQL Server), a throwaway
# PostgreSQL cluster with pgmig installed, and runs demo/demo.sql against it in psql.
# Everything it starts is stopped on exit. (Until pull_table lands the demo stops at ping, with
# debug builds; the pull demo will use release builds and generated tables.)
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
DEMO_DIR=/tmp/pgmig-demo-cluster
PG_PORT=${PGMIG_DEMO_PORT:-55436}
TDS_PORT=${PGMIG_DEMO_TDS_PORT:-51433}

step() { printf '\n==== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "build and install pgmig"
cargo pgrx install --pg-config "$PG_CONFIG"
cargo build -p pgmig-tds-server

tds_pid=
cleanup() {
    [ -n "$tds_pid" ] && kill "$tds_pid" 2>/dev/null || true
    bash scripts/cluster.sh stop "$DEMO_DIR"
}
trap cleanup EXIT

step "start the TDS test server on 127.0.0.1:$TDS_PORT"
ready=$(mktemp)
target/debug/pgmig-tds-server --listen "127.0.0.1:$TDS_PORT" --user loader \
    --password 'demo-Passw0rd' >"$ready" 2>&1 &
tds_pid=$!
for _ in $(seq 1 300); do
    grep -q "listening on" "$ready" && break
    kill -0 "$tds_pid" 2>/dev/null || { cat "$ready"; exit 1; }
    sleep 0.1
done
cat "$ready"

step "start a PostgreSQL 15 cluster on 127.0.0.1:$PG_PORT"
dsn=$(bash scripts/cluster.sh start "$DEMO_DIR" "$PG_PORT")

step "psql -f demo/demo.sql"
psql "$dsn" -X -v ON_ERROR_STOP=1 -v tds_port="$TDS_PORT" -f demo/demo.sql
