-- Who may read payloads through the codec server (src/codec-server), their sessions, and a row for
-- every decode and every refusal. Managed with `npm run codec-operators`.

-- One row per person. Only a scrypt hash of the credential is stored; the credential itself is
-- printed once, to the person it belongs to.
CREATE TABLE IF NOT EXISTS codec_operators (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  -- 'decode' reads payloads; 'encode' also writes them (what the Web UI does when someone edits a signal's input).
  roles text[] NOT NULL CHECK (roles <@ ARRAY['decode', 'encode']::text[] AND cardinality(roles) > 0),
  credential_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  credential_rotated_at timestamptz NOT NULL DEFAULT now()
);

-- Browser sessions from /login. The cookie holds a random ID; only its SHA-256 is stored, so a
-- copy of this table signs nobody in. A session ends at the first of: idle too long, too old,
-- revoked (/logout, or the operator's credential rotated or removed).
CREATE TABLE IF NOT EXISTS codec_sessions (
  id_hash text PRIMARY KEY,
  operator text NOT NULL REFERENCES codec_operators (name) ON DELETE CASCADE,
  remote_address text,
  created_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS codec_sessions_operator ON codec_sessions (operator);

-- Every /decode and /encode, and every refusal (a failed sign-in included): who, when, from where,
-- for which namespace, how many payloads, and what came of it. Never a payload or a credential.
CREATE TABLE IF NOT EXISTS codec_access_audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  -- The signed-in operator, or on a refused attempt the name it claimed (NULL when none).
  operator text,
  authenticated boolean NOT NULL,
  remote_address text,
  -- The Web UI sends the namespace it shows (X-Namespace); the CLI does not.
  namespace text,
  route text NOT NULL,
  payloads integer,
  outcome text NOT NULL,
  http_status integer NOT NULL
);
CREATE INDEX IF NOT EXISTS codec_access_audit_operator_at ON codec_access_audit (operator, at);

CREATE OR REPLACE FUNCTION codec_access_audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'codec_access_audit is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS codec_access_audit_no_update_or_delete ON codec_access_audit;
CREATE TRIGGER codec_access_audit_no_update_or_delete
  BEFORE UPDATE OR DELETE ON codec_access_audit
  FOR EACH ROW EXECUTE FUNCTION codec_access_audit_is_append_only();

DROP TRIGGER IF EXISTS codec_access_audit_no_truncate ON codec_access_audit;
CREATE TRIGGER codec_access_audit_no_truncate
  BEFORE TRUNCATE ON codec_access_audit
  FOR EACH STATEMENT EXECUTE FUNCTION codec_access_audit_is_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON codec_access_audit FROM PUBLIC;
DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipelines_app') THEN REVOKE UPDATE, DELETE, TRUNCATE ON codec_access_audit FROM pipelines_app; END IF; END $$;

-- Operators are managed as the owner (scripts/codec-operators.ts); the codec server, running as the
-- application role, only reads them, so no compromised process can add itself an operator.
DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipelines_app') THEN REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON codec_operators FROM pipelines_app; END IF; END $$;
