use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_error, assert_validation, into_response};

#[tokio::test]
async fn framework_rejections_use_the_envelope_and_change_nothing() {
    let app = TestApp::spawn().await;
    let register = app.url("/api/v1/auth/register");

    let malformed = app
        .client
        .post(&register)
        .header("content-type", "application/json")
        .body(r#"{"email": "x@y.co", "password": "#)
        .send()
        .await
        .unwrap();
    assert_validation(&into_response(malformed).await, "body");

    let wrong_type = app
        .client
        .post(&register)
        .header("content-type", "text/plain")
        .body(r#"{"email":"x@y.co","password":"long-enough","name":"X"}"#)
        .send()
        .await
        .unwrap();
    assert_error(
        &into_response(wrong_type).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );

    let no_type = app
        .client
        .post(&register)
        .body(r#"{"email":"x@y.co","password":"long-enough","name":"X"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge_name = "가".repeat(30_000); // ~90 KB of UTF-8
    let oversized = app
        .client
        .post(&register)
        .json(
            &serde_json::json!({ "email": "x@y.co", "password": "long-enough", "name": huge_name }),
        )
        .send()
        .await
        .unwrap();
    assert_error(
        &into_response(oversized).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    let unknown = app.get("/api/v1/no/such/route", None).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "NOT_FOUND");

    let wrong_method = app.get("/api/v1/auth/login", None).await;
    assert_error(
        &wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert!(wrong_method.headers.contains_key("allow"));

    assert_eq!(app.count("SELECT count(*) FROM users"), 0);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_valid_one_is_propagated() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "lb-1234");

    let res = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "has spaces and\ttabs")
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
}
