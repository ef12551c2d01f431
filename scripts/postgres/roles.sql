-- The database's two roles (issue 18): pipelines_owner runs the migrations and owns the tables;
-- pipelines_app is what every process connects as, with what migrations/009 grants it and no more.
-- Neither is a superuser. Run by a superuser in the application's database, with the passwords in
-- the files PIPELINES_OWNER_PASSWORD_FILE and PIPELINES_APP_PASSWORD_FILE name (read here, so they
-- never appear on a command line): by `scripts/stack.sh up` and docker-compose.yml's postgres-roles
-- job at every start, so a database from before the roles gets them too. Safe to run again.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\set owner_password `cat "$PIPELINES_OWNER_PASSWORD_FILE"`
\set app_password `cat "$PIPELINES_APP_PASSWORD_FILE"`

SELECT 'CREATE ROLE pipelines_owner' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipelines_owner') \gexec
SELECT 'CREATE ROLE pipelines_app' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipelines_app') \gexec
ALTER ROLE pipelines_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'owner_password';
ALTER ROLE pipelines_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'app_password';

-- Only the owner creates objects in public (PostgreSQL before 15 let every role do so): a function
-- the application role planted there could otherwise run with the owner's rights in a migration.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO pipelines_owner;
-- The application role's own schema, first on its default search_path ("$user", public): the
-- stand-ins for other companies' systems create their tables there, outside the owner's schema.
CREATE SCHEMA IF NOT EXISTS pipelines_app AUTHORIZATION pipelines_app;

-- A database from before the roles has its tables, sequences and functions owned by the superuser
-- that ran the migrations: they go to the owner (a sequence of a serial column goes with its table).
SELECT format('ALTER %s %I.%I OWNER TO pipelines_owner',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
              n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
\gexec
SELECT format('ALTER ROUTINE %s OWNER TO pipelines_owner', p.oid::regprocedure)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
\gexec
