//! The OpenAPI document: it parses, lists exactly the routes the API modules register, every
//! listed route is served, and the roles it states are the roles the server enforces (the role
//! matrix: every operation refused to each role it does not list, with nothing changed).

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};
use crate::staff::add_staff;

/// `(method, path)` of every `.route(…)` in the API modules' source, with `.nest` prefixes.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mod_rs = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let prefix = nest_prefix(&mod_rs, &module);
        for (route, methods) in route_calls(&source) {
            for method in methods {
                routes.insert((method, format!("{prefix}{route}")));
            }
        }
    }
    routes
}

/// The prefix `module::router()` is nested under in mod.rs (`.nest("/prefix", module::router())`).
fn nest_prefix(mod_rs: &str, module: &str) -> String {
    let call = format!("{module}::router())");
    mod_rs
        .lines()
        .find(|line| line.contains(".nest(") && line.contains(&call))
        .and_then(|line| line.split('"').nth(1))
        .unwrap_or("")
        .to_owned()
}

/// Each `.route("path", …)` call: its path and the methods of its method router.
fn route_calls(source: &str) -> Vec<(String, Vec<String>)> {
    let mut calls = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        let close = open + 1 + rest[open + 1..].find('"').unwrap();
        let path = rest[open + 1..close].to_owned();
        // The call's arguments end where its parenthesis closes.
        let mut depth = 1;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &rest[close..end];
        let methods = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| {
                args.match_indices(&format!("{m}(")).any(|(i, _)| {
                    i == 0 || !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            })
            .map(str::to_owned)
            .collect();
        calls.push((path, methods));
    }
    calls
}

fn operations(document: &Value) -> Vec<(String, String, Value)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(|(method, op)| (method.clone(), path.clone(), op.clone()))
        })
        .collect()
}

/// A path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{table}" => "1".to_owned(),
            s if s.starts_with('{') => uuid::Uuid::new_v4().to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_parses_and_lists_exactly_the_routes_the_server_has() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/openapi.json", None).await;
    assert_eq!(res.status, StatusCode::OK);
    let document = res.body;
    assert_eq!(document["openapi"], "3.1.0");
    let error = &document["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error"]));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let in_source = routes_in_source();
    assert!(
        in_source.len() > 50,
        "the source scan found only {in_source:?}"
    );
    let missing: Vec<_> = in_source.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&in_source).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented but not in the source: {extra:?}"
    );

    // Every documented operation is served: no route-not-found, no method-not-allowed.
    for (method, path, op) in operations(&document) {
        assert!(
            op["summary"].is_string() && op["responses"].is_object(),
            "{method} {path}"
        );
        let method: Method = method.to_uppercase().parse().unwrap();
        let body = (method != Method::GET).then(|| json!({}));
        let res = app
            .request(method.clone(), &concrete(&path), None, body)
            .await;
        assert_ne!(
            res.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_ne!(
            res.body["error"]["message"], "route not found",
            "{method} {path} is not routed"
        );
        for code in op["responses"].as_object().unwrap().keys() {
            assert!(
                code.parse::<u16>().is_ok(),
                "{method} {path}: response {code}"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_refuses_the_roles_the_document_does_not_list() {
    let app = TestApp::spawn().await;
    let shop = app.shop("matrix@example.com", "POSTPAY").await;
    let (_, staff) = add_staff(&app, &shop, "matrix-staff@example.com", "STAFF").await;
    let (_, kitchen) = add_staff(&app, &shop, "matrix-kitchen@example.com", "KITCHEN").await;
    let customer = app.customer("matrix-customer@example.com").await;
    let document = app.get("/api/openapi.json", None).await.body;
    let watched = [
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM orders",
        "SELECT count(*) FROM printers",
        "SELECT count(*) FROM order_events",
        "SELECT revision FROM restaurants WHERE name = '테스트 치킨'",
    ];
    let before: Vec<i64> = watched.iter().map(|sql| app.count(sql)).collect();
    let settings = app
        .get("/api/v1/restaurants/me", Some(&shop.owner))
        .await
        .body;

    let mut checked = 0;
    let mut owner_only = 0;
    for (method, path, op) in operations(&document) {
        let roles: Vec<&str> = op["x-roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        // Sockets refuse on the upgrade (tested in live.rs and staff.rs); no token, no roles.
        if path.starts_with("/ws/") || roles.is_empty() {
            continue;
        }
        if roles == ["OWNER"] {
            owner_only += 1;
        }
        for (role, token) in [
            ("STAFF", &staff),
            ("KITCHEN", &kitchen),
            ("CUSTOMER", &customer),
        ] {
            if roles.contains(&role) {
                continue;
            }
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = (method != Method::GET).then(|| json!({}));
            let res = app
                .request(method.clone(), &concrete(&path), Some(token), body)
                .await;
            assert_eq!(
                res.status,
                StatusCode::FORBIDDEN,
                "{role} on {method} {path}: {}",
                res.body
            );
            assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
            checked += 1;
        }
    }
    assert!(
        owner_only >= 14,
        "only {owner_only} owner-only operations documented"
    );
    assert!(checked >= 60, "only {checked} refusals checked");
    let after: Vec<i64> = watched.iter().map(|sql| app.count(sql)).collect();
    assert_eq!(before, after, "a refused request changed something");
    assert_eq!(
        app.get("/api/v1/restaurants/me", Some(&shop.owner))
            .await
            .body,
        settings
    );
}
