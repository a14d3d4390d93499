-- PostgreSQL migration 5: staff accounts (STAFF works the board, KITCHEN the kitchen display)
-- belong to one restaurant, and the order event log names the account that acted.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('CUSTOMER', 'OWNER', 'STAFF', 'KITCHEN'));
ALTER TABLE users ADD COLUMN IF NOT EXISTS restaurant_id TEXT REFERENCES restaurants(id);
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_staff_restaurant_check;
ALTER TABLE users ADD CONSTRAINT users_staff_restaurant_check
    CHECK ((role IN ('STAFF', 'KITCHEN')) = (restaurant_id IS NOT NULL));
CREATE INDEX IF NOT EXISTS idx_users_restaurant ON users(restaurant_id)
    WHERE restaurant_id IS NOT NULL;

-- Who acted, copied when the event is written so the trail outlives a removed account.
-- NULL: the guest or the box itself (a payment, a timeout).
ALTER TABLE order_events ADD COLUMN IF NOT EXISTS actor_id TEXT;
ALTER TABLE order_events ADD COLUMN IF NOT EXISTS actor_name TEXT;
ALTER TABLE order_events ADD COLUMN IF NOT EXISTS actor_role TEXT;
