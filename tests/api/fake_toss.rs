//! A fake Toss Payments API for tests, following Toss's documented shapes
//! (`../shared/research/toss-payments.md`): Basic auth with the secret key and a trailing
//! colon, `{code, message}` errors, the Payment object (version 2022-11-16) with every field,
//! `Idempotency-Key` replay (409 `IDEMPOTENT_REQUEST_PROCESSING` while the first request is
//! still in flight), the 10-minute confirm window (`NOT_FOUND_PAYMENT_SESSION`, and the payment
//! turns `EXPIRED`; injectable clock), and fault injection: declines (the payment turns
//! `ABORTED` with `failure`), 500s, timeouts, responses lost after the change was committed,
//! and a gateway in front of Toss answering 502 with an HTML page.
//!
//! Documented choices where Toss's docs are silent: a confirm whose `orderId` or `amount` does
//! not match the authenticated payment is `400 INVALID_REQUEST`; confirming a second payment of
//! an order that is already paid is `400 DUPLICATED_ORDER_ID`; the lookup by `orderId` returns
//! the order's approved payment if it has one, else its latest.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};

pub const SECRET_KEY: &str = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";
pub const CLIENT_KEY: &str = "test_ck_D5GePWvyJnrK0W0k6q8gLzN97Eoq";
/// How long a fault-injected response takes: longer than the box's client timeout.
const HANG: Duration = Duration::from_secs(4);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Confirm,
    Cancel,
    Lookup,
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// A final error with Toss's code (and the HTTP status Toss uses for it).
    Decline(&'static str, u16),
    /// `500 FAILED_INTERNAL_SYSTEM_PROCESSING`, nothing done.
    ServerError,
    /// No answer in time, nothing done.
    Timeout,
    /// The change is made, but the answer never arrives in time; until it would have, a retry
    /// with the same key gets `409 IDEMPOTENT_REQUEST_PROCESSING`, afterwards the replay.
    DropAfterCommit,
    /// A gateway in front of Toss answers `502` with an HTML page; with `commit` the request
    /// reached Toss and took effect first. Applies before Toss's idempotency replay.
    Gateway { commit: bool },
}

#[derive(Clone, Debug)]
pub struct Call {
    pub endpoint: Endpoint,
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Value,
    /// Whether this call changed a payment (a replay or a fault does not).
    pub processed: bool,
    /// The HTTP status the caller got.
    pub status: u16,
}

struct Payment {
    key: String,
    order_id: String,
    amount: i64,
    status: &'static str,
    authenticated_at: DateTime<Utc>,
    approved_at: Option<DateTime<Utc>>,
    cancels: Vec<Value>,
    failure: Option<(String, String)>,
}

/// Toss's window for confirming an authenticated payment.
const CONFIRM_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Default)]
struct Inner {
    payments: Vec<Payment>,
    replays: HashMap<Slot, (u16, Value)>,
    in_flight: HashSet<Slot>,
    faults: VecDeque<(Endpoint, Fault)>,
    calls: Vec<Call>,
    offset: chrono::Duration,
}

#[derive(Clone, Default)]
pub struct FakeToss {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
    /// The accept loop, while the fake is up (`stop` ends it: new connections are refused).
    server: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// Set while stopped: connections kept alive from before get a gateway's 502 instead of
    /// Toss's answers, as when the shop's line is down.
    offline: Arc<std::sync::atomic::AtomicBool>,
}

fn kst(t: DateTime<Utc>) -> String {
    t.with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

impl Inner {
    /// Authenticated payments nobody confirmed within the window expire (checked lazily).
    fn expire(&mut self, now: DateTime<Utc>) {
        for payment in &mut self.payments {
            if payment.status == "IN_PROGRESS" && now - payment.authenticated_at > CONFIRM_WINDOW {
                payment.status = "EXPIRED";
                payment.failure = Some((
                    "EXPIRED_PAYMENT".into(),
                    "결제가 만료되었습니다. 다시 시도해주세요.".into(),
                ));
            }
        }
    }

    fn take_fault(&mut self, endpoint: Endpoint, gateway: bool) -> Option<Fault> {
        let index = self.faults.iter().position(|(e, _)| *e == endpoint)?;
        if gateway != matches!(self.faults[index].1, Fault::Gateway { .. }) {
            return None;
        }
        self.faults.remove(index).map(|(_, fault)| fault)
    }
}

/// An idempotency key and the path it was used on: what Toss matches replays by.
type Slot = (String, String);

/// What the fake answers, and what it must do once the answer has gone out.
struct Answer {
    status: u16,
    value: Value,
    /// An HTML error page instead of JSON (a gateway's).
    html: bool,
    hang: bool,
    /// The idempotency slot held in flight until the answer has gone out, and the replay to
    /// remember for it then.
    release: Option<(Slot, Option<(u16, Value)>)>,
}

impl Answer {
    fn now((status, value): (u16, Value)) -> Answer {
        Answer {
            status,
            value,
            html: false,
            hang: false,
            release: None,
        }
    }
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (status, json!({ "code": code, "message": message }))
}

impl Payment {
    fn to_json(&self) -> Value {
        let balance = if self.status == "CANCELED" {
            0
        } else {
            self.amount
        };
        json!({
            "mId": "tvivarepublica", "version": "2022-11-16",
            "lastTransactionKey": format!("txrd_{}", &self.key[..8.min(self.key.len())]),
            "paymentKey": self.key, "orderId": self.order_id, "orderName": "테스트 주문",
            "taxExemptionAmount": 0, "status": self.status,
            "requestedAt": kst(self.authenticated_at),
            "approvedAt": self.approved_at.map(kst),
            "useEscrow": false, "cultureExpense": false,
            "card": {"issuerCode": "33", "acquirerCode": "31", "number": "12341234****123*",
                     "installmentPlanMonths": 0, "isInterestFree": false, "interestPayer": null,
                     "approveNo": "00000000", "useCardPoint": false, "cardType": "신용",
                     "ownerType": "개인", "acquireStatus": "READY", "amount": self.amount},
            "virtualAccount": null, "transfer": null, "mobilePhone": null,
            "giftCertificate": null, "cashReceipt": null, "cashReceipts": null,
            "discount": null,
            "cancels": if self.cancels.is_empty() { Value::Null } else { json!(self.cancels) },
            "secret": null, "type": "NORMAL", "easyPay": null, "country": "KR",
            "failure": match &self.failure {
                Some((code, message)) => json!({"code": code, "message": message}),
                None => Value::Null,
            },
            "isPartialCancelable": true,
            "receipt": {"url": format!("https://dashboard.tosspayments.com/receipt/redirection?transactionId={}", self.key)},
            "checkout": {"url": format!("https://api.tosspayments.com/v1/payments/{}/checkout", self.key)},
            "currency": "KRW", "totalAmount": self.amount, "balanceAmount": balance,
            "suppliedAmount": balance - balance / 11, "vat": balance / 11,
            "taxFreeAmount": 0, "method": "카드", "metadata": null,
            // Toss adds fields without a version bump; clients must ignore them.
            "someFutureField": {"nested": true},
        })
    }
}

impl FakeToss {
    pub async fn start() -> FakeToss {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let fake = FakeToss {
            base: format!("http://127.0.0.1:{port}"),
            ..FakeToss::default()
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let offline = self.offline.clone();
        let app = Router::new()
            .route("/v1/payments/confirm", post(confirm))
            .route("/v1/payments/orders/{order_id}", get(lookup_order))
            .route("/v1/payments/{key}", get(lookup_key))
            .route("/v1/payments/{key}/cancel", post(cancel))
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let offline = offline.load(std::sync::atomic::Ordering::SeqCst);
                    async move {
                        if offline {
                            return (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>")
                                .into_response();
                        }
                        next.run(request).await
                    }
                },
            ))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        *self.server.lock().unwrap() = Some(task);
    }

    /// Toss cannot be reached (the shop's internet is down): new connections are refused.
    pub fn stop(&self) {
        self.offline
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(task) = self.server.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Reachable again, on the same address, with everything it knew.
    pub async fn start_again(&self) {
        let addr: std::net::SocketAddr = self.base.trim_start_matches("http://").parse().unwrap();
        // The aborted accept loop releases its socket once the runtime has dropped it.
        let listener = loop {
            match TcpListener::bind(addr) {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
        self.offline
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.lock().offset
    }

    /// The customer authenticates in Toss's window: a payment in IN_PROGRESS, awaiting confirm.
    pub fn authenticate(&self, order_id: &str, amount: i64) -> String {
        self.authenticate_ago(order_id, amount, chrono::Duration::zero())
    }

    /// As `authenticate`, but `ago` in the past.
    pub fn authenticate_ago(&self, order_id: &str, amount: i64, ago: chrono::Duration) -> String {
        let now = self.now() - ago;
        let key = format!("tgen_{}", uuid::Uuid::new_v4().simple());
        self.lock().payments.push(Payment {
            key: key.clone(),
            order_id: order_id.to_owned(),
            amount,
            status: "IN_PROGRESS",
            authenticated_at: now,
            approved_at: None,
            cancels: Vec::new(),
            failure: None,
        });
        key
    }

    /// Toss approved the payment (a confirm reached Toss) without the box hearing of it.
    pub fn approve_behind_the_back(&self, key: &str) {
        let now = self.now();
        let mut inner = self.lock();
        let payment = inner.payments.iter_mut().find(|p| p.key == key).unwrap();
        payment.status = "DONE";
        payment.approved_at = Some(now);
    }

    pub fn inject(&self, endpoint: Endpoint, fault: Fault) {
        self.lock().faults.push_back((endpoint, fault));
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.lock().offset += by;
    }

    pub fn calls(&self, endpoint: Endpoint) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .cloned()
            .collect()
    }

    pub fn status(&self, key: &str) -> String {
        let inner = self.lock();
        inner
            .payments
            .iter()
            .find(|p| p.key == key)
            .unwrap()
            .status
            .to_owned()
    }

    pub fn cancels(&self, key: &str) -> Vec<Value> {
        let inner = self.lock();
        inner
            .payments
            .iter()
            .find(|p| p.key == key)
            .unwrap()
            .cancels
            .clone()
    }

    /// Checks the Authorization header the way Toss does.
    fn authorize(headers: &HeaderMap) -> Result<(), (u16, Value)> {
        let unauthorized = || {
            error(
                401,
                "UNAUTHORIZED_KEY",
                "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
            )
        };
        let value = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        let encoded = value.strip_prefix("Basic ").ok_or_else(unauthorized)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| unauthorized())?;
        let decoded = String::from_utf8(decoded).map_err(|_| unauthorized())?;
        let Some(key) = decoded.strip_suffix(':') else {
            return Err(error(
                403,
                "INCORRECT_BASIC_AUTH_FORMAT",
                "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요.",
            ));
        };
        if key != SECRET_KEY {
            return Err(unauthorized());
        }
        Ok(())
    }

    /// Runs one API call: auth, idempotency, fault injection, then `work`.
    async fn handle(
        &self,
        endpoint: Endpoint,
        path: String,
        headers: HeaderMap,
        body: Value,
        work: impl FnOnce(&mut Inner, DateTime<Utc>) -> (u16, Value),
    ) -> Response {
        let idempotency_key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut call = Call {
            endpoint,
            path: path.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            idempotency_key: idempotency_key.clone(),
            body,
            processed: false,
            status: 0,
        };
        let answer = self.decide(endpoint, &path, &headers, idempotency_key, &mut call, work);
        call.status = answer.status;
        self.lock().calls.push(call);
        if let Some((slot, replay)) = answer.release {
            // On its own task: the client gives up first, and axum then drops this handler.
            let fake = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(HANG).await;
                let mut inner = fake.lock();
                inner.in_flight.remove(&slot);
                if let Some(replay) = replay {
                    inner.replays.insert(slot, replay);
                }
            });
        }
        if answer.hang {
            tokio::time::sleep(HANG).await;
        }
        let status = StatusCode::from_u16(answer.status).unwrap();
        if answer.html {
            let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
            return (status, [("content-type", "text/html")], page).into_response();
        }
        (status, Json(answer.value)).into_response()
    }

    fn decide(
        &self,
        endpoint: Endpoint,
        path: &str,
        headers: &HeaderMap,
        idempotency_key: Option<String>,
        call: &mut Call,
        work: impl FnOnce(&mut Inner, DateTime<Utc>) -> (u16, Value),
    ) -> Answer {
        if let Err(refusal) = Self::authorize(headers) {
            return Answer::now(refusal);
        }
        let now = self.now();
        let mut inner = self.lock();
        inner.expire(now);
        let slot = idempotency_key.map(|k| (k, path.to_owned()));
        if let Some(Fault::Gateway { commit }) = inner.take_fault(endpoint, true) {
            if commit {
                let (status, value) = work(&mut inner, now);
                call.processed = status == 200;
                if let Some(slot) = slot {
                    inner.replays.insert(slot, (status, value));
                }
            }
            return Answer {
                html: true,
                ..Answer::now((502, Value::Null))
            };
        }
        if let Some(slot) = &slot {
            if slot.0.len() > 300 {
                return Answer::now(error(
                    400,
                    "INVALID_IDEMPOTENCY_KEY",
                    "멱등키는 300자 이하여야 합니다.",
                ));
            }
            if let Some(replay) = inner.replays.get(slot) {
                return Answer::now(replay.clone());
            }
            if inner.in_flight.contains(slot) {
                return Answer::now(error(
                    409,
                    "IDEMPOTENT_REQUEST_PROCESSING",
                    "이전 멱등 요청이 처리중입니다.",
                ));
            }
        }
        match inner.take_fault(endpoint, false) {
            Some(Fault::ServerError) => Answer::now(error(
                500,
                "FAILED_INTERNAL_SYSTEM_PROCESSING",
                "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.",
            )),
            Some(Fault::Timeout) => {
                let release = slot.inspect(|s| {
                    inner.in_flight.insert(s.clone());
                });
                Answer {
                    hang: true,
                    release: release.map(|s| (s, None)),
                    ..Answer::now(error(500, "FAILED_INTERNAL_SYSTEM_PROCESSING", "timeout"))
                }
            }
            Some(Fault::Decline(code, status)) => {
                let refusal = error(status, code, "카드사에서 결제를 거절했습니다.");
                if endpoint == Endpoint::Confirm
                    && let Some(key) = call.body["paymentKey"].as_str()
                    && let Some(payment) = inner.payments.iter_mut().find(|p| p.key == key)
                {
                    payment.status = "ABORTED";
                    let message = refusal.1["message"].as_str().unwrap_or_default();
                    payment.failure = Some((code.to_owned(), message.to_owned()));
                }
                if let Some(slot) = slot {
                    inner.replays.insert(slot, refusal.clone());
                }
                Answer::now(refusal)
            }
            fault => {
                let (status, value) = work(&mut inner, now);
                call.processed = status == 200;
                let replay = (status < 500).then(|| (status, value.clone()));
                match (fault, slot) {
                    (Some(Fault::DropAfterCommit), Some(slot)) => {
                        inner.in_flight.insert(slot.clone());
                        Answer {
                            hang: true,
                            release: Some((slot, replay)),
                            ..Answer::now((status, value))
                        }
                    }
                    (fault, slot) => {
                        if let (Some(slot), Some(replay)) = (slot, replay) {
                            inner.replays.insert(slot, replay);
                        }
                        Answer {
                            hang: matches!(fault, Some(Fault::DropAfterCommit)),
                            ..Answer::now((status, value))
                        }
                    }
                }
            }
        }
    }
}

async fn confirm(
    State(fake): State<FakeToss>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let request = body.clone();
    fake.handle(
        Endpoint::Confirm,
        "/v1/payments/confirm".into(),
        headers,
        body,
        move |inner, now| {
            let (Some(key), Some(order_id), Some(amount)) = (
                request["paymentKey"].as_str(),
                request["orderId"].as_str(),
                request["amount"].as_i64(),
            ) else {
                return error(400, "INVALID_REQUEST", "잘못된 요청입니다.");
            };
            let Some(payment) = inner.payments.iter().find(|p| p.key == key) else {
                return error(404, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.");
            };
            if payment.status == "DONE" {
                return error(400, "ALREADY_PROCESSED_PAYMENT", "이미 처리된 결제 입니다.");
            }
            if payment.status == "EXPIRED" {
                return error(
                    404,
                    "NOT_FOUND_PAYMENT_SESSION",
                    "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
                );
            }
            if payment.status != "IN_PROGRESS" {
                return error(400, "INVALID_REQUEST", "잘못된 요청입니다.");
            }
            if payment.order_id != order_id || payment.amount != amount {
                return error(400, "INVALID_REQUEST", "잘못된 요청입니다.");
            }
            let order_paid = inner
                .payments
                .iter()
                .any(|p| p.order_id == order_id && p.status == "DONE");
            if order_paid {
                return error(
                    400,
                    "DUPLICATED_ORDER_ID",
                    "이미 승인 및 취소가 진행된 중복된 주문번호 입니다.",
                );
            }
            let payment = inner.payments.iter_mut().find(|p| p.key == key).unwrap();
            payment.status = "DONE";
            payment.approved_at = Some(now);
            (200, payment.to_json())
        },
    )
    .await
}

async fn lookup_order(
    State(fake): State<FakeToss>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Response {
    let path = format!("/v1/payments/orders/{order_id}");
    fake.handle(
        Endpoint::Lookup,
        path,
        headers,
        Value::Null,
        move |inner, _| {
            let of_order = || inner.payments.iter().filter(|p| p.order_id == order_id);
            let approved = of_order().find(|p| matches!(p.status, "DONE" | "CANCELED"));
            match approved.or_else(|| of_order().next_back()) {
                Some(p) => (200, p.to_json()),
                None => error(404, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다."),
            }
        },
    )
    .await
}

async fn lookup_key(
    State(fake): State<FakeToss>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let path = format!("/v1/payments/{key}");
    fake.handle(
        Endpoint::Lookup,
        path,
        headers,
        Value::Null,
        move |inner, _| match inner.payments.iter().find(|p| p.key == key) {
            Some(p) => (200, p.to_json()),
            None => error(404, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다."),
        },
    )
    .await
}

async fn cancel(
    State(fake): State<FakeToss>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/v1/payments/{key}/cancel");
    let request = body.clone();
    fake.handle(Endpoint::Cancel, path, headers, body, move |inner, now| {
        let Some(reason) = request["cancelReason"].as_str().filter(|r| !r.is_empty()) else {
            return error(400, "INVALID_REQUEST", "취소 사유는 필수입니다.");
        };
        let Some(payment) = inner.payments.iter_mut().find(|p| p.key == key) else {
            return error(404, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.");
        };
        match payment.status {
            "CANCELED" => {
                return error(400, "ALREADY_CANCELED_PAYMENT", "이미 취소된 결제 입니다.");
            }
            "DONE" => {}
            _ => {
                return error(
                    403,
                    "NOT_CANCELABLE_PAYMENT",
                    "취소 할 수 없는 결제 입니다.",
                );
            }
        }
        payment.status = "CANCELED";
        payment.cancels.push(json!({
            "cancelAmount": payment.amount, "cancelReason": reason, "taxFreeAmount": 0,
            "taxExemptionAmount": 0, "refundableAmount": 0, "cardDiscountAmount": 0,
            "transferDiscountAmount": 0, "easyPayDiscountAmount": 0, "canceledAt": kst(now),
            "transactionKey": uuid::Uuid::new_v4().simple().to_string(), "receiptKey": null,
            "cancelStatus": "DONE", "cancelRequestId": null,
        }));
        (200, payment.to_json())
    })
    .await
}
