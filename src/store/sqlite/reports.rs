//! SQL for sales reports: the facts of a range of business days (see `domain::report`).

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::users::{parse_uuid, parsed};
use crate::domain::from_millis;
use crate::domain::ids::{OrderId, RestaurantId};
use crate::domain::order::PaymentMode;
use crate::domain::report::{LineFact, OrderFact, SettlementFact};
use crate::store::StoreResult;

pub fn sales_facts(
    c: &Connection,
    restaurant: RestaurantId,
    from_day: &str,
    to_day: &str,
) -> StoreResult<(Vec<OrderFact>, Vec<SettlementFact>)> {
    // One read transaction: orders, lines and settlements of the same moment.
    let c = &c.unchecked_transaction()?;
    let rid = restaurant.to_string();
    let mut lines: HashMap<OrderId, Vec<LineFact>> = HashMap::new();
    let mut stmt = c.prepare_cached(
        "SELECT i.order_id, i.menu_id, i.name, i.quantity, i.line_total, m.category_id, k.name
         FROM order_items i JOIN orders o ON o.id = i.order_id
         LEFT JOIN menus m ON m.id = i.menu_id
         LEFT JOIN menu_categories k ON k.id = m.category_id
         WHERE o.restaurant_id = ?1 AND o.business_day BETWEEN ?2 AND ?3
         ORDER BY i.order_id, i.position",
    )?;
    let rows = stmt.query_map(params![rid, from_day, to_day], |row| {
        let category: Option<String> = row.get(5)?;
        Ok((
            parse_uuid::<OrderId>(row, 0)?,
            LineFact {
                menu_id: parse_uuid(row, 1)?,
                name: row.get(2)?,
                quantity: row.get(3)?,
                line_total: row.get(4)?,
                category_id: category.and_then(|c| c.parse().ok()),
                category_name: row.get(6)?,
            },
        ))
    })?;
    for row in rows {
        let (order, line) = row?;
        lines.entry(order).or_default().push(line);
    }
    let mut stmt = c.prepare_cached(
        "SELECT id, business_day, created_at, status, payment_mode, payment_status, test_payment,
                table_session_id IS NOT NULL, total_amount
         FROM orders WHERE restaurant_id = ?1 AND business_day BETWEEN ?2 AND ?3
         ORDER BY created_at",
    )?;
    let orders = stmt
        .query_map(params![rid, from_day, to_day], |row| {
            let id: OrderId = parse_uuid(row, 0)?;
            let payment_mode: PaymentMode = parsed(row, 4)?;
            let at_table: bool = row.get(7)?;
            Ok(OrderFact {
                business_day: row.get(1)?,
                created_at: from_millis(row.get(2)?),
                status: parsed(row, 3)?,
                payment_mode,
                payment_status: parsed(row, 5)?,
                test_payment: row.get(6)?,
                on_tab: at_table && payment_mode == PaymentMode::Postpay,
                total: row.get(8)?,
                lines: lines.remove(&id).unwrap_or_default(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = c.prepare_cached(
        "SELECT business_day, created_at, method, amount, simulated FROM table_settlements
         WHERE restaurant_id = ?1 AND business_day BETWEEN ?2 AND ?3 ORDER BY created_at",
    )?;
    let settlements = stmt
        .query_map(params![rid, from_day, to_day], |row| {
            Ok(SettlementFact {
                business_day: row.get(0)?,
                created_at: from_millis(row.get(1)?),
                method: row.get(2)?,
                amount: row.get(3)?,
                simulated: row.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((orders, settlements))
}
