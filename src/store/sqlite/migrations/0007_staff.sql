-- Migration 7: staff accounts (STAFF works the board, KITCHEN the kitchen display) belong to
-- one restaurant, and the order event log names the account that acted.
-- SQLite cannot change a CHECK constraint in place: the users table is rebuilt (the documented
-- twelve-step way; migrate.rs runs every step with foreign keys off and checks them after).
CREATE TABLE users_v7 (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,        -- stored trimmed and lower-cased
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('CUSTOMER', 'OWNER', 'STAFF', 'KITCHEN')),
    -- The shop a STAFF or KITCHEN account works for (an owner's is restaurants.owner_id).
    restaurant_id TEXT REFERENCES restaurants(id),
    created_at    INTEGER NOT NULL,
    CHECK ((role IN ('STAFF', 'KITCHEN')) = (restaurant_id IS NOT NULL))
);
INSERT INTO users_v7 (id, email, password_hash, name, role, restaurant_id, created_at)
    SELECT id, email, password_hash, name, role, NULL, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_v7 RENAME TO users;
CREATE INDEX IF NOT EXISTS idx_users_restaurant ON users(restaurant_id)
    WHERE restaurant_id IS NOT NULL;

-- Who acted, copied when the event is written so the trail outlives a removed account.
-- NULL: the guest or the box itself (a payment, a timeout).
ALTER TABLE order_events ADD COLUMN actor_id TEXT;
ALTER TABLE order_events ADD COLUMN actor_name TEXT;
ALTER TABLE order_events ADD COLUMN actor_role TEXT;
