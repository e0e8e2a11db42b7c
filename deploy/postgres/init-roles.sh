#!/bin/sh
# Run by the postgres image on its first start (mounted into /docker-entrypoint-initdb.d/): the service users.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v projector_password="$CRISIS_PROJECTOR_DB_PASSWORD" -v query_password="$CRISIS_QUERY_DB_PASSWORD" \
  -f /etc/crisis/roles.sql
