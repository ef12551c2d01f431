-- A prescription ships to the address captured for it at its enrollment, not to whatever the
-- patient's row says when its label is made: an intake for another prescription that names the
-- same patient with another address can no longer redirect this one's parcel
-- (createShippingLabel in src/activities/prescription.ts). PHI, like the patients table.
ALTER TABLE prescriptions ADD COLUMN IF NOT EXISTS shipping_address jsonb;

-- Prescriptions enrolled before this column existed ship where their patient's row says now,
-- which is where they would have shipped before; captured here so a later change cannot move them.
UPDATE prescriptions p
   SET shipping_address = pt.address
  FROM patients pt
 WHERE pt.patient_id = p.patient_id AND p.shipping_address IS NULL
   AND p.status NOT IN ('Valid', 'Invalid');

-- The key of each patient's demographic fingerprints (HMAC-SHA256, see src/activities/demographics.ts):
-- the audit log names which fields of a patient changed by fingerprints, and a fingerprint of a birth
-- date without a secret key could be reversed by trying every date. The key sits beside the values
-- it protects, so whoever can read it can read the values anyway. 32 bytes, 244 of them random
-- (two version-4 UUIDs: gen_random_uuid() is built in from PostgreSQL 13, pgcrypto is not).
ALTER TABLE patients ADD COLUMN IF NOT EXISTS fingerprint_key bytea NOT NULL
  DEFAULT (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
