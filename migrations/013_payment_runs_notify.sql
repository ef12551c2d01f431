-- The payment API only writes the ledger: the bridges process starts the accepted payments' runs
-- (src/bridges/payment-runs.ts), listening on this channel to start each at once rather than at
-- its next look (every 5 s, for a notification missed while it was reconnecting). A row carries
-- its run's order (migration 008) until Temporal has acknowledged the start.
CREATE OR REPLACE FUNCTION notify_payment_run_waiting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('payment_runs', '');
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS payment_run_waiting ON payments;
CREATE TRIGGER payment_run_waiting
  AFTER INSERT OR UPDATE OF run_order ON payments
  FOR EACH ROW WHEN (NEW.run_order IS NOT NULL)
  EXECUTE FUNCTION notify_payment_run_waiting();
