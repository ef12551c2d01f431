-- A parked record's bytes, exactly as they arrived. PostgreSQL text and jsonb refuse a NUL (the
-- first byte of every Confluent-framed Avro value), so such a record could not be parked and held
-- its partition forever; and the text was decoded lossily, so a replay was not the original record.
-- These columns are what a replay publishes. message_key, payload and headers stay as a rendering
-- for psql, with unprintable bytes written as \xNN.
-- header_names and header_values (one element per header, in order) are NULL when PostgreSQL
-- refused the record itself and only its coordinates and reason were kept.
ALTER TABLE parked_events
  ADD COLUMN key_bytes     bytea,
  ADD COLUMN value_bytes   bytea,
  ADD COLUMN header_names  bytea[],
  ADD COLUMN header_values bytea[];

-- Rows parked before this kept only the decoded text, which is what their replay always published.
UPDATE parked_events SET
  key_bytes     = convert_to(message_key, 'UTF8'),
  value_bytes   = convert_to(payload, 'UTF8'),
  header_names  = ARRAY(SELECT convert_to(h.name, 'UTF8') FROM jsonb_each_text(headers) AS h(name, value) ORDER BY h.name),
  header_values = ARRAY(SELECT convert_to(h.value, 'UTF8') FROM jsonb_each_text(headers) AS h(name, value) ORDER BY h.name);
