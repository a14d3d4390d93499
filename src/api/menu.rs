//! Menus: the public `GET /restaurants/{id}/menu` (cached bytes + ETag) and the owner's
//! `GET/PUT /restaurants/me/menu` and `PATCH /restaurants/me/menu/items/{id}`.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{Crew, Owner, Staff};
use crate::cache::ServedMenu;
use crate::domain::ids::{MenuItemId, RestaurantId};
use crate::domain::menu::{self, MenuDocument, MenuItem};
use crate::domain::menu_labels::pick_language;
use crate::domain::user::Role;
use crate::error::AppError;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::store::MenuItemChanges;

/// Room for the largest menu validation allows, with ids (about 2 KB per item at most).
const MENU_DOCUMENT_MAX_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/restaurants/{id}/menu", get(public_menu))
        .route(
            "/api/v1/restaurants/me/menu",
            // A whole menu document (up to 500 items with options) outgrows the 64 KiB other
            // requests get.
            get(own_menu)
                .put(replace_menu)
                .layer(DefaultBodyLimit::max(MENU_DOCUMENT_MAX_BYTES)),
        )
        .route("/api/v1/restaurants/me/menu/items/{id}", patch(update_item))
}

/// `If-None-Match` lists ETags (or `*`); weak and strong forms compare equal for GET.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// The menu in `lang` (`None`: Korean with every translation, what owners edit).
pub(crate) async fn menu_response(
    state: &AppState,
    id: RestaurantId,
    headers: &HeaderMap,
    lang: Option<&str>,
) -> Result<Response, AppError> {
    let snapshot = state
        .menu(id)
        .await?
        .ok_or(AppError::NotFound("restaurant"))?;
    Ok(served_response(snapshot.served(lang), headers))
}

/// A served menu as a response: the JSON, or a bodyless 304 when the client has it already.
pub(crate) fn served_response(served: &ServedMenu, headers: &HeaderMap) -> Response {
    // Browsers must revalidate every time (a sold-out item has to show at once); the ETag
    // makes that revalidation a bodyless 304. Without `?lang`, the language follows
    // Accept-Language, so caches must key on it.
    let not_modified = matches_etag(headers, &served.etag);
    let mut response = if not_modified {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        Response::new(Body::from(served.body.clone()))
    };
    let headers = response.headers_mut();
    // Room for these and the headers every answer gets after (`http::Exchange`), so the map is
    // allocated once, not grown three times on the hottest path.
    headers.reserve(10);
    if !not_modified {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    headers.insert(header::ETAG, served.etag_header.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    response
}

#[derive(Deserialize, Default)]
struct MenuQuery {
    lang: Option<String>,
}

async fn public_menu(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<MenuQuery>,
    // The request itself, not a `HeaderMap` (that extractor copies every header): the hottest
    // path of the product: the first thing every guest's phone loads.
    request: Request,
) -> Result<Response, AppError> {
    let headers = request.headers();
    // A malformed id in a QR link is simply a restaurant that does not exist.
    let id: RestaurantId = id.parse().map_err(|_| AppError::NotFound("restaurant"))?;
    let lang = guest_language(query.lang.as_deref(), headers);
    menu_response(&state, id, headers, lang).await
}

/// The language a guest reads the menu in: `?lang=`, else the phone's Accept-Language.
pub(crate) fn guest_language(lang: Option<&str>, headers: &HeaderMap) -> Option<&'static str> {
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    pick_language(lang, accept_language)
}

async fn own_menu(
    State(state): State<AppState>,
    owner: Crew,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    menu_response(&state, owner.restaurant_id, &headers, None).await
}

/// Validates a whole menu document and stores it; shared with `ordersync menu import`.
pub async fn store_menu(
    state_store: &dyn crate::store::Store,
    restaurant: RestaurantId,
    document: MenuDocument,
) -> Result<i64, AppError> {
    let known = state_store.known_menu_ids(restaurant).await?;
    let categories = menu::validate_menu(document, &known)?;
    Ok(state_store.replace_menu(restaurant, categories).await?)
}

async fn replace_menu(
    State(state): State<AppState>,
    owner: Owner,
    headers: HeaderMap,
    AppJson(document): AppJson<MenuDocument>,
) -> Result<Response, AppError> {
    store_menu(&*state.store, owner.restaurant_id, document).await?;
    // Other instances drop their cached copy before the owner hears "done".
    state.events.flushed().await;
    menu_response(&state, owner.restaurant_id, &headers, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemPatch {
    name: Option<String>,
    price: Option<i64>,
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    image_url: Option<Option<String>>,
    is_available: Option<bool>,
}

/// Tells `"image_url": null` (remove the image) from a missing field (keep it).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Floor staff mark items sold out and back; everything else about an item is the owner's.
async fn update_item(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<String>,
    AppJson(patch): AppJson<ItemPatch>,
) -> Result<Json<MenuItem>, AppError> {
    let edits_item = patch.name.is_some()
        || patch.price.is_some()
        || patch.description.is_some()
        || patch.image_url.is_some();
    if edits_item && staff.user.role != Role::Owner {
        return Err(AppError::Forbidden(
            "staff may only mark items sold out or available; menu editing is the owner's",
        ));
    }
    let id: MenuItemId = id.parse().map_err(|_| AppError::NotFound("menu item"))?;
    let changes = MenuItemChanges {
        name: patch
            .name
            .map(|n| menu::check_item_name("name", &n))
            .transpose()?,
        price: patch
            .price
            .map(|p| menu::check_price("price", p))
            .transpose()?,
        description: patch
            .description
            .map(|d| menu::check_description("description", &d))
            .transpose()?,
        image_url: patch
            .image_url
            .map(|url| menu::check_image_url("image_url", url.as_deref()))
            .transpose()?,
        is_available: patch.is_available,
    };
    let nothing = changes.name.is_none()
        && changes.price.is_none()
        && changes.description.is_none()
        && changes.image_url.is_none()
        && changes.is_available.is_none();
    if nothing {
        return Err(AppError::validation("body", "nothing to change"));
    }
    let item = state
        .store
        .update_menu_item(staff.restaurant_id, id, changes)
        .await?
        .ok_or(AppError::NotFound("menu item"))?;
    state.events.flushed().await;
    Ok(Json(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_in_lists_and_weak_form() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, "\"a\", W/\"b\"".parse().unwrap());
        assert!(matches_etag(&headers, "\"b\""));
        assert!(matches_etag(&headers, "\"a\""));
        assert!(!matches_etag(&headers, "\"c\""));
        assert!(!matches_etag(&HeaderMap::new(), "\"a\""));
    }
}
