//! Menu photos: uploads are told apart by their bytes, decoded, stripped and stored in three
//! widths served with year-long caching; anything else is refused with the envelope and
//! nothing is stored.

use std::io::Cursor;

use image::{ImageFormat, RgbImage};
use reqwest::StatusCode;

use crate::helpers::{Response, TestApp, assert_error, assert_validation, into_response};

fn photo(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let picture = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut bytes = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

/// A JPEG carrying an EXIF block (where phones put the location).
fn photo_with_exif() -> Vec<u8> {
    let jpeg = photo(800, 600, ImageFormat::Jpeg);
    let payload = b"Exif\0\0SECRET-GPS-37.5665N-126.9780E";
    let mut segment = vec![0xff, 0xe1];
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(payload);
    let mut out = jpeg[..2].to_vec();
    out.extend(segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

async fn upload(app: &TestApp, token: &str, file_name: &str, mime: &str, bytes: &[u8]) -> Response {
    let boundary = "ordersync-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: {mime}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = app
        .client
        .post(app.url("/api/v1/restaurants/me/images"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    into_response(res).await
}

fn stored_files(app: &TestApp) -> usize {
    walk(&app.data_dir.join("images"))
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk(&p) } else { 1 })
        .sum()
}

#[tokio::test]
async fn a_photo_is_stored_in_three_widths_without_its_metadata_and_cached_for_a_year() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.owner("photos@example.com", "사진 식당").await;
    // A PNG named .jpg: the bytes decide.
    let res = upload(
        &app,
        &owner,
        "dish.jpg",
        "image/jpeg",
        &photo(2000, 1500, ImageFormat::Png),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let url = res.body["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("/images/") && url.ends_with("-640.jpg"),
        "{url}"
    );
    let srcset = res.body["srcset"].as_str().unwrap();
    let sources: Vec<(&str, &str)> = srcset
        .split(", ")
        .map(|s| s.split_once(' ').unwrap())
        .collect();
    assert_eq!(
        sources.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
        ["320w", "640w", "1280w"]
    );
    for (path, width) in sources {
        let served = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.headers()["content-type"], "image/jpeg");
        assert_eq!(
            served.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let picture = image::load_from_memory(&served.bytes().await.unwrap()).unwrap();
        let width: u32 = width.trim_end_matches('w').parse().unwrap();
        assert_eq!(picture.width(), width);
        assert_eq!(picture.height(), width * 3 / 4);
    }

    // Location data in the upload does not survive.
    let res = upload(&app, &owner, "phone.jpeg", "image/jpeg", &photo_with_exif()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let served = app
        .client
        .get(app.url(res.body["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&served);
    assert!(!text.contains("SECRET-GPS") && !text.contains("Exif"));
    // Smaller than 640: kept at its own size, never enlarged.
    assert_eq!(image::load_from_memory(&served).unwrap().width(), 640);

    // Names outside what the store writes are not files.
    for bad in [
        format!("{}/../../ordersync.db", url.rsplit_once('/').unwrap().0),
        "/images/not-a-restaurant/0123456789abcdef0123456789abcdef-640.jpg".to_owned(),
        url.replace("-640.jpg", "-641.jpg"),
    ] {
        let res = app.client.get(app.url(&bad)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{bad}");
    }
}

#[tokio::test]
async fn non_images_oversized_files_and_strangers_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (owner, restaurant) = app.owner("bad-photos@example.com", "사진 식당").await;
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00not really a zip".to_vec();
    assert_validation(
        &upload(&app, &owner, "menu.jpg", "image/jpeg", &zip).await,
        "file",
    );
    // A JPEG that stops after its first bytes.
    let mut torn = photo(400, 300, ImageFormat::Jpeg);
    torn.truncate(200);
    assert_validation(
        &upload(&app, &owner, "torn.jpg", "image/jpeg", &torn).await,
        "file",
    );
    let huge = vec![0xffu8; 20 * 1024 * 1024];
    let res = upload(&app, &owner, "huge.jpg", "image/jpeg", &huge).await;
    assert_error(&res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // No `file` field.
    let res = app
        .client
        .post(app.url("/api/v1/restaurants/me/images"))
        .bearer_auth(&owner)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_validation(&into_response(res).await, "file");
    let guest = app.guest(&restaurant, "1").await;
    let res = upload(
        &app,
        &guest,
        "dish.png",
        "image/png",
        &photo(100, 100, ImageFormat::Png),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(stored_files(&app), 0);
}
