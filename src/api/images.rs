//! Menu photos: `POST /restaurants/me/images` (owners upload; multipart field `file`) and
//! `GET /images/{restaurant}/{file}` (everyone; cached for a year, the names never change).

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::app::AppState;
use crate::auth::Owner;
use crate::domain::ids::RestaurantId;
use crate::error::AppError;
use crate::images::{self, ImageError, MAX_UPLOAD_BYTES, StoredImage};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/restaurants/me/images",
            // The photo plus the multipart framing around it.
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 16 * 1024)),
        )
        .route("/images/{restaurant}/{file}", get(serve))
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> AppError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::validation(
            "file",
            format!("could not read the upload: {}", err.body_text()),
        )
    }
}

async fn upload(
    State(state): State<AppState>,
    owner: Owner,
    mut form: Multipart,
) -> Result<(StatusCode, Json<StoredImage>), AppError> {
    let mut photo = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            photo = Some(field.bytes().await.map_err(multipart_error)?);
            break;
        }
    }
    let photo = photo.ok_or_else(|| {
        AppError::validation("file", "send the photo as the multipart field `file`")
    })?;
    if photo.len() > MAX_UPLOAD_BYTES {
        return Err(AppError::PayloadTooLarge);
    }
    // One photo decoded at a time: each can take a few hundred megabytes while it is worked on.
    static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let turn = DECODING.acquire().await.map_err(anyhow::Error::from)?;
    let data_dir = state.config.data_dir.clone();
    let restaurant = owner.restaurant_id;
    // The permit goes with the work: a client that hangs up does not free it early.
    let stored = crate::blocking::run(move || {
        let _turn = turn;
        images::store(&data_dir, restaurant, &photo)
    })
    .await
    .map_err(|err| match err {
        ImageError::Storage(err) => AppError::Internal(err.into()),
        other => AppError::validation("file", other.to_string()),
    })?;
    Ok((StatusCode::CREATED, Json(stored)))
}

async fn serve(
    State(state): State<AppState>,
    Path((restaurant, file)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let restaurant: RestaurantId = restaurant
        .parse()
        .map_err(|_| AppError::NotFound("image"))?;
    if !images::is_stored_name(&file) {
        return Err(AppError::NotFound("image"));
    }
    let path = images::directory(&state.config.data_dir, restaurant).join(&file);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(AppError::NotFound("image"));
        }
        Err(err) => return Err(AppError::Internal(err.into())),
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        bytes,
    )
        .into_response())
}
