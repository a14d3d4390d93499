-- Migration 2: the shop network — table proof, payments marked as tests, the write probe.

-- Whether a registered customer must prove their table with the QR code's signature ('QR')
-- or may name any table ('OPEN', as the original MVP did).
ALTER TABLE restaurants ADD COLUMN table_verification TEXT NOT NULL DEFAULT 'QR'
    CHECK (table_verification IN ('QR', 'OPEN'));

-- Payments approved by the simulated provider (test mode) charged nobody: marked on the payment
-- and on its order, and left out of revenue.
ALTER TABLE payments ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN test_payment INTEGER NOT NULL DEFAULT 0;
UPDATE payments SET simulated = 1
    WHERE method = '테스트 결제' OR toss_payment_key LIKE 'sim\_%' ESCAPE '\';
UPDATE orders SET test_payment = 1 WHERE id IN
    (SELECT order_id FROM payments WHERE simulated = 1 AND status IN ('COMPLETED', 'REFUNDED'));

-- One row rewritten by readiness checks after a write failed (e.g. a full disk): the box is
-- ready again only once a real write goes through.
CREATE TABLE IF NOT EXISTS write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
