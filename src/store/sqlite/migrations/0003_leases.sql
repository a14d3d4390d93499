-- Migration 3: leases — which instance runs the payment sweep, and which one is calling the
-- payment provider for an order. A lease past `expires_at` may be taken by anyone.
CREATE TABLE IF NOT EXISTS leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
