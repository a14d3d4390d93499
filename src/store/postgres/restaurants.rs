//! SQL for restaurants, their settings, guests and event sequence numbers (PostgreSQL).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Db, Fail, Outbox, PgResult, id};
use crate::domain::from_millis;
use crate::domain::ids::{RestaurantId, UserId};
use crate::domain::order::PaymentMode;
use crate::domain::restaurant::{
    DEFAULT_TIME_ZONE, Restaurant, RestaurantChanges, TableVerification,
};
use crate::domain::to_millis;
use crate::events::{EventType, LiveEvent, MenuEvent, OrderEvent, payment_switch_message};
use crate::store::{NewGuest, StoreError};

const COLUMNS: &str = "id, owner_id, name, table_ordering_enabled, payment_mode, time_zone, \
                       revision, created_at, table_verification, ready_message, tables, \
                       counter_payment_since, printed_base_url, printed_base_url_at";

fn from_row(row: &Row) -> PgResult<Restaurant> {
    let mode: String = row.try_get(4)?;
    let zone: String = row.try_get(5)?;
    let verification: String = row.try_get(8)?;
    Ok(Restaurant {
        id: id(row, 0)?,
        owner_id: id(row, 1)?,
        name: row.try_get(2)?,
        table_ordering_enabled: row.try_get(3)?,
        payment_mode: mode.parse().unwrap_or(PaymentMode::Prepay),
        time_zone: zone.parse().unwrap_or(DEFAULT_TIME_ZONE),
        table_verification: verification.parse().unwrap_or(TableVerification::Qr),
        ready_message: row.try_get(9)?,
        tables: row.try_get(10)?,
        revision: row.try_get(6)?,
        created_at: from_millis(row.try_get(7)?),
        counter_payment_since: row.try_get::<_, Option<i64>>(11)?.map(from_millis),
        printed_base_url: match (row.try_get::<_, Option<String>>(12)?, row.try_get(13)?) {
            (Some(url), Some(at)) => Some((url, from_millis(at))),
            _ => None,
        },
    })
}

pub async fn by_id(db: Db<'_>, restaurant: RestaurantId) -> PgResult<Option<Restaurant>> {
    let sql = format!("SELECT {COLUMNS} FROM restaurants WHERE id = $1");
    db.query_opt(&sql, &[&restaurant.to_string()])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

pub async fn revisions(db: Db<'_>) -> PgResult<Vec<(RestaurantId, i64)>> {
    db.query("SELECT id, revision FROM restaurants", &[])
        .await?
        .iter()
        .map(|row| Ok((id(row, 0)?, row.try_get(1)?)))
        .collect()
}

/// Marks the menu document as changed; returns the new revision.
pub async fn bump_revision(db: Db<'_>, restaurant: RestaurantId) -> PgResult<i64> {
    Ok(db
        .query_one(
            "UPDATE restaurants SET revision = revision + 1 WHERE id = $1 RETURNING revision",
            &[&restaurant.to_string()],
        )
        .await?
        .try_get(0)?)
}

pub async fn update(
    db: Db<'_>,
    outbox: &mut Outbox,
    restaurant: RestaurantId,
    changes: &RestaurantChanges,
) -> PgResult<Restaurant> {
    let updated = db
        .execute(
            "UPDATE restaurants SET
                name = coalesce($2, name),
                table_ordering_enabled = coalesce($3, table_ordering_enabled),
                payment_mode = coalesce($4, payment_mode),
                time_zone = coalesce($5, time_zone),
                table_verification = coalesce($6, table_verification),
                ready_message = CASE WHEN $7 THEN $8 ELSE ready_message END,
                tables = CASE WHEN $9 THEN $10 ELSE tables END,
                revision = revision + 1
             WHERE id = $1",
            &[
                &restaurant.to_string(),
                &changes.name.as_ref().map(|n| n.as_str()),
                &changes.table_ordering_enabled,
                &changes.payment_mode.map(PaymentMode::as_str),
                &changes.time_zone.map(|tz| tz.name()),
                &changes.table_verification.map(TableVerification::as_str),
                &changes.ready_message.is_some(),
                &changes.ready_message.clone().flatten(),
                &changes.tables.is_some(),
                &changes.tables.clone().flatten(),
            ],
        )
        .await?;
    if updated == 0 {
        return Err(Fail::Store(StoreError::NotFound));
    }
    // The menu document shows the name and whether table ordering is on.
    outbox.push(LiveEvent::Menu(MenuEvent::reload(restaurant, Utc::now())));
    by_id(db, restaurant)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))
}

pub async fn switch_counter_payment(
    db: Db<'_>,
    outbox: &mut Outbox,
    restaurant: RestaurantId,
    on: bool,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> PgResult<(Restaurant, Option<OrderEvent>)> {
    // Only a real change bumps the revision (guests' menus then say how to pay) and is logged.
    let changed = db
        .execute(
            "UPDATE restaurants SET counter_payment_since = CASE WHEN $2 THEN $3::BIGINT END,
                                    revision = revision + 1
             WHERE id = $1 AND (counter_payment_since IS NULL) = $2",
            &[&restaurant.to_string(), &on, &to_millis(now)],
        )
        .await?;
    let current = by_id(db, restaurant)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?;
    if changed == 0 {
        return Ok((current, None));
    }
    let (seq, _) = next_event_seq(db, restaurant).await?;
    let payload: std::sync::Arc<str> = payment_switch_message(&current, seq, now)
        .to_string()
        .into();
    db.execute(
        "INSERT INTO order_events (restaurant_id, seq, order_id, table_session_id, type, payload,
                                   created_at, actor_id, actor_name, actor_role)
         VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6,
                 (SELECT name FROM users WHERE id = $6), (SELECT role FROM users WHERE id = $6))",
        &[
            &restaurant.to_string(),
            &seq,
            &EventType::PaymentSwitch.as_str(),
            &&*payload,
            &to_millis(now),
            &by.map(|u| u.to_string()),
        ],
    )
    .await?;
    let event = OrderEvent {
        restaurant_id: restaurant,
        order_id: None,
        table_session_id: None,
        seq,
        kind: EventType::PaymentSwitch,
        payload,
        at: now,
    };
    outbox.push(LiveEvent::Order(event.clone()));
    outbox.push(LiveEvent::Menu(MenuEvent::reload(restaurant, now)));
    Ok((current, Some(event)))
}

pub async fn record_printed_base_url(
    db: Db<'_>,
    restaurant: RestaurantId,
    base_url: &str,
    now: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "UPDATE restaurants SET printed_base_url = $2, printed_base_url_at = $3
         WHERE id = $1 AND printed_base_url IS DISTINCT FROM $2",
        &[&restaurant.to_string(), &base_url, &to_millis(now)],
    )
    .await?;
    Ok(())
}

pub async fn newest_order_at(
    db: Db<'_>,
    restaurant: RestaurantId,
) -> PgResult<Option<DateTime<Utc>>> {
    // The newest business day's orders only: an index range, not the whole history.
    let row = db
        .query_one(
            "SELECT max(created_at) FROM orders WHERE restaurant_id = $1 AND business_day =
                 (SELECT max(business_day) FROM order_counters WHERE restaurant_id = $1)",
            &[&restaurant.to_string()],
        )
        .await?;
    Ok(row.try_get::<_, Option<i64>>(0)?.map(from_millis))
}

/// The latest business day `restaurant` (its id as stored) has numbered orders in.
pub async fn latest_business_day(db: Db<'_>, restaurant: &str) -> PgResult<Option<String>> {
    let row = db
        .query_one(
            "SELECT max(business_day) FROM order_counters WHERE restaurant_id = $1",
            &[&restaurant],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// A guest joins the party at their table if one is there (else their first order or call
/// opens one).
pub async fn insert_guest(db: Db<'_>, guest: &NewGuest) -> PgResult<()> {
    db.execute(
        "INSERT INTO guests (id, restaurant_id, table_number, created_at, table_session_id)
         VALUES ($1, $2, $3, $4,
                 (SELECT id FROM table_sessions
                  WHERE restaurant_id = $2 AND table_number = $3 AND status = 'OPEN'))",
        &[
            &guest.id.to_string(),
            &guest.restaurant_id.to_string(),
            &guest.table_number,
            &to_millis(guest.created_at),
        ],
    )
    .await?;
    Ok(())
}

/// Hands out the restaurant's next event sequence number and its menu revision. The row stays
/// locked until the transaction ends: a restaurant's events commit in sequence order.
pub async fn next_event_seq(db: Db<'_>, restaurant: RestaurantId) -> PgResult<(i64, i64)> {
    let row = db
        .query_one(
            "UPDATE restaurants SET event_seq = event_seq + 1 WHERE id = $1
             RETURNING event_seq, revision",
            &[&restaurant.to_string()],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
