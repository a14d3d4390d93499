//! What a kitchen ticket says: the order number and table in double size, the time, each line a
//! printer covers with its quantity and options, the customer's request set apart; a 취소
//! ticket for an order withdrawn after printing; a test page.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::escpos::{Ticket, two_columns, wrap};
use crate::domain::order::Order;
use crate::domain::pricing::PricedLine;
use crate::domain::printer::{Printer, TicketKind};

fn rule(ticket: &mut Ticket, columns: usize) {
    ticket.line(&"-".repeat(columns));
}

fn local_time(at: DateTime<Utc>, time_zone: Tz) -> String {
    at.with_timezone(&time_zone)
        .format("%m/%d %H:%M")
        .to_string()
}

/// An order's ticket for `printer`: only `lines` (the ones it covers).
pub fn order_ticket(
    printer: &Printer,
    order: &Order,
    lines: &[&PricedLine],
    kind: TicketKind,
    time_zone: Tz,
    reason: Option<&str>,
) -> Vec<u8> {
    let columns = printer.columns();
    let mut t = Ticket::new(printer.encoding);
    t.centred(true);
    match kind {
        TicketKind::Cancel => {
            t.big(true)
                .bold(true)
                .line("** 주문 취소 **")
                .big(false)
                .bold(false);
        }
        TicketKind::Reprint => {
            t.bold(true).line("[재출력]").bold(false);
        }
        _ => {}
    }
    t.big(true).bold(true).line(&order.order_number);
    if let Some(table) = &order.table_number {
        t.line(&format!("테이블 {table}"));
    }
    t.big(false).bold(false);
    t.line(&local_time(order.created_at, time_zone));
    t.centred(false);
    rule(&mut t, columns);
    for line in lines {
        t.bold(true);
        for text in two_columns(&line.name, &format!("x{}", line.quantity), columns) {
            t.line(&text);
        }
        t.bold(false);
        if !line.options.is_empty() {
            let choices: Vec<&str> = line.options.iter().map(|o| o.choice.as_str()).collect();
            for text in wrap(&format!("  - {}", choices.join(", ")), columns) {
                t.line(&text);
            }
        }
    }
    rule(&mut t, columns);
    if let Some(request) = order
        .special_requests
        .as_deref()
        .filter(|_| kind != TicketKind::Cancel)
    {
        t.bold(true);
        for text in wrap(&format!("요청: {request}"), columns) {
            t.line(&text);
        }
        t.bold(false);
        rule(&mut t, columns);
    }
    if let Some(reason) = reason.filter(|_| kind == TicketKind::Cancel) {
        for text in wrap(&format!("사유: {reason}"), columns) {
            t.line(&text);
        }
    }
    t.cut();
    t.into_bytes()
}

/// The page `printers/{id}/test` prints: Korean text, the width, and what the box calls it.
pub fn test_ticket(printer: &Printer, now: DateTime<Utc>, time_zone: Tz) -> Vec<u8> {
    let columns = printer.columns();
    let mut t = Ticket::new(printer.encoding);
    t.centred(true)
        .big(true)
        .bold(true)
        .line("테스트 출력")
        .big(false)
        .bold(false);
    t.line("OrderSync");
    t.centred(false);
    rule(&mut t, columns);
    t.line(&format!("프린터: {}", printer.name));
    t.line(&format!("주소: {}", printer.address));
    t.line(&format!(
        "용지: {}mm · {}",
        printer.paper_width_mm,
        printer.encoding.as_str()
    ));
    t.line(&local_time(now, time_zone));
    t.line("한글: 가나다라마바사 후라이드 양념");
    rule(&mut t, columns);
    t.cut();
    t.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{GuestId, MenuItemId, OptionId, OrderId, PrinterId, RestaurantId};
    use crate::domain::order::{Customer, OrderStatus, PaymentMode, PaymentStatus};
    use crate::domain::pricing::ChosenOption;
    use crate::domain::printer::{PrintOn, TextEncoding};

    fn decode(bytes: &[u8]) -> String {
        encoding_rs::EUC_KR.decode(bytes).0.into_owned()
    }

    #[test]
    fn a_ticket_says_what_the_kitchen_needs_in_euc_kr() {
        let line = PricedLine {
            menu_id: MenuItemId::new(),
            name: "후라이드 치킨".into(),
            quantity: 2,
            unit_price: 18000,
            options: vec![ChosenOption {
                option_id: OptionId::new(),
                name: "부위".into(),
                choice: "순살".into(),
                price_delta: 2000,
            }],
            line_total: 40000,
        };
        let order = Order {
            id: OrderId::new(),
            order_number: "A012".into(),
            restaurant_id: RestaurantId::new(),
            table_number: Some("5".into()),
            status: OrderStatus::Accepted,
            payment_status: PaymentStatus::Pending,
            payment_mode: PaymentMode::Postpay,
            payment_required: false,
            total_amount: 40000,
            special_requests: Some("양파 빼주세요".into()),
            items: vec![line.clone()],
            estimated_ready_at: None,
            message: None,
            reject_reason: None,
            cancel_reason: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            test_payment: false,
            table_session_id: None,
            customer: Customer::Guest(GuestId::new()),
        };
        let printer = Printer {
            id: PrinterId::new(),
            restaurant_id: order.restaurant_id,
            name: "주방".into(),
            address: "127.0.0.1:9100".into(),
            paper_width_mm: 58,
            encoding: TextEncoding::EucKr,
            category_ids: Vec::new(),
            print_on: PrintOn::Accepted,
        };
        let bytes = order_ticket(
            &printer,
            &order,
            &[&line],
            TicketKind::Order,
            chrono_tz::Asia::Seoul,
            None,
        );
        assert!(bytes.starts_with(&[0x1b, b'@', 0x1c, b'&']));
        assert!(bytes.ends_with(&[0x1b, b'd', 4, 0x1d, b'V', 1]));
        let text = decode(&bytes);
        for expected in [
            "A012",
            "테이블 5",
            "후라이드 치킨",
            "x2",
            "- 순살",
            "요청: 양파 빼주세요",
        ] {
            assert!(text.contains(expected), "{expected} missing from {text:?}");
        }
        let cancel = decode(&order_ticket(
            &printer,
            &order,
            &[&line],
            TicketKind::Cancel,
            chrono_tz::Asia::Seoul,
            Some("품절"),
        ));
        assert!(cancel.contains("주문 취소") && cancel.contains("사유: 품절"));
        assert!(!cancel.contains("요청"));
    }
}
