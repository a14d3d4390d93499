//! Kitchen printers: settings, tickets as a printer on loopback decodes them, routing by
//! category, 취소 and 재출력 tickets, and exactly one ticket per printer per order through
//! printer outages and a server restart.

use std::time::Duration;

use ordersync::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Shop, TestApp, assert_error, assert_validation};
use crate::printer_sim::{Mode, Printed, PrinterSim};

const PRINTED_WITHIN: Duration = Duration::from_secs(10);
/// How long a test watches for a ticket that must not come.
const QUIET: Duration = Duration::from_millis(1500);

fn fast_printing(config: &mut Config) {
    config.print_poll_ms = 50;
    config.print_retry_base_ms = 100;
}

async fn printing_app() -> TestApp {
    TestApp::spawn_with(fast_printing).await
}

fn category_id(shop: &Shop, name: &str) -> String {
    shop.menu["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no category {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn add_printer(app: &TestApp, shop: &Shop, body: Value) -> Value {
    let res = app
        .post("/api/v1/restaurants/me/printers", Some(&shop.owner), body)
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

/// A printer for `categories` (names; none: every line) that prints on `print_on`.
async fn printer_for(
    app: &TestApp,
    shop: &Shop,
    sim: &PrinterSim,
    name: &str,
    categories: &[&str],
    print_on: &str,
) -> String {
    let ids: Vec<String> = categories.iter().map(|c| category_id(shop, c)).collect();
    let printer = add_printer(
        app,
        shop,
        json!({"name": name, "address": sim.address(), "paper_width_mm": 58,
               "category_ids": ids, "print_on": print_on}),
    )
    .await;
    printer["id"].as_str().unwrap().to_owned()
}

/// Two spicy fried chickens with cheese, a large cola, and a request.
fn mixed_order(shop: &Shop) -> Value {
    json!({
        "restaurant_id": shop.id,
        "table_number": "3",
        "table_sig": shop.table3_sig,
        "items": [
            shop.line("후라이드", 2, &[(0, "매운맛"), (1, "치즈")]),
            shop.line("콜라", 1, &[(0, "큰")]),
        ],
        "special_requests": "양파 빼주세요",
    })
}

fn cola_only(shop: &Shop) -> Value {
    json!({
        "restaurant_id": shop.id,
        "table_number": "3",
        "table_sig": shop.table3_sig,
        "items": [shop.line("콜라", 2, &[])],
    })
}

async fn order_number(app: &TestApp, shop: &Shop, order: &str) -> String {
    let res = app
        .get(&format!("/api/v1/orders/{order}"), Some(&shop.owner))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["order_number"].as_str().unwrap().to_owned()
}

async fn waiting_jobs(app: &TestApp, shop: &Shop) -> Vec<Value> {
    let res = app
        .get("/api/v1/restaurants/me/print-jobs", Some(&shop.owner))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["jobs"].as_array().unwrap().clone()
}

/// Waits until the restaurant has a waiting job (of `order`, if given) that failed at least
/// once; returns it.
async fn failed_job(app: &TestApp, shop: &Shop, order: Option<&str>) -> Value {
    for _ in 0..200 {
        if let Some(job) = waiting_jobs(app, shop).await.into_iter().find(|j| {
            j["attempts"].as_u64() >= Some(1)
                && !j["last_error"].is_null()
                && order.is_none_or(|o| j["order_id"] == o)
        }) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no print job failed");
}

async fn accept(app: &TestApp, shop: &Shop, order: &str) {
    let res = app
        .act(
            &shop.owner,
            order,
            "accept",
            Some(json!({"estimated_time_minutes": 15})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

fn tickets_of<'t>(tickets: &'t [Printed], number: &str) -> Vec<&'t Printed> {
    tickets
        .iter()
        .filter(|t| t.big_lines.iter().any(|l| l == number))
        .collect()
}

#[tokio::test]
async fn an_accepted_order_prints_on_each_printer_only_the_lines_it_covers() {
    let app = printing_app().await;
    let shop = app.shop("print@example.com", "POSTPAY").await;
    let kitchen = PrinterSim::start(Mode::Normal).await;
    let bar = PrinterSim::start(Mode::Normal).await;
    printer_for(&app, &shop, &kitchen, "주방", &["치킨"], "ACCEPTED").await;
    printer_for(&app, &shop, &bar, "음료", &["음료"], "ACCEPTED").await;
    let customer = app.customer("diner@example.com").await;

    let order = app.place(&customer, mixed_order(&shop)).await;
    let number = order_number(&app, &shop, &order).await;
    tokio::time::sleep(QUIET).await;
    assert!(
        kitchen.tickets().is_empty(),
        "nothing prints before acceptance"
    );
    accept(&app, &shop, &order).await;

    let tickets = kitchen.wait_for(1, PRINTED_WITHIN).await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let ticket = &tickets[0];
    assert!(ticket.big_lines.contains(&number), "{ticket:?}");
    assert!(
        ticket.big_lines.contains(&"테이블 3".to_owned()),
        "{ticket:?}"
    );
    assert!(ticket.text.contains("후라이드"), "{}", ticket.text);
    assert!(ticket.text.contains("x2"), "{}", ticket.text);
    assert!(ticket.text.contains("매운맛, 치즈"), "{}", ticket.text);
    assert!(
        ticket.text.contains("요청: 양파 빼주세요"),
        "{}",
        ticket.text
    );
    assert!(
        !ticket.text.contains("콜라"),
        "the bar's line: {}",
        ticket.text
    );

    let drinks = bar.wait_for(1, PRINTED_WITHIN).await;
    assert_eq!(drinks.len(), 1);
    assert!(drinks[0].text.contains("콜라"), "{}", drinks[0].text);
    assert!(drinks[0].text.contains("큰"), "{}", drinks[0].text);
    assert!(!drinks[0].text.contains("후라이드"), "{}", drinks[0].text);
    assert!(drinks[0].big_lines.contains(&number));

    // Nothing for the kitchen in a drinks-only order: no ticket at all.
    let drinks_only = app.place(&customer, cola_only(&shop)).await;
    accept(&app, &shop, &drinks_only).await;
    assert_eq!(bar.wait_for(2, PRINTED_WITHIN).await.len(), 2);
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        kitchen.tickets().len(),
        1,
        "the kitchen has nothing to make"
    );

    // Later events of the order (ready, completed) print nothing more.
    app.act(&shop.owner, &order, "ready", Some(json!({}))).await;
    app.act(&shop.owner, &order, "complete", Some(json!({})))
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(kitchen.tickets().len(), 1);
    assert_eq!(bar.tickets().len(), 2);
    assert!(waiting_jobs(&app, &shop).await.is_empty());
}

#[tokio::test]
async fn a_ticket_printed_on_arrival_is_followed_by_a_cancel_ticket_when_rejected() {
    let app = printing_app().await;
    let shop = app.shop("cancel@example.com", "POSTPAY").await;
    let kitchen = PrinterSim::start(Mode::Normal).await;
    let later = PrinterSim::start(Mode::Normal).await;
    printer_for(&app, &shop, &kitchen, "주방", &[], "NEW_ORDER").await;
    printer_for(&app, &shop, &later, "확인 후", &[], "ACCEPTED").await;
    let customer = app.customer("fickle@example.com").await;

    let order = app.place(&customer, mixed_order(&shop)).await;
    let number = order_number(&app, &shop, &order).await;
    let tickets = kitchen.wait_for(1, PRINTED_WITHIN).await;
    assert_eq!(tickets.len(), 1);
    assert!(tickets[0].text.contains("후라이드") && tickets[0].text.contains("콜라"));

    let res = app
        .act(
            &shop.owner,
            &order,
            "reject",
            Some(json!({"reason": "재료 소진"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let tickets = kitchen.wait_for(2, PRINTED_WITHIN).await;
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let cancel = &tickets[1];
    assert!(
        cancel.big_lines.iter().any(|l| l.contains("주문 취소")),
        "{cancel:?}"
    );
    assert!(cancel.big_lines.contains(&number));
    assert!(cancel.text.contains("사유: 재료 소진"), "{}", cancel.text);
    assert!(
        !cancel.text.contains("양파"),
        "the request is not for a cancelled order"
    );

    // The printer that waits for acceptance never printed it, so it gets no 취소 either.
    tokio::time::sleep(QUIET).await;
    assert!(later.tickets().is_empty(), "{:?}", later.tickets());
}

#[tokio::test]
async fn tickets_wait_through_a_printer_outage_and_a_restart_and_print_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path(), fast_printing).await;
    let shop = app.shop("outage@example.com", "POSTPAY").await;
    let mut kitchen = PrinterSim::start(Mode::Normal).await;
    printer_for(&app, &shop, &kitchen, "주방", &[], "ACCEPTED").await;
    kitchen.power_off();
    let customer = app.customer("patient@example.com").await;

    let first = app.place(&customer, mixed_order(&shop)).await;
    let second = app.place(&customer, cola_only(&shop)).await;
    accept(&app, &shop, &first).await;
    accept(&app, &shop, &second).await;
    let job = failed_job(&app, &shop, None).await;
    assert_eq!(job["status"], "PENDING");
    assert_eq!(job["order_number"], order_number(&app, &shop, &first).await);
    assert!(
        job["last_error"].as_str().unwrap().contains("cannot reach"),
        "{job}"
    );
    assert_eq!(waiting_jobs(&app, &shop).await.len(), 2);

    // The box restarts while the printer is still off.
    app.stop().await;
    let app = TestApp::spawn_in(dir.path(), fast_printing).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(kitchen.tickets().is_empty());
    kitchen.power_on().await;

    let tickets = kitchen.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let first_number = order_number(&app, &shop, &first).await;
    let second_number = order_number(&app, &shop, &second).await;
    assert!(
        tickets[0].big_lines.contains(&first_number),
        "in order: {tickets:?}"
    );
    assert!(
        tickets[1].big_lines.contains(&second_number),
        "in order: {tickets:?}"
    );
    tokio::time::sleep(QUIET).await;
    assert_eq!(kitchen.tickets().len(), 2, "each ticket printed once");
    assert!(waiting_jobs(&app, &shop).await.is_empty());
    assert_eq!(
        app.count("SELECT count(*) FROM print_jobs WHERE status = 'DONE'"),
        2
    );
}

#[tokio::test]
async fn a_printer_that_drops_a_ticket_hangs_or_runs_out_of_paper_gets_it_again() {
    let app = printing_app().await;
    let shop = app.shop("flaky@example.com", "POSTPAY").await;
    let kitchen = PrinterSim::start(Mode::CloseAfter(40)).await;
    printer_for(&app, &shop, &kitchen, "주방", &[], "ACCEPTED").await;
    let customer = app.customer("flaky-diner@example.com").await;
    let order = app.place(&customer, mixed_order(&shop)).await;
    let number = order_number(&app, &shop, &order).await;
    accept(&app, &shop, &order).await;

    // Closed mid-ticket: the torn ticket does not count, the job waits.
    failed_job(&app, &shop, None).await;
    assert!(kitchen.torn_bytes() > 0);
    assert!(kitchen.tickets().is_empty());

    // Out of paper: the printer says so before the ticket, and gets nothing.
    kitchen.set_mode(Mode::PaperOut);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let torn = kitchen.torn_bytes();
    let jobs = waiting_jobs(&app, &shop).await;
    assert_eq!(jobs.len(), 1);
    assert!(
        jobs[0]["last_error"].as_str().unwrap().contains("paper")
            || jobs[0]["last_error"].as_str().unwrap().contains("offline"),
        "{}",
        jobs[0]
    );
    assert!(kitchen.tickets().is_empty());

    // Hanging: accepts and reads nothing; the job still waits.
    kitchen.set_mode(Mode::Hang);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(kitchen.tickets().is_empty());
    assert_eq!(kitchen.torn_bytes(), torn, "out of paper, nothing was sent");

    kitchen.set_mode(Mode::Normal);
    let job = waiting_jobs(&app, &shop).await;
    if let Some(job) = job.first()
        && job["status"] == "PENDING"
    {
        // The owner does not wait for the backoff.
        let path = format!(
            "/api/v1/restaurants/me/print-jobs/{}/retry",
            job["id"].as_str().unwrap()
        );
        app.post_empty(&path, Some(&shop.owner)).await;
    }
    let tickets = kitchen.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert!(tickets[0].big_lines.contains(&number));
    assert!(tickets[0].text.contains("요청: 양파 빼주세요"));
    tokio::time::sleep(QUIET).await;
    assert_eq!(kitchen.tickets().len(), 1);
}

#[tokio::test]
async fn a_printer_that_never_answers_status_queries_still_prints_once() {
    let app = printing_app().await;
    let shop = app.shop("silent@example.com", "POSTPAY").await;
    let kitchen = PrinterSim::start(Mode::Silent).await;
    printer_for(&app, &shop, &kitchen, "주방", &["치킨"], "NEW_ORDER").await;
    let customer = app.customer("quiet@example.com").await;
    let order = app.place(&customer, mixed_order(&shop)).await;
    let number = order_number(&app, &shop, &order).await;
    let tickets = kitchen.wait_for(1, PRINTED_WITHIN).await;
    assert_eq!(tickets.len(), 1);
    assert!(tickets[0].big_lines.contains(&number));
    tokio::time::sleep(QUIET).await;
    assert_eq!(kitchen.tickets().len(), 1);
    assert!(
        kitchen.status_queries() >= 1,
        "it was asked, and did not answer"
    );
    assert!(waiting_jobs(&app, &shop).await.is_empty());
}

#[tokio::test]
async fn the_owner_reprints_an_order_prints_a_test_page_and_drops_a_stuck_job() {
    let app = printing_app().await;
    let shop = app.shop("reprint@example.com", "POSTPAY").await;
    let customer = app.customer("again@example.com").await;
    let order = app.place(&customer, mixed_order(&shop)).await;
    let number = order_number(&app, &shop, &order).await;
    let reprint = format!("/api/v1/restaurants/me/orders/{order}/reprint");

    // No printer yet: a clear conflict.
    let res = app.post_empty(&reprint, Some(&shop.owner)).await;
    assert_error(&res, StatusCode::CONFLICT, "CONFLICT");

    let kitchen = PrinterSim::start(Mode::Normal).await;
    let printer = printer_for(&app, &shop, &kitchen, "주방", &[], "ACCEPTED").await;
    let res = app
        .post_empty(
            &format!("/api/v1/restaurants/me/printers/{printer}/test"),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    assert_eq!(res.body["kind"], "TEST");
    let tickets = kitchen.wait_for(1, PRINTED_WITHIN).await;
    assert!(
        tickets[0].text.contains("한글: 가나다라마바사"),
        "{}",
        tickets[0].text
    );
    assert!(tickets[0].text.contains(&kitchen.address()));

    let res = app.post_empty(&reprint, Some(&shop.owner)).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    assert_eq!(res.body["jobs"][0]["kind"], "REPRINT");
    let tickets = kitchen.wait_for(2, PRINTED_WITHIN).await;
    assert!(tickets[1].text.contains("[재출력]"), "{}", tickets[1].text);
    assert!(tickets[1].big_lines.contains(&number));
    // Reprinting again prints again: it is what the owner asked for.
    app.post_empty(&reprint, Some(&shop.owner)).await;
    assert_eq!(kitchen.wait_for(3, PRINTED_WITHIN).await.len(), 3);

    // Unknown order; another restaurant's order.
    let missing = format!(
        "/api/v1/restaurants/me/orders/{}/reprint",
        uuid::Uuid::new_v4()
    );
    assert_error(
        &app.post_empty(&missing, Some(&shop.owner)).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let other = app.shop("other-reprint@example.com", "POSTPAY").await;
    add_printer(
        &app,
        &other,
        json!({"name": "남의 주방", "address": "127.0.0.1:9"}),
    )
    .await;
    assert_error(
        &app.post_empty(&reprint, Some(&other.owner)).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );

    // A job stuck on a dead printer: the owner drops it, and it never prints.
    accept(&app, &shop, &order).await;
    assert_eq!(kitchen.wait_for(4, PRINTED_WITHIN).await.len(), 4);
    kitchen.set_mode(Mode::Refuse);
    let other_order = app.place(&customer, cola_only(&shop)).await;
    accept(&app, &shop, &other_order).await;
    let before = kitchen.tickets().len();
    let job = failed_job(&app, &shop, Some(&other_order)).await;
    let id = job["id"].as_str().unwrap();
    let dropped = app
        .post_empty(
            &format!("/api/v1/restaurants/me/print-jobs/{id}/drop"),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);
    let again = app
        .post_empty(
            &format!("/api/v1/restaurants/me/print-jobs/{id}/drop"),
            Some(&shop.owner),
        )
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "NOT_FOUND");
    kitchen.set_mode(Mode::Normal);
    tokio::time::sleep(QUIET).await;
    let after: Vec<Printed> = kitchen.tickets();
    let other_number = order_number(&app, &shop, &other_order).await;
    assert!(tickets_of(&after[before..], &other_number).is_empty());
}

#[tokio::test]
async fn printer_settings_are_checked_and_belong_to_their_restaurant() {
    let app = printing_app().await;
    let shop = app.shop("settings@example.com", "POSTPAY").await;
    let chicken = category_id(&shop, "치킨");
    let printer = add_printer(
        &app,
        &shop,
        json!({"name": " 주방 ", "address": "192.168.0.50", "category_ids": [chicken]}),
    )
    .await;
    assert_eq!(printer["name"], "주방");
    assert_eq!(printer["address"], "192.168.0.50:9100");
    assert_eq!(printer["paper_width_mm"], 80);
    assert_eq!(printer["encoding"], "EUC-KR");
    assert_eq!(printer["print_on"], "ACCEPTED");
    assert_eq!(printer["category_ids"], json!([chicken]));
    let id = printer["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/restaurants/me/printers/{id}");

    let other = app.shop("not-mine@example.com", "POSTPAY").await;
    let bad: Vec<(Value, &str)> = vec![
        (json!({"address": "10.0.0.9:9100"}), "name"),
        (json!({"name": "바"}), "address"),
        (
            json!({"name": "바", "address": "http://10.0.0.9"}),
            "address",
        ),
        (json!({"name": "바", "address": "10.0.0.9:0"}), "address"),
        (json!({"name": "", "address": "10.0.0.9"}), "name"),
        (
            json!({"name": "바", "address": "10.0.0.9", "paper_width_mm": 70}),
            "paper_width_mm",
        ),
        (
            json!({"name": "바", "address": "10.0.0.9", "encoding": "SJIS"}),
            "encoding",
        ),
        (
            json!({"name": "바", "address": "10.0.0.9", "print_on": "LATER"}),
            "print_on",
        ),
        (
            json!({"name": "바", "address": "10.0.0.9",
                   "category_ids": [category_id(&other, "음료")]}),
            "category_ids[0]",
        ),
        (
            json!({"name": "바", "address": "10.0.0.9", "category_ids": ["x"]}),
            "category_ids[0]",
        ),
        (
            json!({"name": "바", "address": "10.0.0.9", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in bad {
        let res = app
            .post(
                "/api/v1/restaurants/me/printers",
                Some(&shop.owner),
                body.clone(),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
        assert_validation(&res, field);
        // A change names only what it changes: the same bad value is refused there too.
        let root = field.split('[').next().unwrap();
        if body.get(root).is_some() {
            let res = app.patch(&path, Some(&shop.owner), body.clone()).await;
            assert_validation(&res, field);
        }
    }
    let list = app
        .get("/api/v1/restaurants/me/printers", Some(&shop.owner))
        .await;
    assert_eq!(list.body["printers"], json!([printer]), "nothing changed");

    let res = app
        .patch(
            &path,
            Some(&shop.owner),
            json!({"paper_width_mm": 58, "encoding": "UTF-8", "category_ids": [],
                   "print_on": "NEW_ORDER", "address": "kitchen.local:9101"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["name"], "주방");
    assert_eq!(res.body["paper_width_mm"], 58);
    assert_eq!(res.body["encoding"], "UTF-8");
    assert_eq!(res.body["category_ids"], json!([]));
    assert_eq!(res.body["print_on"], "NEW_ORDER");
    assert_eq!(res.body["address"], "kitchen.local:9101");

    // Another owner cannot see, change, test or remove it.
    let theirs = app
        .get("/api/v1/restaurants/me/printers", Some(&other.owner))
        .await;
    assert_eq!(theirs.body["printers"], json!([]));
    for res in [
        app.patch(&path, Some(&other.owner), json!({"name": "내 것"}))
            .await,
        app.request(reqwest::Method::DELETE, &path, Some(&other.owner), None)
            .await,
        app.post_empty(&format!("{path}/test"), Some(&other.owner))
            .await,
    ] {
        assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let guest = app.guest(&shop.id, "3").await;
    assert_eq!(
        app.get("/api/v1/restaurants/me/printers", Some(&guest))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let res = app
        .request(reqwest::Method::DELETE, &path, Some(&shop.owner), None)
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let list = app
        .get("/api/v1/restaurants/me/printers", Some(&shop.owner))
        .await;
    assert_eq!(list.body["printers"], json!([]));
    assert_error(
        &app.request(reqwest::Method::DELETE, &path, Some(&shop.owner), None)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn the_cli_prints_a_test_page_and_says_when_it_cannot() {
    let printer = PrinterSim::start(Mode::Normal).await;
    let address = printer.address();
    let out = tokio::task::spawn_blocking(move || {
        crate::process::ordersync()
            .args([
                "printer",
                "test",
                "--address",
                &address,
                "--paper-width-mm",
                "58",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("confirmed"), "{stdout}");
    let tickets = printer.tickets();
    assert_eq!(tickets.len(), 1);
    assert!(tickets[0].text.contains("테스트") || tickets[0].big_lines[0].contains("테스트"));
    assert!(tickets[0].text.contains("58mm"), "{}", tickets[0].text);

    // Nobody listens there any more.
    let mut printer = printer;
    printer.power_off();
    let address = printer.address();
    let out = tokio::task::spawn_blocking(move || {
        crate::process::ordersync()
            .args(["printer", "test", "--address", &address])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did not print"), "{stderr}");
    assert!(stderr.contains("cannot reach the printer"), "{stderr}");
}

#[tokio::test]
async fn an_order_withdrawn_after_a_send_that_may_have_printed_gets_a_cancel_ticket() {
    let app = printing_app().await;
    let shop = app.shop("maybe@example.com", "POSTPAY").await;
    // The printer reads part of the ticket and drops the connection: it may have printed it.
    let kitchen = PrinterSim::start(Mode::CloseAfter(60)).await;
    printer_for(&app, &shop, &kitchen, "주방", &[], "NEW_ORDER").await;
    let customer = app.customer("withdrawn@example.com").await;
    let order = app.place(&customer, mixed_order(&shop)).await;
    let number = order_number(&app, &shop, &order).await;
    failed_job(&app, &shop, Some(&order)).await;
    let res = app
        .act(
            &shop.owner,
            &order,
            "reject",
            Some(json!({"reason": "재료 소진"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    kitchen.set_mode(Mode::Normal);
    let tickets = kitchen.wait_for(1, PRINTED_WITHIN).await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert!(
        tickets[0].big_lines.iter().any(|l| l.contains("주문 취소")),
        "{tickets:?}"
    );
    assert!(tickets[0].big_lines.contains(&number));
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        kitchen.tickets().len(),
        1,
        "the order ticket itself is not sent again"
    );
}
