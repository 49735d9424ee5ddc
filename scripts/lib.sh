# Shared by demo.sh and bench.sh (sourced).

step() { printf '\n==== %s\n' "$*"; }

# start_tds_server BINARY ARGS...: starts the TDS test server in the background, sets tds_pid,
# and returns once it listens (its "listening on" line), or exits with its output.
start_tds_server() {
    local binary=$1
    shift
    local ready
    ready=$(mktemp)
    "$binary" "$@" >"$ready" 2>&1 &
    tds_pid=$!
    for _ in $(seq 1 600); do
        grep -q "listening on" "$ready" && break
        kill -0 "$tds_pid" 2>/dev/null || { cat "$ready"; exit 1; }
        sleep 0.1
    done
    cat "$ready"
}
