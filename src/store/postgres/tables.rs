//! SQL for table service (PostgreSQL): the party (session) an order or call joins, tabs, staff
//! calls, and what the owner does to a table. The rules are SQLite's (`store::sqlite::tables`);
//! every write that changes a table first locks its session row.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Db, Fail, Outbox, PgResult, id, opt_id, orders, restaurants};
use crate::domain::ids::{CallId, GuestId, RestaurantId, SettlementId, TableSessionId};
use crate::domain::table::{
    PARTY_GATHERS, SessionStatus, TabTotals, TableCall, TableSession, check_settlement, tab_totals,
};
use crate::domain::{from_millis, to_millis};
use crate::events::{EventType, LiveEvent, OrderEvent, table_message};
use crate::store::{
    CallOutcome, NewCall, NewOrder, StoreError, TableAction, TableOutcome, TableSummary, TableTab,
};

pub enum Seat {
    None,
    Table {
        session: TableSessionId,
        table: String,
    },
    Closed,
}

const SESSION_COLUMNS: &str =
    "id, restaurant_id, table_number, status, opened_at, last_order_at, closed_at, merged_into";

fn session_from_row(row: &Row) -> PgResult<(TableSession, Option<TableSessionId>)> {
    let status: String = row.try_get(3)?;
    Ok((
        TableSession {
            id: id(row, 0)?,
            restaurant_id: id(row, 1)?,
            table_number: row.try_get(2)?,
            status: status.parse().unwrap_or(SessionStatus::Closed),
            opened_at: from_millis(row.try_get(4)?),
            last_order_at: row.try_get::<_, Option<i64>>(5)?.map(from_millis),
            closed_at: row.try_get::<_, Option<i64>>(6)?.map(from_millis),
        },
        opt_id(row, 7)?,
    ))
}

async fn session(
    db: Db<'_>,
    session: TableSessionId,
) -> PgResult<Option<(TableSession, Option<TableSessionId>)>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM table_sessions WHERE id = $1");
    db.query_opt(&sql, &[&session.to_string()])
        .await?
        .map(|row| session_from_row(&row))
        .transpose()
}

pub(super) async fn follow(
    db: Db<'_>,
    mut current: TableSessionId,
) -> PgResult<Option<TableSession>> {
    for _ in 0..8 {
        let Some((found, merged_into)) = session(db, current).await? else {
            return Ok(None);
        };
        match merged_into {
            Some(next) if found.status == SessionStatus::Closed => current = next,
            _ => return Ok(Some(found)),
        }
    }
    Ok(None)
}

async fn open_session_at(
    db: Db<'_>,
    restaurant: RestaurantId,
    table: &str,
) -> PgResult<Option<TableSession>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM table_sessions
         WHERE restaurant_id = $1 AND table_number = $2 AND status = 'OPEN'"
    );
    Ok(db
        .query_opt(&sql, &[&restaurant.to_string(), &table])
        .await?
        .map(|row| session_from_row(&row))
        .transpose()?
        .map(|(s, _)| s))
}

async fn open_or_join(
    db: Db<'_>,
    restaurant: RestaurantId,
    table: &str,
    now: DateTime<Utc>,
) -> PgResult<TableSession> {
    // Two phones ordering at once: the unique index lets one party in; both join it.
    let id = TableSessionId::new().to_string();
    let opened = db
        .execute(
            "INSERT INTO table_sessions (id, restaurant_id, table_number, status, opened_at)
             VALUES ($1, $2, $3, 'OPEN', $4)
             ON CONFLICT (restaurant_id, table_number) WHERE status = 'OPEN' DO NOTHING",
            &[&id, &restaurant.to_string(), &table, &to_millis(now)],
        )
        .await?;
    if opened == 1 {
        db.execute(
            "UPDATE guests SET table_session_id = $1
             WHERE restaurant_id = $2 AND table_number = $3 AND table_session_id IS NULL
               AND created_at >= $4",
            &[
                &id,
                &restaurant.to_string(),
                &table,
                &to_millis(now - PARTY_GATHERS),
            ],
        )
        .await?;
    }
    open_session_at(db, restaurant, table)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))
}

async fn bound_session(db: Db<'_>, guest: GuestId) -> PgResult<Option<TableSessionId>> {
    match db
        .query_opt(
            "SELECT table_session_id FROM guests WHERE id = $1",
            &[&guest.to_string()],
        )
        .await?
    {
        Some(row) => opt_id(&row, 0),
        None => Ok(None),
    }
}

pub async fn seat_at(
    db: Db<'_>,
    restaurant: RestaurantId,
    table: Option<&str>,
    guest: Option<GuestId>,
    now: DateTime<Utc>,
) -> PgResult<Seat> {
    if let Some(guest) = guest
        && let Some(bound) = bound_session(db, guest).await?
    {
        return Ok(match follow(db, bound).await? {
            Some(s) if s.status == SessionStatus::Open => Seat::Table {
                session: s.id,
                table: s.table_number,
            },
            _ => Seat::Closed,
        });
    }
    let Some(table) = table else {
        return Ok(Seat::None);
    };
    // A guest who scanned an empty table and was not taken in when its party opened is a scan
    // left behind by someone who has gone: they must never join (or see) the party there now.
    if guest.is_some() && open_session_at(db, restaurant, table).await?.is_some() {
        return Ok(Seat::Closed);
    }
    let session = open_or_join(db, restaurant, table, now).await?;
    if let Some(guest) = guest {
        db.execute(
            "UPDATE guests SET table_session_id = $2 WHERE id = $1",
            &[&guest.to_string(), &session.id.to_string()],
        )
        .await?;
    }
    Ok(Seat::Table {
        session: session.id,
        table: session.table_number,
    })
}

pub async fn seat(db: Db<'_>, new: &NewOrder, now: DateTime<Utc>) -> PgResult<Seat> {
    let guest = match new.customer {
        crate::domain::order::Customer::Guest(g) => Some(g),
        crate::domain::order::Customer::User(_) => None,
    };
    let seat = seat_at(
        db,
        new.restaurant_id,
        new.table_number.as_deref(),
        guest,
        now,
    )
    .await?;
    if let Seat::Table { session, .. } = &seat {
        db.execute(
            "UPDATE table_sessions SET last_order_at = $2 WHERE id = $1",
            &[&session.to_string(), &to_millis(now)],
        )
        .await?;
    }
    Ok(seat)
}

async fn calls_of(db: Db<'_>, session: TableSessionId) -> PgResult<Vec<TableCall>> {
    db.query(
        "SELECT id, kind, note, status, created_at, acked_at FROM table_calls
         WHERE session_id = $1 ORDER BY created_at",
        &[&session.to_string()],
    )
    .await?
    .iter()
    .map(|row| {
        let kind: String = row.try_get(1)?;
        Ok(TableCall {
            id: id(row, 0)?,
            kind: kind.parse().map_err(Fail::other)?,
            note: row.try_get(2)?,
            status: row.try_get(3)?,
            created_at: from_millis(row.try_get(4)?),
            acked_at: row.try_get::<_, Option<i64>>(5)?.map(from_millis),
        })
    })
    .collect()
}

pub async fn tab(db: Db<'_>, id: TableSessionId) -> PgResult<Option<TableTab>> {
    let Some((session, _)) = session(db, id).await? else {
        return Ok(None);
    };
    let orders = orders::of_session(db, id).await?;
    Ok(Some(TableTab {
        restaurant_id: session.restaurant_id,
        table_number: session.table_number.clone(),
        totals: tab_totals(&orders, settled(db, id).await?),
        calls: calls_of(db, id).await?,
        paid_order_ids: super::tab_payments::of_session(db, id)
            .await?
            .into_iter()
            .filter(|p| p.status == crate::domain::payment::PaymentState::Completed)
            .flat_map(|p| p.order_ids)
            .collect(),
        orders,
        session,
    }))
}

pub async fn tab_for(
    db: Db<'_>,
    restaurant: RestaurantId,
    table: &str,
    guest: Option<GuestId>,
) -> PgResult<Option<TableTab>> {
    if let Some(guest) = guest {
        let Some(bound) = bound_session(db, guest).await? else {
            return Ok(None);
        };
        let session = follow(db, bound).await?.map(|s| s.id).unwrap_or(bound);
        return tab(db, session).await;
    }
    match open_session_at(db, restaurant, table).await? {
        Some(open) => tab(db, open.id).await,
        None => Ok(None),
    }
}

/// A session's figures without loading its orders: what every table event carries, so a
/// busy table's events cost the same as a quiet one's.
pub async fn figures(db: Db<'_>, id: TableSessionId) -> PgResult<Option<TableSummary>> {
    let Some((session, _)) = session(db, id).await? else {
        return Ok(None);
    };
    // Running figures kept by a trigger on `orders` (migration 7): no recount per event.
    let row = db
        .query_one(
            "SELECT orders_count, orders_waiting, orders_billed, orders_paid
             FROM table_sessions WHERE id = $1",
            &[&id.to_string()],
        )
        .await?;
    let (orders_count, orders_waiting): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let (total, orders_paid): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
    Ok(Some(TableSummary {
        restaurant_id: session.restaurant_id,
        table_number: session.table_number,
        session_id: session.id,
        status: session.status,
        opened_at: session.opened_at,
        last_order_at: session.last_order_at,
        orders_count: orders_count as usize,
        orders_waiting: orders_waiting as usize,
        totals: TabTotals::from_sums(total, orders_paid, settled(db, id).await?),
        open_calls: calls_of(db, id)
            .await?
            .into_iter()
            .filter(|call| call.status == "OPEN")
            .collect(),
    }))
}

async fn settled(db: Db<'_>, id: TableSessionId) -> PgResult<i64> {
    Ok(db
        .query_one(
            "SELECT coalesce(sum(amount), 0)::BIGINT FROM table_settlements WHERE session_id = $1",
            &[&id.to_string()],
        )
        .await?
        .try_get(0)?)
}

pub async fn open_tables(db: Db<'_>, restaurant: RestaurantId) -> PgResult<Vec<TableSummary>> {
    let rows = db
        .query(
            "SELECT id FROM table_sessions WHERE restaurant_id = $1 AND status = 'OPEN'
             ORDER BY table_number",
            &[&restaurant.to_string()],
        )
        .await?;
    let mut tables = Vec::with_capacity(rows.len());
    for row in rows {
        tables.extend(figures(db, id(&row, 0)?).await?);
    }
    Ok(tables)
}

/// Appends a table event about session `id` (its figures as they now are) to the restaurant's
/// log; published after the commit.
async fn append_table_event(
    db: Db<'_>,
    outbox: &mut Outbox,
    kind: EventType,
    id: TableSessionId,
    at: DateTime<Utc>,
    call: Option<&TableCall>,
) -> PgResult<OrderEvent> {
    let restaurant: RestaurantId = super::id(
        &db.query_one(
            "SELECT restaurant_id FROM table_sessions WHERE id = $1",
            &[&id.to_string()],
        )
        .await?,
        0,
    )?;
    // The event number first: it locks the restaurant's row, behind which every change to its
    // orders queues, so the figures read next include every order committed before.
    let (seq, _) = restaurants::next_event_seq(db, restaurant).await?;
    let table = figures(db, id)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?;
    let payload: Arc<str> = table_message(kind, &table, seq, at, call)
        .to_string()
        .into();
    db.execute(
        "INSERT INTO order_events (restaurant_id, seq, order_id, table_session_id, type, payload,
                                   created_at)
         VALUES ($1, $2, NULL, $3, $4, $5, $6)",
        &[
            &restaurant.to_string(),
            &seq,
            &id.to_string(),
            &kind.as_str(),
            &&*payload,
            &to_millis(at),
        ],
    )
    .await?;
    let event = OrderEvent {
        restaurant_id: restaurant,
        order_id: None,
        table_session_id: Some(id),
        seq,
        kind,
        payload,
        at,
    };
    outbox.push(LiveEvent::Order(event.clone()));
    Ok(event)
}

/// Locks the session row: every change to a tab goes through it, one at a time.
/// Table changes lock the restaurant's row first, as order writes do (their event number), so
/// the two never wait on each other in opposite orders.
pub(super) async fn lock_restaurant(db: Db<'_>, restaurant: RestaurantId) -> PgResult<()> {
    db.execute(
        "SELECT 1 FROM restaurants WHERE id = $1 FOR UPDATE",
        &[&restaurant.to_string()],
    )
    .await?;
    Ok(())
}

pub(super) async fn lock(db: Db<'_>, session: TableSessionId) -> PgResult<()> {
    db.execute(
        "SELECT 1 FROM table_sessions WHERE id = $1 FOR UPDATE",
        &[&session.to_string()],
    )
    .await?;
    Ok(())
}

pub async fn call_staff(db: Db<'_>, outbox: &mut Outbox, call: &NewCall) -> PgResult<CallOutcome> {
    lock_restaurant(db, call.restaurant_id).await?;
    let seat = seat_at(
        db,
        call.restaurant_id,
        Some(&call.table_number),
        call.guest,
        call.now,
    )
    .await?;
    let session = match seat {
        Seat::Table { session, .. } => session,
        Seat::Closed => return Ok(CallOutcome::SessionClosed),
        Seat::None => return Err(Fail::Store(StoreError::NotFound)),
    };
    lock(db, session).await?;
    if let Some(open) = calls_of(db, session)
        .await?
        .into_iter()
        .find(|existing| existing.kind == call.kind && existing.status == "OPEN")
    {
        return Ok(CallOutcome::Existing(open));
    }
    db.execute(
        "INSERT INTO table_calls (id, restaurant_id, session_id, kind, note, status, created_at)
         VALUES ($1, $2, $3, $4, $5, 'OPEN', $6)",
        &[
            &call.id.to_string(),
            &call.restaurant_id.to_string(),
            &session.to_string(),
            &call.kind.as_str(),
            &call.note,
            &to_millis(call.now),
        ],
    )
    .await?;
    let created = calls_of(db, session)
        .await?
        .into_iter()
        .find(|existing| existing.id == call.id)
        .ok_or(Fail::Store(StoreError::NotFound))?;
    let event = append_table_event(
        db,
        outbox,
        EventType::TableCall,
        session,
        call.now,
        Some(&created),
    )
    .await?;
    Ok(CallOutcome::Created {
        call: created,
        event,
    })
}

pub async fn announce(
    db: Db<'_>,
    outbox: &mut Outbox,
    session: TableSessionId,
    now: DateTime<Utc>,
) -> PgResult<()> {
    append_table_event(db, outbox, EventType::TableUpdated, session, now, None).await?;
    Ok(())
}

pub async fn action(
    db: Db<'_>,
    outbox: &mut Outbox,
    restaurant: RestaurantId,
    table: &str,
    action: &TableAction,
    now: DateTime<Utc>,
) -> PgResult<TableOutcome> {
    lock_restaurant(db, restaurant).await?;
    let Some(open) = open_session_at(db, restaurant, table).await? else {
        return Ok(TableOutcome::NotFound);
    };
    lock(db, open.id).await?;
    let current = tab(db, open.id)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?;
    if current.session.status != SessionStatus::Open {
        return Ok(TableOutcome::NotFound); // closed while we waited for the lock
    }
    let remaining = current.totals.remaining_amount;
    let ms = to_millis(now);
    let missing = || Fail::Store(StoreError::NotFound);
    match action {
        TableAction::AckCall(call) => ack(db, outbox, &current, *call, now).await,
        TableAction::Settle {
            method,
            amount,
            business_day,
        } => {
            // What phones are confirming right now is spoken for.
            let available = remaining - super::tab_payments::in_flight(db, open.id, None).await?;
            if let Err(invalid) = check_settlement(*amount, available) {
                return Ok(TableOutcome::Invalid(invalid));
            }
            db.execute(
                "INSERT INTO table_settlements (id, session_id, restaurant_id, method, amount,
                                                business_day, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &SettlementId::new().to_string(),
                    &open.id.to_string(),
                    &restaurant.to_string(),
                    &method.as_str(),
                    amount,
                    business_day,
                    &ms,
                ],
            )
            .await?;
            let after = tab(db, open.id).await?.ok_or_else(missing)?;
            append_table_event(
                db,
                outbox,
                EventType::TableUpdated,
                after.session.id,
                now,
                None,
            )
            .await?;
            Ok(TableOutcome::Done(Box::new(after)))
        }
        TableAction::Close { confirm_unpaid } => {
            if remaining > 0 && !confirm_unpaid {
                return Ok(TableOutcome::Refused {
                    reason: "the tab is not fully paid; confirm to close it anyway",
                    remaining,
                });
            }
            db.execute(
                "UPDATE table_sessions SET status = 'CLOSED', closed_at = $2, closed_unpaid = $3
                 WHERE id = $1 AND status = 'OPEN'",
                &[&open.id.to_string(), &ms, &remaining],
            )
            .await?;
            let after = tab(db, open.id).await?.ok_or_else(missing)?;
            append_table_event(
                db,
                outbox,
                EventType::TableClosed,
                after.session.id,
                now,
                None,
            )
            .await?;
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
            if open_session_at(db, restaurant, to).await?.is_some() {
                return Ok(TableOutcome::Refused {
                    reason: "another party sits at that table; merge the two instead",
                    remaining,
                });
            }
            db.execute(
                "UPDATE table_sessions SET table_number = $2 WHERE id = $1",
                &[&open.id.to_string(), to],
            )
            .await?;
            db.execute(
                "UPDATE orders SET table_number = $2 WHERE table_session_id = $1",
                &[&open.id.to_string(), to],
            )
            .await?;
            let after = tab(db, open.id).await?.ok_or_else(missing)?;
            append_table_event(
                db,
                outbox,
                EventType::TableUpdated,
                after.session.id,
                now,
                None,
            )
            .await?;
            Ok(TableOutcome::Done(Box::new(after)))
        }
        TableAction::Merge { into } => {
            if into == table {
                return Ok(TableOutcome::Invalid(
                    crate::domain::error::FieldError::new("into", "a party cannot join itself"),
                ));
            }
            let Some(target) = open_session_at(db, restaurant, into).await? else {
                return Ok(TableOutcome::Refused {
                    reason: "nobody sits at that table; move the party there instead",
                    remaining,
                });
            };
            lock(db, target.id).await?;
            let (from, to) = (open.id.to_string(), target.id.to_string());
            db.execute(
                "UPDATE table_calls SET status = 'ACKED', acked_at = $3
                 WHERE session_id = $1 AND status = 'OPEN' AND kind IN
                     (SELECT kind FROM table_calls WHERE session_id = $2 AND status = 'OPEN')",
                &[&from, &to, &ms],
            )
            .await?;
            db.execute(
                "UPDATE orders SET table_session_id = $2, table_number = $3
                 WHERE table_session_id = $1",
                &[&from, &to, into],
            )
            .await?;
            for sql in [
                "UPDATE table_calls SET session_id = $2 WHERE session_id = $1",
                "UPDATE table_settlements SET session_id = $2 WHERE session_id = $1",
                "UPDATE tab_payments SET session_id = $2 WHERE session_id = $1",
                "UPDATE guests SET table_session_id = $2 WHERE table_session_id = $1",
            ] {
                db.execute(sql, &[&from, &to]).await?;
            }
            db.execute(
                "UPDATE table_sessions SET status = 'CLOSED', closed_at = $3, merged_into = $2
                 WHERE id = $1",
                &[&from, &to, &ms],
            )
            .await?;
            db.execute(
                "UPDATE table_sessions
                 SET last_order_at = GREATEST(coalesce(last_order_at, 0), $2) WHERE id = $1",
                &[&to, &open.last_order_at.map(to_millis).unwrap_or(0)],
            )
            .await?;
            let left = tab(db, open.id).await?.ok_or_else(missing)?;
            append_table_event(
                db,
                outbox,
                EventType::TableClosed,
                left.session.id,
                now,
                None,
            )
            .await?;
            let joined = tab(db, target.id).await?.ok_or_else(missing)?;
            append_table_event(
                db,
                outbox,
                EventType::TableUpdated,
                joined.session.id,
                now,
                None,
            )
            .await?;
            Ok(TableOutcome::Done(Box::new(joined)))
        }
    }
}

async fn ack(
    db: Db<'_>,
    outbox: &mut Outbox,
    current: &TableTab,
    call: CallId,
    now: DateTime<Utc>,
) -> PgResult<TableOutcome> {
    let Some(found) = current.calls.iter().find(|existing| existing.id == call) else {
        return Ok(TableOutcome::NotFound);
    };
    if found.status != "OPEN" {
        return Ok(TableOutcome::Done(Box::new(current.clone())));
    }
    db.execute(
        "UPDATE table_calls SET status = 'ACKED', acked_at = $2 WHERE id = $1 AND status = 'OPEN'",
        &[&call.to_string(), &to_millis(now)],
    )
    .await?;
    let after = tab(db, current.session.id)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?;
    let acked = after
        .calls
        .iter()
        .find(|existing| existing.id == call)
        .cloned();
    append_table_event(
        db,
        outbox,
        EventType::TableCallAck,
        after.session.id,
        now,
        acked.as_ref(),
    )
    .await?;
    Ok(TableOutcome::Done(Box::new(after)))
}
