#!/usr/bin/env bash
# Run Docker Compose, whichever this machine has: the `docker compose` plugin (v2) or the
# standalone `docker-compose` (v1, what Debian 12 ships). Both read compose.yaml.
#   scripts/compose.sh up -d        scripts/compose.sh --profile postgres up
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
    exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
    exec docker-compose "$@"
fi
echo "compose.sh: neither 'docker compose' nor 'docker-compose' is installed (scripts/ensure-docker.sh installs it)" >&2
exit 1
