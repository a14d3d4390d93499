-- PostgreSQL migration 7: every party's running figures live on its session row, kept by a
-- trigger on `orders` (SQLite migration 9 does the same). Each order used to recount its
-- party's orders for the table event it sends, which grew with the party. The trigger keeps
-- the figures right for every change to an order, whichever code path makes it. The filters
-- are `on_bill`'s: not rejected or cancelled, and PREPAY only once paid.

ALTER TABLE table_sessions ADD COLUMN IF NOT EXISTS orders_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE table_sessions ADD COLUMN IF NOT EXISTS orders_waiting BIGINT NOT NULL DEFAULT 0;
ALTER TABLE table_sessions ADD COLUMN IF NOT EXISTS orders_billed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE table_sessions ADD COLUMN IF NOT EXISTS orders_paid BIGINT NOT NULL DEFAULT 0;

UPDATE table_sessions s SET
    orders_count = f.orders_count,
    orders_waiting = f.orders_waiting,
    orders_billed = f.orders_billed,
    orders_paid = f.orders_paid
FROM (
    SELECT table_session_id,
           count(*) AS orders_count,
           count(*) FILTER (WHERE status IN ('PENDING', 'ACCEPTED')) AS orders_waiting,
           coalesce(sum(total_amount)
               FILTER (WHERE status NOT IN ('REJECTED', 'CANCELLED')
                         AND (payment_mode = 'POSTPAY' OR payment_status = 'PAID')), 0)
               AS orders_billed,
           coalesce(sum(total_amount)
               FILTER (WHERE status NOT IN ('REJECTED', 'CANCELLED')
                         AND payment_status = 'PAID'), 0) AS orders_paid
    FROM orders WHERE table_session_id IS NOT NULL GROUP BY table_session_id
) f
WHERE s.id = f.table_session_id;

CREATE OR REPLACE FUNCTION orders_tab_figures() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.table_session_id IS NOT NULL THEN
        UPDATE table_sessions SET
            orders_count = orders_count - 1,
            orders_waiting = orders_waiting
                - (OLD.status IN ('PENDING', 'ACCEPTED'))::INT,
            orders_billed = orders_billed
                - CASE WHEN OLD.status NOT IN ('REJECTED', 'CANCELLED')
                        AND (OLD.payment_mode = 'POSTPAY' OR OLD.payment_status = 'PAID')
                       THEN OLD.total_amount ELSE 0 END,
            orders_paid = orders_paid
                - CASE WHEN OLD.status NOT IN ('REJECTED', 'CANCELLED')
                        AND OLD.payment_status = 'PAID'
                       THEN OLD.total_amount ELSE 0 END
        WHERE id = OLD.table_session_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.table_session_id IS NOT NULL THEN
        UPDATE table_sessions SET
            orders_count = orders_count + 1,
            orders_waiting = orders_waiting
                + (NEW.status IN ('PENDING', 'ACCEPTED'))::INT,
            orders_billed = orders_billed
                + CASE WHEN NEW.status NOT IN ('REJECTED', 'CANCELLED')
                        AND (NEW.payment_mode = 'POSTPAY' OR NEW.payment_status = 'PAID')
                       THEN NEW.total_amount ELSE 0 END,
            orders_paid = orders_paid
                + CASE WHEN NEW.status NOT IN ('REJECTED', 'CANCELLED')
                        AND NEW.payment_status = 'PAID'
                       THEN NEW.total_amount ELSE 0 END
        WHERE id = NEW.table_session_id;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS orders_tab_figures ON orders;
CREATE TRIGGER orders_tab_figures
AFTER INSERT OR DELETE OR UPDATE OF status, payment_status, payment_mode, total_amount,
    table_session_id ON orders
FOR EACH ROW EXECUTE FUNCTION orders_tab_figures();
