//! SQL for restaurants, their settings, and guests.

use rusqlite::{Connection, OptionalExtension, Row, params};

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::users::parse_uuid;
use super::writer::Tx;
use crate::domain::ids::{RestaurantId, UserId};
use crate::domain::order::PaymentMode;
use crate::domain::restaurant::{
    DEFAULT_TIME_ZONE, Restaurant, RestaurantChanges, TableVerification,
};
use crate::domain::{from_millis, to_millis};
use crate::events::{EventType, LiveEvent, MenuEvent, OrderEvent, payment_switch_message};
use crate::store::{NewGuest, StoreError, StoreResult};

const COLUMNS: &str = "id, owner_id, name, table_ordering_enabled, payment_mode, time_zone, \
                       revision, created_at, table_verification, ready_message, tables, \
                       counter_payment_since, printed_base_url, printed_base_url_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Restaurant> {
    let mode: String = row.get(4)?;
    let zone: String = row.get(5)?;
    Ok(Restaurant {
        id: parse_uuid(row, 0)?,
        owner_id: parse_uuid(row, 1)?,
        name: row.get(2)?,
        table_ordering_enabled: row.get(3)?,
        payment_mode: mode.parse().unwrap_or(PaymentMode::Prepay),
        time_zone: zone.parse().unwrap_or(DEFAULT_TIME_ZONE),
        revision: row.get(6)?,
        created_at: from_millis(row.get(7)?),
        table_verification: row
            .get::<_, String>(8)?
            .parse()
            .unwrap_or(TableVerification::Qr),
        ready_message: row.get(9)?,
        tables: row.get(10)?,
        counter_payment_since: row.get::<_, Option<i64>>(11)?.map(from_millis),
        printed_base_url: match (row.get::<_, Option<String>>(12)?, row.get(13)?) {
            (Some(url), Some(at)) => Some((url, from_millis(at))),
            _ => None,
        },
    })
}

pub fn by_id(c: &Connection, id: RestaurantId) -> StoreResult<Option<Restaurant>> {
    let sql = format!("SELECT {COLUMNS} FROM restaurants WHERE id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id.to_string()], from_row)
        .optional()?)
}

pub fn revisions(c: &Connection) -> StoreResult<Vec<(RestaurantId, i64)>> {
    let mut stmt = c.prepare_cached("SELECT id, revision FROM restaurants")?;
    let rows = stmt.query_map([], |row| Ok((parse_uuid(row, 0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks the menu document as changed; returns the new revision.
pub fn bump_revision(c: &Connection, id: RestaurantId) -> StoreResult<i64> {
    Ok(c.prepare_cached(
        "UPDATE restaurants SET revision = revision + 1 WHERE id = ?1 RETURNING revision",
    )?
    .query_row([id.to_string()], |row| row.get(0))?)
}

pub fn update(
    c: &Tx<'_>,
    id: RestaurantId,
    changes: &RestaurantChanges,
) -> StoreResult<Restaurant> {
    let updated = c
        .prepare_cached(
            "UPDATE restaurants SET
                name = coalesce(?2, name),
                table_ordering_enabled = coalesce(?3, table_ordering_enabled),
                payment_mode = coalesce(?4, payment_mode),
                time_zone = coalesce(?5, time_zone),
                table_verification = coalesce(?6, table_verification),
                ready_message = CASE WHEN ?7 THEN ?8 ELSE ready_message END,
                tables = CASE WHEN ?9 THEN ?10 ELSE tables END,
                revision = revision + 1
             WHERE id = ?1",
        )?
        .execute(params![
            id.to_string(),
            changes.name.as_ref().map(|n| n.as_str()),
            changes.table_ordering_enabled,
            changes.payment_mode.map(PaymentMode::as_str),
            changes.time_zone.map(|tz| tz.name()),
            changes.table_verification.map(TableVerification::as_str),
            changes.ready_message.is_some(),
            changes.ready_message.clone().flatten(),
            changes.tables.is_some(),
            changes.tables.clone().flatten(),
        ])?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    // The menu document shows the name and whether table ordering is on.
    c.publish_after_commit(LiveEvent::Menu(MenuEvent::reload(id, Utc::now())));
    by_id(c, id)?.ok_or(StoreError::NotFound)
}

pub fn switch_counter_payment(
    c: &Tx<'_>,
    id: RestaurantId,
    on: bool,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> StoreResult<(Restaurant, Option<OrderEvent>)> {
    // Only a real change bumps the revision (guests' menus then say how to pay) and is logged.
    let changed = c
        .prepare_cached(
            "UPDATE restaurants SET counter_payment_since = CASE WHEN ?2 THEN ?3 END,
                                    revision = revision + 1
             WHERE id = ?1 AND (counter_payment_since IS NULL) = ?2",
        )?
        .execute(params![id.to_string(), on, to_millis(now)])?;
    let restaurant = by_id(c, id)?.ok_or(StoreError::NotFound)?;
    if changed == 0 {
        return Ok((restaurant, None));
    }
    let seq = next_event_seq(c, id)?;
    let payload: Arc<str> = payment_switch_message(&restaurant, seq, now)
        .to_string()
        .into();
    c.prepare_cached(
        "INSERT INTO order_events (restaurant_id, seq, order_id, table_session_id, type, payload,
                                   created_at, actor_id, actor_name, actor_role)
         VALUES (?1, ?2, NULL, NULL, ?3, ?4, ?5, ?6,
                 (SELECT name FROM users WHERE id = ?6), (SELECT role FROM users WHERE id = ?6))",
    )?
    .execute(params![
        id.to_string(),
        seq,
        EventType::PaymentSwitch.as_str(),
        &*payload,
        to_millis(now),
        by.map(|u| u.to_string()),
    ])?;
    let event = OrderEvent {
        restaurant_id: id,
        order_id: None,
        table_session_id: None,
        seq,
        kind: EventType::PaymentSwitch,
        payload,
        at: now,
    };
    c.publish_after_commit(LiveEvent::Order(event.clone()));
    c.publish_after_commit(LiveEvent::Menu(MenuEvent::reload(id, now)));
    Ok((restaurant, Some(event)))
}

pub fn record_printed_base_url(
    c: &Connection,
    id: RestaurantId,
    base_url: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE restaurants SET printed_base_url = ?2, printed_base_url_at = ?3
         WHERE id = ?1 AND printed_base_url IS NOT ?2",
    )?
    .execute(params![id.to_string(), base_url, to_millis(now)])?;
    Ok(())
}

pub fn newest_order_at(c: &Connection, id: RestaurantId) -> StoreResult<Option<DateTime<Utc>>> {
    // The newest business day's orders only: an index range, not the whole history.
    Ok(c.prepare_cached(
        "SELECT max(created_at) FROM orders WHERE restaurant_id = ?1 AND business_day =
             (SELECT max(business_day) FROM order_counters WHERE restaurant_id = ?1)",
    )?
    .query_row([id.to_string()], |row| row.get::<_, Option<i64>>(0))?
    .map(from_millis))
}

pub fn latest_business_day(c: &Connection, id: RestaurantId) -> StoreResult<Option<String>> {
    Ok(
        c.prepare_cached("SELECT max(business_day) FROM order_counters WHERE restaurant_id = ?1")?
            .query_row([id.to_string()], |row| row.get(0))?,
    )
}

/// A guest joins the party at their table if one is there (else their first order or call
/// opens one).
pub fn insert_guest(c: &Connection, guest: &NewGuest) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO guests (id, restaurant_id, table_number, created_at, table_session_id)
         VALUES (?1, ?2, ?3, ?4,
                 (SELECT id FROM table_sessions
                  WHERE restaurant_id = ?2 AND table_number = ?3 AND status = 'OPEN'))",
    )?
    .execute(params![
        guest.id.to_string(),
        guest.restaurant_id.to_string(),
        guest.table_number,
        to_millis(guest.created_at),
    ])?;
    Ok(())
}

/// Hands out the restaurant's next event sequence number.
pub fn next_event_seq(c: &Connection, id: RestaurantId) -> StoreResult<i64> {
    Ok(c.prepare_cached(
        "UPDATE restaurants SET event_seq = event_seq + 1 WHERE id = ?1 RETURNING event_seq",
    )?
    .query_row([id.to_string()], |row| row.get(0))?)
}
