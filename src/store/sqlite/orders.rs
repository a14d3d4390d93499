//! SQL for orders: placing (numbering, idempotency, event), reading, listing, and the
//! compare-and-set state transitions with their event-log entries.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::restaurants;
use super::tables;
use super::users::parse_uuid;
use super::writer::Tx;
use crate::domain::ids::{OrderId, PaymentId, RestaurantId, TableSessionId};
use crate::domain::order::{
    Action, Customer, Order, OrderStatus, PLAN_ATTEMPTS, PaymentMode, PaymentStatus,
    TransitionPlan, filing_day, order_number, plan_transition,
};
use crate::domain::pricing::{ChosenOption, PricedLine};
use crate::domain::{from_millis, to_millis};
use crate::events::{EventType, LiveEvent, OrderEvent, order_message};
use crate::store::{
    Actor, IdempotencyKey, LoggedActor, LoggedEvent, NewOrder, OrderCursor, OrderPage,
    PlaceOutcome, StoreError, StoreResult, TransitionOutcome, TransitionRequest,
};

const ORDER_COLUMNS: &str = "id, restaurant_id, customer_id, guest_id, order_number, table_number, \
     total_amount, status, payment_status, payment_mode, special_requests, estimated_ready_at, \
     owner_message, reject_reason, cancel_reason, created_at, updated_at, test_payment, \
     table_session_id";

fn text_enum<T: std::str::FromStr<Err = String>>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

fn order_from_row(row: &Row<'_>) -> rusqlite::Result<Order> {
    let customer_id: Option<String> = row.get(2)?;
    let customer = match customer_id {
        Some(_) => Customer::User(parse_uuid(row, 2)?),
        None => Customer::Guest(parse_uuid(row, 3)?),
    };
    let payment_mode: PaymentMode = text_enum(row, 9)?;
    let payment_status: PaymentStatus = text_enum(row, 8)?;
    Ok(Order {
        id: parse_uuid(row, 0)?,
        restaurant_id: parse_uuid(row, 1)?,
        customer,
        order_number: row.get(4)?,
        table_number: row.get(5)?,
        total_amount: row.get(6)?,
        status: text_enum(row, 7)?,
        payment_status,
        payment_mode,
        payment_required: Order::payment_required(payment_mode, payment_status),
        special_requests: row.get(10)?,
        estimated_ready_at: row.get::<_, Option<i64>>(11)?.map(from_millis),
        message: row.get(12)?,
        reject_reason: row.get(13)?,
        cancel_reason: row.get(14)?,
        created_at: from_millis(row.get(15)?),
        updated_at: from_millis(row.get(16)?),
        test_payment: row.get(17)?,
        table_session_id: row
            .get::<_, Option<String>>(18)?
            .and_then(|id| id.parse().ok()),
        items: Vec::new(),
    })
}

fn lines_of(c: &Connection, order: OrderId) -> StoreResult<Vec<PricedLine>> {
    let mut stmt = c.prepare_cached(
        "SELECT menu_id, name, quantity, unit_price, options, line_total
         FROM order_items WHERE order_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([order.to_string()], |row| {
        let options: String = row.get(4)?;
        let options: Vec<ChosenOption> = serde_json::from_str(&options).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, e.into())
        })?;
        Ok(PricedLine {
            menu_id: parse_uuid(row, 0)?,
            name: row.get(1)?,
            quantity: row.get(2)?,
            unit_price: row.get(3)?,
            options,
            line_total: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn by_id(c: &Connection, id: OrderId) -> StoreResult<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1");
    let Some(mut order) = c
        .prepare_cached(&sql)?
        .query_row([id.to_string()], order_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    order.items = lines_of(c, id)?;
    Ok(Some(order))
}

pub(super) fn append_event(
    c: &Tx<'_>,
    kind: EventType,
    order: &Order,
    at: DateTime<Utc>,
) -> StoreResult<OrderEvent> {
    let seq = restaurants::next_event_seq(c, order.restaurant_id)?;
    let payload: Arc<str> = order_message(kind, order, seq, at).to_string().into();
    c.prepare_cached(
        "INSERT INTO order_events (restaurant_id, seq, order_id, table_session_id, type, payload,
                                   created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        order.restaurant_id.to_string(),
        seq,
        order.id.to_string(),
        order.table_session_id.map(|s| s.to_string()),
        kind.as_str(),
        &*payload,
        to_millis(at),
    ])?;
    let event = OrderEvent {
        restaurant_id: order.restaurant_id,
        order_id: Some(order.id),
        table_session_id: order.table_session_id,
        seq,
        kind,
        payload,
        at,
    };
    c.publish_after_commit(LiveEvent::Order(event.clone()));
    // Whatever happens to an order changes its table's tab (totals, what is still cooking).
    if let Some(session) = order.table_session_id {
        tables::announce(c, session, at)?;
    }
    // The kitchen's tickets are queued with the change that calls for them.
    super::printing::on_order_event(c, kind, order, at)?;
    Ok(event)
}

fn customer_columns(customer: Customer) -> (Option<String>, Option<String>) {
    match customer {
        Customer::User(id) => (Some(id.to_string()), None),
        Customer::Guest(id) => (None, Some(id.to_string())),
    }
}

/// What an `Idempotency-Key` the customer already used stands for: the order it made (same
/// request) or a conflict (different request); `None` for a fresh key.
pub fn remembered(
    c: &Connection,
    customer: Customer,
    key: &IdempotencyKey,
) -> StoreResult<Option<PlaceOutcome>> {
    let seen: Option<(String, String)> = c
        .prepare_cached(
            "SELECT request_hash, order_id FROM idempotency_keys
             WHERE owner_key = ?1 AND key = ?2",
        )?
        .query_row(params![customer.key().to_string(), key.key], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((hash, order_id)) = seen else {
        return Ok(None);
    };
    if hash != key.request_hash {
        return Ok(Some(PlaceOutcome::KeyReused));
    }
    let order_id = order_id
        .parse()
        .map_err(|_| StoreError::Other(anyhow::anyhow!("bad order id {order_id}")))?;
    Ok(Some(PlaceOutcome::Replayed(order_id)))
}

pub fn place(
    c: &Tx<'_>,
    new: &NewOrder,
    idempotency: Option<&IdempotencyKey>,
    revision: i64,
) -> StoreResult<PlaceOutcome> {
    if let Some(key) = idempotency
        && let Some(outcome) = remembered(c, new.customer, key)?
    {
        return Ok(outcome);
    }
    let current: Option<i64> = c
        .prepare_cached("SELECT revision FROM restaurants WHERE id = ?1")?
        .query_row([new.restaurant_id.to_string()], |row| row.get(0))
        .optional()?;
    if current != Some(revision) {
        return Ok(PlaceOutcome::MenuChanged);
    }
    // A clock set back past midnight must not reopen an earlier business day (and number its
    // orders again): the day never goes back behind the latest one numbered.
    let latest = restaurants::latest_business_day(c, new.restaurant_id)?;
    let business_day = filing_day(&new.business_day, latest);
    // The table's party: the guest's own, or the one at the table (opened now if none).
    let seat = tables::seat(c, new, new.created_at)?;
    let (table_session_id, table_number) = match seat {
        tables::Seat::Closed => return Ok(PlaceOutcome::TableSessionClosed),
        tables::Seat::Table { session, table } => (Some(session), Some(table)),
        tables::Seat::None => (None, new.table_number.clone()),
    };
    let number: u32 = c
        .prepare_cached(
            "INSERT INTO order_counters (restaurant_id, business_day, last_number)
             VALUES (?1, ?2, 1)
             ON CONFLICT (restaurant_id, business_day)
             DO UPDATE SET last_number = last_number + 1
             RETURNING last_number",
        )?
        .query_row(
            params![new.restaurant_id.to_string(), business_day],
            |row| row.get(0),
        )?;
    let now = to_millis(new.created_at);
    let (customer_id, guest_id) = customer_columns(new.customer);
    let order = Order {
        id: new.id,
        order_number: order_number(number),
        restaurant_id: new.restaurant_id,
        table_number,
        status: OrderStatus::Pending,
        payment_status: PaymentStatus::Pending,
        payment_mode: new.payment_mode,
        payment_required: Order::payment_required(new.payment_mode, PaymentStatus::Pending),
        total_amount: new.total_amount,
        special_requests: new.special_requests.clone(),
        items: new.lines.clone(),
        estimated_ready_at: None,
        message: None,
        reject_reason: None,
        cancel_reason: None,
        created_at: new.created_at,
        updated_at: new.created_at,
        test_payment: false,
        table_session_id,
        customer: new.customer,
    };
    c.prepare_cached(
        "INSERT INTO orders (id, restaurant_id, customer_id, guest_id, order_number, business_day,
                             table_number, total_amount, status, payment_status, payment_mode,
                             special_requests, created_at, updated_at, table_session_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'PENDING', 'PENDING', ?9, ?10, ?11, ?11, ?12)",
    )?
    .execute(params![
        order.id.to_string(),
        order.restaurant_id.to_string(),
        customer_id,
        guest_id,
        order.order_number,
        business_day,
        order.table_number,
        order.total_amount,
        order.payment_mode.as_str(),
        order.special_requests,
        now,
        order.table_session_id.map(|s| s.to_string()),
    ])?;
    let mut insert_line = c.prepare_cached(
        "INSERT INTO order_items (id, order_id, menu_id, name, quantity, unit_price, options,
                                  line_total, position, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (position, line) in order.items.iter().enumerate() {
        let options =
            serde_json::to_string(&line.options).map_err(|e| StoreError::Other(e.into()))?;
        insert_line.execute(params![
            uuid::Uuid::now_v7().to_string(),
            order.id.to_string(),
            line.menu_id.to_string(),
            line.name,
            line.quantity,
            line.unit_price,
            options,
            line.line_total,
            position as i64,
            now,
        ])?;
    }
    if let Some(key) = idempotency {
        c.prepare_cached(
            "INSERT INTO idempotency_keys (owner_key, key, request_hash, order_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            new.customer.key().to_string(),
            key.key,
            key.request_hash,
            order.id.to_string(),
            now
        ])?;
    }
    let event = append_event(c, EventType::NewOrder, &order, new.created_at)?;
    Ok(PlaceOutcome::Placed {
        order: Box::new(order),
        event,
    })
}

/// Names who acted on the event: a restaurant account's name and role are copied (the log
/// outlives the account); a customer is marked as the guest. The box itself stays unnamed.
fn name_actor(c: &Tx<'_>, event: &OrderEvent, actor: Actor) -> StoreResult<()> {
    match actor {
        Actor::Shop {
            by: Some(account), ..
        } => c
            .prepare_cached(
                "UPDATE order_events SET actor_id = u.id, actor_name = u.name, actor_role = u.role
                 FROM (SELECT id, name, role FROM users WHERE id = ?3) AS u
                 WHERE restaurant_id = ?1 AND seq = ?2",
            )?
            .execute(params![
                event.restaurant_id.to_string(),
                event.seq,
                account.to_string()
            ])?,
        Actor::Customer(customer) => c
            .prepare_cached(
                "UPDATE order_events SET actor_id = ?3, actor_role = 'CUSTOMER'
                 WHERE restaurant_id = ?1 AND seq = ?2",
            )?
            .execute(params![
                event.restaurant_id.to_string(),
                event.seq,
                customer.key().to_string()
            ])?,
        Actor::Shop { by: None, .. } => 0,
    };
    Ok(())
}

fn belongs_to(order: &Order, actor: Actor) -> bool {
    match actor {
        Actor::Shop { restaurant, .. } => order.restaurant_id == restaurant,
        Actor::Customer(customer) => order.customer == customer,
    }
}

pub fn transition(c: &Tx<'_>, req: &TransitionRequest) -> StoreResult<TransitionOutcome> {
    for _ in 0..PLAN_ATTEMPTS {
        let Some(order) = by_id(c, req.order_id)? else {
            return Ok(TransitionOutcome::NotFound);
        };
        if !belongs_to(&order, req.actor) {
            return Ok(TransitionOutcome::NotFound);
        }
        let plan = match plan_transition(
            order.status,
            order.payment_status,
            order.payment_mode,
            order.table_session_id.is_some(),
            req.action,
        ) {
            Ok(plan) => plan,
            Err(reason) => {
                return Ok(TransitionOutcome::Refused {
                    status: order.status,
                    payment_status: order.payment_status,
                    reason,
                });
            }
        };
        if apply_transition(c, &order, req, &plan)? {
            let order = by_id(c, order.id)?.ok_or(StoreError::NotFound)?;
            let kind = if plan.to_status == OrderStatus::Cancelled {
                EventType::OrderCancelled
            } else {
                EventType::StatusChanged
            };
            let event = append_event(c, kind, &order, req.now)?;
            name_actor(c, &event, req.actor)?;
            return Ok(TransitionOutcome::Done {
                order: Box::new(order),
                event,
            });
        }
    }
    Err(StoreError::Unavailable(
        "the order kept changing; try again".into(),
    ))
}

/// Writes `plan` if the order is still as planned from; `false` if it changed meanwhile.
fn apply_transition(
    c: &Tx<'_>,
    order: &Order,
    req: &TransitionRequest,
    plan: &TransitionPlan,
) -> StoreResult<bool> {
    let now = to_millis(req.now);
    let changed = c
        .prepare_cached(
            "UPDATE orders SET
                 status = ?4,
                 payment_status = ?5,
                 estimated_ready_at = coalesce(?6, estimated_ready_at),
                 owner_message = CASE WHEN ?4 = 'ACCEPTED' AND ?2 = 'PENDING' THEN ?7
                                      ELSE owner_message END,
                 reject_reason = CASE WHEN ?4 = 'REJECTED' THEN ?7 ELSE reject_reason END,
                 cancel_reason = CASE WHEN ?4 = 'CANCELLED' THEN ?7 ELSE cancel_reason END,
                 updated_at = ?8
             WHERE id = ?1 AND status = ?2 AND payment_status = ?3",
        )?
        .execute(params![
            order.id.to_string(),
            plan.from_status.as_str(),
            plan.from_payment.as_str(),
            plan.to_status.as_str(),
            plan.to_payment.as_str(),
            req.estimated_ready_at.map(to_millis),
            req.note,
            now,
        ])?;
    if changed != 1 {
        return Ok(false);
    }
    if plan.refund_owed {
        c.prepare_cached(
            "UPDATE payments SET refund_status = 'PENDING', refund_reason = ?2,
                 refund_next_at = ?3, updated_at = ?3
             WHERE order_id = ?1 AND status = 'COMPLETED'",
        )?
        .execute(params![
            order.id.to_string(),
            req.note.as_deref().unwrap_or(match req.action {
                Action::Reject => "주문이 거절되었습니다",
                _ => "주문이 취소되었습니다",
            }),
            now,
        ])?;
    }
    if plan.paid_at_counter {
        c.prepare_cached(
            "INSERT INTO payments (id, order_id, amount, status, method, approved_at, created_at,
                                   updated_at)
             VALUES (?1, ?2, ?3, 'COMPLETED', 'COUNTER', ?4, ?4, ?4)",
        )?
        .execute(params![
            PaymentId::new().to_string(),
            order.id.to_string(),
            order.total_amount,
            now,
        ])?;
    }
    Ok(true)
}

/// Lists orders matching `filter` (an SQL condition over `params`), newest first.
fn page(
    c: &Connection,
    filter: &str,
    mut params: Vec<SqlValue>,
    after: Option<OrderCursor>,
    limit: usize,
) -> StoreResult<OrderPage> {
    let mut sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {filter}");
    if let Some(cursor) = after {
        let n = params.len();
        sql.push_str(&format!(
            " AND (created_at < ?{} OR (created_at = ?{} AND id < ?{}))",
            n + 1,
            n + 1,
            n + 2
        ));
        params.push(SqlValue::Integer(cursor.created_at_ms));
        params.push(SqlValue::Text(cursor.id.to_string()));
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let mut stmt = c.prepare_cached(&sql)?;
    let mut orders: Vec<Order> = stmt
        .query_map(params_from_iter(params), order_from_row)?
        .collect::<Result<_, _>>()?;
    let next_cursor = if orders.len() > limit {
        orders.truncate(limit);
        orders.last().map(|o| OrderCursor {
            created_at_ms: to_millis(o.created_at),
            id: o.id,
        })
    } else {
        None
    };
    for order in &mut orders {
        order.items = lines_of(c, order.id)?;
    }
    Ok(OrderPage {
        orders,
        next_cursor,
    })
}

pub fn for_customer(
    c: &Connection,
    customer: Customer,
    after: Option<OrderCursor>,
    limit: usize,
) -> StoreResult<OrderPage> {
    let filter = match customer {
        Customer::User(_) => "customer_id = ?1",
        Customer::Guest(_) => "guest_id = ?1",
    };
    let params = vec![SqlValue::Text(customer.key().to_string())];
    page(c, filter, params, after, limit)
}

pub fn for_restaurant(
    c: &Connection,
    restaurant: RestaurantId,
    statuses: &[OrderStatus],
    after: Option<OrderCursor>,
    limit: usize,
) -> StoreResult<OrderPage> {
    let mut filter = "restaurant_id = ?1".to_owned();
    let mut params = vec![SqlValue::Text(restaurant.to_string())];
    if !statuses.is_empty() {
        let slots: Vec<String> = (0..statuses.len()).map(|i| format!("?{}", i + 2)).collect();
        filter.push_str(&format!(" AND status IN ({})", slots.join(", ")));
        params.extend(
            statuses
                .iter()
                .map(|s| SqlValue::Text(s.as_str().to_owned())),
        );
    }
    page(c, &filter, params, after, limit)
}

/// Every order of a table's party, oldest first.
pub fn of_session(c: &Connection, session: TableSessionId) -> StoreResult<Vec<Order>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE table_session_id = ?1 ORDER BY created_at, id"
    );
    let mut orders: Vec<Order> = c
        .prepare_cached(&sql)?
        .query_map([session.to_string()], order_from_row)?
        .collect::<Result<_, _>>()?;
    for order in &mut orders {
        order.items = lines_of(c, order.id)?;
    }
    Ok(orders)
}

/// Every order of a business day, newest first; `query` matches the order number (any part,
/// any case) or the table.
pub fn of_day(
    c: &Connection,
    restaurant: RestaurantId,
    business_day: &str,
    query: Option<&str>,
) -> StoreResult<Vec<Order>> {
    let mut sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE restaurant_id = ?1 AND business_day = ?2"
    );
    let mut params = vec![
        SqlValue::Text(restaurant.to_string()),
        SqlValue::Text(business_day.to_owned()),
    ];
    if let Some(query) = query {
        sql.push_str(" AND (upper(order_number) LIKE ?3 OR table_number = ?4)");
        params.push(SqlValue::Text(format!("%{}%", query.to_uppercase())));
        params.push(SqlValue::Text(query.to_owned()));
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT 2000");
    let mut orders: Vec<Order> = c
        .prepare_cached(&sql)?
        .query_map(params_from_iter(params), order_from_row)?
        .collect::<Result<_, _>>()?;
    for order in &mut orders {
        order.items = lines_of(c, order.id)?;
    }
    Ok(orders)
}

/// PREPAY orders still waiting for their payment, placed before `placed_before`.
pub fn unpaid(
    c: &Connection,
    placed_before: DateTime<Utc>,
    limit: usize,
) -> StoreResult<Vec<OrderId>> {
    let mut stmt = c.prepare_cached(
        "SELECT id FROM orders
         WHERE status = 'PENDING' AND payment_status = 'PENDING' AND payment_mode = 'PREPAY'
           AND created_at <= ?1
         ORDER BY created_at LIMIT ?2",
    )?;
    let ids = stmt
        .query_map(params![to_millis(placed_before), limit as i64], |row| {
            parse_uuid(row, 0)
        })?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

pub fn order_log(
    c: &Connection,
    restaurant: RestaurantId,
    order: OrderId,
) -> StoreResult<Vec<LoggedEvent>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, type, payload, created_at, actor_id, actor_name, actor_role
         FROM order_events WHERE order_id = ?2 AND restaurant_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![restaurant.to_string(), order.to_string()], |row| {
        let actor_id: Option<String> = row.get(4)?;
        Ok(LoggedEvent {
            seq: row.get(0)?,
            kind: row.get(1)?,
            payload: row.get(2)?,
            at: from_millis(row.get(3)?),
            actor: match actor_id {
                Some(id) => Some(LoggedActor {
                    id,
                    name: row.get(5)?,
                    role: row.get(6)?,
                }),
                None => None,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn events_since(
    c: &Connection,
    restaurant: RestaurantId,
    seq: i64,
    limit: usize,
) -> StoreResult<Vec<OrderEvent>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, order_id, type, payload, created_at, table_session_id FROM order_events
         WHERE restaurant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![restaurant.to_string(), seq, limit as i64], |row| {
        let kind: String = row.get(2)?;
        let payload: String = row.get(3)?;
        let optional_id = |idx: usize| -> rusqlite::Result<Option<String>> { row.get(idx) };
        Ok(OrderEvent {
            restaurant_id: restaurant,
            order_id: optional_id(1)?.and_then(|id| id.parse().ok()),
            table_session_id: optional_id(5)?.and_then(|id| id.parse().ok()),
            seq: row.get(0)?,
            kind: EventType::from_name(&kind),
            payload: payload.into(),
            at: from_millis(row.get(4)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Open orders shown on a freshly connected owner board, at most.
const SNAPSHOT_LIMIT: usize = 500;

pub fn live_snapshot(
    c: &Connection,
    restaurant: RestaurantId,
    order: Option<OrderId>,
) -> StoreResult<(i64, Vec<Order>)> {
    // One read transaction: the orders are exactly as of the sequence number returned.
    let tx = c.unchecked_transaction()?;
    let seq: i64 = tx
        .prepare_cached("SELECT event_seq FROM restaurants WHERE id = ?1")?
        .query_row([restaurant.to_string()], |row| row.get(0))?;
    let orders = match order {
        Some(id) => by_id(&tx, id)?.into_iter().collect(),
        None => {
            let open = [
                OrderStatus::Pending,
                OrderStatus::Accepted,
                OrderStatus::Ready,
            ];
            for_restaurant(&tx, restaurant, &open, None, SNAPSHOT_LIMIT)?.orders
        }
    };
    tx.commit()?;
    Ok((seq, orders))
}

/// Sets an order's payment status (and `updated_at`); returns the order as it now is.
pub(super) fn set_payment_status(
    c: &Connection,
    order: OrderId,
    status: PaymentStatus,
    now: DateTime<Utc>,
) -> StoreResult<Order> {
    c.prepare_cached("UPDATE orders SET payment_status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![order.to_string(), status.as_str(), to_millis(now)])?;
    by_id(c, order)?.ok_or(StoreError::NotFound)
}

/// Compare-and-set of an order's payment status: only if the order is still `(status, from)`.
pub(super) fn swap_payment_status(
    c: &Connection,
    order: OrderId,
    status: OrderStatus,
    from: PaymentStatus,
    to: PaymentStatus,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE orders SET payment_status = ?4, updated_at = ?5
             WHERE id = ?1 AND status = ?2 AND payment_status = ?3",
        )?
        .execute(params![
            order.to_string(),
            status.as_str(),
            from.as_str(),
            to.as_str(),
            to_millis(now)
        ])?;
    Ok(changed == 1)
}
