#!/usr/bin/env bash
# Build the local base image `azr-base:bookworm` (Debian bookworm, Python 3.11) without a registry.
#
# These machines can pull no image, so the images build FROM a base made here: debootstrap
# --variant=minbase with python3 and python3-venv, imported with `docker import`. Skipped when the
# image already exists (pass --force to rebuild). Users with a registry do not need this: the
# Dockerfiles default to the official python:3.11-slim image.
#
# Usage: scripts/build-base-image.sh [--force] [IMAGE]
set -euo pipefail

FORCE=0
if [[ ${1:-} == --force ]]; then FORCE=1; shift; fi
IMAGE=${1:-${AZR_BASE_IMAGE:-azr-base:bookworm}}
SUITE=${AZR_BASE_SUITE:-bookworm}
MIRROR=${AZR_DEBIAN_MIRROR:-}

log() { echo "build-base-image: $*" >&2; }

if [[ $FORCE -eq 0 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE exists; skipping (--force rebuilds)"
    exit 0
fi

if [[ -z $MIRROR ]]; then
    # Use the host's own Debian mirror: it is the one the host is known to reach.
    MIRROR=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '{print $2}' | grep -E '/debian/?$' | head -n 1 || true)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

ROOTFS=$(mktemp -d /tmp/azr-base.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

log "debootstrap $SUITE from $MIRROR (about a minute)"
# libseccomp2 for the executor's seccomp filter; ca-certificates so the trainer can reach a hub.
debootstrap --variant=minbase --include=python3,python3-venv,libseccomp2,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >/tmp/azr-debootstrap.log 2>&1 \
    || { tail -n 30 /tmp/azr-debootstrap.log >&2; log "ERROR: debootstrap failed"; exit 1; }

# Trim what a runtime image never uses: apt lists and caches, docs, man pages, locales.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/usr/share/doc/* \
    "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true

log "importing as $IMAGE"
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
log "built $IMAGE ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
