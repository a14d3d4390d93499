//! Sales reports, computed from the facts of a range of business days: what was sold (orders
//! not rejected or cancelled, their lines) and what money came in and went back.
//!
//! Sold: `orders`, `items`, `gross_sales` (the orders' totals, paid or not yet).
//! Money: `online` (Toss, from the order or a phone paying the tab), `counter` (card, cash or
//! other at the counter), `refunds` (what went or is going back to guests), `net` = online +
//! counter − refunds; `test` is what test-mode payments "took" — no money, never in `net`.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::ids::{CategoryId, MenuItemId};
use super::order::{OrderStatus, PaymentMode, PaymentStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    Day,
    Hour,
    Item,
    Category,
    PaymentMethod,
}

impl FromStr for Grouping {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "day" => Grouping::Day,
            "hour" => Grouping::Hour,
            "item" => Grouping::Item,
            "category" => Grouping::Category,
            "payment_method" => Grouping::PaymentMethod,
            _ => return Err(()),
        })
    }
}

pub struct LineFact {
    pub menu_id: MenuItemId,
    pub name: String,
    pub category_id: Option<CategoryId>,
    pub category_name: Option<String>,
    pub quantity: i64,
    pub line_total: i64,
}

pub struct OrderFact {
    pub business_day: String,
    pub created_at: DateTime<Utc>,
    pub status: OrderStatus,
    pub payment_mode: PaymentMode,
    pub payment_status: PaymentStatus,
    pub test_payment: bool,
    /// Paid with its table's tab (its money is in the tab's settlements).
    pub on_tab: bool,
    pub total: i64,
    pub lines: Vec<LineFact>,
}

/// Money taken towards a table's tab.
pub struct SettlementFact {
    pub business_day: String,
    pub created_at: DateTime<Utc>,
    /// CARD, CASH, OTHER (at the counter) or ONLINE (a phone).
    pub method: String,
    pub amount: i64,
    pub simulated: bool,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Figures {
    pub orders: i64,
    pub items: i64,
    pub gross_sales: i64,
    pub online: i64,
    pub counter: i64,
    pub refunds: i64,
    pub net: i64,
    pub test: i64,
}

#[derive(Debug, Serialize)]
pub struct Row {
    /// The day (YYYY-MM-DD), hour (0–23), item or category id, or payment method.
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Serialize)]
pub struct SalesReport {
    pub group: Grouping,
    pub totals: Figures,
    pub rows: Vec<Row>,
}

fn sold(order: &OrderFact) -> bool {
    !matches!(order.status, OrderStatus::Rejected | OrderStatus::Cancelled)
}

/// Where an order's own payment went: (method, amount, refunded amount, test amount).
fn order_money(order: &OrderFact) -> Option<(&'static str, i64, i64, i64)> {
    let paid = matches!(
        order.payment_status,
        PaymentStatus::Paid | PaymentStatus::RefundPending | PaymentStatus::Refunded
    );
    if !paid || order.on_tab {
        return None;
    }
    let refunded = if order.payment_status == PaymentStatus::Paid {
        0
    } else {
        order.total
    };
    if order.test_payment {
        // A test payment given back is nothing at all (as on the board's summary).
        let test = if order.payment_status == PaymentStatus::Paid {
            order.total
        } else {
            0
        };
        return Some(("TEST", 0, 0, test));
    }
    let method = match order.payment_mode {
        PaymentMode::Prepay => "ONLINE",
        PaymentMode::Postpay => "COUNTER",
    };
    Some((method, order.total, refunded, 0))
}

fn add_money(figures: &mut Figures, method: &str, amount: i64, refunded: i64, test: i64) {
    match method {
        "ONLINE" => figures.online += amount,
        "TEST" => {}
        _ => figures.counter += amount,
    }
    figures.refunds += refunded;
    figures.test += test;
    figures.net = figures.online + figures.counter - figures.refunds;
}

fn add_sale(figures: &mut Figures, order: &OrderFact) {
    figures.orders += 1;
    figures.items += order.lines.iter().map(|l| l.quantity).sum::<i64>();
    figures.gross_sales += order.total;
}

fn row(rows: &mut BTreeMap<String, Row>, key: String, label: String) -> &mut Figures {
    &mut rows
        .entry(key.clone())
        .or_insert_with(|| Row {
            key,
            label,
            figures: Figures::default(),
        })
        .figures
}

fn hour(at: DateTime<Utc>, zone: Tz) -> String {
    format!("{:02}", at.with_timezone(&zone).hour())
}

pub fn sales_report(
    group: Grouping,
    zone: Tz,
    orders: &[OrderFact],
    settlements: &[SettlementFact],
) -> SalesReport {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut totals = Figures::default();
    for order in orders {
        if sold(order) {
            add_sale(&mut totals, order);
        }
        let money = order_money(order);
        if let Some((method, amount, refunded, test)) = money {
            add_money(&mut totals, method, amount, refunded, test);
        }
        match group {
            Grouping::Day | Grouping::Hour => {
                let key = if group == Grouping::Day {
                    order.business_day.clone()
                } else {
                    hour(order.created_at, zone)
                };
                let figures = row(&mut rows, key.clone(), key);
                if sold(order) {
                    add_sale(figures, order);
                }
                if let Some((method, amount, refunded, test)) = money {
                    add_money(figures, method, amount, refunded, test);
                }
            }
            Grouping::PaymentMethod => {
                if let Some((method, amount, refunded, test)) = money {
                    let figures = row(&mut rows, method.to_owned(), method.to_owned());
                    add_money(figures, method, amount, refunded, test);
                }
            }
            Grouping::Item | Grouping::Category if sold(order) => {
                for line in &order.lines {
                    let (key, label) = if group == Grouping::Item {
                        (line.menu_id.to_string(), line.name.clone())
                    } else {
                        (
                            line.category_id
                                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                            line.category_name.clone().unwrap_or_else(|| "-".to_owned()),
                        )
                    };
                    let figures = row(&mut rows, key, label);
                    figures.items += line.quantity;
                    figures.gross_sales += line.line_total;
                }
            }
            _ => {}
        }
    }
    if group == Grouping::Category {
        // An order counts once per category it had lines in.
        for order in orders.iter().filter(|o| sold(o)) {
            let mut seen: Vec<String> = Vec::new();
            for line in &order.lines {
                let key = line
                    .category_id
                    .map_or_else(|| "-".to_owned(), |c| c.to_string());
                if !seen.contains(&key) {
                    if let Some(row) = rows.get_mut(&key) {
                        row.figures.orders += 1;
                    }
                    seen.push(key);
                }
            }
        }
    }
    if group == Grouping::Item {
        for order in orders.iter().filter(|o| sold(o)) {
            let mut seen: Vec<MenuItemId> = Vec::new();
            for line in &order.lines {
                if !seen.contains(&line.menu_id) {
                    if let Some(row) = rows.get_mut(&line.menu_id.to_string()) {
                        row.figures.orders += 1;
                    }
                    seen.push(line.menu_id);
                }
            }
        }
    }
    for settlement in settlements {
        let (method, amount, test) = if settlement.simulated {
            ("TEST", 0, settlement.amount)
        } else if settlement.method == "ONLINE" {
            ("ONLINE", settlement.amount, 0)
        } else {
            ("COUNTER", settlement.amount, 0)
        };
        add_money(&mut totals, method, amount, 0, test);
        let key = match group {
            Grouping::Day => settlement.business_day.clone(),
            Grouping::Hour => hour(settlement.created_at, zone),
            Grouping::PaymentMethod if method == "COUNTER" => settlement.method.clone(),
            Grouping::PaymentMethod => method.to_owned(),
            Grouping::Item | Grouping::Category => continue,
        };
        let figures = row(&mut rows, key.clone(), key);
        add_money(figures, method, amount, 0, test);
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    if matches!(group, Grouping::Item | Grouping::Category) {
        rows.sort_by_key(|row| std::cmp::Reverse(row.figures.gross_sales));
    }
    SalesReport {
        group,
        totals,
        rows,
    }
}

/// The report as a spreadsheet: UTF-8 with a byte-order mark, so Excel shows Hangul.
pub fn sales_csv(report: &SalesReport) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str("key,label,orders,items,gross_sales,online,counter,refunds,net,test\r\n");
    // Quoted; a leading = + - @ is defused, so a dish name cannot become a spreadsheet formula.
    let quote = |text: &str| {
        let text = if text.len() > 1 && text.starts_with(['=', '+', '-', '@']) {
            format!("'{text}")
        } else {
            text.to_owned()
        };
        format!("\"{}\"", text.replace('"', "\"\""))
    };
    let mut line = |key: &str, label: &str, f: &Figures| {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            quote(key),
            quote(label),
            f.orders,
            f.items,
            f.gross_sales,
            f.online,
            f.counter,
            f.refunds,
            f.net,
            f.test
        ));
    };
    for row in &report.rows {
        line(&row.key, &row.label, &row.figures);
    }
    line("TOTAL", "합계", &report.totals);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(
        mode: PaymentMode,
        status: OrderStatus,
        payment: PaymentStatus,
        test: bool,
    ) -> OrderFact {
        OrderFact {
            business_day: "2031-03-14".into(),
            created_at: Utc::now(),
            status,
            payment_mode: mode,
            payment_status: payment,
            test_payment: test,
            on_tab: false,
            total: 10_000,
            lines: Vec::new(),
        }
    }

    #[test]
    fn money_in_online_at_the_counter_back_to_guests_and_in_test_mode() {
        use OrderStatus::*;
        use PaymentMode::*;
        use PaymentStatus as P;
        let orders = [
            order(Prepay, Completed, P::Paid, false),
            // Paid online, then rejected: the money came in and goes back.
            order(Prepay, Rejected, P::Refunded, false),
            order(Prepay, Cancelled, P::RefundPending, false),
            order(Postpay, Completed, P::Paid, false),
            order(Prepay, Completed, P::Paid, true),
            // A test payment given back counts nowhere.
            order(Prepay, Rejected, P::Refunded, true),
            // Never paid, never sold.
            order(Prepay, Cancelled, P::Pending, false),
        ];
        let settlements = [SettlementFact {
            business_day: "2031-03-14".into(),
            created_at: Utc::now(),
            method: "ONLINE".into(),
            amount: 5_000,
            simulated: false,
        }];
        let report = sales_report(
            Grouping::PaymentMethod,
            chrono_tz::Asia::Seoul,
            &orders,
            &settlements,
        );
        let t = &report.totals;
        assert_eq!(t.orders, 3, "the completed ones");
        assert_eq!(t.gross_sales, 30_000);
        assert_eq!(t.online, 35_000);
        assert_eq!(t.counter, 10_000);
        assert_eq!(t.refunds, 20_000);
        assert_eq!(t.net, 25_000);
        assert_eq!(t.test, 10_000);
        let keys: Vec<&str> = report.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["COUNTER", "ONLINE", "TEST"]);
    }

    #[test]
    fn csv_cells_cannot_become_formulas() {
        let report = SalesReport {
            group: Grouping::Item,
            totals: Figures::default(),
            rows: vec![Row {
                key: "x".into(),
                label: "=HYPERLINK(\"evil\")".into(),
                figures: Figures::default(),
            }],
        };
        assert!(sales_csv(&report).contains("\"'=HYPERLINK(\"\"evil\"\")\""));
    }
}
