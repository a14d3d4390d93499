-- PostgreSQL migration 7: every party's running figures live on its session row, kept by
-- triggers on `orders` (SQLite migration 9 does the same, per row). Each order used to recount
-- its party's orders for the table event it sends, which grew with the party. The triggers
-- keep the figures right for every change to an order, whichever code path makes it. The filters
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

-- Statement-level, from the statement's transition tables: the batch that places many
-- orders in one INSERT moves each party's row once, not once per order (a row updated many
-- times in one transaction leaves a chain of versions every later update walks).
CREATE OR REPLACE FUNCTION orders_tab_figures() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE table_sessions s SET
            orders_count = s.orders_count + d.n, orders_waiting = s.orders_waiting + d.waiting,
            orders_billed = s.orders_billed + d.billed, orders_paid = s.orders_paid + d.paid
        FROM (SELECT table_session_id, sum(n) AS n, sum(waiting) AS waiting,
                     sum(billed) AS billed, sum(paid) AS paid
              FROM (SELECT now_row.table_session_id, 1 AS n,
                   (now_row.status IN ('PENDING', 'ACCEPTED'))::INT AS waiting,
                   CASE WHEN now_row.status NOT IN ('REJECTED', 'CANCELLED') AND (now_row.payment_mode = 'POSTPAY' OR now_row.payment_status = 'PAID') THEN now_row.total_amount ELSE 0 END AS billed,
                   CASE WHEN now_row.status NOT IN ('REJECTED', 'CANCELLED') AND now_row.payment_status = 'PAID' THEN now_row.total_amount ELSE 0 END AS paid
            FROM new_rows now_row) r
              WHERE table_session_id IS NOT NULL GROUP BY table_session_id) d
        WHERE s.id = d.table_session_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE table_sessions s SET
            orders_count = s.orders_count + d.n, orders_waiting = s.orders_waiting + d.waiting,
            orders_billed = s.orders_billed + d.billed, orders_paid = s.orders_paid + d.paid
        FROM (SELECT table_session_id, sum(n) AS n, sum(waiting) AS waiting,
                     sum(billed) AS billed, sum(paid) AS paid
              FROM (SELECT was_row.table_session_id, -1 AS n,
                   -(was_row.status IN ('PENDING', 'ACCEPTED'))::INT AS waiting,
                   -CASE WHEN was_row.status NOT IN ('REJECTED', 'CANCELLED') AND (was_row.payment_mode = 'POSTPAY' OR was_row.payment_status = 'PAID') THEN was_row.total_amount ELSE 0 END AS billed,
                   -CASE WHEN was_row.status NOT IN ('REJECTED', 'CANCELLED') AND was_row.payment_status = 'PAID' THEN was_row.total_amount ELSE 0 END AS paid
            FROM old_rows was_row) r
              WHERE table_session_id IS NOT NULL GROUP BY table_session_id) d
        WHERE s.id = d.table_session_id;
    ELSE
        -- Every UPDATE of orders fires this (transition tables allow no column list); parties
        -- whose figures did not move are left alone.
        UPDATE table_sessions s SET
            orders_count = s.orders_count + d.n, orders_waiting = s.orders_waiting + d.waiting,
            orders_billed = s.orders_billed + d.billed, orders_paid = s.orders_paid + d.paid
        FROM (SELECT table_session_id, sum(n) AS n, sum(waiting) AS waiting,
                     sum(billed) AS billed, sum(paid) AS paid
              FROM (SELECT now_row.table_session_id, 1 AS n,
                   (now_row.status IN ('PENDING', 'ACCEPTED'))::INT AS waiting,
                   CASE WHEN now_row.status NOT IN ('REJECTED', 'CANCELLED') AND (now_row.payment_mode = 'POSTPAY' OR now_row.payment_status = 'PAID') THEN now_row.total_amount ELSE 0 END AS billed,
                   CASE WHEN now_row.status NOT IN ('REJECTED', 'CANCELLED') AND now_row.payment_status = 'PAID' THEN now_row.total_amount ELSE 0 END AS paid
            FROM new_rows now_row
                    UNION ALL
                    SELECT was_row.table_session_id, -1 AS n,
                   -(was_row.status IN ('PENDING', 'ACCEPTED'))::INT AS waiting,
                   -CASE WHEN was_row.status NOT IN ('REJECTED', 'CANCELLED') AND (was_row.payment_mode = 'POSTPAY' OR was_row.payment_status = 'PAID') THEN was_row.total_amount ELSE 0 END AS billed,
                   -CASE WHEN was_row.status NOT IN ('REJECTED', 'CANCELLED') AND was_row.payment_status = 'PAID' THEN was_row.total_amount ELSE 0 END AS paid
            FROM old_rows was_row) r
              WHERE table_session_id IS NOT NULL GROUP BY table_session_id
              HAVING sum(n) <> 0 OR sum(waiting) <> 0 OR sum(billed) <> 0
                  OR sum(paid) <> 0) d
        WHERE s.id = d.table_session_id;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS orders_tab_figures_insert ON orders;
CREATE TRIGGER orders_tab_figures_insert AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION orders_tab_figures();
DROP TRIGGER IF EXISTS orders_tab_figures_update ON orders;
CREATE TRIGGER orders_tab_figures_update AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION orders_tab_figures();
DROP TRIGGER IF EXISTS orders_tab_figures_delete ON orders;
CREATE TRIGGER orders_tab_figures_delete AFTER DELETE ON orders
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION orders_tab_figures();
