//! SQL for table service: the party (session) an order or call joins, tabs, staff calls, and
//! what the owner does to a table (acknowledge, settle, close, move, merge).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::orders;
use super::restaurants;
use super::users::parse_uuid;
use super::writer::Tx;
use crate::domain::ids::{CallId, GuestId, RestaurantId, SettlementId, TableSessionId};
use crate::domain::order::Order;
use crate::domain::table::{
    PARTY_GATHERS, SessionStatus, TabTotals, TableCall, TableSession, check_settlement, tab_totals,
};
use crate::domain::{from_millis, to_millis};
use crate::events::{EventType, LiveEvent, OrderEvent, table_message};
use crate::store::{
    CallOutcome, NewCall, NewOrder, StoreError, StoreResult, TableAction, TableOutcome,
    TableSummary, TableTab,
};

/// Where an order or a call sits.
pub enum Seat {
    /// No table (a registered customer's order without one).
    None,
    Table {
        session: TableSessionId,
        table: String,
    },
    /// The guest's party has left.
    Closed,
}

const SESSION_COLUMNS: &str =
    "id, restaurant_id, table_number, status, opened_at, last_order_at, closed_at, merged_into";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<(TableSession, Option<String>)> {
    let status: String = row.get(3)?;
    Ok((
        TableSession {
            id: parse_uuid(row, 0)?,
            restaurant_id: parse_uuid(row, 1)?,
            table_number: row.get(2)?,
            status: status.parse().unwrap_or(SessionStatus::Closed),
            opened_at: from_millis(row.get(4)?),
            last_order_at: row.get::<_, Option<i64>>(5)?.map(from_millis),
            closed_at: row.get::<_, Option<i64>>(6)?.map(from_millis),
        },
        row.get(7)?,
    ))
}

fn session(
    c: &Connection,
    id: TableSessionId,
) -> StoreResult<Option<(TableSession, Option<String>)>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM table_sessions WHERE id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id.to_string()], session_from_row)
        .optional()?)
}

/// A session, or the one it was merged into (a party that joined another table).
pub(super) fn follow(c: &Connection, mut id: TableSessionId) -> StoreResult<Option<TableSession>> {
    for _ in 0..8 {
        let Some((found, merged_into)) = session(c, id)? else {
            return Ok(None);
        };
        match merged_into.and_then(|m| m.parse().ok()) {
            Some(next) if found.status == SessionStatus::Closed => id = next,
            _ => return Ok(Some(found)),
        }
    }
    Ok(None)
}

fn open_session_at(
    c: &Connection,
    restaurant: RestaurantId,
    table: &str,
) -> StoreResult<Option<TableSession>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM table_sessions
         WHERE restaurant_id = ?1 AND table_number = ?2 AND status = 'OPEN'"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row(params![restaurant.to_string(), table], session_from_row)
        .optional()?
        .map(|(s, _)| s))
}

fn open_or_join(
    c: &Connection,
    restaurant: RestaurantId,
    table: &str,
    now: DateTime<Utc>,
) -> StoreResult<TableSession> {
    if let Some(open) = open_session_at(c, restaurant, table)? {
        return Ok(open);
    }
    let id = TableSessionId::new();
    c.prepare_cached(
        "INSERT INTO table_sessions (id, restaurant_id, table_number, status, opened_at)
         VALUES (?1, ?2, ?3, 'OPEN', ?4)",
    )?
    .execute(params![
        id.to_string(),
        restaurant.to_string(),
        table,
        to_millis(now)
    ])?;
    c.prepare_cached(
        "UPDATE guests SET table_session_id = ?1
         WHERE restaurant_id = ?2 AND table_number = ?3 AND table_session_id IS NULL
           AND created_at >= ?4",
    )?
    .execute(params![
        id.to_string(),
        restaurant.to_string(),
        table,
        to_millis(now - PARTY_GATHERS),
    ])?;
    open_session_at(c, restaurant, table)?.ok_or(StoreError::NotFound)
}

/// The party at the table an order or call is for: a guest's own (bound when they scanned, or
/// now), or the one at the named table, opened if there is none.
pub fn seat_at(
    c: &Connection,
    restaurant: RestaurantId,
    table: Option<&str>,
    guest: Option<GuestId>,
    now: DateTime<Utc>,
) -> StoreResult<Seat> {
    if let Some(guest) = guest {
        let bound: Option<Option<String>> = c
            .prepare_cached("SELECT table_session_id FROM guests WHERE id = ?1")?
            .query_row([guest.to_string()], |row| row.get(0))
            .optional()?;
        if let Some(session) = bound.flatten().and_then(|s| s.parse().ok()) {
            return Ok(match follow(c, session)? {
                Some(s) if s.status == SessionStatus::Open => Seat::Table {
                    session: s.id,
                    table: s.table_number,
                },
                _ => Seat::Closed,
            });
        }
    }
    let Some(table) = table else {
        return Ok(Seat::None);
    };
    // A guest who scanned an empty table and was not taken in when its party opened is a scan
    // left behind by someone who has gone: they must never join (or see) the party there now.
    if guest.is_some() && open_session_at(c, restaurant, table)?.is_some() {
        return Ok(Seat::Closed);
    }
    let session = open_or_join(c, restaurant, table, now)?;
    if let Some(guest) = guest {
        c.prepare_cached("UPDATE guests SET table_session_id = ?2 WHERE id = ?1")?
            .execute(params![guest.to_string(), session.id.to_string()])?;
    }
    Ok(Seat::Table {
        session: session.id,
        table: session.table_number,
    })
}

/// Where a new order sits; marks its party as having just ordered.
pub fn seat(c: &Connection, new: &NewOrder, now: DateTime<Utc>) -> StoreResult<Seat> {
    let guest = match new.customer {
        crate::domain::order::Customer::Guest(g) => Some(g),
        crate::domain::order::Customer::User(_) => None,
    };
    let seat = seat_at(
        c,
        new.restaurant_id,
        new.table_number.as_deref(),
        guest,
        now,
    )?;
    if let Seat::Table { session, .. } = &seat {
        c.prepare_cached("UPDATE table_sessions SET last_order_at = ?2 WHERE id = ?1")?
            .execute(params![session.to_string(), to_millis(now)])?;
    }
    Ok(seat)
}

fn calls_of(c: &Connection, session: TableSessionId) -> StoreResult<Vec<TableCall>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, kind, note, status, created_at, acked_at FROM table_calls
         WHERE session_id = ?1 ORDER BY created_at",
    )?;
    let rows = stmt.query_map([session.to_string()], |row| {
        let kind: String = row.get(1)?;
        Ok(TableCall {
            id: parse_uuid(row, 0)?,
            kind: kind.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
            })?,
            note: row.get(2)?,
            status: row.get(3)?,
            created_at: from_millis(row.get(4)?),
            acked_at: row.get::<_, Option<i64>>(5)?.map(from_millis),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The tab of a session (as it is, open or closed).
pub fn tab(c: &Connection, id: TableSessionId) -> StoreResult<Option<TableTab>> {
    let Some((session, _)) = session(c, id)? else {
        return Ok(None);
    };
    let orders: Vec<Order> = orders::of_session(c, id)?;
    Ok(Some(TableTab {
        restaurant_id: session.restaurant_id,
        table_number: session.table_number.clone(),
        totals: tab_totals(&orders, settled(c, id)?),
        calls: calls_of(c, id)?,
        paid_order_ids: super::tab_payments::of_session(c, id)?
            .into_iter()
            .filter(|p| p.status == crate::domain::payment::PaymentState::Completed)
            .flat_map(|p| p.order_ids)
            .collect(),
        orders,
        session,
    }))
}

/// A guest's party's tab (followed through a merge; `None` before their party has one), or
/// for the owner (`guest: None`) the open one at `table`.
pub fn tab_for(
    c: &Connection,
    restaurant: RestaurantId,
    table: &str,
    guest: Option<GuestId>,
) -> StoreResult<Option<TableTab>> {
    if let Some(guest) = guest {
        let bound: Option<Option<String>> = c
            .prepare_cached("SELECT table_session_id FROM guests WHERE id = ?1")?
            .query_row([guest.to_string()], |row| row.get(0))
            .optional()?;
        let Some(session) = bound.flatten().and_then(|s| s.parse().ok()) else {
            return Ok(None);
        };
        let session = follow(c, session)?.map(|s| s.id).unwrap_or(session);
        return tab(c, session);
    }
    match open_session_at(c, restaurant, table)? {
        Some(open) => tab(c, open.id),
        None => Ok(None),
    }
}

/// A session's figures without loading its orders: what every table event carries, so a
/// busy table's events cost the same as a quiet one's.
pub fn figures(c: &Connection, id: TableSessionId) -> StoreResult<Option<TableSummary>> {
    let Some((session, _)) = session(c, id)? else {
        return Ok(None);
    };
    // Running figures kept by triggers on `orders` (migration 9): no recount per event.
    let (orders_count, orders_waiting, total, orders_paid): (i64, i64, i64, i64) = c
        .prepare_cached(
            "SELECT orders_count, orders_waiting, orders_billed, orders_paid
             FROM table_sessions WHERE id = ?1",
        )?
        .query_row([id.to_string()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
    Ok(Some(TableSummary {
        restaurant_id: session.restaurant_id,
        table_number: session.table_number,
        session_id: session.id,
        status: session.status,
        opened_at: session.opened_at,
        last_order_at: session.last_order_at,
        orders_count: orders_count as usize,
        orders_waiting: orders_waiting as usize,
        totals: TabTotals::from_sums(total, orders_paid, settled(c, id)?),
        open_calls: calls_of(c, id)?
            .into_iter()
            .filter(|call| call.status == "OPEN")
            .collect(),
    }))
}

fn settled(c: &Connection, id: TableSessionId) -> StoreResult<i64> {
    Ok(c.prepare_cached(
        "SELECT coalesce(sum(amount), 0) FROM table_settlements WHERE session_id = ?1",
    )?
    .query_row([id.to_string()], |row| row.get(0))?)
}

pub fn open_tables(c: &Connection, restaurant: RestaurantId) -> StoreResult<Vec<TableSummary>> {
    let ids: Vec<TableSessionId> = c
        .prepare_cached(
            "SELECT id FROM table_sessions WHERE restaurant_id = ?1 AND status = 'OPEN'
             ORDER BY table_number",
        )?
        .query_map([restaurant.to_string()], |row| parse_uuid(row, 0))?
        .collect::<Result<_, _>>()?;
    let mut tables = Vec::with_capacity(ids.len());
    for id in ids {
        tables.extend(figures(c, id)?);
    }
    Ok(tables)
}

/// Appends a table event about session `id` (its figures as they now are) to the restaurant's
/// log; live once committed.
fn append_table_event(
    c: &Tx<'_>,
    kind: EventType,
    id: TableSessionId,
    at: DateTime<Utc>,
    call: Option<&TableCall>,
) -> StoreResult<OrderEvent> {
    let table = figures(c, id)?.ok_or(StoreError::NotFound)?;
    let seq = restaurants::next_event_seq(c, table.restaurant_id)?;
    let payload: std::sync::Arc<str> = table_message(kind, &table, seq, at, call)
        .to_string()
        .into();
    c.prepare_cached(
        "INSERT INTO order_events (restaurant_id, seq, order_id, table_session_id, type, payload,
                                   created_at)
         VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        table.restaurant_id.to_string(),
        seq,
        id.to_string(),
        kind.as_str(),
        &*payload,
        to_millis(at),
    ])?;
    let event = OrderEvent {
        restaurant_id: table.restaurant_id,
        order_id: None,
        table_session_id: Some(id),
        seq,
        kind,
        payload,
        at,
    };
    c.publish_after_commit(LiveEvent::Order(event.clone()));
    Ok(event)
}

pub fn call_staff(c: &Tx<'_>, call: &NewCall) -> StoreResult<CallOutcome> {
    let seat = seat_at(
        c,
        call.restaurant_id,
        Some(&call.table_number),
        call.guest,
        call.now,
    )?;
    let session = match seat {
        Seat::Table { session, .. } => session,
        Seat::Closed => return Ok(CallOutcome::SessionClosed),
        Seat::None => return Err(StoreError::NotFound),
    };
    if let Some(open) = calls_of(c, session)?
        .into_iter()
        .find(|existing| existing.kind == call.kind && existing.status == "OPEN")
    {
        return Ok(CallOutcome::Existing(open));
    }
    c.prepare_cached(
        "INSERT INTO table_calls (id, restaurant_id, session_id, kind, note, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'OPEN', ?6)",
    )?
    .execute(params![
        call.id.to_string(),
        call.restaurant_id.to_string(),
        session.to_string(),
        call.kind.as_str(),
        call.note,
        to_millis(call.now),
    ])?;
    let created = calls_of(c, session)?
        .into_iter()
        .find(|existing| existing.id == call.id)
        .ok_or(StoreError::NotFound)?;
    let event = append_table_event(c, EventType::TableCall, session, call.now, Some(&created))?;
    Ok(CallOutcome::Created {
        call: created,
        event,
    })
}

pub fn announce(c: &Tx<'_>, session: TableSessionId, now: DateTime<Utc>) -> StoreResult<()> {
    append_table_event(c, EventType::TableUpdated, session, now, None)?;
    Ok(())
}

pub fn action(
    c: &Tx<'_>,
    restaurant: RestaurantId,
    table: &str,
    action: &TableAction,
    now: DateTime<Utc>,
) -> StoreResult<TableOutcome> {
    let Some(open) = open_session_at(c, restaurant, table)? else {
        return Ok(TableOutcome::NotFound);
    };
    let current = tab(c, open.id)?.ok_or(StoreError::NotFound)?;
    let remaining = current.totals.remaining_amount;
    let ms = to_millis(now);
    match action {
        TableAction::AckCall(call) => ack(c, &current, *call, now),
        TableAction::Settle {
            method,
            amount,
            business_day,
        } => {
            // What phones are confirming right now is spoken for.
            let available = remaining - super::tab_payments::in_flight(c, open.id, None)?;
            if let Err(invalid) = check_settlement(*amount, available) {
                return Ok(TableOutcome::Invalid(invalid));
            }
            c.prepare_cached(
                "INSERT INTO table_settlements (id, session_id, restaurant_id, method, amount,
                                                business_day, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                SettlementId::new().to_string(),
                open.id.to_string(),
                restaurant.to_string(),
                method.as_str(),
                amount,
                business_day,
                ms,
            ])?;
            let after = tab(c, open.id)?.ok_or(StoreError::NotFound)?;
            append_table_event(c, EventType::TableUpdated, after.session.id, now, None)?;
            Ok(TableOutcome::Done(Box::new(after)))
        }
        TableAction::Close { confirm_unpaid } => {
            if remaining > 0 && !confirm_unpaid {
                return Ok(TableOutcome::Refused {
                    reason: "the tab is not fully paid; confirm to close it anyway",
                    remaining,
                });
            }
            c.prepare_cached(
                "UPDATE table_sessions SET status = 'CLOSED', closed_at = ?2, closed_unpaid = ?3
                 WHERE id = ?1 AND status = 'OPEN'",
            )?
            .execute(params![open.id.to_string(), ms, remaining])?;
            let after = tab(c, open.id)?.ok_or(StoreError::NotFound)?;
            append_table_event(c, EventType::TableClosed, after.session.id, now, None)?;
            Ok(TableOutcome::Done(Box::new(after)))
        }
        TableAction::Move { to } => {
            if to == table {
                return Ok(TableOutcome::Invalid(
                    crate::domain::error::FieldError::new(
                        "to",
                        "the party already sits at this table",
                    ),
                ));
            }
            if open_session_at(c, restaurant, to)?.is_some() {
                return Ok(TableOutcome::Refused {
                    reason: "another party sits at that table; merge the two instead",
                    remaining,
                });
            }
            c.prepare_cached("UPDATE table_sessions SET table_number = ?2 WHERE id = ?1")?
                .execute(params![open.id.to_string(), to])?;
            c.prepare_cached("UPDATE orders SET table_number = ?2 WHERE table_session_id = ?1")?
                .execute(params![open.id.to_string(), to])?;
            let after = tab(c, open.id)?.ok_or(StoreError::NotFound)?;
            append_table_event(c, EventType::TableUpdated, after.session.id, now, None)?;
            Ok(TableOutcome::Done(Box::new(after)))
        }
        TableAction::Merge { into } => {
            if into == table {
                return Ok(TableOutcome::Invalid(
                    crate::domain::error::FieldError::new("into", "a party cannot join itself"),
                ));
            }
            let Some(target) = open_session_at(c, restaurant, into)? else {
                return Ok(TableOutcome::Refused {
                    reason: "nobody sits at that table; move the party there instead",
                    remaining,
                });
            };
            let (from, to) = (open.id.to_string(), target.id.to_string());
            // Calls both parties made stay one request each.
            c.prepare_cached(
                "UPDATE table_calls SET status = 'ACKED', acked_at = ?3
                 WHERE session_id = ?1 AND status = 'OPEN' AND kind IN
                     (SELECT kind FROM table_calls WHERE session_id = ?2 AND status = 'OPEN')",
            )?
            .execute(params![from, to, ms])?;
            c.prepare_cached(
                "UPDATE orders SET table_session_id = ?2, table_number = ?3
                 WHERE table_session_id = ?1",
            )?
            .execute(params![from, to, into])?;
            for sql in [
                "UPDATE table_calls SET session_id = ?2 WHERE session_id = ?1",
                "UPDATE table_settlements SET session_id = ?2 WHERE session_id = ?1",
                "UPDATE tab_payments SET session_id = ?2 WHERE session_id = ?1",
                "UPDATE guests SET table_session_id = ?2 WHERE table_session_id = ?1",
            ] {
                c.prepare_cached(sql)?.execute(params![from, to])?;
            }
            c.prepare_cached(
                "UPDATE table_sessions SET status = 'CLOSED', closed_at = ?3, merged_into = ?2
                 WHERE id = ?1",
            )?
            .execute(params![from, to, ms])?;
            c.prepare_cached(
                "UPDATE table_sessions SET last_order_at = max(coalesce(last_order_at, 0), ?2)
                 WHERE id = ?1",
            )?
            .execute(params![to, open.last_order_at.map(to_millis).unwrap_or(0)])?;
            let left = tab(c, open.id)?.ok_or(StoreError::NotFound)?;
            append_table_event(c, EventType::TableClosed, left.session.id, now, None)?;
            let joined = tab(c, target.id)?.ok_or(StoreError::NotFound)?;
            append_table_event(c, EventType::TableUpdated, joined.session.id, now, None)?;
            Ok(TableOutcome::Done(Box::new(joined)))
        }
    }
}

fn ack(
    c: &Tx<'_>,
    current: &TableTab,
    call: CallId,
    now: DateTime<Utc>,
) -> StoreResult<TableOutcome> {
    let Some(found) = current.calls.iter().find(|existing| existing.id == call) else {
        return Ok(TableOutcome::NotFound);
    };
    if found.status != "OPEN" {
        return Ok(TableOutcome::Done(Box::new(current.clone())));
    }
    c.prepare_cached(
        "UPDATE table_calls SET status = 'ACKED', acked_at = ?2 WHERE id = ?1 AND status = 'OPEN'",
    )?
    .execute(params![call.to_string(), to_millis(now)])?;
    let after = tab(c, current.session.id)?.ok_or(StoreError::NotFound)?;
    let acked = after
        .calls
        .iter()
        .find(|existing| existing.id == call)
        .cloned();
    append_table_event(
        c,
        EventType::TableCallAck,
        current.session.id,
        now,
        acked.as_ref(),
    )?;
    Ok(TableOutcome::Done(Box::new(after)))
}
