#!/usr/bin/env bash
# Build the image and smoke-test it with PostgreSQL through compose.yaml: the web app answers, the
# schema is migrated, a user can be added, and `socialcrm backup` reaches the database with pg_dump.
#   deploy/container/smoke-test.sh
# Where no registry is reachable: LOCAL_BASE=1 makes the Debian base with mmdebstrap and builds a
# PostgreSQL 15 stand-in from it (smoke/postgres.Containerfile). Needs podman and podman-compose
# (COMPOSE="docker compose" PODMAN=docker work too). Not part of `make test` or CI.
# Podman on a VM with hybrid cgroups (v1 controllers, hugetlb on v2: crun refuses "cgroups in hybrid
# mode") and without CAP_SYS_RESOURCE (podman's default RLIMIT_NOFILE cannot be set) needs runc and
# ulimits within the hard limits, e.g. with a containers.conf of its own:
#   printf '[containers]\ndefault_ulimits = ["nofile=1024:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' >c.conf
#   CONTAINERS_CONF=$PWD/c.conf LOCAL_BASE=1 deploy/container/smoke-test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PODMAN=${PODMAN:-podman}
COMPOSE=${COMPOSE:-podman-compose}
PORT=${SOCIALCRM_PORT:-18080}
PROJECT=socialcrm-smoke
if [ -n "${LOCAL_BASE:-}" ]; then
  export BASE_IMAGE=${BASE_IMAGE:-localhost/debian:bookworm}
  "$PODMAN" image exists "$BASE_IMAGE" || TAG="$BASE_IMAGE" deploy/container/debian-base.sh
  export POSTGRES_IMAGE=localhost/socialcrm-smoke-postgres:15
  "$PODMAN" build --format docker -f deploy/container/smoke/postgres.Containerfile \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$POSTGRES_IMAGE" deploy/container/smoke
fi
deploy/container/build.sh
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' socialcrm/__init__.py)

echo "== the image runs the CLI"
test "$("$PODMAN" run --rm localhost/socialcrm:latest --version)" = "socialcrm $VERSION"
"$PODMAN" run --rm localhost/socialcrm:latest check-config

echo "== compose: socialcrm with PostgreSQL"
export SOCIALCRM_DB_PASSWORD=smoke-$RANDOM$RANDOM SOCIALCRM_PORT=$PORT
compose() { $COMPOSE -p "$PROJECT" -f deploy/container/compose.yaml "$@"; }
trap 'compose logs >build/container/compose.log 2>&1 || true; compose down -v >/dev/null 2>&1 || true' EXIT
compose up -d
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
  sleep 2
done
curl -fsS "http://127.0.0.1:$PORT/healthz"
echo
curl -fsS -o /dev/null -w "login page: %{http_code}\n" "http://127.0.0.1:$PORT/login"
compose exec -T socialcrm socialcrm db current
echo "a-long-smoke-password" | compose exec -T socialcrm socialcrm user add smoke --role admin
compose exec -T socialcrm socialcrm check-config --show-origin | grep -F "env:SOCIALCRM_DATABASE__URL"
compose exec -T socialcrm socialcrm backup --output /var/lib/socialcrm
compose logs socialcrm >build/container/socialcrm.log 2>&1
grep -m1 '"logger": "socialcrm.daemon"' build/container/socialcrm.log   # JSON log lines
echo "smoke test passed"
