-- Kafka messages that can never become a workflow (unparseable, fail their schema, unknown type).
-- Replaces the legacy dead-letter topic: an operator sees the reason here and replays the message
-- after a fix with `npm run replay-parked -- <id>`. One row per Kafka record, however often it
-- is redelivered.
CREATE TABLE IF NOT EXISTS parked_events (
  id            bigserial PRIMARY KEY,
  topic         text        NOT NULL,
  kafka_partition integer   NOT NULL,
  kafka_offset  bigint      NOT NULL,
  message_key   text,
  headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
  payload       text,
  reason        text        NOT NULL,
  correlation_id text,
  parked_at     timestamptz NOT NULL DEFAULT now(),
  replayed_at   timestamptz,
  UNIQUE (topic, kafka_partition, kafka_offset)
);
CREATE INDEX IF NOT EXISTS parked_events_open ON parked_events (parked_at) WHERE replayed_at IS NULL;
