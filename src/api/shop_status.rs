//! How the shop's box stands, for the board (`GET /restaurants/me/status`): whether the printed
//! table QR codes still lead to it, whether Toss can be reached, the clock, and this process's
//! start (the board says once that the server restarted). And the internet-outage switch
//! (`POST /restaurants/me/counter-payment`): new orders are paid at the counter until it is
//! switched back.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{Crew, Staff};
use crate::doctor::{self, PrintedHost};
use crate::domain::order::PaymentMode;
use crate::domain::restaurant::Restaurant;
use crate::error::AppError;
use crate::http::extract::{AppJson, AppQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/restaurants/me/status", get(status))
        .route(
            "/api/v1/restaurants/me/counter-payment",
            post(switch_counter_payment),
        )
}

async fn restaurant(
    state: &AppState,
    id: crate::domain::ids::RestaurantId,
) -> Result<Restaurant, AppError> {
    state
        .store
        .restaurant(id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))
}

fn payments_json(state: &AppState, restaurant: &Restaurant) -> Value {
    let provider = state.payments.provider_kind().map(|k| k.as_str());
    let reach = state.payments.reachability();
    json!({
        "provider": provider,
        "payment_mode": restaurant.payment_mode,
        "payment_mode_in_effect": restaurant.payment_mode_in_effect(provider.is_some()),
        "reachable": reach.as_ref().and_then(|r| r.reachable),
        "since": reach.as_ref().and_then(|r| r.since),
        "checked_at": reach.as_ref().and_then(|r| r.checked_at),
        "last_error": reach.as_ref().and_then(|r| r.last_error.clone()),
        "counter_payment": restaurant.counter_payment_since.is_some(),
        "counter_payment_since": restaurant.counter_payment_since,
    })
}

#[derive(Deserialize)]
struct StatusQuery {
    /// Also try the guest page on each address (up to half a second): the settings screen asks
    /// for it, the board's banners every 30 s do not.
    #[serde(default)]
    details: bool,
}

async fn status(
    State(state): State<AppState>,
    crew: Crew,
    AppQuery(query): AppQuery<StatusQuery>,
) -> Result<Json<Value>, AppError> {
    let restaurant = restaurant(&state, crew.restaurant_id).await?;
    let addresses = doctor::own_addresses(&state.config.interface_addresses);
    let qr = match &restaurant.printed_base_url {
        Some((url, at)) => {
            let check = doctor::check_printed_url(url, &addresses).await;
            json!({
                "printed_base_url": url,
                "printed_at": at,
                "host": check.host,
                "status": check.status,
                "moved": check.status == PrintedHost::Moved,
            })
        }
        None => json!({ "printed_base_url": null, "status": null, "moved": false }),
    };
    let guest_port = reqwest::Url::parse(&state.urls.guest)
        .ok()
        .and_then(|u| u.port_or_known_default())
        .unwrap_or(80);
    let reachable = match query.details {
        true => Some(guest_reachability(&addresses, guest_port).await),
        false => None,
    };
    let data_dir = state.config.data_dir.clone();
    let certificate = doctor::certificate(&state.config.data_dir, state.config.tls_cert.as_deref());
    let disk = crate::blocking::run(move || Ok::<_, anyhow::Error>(doctor::disk_space(&data_dir)))
        .await
        .ok()
        .flatten();
    let now = state.clock.now();
    let newest_order = state.store.newest_order_at(crew.restaurant_id).await?;
    let behind = doctor::behind_newest_order(now, newest_order);
    Ok(Json(json!({
        // Several instances behind a balancer are not one server restarting.
        "server": {
            "started_at": state.started_at,
            "instance": state.shared_health.is_none().then(|| &*state.instance),
        },
        "network": {
            "addresses": addresses,
            "guest_base_url": &*state.urls.guest,
            "guest_reachable": reachable,
            "card": doctor::network_card(),
        },
        "certificate": certificate,
        "disk": disk,
        "qr": qr,
        "payments": payments_json(&state, &restaurant),
        "clock": {
            "now": now,
            "jump": state.clock_watch.recent_jump(now),
            "behind_newest_order_seconds": behind.map(|b| b.num_seconds()),
            "newest_order_at": newest_order,
        },
    })))
}

/// Whether the guest listener answers a TCP connection on each of the box's addresses (what a
/// phone on the shop Wi-Fi would need first).
async fn guest_reachability(addresses: &[std::net::IpAddr], port: u16) -> Vec<Value> {
    let checks = addresses.iter().map(|ip| async move {
        let connected = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            tokio::net::TcpStream::connect((*ip, port)),
        )
        .await;
        json!({ "address": ip, "port": port, "reachable": matches!(connected, Ok(Ok(_))) })
    });
    futures_util::future::join_all(checks).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CounterPaymentSwitch {
    enabled: bool,
}

/// "인터넷 장애: 카운터 결제로 전환", and back. Orders already placed keep their mode: nothing
/// paid changes, and PREPAY orders still waiting are settled by reconciliation when Toss is back.
async fn switch_counter_payment(
    State(state): State<AppState>,
    staff: Staff,
    AppJson(body): AppJson<CounterPaymentSwitch>,
) -> Result<Json<Value>, AppError> {
    let current = restaurant(&state, staff.restaurant_id).await?;
    if body.enabled && state.payments.provider_kind().is_none() {
        return Err(AppError::PaymentsNotConfigured);
    }
    if body.enabled && current.payment_mode != PaymentMode::Prepay {
        return Err(AppError::conflict(
            "this restaurant already takes payment at the counter (POSTPAY)",
        ));
    }
    let (restaurant, _event) = state
        .store
        .switch_counter_payment(
            staff.restaurant_id,
            body.enabled,
            Some(staff.user.user_id),
            state.clock.now(),
        )
        .await?;
    // Guests' menus say how to pay before the switch is reported done.
    state.events.flushed().await;
    Ok(Json(payments_json(&state, &restaurant)))
}
