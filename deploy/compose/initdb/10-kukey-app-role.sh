#!/bin/sh
# Runs once, when the database volume is new (the postgres image's /docker-entrypoint-initdb.d): the role
# kukey's replicas run as. It owns nothing and gets its rights from grants.sql after each `kukey db upgrade`.
set -eu
password="$(cat /run/secrets/kukey-app-password)"
psql -v ON_ERROR_STOP=1 -v password="$password" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE kukey_app LOGIN PASSWORD :'password';
SQL
