#!/usr/bin/env bash
# Installs what building and testing pgmig needs on Debian 12, as root, from the package
# registries only. Idempotent: a second run installs nothing and takes a second.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config libssl-dev
              sudo freetds-bin postgresql-15-tds-fdw postgresql-15-cron python3)

log() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh installs system packages: run it as root" >&2
    exit 1
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts a "main" cluster on 5432 on install; pgmig's scripts run their own clusters,
# so the packaged one is left as it is.

if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
    log "cargo-pgrx $PGRX_VERSION (about 6 minutes on 2 cores)"
    cargo install --locked cargo-pgrx --version "$PGRX_VERSION"
fi

if ! grep -qs "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    log "cargo pgrx init against the system PostgreSQL 15"
    cargo pgrx init --pg15 "$PG_CONFIG"
fi
