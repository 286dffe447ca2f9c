#!/usr/bin/env bash
# Start a private, throw-away PostgreSQL server on 127.0.0.1 for the test suite and print its URL.
# Uses Debian's postgresql binaries; the data folder lives under /tmp and fsync is off (tests only).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ]; then
  echo "pg_test_server: Debian's postgresql is not installed (apt-get install postgresql)" >&2
  exit 3
fi
DIR=${PGTEST_DIR:-/tmp/socialcrm-pgtest}
PORT=${PGTEST_PORT:-55432}
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres"
as_pg() {
  if [ "$(id -u)" = "0" ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
if [ -f "$DIR/data/postmaster.pid" ] && as_pg "'$PGBIN/pg_ctl' -D '$DIR/data' status" >/dev/null 2>&1; then
  echo "$URL"
  exit 0
fi
rm -rf "$DIR"
mkdir -p "$DIR"
[ "$(id -u)" = "0" ] && chown postgres "$DIR"
as_pg "'$PGBIN/initdb' -D '$DIR/data' -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
as_pg "'$PGBIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -t 60 start \
  -o \"-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories='$DIR' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\"" >/dev/null \
  || { cat "$DIR/server.log" >&2; exit 1; }
echo "$URL"
