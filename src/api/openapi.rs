//! The OpenAPI 3.1 document of the HTTP API, served at `/api/openapi.json`.
//!
//! Every route the API modules register is listed in `OPERATIONS` with who may call it; the
//! document (paths, security, the error envelope, the common error responses) is built from that
//! table. `tests/api/openapi.rs` fails when a registered route is missing here or a listed one is
//! not routed, and walks the table's roles to check that every refusal really happens.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::app::AppState;

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no token.
    Public,
    /// A customer: a registered one or a table guest (token from a table QR code).
    Customer,
    /// A table guest only.
    TableGuest,
    /// Any signed-in account.
    SignedIn,
    /// A customer, or the restaurant's accounts for its orders.
    OrderParty,
    /// An order's customer, or the owner or floor staff of its restaurant.
    Payer,
    /// The restaurant's owner, floor staff or kitchen.
    Crew,
    /// The restaurant's owner or floor staff.
    Staff,
    /// The restaurant's owner only.
    Owner,
    /// Toss Payments (verified against Toss, not by token).
    Provider,
    /// Loopback, or a bearer METRICS_TOKEN.
    Operator,
}

impl Access {
    /// The roles a token must carry (empty: no role check).
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Access::Customer | Access::TableGuest => &["CUSTOMER"],
            Access::SignedIn => &["CUSTOMER", "OWNER", "STAFF", "KITCHEN"],
            Access::OrderParty => &["CUSTOMER", "OWNER", "STAFF", "KITCHEN"],
            Access::Payer => &["CUSTOMER", "OWNER", "STAFF"],
            Access::Crew => &["OWNER", "STAFF", "KITCHEN"],
            Access::Staff => &["OWNER", "STAFF"],
            Access::Owner => &["OWNER"],
            Access::Public | Access::Provider | Access::Operator => &[],
        }
    }

    fn needs_token(self) -> bool {
        !self.roles().is_empty()
    }

    fn describe(self) -> &'static str {
        match self {
            Access::Public => "No authentication.",
            Access::Customer => "A customer's token (registered, or a table guest's).",
            Access::TableGuest => "A table guest's token (from POST /api/v1/auth/guest).",
            Access::SignedIn => "Any signed-in account.",
            Access::OrderParty => {
                "The order's customer, or an account (OWNER, STAFF, KITCHEN) of its restaurant; \
                 anyone else gets 404."
            }
            Access::Payer => {
                "The order's customer, or the OWNER or STAFF of its restaurant; anyone else \
                 gets 404 (KITCHEN: 403)."
            }
            Access::Crew => "The restaurant's OWNER, STAFF or KITCHEN account.",
            Access::Staff => "The restaurant's OWNER or STAFF account.",
            Access::Owner => "The restaurant's OWNER only.",
            Access::Provider => {
                "Toss Payments; the body is checked against Toss before anything changes."
            }
            Access::Operator => {
                "From loopback, or with `Authorization: Bearer <METRICS_TOKEN>` (not an \
                 account's token)."
            }
        }
    }
}

/// One documented route and method.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// The success status.
    pub ok: u16,
    /// Required JSON body fields (name, JSON type); `None`: no JSON body.
    pub body: Option<&'static [(&'static str, &'static str)]>,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        access,
        ok: 200,
        body: None,
    }
}

impl Operation {
    const fn created(mut self) -> Self {
        self.ok = 201;
        self
    }

    const fn no_content(mut self) -> Self {
        self.ok = 204;
        self
    }

    const fn status(mut self, ok: u16) -> Self {
        self.ok = ok;
        self
    }

    const fn body(mut self, fields: &'static [(&'static str, &'static str)]) -> Self {
        self.body = Some(fields);
        self
    }
}

use Access::*;

pub const OPERATIONS: &[Operation] = &[
    // Accounts and sessions.
    op(
        "post",
        "/api/v1/auth/register",
        "auth",
        "Register a customer account",
        Public,
    )
    .created()
    .body(&[
        ("email", "string"),
        ("password", "string"),
        ("name", "string"),
    ]),
    op(
        "post",
        "/api/v1/auth/login",
        "auth",
        "Log in (access + refresh token)",
        Public,
    )
    .body(&[("email", "string"), ("password", "string")]),
    op(
        "post",
        "/api/v1/auth/refresh",
        "auth",
        "Rotate a refresh token",
        Public,
    )
    .body(&[("refresh_token", "string")]),
    op(
        "get",
        "/api/v1/auth/me",
        "auth",
        "The signed-in account",
        SignedIn,
    ),
    op(
        "post",
        "/api/v1/auth/logout",
        "auth",
        "End this session everywhere",
        SignedIn,
    )
    .no_content(),
    op(
        "post",
        "/api/v1/auth/guest",
        "auth",
        "A table guest's token from a table QR code",
        Public,
    )
    .created()
    .body(&[
        ("restaurant_id", "string"),
        ("table_number", "string"),
        ("sig", "string"),
    ]),
    // Menus.
    op(
        "get",
        "/api/v1/restaurants/{id}/menu",
        "menu",
        "The public menu (?lang=, ETag)",
        Public,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/menu",
        "menu",
        "The menu with every translation",
        Crew,
    ),
    op(
        "put",
        "/api/v1/restaurants/me/menu",
        "menu",
        "Replace the whole menu document",
        Owner,
    )
    .body(&[("categories", "array")]),
    op(
        "patch",
        "/api/v1/restaurants/me/menu/items/{id}",
        "menu",
        "Change one item; STAFF may only change is_available (sold out)",
        Staff,
    )
    .body(&[]),
    op(
        "post",
        "/api/v1/restaurants/me/images",
        "menu",
        "Upload a photo (multipart `file`)",
        Owner,
    )
    .created(),
    op(
        "get",
        "/images/{restaurant}/{file}",
        "menu",
        "A stored photo (immutable)",
        Public,
    ),
    // Orders, as customers place and follow them.
    op(
        "post",
        "/api/v1/orders",
        "orders",
        "Place an order (Idempotency-Key)",
        Customer,
    )
    .created()
    .body(&[("restaurant_id", "string"), ("items", "array")]),
    op("get", "/api/v1/orders", "orders", "My orders", Customer),
    op(
        "get",
        "/api/v1/orders/{id}",
        "orders",
        "One order",
        OrderParty,
    ),
    op(
        "post",
        "/api/v1/orders/{id}/cancel",
        "orders",
        "Cancel my pending order",
        Customer,
    ),
    // Payments.
    op(
        "post",
        "/api/v1/payments/initiate",
        "payments",
        "Start paying an order",
        Payer,
    )
    .body(&[("order_id", "string"), ("amount", "integer")]),
    op(
        "post",
        "/api/v1/payments/confirm",
        "payments",
        "Confirm after Toss's redirect (test mode: with the order's or table's token)",
        Public,
    )
    .body(&[
        ("paymentKey", "string"),
        ("orderId", "string"),
        ("amount", "integer"),
    ]),
    op(
        "post",
        "/api/v1/payments/webhook",
        "payments",
        "Toss Payments webhook",
        Provider,
    ),
    // Table service.
    op(
        "get",
        "/api/v1/tables/me",
        "tables",
        "My table's running tab",
        TableGuest,
    ),
    op(
        "post",
        "/api/v1/tables/me/calls",
        "tables",
        "Call staff (water, bill, …)",
        TableGuest,
    )
    .created()
    .body(&[("kind", "string")]),
    op(
        "post",
        "/api/v1/tables/me/payments",
        "tables",
        "Pay the tab, a share or my orders",
        TableGuest,
    )
    .created()
    .body(&[("kind", "string"), ("amount", "integer")]),
    op(
        "get",
        "/api/v1/restaurants/me/tables",
        "tables",
        "Every open table",
        Staff,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/tables/{table}",
        "tables",
        "One table's tab",
        Staff,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/tables/{table}/calls/{call_id}/ack",
        "tables",
        "Acknowledge a call",
        Staff,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/tables/{table}/settle",
        "tables",
        "Record a counter payment",
        Staff,
    )
    .body(&[("method", "string"), ("amount", "integer")]),
    op(
        "post",
        "/api/v1/restaurants/me/tables/{table}/close",
        "tables",
        "Clear the table",
        Staff,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/tables/{table}/move",
        "tables",
        "Move the party",
        Staff,
    )
    .body(&[("to", "string")]),
    op(
        "post",
        "/api/v1/restaurants/me/tables/{table}/merge",
        "tables",
        "Join another party",
        Staff,
    )
    .body(&[("into", "string")]),
    // The restaurant's board.
    op(
        "get",
        "/api/v1/restaurants/me",
        "restaurant",
        "Settings",
        Crew,
    ),
    op(
        "patch",
        "/api/v1/restaurants/me",
        "restaurant",
        "Change settings",
        Owner,
    )
    .body(&[]),
    op(
        "get",
        "/api/v1/restaurants/me/orders",
        "board",
        "Orders by status (cursor pages)",
        Crew,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/orders/history",
        "board",
        "A business day's orders",
        Staff,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/summary",
        "board",
        "Today's totals, refunds owed",
        Owner,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/qr-codes",
        "restaurant",
        "Signed table QR codes",
        Owner,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/qr-codes/printed",
        "restaurant",
        "The QR sheet was printed with this base URL (a moved address is then noticed)",
        Owner,
    )
    .no_content()
    .body(&[("base_url", "string")]),
    op(
        "post",
        "/api/v1/restaurants/me/orders/{id}/accept",
        "board",
        "Accept with an ETA",
        Staff,
    )
    .body(&[("estimated_time_minutes", "integer")]),
    op(
        "post",
        "/api/v1/restaurants/me/orders/{id}/reject",
        "board",
        "Reject (refunds if paid)",
        Staff,
    )
    .body(&[("reason", "string")]),
    op(
        "post",
        "/api/v1/restaurants/me/orders/{id}/ready",
        "board",
        "Mark ready",
        Crew,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/orders/{id}/recall",
        "board",
        "Undo ready",
        Crew,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/orders/{id}/complete",
        "board",
        "Complete",
        Staff,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/orders/{id}/events",
        "board",
        "The order's audit trail",
        Staff,
    ),
    // The box in the shop: network, payments, clock, restarts.
    op(
        "get",
        "/api/v1/restaurants/me/status",
        "restaurant",
        "Printed QR address check, Toss reachability, clock, server start",
        Crew,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/counter-payment",
        "restaurant",
        "Internet outage: take payment at the counter (enabled: true), and back",
        Staff,
    )
    .body(&[("enabled", "boolean")]),
    // Kitchen printers.
    op(
        "get",
        "/api/v1/restaurants/me/printers",
        "printing",
        "Printers",
        Staff,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/printers",
        "printing",
        "Add a printer",
        Owner,
    )
    .created()
    .body(&[("name", "string"), ("address", "string")]),
    op(
        "patch",
        "/api/v1/restaurants/me/printers/{id}",
        "printing",
        "Change a printer",
        Owner,
    )
    .body(&[]),
    op(
        "delete",
        "/api/v1/restaurants/me/printers/{id}",
        "printing",
        "Remove a printer",
        Owner,
    )
    .no_content(),
    op(
        "post",
        "/api/v1/restaurants/me/printers/{id}/test",
        "printing",
        "Print a test page",
        Owner,
    )
    .status(202),
    op(
        "get",
        "/api/v1/restaurants/me/print-jobs",
        "printing",
        "Tickets waiting to print",
        Staff,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/print-jobs/{id}/retry",
        "printing",
        "Retry now",
        Staff,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/print-jobs/{id}/drop",
        "printing",
        "Drop a ticket",
        Staff,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/orders/{id}/reprint",
        "printing",
        "Reprint tickets",
        Staff,
    )
    .status(202),
    // Running the business.
    op(
        "get",
        "/api/v1/restaurants/me/reports/sales",
        "reports",
        "Sales report (JSON or CSV)",
        Owner,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/reports/sales.csv",
        "reports",
        "Sales report as CSV",
        Owner,
    ),
    op(
        "get",
        "/api/v1/restaurants/me/staff",
        "staff",
        "Staff accounts",
        Owner,
    ),
    op(
        "post",
        "/api/v1/restaurants/me/staff",
        "staff",
        "Add a STAFF or KITCHEN account",
        Owner,
    )
    .created()
    .body(&[
        ("email", "string"),
        ("name", "string"),
        ("role", "string"),
        ("password", "string"),
    ]),
    op(
        "delete",
        "/api/v1/restaurants/me/staff/{id}",
        "staff",
        "Remove an account",
        Owner,
    )
    .no_content(),
    op(
        "post",
        "/api/v1/restaurants/me/staff/{id}/password",
        "staff",
        "Reset a password",
        Owner,
    )
    .no_content()
    .body(&[("password", "string")]),
    // Live updates (WebSocket upgrades; the token may come as ?token= or the first message).
    op(
        "get",
        "/ws/orders/{order_id}",
        "live",
        "One order's changes",
        OrderParty,
    )
    .status(101),
    op(
        "get",
        "/ws/restaurants/me/orders",
        "live",
        "The restaurant's order feed",
        Crew,
    )
    .status(101),
    op(
        "get",
        "/ws/tables/me",
        "live",
        "My table's changes",
        TableGuest,
    )
    .status(101),
    op(
        "get",
        "/ws/restaurants/{id}/menu",
        "live",
        "Menu changes",
        Public,
    )
    .status(101),
    // Operations.
    op("get", "/healthz", "operations", "Liveness", Public),
    op(
        "get",
        "/readyz",
        "operations",
        "Readiness (database, Redis)",
        Public,
    ),
    op(
        "get",
        "/metrics",
        "operations",
        "Prometheus metrics",
        Operator,
    ),
    op(
        "get",
        "/ca.crt",
        "operations",
        "The box's own CA certificate",
        Public,
    ),
    op(
        "get",
        "/api/openapi.json",
        "operations",
        "This document",
        Public,
    ),
];

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(openapi_json))
}

async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_string());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    })
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
        })
        .collect()
}

fn operation_json(op: &Operation) -> Value {
    let mut responses = Map::new();
    let ok_description = match op.ok {
        101 => "Switching to the WebSocket protocol",
        204 => "Done, nothing to return",
        202 => "Accepted; happens shortly",
        _ => "Success",
    };
    let mut ok = json!({ "description": ok_description });
    if ![101, 204].contains(&op.ok) {
        ok["content"] = json!({ "application/json": { "schema": { "type": "object" } } });
    }
    responses.insert(op.ok.to_string(), ok);
    responses.insert(
        "400".into(),
        json!({ "$ref": "#/components/responses/Invalid" }),
    );
    if op.access.needs_token() {
        responses.insert(
            "401".into(),
            json!({ "$ref": "#/components/responses/Unauthorized" }),
        );
        responses.insert(
            "403".into(),
            json!({ "$ref": "#/components/responses/Forbidden" }),
        );
    }
    if op.path.contains('{') {
        responses.insert(
            "404".into(),
            json!({ "$ref": "#/components/responses/NotFound" }),
        );
    }
    if op.method != "get" {
        responses.insert(
            "409".into(),
            json!({ "$ref": "#/components/responses/Conflict" }),
        );
    }
    responses.insert(
        "429".into(),
        json!({ "$ref": "#/components/responses/RateLimited" }),
    );
    responses.insert(
        "503".into(),
        json!({ "$ref": "#/components/responses/Unavailable" }),
    );

    let mut value = json!({
        "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '.', '-'], "_")),
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.access.describe(),
        "x-roles": op.access.roles(),
        "responses": responses,
    });
    let parameters = path_parameters(op.path);
    if !parameters.is_empty() {
        value["parameters"] = Value::Array(parameters);
    }
    value["security"] = if op.access.needs_token() {
        json!([{ "bearer": [] }])
    } else {
        json!([])
    };
    if let Some(fields) = op.body {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|(name, kind)| ((*name).to_owned(), json!({ "type": kind })))
            .collect();
        let required: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        value["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": {
                "type": "object", "properties": properties, "required": required,
            } } },
        });
    }
    value
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let entry = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method] = operation_json(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "OrderSync",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "QR table ordering. Money is integer won. Times are RFC 3339 UTC. \
                Every error has the same envelope (`Error`). Accounts: CUSTOMER (registered or \
                a table guest), OWNER, and the owner's STAFF (board) and KITCHEN (kitchen \
                display) accounts; each operation names the roles it accepts in `x-roles`.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "An access token from /api/v1/auth/login, /refresh or \
                        /guest. Owner, staff and registered-customer tokens are refused on the \
                        plain-HTTP guest surface (403 HTTPS_REQUIRED).",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": { "type": "string", "examples": ["VALIDATION_ERROR", "FORBIDDEN", "CONFLICT"] },
                            "message": { "type": "string" },
                            "details": {
                                "type": ["object", "null"],
                                "description": "For VALIDATION_ERROR: `field` and `reason`.",
                            },
                        },
                    } },
                },
            },
            "responses": {
                "Invalid": error_response("VALIDATION_ERROR: `details.field` names the input"),
                "Unauthorized": error_response("UNAUTHORIZED: no, expired or revoked token"),
                "Forbidden": error_response("FORBIDDEN: the account's role may not do this"),
                "NotFound": error_response("NOT_FOUND (also for someone else's resources)"),
                "Conflict": error_response("CONFLICT: not allowed in the current state"),
                "RateLimited": error_response("RATE_LIMIT_EXCEEDED; see Retry-After"),
                "Unavailable": error_response("SERVICE_UNAVAILABLE; see Retry-After"),
            },
        },
    })
}
