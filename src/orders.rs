//! Orders as their readers see them: who may see an order (its customer, or its restaurant's
//! owner; anyone else gets a 404), and the JSON an order (or a table's tab of orders) is shown
//! as, with this box's payment and live-update links. Used by the API and by live connections.

use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::domain::ids::{GuestId, OrderId, RestaurantId};
use crate::domain::order::{self, Order};
use crate::domain::user::Role;
use crate::error::AppError;
use crate::store::TableTab;

/// The order as a customer or owner reads it, with this box's payment and live-update URLs.
pub fn order_json(state: &AppState, order: &Order) -> Value {
    let mut value = serde_json::to_value(order).expect("orders serialize");
    value["payment_url"] = json!(state.payment_url(order));
    value["websocket_url"] = json!(state.websocket_url(order.id));
    value
}

pub fn customer_of(user: &AuthUser) -> order::Customer {
    match user.table {
        Some(_) => order::Customer::Guest(GuestId(user.user_id.0)),
        None => order::Customer::User(user.user_id),
    }
}

/// An order the caller may see: its customer, or an account of its restaurant. Anyone else
/// gets the same 404 as for a missing order, so existence is not revealed.
pub async fn visible_order(state: &AppState, user: &AuthUser, id: &str) -> Result<Order, AppError> {
    let id: OrderId = id.parse().map_err(|_| AppError::NotFound("order"))?;
    let order = state
        .store
        .order(id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    let allowed = match user.role {
        Role::Owner | Role::Staff | Role::Kitchen => {
            user.restaurant_id == Some(order.restaurant_id)
        }
        Role::Customer => order.customer == customer_of(user),
    };
    if !allowed {
        return Err(AppError::NotFound("order"));
    }
    Ok(order)
}

/// A tab as guests and owners read it. `viewer`'s own orders are marked `mine` (what "pay for
/// my items" would cover).
pub fn tab_json(state: &AppState, tab: &TableTab, viewer: Option<order::Customer>) -> Value {
    let orders: Vec<Value> = tab
        .orders
        .iter()
        .map(|order| {
            let mut value = order_json(state, order);
            if let Some(viewer) = viewer {
                value["mine"] = json!(order.customer == viewer);
            }
            value
        })
        .collect();
    json!({
        "restaurant_id": tab.restaurant_id,
        "table_number": tab.table_number,
        "session": tab.session,
        "orders": orders,
        "total_amount": tab.totals.total_amount,
        "paid_amount": tab.totals.paid_amount,
        "remaining_amount": tab.totals.remaining_amount,
        "overpaid_amount": tab.totals.overpaid_amount,
        "calls": tab.calls,
        "paid_order_ids": tab.paid_order_ids,
        "online_payments": state.payments.provider_kind().is_some(),
    })
}

/// The tab of a table where nobody has ordered yet.
pub fn empty_tab_json(restaurant: RestaurantId, table: &str) -> Value {
    json!({
        "online_payments": false,
        "paid_order_ids": [],
        "restaurant_id": restaurant,
        "table_number": table,
        "session": null,
        "orders": [],
        "total_amount": 0,
        "paid_amount": 0,
        "remaining_amount": 0,
        "overpaid_amount": 0,
        "calls": [],
    })
}
