#!/usr/bin/env bash
# Make sure a Docker engine with the gVisor runtime (`runsc`) and a Compose are ready on this host.
#
# Idempotent; run as root (or through sudo). On a Debian machine it installs what is missing from
# Debian's packages (docker.io, docker-compose, runsc, debootstrap), registers runsc in
# /etc/docker/daemon.json and starts dockerd when it is not running (in the background when the
# machine has no running systemd, as on these VMs). Prints nothing on success but one summary line.
#
# Why "--network=host" for runsc: gVisor's own network stack refuses to start on these nested VMs
# ("cannot run with network enabled in root network namespace"). With it, gVisor passes sockets
# through to the container's network namespace, which Docker still creates per container, so
# compose networks, internal networks and published ports keep working.
set -euo pipefail

log() { echo "ensure-docker: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

DAEMON_JSON=/etc/docker/daemon.json
SOCKET=/var/run/docker.sock
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/azr-dockerd.log}

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "needs root (or sudo) to install and start Docker"
    SUDO="sudo"
fi

have() { command -v "$1" >/dev/null 2>&1; }

compose_available() {
    docker compose version >/dev/null 2>&1 || have docker-compose
}

# -- 1. packages -----------------------------------------------------------------------------
missing=()
have dockerd || missing+=(docker.io)
have runsc || missing+=(runsc)
have debootstrap || missing+=(debootstrap)
compose_available || missing+=(docker-compose)
if ((${#missing[@]})); then
    have apt-get || die "Docker is not installed and this is not a Debian-like machine (no apt-get): install Docker Engine, Compose and gVisor (runsc) by hand, or set AZR_SKIP_COMPOSE=1 to skip the compose tests"
    log "installing ${missing[*]} from Debian's packages"
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi
RUNSC=$(command -v runsc)

# -- 2. register runsc -----------------------------------------------------------------------
# Merge into an existing daemon.json instead of overwriting the operator's settings.
want_config=$($SUDO python3 - "$DAEMON_JSON" "$RUNSC" <<'PY'
import json, os, sys
path, runsc = sys.argv[1], sys.argv[2]
conf = {}
if os.path.exists(path):
    with open(path) as f:
        text = f.read().strip()
    conf = json.loads(text) if text else {}
runtimes = conf.setdefault("runtimes", {})
want = {"path": runsc, "runtimeArgs": ["--network=host"]}
changed = runtimes.get("runsc") != want
runtimes["runsc"] = want
if changed:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
print("changed" if changed else "same")
PY
)

# -- 3. start dockerd ------------------------------------------------------------------------
daemon_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
    if [[ -d /run/systemd/system ]] && systemctl is-system-running >/dev/null 2>&1; then
        $SUDO systemctl restart docker >&2 || true
    else
        log "starting dockerd in the background (log: $DOCKERD_LOG)"
        $SUDO bash -c "nohup dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null &"
    fi
    for _ in $(seq 1 120); do
        daemon_up && return 0
        sleep 0.5
    done
    tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
    die "dockerd did not answer on $SOCKET within 60 s"
}

if daemon_up; then
    if [[ $want_config == changed ]] || ! docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then
        # dockerd reads new runtimes on SIGHUP; no restart needed, running containers survive.
        log "reloading dockerd to pick up the runsc runtime"
        $SUDO kill -HUP "$(cat /var/run/docker.pid)"
        for _ in $(seq 1 20); do
            docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && break
            sleep 0.5
        done
    fi
else
    start_dockerd
fi
docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' \
    || die "dockerd runs but has no runsc runtime; check $DAEMON_JSON"

log "ready: docker $(docker version --format '{{.Server.Version}}'), runtime runsc, $(docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)"
