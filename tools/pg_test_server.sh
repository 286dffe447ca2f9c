#!/usr/bin/env bash
# Start or stop a private, throw-away PostgreSQL server on 127.0.0.1 for the test suite.
#
#   tools/pg_test_server.sh             start a server in a new folder under /tmp on a free port; print its URL
#   tools/pg_test_server.sh stop DIR    stop the server started in DIR and remove DIR
#   tools/pg_test_server.sh restart DIR [SECONDS]
#                                       restart the server started in DIR (same port and options),
#                                       staying down SECONDS (default 0) in between
#
# PGTEST_DIR and PGTEST_PORT choose the folder and port instead; a server already running in an
# explicitly chosen PGTEST_DIR is reused. Uses Debian's postgresql binaries; fsync is off (tests only).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ]; then
  echo "pg_test_server: Debian's postgresql is not installed (apt-get install postgresql)" >&2
  exit 3
fi
as_pg() {
  if [ "$(id -u)" = "0" ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
url_for_port() { echo "postgresql+psycopg://postgres@127.0.0.1:$1/postgres"; }
free_port() {
  ${PYTHON:-python3} -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ "${1:-}" = "stop" ]; then
  DIR=${2:?usage: pg_test_server.sh stop DIR}
  if [ -f "$DIR/data/postmaster.pid" ]; then
    as_pg "'$PGBIN/pg_ctl' -D '$DIR/data' -m immediate -w stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
  exit 0
fi

if [ "${1:-}" = "restart" ]; then
  DIR=${2:?usage: pg_test_server.sh restart DIR [SECONDS]}
  if [ "${3:-0}" != "0" ]; then
    as_pg "'$PGBIN/pg_ctl' -D '$DIR/data' -m fast -w -t 60 stop" >/dev/null
    sleep "$3"
  fi
  # restart reuses the options of the last start (postmaster.opts), also when the server is down.
  as_pg "'$PGBIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -m fast -w -t 60 restart" >/dev/null 2>&1
  exit 0
fi

if [ -n "${PGTEST_DIR:-}" ]; then
  DIR=$PGTEST_DIR
  if [ -f "$DIR/data/postmaster.pid" ] && as_pg "'$PGBIN/pg_ctl' -D '$DIR/data' status" >/dev/null 2>&1; then
    url_for_port "$(sed -n 4p "$DIR/data/postmaster.pid")"  # line 4 of postmaster.pid is the port
    exit 0
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
else
  DIR=$(mktemp -d /tmp/socialcrm-pgtest.XXXXXX)
fi
[ "$(id -u)" = "0" ] && chown postgres "$DIR"
as_pg "'$PGBIN/initdb' -D '$DIR/data' -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8" >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
# A free port can be taken between choosing and binding it: try a few.
for attempt in 1 2 3 4 5; do
  PORT=${PGTEST_PORT:-$(free_port)}
  if as_pg "'$PGBIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -t 60 start \
    -o \"-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories='$DIR' -c fsync=off \
    -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\"" >/dev/null; then
    url_for_port "$PORT"
    exit 0
  fi
  [ -n "${PGTEST_PORT:-}" ] && break
done
cat "$DIR/server.log" >&2
exit 1
