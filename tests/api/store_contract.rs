//! The `Store` contract, run the same way against SQLite and (feature `postgres`, with
//! `ORDERSYNC_TEST_DATABASE_URL`) PostgreSQL: numbering, idempotency, compare-and-set
//! transitions, settlement racing a rejection, the event log, leases and refresh-token reuse.

use std::sync::Arc;

use chrono::{Duration, Utc};
use ordersync::domain::ids::{GuestId, OrderId, RestaurantId, SessionId, UserId};
use ordersync::domain::menu::MenuDocument;
use ordersync::domain::order::{Action, Customer, OrderStatus, PaymentMode, PaymentStatus};
use ordersync::domain::pricing::PricedLine;
use ordersync::events::LocalBus;
use ordersync::store::{
    Actor, IdempotencyKey, NewGuest, NewOrder, PlaceOutcome, RefreshOutcome, RefreshTokenRecord,
    Revocation, SettleOutcome, Settlement, Store, StoreError, TransitionOutcome, TransitionRequest,
};

use crate::helpers::test_menu;

async fn open(url: &str) -> Arc<dyn Store> {
    ordersync::store::connect(url, Arc::new(LocalBus::new(64)))
        .await
        .unwrap()
}

struct Fixture {
    store: Arc<dyn Store>,
    restaurant: RestaurantId,
    guest: GuestId,
    line: PricedLine,
    revision: i64,
}

async fn fixture(store: Arc<dyn Store>, email: &str) -> Fixture {
    let passwords = ordersync::auth::password::PasswordHasher::new(4).unwrap();
    let account = ordersync::accounts::NewAccount {
        email,
        password: "owner-password",
        name: "사장님",
    };
    let (_, restaurant) = ordersync::accounts::create_owner(&*store, &passwords, account, "가게")
        .await
        .unwrap();
    let document: MenuDocument = serde_json::from_value(test_menu()).unwrap();
    let revision = ordersync::api::menu::store_menu(&*store, restaurant, document)
        .await
        .unwrap();
    let (_, categories) = store.menu(restaurant).await.unwrap().unwrap();
    let item = &categories[0].items[1]; // 양념, 19,000 won, no required option
    let guest = GuestId::new();
    store
        .create_guest(NewGuest {
            id: guest,
            restaurant_id: restaurant,
            table_number: "1".into(),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    Fixture {
        store,
        restaurant,
        guest,
        line: PricedLine {
            menu_id: item.id(),
            name: item.name.clone(),
            quantity: 1,
            unit_price: item.price,
            options: Vec::new(),
            line_total: item.price,
        },
        revision,
    }
}

impl Fixture {
    fn new_order(&self, mode: PaymentMode, day: &str) -> NewOrder {
        NewOrder {
            id: OrderId::new(),
            restaurant_id: self.restaurant,
            customer: Customer::Guest(self.guest),
            table_number: Some("1".into()),
            lines: vec![self.line.clone()],
            total_amount: self.line.line_total,
            special_requests: None,
            payment_mode: mode,
            business_day: day.into(),
            created_at: Utc::now(),
        }
    }

    async fn place(&self, mode: PaymentMode, day: &str) -> (OrderId, String) {
        match self
            .store
            .place_order(self.new_order(mode, day), None, self.revision)
            .await
            .unwrap()
        {
            PlaceOutcome::Placed { order, .. } => (order.id, order.order_number),
            _ => panic!("not placed"),
        }
    }

    fn owner(&self, order: OrderId, action: Action) -> TransitionRequest {
        TransitionRequest {
            order_id: order,
            actor: Actor::Shop {
                restaurant: self.restaurant,
                by: None,
            },
            action,
            estimated_ready_at: None,
            note: Some("메모".into()),
            now: Utc::now(),
        }
    }
}

async fn the_contract(url: &str, backend: &str) {
    let store = open(url).await;
    assert_eq!(store.backend(), backend);
    let f = fixture(store.clone(), "contract@example.com").await;

    // Order numbers count per business day, without gaps or repeats under concurrency.
    let placed = futures_util::future::join_all(
        (0..12).map(|_| f.place(PaymentMode::Postpay, "2026-12-01")),
    )
    .await;
    let mut numbers: Vec<String> = placed.iter().map(|(_, n)| n.clone()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=12).map(|n| format!("A{n:03}")).collect();
    assert_eq!(numbers, expected);
    assert_eq!(f.place(PaymentMode::Postpay, "2026-12-02").await.1, "A001");

    // A stale menu revision is refused; an Idempotency-Key replays, and conflicts on reuse.
    let stale = store
        .place_order(
            f.new_order(PaymentMode::Postpay, "2026-12-02"),
            None,
            f.revision - 1,
        )
        .await
        .unwrap();
    assert!(matches!(stale, PlaceOutcome::MenuChanged));
    let key = IdempotencyKey {
        key: "k-1".into(),
        request_hash: "h-1".into(),
    };
    let first = store
        .place_order(
            f.new_order(PaymentMode::Postpay, "2026-12-02"),
            Some(key.clone()),
            f.revision,
        )
        .await
        .unwrap();
    let PlaceOutcome::Placed { order, .. } = first else {
        panic!("not placed")
    };
    let again = store
        .place_order(
            f.new_order(PaymentMode::Postpay, "2026-12-02"),
            Some(key.clone()),
            f.revision,
        )
        .await
        .unwrap();
    assert!(matches!(again, PlaceOutcome::Replayed(id) if id == order.id));
    let reused = store
        .remembered_order(
            Customer::Guest(f.guest),
            IdempotencyKey {
                key: "k-1".into(),
                request_hash: "other".into(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(reused, Some(PlaceOutcome::KeyReused)));

    // The same request sent several times at once (a phone retrying on bad Wi-Fi): one order,
    // and every other answer is that order replayed.
    let created_at = Utc::now();
    let key = IdempotencyKey {
        key: "k-2".into(),
        request_hash: "h-2".into(),
    };
    let answers = futures_util::future::join_all((0..6).map(|_| {
        let order = NewOrder {
            created_at,
            ..f.new_order(PaymentMode::Postpay, "2026-12-02")
        };
        store.place_order(order, Some(key.clone()), f.revision)
    }))
    .await;
    let placed: Vec<OrderId> = answers
        .iter()
        .filter_map(|a| match a {
            Ok(PlaceOutcome::Placed { order, .. }) => Some(order.id),
            _ => None,
        })
        .collect();
    assert_eq!(placed.len(), 1, "one order for one key");
    for answer in &answers {
        match answer {
            Ok(PlaceOutcome::Placed { .. }) => {}
            Ok(PlaceOutcome::Replayed(id)) => assert_eq!(*id, placed[0]),
            Ok(_) => panic!("a retry was refused"),
            Err(err) => panic!("a retry failed: {err}"),
        }
    }

    // Of concurrent accepts, exactly one wins; the rest see the current state.
    let (order, _) = f.place(PaymentMode::Postpay, "2026-12-03").await;
    let accepts = futures_util::future::join_all(
        (0..10).map(|_| store.transition_order(f.owner(order, Action::Accept))),
    )
    .await;
    let done = accepts
        .iter()
        .filter(|r| matches!(r, Ok(TransitionOutcome::Done { .. })))
        .count();
    assert_eq!(done, 1);
    assert!(accepts.iter().all(|r| matches!(
        r,
        Ok(TransitionOutcome::Done { .. })
            | Ok(TransitionOutcome::Refused {
                status: OrderStatus::Accepted,
                ..
            })
    )));
    // Someone else's order is "not found", not "forbidden".
    let foreign = store
        .transition_order(TransitionRequest {
            actor: Actor::Shop {
                restaurant: RestaurantId::new(),
                by: None,
            },
            ..f.owner(order, Action::Ready)
        })
        .await
        .unwrap();
    assert!(matches!(foreign, TransitionOutcome::NotFound));

    // Money arriving for an order rejected meanwhile is owed back, never kept.
    let (prepaid, _) = f.place(PaymentMode::Prepay, "2026-12-03").await;
    let rejected = store
        .transition_order(f.owner(prepaid, Action::Reject))
        .await
        .unwrap();
    assert!(matches!(rejected, TransitionOutcome::Done { .. }));
    let now = Utc::now();
    store.open_payment(prepaid, 19000, now).await.unwrap();
    let settlement = |key: &str| Settlement {
        order_id: prepaid,
        payment_key: key.into(),
        amount: 19000,
        method: Some("카드".into()),
        approved_at: now,
        simulated: false,
        now,
    };
    match store.settle_payment(settlement("pk-1")).await.unwrap() {
        SettleOutcome::Paid { order } => {
            assert_eq!(order.status, OrderStatus::Rejected);
            assert_eq!(order.payment_status, PaymentStatus::RefundPending);
        }
        _ => panic!("not settled"),
    }
    assert!(matches!(
        store.settle_payment(settlement("pk-1")).await.unwrap(),
        SettleOutcome::AlreadyPaid { payment_key: Some(k) } if k == "pk-1"
    ));
    assert_eq!(store.due_refunds(Utc::now()).await.unwrap().len(), 1);

    // The event log: every change, in one gapless sequence per restaurant.
    let events = store.events_since(f.restaurant, 0, 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    assert_eq!(
        store.latest_event_seq(f.restaurant).await.unwrap(),
        events.len() as i64
    );

    // Leases: one holder at a time, renewable by it, free once released or expired.
    let until = std::time::Duration::from_secs(30);
    assert!(
        store
            .acquire_lease("job".into(), "a".into(), until)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("job".into(), "b".into(), until)
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("job".into(), "a".into(), until)
            .await
            .unwrap()
    );
    store.release_lease("job".into(), "a".into()).await.unwrap();
    assert!(
        store
            .acquire_lease("job".into(), "b".into(), until)
            .await
            .unwrap()
    );
    let past = std::time::Duration::ZERO;
    assert!(
        store
            .acquire_lease("old".into(), "a".into(), past)
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(
        store
            .acquire_lease("old".into(), "b".into(), until)
            .await
            .unwrap()
    );

    // Refresh tokens rotate once; a replay of a spent one ends the session.
    let customer = store
        .insert_user(ordersync::store::NewUser {
            id: UserId::new(),
            email: ordersync::domain::user::Email::parse("rotate@example.com").unwrap(),
            password_hash: "x".into(),
            name: ordersync::domain::user::PersonName::parse("손님").unwrap(),
            role: ordersync::domain::user::Role::Customer,
            restaurant_id: None,
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let duplicate = store
        .insert_user(ordersync::store::NewUser {
            id: UserId::new(),
            email: ordersync::domain::user::Email::parse("rotate@example.com").unwrap(),
            password_hash: "x".into(),
            name: ordersync::domain::user::PersonName::parse("손님").unwrap(),
            role: ordersync::domain::user::Role::Customer,
            restaurant_id: None,
            created_at: Utc::now(),
        })
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    let session = SessionId::new();
    let record = |id: &str, hash: &str| RefreshTokenRecord {
        id: id.into(),
        session_id: session,
        user_id: customer.id,
        token_hash: hash.into(),
        issued_at: Utc::now(),
        expires_at: Utc::now() + Duration::days(1),
    };
    let on_reuse = || Revocation {
        key: format!("sid:{session}"),
        until: Utc::now() + Duration::hours(1),
    };
    store
        .insert_refresh_token(record("r1", "h1"))
        .await
        .unwrap();
    let rotated = store
        .rotate_refresh_token("r1", "h1", record("r2", "h2"), on_reuse())
        .await
        .unwrap();
    assert!(matches!(rotated, RefreshOutcome::Rotated(u) if u.id == customer.id));
    let replayed = store
        .rotate_refresh_token("r1", "h1", record("r3", "h3"), on_reuse())
        .await
        .unwrap();
    assert!(matches!(replayed, RefreshOutcome::Reused));
    let after = store
        .rotate_refresh_token("r2", "h2", record("r4", "h4"), on_reuse())
        .await
        .unwrap();
    assert!(matches!(after, RefreshOutcome::Invalid));
    let revoked = store.active_revocations(Utc::now()).await.unwrap();
    assert!(revoked.iter().any(|r| r.key == format!("sid:{session}")));
}

#[tokio::test]
async fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir
        .path()
        .join("ordersync.db")
        .to_string_lossy()
        .into_owned();
    the_contract(&url, "sqlite").await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_keeps_the_store_contract() {
    if crate::backend::postgres_base().is_none() {
        eprintln!("skipped: needs ORDERSYNC_TEST_DATABASE_URL");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    the_contract(&crate::backend::database_url(dir.path()), "postgres").await;
}
