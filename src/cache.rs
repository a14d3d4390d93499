//! The cache seam: the revocation list (logged-out access tokens and sessions), held in moka
//! with a per-entry lifetime equal to the longest any affected token could still live, as the
//! seed's Redis blacklist (the `postgres` build backs the same trait with Redis so every
//! instance agrees); and the menu cache, local moka in both builds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::HeaderValue;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::future::Cache;

use crate::domain::ids::{MenuItemId, RestaurantId};
use crate::domain::menu::{Category, MenuDocument, MenuItem, MenuRestaurant};
use crate::domain::menu_labels::{LANGUAGES, localize};
use crate::domain::order::PaymentMode;
use crate::domain::restaurant::Restaurant;

#[async_trait]
pub trait RevocationList: Send + Sync + 'static {
    async fn revoke(&self, key: String, until: DateTime<Utc>);
    async fn is_revoked(&self, key: &str) -> bool;

    /// Takes note of a revocation another instance made (and stored in the shared list
    /// itself): this instance's own memory only.
    async fn remember(&self, key: String, until: DateTime<Utc>) {
        self.revoke(key, until).await;
    }

    /// Whether any of `keys` is revoked (one round trip where the list is remote).
    async fn any_revoked(&self, keys: &[&str]) -> bool {
        for key in keys {
            if self.is_revoked(key).await {
                return true;
            }
        }
        false
    }
}

struct UntilExpiry;

impl Expiry<String, DateTime<Utc>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        until: &DateTime<Utc>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some((*until - Utc::now()).to_std().unwrap_or(Duration::ZERO))
    }

    fn expire_after_update(
        &self,
        key: &String,
        until: &DateTime<Utc>,
        updated_at: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, until, updated_at)
    }
}

pub struct LocalRevocations {
    entries: Cache<String, DateTime<Utc>>,
}

impl Default for LocalRevocations {
    fn default() -> Self {
        LocalRevocations {
            entries: Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(UntilExpiry)
                .build(),
        }
    }
}

#[async_trait]
impl RevocationList for LocalRevocations {
    async fn revoke(&self, key: String, until: DateTime<Utc>) {
        if until > Utc::now() {
            self.entries.insert(key, until).await;
        }
    }

    async fn is_revoked(&self, key: &str) -> bool {
        self.entries.get(key).await.is_some()
    }
}

/// A menu document serialized once, with its ETag, and compressed once per content coding
/// (every guest's phone asks for it compressed; per request it would be the same work again
/// and again).
pub struct ServedMenu {
    pub body: Bytes,
    pub etag: String,
    pub etag_header: HeaderValue,
    gzip: Compressed,
    brotli: Compressed,
}

/// The body in one coding, made once on the blocking pool (a large menu takes milliseconds,
/// which no request should wait for on an async worker).
#[derive(Default)]
struct Compressed {
    bytes: OnceLock<Bytes>,
    started: AtomicBool,
}

/// The content codings the server compresses with, least preferred first (as the HTTP stack's
/// compression layer ranks them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Coding {
    Identity,
    Gzip,
    Brotli,
}

impl Coding {
    /// `body` in this coding, at the levels tower-http's compression layer uses.
    pub fn compress(self, body: &[u8]) -> Bytes {
        match self {
            Coding::Identity => Bytes::copy_from_slice(body),
            Coding::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(body).expect("writing to memory");
                Bytes::from(encoder.finish().expect("writing to memory"))
            }
            Coding::Brotli => {
                let mut compressed = Vec::new();
                {
                    let mut encoder = brotli::CompressorWriter::new(&mut compressed, 4096, 4, 22);
                    encoder.write_all(body).expect("writing to memory");
                }
                Bytes::from(compressed)
            }
        }
    }
}

impl ServedMenu {
    fn of(document: &MenuDocument) -> ServedMenu {
        let body = Bytes::from(serde_json::to_vec(document).expect("menus serialize"));
        let digest = ring::digest::digest(&ring::digest::SHA256, &body);
        let etag = format!("\"{}\"", crate::secrets::hex(&digest.as_ref()[..12]));
        let etag_header = HeaderValue::from_str(&etag).expect("hex is a valid header value");
        ServedMenu {
            body,
            etag,
            etag_header,
            gzip: Compressed::default(),
            brotli: Compressed::default(),
        }
    }

    fn compressed(&self, coding: Coding) -> Option<&Compressed> {
        match coding {
            Coding::Identity => None,
            Coding::Gzip => Some(&self.gzip),
            Coding::Brotli => Some(&self.brotli),
        }
    }

    /// The body in `coding`, if it is ready (see `prepare`).
    pub fn encoded(&self, coding: Coding) -> Option<&Bytes> {
        match self.compressed(coding) {
            None => Some(&self.body),
            Some(compressed) => compressed.bytes.get(),
        }
    }

    /// Whether `coding` still has to be made; true for one caller only, who then calls
    /// `prepare` (off the async workers).
    pub fn claim(&self, coding: Coding) -> bool {
        self.compressed(coding)
            .is_some_and(|c| !c.started.swap(true, Ordering::AcqRel))
    }

    pub fn prepare(&self, coding: Coding) {
        if let Some(compressed) = self.compressed(coding) {
            compressed.bytes.get_or_init(|| coding.compress(&self.body));
        }
    }
}

/// A restaurant's menu as served: the parsed document (for pricing orders) and its
/// pre-serialized bytes with an ETag (for `GET /restaurants/{id}/menu`), in Korean with every
/// translation, and once per language guests may read it in.
pub struct MenuSnapshot {
    pub restaurant: Restaurant,
    pub categories: Vec<Category>,
    index: HashMap<MenuItemId, (usize, usize)>,
    pub korean: ServedMenu,
    translated: Vec<(&'static str, ServedMenu)>,
    /// The mode orders placed now get (see `Restaurant::payment_mode_in_effect`).
    pub payment_mode: PaymentMode,
}

impl MenuSnapshot {
    pub fn new(
        restaurant: Restaurant,
        categories: Vec<Category>,
        online_payments: bool,
    ) -> MenuSnapshot {
        let payment_mode = restaurant.payment_mode_in_effect(online_payments);
        let mut document = MenuDocument {
            restaurant: Some(MenuRestaurant {
                id: restaurant.id,
                name: restaurant.name.clone(),
                table_ordering_enabled: restaurant.table_ordering_enabled,
                payment_mode: Some(payment_mode),
                ready_message: restaurant.ready_message.clone(),
                counter_payment: online_payments
                    && restaurant.payment_mode == PaymentMode::Prepay
                    && restaurant.counter_payment_since.is_some(),
            }),
            lang: None,
            categories,
        };
        let korean = ServedMenu::of(&document);
        let categories = std::mem::take(&mut document.categories);
        let translated = LANGUAGES
            .iter()
            .map(|lang| {
                let localized = MenuDocument {
                    restaurant: document.restaurant.clone(),
                    lang: Some((*lang).to_owned()),
                    categories: localize(&categories, lang),
                };
                (*lang, ServedMenu::of(&localized))
            })
            .collect();
        let index = categories
            .iter()
            .enumerate()
            .flat_map(|(c, category)| {
                category
                    .items
                    .iter()
                    .enumerate()
                    .map(move |(i, item)| (item.id(), (c, i)))
            })
            .collect();
        MenuSnapshot {
            restaurant,
            categories,
            index,
            korean,
            translated,
            payment_mode,
        }
    }

    /// The document in `lang` (`None`: Korean, with every translation).
    pub fn served(&self, lang: Option<&str>) -> &ServedMenu {
        lang.and_then(|lang| self.translated.iter().find(|(l, _)| *l == lang))
            .map_or(&self.korean, |(_, served)| served)
    }

    pub fn item(&self, id: MenuItemId) -> Option<&MenuItem> {
        self.index
            .get(&id)
            .map(|&(c, i)| &self.categories[c].items[i])
    }
}

/// Menus by restaurant, kept until changed. Every change invalidates at once (the invalidation
/// rides the bus event of the change, before any client hears of it); the five-minute lifetime
/// is only a safety net. A load that raced with an invalidation is not cached, so a stale menu
/// can never outlive the change that replaced it.
pub struct MenuCache {
    entries: moka::sync::Cache<RestaurantId, Arc<MenuSnapshot>>,
    generations: Mutex<HashMap<RestaurantId, u64>>,
    online_payments: bool,
    /// Tells this cache's entries in the threads' `RECENT` from another's (tests run several
    /// servers in one process).
    instance: u64,
    /// Moves on every change of `entries`, after it: a thread's recent hit taken at an older
    /// count is not used again.
    changes: AtomicU64,
}

/// How long a thread reuses a snapshot it found in the cache without asking the cache again
/// (a changed menu is seen at once: every change moves `MenuCache::changes`).
const RECENT_FOR: Duration = Duration::from_secs(1);

struct RecentHit {
    cache: u64,
    changes: u64,
    id: RestaurantId,
    snapshot: Arc<MenuSnapshot>,
    until: Instant,
}

thread_local! {
    /// Each thread's last hit for `MenuCache::cached`. Asking moka costs more than the rest of
    /// the lookup: it records every read for its eviction policy in a queue all threads write
    /// to, so both cores pass its cache lines back and forth on every guest menu GET.
    static RECENT: RefCell<Option<RecentHit>> = const { RefCell::new(None) };
}

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

impl MenuCache {
    /// `online_payments`: whether this box takes payments online (it decides the payment mode
    /// the menu announces).
    pub fn new(online_payments: bool) -> MenuCache {
        MenuCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            generations: Mutex::new(HashMap::new()),
            online_payments,
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            changes: AtomicU64::new(0),
        }
    }

    /// The snapshot if it is cached; never loads.
    pub fn cached(&self, id: RestaurantId) -> Option<Arc<MenuSnapshot>> {
        // Read before the cache: a hit taken from an entry a change then replaced carries the
        // count from before that change, so it is never reused.
        let changes = self.changes.load(Ordering::Acquire);
        let now = Instant::now();
        let recent = RECENT.with_borrow(|recent| {
            recent
                .as_ref()
                .filter(|hit| {
                    hit.cache == self.instance
                        && hit.changes == changes
                        && hit.id == id
                        && now < hit.until
                })
                .map(|hit| hit.snapshot.clone())
        });
        if recent.is_some() {
            return recent;
        }
        let snapshot = self.entries.get(&id)?;
        RECENT.with_borrow_mut(|recent| {
            *recent = Some(RecentHit {
                cache: self.instance,
                changes,
                id,
                snapshot: snapshot.clone(),
                until: now + RECENT_FOR,
            });
        });
        Some(snapshot)
    }

    /// After every change of `entries` (see `cached`).
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    fn generation(&self, id: RestaurantId) -> u64 {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.get(&id).copied().unwrap_or(0)
    }

    /// The cached snapshot, or one built from `load` (`None`: no such restaurant).
    pub async fn get_or_load<F, Fut, E>(
        &self,
        id: RestaurantId,
        load: F,
    ) -> Result<Option<Arc<MenuSnapshot>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<(Restaurant, Vec<Category>)>, E>>,
    {
        if let Some(snapshot) = self.entries.get(&id) {
            return Ok(Some(snapshot));
        }
        let generation = self.generation(id);
        let Some((restaurant, categories)) = load().await? else {
            return Ok(None);
        };
        let snapshot = Arc::new(MenuSnapshot::new(
            restaurant,
            categories,
            self.online_payments,
        ));
        // Hold the lock while inserting, so an invalidation cannot slip in between.
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if generations.get(&id).copied().unwrap_or(0) == generation {
            self.entries.insert(id, snapshot.clone());
            self.changed();
        }
        Ok(Some(snapshot))
    }

    /// Synchronous, so it can run on the database writer thread right after a commit.
    pub fn invalidate(&self, id: RestaurantId) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        *generations.entry(id).or_insert(0) += 1;
        self.entries.invalidate(&id);
        self.changed();
    }

    pub fn invalidate_all(&self) {
        let cached: Vec<RestaurantId> = self.entries.iter().map(|(id, _)| *id).collect();
        for id in cached {
            self.invalidate(id);
        }
        // A thread's recent hit may outlive its entry (expired or evicted meanwhile).
        self.changed();
    }

    /// Drops snapshots older than the revisions the store reports; returns the restaurants
    /// whose menus changed behind this process's back.
    pub fn invalidate_stale(&self, revisions: &[(RestaurantId, i64)]) -> Vec<RestaurantId> {
        let mut stale = Vec::new();
        for &(id, revision) in revisions {
            if let Some(snapshot) = self.entries.get(&id)
                && snapshot.restaurant.revision != revision
            {
                self.invalidate(id);
                stale.push(id);
            }
        }
        // A thread's recent hit may outlive its entry (expired or evicted meanwhile).
        self.changed();
        stale
    }
}
