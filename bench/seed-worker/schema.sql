-- The legacy idempotency table (seed 001): a worker records each event it handled, in the same
-- transaction as its writes, and skips an event whose ID is already here.
CREATE TABLE IF NOT EXISTS processed_events (
  event_id     text PRIMARY KEY,
  event_type   text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now()
);
