#!/usr/bin/env bash
# Every test of pgmig, from a fresh Debian 12 machine: installs what is missing, checks format
# and lints, then runs the four tiers (pure, TDS test server, #[pg_test], end-to-end over a
# client connection against a throwaway cluster) and a benchmark smoke run. Exits non-zero on
# the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
# Ports below Linux's ephemeral range (32768-60999): a port inside it can be held by the local
# end of any outgoing connection (the bench smoke's 55438 was, twice, after the e2e tests).
E2E_PORT=${PGMIG_E2E_PORT:-25435}
E2E_DIR=/tmp/pgmig-e2e-cluster
PGRX_TEST_DIR=/tmp/pgmig-pgrx-test

# `cargo pgrx test` builds the extension twice; this keeps the second build to one crate
# (shared/TOOLCHAIN.md).
export CARGO_PGRX_DISABLE_GC_SECTIONS_WORKAROUND=1

step() { printf '\n==== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "pure and TDS test server tests"
cargo test -p pgmig-core -p pgmig-tds-server

step "#[pg_test] (cargo pgrx test, cluster run as postgres)"
rm -rf "$PGRX_TEST_DIR"
mkdir -p "$PGRX_TEST_DIR"
chown postgres:postgres "$PGRX_TEST_DIR"
cargo pgrx test pg15 --runas postgres --pgdata "$PGRX_TEST_DIR/data"

step "end-to-end over a client connection"
cargo pgrx install --pg-config "$PG_CONFIG"
trap 'bash scripts/cluster.sh stop "$E2E_DIR"' EXIT
PGMIG_TEST_DSN=$(bash scripts/cluster.sh start "$E2E_DIR" "$E2E_PORT")
export PGMIG_TEST_DSN
cargo test -p pgmig-e2e

step "benchmark smoke run (10000 rows, debug build: keeps make bench working; no timing asserted)"
PROFILE=debug ROWS=10000 REPEAT=1 RESULTS=/tmp/pgmig-bench-smoke bash scripts/bench.sh
