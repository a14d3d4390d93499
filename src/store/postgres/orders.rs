//! SQL for orders (PostgreSQL): placing them (numbered per business day, idempotent), reading
//! and listing them, state-machine transitions as compare-and-sets, the order event log and the
//! live snapshot.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Db, Fail, Outbox, PgResult, id, restaurants, tables, text_enum};
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
    PlaceOutcome, StoreError, TransitionOutcome, TransitionRequest,
};

const ORDER_COLUMNS: &str = "id, restaurant_id, customer_id, guest_id, order_number, table_number, \
     total_amount, status, payment_status, payment_mode, special_requests, estimated_ready_at, \
     owner_message, reject_reason, cancel_reason, created_at, updated_at, test_payment, \
     table_session_id";

fn order_from_row(row: &Row) -> PgResult<Order> {
    let customer_id: Option<String> = row.try_get(2)?;
    let customer = match customer_id {
        Some(_) => Customer::User(id(row, 2)?),
        None => Customer::Guest(id(row, 3)?),
    };
    let payment_mode: PaymentMode = text_enum(row, 9)?;
    let payment_status: PaymentStatus = text_enum(row, 8)?;
    Ok(Order {
        id: id(row, 0)?,
        restaurant_id: id(row, 1)?,
        customer,
        order_number: row.try_get(4)?,
        table_number: row.try_get(5)?,
        total_amount: row.try_get(6)?,
        status: text_enum(row, 7)?,
        payment_status,
        payment_mode,
        payment_required: Order::payment_required(payment_mode, payment_status),
        special_requests: row.try_get(10)?,
        estimated_ready_at: row.try_get::<_, Option<i64>>(11)?.map(from_millis),
        message: row.try_get(12)?,
        reject_reason: row.try_get(13)?,
        cancel_reason: row.try_get(14)?,
        created_at: from_millis(row.try_get(15)?),
        updated_at: from_millis(row.try_get(16)?),
        test_payment: row.try_get(17)?,
        table_session_id: super::opt_id(row, 18)?,
        items: Vec::new(),
    })
}

fn line_from_row(row: &Row) -> PgResult<PricedLine> {
    let options: String = row.try_get(4)?;
    let options: Vec<ChosenOption> =
        serde_json::from_str(&options).map_err(|e| Fail::other(format!("order options: {e}")))?;
    Ok(PricedLine {
        menu_id: id(row, 0)?,
        name: row.try_get(1)?,
        quantity: row.try_get(2)?,
        unit_price: row.try_get(3)?,
        options,
        line_total: row.try_get(5)?,
    })
}

async fn lines_of(db: Db<'_>, order: OrderId) -> PgResult<Vec<PricedLine>> {
    db.query(
        "SELECT menu_id, name, quantity, unit_price, options, line_total
         FROM order_items WHERE order_id = $1 ORDER BY position",
        &[&order.to_string()],
    )
    .await?
    .iter()
    .map(line_from_row)
    .collect()
}

pub async fn by_id(db: Db<'_>, order: OrderId) -> PgResult<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    let Some(row) = db.query_opt(&sql, &[&order.to_string()]).await? else {
        return Ok(None);
    };
    let mut found = order_from_row(&row)?;
    found.items = lines_of(db, order).await?;
    Ok(Some(found))
}

/// Appends `kind` about `order` to the event log with the restaurant's next sequence number
/// (which locks the restaurant until commit); the event goes live after the commit.
pub(super) async fn append_event(
    db: Db<'_>,
    outbox: &mut Outbox,
    kind: EventType,
    order: &Order,
    at: DateTime<Utc>,
) -> PgResult<OrderEvent> {
    let (seq, _) = restaurants::next_event_seq(db, order.restaurant_id).await?;
    insert_event(db, outbox, kind, order, seq, at).await
}

async fn insert_event(
    db: Db<'_>,
    outbox: &mut Outbox,
    kind: EventType,
    order: &Order,
    seq: i64,
    at: DateTime<Utc>,
) -> PgResult<OrderEvent> {
    let payload: Arc<str> = order_message(kind, order, seq, at).to_string().into();
    db.execute(
        "INSERT INTO order_events (restaurant_id, seq, order_id, table_session_id, type, payload,
                                   created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &order.restaurant_id.to_string(),
            &seq,
            &order.id.to_string(),
            &order.table_session_id.map(|s| s.to_string()),
            &kind.as_str(),
            &&*payload,
            &to_millis(at),
        ],
    )
    .await?;
    let event = OrderEvent {
        restaurant_id: order.restaurant_id,
        order_id: Some(order.id),
        table_session_id: order.table_session_id,
        seq,
        kind,
        payload,
        at,
    };
    outbox.push(LiveEvent::Order(event.clone()));
    // Whatever happens to an order changes its table's tab (totals, what is still cooking).
    if let Some(session) = order.table_session_id {
        Box::pin(tables::announce(db, outbox, session, at)).await?;
    }
    // The kitchen's tickets are queued with the change that calls for them.
    Box::pin(super::printing::on_order_event(db, kind, order, at)).await?;
    Ok(event)
}

pub(super) fn customer_columns(customer: Customer) -> (Option<String>, Option<String>) {
    match customer {
        Customer::User(id) => (Some(id.to_string()), None),
        Customer::Guest(id) => (None, Some(id.to_string())),
    }
}

pub async fn remembered(
    db: Db<'_>,
    customer: Customer,
    key: &IdempotencyKey,
) -> PgResult<Option<PlaceOutcome>> {
    let Some(row) = db
        .query_opt(
            "SELECT request_hash, order_id FROM idempotency_keys
             WHERE owner_key = $1 AND key = $2",
            &[&customer.key().to_string(), &key.key],
        )
        .await?
    else {
        return Ok(None);
    };
    let hash: String = row.try_get(0)?;
    if hash != key.request_hash {
        return Ok(Some(PlaceOutcome::KeyReused));
    }
    Ok(Some(PlaceOutcome::Replayed(id(&row, 1)?)))
}

pub async fn place(
    db: Db<'_>,
    outbox: &mut Outbox,
    new: &NewOrder,
    idempotency: Option<&IdempotencyKey>,
    revision: i64,
) -> PgResult<PlaceOutcome> {
    if let Some(key) = idempotency
        && let Some(outcome) = remembered(db, new.customer, key).await?
    {
        return Ok(outcome);
    }
    // The restaurant's row: its event sequence number, and the menu revision the order was
    // priced against, read under the lock any menu change also takes.
    let (seq, current) = restaurants::next_event_seq(db, new.restaurant_id).await?;
    if current != revision {
        // Dropping this transaction gives the sequence number back.
        return Err(Fail::Store(StoreError::Conflict(MENU_CHANGED.into())));
    }
    // The table's party: the guest's own, or the one at the table (opened now if none).
    let (table_session_id, table_number) = match tables::seat(db, new, new.created_at).await? {
        tables::Seat::Closed => {
            return Err(Fail::Store(StoreError::Conflict(TABLE_CLOSED.into())));
        }
        tables::Seat::Table { session, table } => (Some(session), Some(table)),
        tables::Seat::None => (None, new.table_number.clone()),
    };
    // A clock set back past midnight must not reopen an earlier business day (read under the
    // restaurant's lock, taken above).
    let latest = restaurants::latest_business_day(db, &new.restaurant_id.to_string()).await?;
    let business_day = filing_day(&new.business_day, latest);
    let number: i64 = db
        .query_one(
            "INSERT INTO order_counters (restaurant_id, business_day, last_number)
             VALUES ($1, $2, 1)
             ON CONFLICT (restaurant_id, business_day)
             DO UPDATE SET last_number = order_counters.last_number + 1
             RETURNING last_number",
            &[&new.restaurant_id.to_string(), &business_day],
        )
        .await?
        .try_get(0)?;
    let now = to_millis(new.created_at);
    let (customer_id, guest_id) = customer_columns(new.customer);
    let order = Order {
        id: new.id,
        order_number: order_number(u32::try_from(number).unwrap_or(u32::MAX)),
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
    db.execute(
        "INSERT INTO orders (id, restaurant_id, customer_id, guest_id, order_number, business_day,
                             table_number, total_amount, status, payment_status, payment_mode,
                             special_requests, created_at, updated_at, table_session_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING', 'PENDING', $9, $10, $11, $11, $12)",
        &[
            &order.id.to_string(),
            &order.restaurant_id.to_string(),
            &customer_id,
            &guest_id,
            &order.order_number,
            &business_day,
            &order.table_number,
            &order.total_amount,
            &order.payment_mode.as_str(),
            &order.special_requests,
            &now,
            &order.table_session_id.map(|s| s.to_string()),
        ],
    )
    .await?;
    // All lines in one statement: one round trip whatever the order's size.
    let order_id = order.id.to_string();
    let mut values = Vec::with_capacity(order.items.len());
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(order.items.len() * 8);
    for (position, line) in order.items.iter().enumerate() {
        let base = params.len();
        values.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            base + 1,
            base + 2,
            base + 3,
            base + 4,
            base + 5,
            base + 6,
            base + 7,
            base + 8,
            base + 9,
            base + 10
        ));
        let options = serde_json::to_string(&line.options)
            .map_err(|e| Fail::other(format!("order options: {e}")))?;
        params.push(Box::new(uuid::Uuid::now_v7().to_string()));
        params.push(Box::new(order_id.clone()));
        params.push(Box::new(line.menu_id.to_string()));
        params.push(Box::new(line.name.clone()));
        params.push(Box::new(line.quantity));
        params.push(Box::new(line.unit_price));
        params.push(Box::new(options));
        params.push(Box::new(line.line_total));
        params.push(Box::new(position as i64));
        params.push(Box::new(now));
    }
    let sql = format!(
        "INSERT INTO order_items (id, order_id, menu_id, name, quantity, unit_price, options,
                                  line_total, position, created_at) VALUES {}",
        values.join(", ")
    );
    let refs: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    db.execute(&sql, &refs).await?;
    if let Some(key) = idempotency {
        db.execute(
            "INSERT INTO idempotency_keys (owner_key, key, request_hash, order_id, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &new.customer.key().to_string(),
                &key.key,
                &key.request_hash,
                &order_id,
                &now,
            ],
        )
        .await?;
    }
    let event = insert_event(db, outbox, EventType::NewOrder, &order, seq, new.created_at).await?;
    Ok(PlaceOutcome::Placed {
        order: Box::new(order),
        event,
    })
}

/// Marks "the menu changed under this order" on its way out of `place`, so the store can
/// answer `MenuChanged` after rolling back.
pub(super) const MENU_CHANGED: &str = "menu revision moved on";
/// Likewise for "the guest's party has left".
pub(super) const TABLE_CLOSED: &str = "table session closed";

/// Names who acted on the event: a restaurant account's name and role are copied (the log
/// outlives the account); a customer is marked as the guest. The box itself stays unnamed.
async fn name_actor(db: Db<'_>, event: &OrderEvent, actor: Actor) -> PgResult<()> {
    let (sql, actor_id) = match actor {
        Actor::Shop {
            by: Some(account), ..
        } => (
            "UPDATE order_events SET actor_id = u.id, actor_name = u.name, actor_role = u.role
             FROM (SELECT id, name, role FROM users WHERE id = $3) AS u
             WHERE restaurant_id = $1 AND seq = $2",
            account.to_string(),
        ),
        Actor::Customer(customer) => (
            "UPDATE order_events SET actor_id = $3, actor_role = 'CUSTOMER'
             WHERE restaurant_id = $1 AND seq = $2",
            customer.key().to_string(),
        ),
        Actor::Shop { by: None, .. } => return Ok(()),
    };
    db.execute(
        sql,
        &[&event.restaurant_id.to_string(), &event.seq, &actor_id],
    )
    .await?;
    Ok(())
}

fn belongs_to(order: &Order, actor: Actor) -> bool {
    match actor {
        Actor::Shop { restaurant, .. } => order.restaurant_id == restaurant,
        Actor::Customer(customer) => order.customer == customer,
    }
}

pub async fn transition(
    db: Db<'_>,
    outbox: &mut Outbox,
    req: &TransitionRequest,
) -> PgResult<TransitionOutcome> {
    for _ in 0..PLAN_ATTEMPTS {
        let Some(order) = by_id(db, req.order_id).await? else {
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
        if apply_transition(db, &order, req, &plan).await? {
            let order = by_id(db, order.id)
                .await?
                .ok_or(Fail::Store(StoreError::NotFound))?;
            let kind = if plan.to_status == OrderStatus::Cancelled {
                EventType::OrderCancelled
            } else {
                EventType::StatusChanged
            };
            let event = append_event(db, outbox, kind, &order, req.now).await?;
            name_actor(db, &event, req.actor).await?;
            return Ok(TransitionOutcome::Done {
                order: Box::new(order),
                event,
            });
        }
    }
    Err(Fail::Store(StoreError::Unavailable(
        "the order kept changing; try again".into(),
    )))
}

/// Writes `plan` if the order is still as planned from; `false` if it changed meanwhile.
async fn apply_transition(
    db: Db<'_>,
    order: &Order,
    req: &TransitionRequest,
    plan: &TransitionPlan,
) -> PgResult<bool> {
    let now = to_millis(req.now);
    let changed = db
        .execute(
            "UPDATE orders SET
                 status = $4,
                 payment_status = $5,
                 estimated_ready_at = coalesce($6, estimated_ready_at),
                 owner_message = CASE WHEN $4 = 'ACCEPTED' AND $2 = 'PENDING' THEN $7
                                      ELSE owner_message END,
                 reject_reason = CASE WHEN $4 = 'REJECTED' THEN $7 ELSE reject_reason END,
                 cancel_reason = CASE WHEN $4 = 'CANCELLED' THEN $7 ELSE cancel_reason END,
                 updated_at = $8
             WHERE id = $1 AND status = $2 AND payment_status = $3",
            &[
                &order.id.to_string(),
                &plan.from_status.as_str(),
                &plan.from_payment.as_str(),
                &plan.to_status.as_str(),
                &plan.to_payment.as_str(),
                &req.estimated_ready_at.map(to_millis),
                &req.note,
                &now,
            ],
        )
        .await?;
    if changed != 1 {
        return Ok(false);
    }
    if plan.refund_owed {
        let reason = req.note.clone().unwrap_or_else(|| {
            match req.action {
                Action::Reject => "주문이 거절되었습니다",
                _ => "주문이 취소되었습니다",
            }
            .to_owned()
        });
        db.execute(
            "UPDATE payments SET refund_status = 'PENDING', refund_reason = $2,
                 refund_next_at = $3, updated_at = $3
             WHERE order_id = $1 AND status = 'COMPLETED'",
            &[&order.id.to_string(), &reason, &now],
        )
        .await?;
    }
    if plan.paid_at_counter {
        db.execute(
            "INSERT INTO payments (id, order_id, amount, status, method, approved_at, created_at,
                                   updated_at)
             VALUES ($1, $2, $3, 'COMPLETED', 'COUNTER', $4, $4, $4)",
            &[
                &PaymentId::new().to_string(),
                &order.id.to_string(),
                &order.total_amount,
                &now,
            ],
        )
        .await?;
    }
    Ok(true)
}

/// Lists orders matching `filter` (an SQL condition over `params`), newest first.
async fn page(
    db: Db<'_>,
    filter: &str,
    mut params: Vec<Box<dyn ToSql + Sync + Send>>,
    after: Option<OrderCursor>,
    limit: usize,
) -> PgResult<OrderPage> {
    let mut sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {filter}");
    if let Some(cursor) = after {
        let n = params.len();
        sql.push_str(&format!(
            " AND (created_at < ${} OR (created_at = ${} AND id < ${}))",
            n + 1,
            n + 1,
            n + 2
        ));
        params.push(Box::new(cursor.created_at_ms));
        params.push(Box::new(cursor.id.to_string()));
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let refs: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    let mut orders: Vec<Order> = db
        .query(&sql, &refs)
        .await?
        .iter()
        .map(order_from_row)
        .collect::<PgResult<_>>()?;
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
        order.items = lines_of(db, order.id).await?;
    }
    Ok(OrderPage {
        orders,
        next_cursor,
    })
}

pub async fn for_customer(
    db: Db<'_>,
    customer: Customer,
    after: Option<OrderCursor>,
    limit: usize,
) -> PgResult<OrderPage> {
    let filter = match customer {
        Customer::User(_) => "customer_id = $1",
        Customer::Guest(_) => "guest_id = $1",
    };
    page(
        db,
        filter,
        vec![Box::new(customer.key().to_string())],
        after,
        limit,
    )
    .await
}

pub async fn for_restaurant(
    db: Db<'_>,
    restaurant: RestaurantId,
    statuses: &[OrderStatus],
    after: Option<OrderCursor>,
    limit: usize,
) -> PgResult<OrderPage> {
    let mut filter = "restaurant_id = $1".to_owned();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(restaurant.to_string())];
    if !statuses.is_empty() {
        let slots: Vec<String> = (0..statuses.len()).map(|i| format!("${}", i + 2)).collect();
        filter.push_str(&format!(" AND status IN ({})", slots.join(", ")));
        for status in statuses {
            params.push(Box::new(status.as_str().to_owned()));
        }
    }
    page(db, &filter, params, after, limit).await
}

/// Every order of a table's party, oldest first.
pub async fn of_session(db: Db<'_>, session: TableSessionId) -> PgResult<Vec<Order>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE table_session_id = $1 ORDER BY created_at, id"
    );
    let mut orders: Vec<Order> = db
        .query(&sql, &[&session.to_string()])
        .await?
        .iter()
        .map(order_from_row)
        .collect::<PgResult<_>>()?;
    for order in &mut orders {
        order.items = lines_of(db, order.id).await?;
    }
    Ok(orders)
}

/// Every order of a business day, newest first; `query` matches the order number (any part,
/// any case) or the table.
pub async fn of_day(
    db: Db<'_>,
    restaurant: RestaurantId,
    business_day: &str,
    query: Option<&str>,
) -> PgResult<Vec<Order>> {
    let mut sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE restaurant_id = $1 AND business_day = $2"
    );
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![
        Box::new(restaurant.to_string()),
        Box::new(business_day.to_owned()),
    ];
    if let Some(query) = query {
        sql.push_str(" AND (upper(order_number) LIKE $3 OR table_number = $4)");
        params.push(Box::new(format!("%{}%", query.to_uppercase())));
        params.push(Box::new(query.to_owned()));
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT 2000");
    let refs: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    let mut orders: Vec<Order> = db
        .query(&sql, &refs)
        .await?
        .iter()
        .map(order_from_row)
        .collect::<PgResult<_>>()?;
    for order in &mut orders {
        order.items = lines_of(db, order.id).await?;
    }
    Ok(orders)
}

pub async fn order_log(
    db: Db<'_>,
    restaurant: RestaurantId,
    order: OrderId,
) -> PgResult<Vec<LoggedEvent>> {
    db.query(
        "SELECT seq, type, payload, created_at, actor_id, actor_name, actor_role
         FROM order_events WHERE order_id = $2 AND restaurant_id = $1 ORDER BY seq",
        &[&restaurant.to_string(), &order.to_string()],
    )
    .await?
    .iter()
    .map(|row| {
        let actor_id: Option<String> = row.try_get(4)?;
        Ok(LoggedEvent {
            seq: row.try_get(0)?,
            kind: row.try_get(1)?,
            payload: row.try_get(2)?,
            at: from_millis(row.try_get(3)?),
            actor: match actor_id {
                Some(id) => Some(LoggedActor {
                    id,
                    name: row.try_get(5)?,
                    role: row.try_get(6)?,
                }),
                None => None,
            },
        })
    })
    .collect()
}

pub async fn events_since(
    db: Db<'_>,
    restaurant: RestaurantId,
    seq: i64,
    limit: usize,
) -> PgResult<Vec<OrderEvent>> {
    db.query(
        "SELECT seq, order_id, type, payload, created_at, table_session_id FROM order_events
         WHERE restaurant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&restaurant.to_string(), &seq, &(limit as i64)],
    )
    .await?
    .iter()
    .map(|row| {
        let kind: String = row.try_get(2)?;
        let payload: String = row.try_get(3)?;
        Ok(OrderEvent {
            restaurant_id: restaurant,
            order_id: super::opt_id(row, 1)?,
            table_session_id: super::opt_id(row, 5)?,
            seq: row.try_get(0)?,
            kind: EventType::from_name(&kind),
            payload: payload.into(),
            at: from_millis(row.try_get(4)?),
        })
    })
    .collect()
}

/// Open orders shown on a freshly connected owner board, at most.
const SNAPSHOT_LIMIT: usize = 500;

/// Run in a snapshot: the orders are exactly as of the sequence number returned.
pub async fn live_snapshot(
    db: Db<'_>,
    restaurant: RestaurantId,
    order: Option<OrderId>,
) -> PgResult<(i64, Vec<Order>)> {
    let seq: i64 = db
        .query_opt(
            "SELECT event_seq FROM restaurants WHERE id = $1",
            &[&restaurant.to_string()],
        )
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))?
        .try_get(0)?;
    let orders = match order {
        Some(id) => by_id(db, id).await?.into_iter().collect(),
        None => {
            let open = [
                OrderStatus::Pending,
                OrderStatus::Accepted,
                OrderStatus::Ready,
            ];
            for_restaurant(db, restaurant, &open, None, SNAPSHOT_LIMIT)
                .await?
                .orders
        }
    };
    Ok((seq, orders))
}

/// Compare-and-set of an order's payment status: only if the order is still `(status, from)`.
pub(super) async fn swap_payment_status(
    db: Db<'_>,
    order: OrderId,
    status: OrderStatus,
    from: PaymentStatus,
    to: PaymentStatus,
    now: DateTime<Utc>,
) -> PgResult<bool> {
    let changed = db
        .execute(
            "UPDATE orders SET payment_status = $4, updated_at = $5
             WHERE id = $1 AND status = $2 AND payment_status = $3",
            &[
                &order.to_string(),
                &status.as_str(),
                &from.as_str(),
                &to.as_str(),
                &to_millis(now),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Sets an order's payment status (and `updated_at`); returns the order as it now is.
pub(super) async fn set_payment_status(
    db: Db<'_>,
    order: OrderId,
    status: PaymentStatus,
    now: DateTime<Utc>,
) -> PgResult<Order> {
    db.execute(
        "UPDATE orders SET payment_status = $2, updated_at = $3 WHERE id = $1",
        &[&order.to_string(), &status.as_str(), &to_millis(now)],
    )
    .await?;
    by_id(db, order)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))
}

/// PREPAY orders still waiting for their payment, placed before `placed_before`.
pub async fn unpaid(
    db: Db<'_>,
    placed_before: DateTime<Utc>,
    limit: usize,
) -> PgResult<Vec<OrderId>> {
    db.query(
        "SELECT id FROM orders
         WHERE status = 'PENDING' AND payment_status = 'PENDING' AND payment_mode = 'PREPAY'
           AND created_at <= $1
         ORDER BY created_at LIMIT $2",
        &[&to_millis(placed_before), &(limit as i64)],
    )
    .await?
    .iter()
    .map(|row| id(row, 0))
    .collect()
}
