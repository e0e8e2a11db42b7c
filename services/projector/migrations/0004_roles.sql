-- Least privilege: a writer group role for the projector and a read-only one for the query service.
--
-- They are NOLOGIN group roles: the LOGIN users the services connect as join them (deploy/postgres/roles.sql).
-- Roles belong to the whole server, so this is idempotent across databases and reruns, and a database owner
-- without CREATEROLE can still migrate: the roles are then left to the DBA (a NOTICE says so), and the grants
-- below are made to whichever of them exist.
-- Default privileges cover every table and sequence that later migrations create (they run as the same owner).

DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['crisis_writer', 'crisis_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION
                WHEN duplicate_object THEN NULL;  -- another database's migration created it meanwhile
                WHEN insufficient_privilege THEN
                    RAISE NOTICE 'cannot create role %: ask the DBA to run deploy/postgres/roles.sql', role_name;
            END;
        END IF;
    END LOOP;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'crisis_writer') THEN
        -- The projector writes rows and its checkpoints; it creates nothing (migrations run as the owner).
        GRANT USAGE ON SCHEMA public TO crisis_writer;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO crisis_writer;
        GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO crisis_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO crisis_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO crisis_writer;
    END IF;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'crisis_reader') THEN
        GRANT USAGE ON SCHEMA public TO crisis_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO crisis_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO crisis_reader;
    END IF;
END
$roles$;

-- Before PostgreSQL 15 every role may create tables in public; nobody but the owner should. (A no-op, with a
-- warning, where the owner does not own the schema.)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
