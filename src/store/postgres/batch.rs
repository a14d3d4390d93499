//! Group commit of new orders on PostgreSQL. Placing an order takes its restaurant's event
//! sequence number and its day's order counter, whose rows stay locked until commit, so one
//! order per transaction serializes every restaurant on a commit round trip each. Orders
//! arriving together are placed in one transaction instead: one lock of each row for the whole
//! batch, a few multi-row inserts, one commit. The rules are the single-order path's
//! (`orders::place`): a replayed `Idempotency-Key` returns its order, a reused one is refused,
//! an order priced against an old menu revision is `MenuChanged`; if the batch fails for any
//! other reason, its orders are placed one by one so one bad order cannot fail the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::{Db, Fail, Outbox, PgResult, PgStore, orders, restaurants, tables};
use crate::domain::ids::TableSessionId;
use crate::domain::order::{Order, OrderStatus, PaymentStatus, filing_day, order_number};
use crate::domain::to_millis;
use crate::events::{EventType, LiveEvent, OrderEvent, order_message};
use crate::store::{IdempotencyKey, NewOrder, PlaceOutcome, StoreResult};

/// Orders per transaction, at most.
const MAX_BATCH: usize = 64;
/// PostgreSQL takes at most 65,535 parameters per statement.
const MAX_PARAMS: usize = 30_000;

pub(super) struct Request {
    pub order: NewOrder,
    pub idempotency: Option<IdempotencyKey>,
    pub revision: i64,
    pub reply: oneshot::Sender<StoreResult<PlaceOutcome>>,
}

/// Starts the task that places queued orders in batches.
pub(super) fn start(store: std::sync::Weak<PgStore>) -> mpsc::Sender<Request> {
    let (queue, mut requests) = mpsc::channel::<Request>(4096);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = requests.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let Some(store) = store.upgrade() else {
                return;
            };
            store.place_batch(std::mem::take(&mut batch)).await;
        }
    });
    queue
}

/// What one queued order turned into, inside the batch's transaction.
enum Decided {
    /// Answered without writing (replay, reused key, changed menu).
    Answer(PlaceOutcome),
    /// The same customer's same key earlier in this batch: answered with that order's fate.
    SameAs(usize),
    Insert,
}

impl PgStore {
    async fn place_batch(&self, batch: Vec<Request>) {
        if batch.len() == 1 {
            let request = batch.into_iter().next().expect("one request");
            let outcome = self
                .place_one(request.order, request.idempotency, request.revision)
                .await;
            let _ = request.reply.send(outcome);
            return;
        }
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let result = self.try_batch(&batch).await;
            match result {
                Err(fail) if fail.retryable() && attempt < super::TRANSACTION_ATTEMPTS => continue,
                other => break other,
            }
        };
        match result {
            Ok((outcomes, events)) => {
                self.mark_written();
                for event in events {
                    self.bus.publish(LiveEvent::Order(event));
                }
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(fail) => {
                tracing::debug!("a batch of orders failed; placing them one by one");
                drop(fail);
                for request in batch {
                    let outcome = self
                        .place_one(request.order, request.idempotency, request.revision)
                        .await;
                    let _ = request.reply.send(outcome);
                }
            }
        }
    }

    /// The whole batch in one transaction: an outcome per request, and the events to publish
    /// after the commit, in sequence order.
    async fn try_batch(&self, batch: &[Request]) -> PgResult<(Vec<PlaceOutcome>, Vec<OrderEvent>)> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let db = Db::Tx(&tx);

        // Keys seen before, and keys repeated within the batch.
        let mut decided: Vec<Decided> = Vec::with_capacity(batch.len());
        let mut first_with_key: HashMap<(uuid::Uuid, String), usize> = HashMap::new();
        for (i, request) in batch.iter().enumerate() {
            let Some(key) = &request.idempotency else {
                decided.push(Decided::Insert);
                continue;
            };
            let slot = (request.order.customer.key(), key.key.clone());
            if let Some(&earlier) = first_with_key.get(&slot) {
                let same = batch[earlier]
                    .idempotency
                    .as_ref()
                    .is_some_and(|k| k.request_hash == key.request_hash);
                decided.push(if same {
                    Decided::SameAs(earlier)
                } else {
                    Decided::Answer(PlaceOutcome::KeyReused)
                });
                continue;
            }
            first_with_key.insert(slot, i);
            match orders::remembered(db, request.order.customer, key).await? {
                Some(outcome) => decided.push(Decided::Answer(outcome)),
                None => decided.push(Decided::Insert),
            }
        }

        // Each restaurant once, in id order (every batch locks in the same order): its menu
        // revision, and as many event numbers as it has orders to place.
        let mut by_restaurant: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, request) in batch.iter().enumerate() {
            if matches!(decided[i], Decided::Insert) {
                by_restaurant
                    .entry(request.order.restaurant_id.to_string())
                    .or_default()
                    .push(i);
            }
        }
        let mut seq_of: HashMap<usize, i64> = HashMap::new();
        let mut day_of: HashMap<usize, String> = HashMap::new();
        let mut seat_of: HashMap<usize, (Option<TableSessionId>, Option<String>)> = HashMap::new();
        for (restaurant, members) in &by_restaurant {
            let revision: i64 = db
                .query_one(
                    "SELECT revision FROM restaurants WHERE id = $1 FOR UPDATE",
                    &[restaurant],
                )
                .await?
                .try_get(0)?;
            let mut placing = Vec::with_capacity(members.len());
            for &i in members {
                if batch[i].revision != revision {
                    decided[i] = Decided::Answer(PlaceOutcome::MenuChanged);
                    continue;
                }
                // Each order's party at its table (joined, or opened by the first of them).
                let order = &batch[i].order;
                match tables::seat(db, order, order.created_at).await? {
                    tables::Seat::Closed => {
                        decided[i] = Decided::Answer(PlaceOutcome::TableSessionClosed);
                    }
                    tables::Seat::Table { session, table } => {
                        seat_of.insert(i, (Some(session), Some(table)));
                        placing.push(i);
                    }
                    tables::Seat::None => {
                        seat_of.insert(i, (None, order.table_number.clone()));
                        placing.push(i);
                    }
                }
            }
            if placing.is_empty() {
                continue;
            }
            // A clock set back past midnight must not reopen an earlier business day: the day
            // never goes back behind the latest one numbered (read under the restaurant's lock).
            // In arrival order, each order no earlier than the one before it, as one by one.
            let mut latest = restaurants::latest_business_day(db, restaurant).await?;
            for &i in &placing {
                let day = filing_day(&batch[i].order.business_day, latest.take());
                latest = Some(day.clone());
                day_of.insert(i, day);
            }
            let last: i64 = db
                .query_one(
                    "UPDATE restaurants SET event_seq = event_seq + $2 WHERE id = $1
                     RETURNING event_seq",
                    &[restaurant, &(placing.len() as i64)],
                )
                .await?
                .try_get(0)?;
            let first = last - placing.len() as i64 + 1;
            for (offset, &i) in placing.iter().enumerate() {
                seq_of.insert(i, first + offset as i64);
            }
        }

        // Order numbers: each (restaurant, business day) counter once, same order.
        let mut by_day: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for &i in seq_of.keys() {
            let order = &batch[i].order;
            by_day
                .entry((order.restaurant_id.to_string(), day_of[&i].clone()))
                .or_default()
                .push(i);
        }
        let mut number_of: HashMap<usize, i64> = HashMap::new();
        for ((restaurant, day), members) in &mut by_day {
            // Numbers follow event order, as they would one by one.
            members.sort_by_key(|i| seq_of[i]);
            let count = members.len() as i64;
            let last: i64 = db
                .query_one(
                    "INSERT INTO order_counters (restaurant_id, business_day, last_number)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (restaurant_id, business_day)
                     DO UPDATE SET last_number = order_counters.last_number + $3
                     RETURNING last_number",
                    &[restaurant, day, &count],
                )
                .await?
                .try_get(0)?;
            for (offset, &i) in members.iter().enumerate() {
                number_of.insert(i, last - count + 1 + offset as i64);
            }
        }

        // The rows, in sequence order.
        let mut placing: Vec<usize> = seq_of.keys().copied().collect();
        placing.sort_by_key(|i| seq_of[i]);
        let mut placed: HashMap<usize, (Order, OrderEvent)> = HashMap::new();
        let mut order_rows: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = Vec::new();
        let mut line_rows: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = Vec::new();
        let mut key_rows: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = Vec::new();
        let mut event_rows: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = Vec::new();
        for &i in &placing {
            let new = &batch[i].order;
            let number = u32::try_from(number_of[&i]).unwrap_or(u32::MAX);
            let (table_session_id, table_number) = seat_of.remove(&i).unwrap_or_default();
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
            let now = to_millis(new.created_at);
            let (customer_id, guest_id) = orders::customer_columns(new.customer);
            order_rows.push(vec![
                Box::new(order.id.to_string()),
                Box::new(order.restaurant_id.to_string()),
                Box::new(customer_id),
                Box::new(guest_id),
                Box::new(order.order_number.clone()),
                Box::new(day_of[&i].clone()),
                Box::new(order.table_number.clone()),
                Box::new(order.total_amount),
                Box::new(OrderStatus::Pending.as_str().to_owned()),
                Box::new(PaymentStatus::Pending.as_str().to_owned()),
                Box::new(order.payment_mode.as_str().to_owned()),
                Box::new(order.special_requests.clone()),
                Box::new(now),
                Box::new(now),
                Box::new(order.table_session_id.map(|s| s.to_string())),
            ]);
            for (position, line) in order.items.iter().enumerate() {
                let options = serde_json::to_string(&line.options)
                    .map_err(|e| Fail::other(format!("order options: {e}")))?;
                line_rows.push(vec![
                    Box::new(uuid::Uuid::now_v7().to_string()),
                    Box::new(order.id.to_string()),
                    Box::new(line.menu_id.to_string()),
                    Box::new(line.name.clone()),
                    Box::new(line.quantity),
                    Box::new(line.unit_price),
                    Box::new(options),
                    Box::new(line.line_total),
                    Box::new(position as i64),
                    Box::new(now),
                ]);
            }
            if let Some(key) = &batch[i].idempotency {
                key_rows.push(vec![
                    Box::new(new.customer.key().to_string()),
                    Box::new(key.key.clone()),
                    Box::new(key.request_hash.clone()),
                    Box::new(order.id.to_string()),
                    Box::new(now),
                ]);
            }
            let seq = seq_of[&i];
            let payload: Arc<str> = order_message(EventType::NewOrder, &order, seq, new.created_at)
                .to_string()
                .into();
            event_rows.push(vec![
                Box::new(order.restaurant_id.to_string()),
                Box::new(seq),
                Box::new(order.id.to_string()),
                Box::new(order.table_session_id.map(|s| s.to_string())),
                Box::new(EventType::NewOrder.as_str().to_owned()),
                Box::new(payload.to_string()),
                Box::new(now),
            ]);
            let event = OrderEvent {
                restaurant_id: order.restaurant_id,
                order_id: Some(order.id),
                table_session_id: order.table_session_id,
                seq,
                kind: EventType::NewOrder,
                payload,
                at: new.created_at,
            };
            placed.insert(i, (order, event));
        }
        insert_rows(
            db,
            "INSERT INTO orders (id, restaurant_id, customer_id, guest_id, order_number,
                                 business_day, table_number, total_amount, status,
                                 payment_status, payment_mode, special_requests, created_at,
                                 updated_at, table_session_id) VALUES ",
            &order_rows,
        )
        .await?;
        insert_rows(
            db,
            "INSERT INTO order_items (id, order_id, menu_id, name, quantity, unit_price, options,
                                      line_total, position, created_at) VALUES ",
            &line_rows,
        )
        .await?;
        insert_rows(
            db,
            "INSERT INTO idempotency_keys (owner_key, key, request_hash, order_id, created_at)
             VALUES ",
            &key_rows,
        )
        .await?;
        insert_rows(
            db,
            "INSERT INTO order_events (restaurant_id, seq, order_id, table_session_id, type, payload,
                                       created_at) VALUES ",
            &event_rows,
        )
        .await?;
        // Their kitchen tickets, in the same transaction.
        for &i in &placing {
            let order = &placed[&i].0;
            super::printing::on_order_event(db, EventType::NewOrder, order, order.created_at)
                .await?;
        }
        // Each party that ordered sees its new tab (after the orders' own events).
        let mut outbox = Outbox::default();
        let mut announced: Vec<TableSessionId> = Vec::new();
        for &i in &placing {
            let order = &placed[&i].0;
            if let Some(session) = order.table_session_id
                && !announced.contains(&session)
            {
                announced.push(session);
                tables::announce(db, &mut outbox, session, order.created_at).await?;
            }
        }
        tx.commit().await?;

        let mut events = Vec::with_capacity(placing.len() + outbox.0.len());
        for &i in &placing {
            events.push(placed[&i].1.clone());
        }
        events.extend(outbox.0.into_iter().filter_map(|event| match event {
            LiveEvent::Order(event) => Some(event),
            _ => None,
        }));
        // A repeat of an earlier request in this batch gets what that one got, as a replay.
        let mut outcomes: Vec<PlaceOutcome> = Vec::with_capacity(batch.len());
        for (i, decision) in decided.into_iter().enumerate() {
            let outcome = match decision {
                Decided::Answer(outcome) => outcome,
                Decided::SameAs(earlier) => match &outcomes[earlier] {
                    PlaceOutcome::Placed { order, .. } => PlaceOutcome::Replayed(order.id),
                    PlaceOutcome::Replayed(id) => PlaceOutcome::Replayed(*id),
                    PlaceOutcome::MenuChanged => PlaceOutcome::MenuChanged,
                    PlaceOutcome::KeyReused => PlaceOutcome::KeyReused,
                    PlaceOutcome::TableSessionClosed => PlaceOutcome::TableSessionClosed,
                },
                Decided::Insert => match placed.remove(&i) {
                    Some((order, event)) => PlaceOutcome::Placed {
                        order: Box::new(order),
                        event,
                    },
                    None => PlaceOutcome::MenuChanged,
                },
            };
            outcomes.push(outcome);
        }
        Ok((outcomes, events))
    }
}

/// Multi-row insert of `rows` (all the same width), in as few statements as the parameter
/// limit allows.
async fn insert_rows(
    db: Db<'_>,
    head: &str,
    rows: &[Vec<Box<dyn ToSql + Sync + Send>>],
) -> PgResult<()> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    for chunk in rows.chunks((MAX_PARAMS / width).max(1)) {
        let mut sql = String::from(head);
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * width);
        for (r, row) in chunk.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            let base = params.len();
            let slots: Vec<String> = (1..=width).map(|c| format!("${}", base + c)).collect();
            sql.push_str(&format!("({})", slots.join(", ")));
            params.extend(row.iter().map(|p| &**p as &(dyn ToSql + Sync)));
        }
        db.execute(&sql, &params).await?;
    }
    Ok(())
}
