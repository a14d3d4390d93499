-- Migration 4: table service — a table session is one party's running tab, from its first
-- order or staff call until the owner closes it.

CREATE TABLE IF NOT EXISTS table_sessions (
    id            TEXT PRIMARY KEY,
    restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
    table_number  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('OPEN', 'CLOSED')),
    opened_at     INTEGER NOT NULL,
    last_order_at INTEGER,
    closed_at     INTEGER,
    -- What was still unpaid when the owner closed the table anyway (confirmed), for the record.
    closed_unpaid INTEGER NOT NULL DEFAULT 0,
    -- Set when this party joined another table's (합석): its orders moved there.
    merged_into   TEXT REFERENCES table_sessions(id)
);
-- One party per table at a time.
CREATE UNIQUE INDEX IF NOT EXISTS idx_table_sessions_open
    ON table_sessions(restaurant_id, table_number) WHERE status = 'OPEN';
CREATE INDEX IF NOT EXISTS idx_table_sessions_restaurant ON table_sessions(restaurant_id, status);

ALTER TABLE orders ADD COLUMN table_session_id TEXT REFERENCES table_sessions(id);
-- The day's history.
CREATE INDEX IF NOT EXISTS idx_orders_day ON orders(restaurant_id, business_day, created_at);
-- PREPAY orders whose payment never came, for the sweep that cancels them.
CREATE INDEX IF NOT EXISTS idx_orders_awaiting_payment ON orders(created_at)
    WHERE status = 'PENDING' AND payment_status = 'PENDING' AND payment_mode = 'PREPAY';
-- Covers the sums every table event carries.
CREATE INDEX IF NOT EXISTS idx_orders_session
    ON orders(table_session_id, status, payment_status, payment_mode, total_amount);
-- A guest belongs to the party that was at the table when they scanned (or ordered first).
ALTER TABLE guests ADD COLUMN table_session_id TEXT REFERENCES table_sessions(id);
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
    created_at    INTEGER NOT NULL,
    acked_at      INTEGER
);
-- Asking twice for water is one request.
CREATE UNIQUE INDEX IF NOT EXISTS idx_table_calls_open
    ON table_calls(session_id, kind) WHERE status = 'OPEN';

-- Counter payments towards a tab (all of what remains, or part of it).
CREATE TABLE IF NOT EXISTS table_settlements (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES table_sessions(id),
    restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
    -- CARD, CASH, OTHER at the counter; ONLINE: a tab payment from a phone (tab_payments).
    method        TEXT NOT NULL CHECK (method IN ('CARD', 'CASH', 'OTHER', 'ONLINE')),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    business_day  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    -- Paid in test mode (the simulated provider): on the tab, never in the revenue.
    simulated     INTEGER NOT NULL DEFAULT 0
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
    amount           INTEGER NOT NULL CHECK (amount > 0),
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
    toss_payment_key TEXT,
    method           TEXT,
    simulated        INTEGER NOT NULL DEFAULT 0,
    failure_code     TEXT,
    failure_message  TEXT,
    approved_at      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_tab_payments_session ON tab_payments(session_id);
CREATE INDEX IF NOT EXISTS idx_tab_payments_pending ON tab_payments(status, created_at);
CREATE INDEX IF NOT EXISTS idx_table_settlements_session ON table_settlements(session_id);
CREATE INDEX IF NOT EXISTS idx_table_settlements_day ON table_settlements(restaurant_id, business_day);

-- Table events (calls, totals, closing) share the restaurant's event sequence with order
-- events, so live clients replay both in one order: the log's order_id becomes optional and
-- each event names the table session it concerns.
CREATE TABLE order_events_v4 (
    restaurant_id    TEXT NOT NULL REFERENCES restaurants(id),
    seq              INTEGER NOT NULL,
    order_id         TEXT REFERENCES orders(id),
    table_session_id TEXT REFERENCES table_sessions(id),
    type             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (restaurant_id, seq)
) WITHOUT ROWID;
INSERT INTO order_events_v4 (restaurant_id, seq, order_id, table_session_id, type, payload, created_at)
    SELECT restaurant_id, seq, order_id, NULL, type, payload, created_at FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_v4 RENAME TO order_events;
CREATE INDEX IF NOT EXISTS idx_order_events_order ON order_events(order_id, seq);
CREATE INDEX IF NOT EXISTS idx_order_events_session ON order_events(table_session_id, seq);

-- What a guest's phone says when their order is ready (table service or pickup).
ALTER TABLE restaurants ADD COLUMN ready_message TEXT;
-- The restaurant's tables as the owner lists them ("1-12, 테라스"): the table view and QR sheet.
ALTER TABLE restaurants ADD COLUMN tables TEXT;
