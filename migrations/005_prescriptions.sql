-- Prescription fulfillment (seed 000). PHI (names, birth dates, addresses) lives here and nowhere
-- else: not in Temporal (payloads are encrypted), not in logs, not in the events we emit.

CREATE TABLE IF NOT EXISTS patients (
  patient_id     text        PRIMARY KEY,
  full_name      text        NOT NULL,
  date_of_birth  date        NOT NULL,
  address        jsonb       NOT NULL,
  payer_id       text        NOT NULL,
  member_id      text        NOT NULL,
  enrolled_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per prescription; each step fills in its columns.
CREATE TABLE IF NOT EXISTS prescriptions (
  prescription_id     text        PRIMARY KEY,
  patient_id          text        NOT NULL,
  medication_ndc      text        NOT NULL,
  quantity            integer     NOT NULL,
  prescriber_npi      text        NOT NULL,
  status              text        NOT NULL,
  validation_problems text[],
  pharmacy_id         text,
  claim_id            text        UNIQUE,
  copay_cents         integer,
  payment_link_id     text        UNIQUE,
  payment_id          text        UNIQUE,
  tracking_number     text        UNIQUE,
  delivered_at        timestamptz,
  correlation_id      text,
  received_at         timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- HIPAA audit log: one row per completed step, written in the same transaction as the step's data.
-- Append-only, enforced here and not by the application's good manners: these triggers make UPDATE,
-- DELETE and TRUNCATE fail for every role, and the application role (migrations/009) may only SELECT
-- and INSERT. The table's owner (pipelines_owner) and a superuser can still bypass the triggers
-- (ALTER TABLE ... DISABLE TRIGGER, DROP TRIGGER, session_replication_role = replica): only the
-- migrations run as the owner, and nothing as a superuser (README, "Security model").
CREATE TABLE IF NOT EXISTS prescription_audit_log (
  id              bigserial   PRIMARY KEY,
  prescription_id text        NOT NULL,
  step            text        NOT NULL,
  outcome         text        NOT NULL,
  -- Who: the service and the workflow run that acted.
  actor           text        NOT NULL,
  workflow_id     text,
  run_id          text,
  -- What, without PHI: identifiers and decisions only.
  detail          jsonb       NOT NULL DEFAULT '{}',
  correlation_id  text,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  -- A retried step finds its row and writes no second one.
  UNIQUE (prescription_id, step)
);

CREATE OR REPLACE FUNCTION prescription_audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'prescription_audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS prescription_audit_log_no_update_or_delete ON prescription_audit_log;
CREATE TRIGGER prescription_audit_log_no_update_or_delete
  BEFORE UPDATE OR DELETE ON prescription_audit_log
  FOR EACH ROW EXECUTE FUNCTION prescription_audit_log_is_append_only();

DROP TRIGGER IF EXISTS prescription_audit_log_no_truncate ON prescription_audit_log;
CREATE TRIGGER prescription_audit_log_no_truncate
  BEFORE TRUNCATE ON prescription_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION prescription_audit_log_is_append_only();

-- PUBLIC may not change rows either; what the application role may do is in migrations/009.
REVOKE UPDATE, DELETE, TRUNCATE ON prescription_audit_log FROM PUBLIC;
