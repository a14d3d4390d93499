//! SQL for kitchen printers and their print jobs (PostgreSQL). The rules are SQLite's
//! (`store::sqlite::printing`): jobs for an order change are queued in its transaction.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio_postgres::Row;

use super::{Db, Fail, PgResult, id, opt_id, orders, text_enum};
use crate::domain::ids::{CategoryId, OrderId, PrintJobId, PrinterId, RestaurantId};
use crate::domain::order::Order;
use crate::domain::pricing::PricedLine;
use crate::domain::printer::{OrderMoment, Printer, TicketKind, order_moment, prints_now};
use crate::domain::restaurant::DEFAULT_TIME_ZONE;
use crate::domain::{from_millis, to_millis};
use crate::events::EventType;
use crate::printing::ticket::{order_ticket, test_ticket};
use crate::store::{PrintJob, PrinterChanges, StoreError};

const PRINTER_COLUMNS: &str =
    "id, restaurant_id, name, address, paper_width_mm, encoding, category_ids, print_on";

fn printer_from_row(row: &Row) -> PgResult<Printer> {
    let categories: String = row.try_get(6)?;
    let width: i32 = row.try_get(4)?;
    Ok(Printer {
        id: id(row, 0)?,
        restaurant_id: id(row, 1)?,
        name: row.try_get(2)?,
        address: row.try_get(3)?,
        paper_width_mm: width as u32,
        encoding: text_enum(row, 5)?,
        category_ids: serde_json::from_str(&categories)
            .map_err(|e| Fail::other(format!("printer categories: {e}")))?,
        print_on: text_enum(row, 7)?,
    })
}

pub async fn printers(db: Db<'_>, restaurant: RestaurantId) -> PgResult<Vec<Printer>> {
    let sql = format!(
        "SELECT {PRINTER_COLUMNS} FROM printers
         WHERE restaurant_id = $1 AND deleted_at IS NULL ORDER BY name, id"
    );
    db.query(&sql, &[&restaurant.to_string()])
        .await?
        .iter()
        .map(printer_from_row)
        .collect()
}

async fn printer(
    db: Db<'_>,
    restaurant: RestaurantId,
    printer: PrinterId,
) -> PgResult<Option<Printer>> {
    let sql = format!(
        "SELECT {PRINTER_COLUMNS} FROM printers
         WHERE id = $1 AND restaurant_id = $2 AND deleted_at IS NULL"
    );
    db.query_opt(&sql, &[&printer.to_string(), &restaurant.to_string()])
        .await?
        .map(|row| printer_from_row(&row))
        .transpose()
}

pub async fn create(db: Db<'_>, p: &Printer, now: DateTime<Utc>) -> PgResult<Printer> {
    db.execute(
        "INSERT INTO printers (id, restaurant_id, name, address, paper_width_mm, encoding,
                               category_ids, print_on, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[
            &p.id.to_string(),
            &p.restaurant_id.to_string(),
            &p.name,
            &p.address,
            &(p.paper_width_mm as i32),
            &p.encoding.as_str(),
            &serde_json::to_string(&p.category_ids).expect("ids serialize"),
            &p.print_on.as_str(),
            &to_millis(now),
        ],
    )
    .await?;
    printer(db, p.restaurant_id, p.id)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound))
}

pub async fn update(
    db: Db<'_>,
    restaurant: RestaurantId,
    printer_id: PrinterId,
    changes: &PrinterChanges,
    now: DateTime<Utc>,
) -> PgResult<Option<Printer>> {
    let updated = db
        .execute(
            "UPDATE printers SET
                 name = coalesce($3, name),
                 address = coalesce($4, address),
                 paper_width_mm = coalesce($5, paper_width_mm),
                 encoding = coalesce($6, encoding),
                 category_ids = coalesce($7, category_ids),
                 print_on = coalesce($8, print_on),
                 updated_at = $9
             WHERE id = $1 AND restaurant_id = $2 AND deleted_at IS NULL",
            &[
                &printer_id.to_string(),
                &restaurant.to_string(),
                &changes.name,
                &changes.address,
                &changes.paper_width_mm.map(|w| w as i32),
                &changes.encoding.map(|e| e.as_str()),
                &changes
                    .category_ids
                    .as_ref()
                    .map(|ids| serde_json::to_string(ids).expect("ids serialize")),
                &changes.print_on.map(|p| p.as_str()),
                &to_millis(now),
            ],
        )
        .await?;
    if updated == 0 {
        return Ok(None);
    }
    printer(db, restaurant, printer_id).await
}

pub async fn delete(
    db: Db<'_>,
    restaurant: RestaurantId,
    printer_id: PrinterId,
    now: DateTime<Utc>,
) -> PgResult<bool> {
    let removed = db
        .execute(
            "UPDATE printers SET deleted_at = $3
             WHERE id = $1 AND restaurant_id = $2 AND deleted_at IS NULL",
            &[
                &printer_id.to_string(),
                &restaurant.to_string(),
                &to_millis(now),
            ],
        )
        .await?;
    if removed == 0 {
        return Ok(false);
    }
    db.execute(
        "UPDATE print_jobs SET status = 'DROPPED', last_error = 'printer removed'
         WHERE printer_id = $1 AND restaurant_id = $2 AND status IN ('PENDING', 'SENDING')",
        &[&printer_id.to_string(), &restaurant.to_string()],
    )
    .await?;
    Ok(true)
}

async fn time_zone(db: Db<'_>, restaurant: RestaurantId) -> PgResult<Tz> {
    let zone: Option<String> = db
        .query_opt(
            "SELECT time_zone FROM restaurants WHERE id = $1",
            &[&restaurant.to_string()],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    Ok(zone
        .and_then(|z| z.parse().ok())
        .unwrap_or(DEFAULT_TIME_ZONE))
}

async fn lines_for<'o>(
    db: Db<'_>,
    printer: &Printer,
    order: &'o Order,
) -> PgResult<Vec<&'o PricedLine>> {
    let mut covered = Vec::new();
    for line in &order.items {
        let category: Option<CategoryId> = if printer.category_ids.is_empty() {
            None
        } else {
            match db
                .query_opt(
                    "SELECT category_id FROM menus WHERE id = $1",
                    &[&line.menu_id.to_string()],
                )
                .await?
            {
                Some(row) => opt_id(&row, 0)?,
                None => None,
            }
        };
        if printer.covers(category) {
            covered.push(line);
        }
    }
    Ok(covered)
}

async fn insert_job(
    db: Db<'_>,
    printer: &Printer,
    order: Option<OrderId>,
    kind: TicketKind,
    payload: &[u8],
    now: DateTime<Utc>,
) -> PgResult<Option<PrintJobId>> {
    let job = PrintJobId::new();
    // ORDER and CANCEL tickets are once per printer and order (the unique index).
    let inserted = db
        .execute(
            "INSERT INTO print_jobs (id, restaurant_id, printer_id, order_id, kind, payload,
                                     status, next_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7, $7)
             ON CONFLICT (printer_id, order_id, kind) WHERE kind IN ('ORDER', 'CANCEL')
             DO NOTHING",
            &[
                &job.to_string(),
                &printer.restaurant_id.to_string(),
                &printer.id.to_string(),
                &order.map(|o| o.to_string()),
                &kind.as_str(),
                &payload,
                &to_millis(now),
            ],
        )
        .await?;
    Ok((inserted > 0).then_some(job))
}

pub async fn on_order_event(
    db: Db<'_>,
    kind: EventType,
    order: &Order,
    at: DateTime<Utc>,
) -> PgResult<()> {
    let moment = order_moment(
        order,
        kind == EventType::NewOrder,
        kind == EventType::PaymentCompleted,
    );
    if moment == OrderMoment::Other {
        return Ok(());
    }
    let printers = printers(db, order.restaurant_id).await?;
    if printers.is_empty() {
        return Ok(());
    }
    let zone = time_zone(db, order.restaurant_id).await?;
    if moment == OrderMoment::Withdrawn {
        db.execute(
            "UPDATE print_jobs SET status = 'DROPPED', last_error = 'order withdrawn before printing'
             WHERE order_id = $1 AND kind IN ('ORDER', 'REPRINT') AND status = 'PENDING'",
            &[&order.id.to_string()],
        )
        .await?;
        let reason = order
            .reject_reason
            .as_deref()
            .or(order.cancel_reason.as_deref());
        for printer in &printers {
            let sent: bool = db
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM print_jobs
                     WHERE order_id = $1 AND printer_id = $2 AND kind IN ('ORDER', 'REPRINT')
                       AND (status IN ('SENDING', 'DONE') OR attempts > 0))",
                    &[&order.id.to_string(), &printer.id.to_string()],
                )
                .await?
                .try_get(0)?;
            if sent {
                let lines = lines_for(db, printer, order).await?;
                let payload =
                    order_ticket(printer, order, &lines, TicketKind::Cancel, zone, reason);
                insert_job(
                    db,
                    printer,
                    Some(order.id),
                    TicketKind::Cancel,
                    &payload,
                    at,
                )
                .await?;
            }
        }
        return Ok(());
    }
    for printer in printers.iter().filter(|p| prints_now(p, moment)) {
        let lines = lines_for(db, printer, order).await?;
        if lines.is_empty() {
            continue;
        }
        let payload = order_ticket(printer, order, &lines, TicketKind::Order, zone, None);
        insert_job(db, printer, Some(order.id), TicketKind::Order, &payload, at).await?;
    }
    Ok(())
}

pub async fn queue_test(
    db: Db<'_>,
    restaurant: RestaurantId,
    printer_id: PrinterId,
    now: DateTime<Utc>,
) -> PgResult<Option<PrintJob>> {
    let Some(printer) = printer(db, restaurant, printer_id).await? else {
        return Ok(None);
    };
    let payload = test_ticket(&printer, now, time_zone(db, restaurant).await?);
    match insert_job(db, &printer, None, TicketKind::Test, &payload, now).await? {
        Some(job) => job_by_id(db, job).await,
        None => Ok(None),
    }
}

pub async fn reprint(
    db: Db<'_>,
    restaurant: RestaurantId,
    order_id: OrderId,
    now: DateTime<Utc>,
) -> PgResult<Option<Vec<PrintJob>>> {
    let Some(order) = orders::by_id(db, order_id).await? else {
        return Ok(None);
    };
    if order.restaurant_id != restaurant {
        return Ok(None);
    }
    let zone = time_zone(db, restaurant).await?;
    let mut jobs = Vec::new();
    for printer in printers(db, restaurant).await? {
        let lines = lines_for(db, &printer, &order).await?;
        if lines.is_empty() {
            continue;
        }
        let payload = order_ticket(&printer, &order, &lines, TicketKind::Reprint, zone, None);
        if let Some(job) = insert_job(
            db,
            &printer,
            Some(order.id),
            TicketKind::Reprint,
            &payload,
            now,
        )
        .await?
            && let Some(job) = job_by_id(db, job).await?
        {
            jobs.push(job);
        }
    }
    Ok(Some(jobs))
}

const JOB_COLUMNS: &str = "j.id, j.restaurant_id, j.printer_id, j.order_id, o.order_number, j.kind, \
     j.status, j.attempts, j.last_error, j.created_at, j.next_at, j.printed_at, j.payload, p.address";
const JOB_FROM: &str = "print_jobs j JOIN printers p ON p.id = j.printer_id \
     LEFT JOIN orders o ON o.id = j.order_id";

fn job_from_row(row: &Row) -> PgResult<PrintJob> {
    let attempts: i32 = row.try_get(7)?;
    Ok(PrintJob {
        id: id(row, 0)?,
        restaurant_id: id(row, 1)?,
        printer_id: id(row, 2)?,
        order_id: opt_id(row, 3)?,
        order_number: row.try_get(4)?,
        kind: text_enum(row, 5)?,
        status: row.try_get(6)?,
        attempts: attempts as u32,
        last_error: row.try_get(8)?,
        created_at: from_millis(row.try_get(9)?),
        next_at: from_millis(row.try_get(10)?),
        printed_at: row.try_get::<_, Option<i64>>(11)?.map(from_millis),
        payload: row.try_get(12)?,
        address: row.try_get(13)?,
    })
}

async fn job_by_id(db: Db<'_>, job: PrintJobId) -> PgResult<Option<PrintJob>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE j.id = $1");
    db.query_opt(&sql, &[&job.to_string()])
        .await?
        .map(|row| job_from_row(&row))
        .transpose()
}

pub async fn due(db: Db<'_>, now: DateTime<Utc>, limit: usize) -> PgResult<Vec<PrintJob>> {
    let sql = format!(
        // Each printer's first job before anyone's second: one printer's backlog cannot keep
        // the others out of a batch.
        "SELECT * FROM (
           SELECT {JOB_COLUMNS},
                  row_number() OVER (PARTITION BY j.printer_id ORDER BY j.created_at, j.id) AS place
           FROM {JOB_FROM}
           WHERE j.status IN ('PENDING', 'SENDING') AND j.next_at <= $1
           AND NOT EXISTS (SELECT 1 FROM print_jobs e
                           WHERE e.printer_id = j.printer_id
                             AND e.status IN ('PENDING', 'SENDING') AND e.next_at > $1
                             AND (e.created_at < j.created_at
                                  OR (e.created_at = j.created_at AND e.id < j.id)))
         ) due ORDER BY place, created_at, id LIMIT $2"
    );
    db.query(&sql, &[&to_millis(now), &(limit as i64)])
        .await?
        .iter()
        .map(job_from_row)
        .collect()
}

pub async fn waiting(db: Db<'_>, restaurant: RestaurantId) -> PgResult<Vec<PrintJob>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM {JOB_FROM}
         WHERE j.restaurant_id = $1 AND j.status IN ('PENDING', 'SENDING')
         ORDER BY j.created_at, j.id"
    );
    db.query(&sql, &[&restaurant.to_string()])
        .await?
        .iter()
        .map(job_from_row)
        .collect()
}

pub async fn sending(
    db: Db<'_>,
    job: PrintJobId,
    now: DateTime<Utc>,
    retry_at: DateTime<Utc>,
) -> PgResult<bool> {
    Ok(db
        .execute(
            "UPDATE print_jobs SET status = 'SENDING', attempts = attempts + 1, next_at = $2
             WHERE id = $1 AND status IN ('PENDING', 'SENDING') AND next_at <= $3",
            &[&job.to_string(), &to_millis(retry_at), &to_millis(now)],
        )
        .await?
        > 0)
}

pub async fn done(db: Db<'_>, job: PrintJobId, now: DateTime<Utc>) -> PgResult<()> {
    db.execute(
        "UPDATE print_jobs SET status = 'DONE', printed_at = $2, last_error = NULL
         WHERE id = $1 AND status = 'SENDING'",
        &[&job.to_string(), &to_millis(now)],
    )
    .await?;
    Ok(())
}

pub async fn failed(
    db: Db<'_>,
    job: PrintJobId,
    error: &str,
    retry_at: DateTime<Utc>,
) -> PgResult<()> {
    db.execute(
        "UPDATE print_jobs SET status = 'PENDING', last_error = $2, next_at = $3
         WHERE id = $1 AND status = 'SENDING'",
        &[&job.to_string(), &error, &to_millis(retry_at)],
    )
    .await?;
    Ok(())
}

pub async fn settle(
    db: Db<'_>,
    restaurant: RestaurantId,
    job: PrintJobId,
    drop: bool,
    now: DateTime<Utc>,
) -> PgResult<bool> {
    let changed = if drop {
        db.execute(
            "UPDATE print_jobs SET status = 'DROPPED', last_error = 'dropped by the owner'
             WHERE id = $1 AND restaurant_id = $2 AND status IN ('PENDING', 'SENDING')",
            &[&job.to_string(), &restaurant.to_string()],
        )
        .await?
    } else {
        db.execute(
            "UPDATE print_jobs SET next_at = $3
             WHERE id = $1 AND restaurant_id = $2 AND status = 'PENDING'",
            &[&job.to_string(), &restaurant.to_string(), &to_millis(now)],
        )
        .await?
    };
    Ok(changed > 0)
}
