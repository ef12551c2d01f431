-- Purchase-to-sessions process (seeds 001 and 003). The unique indexes are the seeds' own, so a
-- retried or redelivered step can never write a second row.

-- One row per confirmed payment; at most one active purchase per student and course.
CREATE TABLE IF NOT EXISTS student_course_purchases (
  id             bigserial PRIMARY KEY,
  payment_id     text        NOT NULL UNIQUE,
  student_id     text        NOT NULL,
  course_id      text        NOT NULL,
  is_active      boolean     NOT NULL DEFAULT true,
  confirmed_at   timestamptz NOT NULL,
  correlation_id text,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS student_course_purchases_one_active
  ON student_course_purchases (student_id, course_id) WHERE is_active;

-- The trainer the admin service allocated; allocation_id is the admin service's ID.
CREATE TABLE IF NOT EXISTS trainer_allocations (
  id             bigserial PRIMARY KEY,
  allocation_id  text        NOT NULL UNIQUE,
  purchase_id    bigint      NOT NULL REFERENCES student_course_purchases (id),
  student_id     text        NOT NULL,
  course_id      text        NOT NULL,
  trainer_id     text        NOT NULL,
  status         text        NOT NULL CHECK (status IN ('approved', 'active', 'ended')),
  correlation_id text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  ended_at       timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS trainer_allocations_one_current
  ON trainer_allocations (student_id, course_id) WHERE status IN ('approved', 'active');

-- The rolling window of sessions. The legacy cron failed on `column "start_date" does not exist`:
-- sessions are dated by scheduled_date + scheduled_time, and every query here uses exactly those.
CREATE TABLE IF NOT EXISTS sessions (
  id             bigserial PRIMARY KEY,
  allocation_id  text        NOT NULL REFERENCES trainer_allocations (allocation_id),
  student_id     text        NOT NULL,
  trainer_id     text        NOT NULL,
  scheduled_date date        NOT NULL,
  scheduled_time time        NOT NULL,
  status         text        NOT NULL DEFAULT 'scheduled',
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (allocation_id, scheduled_date, scheduled_time)
);
