//! SQL for payments (PostgreSQL): opening and settling them, declines, refunds owed and
//! retried, and webhook deliveries already seen.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Db, Fail, Outbox, PgResult, id, orders};
use crate::domain::ids::{OrderId, PaymentId, RestaurantId};
use crate::domain::order::{PLAN_ATTEMPTS, PaymentStatus, SettlementPlan, plan_settlement};
use crate::domain::payment::{Payment, PaymentState};
use crate::domain::{from_millis, to_millis};
use crate::events::EventType;
use crate::store::{RefundOwed, SettleOutcome, Settlement, StoreError};

const COLUMNS: &str = "id, order_id, amount, status, method, toss_payment_key, approved_at, \
     failure_code, failure_message, refund_status, refund_reason, refund_attempts, created_at, \
     simulated";

fn from_row(row: &Row) -> PgResult<Payment> {
    let status: String = row.try_get(3)?;
    Ok(Payment {
        id: id(row, 0)?,
        order_id: id(row, 1)?,
        amount: row.try_get(2)?,
        status: status.parse().map_err(Fail::other)?,
        method: row.try_get(4)?,
        payment_key: row.try_get(5)?,
        approved_at: row.try_get::<_, Option<i64>>(6)?.map(from_millis),
        failure_code: row.try_get(7)?,
        failure_message: row.try_get(8)?,
        refund_status: row.try_get(9)?,
        refund_reason: row.try_get(10)?,
        refund_attempts: row.try_get(11)?,
        created_at: from_millis(row.try_get(12)?),
        simulated: row.try_get(13)?,
    })
}

async fn query(
    db: Db<'_>,
    condition: &str,
    params: &[&(dyn ToSql + Sync)],
) -> PgResult<Vec<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE {condition}");
    db.query(&sql, params).await?.iter().map(from_row).collect()
}

pub async fn by_id(db: Db<'_>, payment: PaymentId) -> PgResult<Option<Payment>> {
    Ok(query(db, "id = $1", &[&payment.to_string()])
        .await?
        .into_iter()
        .next())
}

pub async fn latest(db: Db<'_>, order: OrderId) -> PgResult<Option<Payment>> {
    Ok(query(
        db,
        "order_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        &[&order.to_string()],
    )
    .await?
    .into_iter()
    .next())
}

/// The order's open (PENDING) or completed payment.
async fn live(db: Db<'_>, order: OrderId) -> PgResult<Option<Payment>> {
    Ok(query(
        db,
        "order_id = $1 AND status IN ('PENDING', 'COMPLETED', 'REFUNDED') FOR UPDATE",
        &[&order.to_string()],
    )
    .await?
    .into_iter()
    .next())
}

pub async fn open(
    db: Db<'_>,
    order: OrderId,
    amount: i64,
    now: DateTime<Utc>,
) -> PgResult<Payment> {
    if let Some(existing) = live(db, order).await? {
        if existing.status == PaymentState::Pending && existing.amount != amount {
            return Err(Fail::Store(StoreError::Conflict("payment amount".into())));
        }
        return Ok(existing);
    }
    let payment = PaymentId::new();
    // Two instances opening at once: the unique index lets one in; the other reads its row.
    let inserted = db
        .execute(
            "INSERT INTO payments (id, order_id, amount, status, created_at, updated_at)
             VALUES ($1, $2, $3, 'PENDING', $4, $4)
             ON CONFLICT (order_id) WHERE status IN ('PENDING', 'COMPLETED', 'REFUNDED')
             DO NOTHING",
            &[
                &payment.to_string(),
                &order.to_string(),
                &amount,
                &to_millis(now),
            ],
        )
        .await?;
    if inserted == 0 {
        return live(db, order)
            .await?
            .ok_or(Fail::Store(StoreError::NotFound));
    }
    by_id(db, payment)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))
}

pub async fn attach_key(
    db: Db<'_>,
    payment: PaymentId,
    key: &str,
    now: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "UPDATE payments SET toss_payment_key = $2, updated_at = $3
         WHERE id = $1 AND status = 'PENDING'",
        &[&payment.to_string(), &key, &to_millis(now)],
    )
    .await?;
    Ok(())
}

pub async fn settle(db: Db<'_>, outbox: &mut Outbox, s: &Settlement) -> PgResult<SettleOutcome> {
    for _ in 0..PLAN_ATTEMPTS {
        let Some(order) = orders::by_id(db, s.order_id).await? else {
            return Err(Fail::Store(StoreError::NotFound));
        };
        let payment = match live(db, s.order_id).await? {
            Some(p) if p.status != PaymentState::Pending => {
                return Ok(SettleOutcome::AlreadyPaid {
                    payment_key: p.payment_key,
                });
            }
            Some(p) => p,
            None => open(db, s.order_id, order.total_amount, s.now).await?,
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
            db,
            s.order_id,
            order_status,
            PaymentStatus::Pending,
            to_payment,
            s.now,
        )
        .await?
        {
            continue;
        }
        let now = to_millis(s.now);
        let updated = db
            .execute(
                "UPDATE payments SET status = 'COMPLETED', toss_payment_key = $2, method = $3,
                     approved_at = $4, failure_code = NULL, failure_message = NULL,
                     refund_status = CASE WHEN $5 THEN 'PENDING' ELSE refund_status END,
                     refund_reason = CASE WHEN $5
                                          THEN 'order was closed before the payment completed'
                                          ELSE refund_reason END,
                     refund_next_at = CASE WHEN $5 THEN $6 ELSE refund_next_at END,
                     simulated = $7, updated_at = $6
                 WHERE id = $1 AND status = 'PENDING'",
                &[
                    &payment.id.to_string(),
                    &s.payment_key,
                    &s.method,
                    &to_millis(s.approved_at),
                    &refund_owed,
                    &now,
                    &s.simulated,
                ],
            )
            .await?;
        if updated != 1 {
            return Err(Fail::Store(StoreError::Conflict(
                "payment settled concurrently".into(),
            )));
        }
        if s.simulated {
            db.execute(
                "UPDATE orders SET test_payment = TRUE WHERE id = $1",
                &[&s.order_id.to_string()],
            )
            .await?;
        }
        let order = orders::by_id(db, s.order_id)
            .await?
            .ok_or(Fail::Store(StoreError::NotFound))?;
        orders::append_event(db, outbox, EventType::PaymentCompleted, &order, s.now).await?;
        return Ok(SettleOutcome::Paid {
            order: Box::new(order),
        });
    }
    Err(Fail::Store(StoreError::Unavailable(
        "the order kept changing; try again".into(),
    )))
}

pub async fn fail(
    db: Db<'_>,
    payment: PaymentId,
    code: &str,
    message: &str,
    now: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "UPDATE payments SET status = 'FAILED', failure_code = $2, failure_message = $3,
             updated_at = $4
         WHERE id = $1 AND status = 'PENDING'",
        &[&payment.to_string(), &code, &message, &to_millis(now)],
    )
    .await?;
    Ok(())
}

pub async fn stale(
    db: Db<'_>,
    created_before: DateTime<Utc>,
    after: Option<PaymentId>,
    limit: usize,
) -> PgResult<Vec<Payment>> {
    // Ids are UUIDv7: their text sorts by creation time.
    query(
        db,
        "status = 'PENDING' AND created_at <= $1 AND id > $2 ORDER BY id LIMIT $3",
        &[
            &to_millis(created_before),
            &after.map(|id| id.to_string()).unwrap_or_default(),
            &(limit as i64),
        ],
    )
    .await
}

pub async fn due_refunds(db: Db<'_>, now: DateTime<Utc>) -> PgResult<Vec<Payment>> {
    query(
        db,
        "refund_status = 'PENDING' AND coalesce(refund_next_at, 0) <= $1
         ORDER BY refund_next_at LIMIT 100",
        &[&to_millis(now)],
    )
    .await
}

pub async fn refund_done(
    db: Db<'_>,
    outbox: &mut Outbox,
    payment: PaymentId,
    now: DateTime<Utc>,
) -> PgResult<()> {
    let updated = db
        .execute(
            "UPDATE payments SET status = 'REFUNDED', refund_status = 'DONE', refunded_at = $2,
                 refund_error = NULL, refund_next_at = NULL, updated_at = $2
             WHERE id = $1 AND refund_status <> 'DONE'",
            &[&payment.to_string(), &to_millis(now)],
        )
        .await?;
    if updated == 0 {
        // Already done (or unknown): recording it once is enough.
        return match by_id(db, payment).await? {
            Some(_) => Ok(()),
            None => Err(Fail::Store(StoreError::NotFound)),
        };
    }
    let found = by_id(db, payment)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?;
    let order =
        orders::set_payment_status(db, found.order_id, PaymentStatus::Refunded, now).await?;
    orders::append_event(db, outbox, EventType::PaymentRefunded, &order, now).await?;
    Ok(())
}

pub async fn refund_failed(
    db: Db<'_>,
    payment: PaymentId,
    error: &str,
    next_at: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "UPDATE payments SET refund_attempts = refund_attempts + 1, refund_error = $2,
             refund_next_at = $3
         WHERE id = $1 AND refund_status = 'PENDING'",
        &[&payment.to_string(), &error, &to_millis(next_at)],
    )
    .await?;
    Ok(())
}

pub async fn delivery_seen(db: Db<'_>, transmission_id: &str) -> PgResult<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM webhook_deliveries WHERE transmission_id = $1",
            &[&transmission_id],
        )
        .await?
        .is_some())
}

pub async fn record_delivery(
    db: Db<'_>,
    transmission_id: &str,
    now: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "INSERT INTO webhook_deliveries (transmission_id, received_at) VALUES ($1, $2)
         ON CONFLICT (transmission_id) DO NOTHING",
        &[&transmission_id, &to_millis(now)],
    )
    .await?;
    Ok(())
}

pub async fn refunds_owed(db: Db<'_>, restaurant: RestaurantId) -> PgResult<Vec<RefundOwed>> {
    db.query(
        "SELECT p.order_id, o.order_number, p.amount, p.refund_attempts, p.refund_error,
                p.refund_next_at
         FROM payments p JOIN orders o ON o.id = p.order_id
         WHERE o.restaurant_id = $1 AND p.refund_status = 'PENDING'
         ORDER BY p.updated_at",
        &[&restaurant.to_string()],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(RefundOwed {
            order_id: id(row, 0)?,
            order_number: row.try_get(1)?,
            amount: row.try_get(2)?,
            attempts: row.try_get(3)?,
            last_error: row.try_get(4)?,
            next_attempt_at: row.try_get::<_, Option<i64>>(5)?.map(from_millis),
        })
    })
    .collect()
}
