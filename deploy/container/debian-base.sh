#!/usr/bin/env bash
# Make a Debian 12 base image with mmdebstrap (from Debian's package mirror) and import it into podman,
# for machines that reach Debian's packages but no image registry:
#   deploy/container/debian-base.sh && BASE_IMAGE=localhost/debian:bookworm deploy/container/build.sh
set -euo pipefail
PODMAN=${PODMAN:-podman}
TAG=${TAG:-localhost/debian:bookworm}
TARBALL=$(mktemp --suffix=.tar)
trap 'rm -f "$TARBALL"' EXIT
mmdebstrap --variant=minbase --include=ca-certificates bookworm "$TARBALL"
"$PODMAN" import --change 'CMD ["/bin/bash"]' "$TARBALL" "$TAG"
echo "imported $TAG"
