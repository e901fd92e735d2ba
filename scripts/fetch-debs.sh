#!/usr/bin/env bash
# Download Debian packages for an image build, resolved against the image's base, into a folder.
#
# The image builds run with --network=none (no registry, no index in the build), so the .deb files
# come from the host: apt computes what PACKAGE... needs beyond what BASE_IMAGE already has (its
# own dpkg status, copied out of the image) and downloads exactly those, with the host's apt
# sources. The Dockerfile then installs them with dpkg, offline. Skipped when OUTDIR already holds
# the set for this base image and package list.
#
# Usage: scripts/fetch-debs.sh OUTDIR BASE_IMAGE PACKAGE...
set -euo pipefail

log() { echo "fetch-debs: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -ge 3 ]] || die "usage: $0 OUTDIR BASE_IMAGE PACKAGE..."
OUTDIR=$1 BASE_IMAGE=$2
shift 2
command -v apt-get >/dev/null || die "needs apt-get (a Debian host) to fetch ${*}"

base_id=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null) \
    || die "base image $BASE_IMAGE not found: build it (scripts/build-base-image.sh) or pull it"
want="$base_id $*"
if [[ -f $OUTDIR/.stamp && $(cat "$OUTDIR/.stamp") == "$want" ]]; then
    exit 0
fi

WORK=$(mktemp -d /tmp/azr-debs.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cid=$(docker create "$BASE_IMAGE" true)
docker cp "$cid:/var/lib/dpkg/status" "$WORK/status" >/dev/null
docker rm "$cid" >/dev/null
mkdir -p "$WORK/archives/partial"

download() {
    apt-get -qq -o Dir::State::status="$WORK/status" -o Dir::Cache::archives="$WORK/archives" \
        -o Debug::NoLocking=1 -o APT::Sandbox::User=root install -y --download-only --no-install-recommends "$@" >&2
}
log "downloading $* (and what $BASE_IMAGE lacks for them)"
if ! download "$@"; then
    # A fresh machine may have no (or stale) package lists.
    log "refreshing apt's package lists"
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    download "$@" || die "could not download $*"
fi

rm -rf "$OUTDIR"
mkdir -p "$OUTDIR"
mv "$WORK"/archives/*.deb "$OUTDIR"/
echo "$want" >"$OUTDIR/.stamp"
log "$(ls "$OUTDIR"/*.deb | wc -l) packages, $(du -sh "$OUTDIR" | cut -f1) in $OUTDIR"
