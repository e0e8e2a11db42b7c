-- The LOGIN users the services connect as, for a DBA (or the postgres image's first start) to run as a superuser
-- or a role with CREATEROLE:
--   psql -v projector_password=... -v query_password=... -f deploy/postgres/roles.sql
-- Migration 0004_roles creates the group roles (if it may) and grants them their rights; creating them here too
-- lets this run first. Migrations run as the database owner (`crisis migrate`), never as these users.
--   projector: CRISIS_DATABASE_URL=postgresql://crisis_projector:...@host/crisis   (reads and writes rows)
--   query:     CRISIS_DATABASE_URL=postgresql://crisis_query:...@host/crisis       (reads only)

SELECT 'CREATE ROLE crisis_writer NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crisis_writer') \gexec
SELECT 'CREATE ROLE crisis_reader NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crisis_reader') \gexec

SELECT format('CREATE ROLE crisis_projector LOGIN PASSWORD %L IN ROLE crisis_writer', :'projector_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crisis_projector') \gexec
SELECT format('CREATE ROLE crisis_query LOGIN PASSWORD %L IN ROLE crisis_reader', :'query_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crisis_query') \gexec
