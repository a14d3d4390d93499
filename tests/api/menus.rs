use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation, decoded_body, test_menu};

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(items: &[&'a str]) -> BTreeSet<&'a str> {
    items.iter().copied().collect()
}

#[tokio::test]
async fn the_menu_has_the_seed_shape_an_etag_and_changes_show_at_once() {
    let app = TestApp::spawn().await;
    let shop = app.shop("menu@example.com", "PREPAY").await;
    let path = format!("/api/v1/restaurants/{}/menu", shop.id);

    let res = app.get(&path, None).await;
    assert_eq!(res.status, StatusCode::OK);
    let menu = &res.body;
    assert_eq!(keys(menu), set(&["restaurant", "categories"]));
    assert_eq!(
        keys(&menu["restaurant"]),
        set(&["id", "name", "table_ordering_enabled", "payment_mode"])
    );
    assert_eq!(menu["restaurant"]["payment_mode"], "PREPAY");
    assert_eq!(menu["restaurant"]["id"], shop.id.as_str());
    assert_eq!(menu["restaurant"]["name"], "테스트 치킨");
    assert_eq!(menu["restaurant"]["table_ordering_enabled"], true);
    let category = &menu["categories"][0];
    assert_eq!(keys(category), set(&["id", "name", "items"]));
    assert_eq!(category["name"], "치킨");
    let item = &category["items"][0];
    assert_eq!(
        keys(item),
        set(&[
            "id",
            "name",
            "price",
            "description",
            "image_url",
            "is_available",
            "options"
        ])
    );
    assert_eq!(item["price"], 18000);
    assert_eq!(item["description"], "바삭");
    assert!(item["image_url"].is_null());
    let option = &item["options"][0];
    assert_eq!(
        keys(option),
        set(&["id", "name", "choices", "required", "price_deltas"])
    );
    assert_eq!(option["choices"], json!(["순한맛", "매운맛"]));
    assert_eq!(option["required"], true);
    assert_eq!(item["options"][1]["multiple"], true);
    // An option that uses neither addition carries exactly the seed's fields.
    let plain = &menu["categories"][0]["items"][1]["options"][0];
    assert_eq!(keys(plain), set(&["id", "name", "choices", "required"]));
    assert_eq!(plain["choices"], json!(["매장", "포장"]));
    assert_eq!(plain["required"], false);
    assert_eq!(menu["categories"][0]["items"][2]["is_available"], false);

    let etag = res.headers["etag"].to_str().unwrap().to_owned();
    let cached = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    assert!(cached.bytes().await.unwrap().is_empty());

    let patched = app
        .patch(
            &format!("/api/v1/restaurants/me/menu/items/{}", shop.item_id("양념")),
            Some(&shop.owner),
            json!({ "price": 19500, "is_available": false }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["price"], 19500);

    let fresh = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_ne!(fresh.headers()["etag"].to_str().unwrap(), etag);
    let body: Value = fresh.json().await.unwrap();
    assert_eq!(body["categories"][0]["items"][1]["price"], 19500);
    assert_eq!(body["categories"][0]["items"][1]["is_available"], false);
}

#[tokio::test]
async fn unknown_restaurants_are_404() {
    let app = TestApp::spawn().await;
    let res = app
        .get(
            &format!("/api/v1/restaurants/{}/menu", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    let res = app.get("/api/v1/restaurants/not-an-id/menu", None).await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn a_bad_menu_document_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let shop = app.shop("badmenu@example.com", "PREPAY").await;
    let path = format!("/api/v1/restaurants/{}/menu", shop.id);
    let before = app.get(&path, None).await;

    let with_item = |item: Value| json!({"categories": [{"name": "c", "items": [item]}]});
    let cases = [
        (
            with_item(json!({"name": "", "price": 1000})),
            "categories[0].items[0].name",
        ),
        (
            with_item(json!({"name": "x", "price": -1})),
            "categories[0].items[0].price",
        ),
        (
            with_item(json!({"name": "x", "price": "free"})),
            "categories[0].items[0].price",
        ),
        (
            with_item(json!({"name": "x", "price": 1, "options": [{"name": "o", "choices": []}]})),
            "categories[0].items[0].options[0].choices",
        ),
        (
            with_item(json!({"name": "x", "price": 1,
                             "options": [{"name": "o", "choices": ["a", "a"]}]})),
            "categories[0].items[0].options[0].choices[1]",
        ),
        (
            with_item(json!({"name": "x", "price": 1,
                             "options": [{"name": "o", "choices": ["a"], "price_deltas": {"b": 5}}]})),
            "categories[0].items[0].options[0].price_deltas.b",
        ),
        (
            with_item(json!({"id": uuid::Uuid::now_v7(), "name": "x", "price": 1})),
            "categories[0].items[0].id",
        ),
        (json!({"categories": [{"name": " "}]}), "categories[0].name"),
        (json!({}), "categories"),
    ];
    for (document, field) in cases {
        let res = app
            .put("/api/v1/restaurants/me/menu", Some(&shop.owner), document)
            .await;
        assert_validation(&res, field);
    }
    // Another restaurant's item id cannot be claimed.
    let other = app.shop("othermenu@example.com", "PREPAY").await;
    let stolen = with_item(json!({"id": other.item_id("양념"), "name": "mine now", "price": 1}));
    let res = app
        .put("/api/v1/restaurants/me/menu", Some(&shop.owner), stolen)
        .await;
    assert_validation(&res, "categories[0].items[0].id");
    assert_eq!(
        app.get(&format!("/api/v1/restaurants/{}/menu", other.id), None)
            .await
            .body,
        other.menu
    );

    let patch = |body: Value| {
        let path = format!("/api/v1/restaurants/me/menu/items/{}", shop.item_id("양념"));
        let owner = shop.owner.clone();
        let app = &app;
        async move { app.patch(&path, Some(&owner), body).await }
    };
    assert_validation(&patch(json!({"price": -5})).await, "price");
    assert_validation(&patch(json!({"name": "  "})).await, "name");
    assert_validation(&patch(json!({"availability": false})).await, "availability");
    assert_validation(&patch(json!({})).await, "body");
    assert_validation(
        &patch(json!({"image_url": "javascript:alert(1)"})).await,
        "image_url",
    );

    let after = app.get(&path, None).await;
    assert_eq!(after.body, before.body);
    assert_eq!(after.headers["etag"], before.headers["etag"]);
}

#[tokio::test]
async fn a_menu_put_keeps_item_ids_and_archives_what_it_leaves_out() {
    let app = TestApp::spawn().await;
    let shop = app.shop("ids@example.com", "POSTPAY").await;
    let customer = app.customer("ids-customer@example.com").await;
    let order = app
        .place(
            &customer,
            serde_json::json!({
                "restaurant_id": shop.id,
                "table_number": "3",
                "table_sig": shop.table3_sig,
                "items": [shop.line("양념", 1, &[])],
            }),
        )
        .await;

    // Export, change a price, drop 양념, add a new item, and send it back.
    let mut document = app
        .get("/api/v1/restaurants/me/menu", Some(&shop.owner))
        .await
        .body;
    let items = document["categories"][0]["items"].as_array_mut().unwrap();
    items[0]["price"] = json!(18500);
    items.retain(|i| i["name"] != "양념");
    items.push(json!({"name": "간장", "price": 19000}));
    let res = app
        .put("/api/v1/restaurants/me/menu", Some(&shop.owner), document)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await
        .body;
    let fried = &menu["categories"][0]["items"][0];
    assert_eq!(fried["id"], shop.item_id("후라이드").as_str());
    assert_eq!(fried["price"], 18500);
    assert_eq!(
        fried["options"][0]["id"],
        shop.option_id("후라이드", 0).as_str()
    );
    let names: Vec<&str> = menu["categories"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["후라이드", "품절 치킨", "간장"]);

    // The order made with the archived item is intact, with its original price.
    let old = app
        .get(&format!("/api/v1/orders/{order}"), Some(&customer))
        .await;
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(old.body["items"][0]["name"], "양념");
    assert_eq!(old.body["items"][0]["unit_price"], 19000);
    // …but it can no longer be ordered.
    let res = app
        .order(
            &customer,
            json!({"restaurant_id": shop.id, "table_number": "3", "table_sig": shop.table3_sig,
                   "items": [shop.line("양념", 1, &[])]}),
        )
        .await;
    assert_validation(&res, "items[0].menu_id");
}

#[tokio::test]
async fn only_owners_manage_menus_and_settings() {
    let app = TestApp::spawn().await;
    let shop = app.shop("perm@example.com", "PREPAY").await;
    let customer = app.customer("perm-customer@example.com").await;
    let res = app
        .put("/api/v1/restaurants/me/menu", Some(&customer), test_menu())
        .await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
    let res = app
        .put("/api/v1/restaurants/me/menu", None, test_menu())
        .await;
    assert_error(&res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let res = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&customer),
            json!({"name": "mine"}),
        )
        .await;
    assert_error(&res, StatusCode::FORBIDDEN, "FORBIDDEN");

    // An owner cannot touch another restaurant's item: it does not exist for them.
    let other = app.shop("perm-other@example.com", "PREPAY").await;
    let res = app
        .patch(
            &format!("/api/v1/restaurants/me/menu/items/{}", shop.item_id("양념")),
            Some(&other.owner),
            json!({"is_available": false}),
        )
        .await;
    assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await
        .body;
    assert_eq!(menu, shop.menu);
}

#[tokio::test]
async fn restaurant_settings_are_validated_and_take_effect() {
    let app = TestApp::spawn().await;
    let shop = app.shop("settings@example.com", "PREPAY").await;
    let res = app.get("/api/v1/restaurants/me", Some(&shop.owner)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["payment_mode"], "PREPAY");
    assert_eq!(res.body["time_zone"], "Asia/Seoul");
    assert_eq!(res.body["table_ordering_enabled"], true);

    let bad = [
        (json!({"payment_mode": "LATER"}), "payment_mode"),
        (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
        (json!({"name": ""}), "name"),
        (
            json!({"table_ordering_enabled": "yes"}),
            "table_ordering_enabled",
        ),
        (json!({}), "body"),
    ];
    for (body, field) in bad {
        let res = app
            .patch("/api/v1/restaurants/me", Some(&shop.owner), body)
            .await;
        assert_validation(&res, field);
    }

    let res = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&shop.owner),
            json!({"name": "새 이름", "table_ordering_enabled": false, "time_zone": "Asia/Tokyo"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["time_zone"], "Asia/Tokyo");
    let menu = app
        .get(&format!("/api/v1/restaurants/{}/menu", shop.id), None)
        .await
        .body;
    assert_eq!(menu["restaurant"]["name"], "새 이름");
    assert_eq!(menu["restaurant"]["table_ordering_enabled"], false);

    let customer = app.customer("settings-customer@example.com").await;
    let res = app.order(&customer, shop.simple_order()).await;
    assert_validation(&res, "restaurant_id");
    assert_eq!(app.count("SELECT count(*) FROM orders"), 0);
}

#[tokio::test]
async fn a_large_menu_fits_in_one_put_and_an_oversized_one_is_413() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.owner("big-menu@example.com", "큰 식당").await;
    // 400 items with two options each: well over the 64 KiB other requests may send.
    let items: Vec<Value> = (0..400)
        .map(|i| {
            json!({"name": format!("메뉴 {i}"), "price": 1000 + i, "description": "맛있는 요리입니다. ".repeat(4),
                   "options": [
                       {"name": "맵기", "choices": ["순한맛", "보통", "매운맛"], "required": true,
                        "price_deltas": {"매운맛": 500}},
                       {"name": "추가", "choices": ["치즈", "계란", "밥"], "multiple": true}]})
        })
        .collect();
    let document = json!({"categories": [{"name": "전체", "items": items}]});
    assert!(document.to_string().len() > 64 * 1024);
    let res = app
        .put("/api/v1/restaurants/me/menu", Some(&owner), document)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.body["categories"][0]["items"].as_array().unwrap().len(),
        400
    );

    let huge = json!({"categories": [{"name": "x".repeat(2 * 1024 * 1024), "items": []}]});
    let res = app
        .put("/api/v1/restaurants/me/menu", Some(&owner), huge)
        .await;
    assert_error(&res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    let still = app.get("/api/v1/restaurants/me/menu", Some(&owner)).await;
    assert_eq!(
        still.body["categories"][0]["items"]
            .as_array()
            .unwrap()
            .len(),
        400
    );
    // Other endpoints keep the small limit.
    let res = app
        .patch(
            "/api/v1/restaurants/me",
            Some(&owner),
            json!({"name": "y".repeat(100 * 1024)}),
        )
        .await;
    assert_error(&res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

fn labelled_menu() -> Value {
    json!({"categories": [
        {"name": "치킨", "translations": {"en": {"name": "Chicken"}, "ja": {"name": "チキン"}},
         "items": [
            {"name": "후라이드", "price": 18000, "description": "바삭",
             "allergens": ["WHEAT", "CHICKEN", "SOYBEAN", "WHEAT"], "origin": "닭고기: 국내산",
             "translations": {"en": {"name": "Fried chicken", "description": "Crispy"},
                              "zh": {"name": "炸鸡"}},
             "options": [{"name": "맛", "choices": ["순한맛", "매운맛"], "required": true,
                          "translations": {"en": {"name": "Spice", "choices": {"매운맛": "Hot"}}}}]},
            {"name": "콜라", "price": 2000}]}]})
}

#[tokio::test]
async fn allergens_origin_and_translations_round_trip_and_guests_read_their_language() {
    let app = TestApp::spawn().await;
    let (owner, id) = app.owner("labels@example.com", "라벨 식당").await;
    let put = app
        .put("/api/v1/restaurants/me/menu", Some(&owner), labelled_menu())
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let item = &put.body["categories"][0]["items"][0];
    assert_eq!(item["allergens"], json!(["SOYBEAN", "WHEAT", "CHICKEN"]));
    assert_eq!(item["origin"], "닭고기: 국내산");
    assert_eq!(item["translations"]["en"]["name"], "Fried chicken");
    assert_eq!(
        item["options"][0]["translations"]["en"]["choices"]["매운맛"],
        "Hot"
    );
    assert!(put.body["categories"][1].get("allergens").is_none());

    let path = format!("/api/v1/restaurants/{id}/menu");
    let korean = app.get(&path, None).await;
    assert_eq!(korean.body["categories"], put.body["categories"]);

    // Export and import carry them too.
    let data = app.data_dir.to_str().unwrap().to_owned();
    let export = crate::process::ordersync_at(&app.data_dir)
        .args(["menu", "export", "--data-dir", &data, "--restaurant", &id])
        .output()
        .unwrap();
    assert!(export.status.success(), "{export:?}");
    let exported: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(exported["categories"], put.body["categories"]);
    let import = crate::process::run_with_stdin(
        crate::process::ordersync_at(&app.data_dir).args([
            "menu",
            "import",
            "--data-dir",
            &data,
            "--restaurant",
            &id,
            "-",
        ]),
        &exported.to_string(),
    );
    assert!(import.status.success(), "{import:?}");
    let reread = app.get("/api/v1/restaurants/me/menu", Some(&owner)).await;
    assert_eq!(reread.body["categories"], put.body["categories"]);
    assert!(korean.body.get("lang").is_none());

    let english = app.get(&format!("{path}?lang=en"), None).await;
    assert_eq!(english.status, StatusCode::OK);
    assert_eq!(english.body["lang"], "en");
    assert_eq!(english.headers["vary"], "Accept-Language");
    let category = &english.body["categories"][0];
    assert_eq!(category["name"], "Chicken");
    assert!(category.get("translations").is_none());
    let fried = &category["items"][0];
    assert_eq!(fried["name"], "Fried chicken");
    assert_eq!(fried["description"], "Crispy");
    assert_eq!(fried["allergens"], json!(["SOYBEAN", "WHEAT", "CHICKEN"]));
    assert_eq!(fried["origin"], "닭고기: 국내산");
    assert_eq!(fried["options"][0]["name"], "Spice");
    assert_eq!(fried["options"][0]["choices"], json!(["순한맛", "매운맛"]));
    assert_eq!(
        fried["options"][0]["choice_labels"],
        json!(["순한맛", "Hot"])
    );
    assert_eq!(
        category["items"][1]["name"], "콜라",
        "Korean where untranslated"
    );

    // The phone's language, when the page does not say.
    let chinese = app
        .request_with_headers(&path, &[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")])
        .await;
    assert_eq!(chinese.body["lang"], "zh");
    assert_eq!(chinese.body["categories"][0]["name"], "치킨");
    assert_eq!(chinese.body["categories"][0]["items"][0]["name"], "炸鸡");
    assert_eq!(
        chinese.body["categories"][0]["items"][0]["description"],
        "바삭"
    );
    let japanese = app.get(&format!("{path}?lang=ja"), None).await;
    assert_eq!(japanese.body["categories"][0]["name"], "チキン");
    let unknown = app.get(&format!("{path}?lang=fr"), None).await;
    assert!(
        unknown.body.get("lang").is_none(),
        "Korean for a language it lacks"
    );

    // Each language has its own ETag, revalidated on its own.
    let tags: BTreeSet<&str> = [&korean, &english, &chinese, &japanese]
        .iter()
        .map(|r| r.headers["etag"].to_str().unwrap())
        .collect();
    assert_eq!(tags.len(), 4);
    let en_tag = english.headers["etag"].to_str().unwrap();
    let again = app
        .request_with_headers(&format!("{path}?lang=en"), &[("if-none-match", en_tag)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let other = app
        .request_with_headers(&path, &[("if-none-match", en_tag)])
        .await;
    assert_eq!(other.status, StatusCode::OK);

    // A guest reading English orders the Korean choice it was shown as "Hot".
    let guest = app.guest(&id, "1").await;
    let order = app
        .order(
            &guest,
            json!({"restaurant_id": id, "items": [{
                "menu_id": fried["id"], "quantity": 1,
                "options": [{"option_id": fried["options"][0]["id"], "choice": "매운맛"}]}]}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
}

#[tokio::test]
async fn bad_labels_name_their_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (owner, id) = app.owner("bad-labels@example.com", "라벨 식당").await;
    app.put("/api/v1/restaurants/me/menu", Some(&owner), labelled_menu())
        .await;
    let before = app
        .get(&format!("/api/v1/restaurants/{id}/menu"), None)
        .await;
    let item = |extra: Value| {
        let mut menu = labelled_menu();
        let fried = &mut menu["categories"][0]["items"][0];
        for (k, v) in extra.as_object().unwrap() {
            fried[k] = v.clone();
        }
        menu
    };
    let cases = [
        (
            item(json!({"allergens": ["NUTS"]})),
            "categories[0].items[0].allergens[0]",
        ),
        (
            item(json!({"translations": {"fr": {"name": "Poulet"}}})),
            "categories[0].items[0].translations.fr",
        ),
        (
            item(json!({"translations": {"en": {"name": "x".repeat(101)}}})),
            "categories[0].items[0].translations.en.name",
        ),
        (
            item(json!({"translations": {"en": {"nom": "x"}}})),
            "categories[0].items[0].translations.en.nom",
        ),
        (
            item(json!({"origin": "가".repeat(201)})),
            "categories[0].items[0].origin",
        ),
        (
            item(json!({"options": [{"name": "맛", "choices": ["순한맛"],
                "translations": {"en": {"choices": {"매운맛": "Hot"}}}}]})),
            "categories[0].items[0].options[0].translations.en.choices.매운맛",
        ),
        (
            json!({"categories": [{"name": "치킨",
                "translations": {"en": {"name": "Chicken", "description": "no"}}}]}),
            "categories[0].translations.en.description",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .put("/api/v1/restaurants/me/menu", Some(&owner), body)
            .await;
        assert_validation(&res, field);
    }
    let after = app
        .get(&format!("/api/v1/restaurants/{id}/menu"), None)
        .await;
    assert_eq!(after.headers["etag"], before.headers["etag"]);
    assert_eq!(after.body, before.body);
}

/// Headers that tell one answer from another of the same content.
const PER_ANSWER: [&str; 4] = [
    "date",
    "x-request-id",
    "content-length",
    "transfer-encoding",
];

#[tokio::test]
async fn a_cached_menu_is_answered_exactly_as_the_first_load_was() {
    let app = TestApp::spawn().await;
    let shop = app.shop("shortcut@example.com", "POSTPAY").await;
    let path = format!("/api/v1/restaurants/{}/menu", shop.id);
    let item = shop.item_id("후라이드");
    let cases: [(&str, &[(&str, &str)]); 10] = [
        ("", &[]),
        ("", &[("accept-encoding", "gzip")]),
        ("", &[("accept-encoding", "br")]),
        ("", &[("accept-encoding", "gzip, deflate, br")]),
        ("", &[("accept-encoding", "br;q=0, gzip;q=0.5")]),
        ("", &[("accept-encoding", "zstd")]),
        ("", &[("accept-language", "en-US,en;q=0.9")]),
        ("?lang=ja", &[("accept-encoding", "gzip")]),
        (
            "",
            &[("if-none-match", "\"stale\""), ("accept-encoding", "br")],
        ),
        ("", &[("if-none-match", "*"), ("accept-encoding", "gzip")]),
    ];
    for (n, (query, headers)) in cases.into_iter().enumerate() {
        let case = format!("case {n}: {query} {headers:?}");
        // A change drops the cached menu: the first GET loads it through the router; later
        // ones are answered from the cache before routing (a compressed one once its body
        // has been compressed, in the background; the router answers until then).
        let price = 18000 + n as i64;
        let changed = app
            .patch(
                &format!("/api/v1/restaurants/me/menu/items/{item}"),
                Some(&shop.owner),
                json!({ "price": price }),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        let get = || async {
            let mut req = app.client.get(app.url(&format!("{path}{query}")));
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            let headers = res.headers().clone();
            let body = decoded_body(&headers, &res.bytes().await.unwrap());
            (status, headers, body)
        };
        let comparable = |headers: &reqwest::header::HeaderMap| {
            let mut pairs: Vec<(String, String)> = headers
                .iter()
                .filter(|(name, _)| !PER_ANSWER.contains(&name.as_str()))
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
                .collect();
            pairs.sort();
            pairs
        };
        let before = app.menus_from_cache().await;
        let (loaded_status, loaded, loaded_body) = get().await;
        assert_eq!(app.menus_from_cache().await, before, "{case}");
        if loaded_status == StatusCode::OK {
            assert_eq!(
                loaded_body["categories"][0]["items"][0]["price"], price,
                "{case}"
            );
        }
        let mut from_cache = false;
        for _ in 0..100 {
            let before = app.menus_from_cache().await;
            let (status, answer, body) = get().await;
            from_cache = app.menus_from_cache().await > before;
            assert_eq!(status, loaded_status, "{case}");
            assert_eq!(comparable(&answer), comparable(&loaded), "{case}");
            assert_eq!(body, loaded_body, "{case}");
            assert_ne!(answer["x-request-id"], loaded["x-request-id"], "{case}");
            if from_cache {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(from_cache, "{case}: never answered from the cache");
    }
}
