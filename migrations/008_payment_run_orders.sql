-- The payment API answers 202 once the ledger row is written, without waiting for Temporal to start
-- the payment's run. So the row carries what that run needs until Temporal has acknowledged the
-- start: the order, card number included, encoded by the payload codec as Temporal's history holds
-- it (AES-256-GCM with the key ring, never in clear). Since migration 013 the bridges process
-- starts the run and clears it once Temporal acknowledged the start (src/bridges/payment-runs.ts).
ALTER TABLE payments ADD COLUMN IF NOT EXISTS run_order bytea;
CREATE INDEX IF NOT EXISTS payments_waiting_for_their_run ON payments (accepted_at) WHERE run_order IS NOT NULL;
