-- Records parked from a route whose events carry personal data (the prescription intake, PHI) are
-- kept encrypted and for a retention only (src/bridges/parked-events.ts): value_bytes holds the
-- value encrypted with the payload key ring (AES-256-GCM, as the payload codec) under value_key_id,
-- payload (the psql rendering) is NULL, and the bridge deletes the row once expires_at has passed.
-- Both are NULL for every other record, which is kept until someone deletes it.
ALTER TABLE parked_events
  ADD COLUMN value_key_id text,
  ADD COLUMN expires_at   timestamptz;
CREATE INDEX parked_events_expiry ON parked_events (expires_at) WHERE expires_at IS NOT NULL;

-- Intakes parked before this kept their value in clear, and no SQL can encrypt it. Their rendering
-- goes now; their bytes stay replayable until 30 days (the default retention) after they were parked.
UPDATE parked_events
   SET payload = NULL, expires_at = parked_at + interval '30 days'
 WHERE topic = 'prescription.intake.received' AND expires_at IS NULL;

-- The bridge, running as the application role, deletes what has expired; that role deletes nothing else.
DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pipelines_app') THEN GRANT DELETE ON parked_events TO pipelines_app; END IF; END $$;
