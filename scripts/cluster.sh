#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for end-to-end tests and the demo. initdb refuses to run
# as root, so the cluster belongs to the unprivileged `postgres` user; it listens on loopback
# only, with trust authentication, and lives under /tmp.
#   scripts/cluster.sh start DIR PORT   -> prints the DSN
#   scripts/cluster.sh stop DIR
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
action=${1:?start|stop}
dir=${2:?cluster directory}

as_postgres() { runuser -u postgres -- "$@"; }

case "$action" in
start)
    port=${3:?port}
    # A run killed before its cleanup (SIGKILL, a lost session) leaves its server running on
    # the port: stop it rather than wipe its directory under it and fail on "port in use".
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_postgres "$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    as_postgres "$BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log"
    # pg_cron must be preloaded for the scheduling tests; its jobs run as background workers
    # because its default (libpq over TCP) meets Debian's password-requiring pg_hba.
    # RUST_BACKTRACE in the caller's environment would append Rust backtraces to every ERROR's
    # DETAIL: the cluster runs without it, as a production server does.
    # FreeTDS (tds_fdw) converts server text to ISO-8859-1 unless told otherwise, and fails on
    # anything outside it: the cluster's FreeTDS speaks UTF-8, as a DBA would configure it.
    printf '[global]\n\tclient charset = UTF-8\n' >"$dir/freetds.conf"
    chmod 644 "$dir/freetds.conf"
    as_postgres env -u RUST_BACKTRACE FREETDSCONF="$dir/freetds.conf" "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "\
        -p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir \
        -c shared_preload_libraries=pg_cron -c cron.database_name=postgres \
        -c cron.use_background_workers=on -c max_worker_processes=32 \
        -c fsync=off -c synchronous_commit=off" start >/dev/null || {
        # The caller's cleanup removes $dir: show why the server did not start first.
        echo "cluster.sh: PostgreSQL did not start on port $port; its log:" >&2
        cat "$dir/server.log" >&2 || true
        exit 1
    }
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_postgres "$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
