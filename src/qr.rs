//! Table QR codes: each encodes the table's signed URL. Rendered as SVG by the `qrcode` crate,
//! for the owner's printable page and for `ordersync qr`.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::auth::table::TableSigner;
use crate::domain::error::{Checked, FieldError};
use crate::domain::ids::RestaurantId;
use crate::domain::table::parse_table_label;

pub const MAX_TABLES: usize = 200;

pub struct TableCode {
    pub table: String,
    pub url: String,
    /// A standalone `<svg>` element (no XML declaration), sized by its viewBox.
    pub svg: String,
}

/// Parses `1-20`, `1,2,5-8` or `A1,A2,테라스`.
pub fn parse_tables(spec: &str) -> Checked<Vec<String>> {
    let invalid = |why: &str| FieldError::new("tables", why.to_owned());
    let mut tables = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let range = part.split_once('-').and_then(|(a, b)| {
            Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
        });
        match range {
            Some((from, to)) if from <= to && to - from < MAX_TABLES as u32 => {
                tables.extend((from..=to).map(|n| n.to_string()));
            }
            Some(_) => return Err(invalid("a range must go up, e.g. 1-20")),
            None => tables.push(parse_table_label("tables", part)?),
        }
        if tables.len() > MAX_TABLES {
            return Err(invalid("at most 200 tables at a time"));
        }
    }
    if tables.is_empty() {
        return Err(invalid("name at least one table, e.g. 1-20"));
    }
    Ok(tables)
}

pub fn table_code(
    signer: &TableSigner,
    base_url: &str,
    restaurant: RestaurantId,
    table: &str,
) -> TableCode {
    let url = signer.url(base_url, restaurant, table);
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .expect("a table URL always fits in a QR code");
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    let svg = match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    };
    TableCode {
        table: table.to_owned(),
        url,
        svg,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A printable sheet: A4 pages (210 × 297 mm) of 3 × 4 codes with table labels, stacked.
pub fn sheet_svg(restaurant_name: &str, codes: &[TableCode]) -> String {
    const PER_PAGE: usize = 12;
    let pages = codes.len().div_ceil(PER_PAGE).max(1);
    let height = 297 * pages;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"210mm\" height=\"{height}mm\" \
         viewBox=\"0 0 210 {height}\" font-family=\"sans-serif\">\n"
    );
    out.push_str(&format!(
        "<rect width=\"210\" height=\"{height}\" fill=\"#fff\"/>\n"
    ));
    for (i, code) in codes.iter().enumerate() {
        let (page, slot) = (i / PER_PAGE, i % PER_PAGE);
        let x = 10.0 + (slot % 3) as f64 * 65.0;
        let y = (page * 297) as f64 + 12.0 + (slot / 3) as f64 * 70.0;
        let inner = code.svg.replacen(
            "<svg",
            &format!(
                "<svg x=\"{}\" y=\"{}\" width=\"50\" height=\"50\"",
                x + 7.5,
                y + 8.0
            ),
            1,
        );
        out.push_str(&format!(
            "<g><rect x=\"{x}\" y=\"{y}\" width=\"60\" height=\"66\" rx=\"3\" fill=\"none\" stroke=\"#999\" stroke-width=\"0.3\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"4\" text-anchor=\"middle\">{}</text>{inner}\
             <text x=\"{}\" y=\"{}\" font-size=\"6\" font-weight=\"bold\" text-anchor=\"middle\">테이블 {}</text></g>\n",
            x + 30.0,
            y + 6.0,
            escape(restaurant_name),
            x + 30.0,
            y + 63.0,
            escape(&code.table),
        ));
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_specs_expand() {
        assert_eq!(parse_tables("1-3").unwrap(), ["1", "2", "3"]);
        assert_eq!(
            parse_tables("1, 5-6, 테라스").unwrap(),
            ["1", "5", "6", "테라스"]
        );
        assert!(parse_tables("").is_err());
        assert!(parse_tables("5-1").is_err());
        assert!(parse_tables("1-500").is_err());
    }

    #[test]
    fn a_sheet_holds_one_code_per_table() {
        let signer = TableSigner::new(&[3; 32]);
        let id = RestaurantId::new();
        let codes: Vec<_> = (1..=13)
            .map(|t| table_code(&signer, "https://box:8443", id, &t.to_string()))
            .collect();
        assert!(codes[0].svg.starts_with("<svg"));
        let sheet = sheet_svg("치킨 <집>", &codes);
        assert_eq!(sheet.matches("테이블 ").count(), 13);
        assert!(sheet.contains("height=\"594mm\""), "two A4 pages");
        assert!(sheet.contains("치킨 &lt;집&gt;"));
    }
}
