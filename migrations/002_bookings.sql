-- Booking process (seed 004). Users are resolved by ID, email or username; rooms by internal ID.
CREATE TABLE IF NOT EXISTS users (
  id         bigserial PRIMARY KEY,
  user_ref   text NOT NULL UNIQUE,
  email      text UNIQUE,
  username   text UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS rooms (
  id          bigserial PRIMARY KEY,
  internal_id text NOT NULL UNIQUE,
  name        text
);

-- Exactly one row per booking: the unique booking_id makes a retried insert a no-op.
CREATE TABLE IF NOT EXISTS bookings (
  id               bigserial PRIMARY KEY,
  booking_id       text NOT NULL UNIQUE,
  user_id          bigint REFERENCES users (id),
  room_id          bigint REFERENCES rooms (id),
  guests           integer,
  start_date       timestamptz,
  end_date         timestamptz,
  payment_id       text,
  status           text NOT NULL CHECK (status IN ('Accepted', 'Cancelled', 'Rejected')),
  rejection_reason text,
  correlation_id   text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  cancelled_at     timestamptz,
  CHECK (status = 'Rejected' OR (user_id IS NOT NULL AND room_id IS NOT NULL))
);
