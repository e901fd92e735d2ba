#!/usr/bin/env bash
# `make up`: start the services detached, wait until both answer, print their URLs and the token.
# A start that fails (compose up fails, or a service does not answer /readyz within
# AZR_UP_TIMEOUT_S, 180 s by default) is taken down again, so nothing is left running.
#   scripts/up.sh                   scripts/up.sh --profile postgres
set -euo pipefail
cd "$(dirname "$0")/.."
# Ports, bind address and token file as compose sees them (.env next to compose.yaml).
if [[ -f .env ]]; then set -a; . ./.env; set +a; fi
bind=${AZR_BIND_ADDRESS:-127.0.0.1}
host=$([[ $bind == 0.0.0.0 ]] && echo 127.0.0.1 || echo "$bind")
executor=http://$host:${AZR_EXECUTOR_PUBLISH_PORT:-8010}
buffer=http://$host:${AZR_BUFFER_PUBLISH_PORT:-8020}
timeout_s=${AZR_UP_TIMEOUT_S:-180}

fail() {
    echo "make up: $1; taking the stack down (nothing is left running)" >&2
    scripts/compose.sh "$@" ps >&2 || true
    scripts/compose.sh logs --tail 15 >&2 || true
    scripts/compose.sh down >&2 || true
    exit 1
}

scripts/compose.sh "$@" up -d || fail "compose up failed"
deadline=$((SECONDS + timeout_s))
for url in "$executor" "$buffer"; do
    until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' \
            "$url/readyz" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "$url/readyz did not answer within $timeout_s s"
        sleep 2
    done
done

tokens_file=${AZR_EXECUTOR_TOKENS_FILE:-deploy/compose/defaults/no-tokens}
executor_token=$(grep -v '^#' "$tokens_file" | grep -m1 . || true)
buffer_token=${AZR_BUFFER_TOKENS:-}
buffer_token=${buffer_token%%,*}
echo "executor: $executor   (gVisor; the API: docs/api.md)"
echo "buffer:   $buffer"
if [[ -z $executor_token && -z $buffer_token ]]; then
    echo "token:    none: both services accept any request on $bind"
    token_flag=""
elif [[ $executor_token == "$buffer_token" || -z $buffer_token || -z $executor_token ]]; then
    token=${executor_token:-$buffer_token}
    echo "token:    $token"
    token_flag=" --set api_token=$token"
else
    echo "tokens:   executor $executor_token, buffer $buffer_token (the trainer sends one api_token:"
    echo "          put one token in both lists)"
    token_flag=" --set api_token=..."
fi
echo "train against them:"
echo "  azr run --set executor_urls=[$executor] --set buffer_url=$buffer$token_flag"
echo "stop them: make down"
