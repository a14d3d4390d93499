//! SQL for sales reports: the facts of a range of business days (see `domain::report`).

use std::collections::HashMap;

use super::{Db, PgResult, id, opt_id};
use crate::domain::from_millis;
use crate::domain::ids::{OrderId, RestaurantId};
use crate::domain::order::PaymentMode;
use crate::domain::report::{LineFact, OrderFact, SettlementFact};

/// Run inside a snapshot: orders, lines and settlements of the same moment.
pub async fn sales_facts(
    db: Db<'_>,
    restaurant: RestaurantId,
    from_day: &str,
    to_day: &str,
) -> PgResult<(Vec<OrderFact>, Vec<SettlementFact>)> {
    let rid = restaurant.to_string();
    let mut lines: HashMap<OrderId, Vec<LineFact>> = HashMap::new();
    for row in db
        .query(
            "SELECT i.order_id, i.menu_id, i.name, i.quantity, i.line_total, m.category_id, k.name
             FROM order_items i JOIN orders o ON o.id = i.order_id
             LEFT JOIN menus m ON m.id = i.menu_id
             LEFT JOIN menu_categories k ON k.id = m.category_id
             WHERE o.restaurant_id = $1 AND o.business_day BETWEEN $2 AND $3
             ORDER BY i.order_id, i.position",
            &[&rid, &from_day, &to_day],
        )
        .await?
    {
        lines.entry(id(&row, 0)?).or_default().push(LineFact {
            menu_id: id(&row, 1)?,
            name: row.try_get(2)?,
            quantity: row.try_get(3)?,
            line_total: row.try_get(4)?,
            category_id: opt_id(&row, 5)?,
            category_name: row.try_get(6)?,
        });
    }
    let mut orders = Vec::new();
    for row in db
        .query(
            "SELECT id, business_day, created_at, status, payment_mode, payment_status,
                    test_payment, table_session_id IS NOT NULL, total_amount
             FROM orders WHERE restaurant_id = $1 AND business_day BETWEEN $2 AND $3
             ORDER BY created_at",
            &[&rid, &from_day, &to_day],
        )
        .await?
    {
        let order: OrderId = id(&row, 0)?;
        let payment_mode: PaymentMode = id(&row, 4)?;
        let at_table: bool = row.try_get(7)?;
        orders.push(OrderFact {
            business_day: row.try_get(1)?,
            created_at: from_millis(row.try_get(2)?),
            status: id(&row, 3)?,
            payment_mode,
            payment_status: id(&row, 5)?,
            test_payment: row.try_get(6)?,
            on_tab: at_table && payment_mode == PaymentMode::Postpay,
            total: row.try_get(8)?,
            lines: lines.remove(&order).unwrap_or_default(),
        });
    }
    let settlements = db
        .query(
            "SELECT business_day, created_at, method, amount, simulated FROM table_settlements
             WHERE restaurant_id = $1 AND business_day BETWEEN $2 AND $3 ORDER BY created_at",
            &[&rid, &from_day, &to_day],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(SettlementFact {
                business_day: row.try_get(0)?,
                created_at: from_millis(row.try_get(1)?),
                method: row.try_get(2)?,
                amount: row.try_get(3)?,
                simulated: row.try_get(4)?,
            })
        })
        .collect::<PgResult<Vec<_>>>()?;
    Ok((orders, settlements))
}
