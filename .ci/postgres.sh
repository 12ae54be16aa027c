#!/usr/bin/env bash
# Install (if needed) and start a PostgreSQL server on loopback for the multi-worker optuna test
# (tests/test_zoo_postgres.py). Idempotent; run as root on Debian/Ubuntu (uses apt-get and the
# postgresql-common cluster tools). CI-only credentials: the server listens on 127.0.0.1/::1 only.
#
#   bash .ci/postgres.sh        # prints the URL, e.g. postgresql://sb3:sb3@127.0.0.1:5432/sb3_optuna
#
# Settings (environment): SB3_SPIKING_PG_USER (sb3), SB3_SPIKING_PG_PASSWORD (sb3),
# SB3_SPIKING_PG_DB (sb3_optuna), SB3_SPIKING_PG_PORT (5432). The test reads SB3_SPIKING_PG_URL,
# whose default is the URL below.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_USER=${SB3_SPIKING_PG_USER:-sb3}
PG_PASSWORD=${SB3_SPIKING_PG_PASSWORD:-sb3}
PG_DB=${SB3_SPIKING_PG_DB:-sb3_optuna}
PG_PORT=${SB3_SPIKING_PG_PORT:-5432}

if [ "$(id -u)" -ne 0 ]; then
    echo "postgres.sh: run as root (apt-get, pg_ctlcluster)" >&2
    exit 1
fi

# 1. server packages
if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)

# 2. a cluster on loopback
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {found = 1} END {exit !found}'; then
    pg_createcluster "$VERSION" main --port "$PG_PORT" >/dev/null
fi
CONF_PORT=$(pg_conftool -s "$VERSION" main show port 2>/dev/null || echo 5432)
CONF_LISTEN=$(pg_conftool -s "$VERSION" main show listen_addresses 2>/dev/null || echo "")
RESTART=0
if [ "$CONF_LISTEN" != "localhost" ]; then
    pg_conftool "$VERSION" main set listen_addresses localhost
    RESTART=1
fi
if [ "$CONF_PORT" != "$PG_PORT" ]; then
    pg_conftool "$VERSION" main set port "$PG_PORT"
    RESTART=1
fi

# 3. running
STATUS=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $4}')
if [ "$STATUS" = "online" ] && [ "$RESTART" = 1 ]; then
    pg_ctlcluster "$VERSION" main restart
elif [ "$STATUS" != "online" ]; then
    pg_ctlcluster "$VERSION" main start
fi
for _ in $(seq 60); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$PG_PORT"

# 4. role and database
psql_admin() { runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != "1" ]; then
    psql_admin -c "CREATE ROLE \"$PG_USER\" LOGIN PASSWORD '$PG_PASSWORD'"
else
    psql_admin -c "ALTER ROLE \"$PG_USER\" LOGIN PASSWORD '$PG_PASSWORD'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]; then
    psql_admin -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
fi

# 5. a Python driver for optuna/SQLAlchemy (normally installed by the project's extras)
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import psycopg" 2>/dev/null && ! .venv/bin/python -c "import psycopg2" 2>/dev/null; then
    .venv/bin/pip install -q "psycopg[binary]"
fi

URL="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -qtAc "SELECT 'PostgreSQL ' || current_setting('server_version') || ' ready: $URL'"
