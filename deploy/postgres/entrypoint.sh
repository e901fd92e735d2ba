#!/bin/sh
# Entrypoint of the azr PostgreSQL image: create the cluster on first start, then run the server.
#
# Settings (the names the official postgres image uses, so compose files carry over):
#   POSTGRES_USER (default azr)       superuser and owner of the database
#   POSTGRES_DB (default POSTGRES_USER)
#   POSTGRES_PASSWORD_FILE            file whose first line is the password (a compose secret);
#                                     required, and must be readable by uid 10004
#   PGDATA (default /var/lib/postgresql/data)
# Clients on the network authenticate with scram-sha-256; the unix socket (in the container only,
# on a tmpfs) trusts local processes, as the official image does.
set -eu

die() { echo "azr-postgres: ERROR: $*" >&2; exit 1; }

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=azr}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

if [ "${1:-postgres}" != postgres ]; then
    exec "$@"
fi
shift

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=${POSTGRES_PASSWORD_FILE:-}
    [ -n "$pwfile" ] || die "POSTGRES_PASSWORD_FILE is not set; give the password as a compose secret"
    [ -r "$pwfile" ] || die "cannot read $pwfile as uid $(id -u): make it readable (chmod 0644, or group 10004)"
    [ -n "$(head -n 1 "$pwfile")" ] || die "$pwfile is empty: put the password on its first line"
    [ -w "$PGDATA" ] || die "$PGDATA is not writable by uid $(id -u)"
    echo "azr-postgres: creating the cluster in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$POSTGRES_DB" "$POSTGRES_USER" \
            | postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql -c jit=off "$@"
