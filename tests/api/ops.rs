use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_error, decoded_body};

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
}

/// The suite runs on the backend the environment asks for, never silently on another.
#[tokio::test]
async fn the_suite_runs_on_the_backend_the_environment_names() {
    let app = TestApp::spawn().await;
    let ready = app.get("/readyz", None).await.body;
    let expected = if crate::backend::postgres_base().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(ready["database"], expected, "{ready}");
    if crate::backend::redis_base().is_some() {
        assert_eq!(ready["redis"], "up", "{ready}");
    } else {
        assert!(ready.get("redis").is_none(), "{ready}");
    }
}

#[tokio::test]
async fn https_with_the_generated_ca_and_http_redirects() {
    let app = TestApp::spawn_with(|c| c.allow_plain_http = false).await;

    let ca_pem = std::fs::read(app.data_dir.join("tls/ca.crt")).unwrap();
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .build()
        .unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let res = trusting
            .get(format!("https://{host}:{}/healthz", app.https_port))
            .send()
            .await
            .unwrap_or_else(|e| panic!("TLS to {host} failed: {e:?}"));
        assert_eq!(res.status(), StatusCode::OK);
    }

    // A client that does not trust the CA is refused, so the check above means something.
    let untrusting = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        untrusting
            .get(format!("https://localhost:{}/healthz", app.https_port))
            .send()
            .await
            .is_err()
    );

    // The CA is downloadable over HTTPS and, before a device trusts it, over plain HTTP.
    let served = trusting
        .get(format!("https://localhost:{}/ca.crt", app.https_port))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap(), ca_pem);
    let over_http = app.client.get(app.url("/ca.crt")).send().await.unwrap();
    assert_eq!(over_http.status(), StatusCode::OK);
    assert_eq!(over_http.bytes().await.unwrap(), ca_pem);

    // The owner's pages are HTTPS-only: plain HTTP redirects there.
    let redirect = app
        .client
        .get(format!("http://localhost:{}/owner?x=1", app.http_port))
        .send()
        .await
        .unwrap();
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    assert_eq!(
        redirect.headers()["location"],
        format!("https://localhost:{}/owner?x=1", app.https_port).as_str()
    );
}

#[tokio::test]
async fn the_request_over_the_limit_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 5).await;
    for i in 0..5 {
        let res = app.get("/api/v1/auth/me", None).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "request {i}");
    }
    let limited = app.get("/api/v1/auth/me", None).await;
    let details = assert_error(
        &limited,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT_EXCEEDED",
    );
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(details["retry_after_seconds"], retry_after);
    // Monitoring is never limited.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    // The refused request is counted under its route, not as an unknown path.
    let text = app.metrics_text().await;
    assert!(
        text.lines()
            .any(|l| l
                == r#"api_requests_total{method="GET",path="/api/v1/auth/me",status="429"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    app.register("metrics@example.com").await;
    app.get("/api/v1/auth/me", None).await;
    app.get("/api/v1/auth/me", None).await;
    app.get("/definitely/not/a/route/12345", None).await;
    let customer = app.customer("metrics-customer@example.com").await;
    for id in [
        "01a21c4d-0000-7000-8000-000000000001",
        "01a21c4d-0000-7000-8000-000000000002",
    ] {
        let res = app
            .get(&format!("/api/v1/orders/{id}"), Some(&customer))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }

    let text = app.metrics_text().await;
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has(r#"api_requests_total{method="POST",path="/api/v1/auth/register",status="201"} 2"#),
        "{text}"
    );
    assert!(
        has(r#"api_requests_total{method="GET",path="/api/v1/auth/me",status="401"} 2"#),
        "{text}"
    );
    assert!(
        has(r#"api_requests_total{method="GET",path="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"api_requests_total{method="GET",path="/api/v1/orders/{id}",status="404"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"api_request_duration_seconds_bucket{path="/api/v1/auth/register""#));
    assert!(text.contains(r#"api_request_duration_seconds_bucket{path="/api/v1/orders/{id}""#));
    // Labels only: sample values (durations) may contain any digits.
    let labels: String = text
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(name_and_labels, _)| name_and_labels)
        })
        .collect();
    assert!(
        !labels.contains("12345"),
        "raw paths must not become labels"
    );
    assert!(
        !labels.contains("000000000001"),
        "raw ids must not become labels"
    );
}

#[tokio::test]
async fn cached_menus_count_against_the_limit_too() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 30).await;
    let shop = app.shop("limited-menu@example.com", "POSTPAY").await;
    let path = format!("/api/v1/restaurants/{}/menu", shop.id);
    // A first phone that takes gzip has the menu compressed, in the background; the next
    // ones are answered from the cache once it is ready.
    let mut served = 0;
    loop {
        let before = app.menus_from_cache().await;
        assert_eq!(app.get_gzip(&path).await.status(), StatusCode::OK);
        served += 1;
        if app.menus_from_cache().await > before {
            break;
        }
        assert!(served < 10, "the compressed menu was never ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let limited = loop {
        let res = app.get(&path, None).await;
        if res.status != StatusCode::OK {
            break res;
        }
        served += 1;
        assert!(served <= 30, "never limited");
    };
    // Over the limit, a phone that takes gzip gets the refusal compressed, as from any route.
    let before = app.menus_from_cache().await;
    let compressed = app.get_gzip(&path).await;
    assert_eq!(compressed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.menus_from_cache().await, before + 1);
    assert_eq!(compressed.headers()["content-encoding"], "gzip");
    assert_eq!(compressed.headers()["vary"], "accept-encoding");
    let refusal_headers = compressed.headers().clone();
    let envelope = decoded_body(&refusal_headers, &compressed.bytes().await.unwrap());
    assert_eq!(envelope["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let elsewhere = app.get_gzip("/api/v1/auth/me").await;
    assert_eq!(elsewhere.status(), StatusCode::TOO_MANY_REQUESTS);
    let names = |headers: &reqwest::header::HeaderMap| {
        // A length known in advance, or chunks: the same body either way.
        let mut names: Vec<String> = headers
            .keys()
            .filter(|k| !matches!(k.as_str(), "content-length" | "transfer-encoding"))
            .map(|k| k.to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&refusal_headers), names(elsewhere.headers()));
    assert!(served > 0, "the shop's set-up used the whole budget");
    let details = assert_error(
        &limited,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT_EXCEEDED",
    );
    assert_eq!(
        details["retry_after_seconds"].to_string(),
        limited.headers["retry-after"].to_str().unwrap()
    );
    assert!(limited.headers.contains_key("x-request-id"));
    let text = app.metrics_text().await;
    let counted = |status: &str| {
        let series = format!(
            r#"api_requests_total{{method="GET",path="/api/v1/restaurants/{{id}}/menu",status="{status}"}} "#
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    // The shop's own look at its menu, then ours.
    assert_eq!(counted("200"), served + 1, "{text}");
    assert_eq!(counted("429"), 2, "{text}");
}
