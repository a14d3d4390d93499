//! SQL for payments towards a tab from a guest's phone: opening, confirming (which puts the
//! money on the tab as an ONLINE settlement) and failing them.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::tables;
use super::users::parse_uuid;
use super::writer::Tx;
use crate::domain::ids::{OrderId, SettlementId, TabPaymentId, TableSessionId};
use crate::domain::payment::PaymentState;
use crate::domain::table::SessionStatus;
use crate::domain::{from_millis, to_millis};
use crate::store::{
    NewTabPayment, Reservation, StoreError, StoreResult, TabPayment, TabSettleOutcome,
    TabSettlement,
};

const COLUMNS: &str = "id, restaurant_id, session_id, kind, shares, order_ids, amount, status, \
                       toss_payment_key, created_at";

fn conversion(index: usize, err: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, err.into())
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<TabPayment> {
    let kind: String = row.get(3)?;
    let status: String = row.get(7)?;
    let order_ids: Option<String> = row.get(5)?;
    Ok(TabPayment {
        id: parse_uuid(row, 0)?,
        restaurant_id: parse_uuid(row, 1)?,
        session_id: parse_uuid(row, 2)?,
        kind: kind.parse().map_err(|e| conversion(3, e))?,
        shares: row.get(4)?,
        order_ids: match order_ids {
            Some(text) => serde_json::from_str::<Vec<OrderId>>(&text)
                .map_err(|e| conversion(5, e.to_string()))?,
            None => Vec::new(),
        },
        amount: row.get(6)?,
        status: status.parse().map_err(|e| conversion(7, e))?,
        payment_key: row.get(8)?,
        created_at: from_millis(row.get(9)?),
    })
}

pub fn open(c: &Tx<'_>, new: &NewTabPayment) -> StoreResult<TabPayment> {
    let order_ids = (!new.order_ids.is_empty())
        .then(|| serde_json::to_string(&new.order_ids).expect("ids serialize"));
    c.prepare_cached(
        "INSERT INTO tab_payments (id, restaurant_id, session_id, kind, shares, order_ids, amount,
                                   status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'PENDING', ?8, ?8)",
    )?
    .execute(params![
        new.id.to_string(),
        new.restaurant_id.to_string(),
        new.session_id.to_string(),
        new.kind.as_str(),
        new.shares,
        order_ids,
        new.amount,
        to_millis(new.now),
    ])?;
    by_id(c, new.id)?.ok_or(StoreError::NotFound)
}

pub fn by_id(c: &Connection, id: TabPaymentId) -> StoreResult<Option<TabPayment>> {
    let sql = format!("SELECT {COLUMNS} FROM tab_payments WHERE id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id.to_string()], from_row)
        .optional()?)
}

pub fn of_session(c: &Connection, session: TableSessionId) -> StoreResult<Vec<TabPayment>> {
    let sql = format!("SELECT {COLUMNS} FROM tab_payments WHERE session_id = ?1 ORDER BY id");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([session.to_string()], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn stale(
    c: &Connection,
    created_before: DateTime<Utc>,
    limit: usize,
) -> StoreResult<Vec<TabPayment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tab_payments WHERE status = 'PENDING' AND created_at <= ?1
         ORDER BY created_at LIMIT ?2"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![to_millis(created_before), limit as i64], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What confirms under way (pending payments with a provider key) at a session may still
/// take from its tab, `except` one of them.
pub fn in_flight(
    c: &Connection,
    session: TableSessionId,
    except: Option<TabPaymentId>,
) -> StoreResult<i64> {
    Ok(c.prepare_cached(
        "SELECT coalesce(sum(amount), 0) FROM tab_payments
         WHERE session_id = ?1 AND status = 'PENDING' AND toss_payment_key IS NOT NULL
           AND id <> ?2",
    )?
    .query_row(
        params![
            session.to_string(),
            except.map(|id| id.to_string()).unwrap_or_default()
        ],
        |row| row.get(0),
    )?)
}

pub fn reserve(
    c: &Tx<'_>,
    id: TabPaymentId,
    payment_key: &str,
    now: DateTime<Utc>,
) -> StoreResult<Reservation> {
    let Some(payment) = by_id(c, id)? else {
        return Err(StoreError::NotFound);
    };
    if payment.status != PaymentState::Pending {
        return Ok(Reservation::NotPending);
    }
    let Some(session) = tables::follow(c, payment.session_id)? else {
        return Err(StoreError::NotFound);
    };
    if session.status != SessionStatus::Open {
        return Ok(Reservation::SessionClosed);
    }
    let remaining = tables::figures(c, session.id)?
        .map(|f| f.totals.remaining_amount)
        .unwrap_or(0);
    let available = remaining - in_flight(c, session.id, Some(id))?;
    if payment.amount > available {
        return Ok(Reservation::Exceeds {
            available: available.max(0),
        });
    }
    c.prepare_cached(
        "UPDATE tab_payments SET toss_payment_key = ?2, updated_at = ?3
         WHERE id = ?1 AND status = 'PENDING'",
    )?
    .execute(params![id.to_string(), payment_key, to_millis(now)])?;
    Ok(Reservation::Reserved)
}

pub fn settle(c: &Tx<'_>, s: &TabSettlement) -> StoreResult<TabSettleOutcome> {
    let Some(payment) = by_id(c, s.id)? else {
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
    c.prepare_cached(
        "UPDATE tab_payments SET status = 'COMPLETED', toss_payment_key = ?2, method = ?3,
                                 simulated = ?4, approved_at = ?5, updated_at = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        s.id.to_string(),
        s.payment_key,
        s.method,
        s.simulated,
        to_millis(s.approved_at),
        at,
    ])?;
    // A payment approved after the table was closed still counts on that tab: the money came.
    // After a merge (합석) it counts on the tab the party joined.
    let session = tables::follow(c, payment.session_id)?
        .map(|joined| joined.id)
        .unwrap_or(payment.session_id);
    c.prepare_cached(
        "INSERT INTO table_settlements (id, session_id, restaurant_id, method, amount,
                                        business_day, created_at, simulated)
         VALUES (?1, ?2, ?3, 'ONLINE', ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        SettlementId::new().to_string(),
        session.to_string(),
        payment.restaurant_id.to_string(),
        s.amount,
        s.business_day,
        at,
        s.simulated,
    ])?;
    tables::announce(c, session, s.now)?;
    Ok(TabSettleOutcome::Paid)
}

pub fn fail(
    c: &Tx<'_>,
    id: TabPaymentId,
    code: &str,
    message: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE tab_payments SET status = 'FAILED', failure_code = ?2, failure_message = ?3,
                                 updated_at = ?4
         WHERE id = ?1 AND status = 'PENDING'",
    )?
    .execute(params![id.to_string(), code, message, to_millis(now)])?;
    Ok(())
}
