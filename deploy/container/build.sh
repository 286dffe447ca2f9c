#!/usr/bin/env bash
# Build the socialcrm container image: wheels first (with this machine's pip settings), then podman.
#   deploy/container/build.sh
# Environment: PYTHON (a Python 3.11 with pip; default .venv/bin/python), PODMAN (podman or docker),
# BASE_IMAGE (default docker.io/library/debian:bookworm-slim; deploy/container/debian-base.sh makes
# one with mmdebstrap where no registry is reachable), IMAGE (default localhost/socialcrm).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
PODMAN=${PODMAN:-podman}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
IMAGE=${IMAGE:-localhost/socialcrm}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' socialcrm/__init__.py)
CONTEXT=build/container

rm -rf "$CONTEXT"
mkdir -p "$CONTEXT"
# socialcrm and every dependency as wheels: the image installs from these alone (--no-index).
"$PYTHON" -m pip wheel --quiet --wheel-dir "$CONTEXT/wheelhouse" .
cp deploy/container/socialcrm.toml "$CONTEXT/"
# --format docker keeps the HEALTHCHECK (the OCI format has none).
"$PODMAN" build --format docker -f deploy/container/Containerfile --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -t "$IMAGE:$VERSION" -t "$IMAGE:latest" "$CONTEXT"
echo "built $IMAGE:$VERSION"
