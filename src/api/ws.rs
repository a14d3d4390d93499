//! WebSocket endpoints: `WS /ws/orders/{order_id}` (the seed's), `WS /ws/restaurants/me/orders`
//! (the owner's feed), `WS /ws/tables/me` (a guest's table) and `WS /ws/restaurants/{id}/menu`
//! (public menu changes). The connection
//! itself is `live`'s business.

use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::ids::RestaurantId;
use crate::error::AppError;
use crate::http::context::RequestContext;
use crate::http::extract::{AppPath, AppQuery};
use crate::live::{self, Channel, Connect};
use crate::surfaces::PlainGuests;

/// Client messages are tiny (a token, pongs); a small read buffer keeps idle connections
/// cheap (every socket holds one; a larger message is read in several pieces). 4 KiB made an
/// idle subscriber 12.6 KiB of the server's memory, 1 KiB 10.1 KiB (`ws_fanout`, 10,000 sockets).
const READ_BUFFER: usize = 1024;
const MAX_CLIENT_MESSAGE: usize = 8 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ws/orders/{order_id}", get(order_socket))
        .route("/ws/restaurants/me/orders", get(owner_socket))
        .route("/ws/tables/me", get(table_socket))
        .route("/ws/restaurants/{id}/menu", get(menu_socket))
}

#[derive(Deserialize)]
struct SocketQuery {
    token: Option<String>,
    since: Option<String>,
}

fn parse_since(raw: Option<&str>) -> Result<Option<i64>, AppError> {
    raw.map(|s| {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| AppError::validation("since", "must be an event sequence number"))
    })
    .transpose()
}

fn upgrade(
    state: AppState,
    ws: WebSocketUpgrade,
    context: &RequestContext,
    plain: Option<Extension<PlainGuests>>,
    channel: Channel,
    query: SocketQuery,
) -> Result<Response, AppError> {
    let since = parse_since(query.since.as_deref())?;
    let slot = state
        .live
        .admit(context.client_ip)
        .ok_or(AppError::RateLimited {
            retry_after_secs: 5,
        })?;
    let connect = Connect {
        channel,
        token: query.token.filter(|t| !t.is_empty()),
        since,
        guests_only: plain.is_some(),
    };
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        // A frame's header announces its length: refused then, not once it is all buffered.
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| live::run(state, socket, connect, slot)))
}

async fn order_socket(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    plain: Option<Extension<PlainGuests>>,
    AppPath(order_id): AppPath<String>,
    AppQuery(query): AppQuery<SocketQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    upgrade(state, ws, &context, plain, Channel::Order(order_id), query)
}

async fn owner_socket(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    plain: Option<Extension<PlainGuests>>,
    AppQuery(query): AppQuery<SocketQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    upgrade(state, ws, &context, plain, Channel::OwnerFeed, query)
}

async fn table_socket(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    plain: Option<Extension<PlainGuests>>,
    AppQuery(query): AppQuery<SocketQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    upgrade(state, ws, &context, plain, Channel::Table, query)
}

async fn menu_socket(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    plain: Option<Extension<PlainGuests>>,
    AppPath(id): AppPath<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let id: RestaurantId = id.parse().map_err(|_| AppError::NotFound("restaurant"))?;
    let query = SocketQuery {
        token: None,
        since: None,
    };
    upgrade(state, ws, &context, plain, Channel::Menu(id), query)
}
