//! SQL for payments: opening and settling them, declines, refunds owed and retried, and
//! webhook deliveries already seen.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

use super::orders;
use super::users::parse_uuid;
use super::writer::Tx;
use crate::domain::ids::{OrderId, PaymentId, RestaurantId};
use crate::domain::order::{PLAN_ATTEMPTS, PaymentStatus, SettlementPlan, plan_settlement};
use crate::domain::payment::{Payment, PaymentState};
use crate::domain::{from_millis, to_millis};
use crate::events::EventType;
use crate::store::{RefundOwed, SettleOutcome, Settlement, StoreError, StoreResult};

const COLUMNS: &str = "id, order_id, amount, status, method, toss_payment_key, approved_at, \
     failure_code, failure_message, refund_status, refund_reason, refund_attempts, created_at, \
     simulated";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Payment> {
    let status: String = row.get(3)?;
    Ok(Payment {
        id: parse_uuid(row, 0)?,
        order_id: parse_uuid(row, 1)?,
        amount: row.get(2)?,
        status: status.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
        })?,
        method: row.get(4)?,
        payment_key: row.get(5)?,
        approved_at: row.get::<_, Option<i64>>(6)?.map(from_millis),
        failure_code: row.get(7)?,
        failure_message: row.get(8)?,
        refund_status: row.get(9)?,
        refund_reason: row.get(10)?,
        refund_attempts: row.get(11)?,
        created_at: from_millis(row.get(12)?),
        simulated: row.get(13)?,
    })
}

fn query(
    c: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE {condition}");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn by_id(c: &Connection, id: PaymentId) -> StoreResult<Option<Payment>> {
    Ok(query(c, "id = ?1", [id.to_string()])?.into_iter().next())
}

/// The order's most recent payment attempt.
pub fn latest(c: &Connection, order: OrderId) -> StoreResult<Option<Payment>> {
    Ok(query(
        c,
        "order_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
        [order.to_string()],
    )?
    .into_iter()
    .next())
}

/// The order's open (PENDING) or completed payment.
fn live(c: &Connection, order: OrderId) -> StoreResult<Option<Payment>> {
    Ok(query(
        c,
        "order_id = ?1 AND status IN ('PENDING', 'COMPLETED', 'REFUNDED')",
        [order.to_string()],
    )?
    .into_iter()
    .next())
}

pub fn open(c: &Tx<'_>, order: OrderId, amount: i64, now: DateTime<Utc>) -> StoreResult<Payment> {
    if let Some(existing) = live(c, order)? {
        if existing.status == PaymentState::Pending && existing.amount != amount {
            // The amount is the order's total, which never changes; guard anyway.
            return Err(StoreError::Conflict("payment amount".into()));
        }
        return Ok(existing);
    }
    let id = PaymentId::new();
    c.prepare_cached(
        "INSERT INTO payments (id, order_id, amount, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'PENDING', ?4, ?4)",
    )?
    .execute(params![
        id.to_string(),
        order.to_string(),
        amount,
        to_millis(now)
    ])?;
    by_id(c, id)?.ok_or(StoreError::NotFound)
}

pub fn attach_key(
    c: &Tx<'_>,
    payment: PaymentId,
    key: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE payments SET toss_payment_key = ?2, updated_at = ?3
         WHERE id = ?1 AND status = 'PENDING'",
    )?
    .execute(params![payment.to_string(), key, to_millis(now)])?;
    Ok(())
}

pub fn settle(c: &Tx<'_>, s: &Settlement) -> StoreResult<SettleOutcome> {
    for _ in 0..PLAN_ATTEMPTS {
        let Some(order) = orders::by_id(c, s.order_id)? else {
            return Err(StoreError::NotFound);
        };
        let payment = match live(c, s.order_id)? {
            Some(p) if p.status != PaymentState::Pending => {
                return Ok(SettleOutcome::AlreadyPaid {
                    payment_key: p.payment_key,
                });
            }
            Some(p) => p,
            None => open(c, s.order_id, order.total_amount, s.now)?,
        };
        let plan = plan_settlement(order.status, order.payment_status, payment.amount, s.amount);
        let (order_status, to_payment, refund_owed) = match plan {
            SettlementPlan::Pay {
                order_status,
                to_payment,
                refund_owed,
            } => (order_status, to_payment, refund_owed),
            SettlementPlan::AlreadySettled => {
                return Ok(SettleOutcome::AlreadyPaid {
                    payment_key: payment.payment_key,
                });
            }
            SettlementPlan::AmountMismatch => return Ok(SettleOutcome::AmountMismatch),
        };
        // The order first: if a transition slipped in since it was read, plan again.
        if !orders::swap_payment_status(
            c,
            s.order_id,
            order_status,
            PaymentStatus::Pending,
            to_payment,
            s.now,
        )? {
            continue;
        }
        let now = to_millis(s.now);
        let updated = c
            .prepare_cached(
                "UPDATE payments SET status = 'COMPLETED', toss_payment_key = ?2, method = ?3,
                     approved_at = ?4, failure_code = NULL, failure_message = NULL,
                     refund_status = CASE WHEN ?5 THEN 'PENDING' ELSE refund_status END,
                     refund_reason = CASE WHEN ?5
                                          THEN 'order was closed before the payment completed'
                                          ELSE refund_reason END,
                     refund_next_at = CASE WHEN ?5 THEN ?6 ELSE refund_next_at END,
                     simulated = ?7, updated_at = ?6
                 WHERE id = ?1 AND status = 'PENDING'",
            )?
            .execute(params![
                payment.id.to_string(),
                s.payment_key,
                s.method,
                to_millis(s.approved_at),
                refund_owed,
                now,
                s.simulated,
            ])?;
        if updated != 1 {
            // Settled by someone else since it was read; the caller's transaction rolls back.
            return Err(StoreError::Conflict("payment settled concurrently".into()));
        }
        if s.simulated {
            c.prepare_cached("UPDATE orders SET test_payment = 1 WHERE id = ?1")?
                .execute([s.order_id.to_string()])?;
        }
        let order = orders::by_id(c, s.order_id)?.ok_or(StoreError::NotFound)?;
        orders::append_event(c, EventType::PaymentCompleted, &order, s.now)?;
        return Ok(SettleOutcome::Paid {
            order: Box::new(order),
        });
    }
    Err(StoreError::Unavailable(
        "the order kept changing; try again".into(),
    ))
}

pub fn fail(
    c: &Tx<'_>,
    payment: PaymentId,
    code: &str,
    message: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE payments SET status = 'FAILED', failure_code = ?2, failure_message = ?3,
             updated_at = ?4
         WHERE id = ?1 AND status = 'PENDING'",
    )?
    .execute(params![payment.to_string(), code, message, to_millis(now)])?;
    Ok(())
}

pub fn stale(
    c: &Connection,
    created_before: DateTime<Utc>,
    after: Option<PaymentId>,
    limit: usize,
) -> StoreResult<Vec<Payment>> {
    // Ids are UUIDv7: their text sorts by creation time.
    query(
        c,
        "status = 'PENDING' AND created_at <= ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        params![
            to_millis(created_before),
            after.map(|id| id.to_string()).unwrap_or_default(),
            limit as i64
        ],
    )
}

pub fn due_refunds(c: &Connection, now: DateTime<Utc>) -> StoreResult<Vec<Payment>> {
    query(
        c,
        "refund_status = 'PENDING' AND coalesce(refund_next_at, 0) <= ?1
         ORDER BY refund_next_at LIMIT 100",
        [to_millis(now)],
    )
}

pub fn refund_done(c: &Tx<'_>, payment: PaymentId, now: DateTime<Utc>) -> StoreResult<()> {
    let Some(found) = by_id(c, payment)? else {
        return Err(StoreError::NotFound);
    };
    if found.refund_status == "DONE" {
        return Ok(());
    }
    c.prepare_cached(
        "UPDATE payments SET status = 'REFUNDED', refund_status = 'DONE', refunded_at = ?2,
             refund_error = NULL, refund_next_at = NULL, updated_at = ?2
         WHERE id = ?1",
    )?
    .execute(params![payment.to_string(), to_millis(now)])?;
    let order = orders::set_payment_status(c, found.order_id, PaymentStatus::Refunded, now)?;
    orders::append_event(c, EventType::PaymentRefunded, &order, now)?;
    Ok(())
}

pub fn refund_failed(
    c: &Tx<'_>,
    payment: PaymentId,
    error: &str,
    next_at: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE payments SET refund_attempts = refund_attempts + 1, refund_error = ?2,
             refund_next_at = ?3
         WHERE id = ?1 AND refund_status = 'PENDING'",
    )?
    .execute(params![payment.to_string(), error, to_millis(next_at)])?;
    Ok(())
}

pub fn delivery_seen(c: &Connection, transmission_id: &str) -> StoreResult<bool> {
    let seen = c
        .prepare_cached("SELECT 1 FROM webhook_deliveries WHERE transmission_id = ?1")?
        .exists([transmission_id])?;
    Ok(seen)
}

pub fn record_delivery(c: &Tx<'_>, transmission_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO webhook_deliveries (transmission_id, received_at) VALUES (?1, ?2)
         ON CONFLICT (transmission_id) DO NOTHING",
    )?
    .execute(params![transmission_id, to_millis(now)])?;
    Ok(())
}

pub fn refunds_owed(c: &Connection, restaurant: RestaurantId) -> StoreResult<Vec<RefundOwed>> {
    let mut stmt = c.prepare_cached(
        "SELECT p.order_id, o.order_number, p.amount, p.refund_attempts, p.refund_error,
                p.refund_next_at
         FROM payments p JOIN orders o ON o.id = p.order_id
         WHERE o.restaurant_id = ?1 AND p.refund_status = 'PENDING'
         ORDER BY p.updated_at",
    )?;
    let rows = stmt.query_map([restaurant.to_string()], |row| {
        Ok(RefundOwed {
            order_id: parse_uuid(row, 0)?,
            order_number: row.get(1)?,
            amount: row.get(2)?,
            attempts: row.get(3)?,
            last_error: row.get(4)?,
            next_attempt_at: row.get::<_, Option<i64>>(5)?.map(from_millis),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
