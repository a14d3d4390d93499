-- PostgreSQL migration 2: table service (one running tab per party at a table, staff calls,
-- counter settlements, tab payments from phones), table events in the event log, and the
-- restaurant settings that came with it. Idempotent: a database that got these tables from an
-- unreleased build of migration 1 goes through it unchanged.

-- Table service: a table session is one party's running tab, from its first order or staff
-- call until the owner closes it.
CREATE TABLE IF NOT EXISTS table_sessions (
    id            TEXT PRIMARY KEY,
    restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
    table_number  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('OPEN', 'CLOSED')),
    opened_at     BIGINT NOT NULL,
    last_order_at BIGINT,
    closed_at     BIGINT,
    closed_unpaid BIGINT NOT NULL DEFAULT 0,
    merged_into   TEXT REFERENCES table_sessions(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_table_sessions_open
    ON table_sessions(restaurant_id, table_number) WHERE status = 'OPEN';
CREATE INDEX IF NOT EXISTS idx_table_sessions_restaurant ON table_sessions(restaurant_id, status);
ALTER TABLE orders ADD COLUMN IF NOT EXISTS table_session_id TEXT REFERENCES table_sessions(id);
-- The day's history.
CREATE INDEX IF NOT EXISTS idx_orders_day ON orders(restaurant_id, business_day, created_at);
-- PREPAY orders whose payment never came, for the sweep that cancels them.
CREATE INDEX IF NOT EXISTS idx_orders_awaiting_payment ON orders(created_at)
    WHERE status = 'PENDING' AND payment_status = 'PENDING' AND payment_mode = 'PREPAY';
-- Covers the sums every table event carries.
CREATE INDEX IF NOT EXISTS idx_orders_session
    ON orders(table_session_id, status, payment_status, payment_mode, total_amount);
ALTER TABLE guests ADD COLUMN IF NOT EXISTS table_session_id TEXT REFERENCES table_sessions(id);
-- Guests who scanned an empty table: the party that opens there next takes them in.
CREATE INDEX IF NOT EXISTS idx_guests_unseated
    ON guests(restaurant_id, table_number, created_at) WHERE table_session_id IS NULL;

CREATE TABLE IF NOT EXISTS table_calls (
    id            TEXT PRIMARY KEY,
    restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
    session_id    TEXT NOT NULL REFERENCES table_sessions(id),
    kind          TEXT NOT NULL CHECK (kind IN ('WATER', 'CUTLERY', 'BILL', 'STAFF')),
    note          TEXT,
    status        TEXT NOT NULL CHECK (status IN ('OPEN', 'ACKED')),
    created_at    BIGINT NOT NULL,
    acked_at      BIGINT
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_table_calls_open
    ON table_calls(session_id, kind) WHERE status = 'OPEN';

CREATE TABLE IF NOT EXISTS table_settlements (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES table_sessions(id),
    restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
    -- CARD, CASH, OTHER at the counter; ONLINE: a tab payment from a phone (tab_payments).
    method        TEXT NOT NULL CHECK (method IN ('CARD', 'CASH', 'OTHER', 'ONLINE')),
    amount        BIGINT NOT NULL CHECK (amount > 0),
    business_day  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Paid in test mode (the simulated provider): on the tab, never in the revenue.
    simulated     BOOLEAN NOT NULL DEFAULT FALSE
);
-- Online payments towards a tab from a guest's phone: the whole remainder, their own orders, or
-- an equal share. The id is the orderId Toss knows; once approved, a settlement (ONLINE) records
-- the money on the tab.
CREATE TABLE IF NOT EXISTS tab_payments (
    id               TEXT PRIMARY KEY,
    restaurant_id    TEXT NOT NULL REFERENCES restaurants(id),
    session_id       TEXT NOT NULL REFERENCES table_sessions(id),
    kind             TEXT NOT NULL CHECK (kind IN ('ALL', 'ITEMS', 'SHARE')),
    shares           INTEGER,
    order_ids        TEXT,
    amount           BIGINT NOT NULL CHECK (amount > 0),
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
    toss_payment_key TEXT,
    method           TEXT,
    simulated        BOOLEAN NOT NULL DEFAULT FALSE,
    failure_code     TEXT,
    failure_message  TEXT,
    approved_at      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_tab_payments_session ON tab_payments(session_id);
CREATE INDEX IF NOT EXISTS idx_tab_payments_pending ON tab_payments(status, created_at);
CREATE INDEX IF NOT EXISTS idx_table_settlements_session ON table_settlements(session_id);
CREATE INDEX IF NOT EXISTS idx_table_settlements_day ON table_settlements(restaurant_id, business_day);

-- Order and table events share the restaurant's sequence: live clients replay both in order.
ALTER TABLE order_events ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE order_events ADD COLUMN IF NOT EXISTS table_session_id TEXT REFERENCES table_sessions(id);
CREATE INDEX IF NOT EXISTS idx_order_events_session ON order_events(table_session_id, seq);

-- What a guest's phone says when their order is ready (table service or pickup).
ALTER TABLE restaurants ADD COLUMN IF NOT EXISTS ready_message TEXT;
-- The restaurant's tables as the owner lists them ("1-12, 테라스"): the table view and QR sheet.
ALTER TABLE restaurants ADD COLUMN IF NOT EXISTS tables TEXT;

