use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation, token};

#[tokio::test]
async fn a_session_lives_rotates_detects_reuse_and_logs_out() {
    let app = TestApp::spawn().await;
    let registered = app.register("kim@example.com").await;
    assert_eq!(registered["user"]["role"], "CUSTOMER");
    assert_eq!(registered["expires_in"], 3600);

    let login = app.login("Kim@Example.com", "correct-horse").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    for field in ["access_token", "refresh_token", "expires_in", "user"] {
        assert!(login.body.get(field).is_some(), "login lacks {field}");
    }
    assert_eq!(login.body["user"]["name"], "테스트 손님");
    let access = token(&login.body, "access_token");
    let refresh1 = token(&login.body, "refresh_token");

    let me = app.get("/api/v1/auth/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "kim@example.com");
    assert_eq!(me.body["role"], "CUSTOMER");
    assert_eq!(me.body["id"], login.body["user"]["id"]);

    let rotated = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh1 }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let refresh2 = token(&rotated.body, "refresh_token");
    let access2 = token(&rotated.body, "access_token");
    assert_ne!(refresh1, refresh2);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&access2)).await.status,
        StatusCode::OK
    );

    // Replaying the spent token revokes the whole family, the newer token included.
    let replay = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh1 }),
        )
        .await;
    assert_error(&replay, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let newer = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh2 }),
        )
        .await;
    assert_error(&newer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    // …and the access tokens of that session.
    let me = app.get("/api/v1/auth/me", Some(&access2)).await;
    assert_error(&me, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // A second session: logout kills its access token and refresh token.
    let login = app.login("kim@example.com", "correct-horse").await;
    let access = token(&login.body, "access_token");
    let refresh = token(&login.body, "refresh_token");
    let out = app
        .post("/api/v1/auth/logout", Some(&access), json!({}))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get("/api/v1/auth/me", Some(&access)).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
    let after = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_error(&after, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn registration_is_validated_and_changes_nothing_when_refused() {
    let app = TestApp::spawn().await;
    app.register("lee@example.com").await;

    let dup = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "LEE@example.com", "password": "another-pass", "name": "Lee" }),
        )
        .await;
    assert_error(&dup, StatusCode::CONFLICT, "CONFLICT");

    let cases = [
        (
            json!({ "email": "not-an-email", "password": "long-enough", "name": "A" }),
            "email",
        ),
        (
            json!({ "email": "a@b.co", "password": "short", "name": "A" }),
            "password",
        ),
        (
            json!({ "email": "a@b.co", "password": "long-enough", "name": "  " }),
            "name",
        ),
        (
            json!({ "email": "a@b.co", "password": "long-enough", "name": "가".repeat(101) }),
            "name",
        ),
        (json!({ "email": "a@b.co", "name": "A" }), "password"),
        (
            json!({ "email": 5, "password": "long-enough", "name": "A" }),
            "email",
        ),
    ];
    for (body, field) in cases {
        let res = app.post("/api/v1/auth/register", None, body).await;
        assert_validation(&res, field);
    }
    assert_eq!(app.count("SELECT count(*) FROM users"), 1);

    // Public registration never makes owners, whatever the body says.
    let sneaky = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "boss@example.com", "password": "long-enough", "name": "B", "role": "OWNER" }),
        )
        .await;
    assert_eq!(sneaky.status, StatusCode::CREATED);
    assert_eq!(sneaky.body["user"]["role"], "CUSTOMER");
}

#[tokio::test]
async fn bad_credentials_and_bad_tokens_are_401() {
    let app = TestApp::spawn().await;
    let body = app.register("park@example.com").await;
    let access = token(&body, "access_token");
    let refresh = token(&body, "refresh_token");

    assert_error(
        &app.login("park@example.com", "wrong-password").await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
    assert_error(
        &app.login("nobody@example.com", "whatever-pass").await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );

    let secret = crate::backend::generated_secret(&app.database_url, &app.data_dir, "jwt");
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64, typ: &str| {
        json!({
            "sub": body["user"]["id"], "role": "CUSTOMER", "exp": exp, "iat": now - 10,
            "jti": uuid::Uuid::new_v4().to_string(), "typ": typ,
            "sid": uuid::Uuid::now_v7().to_string(),
        })
    };
    let sign = |alg: Algorithm, key: &[u8], claims: &Value| {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
    };
    let mut tampered = access.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let payload_swapped = {
        let parts: Vec<&str> = access.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(now + 3600, "access")).unwrap());
        format!("{}.{}.{}", parts[0], forged, parts[2])
    };
    let unsigned = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(now + 3600, "access")).unwrap())
    );
    let bad_tokens = [
        ("tampered signature", tampered),
        ("swapped payload", payload_swapped),
        (
            "other key",
            sign(
                Algorithm::HS256,
                b"some-other-key-0123456789abcdef!",
                &claims(now + 3600, "access"),
            ),
        ),
        (
            "HS512",
            sign(Algorithm::HS512, &secret, &claims(now + 3600, "access")),
        ),
        ("alg none", unsigned),
        (
            "expired",
            sign(Algorithm::HS256, &secret, &claims(now - 120, "access")),
        ),
        ("refresh as access", refresh.clone()),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    // The control: a token we sign correctly is accepted, so the refusals above are about
    // the defect each one carries.
    let good = sign(Algorithm::HS256, &secret, &claims(now + 3600, "access"));
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&good)).await.status,
        StatusCode::OK
    );
    for (what, bad) in bad_tokens {
        let res = app.get("/api/v1/auth/me", Some(&bad)).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{what} was accepted");
        assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let missing = app.get("/api/v1/auth/me", None).await;
    assert_error(&missing, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let not_bearer = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("Authorization", format!("Basic {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_bearer.status(), StatusCode::UNAUTHORIZED);

    // An access token is not a refresh token either.
    let res = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": access }),
        )
        .await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn login_is_rate_limited_per_ip_and_email() {
    let app = TestApp::spawn_with(|c| c.login_rate_limit_per_minute = 3).await;
    app.register("choi@example.com").await;
    for _ in 0..3 {
        let res = app.login("choi@example.com", "wrong-password").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let limited = app.login("choi@example.com", "correct-horse").await;
    assert_error(
        &limited,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT_EXCEEDED",
    );
    assert!(limited.headers.contains_key("retry-after"));
    // Another email from the same IP is not locked out.
    let other = app.login("someone@example.com", "whatever-pass").await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_survive_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    let body = app.register("jung@example.com").await;
    let access = token(&body, "access_token");
    let refresh = token(&body, "refresh_token");
    let logged_out = app.login("jung@example.com", "correct-horse").await;
    let logged_out = token(&logged_out.body, "access_token");
    app.post("/api/v1/auth/logout", Some(&logged_out), json!({}))
        .await;
    let ca_before = std::fs::read(dir.path().join("tls/ca.crt")).unwrap();
    let cert_before = std::fs::read(dir.path().join("tls/server.crt")).unwrap();
    app.stop().await;

    let app = TestApp::spawn_in(dir.path(), |_| {}).await;
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );
    // A revocation is not forgotten by a restart.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&logged_out)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let rotated = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(
        std::fs::read(dir.path().join("tls/ca.crt")).unwrap(),
        ca_before
    );
    assert_eq!(
        std::fs::read(dir.path().join("tls/server.crt")).unwrap(),
        cert_before
    );
    app.stop().await;
}

#[tokio::test]
async fn an_owner_token_carries_the_restaurant() {
    let app = TestApp::spawn().await;
    let (owner, restaurant_id) = app.owner("owner@example.com", "국밥집").await;
    let me = app.get("/api/v1/auth/me", Some(&owner)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["role"], "OWNER");
    assert_eq!(me.body["restaurant_id"], restaurant_id.as_str());
}
