//! SQL for kitchen printers and their print jobs. Jobs for an order change are queued in the
//! transaction that makes the change (`on_order_event`), so none is lost or made twice.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::users::{json_column, parse_uuid, parsed};
use super::writer::Tx;
use crate::domain::ids::{CategoryId, OrderId, PrintJobId, PrinterId, RestaurantId};
use crate::domain::order::Order;
use crate::domain::pricing::PricedLine;
use crate::domain::printer::{OrderMoment, Printer, TicketKind, order_moment, prints_now};
use crate::domain::restaurant::DEFAULT_TIME_ZONE;
use crate::domain::{from_millis, to_millis};
use crate::events::EventType;
use crate::printing::ticket::{order_ticket, test_ticket};
use crate::store::{PrintJob, PrinterChanges, StoreError, StoreResult};

const PRINTER_COLUMNS: &str =
    "id, restaurant_id, name, address, paper_width_mm, encoding, category_ids, print_on";

fn printer_from_row(row: &Row<'_>) -> rusqlite::Result<Printer> {
    Ok(Printer {
        id: parse_uuid(row, 0)?,
        restaurant_id: parse_uuid(row, 1)?,
        name: row.get(2)?,
        address: row.get(3)?,
        paper_width_mm: row.get(4)?,
        encoding: parsed(row, 5)?,
        category_ids: json_column(row, 6)?,
        print_on: parsed(row, 7)?,
    })
}

pub fn printers(c: &Connection, restaurant: RestaurantId) -> StoreResult<Vec<Printer>> {
    let sql = format!(
        "SELECT {PRINTER_COLUMNS} FROM printers
         WHERE restaurant_id = ?1 AND deleted_at IS NULL ORDER BY name, id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([restaurant.to_string()], printer_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn printer(
    c: &Connection,
    restaurant: RestaurantId,
    id: PrinterId,
) -> StoreResult<Option<Printer>> {
    let sql = format!(
        "SELECT {PRINTER_COLUMNS} FROM printers
         WHERE id = ?1 AND restaurant_id = ?2 AND deleted_at IS NULL"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row(
            params![id.to_string(), restaurant.to_string()],
            printer_from_row,
        )
        .optional()?)
}

pub fn create(c: &Tx<'_>, p: &Printer, now: DateTime<Utc>) -> StoreResult<Printer> {
    c.prepare_cached(
        "INSERT INTO printers (id, restaurant_id, name, address, paper_width_mm, encoding,
                               category_ids, print_on, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    )?
    .execute(params![
        p.id.to_string(),
        p.restaurant_id.to_string(),
        p.name,
        p.address,
        p.paper_width_mm,
        p.encoding.as_str(),
        serde_json::to_string(&p.category_ids).expect("ids serialize"),
        p.print_on.as_str(),
        to_millis(now),
    ])?;
    printer(c, p.restaurant_id, p.id)?.ok_or(StoreError::NotFound)
}

pub fn update(
    c: &Tx<'_>,
    restaurant: RestaurantId,
    id: PrinterId,
    changes: &PrinterChanges,
    now: DateTime<Utc>,
) -> StoreResult<Option<Printer>> {
    let updated = c
        .prepare_cached(
            "UPDATE printers SET
                 name = coalesce(?3, name),
                 address = coalesce(?4, address),
                 paper_width_mm = coalesce(?5, paper_width_mm),
                 encoding = coalesce(?6, encoding),
                 category_ids = coalesce(?7, category_ids),
                 print_on = coalesce(?8, print_on),
                 updated_at = ?9
             WHERE id = ?1 AND restaurant_id = ?2 AND deleted_at IS NULL",
        )?
        .execute(params![
            id.to_string(),
            restaurant.to_string(),
            changes.name,
            changes.address,
            changes.paper_width_mm,
            changes.encoding.map(|e| e.as_str()),
            changes
                .category_ids
                .as_ref()
                .map(|ids| serde_json::to_string(ids).expect("ids serialize")),
            changes.print_on.map(|p| p.as_str()),
            to_millis(now),
        ])?;
    if updated == 0 {
        return Ok(None);
    }
    printer(c, restaurant, id)
}

pub fn delete(
    c: &Tx<'_>,
    restaurant: RestaurantId,
    id: PrinterId,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let removed = c
        .prepare_cached(
            "UPDATE printers SET deleted_at = ?3
             WHERE id = ?1 AND restaurant_id = ?2 AND deleted_at IS NULL",
        )?
        .execute(params![
            id.to_string(),
            restaurant.to_string(),
            to_millis(now)
        ])?;
    if removed == 0 {
        return Ok(false);
    }
    c.prepare_cached(
        "UPDATE print_jobs SET status = 'DROPPED', last_error = 'printer removed'
         WHERE printer_id = ?1 AND restaurant_id = ?2 AND status IN ('PENDING', 'SENDING')",
    )?
    .execute(params![id.to_string(), restaurant.to_string()])?;
    Ok(true)
}

fn time_zone(c: &Connection, restaurant: RestaurantId) -> StoreResult<Tz> {
    let zone: Option<String> = c
        .prepare_cached("SELECT time_zone FROM restaurants WHERE id = ?1")?
        .query_row([restaurant.to_string()], |row| row.get(0))
        .optional()?;
    Ok(zone
        .and_then(|z| z.parse().ok())
        .unwrap_or(DEFAULT_TIME_ZONE))
}

/// The order's lines `printer` prints (its categories' lines; every line when it has none).
fn lines_for<'o>(
    c: &Connection,
    printer: &Printer,
    order: &'o Order,
) -> StoreResult<Vec<&'o PricedLine>> {
    let mut covered = Vec::new();
    for line in &order.items {
        let category: Option<CategoryId> = if printer.category_ids.is_empty() {
            None
        } else {
            c.prepare_cached("SELECT category_id FROM menus WHERE id = ?1")?
                .query_row([line.menu_id.to_string()], |row| {
                    row.get::<_, Option<String>>(0)
                })
                .optional()?
                .flatten()
                .and_then(|id| id.parse().ok())
        };
        if printer.covers(category) {
            covered.push(line);
        }
    }
    Ok(covered)
}

#[allow(clippy::too_many_arguments)]
fn insert_job(
    c: &Tx<'_>,
    printer: &Printer,
    order: Option<OrderId>,
    kind: TicketKind,
    payload: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<Option<PrintJobId>> {
    let id = PrintJobId::new();
    // ORDER and CANCEL tickets are once per printer and order (the unique index).
    let inserted = c
        .prepare_cached(
            "INSERT OR IGNORE INTO print_jobs (id, restaurant_id, printer_id, order_id, kind,
                                               payload, status, next_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', ?7, ?7)",
        )?
        .execute(params![
            id.to_string(),
            printer.restaurant_id.to_string(),
            printer.id.to_string(),
            order.map(|o| o.to_string()),
            kind.as_str(),
            payload,
            to_millis(now),
        ])?;
    Ok((inserted > 0).then_some(id))
}

/// Queues what an order change means for the kitchen's printers: the ticket on each printer
/// that prints at this moment (only the lines it covers; nothing if none), or, when the order
/// is withdrawn, a 취소 ticket where its ticket may have printed and no ticket where it has not.
pub fn on_order_event(
    c: &Tx<'_>,
    kind: EventType,
    order: &Order,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let moment = order_moment(
        order,
        kind == EventType::NewOrder,
        kind == EventType::PaymentCompleted,
    );
    if moment == OrderMoment::Other {
        return Ok(());
    }
    let printers = printers(c, order.restaurant_id)?;
    if printers.is_empty() {
        return Ok(());
    }
    let zone = time_zone(c, order.restaurant_id)?;
    if moment == OrderMoment::Withdrawn {
        // Tickets still waiting never reach the kitchen.
        c.prepare_cached(
            "UPDATE print_jobs SET status = 'DROPPED', last_error = 'order withdrawn before printing'
             WHERE order_id = ?1 AND kind IN ('ORDER', 'REPRINT') AND status = 'PENDING'",
        )?
        .execute([order.id.to_string()])?;
        let reason = order
            .reject_reason
            .as_deref()
            .or(order.cancel_reason.as_deref());
        for printer in &printers {
            let sent: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM print_jobs
                     WHERE order_id = ?1 AND printer_id = ?2 AND kind IN ('ORDER', 'REPRINT')
                       AND (status IN ('SENDING', 'DONE') OR attempts > 0))",
                )?
                .query_row(
                    params![order.id.to_string(), printer.id.to_string()],
                    |row| row.get(0),
                )?;
            if sent {
                let lines = lines_for(c, printer, order)?;
                let payload =
                    order_ticket(printer, order, &lines, TicketKind::Cancel, zone, reason);
                insert_job(c, printer, Some(order.id), TicketKind::Cancel, &payload, at)?;
            }
        }
        return Ok(());
    }
    for printer in printers.iter().filter(|p| prints_now(p, moment)) {
        let lines = lines_for(c, printer, order)?;
        if lines.is_empty() {
            continue;
        }
        let payload = order_ticket(printer, order, &lines, TicketKind::Order, zone, None);
        insert_job(c, printer, Some(order.id), TicketKind::Order, &payload, at)?;
    }
    Ok(())
}

pub fn queue_test(
    c: &Tx<'_>,
    restaurant: RestaurantId,
    id: PrinterId,
    now: DateTime<Utc>,
) -> StoreResult<Option<PrintJob>> {
    let Some(printer) = printer(c, restaurant, id)? else {
        return Ok(None);
    };
    let payload = test_ticket(&printer, now, time_zone(c, restaurant)?);
    let job = insert_job(c, &printer, None, TicketKind::Test, &payload, now)?;
    job.map(|id| job_by_id(c, id))
        .transpose()
        .map(Option::flatten)
}

pub fn reprint(
    c: &Tx<'_>,
    restaurant: RestaurantId,
    order_id: OrderId,
    now: DateTime<Utc>,
) -> StoreResult<Option<Vec<PrintJob>>> {
    let Some(order) = super::orders::by_id(c, order_id)? else {
        return Ok(None);
    };
    if order.restaurant_id != restaurant {
        return Ok(None);
    }
    let zone = time_zone(c, restaurant)?;
    let mut jobs = Vec::new();
    for printer in printers(c, restaurant)? {
        let lines = lines_for(c, &printer, &order)?;
        if lines.is_empty() {
            continue;
        }
        let payload = order_ticket(&printer, &order, &lines, TicketKind::Reprint, zone, None);
        if let Some(id) = insert_job(
            c,
            &printer,
            Some(order.id),
            TicketKind::Reprint,
            &payload,
            now,
        )? && let Some(job) = job_by_id(c, id)?
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

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<PrintJob> {
    let order_id: Option<String> = row.get(3)?;
    Ok(PrintJob {
        id: parse_uuid(row, 0)?,
        restaurant_id: parse_uuid(row, 1)?,
        printer_id: parse_uuid(row, 2)?,
        order_id: order_id.and_then(|id| id.parse().ok()),
        order_number: row.get(4)?,
        kind: parsed(row, 5)?,
        status: row.get(6)?,
        attempts: row.get(7)?,
        last_error: row.get(8)?,
        created_at: from_millis(row.get(9)?),
        next_at: from_millis(row.get(10)?),
        printed_at: row.get::<_, Option<i64>>(11)?.map(from_millis),
        payload: row.get(12)?,
        address: row.get(13)?,
    })
}

fn job_by_id(c: &Connection, id: PrintJobId) -> StoreResult<Option<PrintJob>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM {JOB_FROM} WHERE j.id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id.to_string()], job_from_row)
        .optional()?)
}

pub fn due(c: &Connection, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<PrintJob>> {
    let sql = format!(
        // Each printer's first job before anyone's second: one printer's backlog cannot keep
        // the others out of a batch.
        "SELECT * FROM (
           SELECT {JOB_COLUMNS},
                  row_number() OVER (PARTITION BY j.printer_id ORDER BY j.created_at, j.id) AS place
           FROM {JOB_FROM}
           WHERE j.status IN ('PENDING', 'SENDING') AND j.next_at <= ?1
           AND NOT EXISTS (SELECT 1 FROM print_jobs e
                           WHERE e.printer_id = j.printer_id
                             AND e.status IN ('PENDING', 'SENDING') AND e.next_at > ?1
                             AND (e.created_at < j.created_at
                                  OR (e.created_at = j.created_at AND e.id < j.id)))
         ) due ORDER BY place, created_at, id LIMIT ?2"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![to_millis(now), limit as i64], job_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn waiting(c: &Connection, restaurant: RestaurantId) -> StoreResult<Vec<PrintJob>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM {JOB_FROM}
         WHERE j.restaurant_id = ?1 AND j.status IN ('PENDING', 'SENDING')
         ORDER BY j.created_at, j.id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([restaurant.to_string()], job_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn sending(
    c: &Tx<'_>,
    id: PrintJobId,
    now: DateTime<Utc>,
    retry_at: DateTime<Utc>,
) -> StoreResult<bool> {
    Ok(c.prepare_cached(
        "UPDATE print_jobs SET status = 'SENDING', attempts = attempts + 1, next_at = ?2
         WHERE id = ?1 AND status IN ('PENDING', 'SENDING') AND next_at <= ?3",
    )?
    .execute(params![id.to_string(), to_millis(retry_at), to_millis(now)])?
        > 0)
}

pub fn done(c: &Tx<'_>, id: PrintJobId, now: DateTime<Utc>) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE print_jobs SET status = 'DONE', printed_at = ?2, last_error = NULL
         WHERE id = ?1 AND status = 'SENDING'",
    )?
    .execute(params![id.to_string(), to_millis(now)])?;
    Ok(())
}

pub fn failed(c: &Tx<'_>, id: PrintJobId, error: &str, retry_at: DateTime<Utc>) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE print_jobs SET status = 'PENDING', last_error = ?2, next_at = ?3
         WHERE id = ?1 AND status = 'SENDING'",
    )?
    .execute(params![id.to_string(), error, to_millis(retry_at)])?;
    Ok(())
}

pub fn settle(
    c: &Tx<'_>,
    restaurant: RestaurantId,
    id: PrintJobId,
    drop: bool,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let sql = if drop {
        "UPDATE print_jobs SET status = 'DROPPED', last_error = 'dropped by the owner'
         WHERE id = ?1 AND restaurant_id = ?2 AND status IN ('PENDING', 'SENDING') AND ?3 >= 0"
    } else {
        "UPDATE print_jobs SET next_at = ?3
         WHERE id = ?1 AND restaurant_id = ?2 AND status = 'PENDING'"
    };
    Ok(c.prepare_cached(sql)?.execute(params![
        id.to_string(),
        restaurant.to_string(),
        to_millis(now)
    ])? > 0)
}
