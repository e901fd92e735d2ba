#!/usr/bin/env bash
# Run Docker Compose, whichever this machine has: the `docker compose` plugin (v2) or the
# standalone `docker-compose` (v1, what Debian 12 ships). Both read compose.yaml.
#   scripts/compose.sh up -d        scripts/compose.sh --profile postgres up
set -euo pipefail
cd "$(dirname "$0")/.."
# The executor's token file is a compose secret, which must exist: an empty one means no
# authentication (fine on 127.0.0.1; put one token per line there before exposing the port).
tokens=${AZR_EXECUTOR_TOKENS_FILE:-deploy/compose/secrets/executor_tokens}
if [[ ! -e $tokens ]]; then
    (umask 077 && mkdir -p "$(dirname "$tokens")" && : >"$tokens")
fi
# Compose checks every service's secret files, even those of profiles not started, so the
# PostgreSQL password file must exist too. An empty one is refused by the postgres container
# with a clear message, should the `postgres` profile be started without a password.
pg_password=${AZR_POSTGRES_PASSWORD_FILE:-deploy/compose/secrets/postgres_password}
if [[ ! -e $pg_password ]]; then
    (umask 077 && mkdir -p "$(dirname "$pg_password")" && : >"$pg_password")
fi
if docker compose version >/dev/null 2>&1; then
    exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
    exec docker-compose "$@"
fi
echo "compose.sh: neither 'docker compose' nor 'docker-compose' is installed (scripts/ensure-docker.sh installs it)" >&2
exit 1
