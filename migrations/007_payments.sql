-- Payment process (seed 002). The ledger of payments the payment API accepted: one row per
-- Idempotency-Key, written by the API before it starts the payment's workflow, then moved on by the
-- workflow's steps. The unique keys are what make a repeated request, a retried step or a replayed
-- workflow write nothing twice: the key, the payment ID derived from it, and the provider's charge
-- ID (seed 001's `UNIQUE payments.provider_payment_id`). Card numbers are never stored: the last
-- four digits are.

CREATE TABLE IF NOT EXISTS payments (
  payment_id          text        PRIMARY KEY,
  idempotency_key     text        NOT NULL UNIQUE,
  -- SHA-256 of the request as accepted: the same key with another request is refused (409).
  request_fingerprint text        NOT NULL,
  purpose             text        NOT NULL CHECK (purpose IN ('course', 'copay')),
  student_id          text,
  course_id           text,
  prescription_id     text,
  link_id             text,
  amount_cents        integer     NOT NULL CHECK (amount_cents > 0),
  currency            text        NOT NULL,
  card_last4          text        NOT NULL,
  status              text        NOT NULL DEFAULT 'Accepted'
                                  CHECK (status IN ('Accepted', 'Charged', 'Declined', 'Refunded')),
  provider_payment_id text        UNIQUE,
  decline_code        text,
  provider_refund_id  text        UNIQUE,
  refund_reason       text,
  correlation_id      text,
  accepted_at         timestamptz NOT NULL DEFAULT now(),
  charged_at          timestamptz,
  refunded_at         timestamptz,
  CHECK (purpose <> 'course' OR (student_id IS NOT NULL AND course_id IS NOT NULL)),
  CHECK (purpose <> 'copay' OR (prescription_id IS NOT NULL AND link_id IS NOT NULL)),
  -- Charged and refunded payments name the provider's charge; a refund names the provider's refund.
  CHECK (status NOT IN ('Charged', 'Refunded') OR provider_payment_id IS NOT NULL),
  CHECK (status <> 'Refunded' OR provider_refund_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS payments_by_prescription ON payments (prescription_id) WHERE prescription_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_by_student_course ON payments (student_id, course_id) WHERE student_id IS NOT NULL;
