-- PostgreSQL migration 3: kitchen printers, and print jobs queued in the same transaction as
-- the order change that causes them (an outbox a worker sends from).
CREATE TABLE IF NOT EXISTS printers (
    id             TEXT PRIMARY KEY,
    restaurant_id  TEXT NOT NULL REFERENCES restaurants(id),
    name           TEXT NOT NULL,
    address        TEXT NOT NULL,
    paper_width_mm INTEGER NOT NULL CHECK (paper_width_mm IN (58, 80)),
    encoding       TEXT NOT NULL CHECK (encoding IN ('EUC-KR', 'UTF-8')),
    category_ids   TEXT NOT NULL DEFAULT '[]',
    print_on       TEXT NOT NULL CHECK (print_on IN ('NEW_ORDER', 'ACCEPTED')),
    deleted_at     BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_printers_restaurant ON printers(restaurant_id);
CREATE TABLE IF NOT EXISTS print_jobs (
    id            TEXT PRIMARY KEY,
    restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
    printer_id    TEXT NOT NULL REFERENCES printers(id),
    order_id      TEXT REFERENCES orders(id),
    kind          TEXT NOT NULL CHECK (kind IN ('ORDER', 'CANCEL', 'REPRINT', 'TEST')),
    payload       BYTEA NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('PENDING', 'SENDING', 'DONE', 'DROPPED')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    printed_at    BIGINT
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_print_jobs_once
    ON print_jobs(printer_id, order_id, kind) WHERE kind IN ('ORDER', 'CANCEL');
CREATE INDEX IF NOT EXISTS idx_print_jobs_due ON print_jobs(status, next_at);
CREATE INDEX IF NOT EXISTS idx_print_jobs_order ON print_jobs(order_id);
CREATE INDEX IF NOT EXISTS idx_print_jobs_queue ON print_jobs(printer_id, created_at);
