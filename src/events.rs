//! Order events: what the order event log stores and live clients receive. The message is the
//! seed's `{"type","order_id","status","estimated_ready_at","message"}` plus `seq` (the
//! per-restaurant event sequence) and `at`, and what a screen needs to update without another
//! request (`order_number`, `table_number`, `payment_status`, and the whole order on
//! `NEW_ORDER`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::ids::{OrderId, RestaurantId, TableSessionId};
use crate::domain::menu::MenuItem;
use crate::domain::order::Order;
use crate::domain::table::TableCall;
use crate::store::TableSummary;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    NewOrder,
    StatusChanged,
    PaymentCompleted,
    /// A refund owed for a rejected or cancelled paid order went through.
    PaymentRefunded,
    OrderCancelled,
    MenuUpdated,
    /// A guest called staff (water, cutlery, the bill, a person).
    TableCall,
    TableCallAck,
    /// A table's tab changed (an order, a payment, a move or a merge).
    TableUpdated,
    TableClosed,
    /// The restaurant switched to counter payment (internet outage) or back.
    PaymentSwitch,
}

impl EventType {
    /// The type of a logged event; an unknown name (written by a newer version) reads as a
    /// status change, which clients treat as "look at the order again".
    pub fn from_name(name: &str) -> EventType {
        match name {
            "NEW_ORDER" => EventType::NewOrder,
            "PAYMENT_COMPLETED" => EventType::PaymentCompleted,
            "PAYMENT_REFUNDED" => EventType::PaymentRefunded,
            "ORDER_CANCELLED" => EventType::OrderCancelled,
            "MENU_UPDATED" => EventType::MenuUpdated,
            "TABLE_CALL" => EventType::TableCall,
            "TABLE_CALL_ACK" => EventType::TableCallAck,
            "TABLE_UPDATED" => EventType::TableUpdated,
            "TABLE_CLOSED" => EventType::TableClosed,
            "PAYMENT_SWITCH" => EventType::PaymentSwitch,
            _ => EventType::StatusChanged,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::NewOrder => "NEW_ORDER",
            EventType::StatusChanged => "STATUS_CHANGED",
            EventType::PaymentCompleted => "PAYMENT_COMPLETED",
            EventType::PaymentRefunded => "PAYMENT_REFUNDED",
            EventType::OrderCancelled => "ORDER_CANCELLED",
            EventType::MenuUpdated => "MENU_UPDATED",
            EventType::TableCall => "TABLE_CALL",
            EventType::TableCallAck => "TABLE_CALL_ACK",
            EventType::TableUpdated => "TABLE_UPDATED",
            EventType::TableClosed => "TABLE_CLOSED",
            EventType::PaymentSwitch => "PAYMENT_SWITCH",
        }
    }
}

/// One entry of the order event log, as committed.
#[derive(Clone, Debug)]
pub struct OrderEvent {
    pub restaurant_id: RestaurantId,
    /// The order it is about; `None` for a table event.
    pub order_id: Option<OrderId>,
    /// The table session it concerns (an order's, or a table event's).
    pub table_session_id: Option<TableSessionId>,
    pub seq: i64,
    pub kind: EventType,
    /// The live message, serialized once.
    pub payload: Arc<str>,
    pub at: DateTime<Utc>,
}

/// The live message for a switch to counter payment or back.
pub fn payment_switch_message(
    restaurant: &crate::domain::restaurant::Restaurant,
    seq: i64,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "type": EventType::PaymentSwitch.as_str(),
        "seq": seq,
        "at": at,
        "counter_payment": restaurant.counter_payment_since.is_some(),
        "counter_payment_since": restaurant.counter_payment_since,
    })
}

/// Builds the live message for a table event: the party's figures, and `call` for call events.
pub fn table_message(
    kind: EventType,
    table: &TableSummary,
    seq: i64,
    at: DateTime<Utc>,
    call: Option<&TableCall>,
) -> Value {
    let mut value = json!({
        "type": kind.as_str(),
        "seq": seq,
        "at": at,
        "table_number": table.table_number,
        "session_id": table.session_id,
        "status": table.status,
        "opened_at": table.opened_at,
        "last_order_at": table.last_order_at,
        "orders_count": table.orders_count,
        "orders_waiting": table.orders_waiting,
        "total_amount": table.totals.total_amount,
        "paid_amount": table.totals.paid_amount,
        "remaining_amount": table.totals.remaining_amount,
        "overpaid_amount": table.totals.overpaid_amount,
        "open_calls": table.open_calls,
    });
    if let Some(call) = call {
        value["call"] = serde_json::to_value(call).expect("calls serialize");
    }
    if kind == EventType::TableClosed {
        value["unpaid_amount"] = json!(table.totals.remaining_amount);
    }
    value
}

/// Builds the live message for `kind` about `order`.
pub fn order_message(kind: EventType, order: &Order, seq: i64, at: DateTime<Utc>) -> Value {
    let message = match order.status {
        crate::domain::order::OrderStatus::Rejected => order.reject_reason.clone(),
        crate::domain::order::OrderStatus::Cancelled => order.cancel_reason.clone(),
        _ => order.message.clone(),
    };
    let mut value = json!({
        "type": kind.as_str(),
        "order_id": order.id,
        "status": order.status,
        "estimated_ready_at": order.estimated_ready_at,
        "message": message,
        "seq": seq,
        "at": at,
        "order_number": order.order_number,
        "table_number": order.table_number,
        "payment_status": order.payment_status,
        "test_payment": order.test_payment,
        "total_amount": order.total_amount,
    });
    if let Some(reason) = order
        .reject_reason
        .as_ref()
        .or(order.cancel_reason.as_ref())
    {
        value["reason"] = json!(reason);
    }
    if kind == EventType::NewOrder {
        value["order"] = serde_json::to_value(order).expect("orders serialize");
    }
    value
}

/// A menu change for open menu pages: prices and availability of changed items, or `reload`
/// when the whole menu was replaced. Not part of the order event log.
#[derive(Clone, Debug)]
pub struct MenuEvent {
    pub restaurant_id: RestaurantId,
    pub payload: Arc<str>,
}

impl MenuEvent {
    pub fn items_changed(
        restaurant_id: RestaurantId,
        items: &[MenuItem],
        at: DateTime<Utc>,
    ) -> MenuEvent {
        let items: Vec<Value> = items
            .iter()
            .map(|i| json!({"id": i.id, "name": i.name, "price": i.price, "is_available": i.is_available}))
            .collect();
        let payload = json!({
            "type": EventType::MenuUpdated.as_str(),
            "restaurant_id": restaurant_id,
            "at": at,
            "items": items,
        });
        MenuEvent {
            restaurant_id,
            payload: payload.to_string().into(),
        }
    }

    pub fn reload(restaurant_id: RestaurantId, at: DateTime<Utc>) -> MenuEvent {
        let payload = json!({
            "type": EventType::MenuUpdated.as_str(),
            "restaurant_id": restaurant_id,
            "at": at,
            "reload": true,
        });
        MenuEvent {
            restaurant_id,
            payload: payload.to_string().into(),
        }
    }
}

/// A session or access token was revoked (logout, refresh-token reuse): sockets opened with
/// it close. `key` is the revocation key (`jti:…` or `sid:…`, see `auth::tokens`).
#[derive(Clone, Debug)]
pub struct SessionEnded {
    pub key: Arc<str>,
    /// Until when the revocation matters (the longest any affected token could live).
    pub until: DateTime<Utc>,
}

/// What travels on the bus.
#[derive(Clone, Debug)]
pub enum LiveEvent {
    Order(OrderEvent),
    Menu(MenuEvent),
    SessionEnded(SessionEnded),
    /// Events may have been missed (the link between instances was down): every live
    /// connection catches up from the event log, and cached menus are dropped.
    Resync,
}

/// How events travel between instances (JSON on Redis), with the instance that published them.
#[derive(Serialize, serde::Deserialize)]
struct Wire {
    origin: String,
    #[serde(flatten)]
    event: WireEvent,
}

#[derive(Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireEvent {
    Order {
        restaurant_id: RestaurantId,
        #[serde(default)]
        order_id: Option<OrderId>,
        #[serde(default)]
        table_session_id: Option<TableSessionId>,
        seq: i64,
        event_type: String,
        payload: String,
        at: DateTime<Utc>,
    },
    Menu {
        restaurant_id: RestaurantId,
        payload: String,
    },
    SessionEnded {
        key: String,
        until: DateTime<Utc>,
    },
    Resync,
    /// Proof that the link between instances carries messages; delivered to nobody.
    Heartbeat,
}

impl LiveEvent {
    /// The event as another instance receives it.
    pub fn to_wire(&self, origin: &str) -> String {
        let event = match self {
            LiveEvent::Order(e) => WireEvent::Order {
                restaurant_id: e.restaurant_id,
                order_id: e.order_id,
                table_session_id: e.table_session_id,
                seq: e.seq,
                event_type: e.kind.as_str().to_owned(),
                payload: e.payload.to_string(),
                at: e.at,
            },
            LiveEvent::Menu(e) => WireEvent::Menu {
                restaurant_id: e.restaurant_id,
                payload: e.payload.to_string(),
            },
            LiveEvent::SessionEnded(e) => WireEvent::SessionEnded {
                key: e.key.to_string(),
                until: e.until,
            },
            LiveEvent::Resync => WireEvent::Resync,
        };
        serde_json::to_string(&Wire {
            origin: origin.to_owned(),
            event,
        })
        .expect("events serialize")
    }

    /// A heartbeat from `origin`, for the link between instances.
    pub fn heartbeat_wire(origin: &str) -> String {
        serde_json::to_string(&Wire {
            origin: origin.to_owned(),
            event: WireEvent::Heartbeat,
        })
        .expect("heartbeats serialize")
    }

    /// `(origin, event)`, or `None` for a heartbeat or a message this version does not
    /// understand.
    pub fn from_wire(text: &str) -> Option<(String, LiveEvent)> {
        let wire: Wire = serde_json::from_str(text).ok()?;
        let event = match wire.event {
            WireEvent::Order {
                restaurant_id,
                order_id,
                table_session_id,
                seq,
                event_type,
                payload,
                at,
            } => LiveEvent::Order(OrderEvent {
                restaurant_id,
                order_id,
                table_session_id,
                seq,
                kind: EventType::from_name(&event_type),
                payload: payload.into(),
                at,
            }),
            WireEvent::Menu {
                restaurant_id,
                payload,
            } => LiveEvent::Menu(MenuEvent {
                restaurant_id,
                payload: payload.into(),
            }),
            WireEvent::SessionEnded { key, until } => LiveEvent::SessionEnded(SessionEnded {
                key: key.into(),
                until,
            }),
            WireEvent::Resync => LiveEvent::Resync,
            WireEvent::Heartbeat => return None,
        };
        Some((wire.origin, event))
    }
}

/// The event-bus seam: committed events go out through it to live clients. In-process it is a
/// tokio broadcast channel; the `postgres` build bridges it through Redis so every instance
/// sees every event. Publishers call it only after the transaction that made the event has
/// committed.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: LiveEvent);
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent>;

    /// Resolves once everything published so far has left this instance (for a bus between
    /// instances); at once for a local bus.
    fn flushed(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(std::future::ready(()))
    }
}

pub const DEFAULT_EVENT_BUFFER: usize = 1024;

/// One channel for all restaurants: a box serves one or a few restaurants, so filtering by
/// restaurant in each connection costs less than managing a channel per topic, and a single
/// channel keeps every restaurant's events in commit order.
pub struct LocalBus {
    sender: tokio::sync::broadcast::Sender<LiveEvent>,
}

impl LocalBus {
    /// `capacity`: how far a subscriber may fall behind before it is told it lagged.
    pub fn new(capacity: usize) -> LocalBus {
        LocalBus {
            sender: tokio::sync::broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        LocalBus::new(DEFAULT_EVENT_BUFFER)
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: LiveEvent) {
        // No subscriber is not an error: nobody is watching right now.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }
}
