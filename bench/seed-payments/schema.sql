-- Seed 002's transactional outbox, for the seed-style payment service of `npm run bench:payments`
-- (in its own database, beside the `payments` table of migration 007): the API writes a command
-- here in the transaction that writes the payment, the command worker an announcement in the one
-- that records the charge, and the outbox worker publishes what is unpublished every 5 s.
CREATE TABLE IF NOT EXISTS outbox_events (
  id              bigserial   PRIMARY KEY,
  topic           text        NOT NULL,
  event_key       text        NOT NULL,
  payload         jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  published_at    timestamptz,
  -- The seed retries a failed publish with exponential backoff, 5 attempts, then leaves it for the DLQ.
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text
);
CREATE INDEX IF NOT EXISTS outbox_events_unpublished ON outbox_events (id) WHERE published_at IS NULL;
