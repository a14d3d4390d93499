//! SQL for payments towards a tab from a guest's phone (PostgreSQL). The rules are SQLite's
//! (`store::sqlite::tab_payments`); settling locks the payment row first.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Db, Fail, Outbox, PgResult, id, tables, text_enum};
use crate::domain::ids::{OrderId, SettlementId, TabPaymentId, TableSessionId};
use crate::domain::payment::PaymentState;
use crate::domain::table::{SessionStatus, TableSession};
use crate::domain::{from_millis, to_millis};
use crate::store::{
    NewTabPayment, Reservation, StoreError, TabPayment, TabSettleOutcome, TabSettlement,
};

const COLUMNS: &str = "id, restaurant_id, session_id, kind, shares, order_ids, amount, status, \
                       toss_payment_key, created_at";

fn from_row(row: &Row) -> PgResult<TabPayment> {
    let order_ids: Option<String> = row.try_get(5)?;
    let shares: Option<i32> = row.try_get(4)?;
    Ok(TabPayment {
        id: id(row, 0)?,
        restaurant_id: id(row, 1)?,
        session_id: id(row, 2)?,
        kind: text_enum(row, 3)?,
        shares: shares.map(|n| n as u32),
        order_ids: match order_ids {
            Some(text) => serde_json::from_str::<Vec<OrderId>>(&text)
                .map_err(|e| Fail::other(format!("tab payment orders: {e}")))?,
            None => Vec::new(),
        },
        amount: row.try_get(6)?,
        status: text_enum(row, 7)?,
        payment_key: row.try_get(8)?,
        created_at: from_millis(row.try_get(9)?),
    })
}

pub async fn open(db: Db<'_>, new: &NewTabPayment) -> PgResult<TabPayment> {
    let order_ids = (!new.order_ids.is_empty())
        .then(|| serde_json::to_string(&new.order_ids).expect("ids serialize"));
    db.execute(
        "INSERT INTO tab_payments (id, restaurant_id, session_id, kind, shares, order_ids, amount,
                                   status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8, $8)",
        &[
            &new.id.to_string(),
            &new.restaurant_id.to_string(),
            &new.session_id.to_string(),
            &new.kind.as_str(),
            &new.shares.map(|n| n as i32),
            &order_ids,
            &new.amount,
            &to_millis(new.now),
        ],
    )
    .await?;
    by_id(db, new.id)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))
}

pub async fn by_id(db: Db<'_>, payment: TabPaymentId) -> PgResult<Option<TabPayment>> {
    let sql = format!("SELECT {COLUMNS} FROM tab_payments WHERE id = $1");
    db.query_opt(&sql, &[&payment.to_string()])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

pub async fn of_session(db: Db<'_>, session: TableSessionId) -> PgResult<Vec<TabPayment>> {
    let sql = format!("SELECT {COLUMNS} FROM tab_payments WHERE session_id = $1 ORDER BY id");
    db.query(&sql, &[&session.to_string()])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn stale(
    db: Db<'_>,
    created_before: DateTime<Utc>,
    limit: usize,
) -> PgResult<Vec<TabPayment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tab_payments WHERE status = 'PENDING' AND created_at <= $1
         ORDER BY created_at LIMIT $2"
    );
    db.query(&sql, &[&to_millis(created_before), &(limit as i64)])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// What confirms under way (pending payments with a provider key) at a session may still
/// take from its tab, `except` one of them.
pub async fn in_flight(
    db: Db<'_>,
    session: TableSessionId,
    except: Option<TabPaymentId>,
) -> PgResult<i64> {
    Ok(db
        .query_one(
            "SELECT coalesce(sum(amount), 0)::BIGINT FROM tab_payments
             WHERE session_id = $1 AND status = 'PENDING' AND toss_payment_key IS NOT NULL
               AND id <> $2",
            &[
                &session.to_string(),
                &except.map(|id| id.to_string()).unwrap_or_default(),
            ],
        )
        .await?
        .try_get(0)?)
}

/// Locks the payment's party (followed through merges) the way every table change does —
/// the restaurant's row, then the session's — and returns it as it is once locked.
async fn lock_party(db: Db<'_>, payment: &TabPayment) -> PgResult<Option<TableSession>> {
    tables::lock_restaurant(db, payment.restaurant_id).await?;
    loop {
        let Some(session) = tables::follow(db, payment.session_id).await? else {
            return Ok(None);
        };
        tables::lock(db, session.id).await?;
        // A merge may have committed while we waited for the lock: follow it again.
        match tables::follow(db, payment.session_id).await? {
            Some(now) if now.id == session.id => return Ok(Some(now)),
            Some(_) => continue,
            None => return Ok(None),
        }
    }
}

pub async fn reserve(
    db: Db<'_>,
    payment: TabPaymentId,
    payment_key: &str,
    now: DateTime<Utc>,
) -> PgResult<Reservation> {
    let Some(found) = by_id(db, payment).await? else {
        return Err(Fail::Store(StoreError::NotFound));
    };
    let Some(session) = lock_party(db, &found).await? else {
        return Err(Fail::Store(StoreError::NotFound));
    };
    db.execute(
        "SELECT 1 FROM tab_payments WHERE id = $1 FOR UPDATE",
        &[&payment.to_string()],
    )
    .await?;
    let Some(found) = by_id(db, payment).await? else {
        return Err(Fail::Store(StoreError::NotFound));
    };
    if found.status != PaymentState::Pending {
        return Ok(Reservation::NotPending);
    }
    if session.status != SessionStatus::Open {
        return Ok(Reservation::SessionClosed);
    }
    let remaining = tables::figures(db, session.id)
        .await?
        .map(|f| f.totals.remaining_amount)
        .unwrap_or(0);
    let available = remaining - in_flight(db, session.id, Some(payment)).await?;
    if found.amount > available {
        return Ok(Reservation::Exceeds {
            available: available.max(0),
        });
    }
    db.execute(
        "UPDATE tab_payments SET toss_payment_key = $2, updated_at = $3
         WHERE id = $1 AND status = 'PENDING'",
        &[&payment.to_string(), &payment_key, &to_millis(now)],
    )
    .await?;
    Ok(Reservation::Reserved)
}

pub async fn settle(
    db: Db<'_>,
    outbox: &mut Outbox,
    s: &TabSettlement,
) -> PgResult<TabSettleOutcome> {
    let Some(unlocked) = by_id(db, s.id).await? else {
        return Ok(TabSettleOutcome::NotFound);
    };
    let party = lock_party(db, &unlocked).await?;
    db.execute(
        "SELECT 1 FROM tab_payments WHERE id = $1 FOR UPDATE",
        &[&s.id.to_string()],
    )
    .await?;
    let Some(payment) = by_id(db, s.id).await? else {
        return Ok(TabSettleOutcome::NotFound);
    };
    if payment.status == PaymentState::Completed {
        return Ok(TabSettleOutcome::AlreadyPaid {
            payment_key: payment.payment_key,
        });
    }
    if payment.amount != s.amount {
        return Ok(TabSettleOutcome::AmountMismatch);
    }
    let at = to_millis(s.now);
    db.execute(
        "UPDATE tab_payments SET status = 'COMPLETED', toss_payment_key = $2, method = $3,
                                 simulated = $4, approved_at = $5, updated_at = $6
         WHERE id = $1",
        &[
            &s.id.to_string(),
            &s.payment_key,
            &s.method,
            &s.simulated,
            &to_millis(s.approved_at),
            &at,
        ],
    )
    .await?;
    // A payment approved after the table was closed still counts on that tab: the money came.
    // After a merge (합석) it counts on the tab the party joined.
    let session = party.map(|joined| joined.id).unwrap_or(payment.session_id);
    db.execute(
        "INSERT INTO table_settlements (id, session_id, restaurant_id, method, amount,
                                        business_day, created_at, simulated)
         VALUES ($1, $2, $3, 'ONLINE', $4, $5, $6, $7)",
        &[
            &SettlementId::new().to_string(),
            &session.to_string(),
            &payment.restaurant_id.to_string(),
            &s.amount,
            &s.business_day,
            &at,
            &s.simulated,
        ],
    )
    .await?;
    tables::announce(db, outbox, session, s.now).await?;
    Ok(TabSettleOutcome::Paid)
}

pub async fn fail(
    db: Db<'_>,
    payment: TabPaymentId,
    code: &str,
    message: &str,
    now: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "UPDATE tab_payments SET status = 'FAILED', failure_code = $2, failure_message = $3,
                                 updated_at = $4
         WHERE id = $1 AND status = 'PENDING'",
        &[&payment.to_string(), &code, &message, &to_millis(now)],
    )
    .await?;
    Ok(())
}
