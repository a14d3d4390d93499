-- PostgreSQL migration 6: what keeps a shop running when its network changes.
-- Set while the restaurant takes payment at the counter because Toss cannot be reached
-- (internet outage): new orders are POSTPAY until it is cleared.
ALTER TABLE restaurants ADD COLUMN IF NOT EXISTS counter_payment_since BIGINT;
-- The base URL the table QR codes were last made with, so a moved address is noticed.
ALTER TABLE restaurants ADD COLUMN IF NOT EXISTS printed_base_url TEXT;
ALTER TABLE restaurants ADD COLUMN IF NOT EXISTS printed_base_url_at BIGINT;
