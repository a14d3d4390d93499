//! Prometheus metrics with the seed's names. `path` is always a route template, never a raw
//! URL, so ids cannot explode the label set.

use std::sync::{Arc, OnceLock};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    pub ws_connections: IntGauge,
    pub orders_created: IntCounter,
    pub order_transitions: IntCounterVec,
    pub payments: IntCounterVec,
    pub connections_open: IntGauge,
    pub connections_refused: IntCounter,
    pub connections_evicted: IntCounter,
    pub connections_timed_out: IntCounter,
    pub payment_sweeps: IntCounter,
    pub menus_from_cache: IntCounter,
    pub print_jobs: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "api_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "path", "status"],
        )
        .expect("valid metric");
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "api_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["path"],
        )
        .expect("valid metric");
        let ws_connections =
            IntGauge::new("ws_connections", "Open WebSocket connections").expect("valid metric");
        let orders_created =
            IntCounter::new("orders_created_total", "Orders placed").expect("valid metric");
        let order_transitions = IntCounterVec::new(
            Opts::new(
                "order_transitions_total",
                "Order state changes by new status",
            ),
            &["status"],
        )
        .expect("valid metric");
        let payments = IntCounterVec::new(
            Opts::new(
                "payments_total",
                "Payment outcomes: completed, declined, refunded",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        let counter = |name: &str, help: &str| {
            let metric = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        let connections_open = gauge("http_connections_open", "Open client TCP connections");
        let connections_refused = counter(
            "http_connections_refused_total",
            "Connections closed at once: over the per-IP cap, or every place busy",
        );
        let connections_evicted = counter(
            "http_connections_evicted_total",
            "Idle connections closed to make room for a new one at the total cap",
        );
        let connections_timed_out = counter(
            "http_connections_timed_out_total",
            "Connections closed for sending a request too slowly or idling too long",
        );
        let menus_from_cache = counter(
            "menu_cache_answers_total",
            "Guest menu GETs answered from the cached menu before routing",
        );
        let payment_sweeps = counter(
            "payment_sweeps_total",
            "Reconciliation passes this instance ran (one instance sweeps at a time)",
        );
        let print_jobs = IntCounterVec::new(
            Opts::new(
                "print_jobs_total",
                "Tickets sent to kitchen printers: printed, or failed (retried later)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(print_jobs.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(payments.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(orders_created.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(order_transitions.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(durations.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(ws_connections.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            requests,
            durations,
            ws_connections,
            orders_created,
            order_transitions,
            payments,
            connections_open,
            connections_refused,
            connections_evicted,
            connections_timed_out,
            payment_sweeps,
            menus_from_cache,
            print_jobs,
        }
    }

    pub fn observe_request(&self, method: &str, path: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, path, status_label(status)])
            .inc();
        self.durations.with_label_values(&[path]).observe(seconds);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding metrics into memory cannot fail");
        String::from_utf8(buffer).expect("Prometheus text format is UTF-8")
    }
}

/// One route's series, looked up once: a label lookup hashes every label, on every request.
/// (Looked up on first use, so a route nobody called has no series, as with `observe_request`.)
pub struct RouteSeries {
    metrics: Arc<Metrics>,
    method: &'static str,
    path: &'static str,
    ok: OnceLock<IntCounter>,
    not_modified: OnceLock<IntCounter>,
    durations: OnceLock<Histogram>,
}

impl RouteSeries {
    pub fn new(metrics: Arc<Metrics>, method: &'static str, path: &'static str) -> RouteSeries {
        RouteSeries {
            metrics,
            method,
            path,
            ok: OnceLock::new(),
            not_modified: OnceLock::new(),
            durations: OnceLock::new(),
        }
    }

    pub fn observe(&self, status: u16, seconds: f64) {
        let requests = |status| {
            self.metrics
                .requests
                .with_label_values(&[self.method, self.path, status_label(status)])
        };
        match status {
            200 => self.ok.get_or_init(|| requests(200)).inc(),
            304 => self.not_modified.get_or_init(|| requests(304)).inc(),
            _ => requests(status).inc(),
        }
        self.durations
            .get_or_init(|| self.metrics.durations.with_label_values(&[self.path]))
            .observe(seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn status_label(status: u16) -> &'static str {
    // Avoids allocating a label string per request for the common statuses.
    match status {
        101 => "101",
        200 => "200",
        201 => "201",
        204 => "204",
        301 => "301",
        304 => "304",
        307 => "307",
        308 => "308",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        _ => "other",
    }
}
