-- A prescription in a final status stays in it. Temporal keeps a closed run for the namespace's
-- retention (a day) and Kafka keeps the intake for seven: an intake delivered again in between
-- starts a new run. Its first step finds the prescription ended and the run ends as recorded
-- (validatePrescription); this is the backstop for any step that would still move the row (an old
-- payment link counting as expired over a delivery). Such an UPDATE fails with check_violation
-- (23514), which the workers make a non-retryable refusal (src/activities/invalid-data.ts): the
-- step's transaction rolls back, its audit row with it, and the step parks its run for a person.
-- DeliveryOverdue is not final: a later delivery may still change it. The final statuses are
-- finalFulfillmentStatuses in src/contracts/prescription.ts.

CREATE OR REPLACE FUNCTION prescriptions_final_status_is_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status IN ('Invalid', 'Ineligible', 'ClaimRejected', 'PaymentExpired', 'Delivered')
     AND NEW.status IS DISTINCT FROM OLD.status THEN
    -- The prescription ID is opaque (no PHI), so the message may travel into logs and the Web UI.
    RAISE EXCEPTION 'prescription % is %, a final status; it cannot become %', OLD.prescription_id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS prescriptions_keep_final_status ON prescriptions;
CREATE TRIGGER prescriptions_keep_final_status
  BEFORE UPDATE ON prescriptions
  FOR EACH ROW EXECUTE FUNCTION prescriptions_final_status_is_kept();
