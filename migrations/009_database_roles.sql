-- What the application role may do (issue 18). Every process connects as pipelines_app; this file,
-- like every migration, runs as pipelines_owner, which owns the tables (scripts/postgres/roles.sql
-- creates both roles and gives the owner the tables made before it existed). The application role is
-- no superuser and owns nothing here, so it cannot turn the audit log's triggers off: ALTER TABLE,
-- DROP TRIGGER and SET session_replication_role are the owner's or a superuser's alone.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipelines_app') THEN
    RAISE EXCEPTION 'role pipelines_app does not exist: create the roles first (scripts/postgres/roles.sql)';
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO pipelines_app;

-- What the processes do: read, add and update rows. None truncates, and none deletes but the bridge
-- its expired parked records (granted by migration 011).
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO pipelines_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO pipelines_app;
-- The migrations' own bookkeeping is the owner's.
REVOKE ALL ON schema_migrations FROM pipelines_app;
-- The audit log: read and append, nothing else.
REVOKE ALL ON prescription_audit_log FROM pipelines_app;
GRANT SELECT, INSERT ON prescription_audit_log TO pipelines_app;

-- Tables and sequences later migrations create get the same, unless the migration says otherwise
-- (an append-only table revokes UPDATE from pipelines_app at its end).
ALTER DEFAULT PRIVILEGES FOR ROLE pipelines_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO pipelines_app;
ALTER DEFAULT PRIVILEGES FOR ROLE pipelines_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO pipelines_app;
