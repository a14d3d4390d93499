//! Server-side pricing of an order request: every line is checked against the current menu and
//! priced as quantity × (item price + chosen options' deltas). Nothing the client says about
//! money is looked at.

use serde::{Deserialize, Serialize};

use super::error::{Checked, FieldError};
use super::ids::{MenuItemId, OptionId};
use super::menu::MenuItem;

pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY: i64 = 99;
pub const MAX_SPECIAL_REQUEST_CHARS: usize = 200;

/// One line as the client sent it. Ids stay strings here so that a malformed id is reported
/// as a bad field rather than as unreadable JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LineRequest {
    pub menu_id: String,
    pub quantity: i64,
    #[serde(default)]
    pub options: Vec<ChoiceRequest>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChoiceRequest {
    pub option_id: String,
    pub choice: String,
}

/// The snapshot an order line keeps of what was ordered, at the price it was ordered for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricedLine {
    pub menu_id: MenuItemId,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub options: Vec<ChosenOption>,
    pub line_total: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChosenOption {
    pub option_id: OptionId,
    pub name: String,
    pub choice: String,
    pub price_delta: i64,
}

pub fn check_special_requests(text: Option<&str>) -> Checked<Option<String>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_SPECIAL_REQUEST_CHARS {
        return Err(FieldError::new(
            "special_requests",
            format!("special requests must be at most {MAX_SPECIAL_REQUEST_CHARS} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// Prices every line; `lookup` finds a menu item of the ordering restaurant.
pub fn price_lines<'m>(
    lines: &[LineRequest],
    lookup: impl Fn(MenuItemId) -> Option<&'m MenuItem>,
) -> Checked<(Vec<PricedLine>, i64)> {
    if lines.is_empty() {
        return Err(FieldError::new("items", "an order needs at least one item"));
    }
    if lines.len() > MAX_LINES {
        return Err(FieldError::new(
            "items",
            format!("an order may have at most {MAX_LINES} lines"),
        ));
    }
    let mut priced = Vec::with_capacity(lines.len());
    let mut total = 0i64;
    for (index, line) in lines.iter().enumerate() {
        let line = price_line(&format!("items[{index}]"), line, &lookup)?;
        total += line.line_total;
        priced.push(line);
    }
    Ok((priced, total))
}

fn price_line<'m>(
    field: &str,
    line: &LineRequest,
    lookup: &impl Fn(MenuItemId) -> Option<&'m MenuItem>,
) -> Checked<PricedLine> {
    let item = line
        .menu_id
        .parse::<MenuItemId>()
        .ok()
        .and_then(lookup)
        .ok_or_else(|| FieldError::new(format!("{field}.menu_id"), "no such item on this menu"))?;
    if !item.is_available {
        return Err(FieldError::new(
            format!("{field}.menu_id"),
            format!("{} is sold out", item.name),
        ));
    }
    if !(1..=MAX_QUANTITY).contains(&line.quantity) {
        return Err(FieldError::new(
            format!("{field}.quantity"),
            format!("quantity must be between 1 and {MAX_QUANTITY}"),
        ));
    }
    let mut chosen: Vec<ChosenOption> = Vec::with_capacity(line.options.len());
    for (o, request) in line.options.iter().enumerate() {
        let option_field = format!("{field}.options[{o}]");
        let option = request
            .option_id
            .parse::<OptionId>()
            .ok()
            .and_then(|id| item.option(id))
            .ok_or_else(|| {
                FieldError::new(
                    format!("{option_field}.option_id"),
                    "this item has no such option",
                )
            })?;
        let option_id = option.id.expect("validated options have ids");
        if !option.choices.iter().any(|c| c == &request.choice) {
            return Err(FieldError::new(
                format!("{option_field}.choice"),
                format!("{:?} is not a choice of {}", request.choice, option.name),
            ));
        }
        let repeats = chosen.iter().filter(|c| c.option_id == option_id);
        let repeated_choice = repeats.clone().any(|c| c.choice == request.choice);
        if repeated_choice || (!option.multiple && repeats.count() > 0) {
            return Err(FieldError::new(
                format!("{option_field}.option_id"),
                format!("{} may be chosen only once", option.name),
            ));
        }
        chosen.push(ChosenOption {
            option_id,
            name: option.name.clone(),
            choice: request.choice.clone(),
            price_delta: option.delta(&request.choice),
        });
    }
    if let Some(missing) = item
        .options
        .iter()
        .find(|o| o.required && !chosen.iter().any(|c| Some(c.option_id) == o.id))
    {
        return Err(FieldError::new(
            format!("{field}.options"),
            format!("{} is required", missing.name),
        ));
    }
    let unit_price = item.price + chosen.iter().map(|c| c.price_delta).sum::<i64>();
    Ok(PricedLine {
        menu_id: item.id(),
        name: item.name.clone(),
        quantity: line.quantity,
        unit_price,
        options: chosen,
        line_total: unit_price * line.quantity,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::menu::MenuOption;

    fn chicken() -> MenuItem {
        MenuItem {
            id: Some(MenuItemId::new()),
            name: "후라이드".into(),
            price: 18_000,
            description: String::new(),
            image_url: None,
            is_available: true,
            options: vec![
                MenuOption {
                    id: Some(OptionId::new()),
                    name: "맛".into(),
                    choices: vec!["순한맛".into(), "매운맛".into()],
                    required: true,
                    multiple: false,
                    price_deltas: BTreeMap::from([("매운맛".into(), 500)]),
                    translations: Default::default(),
                    choice_labels: Vec::new(),
                },
                MenuOption {
                    id: Some(OptionId::new()),
                    name: "추가".into(),
                    choices: vec!["치즈".into(), "떡".into()],
                    required: false,
                    multiple: true,
                    price_deltas: BTreeMap::from([("치즈".into(), 2_000), ("떡".into(), 1_000)]),
                    translations: Default::default(),
                    choice_labels: Vec::new(),
                },
            ],
            allergens: Vec::new(),
            origin: None,
            translations: Default::default(),
        }
    }

    fn line(item: &MenuItem, quantity: i64, choices: &[(usize, &str)]) -> LineRequest {
        LineRequest {
            menu_id: item.id().to_string(),
            quantity,
            options: choices
                .iter()
                .map(|(o, c)| ChoiceRequest {
                    option_id: item.options[*o].id.unwrap().to_string(),
                    choice: (*c).into(),
                })
                .collect(),
        }
    }

    fn price(item: &MenuItem, lines: &[LineRequest]) -> Checked<(Vec<PricedLine>, i64)> {
        price_lines(lines, |id| (item.id() == id).then_some(item))
    }

    #[test]
    fn totals_are_quantity_times_price_plus_deltas() {
        let item = chicken();
        let (lines, total) = price(
            &item,
            &[
                line(&item, 2, &[(0, "매운맛"), (1, "치즈"), (1, "떡")]),
                line(&item, 1, &[(0, "순한맛")]),
            ],
        )
        .unwrap();
        assert_eq!(lines[0].unit_price, 18_000 + 500 + 2_000 + 1_000);
        assert_eq!(lines[0].line_total, 2 * 21_500);
        assert_eq!(lines[1].line_total, 18_000);
        assert_eq!(total, 43_000 + 18_000);
    }

    #[test]
    fn every_rule_names_its_field() {
        let item = chicken();
        let field = |lines: &[LineRequest]| price(&item, lines).unwrap_err().field;
        assert_eq!(field(&[]), "items");
        assert_eq!(field(&vec![line(&item, 1, &[(0, "순한맛")]); 51]), "items");
        assert_eq!(
            field(&[line(&item, 0, &[(0, "순한맛")])]),
            "items[0].quantity"
        );
        assert_eq!(
            field(&[line(&item, 100, &[(0, "순한맛")])]),
            "items[0].quantity"
        );
        assert_eq!(field(&[line(&item, 1, &[])]), "items[0].options");
        assert_eq!(
            field(&[
                line(&item, 1, &[(0, "순한맛")]),
                line(&item, 1, &[(0, "아주매운맛")])
            ]),
            "items[1].options[0].choice"
        );
        assert_eq!(
            field(&[line(&item, 1, &[(0, "순한맛"), (0, "매운맛")])]),
            "items[0].options[1].option_id"
        );
        assert_eq!(
            field(&[line(&item, 1, &[(0, "순한맛"), (1, "치즈"), (1, "치즈")])]),
            "items[0].options[2].option_id"
        );
        let mut unknown = line(&item, 1, &[(0, "순한맛")]);
        unknown.menu_id = MenuItemId::new().to_string();
        assert_eq!(field(&[unknown]), "items[0].menu_id");
        let mut garbage = line(&item, 1, &[(0, "순한맛")]);
        garbage.options[0].option_id = "nope".into();
        assert_eq!(field(&[garbage]), "items[0].options[0].option_id");
        let mut sold_out = item.clone();
        sold_out.is_available = false;
        let err = price(&sold_out, &[line(&sold_out, 1, &[(0, "순한맛")])]).unwrap_err();
        assert_eq!(err.field, "items[0].menu_id");
    }

    #[test]
    fn special_requests_are_bounded() {
        assert_eq!(check_special_requests(Some("  ")).unwrap(), None);
        assert!(check_special_requests(Some(&"가".repeat(200))).is_ok());
        assert_eq!(
            check_special_requests(Some(&"가".repeat(201)))
                .unwrap_err()
                .field,
            "special_requests"
        );
    }
}
