//! The menu: the JSON document of the seed's `GET /restaurants/{id}/menu` (also what `PUT
//! /restaurants/me/menu`, import and export use) and the rules a document must follow.
//!
//! Options keep the seed's shape (`choices` strings, `required`) with two additive optional
//! fields: `multiple` (several choices may be picked) and `price_deltas` (choice → extra KRW).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::error::{Checked, FieldError};
use super::ids::{CategoryId, MenuItemId, OptionId, RestaurantId};
use super::menu_labels::{
    Allergen, TranslationRules, Translations, check_origin, check_translations,
};
use super::order::PaymentMode;

pub const MAX_PRICE: i64 = 10_000_000;
pub const MAX_PRICE_DELTA: i64 = 1_000_000;
const MAX_CATEGORIES: usize = 50;
const MAX_ITEMS: usize = 500;
const MAX_OPTIONS_PER_ITEM: usize = 20;
const MAX_CHOICES: usize = 30;

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

/// The restaurant header of the menu document (the seed's three fields, plus how guests pay).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MenuRestaurant {
    pub id: RestaurantId,
    pub name: String,
    pub table_ordering_enabled: bool,
    /// The payment mode orders get now: POSTPAY while online payment is off on the box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_mode: Option<PaymentMode>,
    /// What the status page says when an order is ready; absent: the page's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_message: Option<String>,
    /// Online payment is interrupted (the owner switched to the counter during an internet
    /// outage): the cart says why it is paid at the counter.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counter_payment: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MenuDocument {
    /// Present in what the server sends; ignored in what it receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restaurant: Option<MenuRestaurant>,
    /// The language of a translated document (`?lang=en`); absent: Korean, with translations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    pub categories: Vec<Category>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Category {
    /// Omitted for a new category; the server assigns one.
    #[serde(default)]
    pub id: Option<CategoryId>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
    #[serde(default)]
    pub items: Vec<MenuItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MenuItem {
    /// Omitted for a new item. Kept across edits so orders and open carts still resolve.
    #[serde(default)]
    pub id: Option<MenuItemId>,
    pub name: String,
    pub price: i64,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default = "yes")]
    pub is_available: bool,
    #[serde(default)]
    pub options: Vec<MenuOption>,
    /// Allergen codes (see `menu_labels::Allergen`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allergens: Vec<Allergen>,
    /// 원산지, e.g. "닭고기: 국내산".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MenuOption {
    #[serde(default)]
    pub id: Option<OptionId>,
    pub name: String,
    pub choices: Vec<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiple: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub price_deltas: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Translations::is_empty")]
    pub translations: Translations,
    /// In a translated document only: each choice's label in that language (orders still name
    /// `choices`). Ignored in what the server receives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choice_labels: Vec<String>,
}

impl MenuItem {
    pub fn id(&self) -> MenuItemId {
        self.id.expect("validated items have ids")
    }

    pub fn option(&self, id: OptionId) -> Option<&MenuOption> {
        self.options.iter().find(|o| o.id == Some(id))
    }
}

impl MenuOption {
    pub fn delta(&self, choice: &str) -> i64 {
        self.price_deltas.get(choice).copied().unwrap_or(0)
    }
}

/// Ids the restaurant already uses; a document may only reuse these (or omit ids).
#[derive(Default)]
pub struct KnownIds {
    pub categories: HashSet<CategoryId>,
    pub items: HashSet<MenuItemId>,
}

fn text(field: &str, value: &str, what: &str, max: usize) -> Checked<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, format!("{what} must not be empty")));
    }
    if trimmed.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("{what} must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("{what} must not contain control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

pub fn check_price(field: &str, price: i64) -> Checked<i64> {
    if !(0..=MAX_PRICE).contains(&price) {
        return Err(FieldError::new(
            field,
            format!("price must be between 0 and {MAX_PRICE} won"),
        ));
    }
    Ok(price)
}

pub fn check_item_name(field: &str, name: &str) -> Checked<String> {
    text(field, name, "name", 100)
}

pub fn check_description(field: &str, description: &str) -> Checked<String> {
    let trimmed = description.trim();
    if trimmed.chars().count() > 500 {
        return Err(FieldError::new(
            field,
            "description must be at most 500 characters",
        ));
    }
    Ok(trimmed.to_owned())
}

pub fn check_image_url(field: &str, url: Option<&str>) -> Checked<Option<String>> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let allowed = url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/');
    if !allowed || url.len() > 500 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            "image_url must be an http(s) URL or a path starting with /, at most 500 characters",
        ));
    }
    Ok(Some(url.to_owned()))
}

fn check_option(
    field: &str,
    option: MenuOption,
    seen: &mut HashSet<OptionId>,
) -> Checked<MenuOption> {
    let id = option.id.unwrap_or_default();
    if !seen.insert(id) {
        return Err(FieldError::new(
            format!("{field}.id"),
            "option id appears twice in this item",
        ));
    }
    let name = text(&format!("{field}.name"), &option.name, "option name", 50)?;
    if option.choices.is_empty() {
        return Err(FieldError::new(
            format!("{field}.choices"),
            "an option needs at least one choice",
        ));
    }
    if option.choices.len() > MAX_CHOICES {
        return Err(FieldError::new(
            format!("{field}.choices"),
            format!("an option may have at most {MAX_CHOICES} choices"),
        ));
    }
    let mut choices = Vec::with_capacity(option.choices.len());
    for (i, choice) in option.choices.iter().enumerate() {
        let choice = text(&format!("{field}.choices[{i}]"), choice, "choice", 50)?;
        if choices.contains(&choice) {
            return Err(FieldError::new(
                format!("{field}.choices[{i}]"),
                "choices must be unique",
            ));
        }
        choices.push(choice);
    }
    let mut price_deltas = BTreeMap::new();
    for (choice, delta) in option.price_deltas {
        let key = choice.trim().to_owned();
        let delta_field = format!("{field}.price_deltas.{key}");
        if !choices.contains(&key) {
            return Err(FieldError::new(
                delta_field,
                "price_deltas may only name existing choices",
            ));
        }
        if !(0..=MAX_PRICE_DELTA).contains(&delta) {
            return Err(FieldError::new(
                delta_field,
                format!("a price delta must be between 0 and {MAX_PRICE_DELTA} won"),
            ));
        }
        if delta != 0 {
            price_deltas.insert(key, delta);
        }
    }
    let translations = check_translations(
        field,
        option.translations,
        &TranslationRules {
            name_max: 50,
            description: false,
            choices: Some(&choices),
        },
    )?;
    Ok(MenuOption {
        id: Some(id),
        name,
        choices,
        required: option.required,
        multiple: option.multiple,
        price_deltas,
        translations,
        choice_labels: Vec::new(),
    })
}

fn check_item(
    field: &str,
    item: MenuItem,
    known: &KnownIds,
    seen: &mut HashSet<MenuItemId>,
) -> Checked<MenuItem> {
    let id = match item.id {
        Some(id) if !known.items.contains(&id) => {
            return Err(FieldError::new(
                format!("{field}.id"),
                "unknown item id; omit the id to add a new item",
            ));
        }
        Some(id) => id,
        None => MenuItemId::new(),
    };
    if !seen.insert(id) {
        return Err(FieldError::new(
            format!("{field}.id"),
            "item appears twice in the menu",
        ));
    }
    if item.options.len() > MAX_OPTIONS_PER_ITEM {
        return Err(FieldError::new(
            format!("{field}.options"),
            format!("an item may have at most {MAX_OPTIONS_PER_ITEM} options"),
        ));
    }
    let mut option_ids = HashSet::new();
    let options = item
        .options
        .into_iter()
        .enumerate()
        .map(|(i, o)| check_option(&format!("{field}.options[{i}]"), o, &mut option_ids))
        .collect::<Checked<Vec<_>>>()?;
    let mut allergens = item.allergens;
    allergens.sort_unstable();
    allergens.dedup();
    Ok(MenuItem {
        id: Some(id),
        allergens,
        origin: check_origin(&format!("{field}.origin"), item.origin.as_deref())?,
        translations: check_translations(
            field,
            item.translations,
            &TranslationRules {
                name_max: 100,
                description: true,
                choices: None,
            },
        )?,
        name: check_item_name(&format!("{field}.name"), &item.name)?,
        price: check_price(&format!("{field}.price"), item.price)?,
        description: check_description(&format!("{field}.description"), &item.description)?,
        image_url: check_image_url(&format!("{field}.image_url"), item.image_url.as_deref())?,
        is_available: item.is_available,
        options,
    })
}

/// Checks a whole menu document and assigns ids to new categories, items and options.
pub fn validate_menu(doc: MenuDocument, known: &KnownIds) -> Checked<Vec<Category>> {
    if doc.categories.len() > MAX_CATEGORIES {
        return Err(FieldError::new(
            "categories",
            format!("a menu may have at most {MAX_CATEGORIES} categories"),
        ));
    }
    let item_count: usize = doc.categories.iter().map(|c| c.items.len()).sum();
    if item_count > MAX_ITEMS {
        return Err(FieldError::new(
            "categories",
            format!("a menu may have at most {MAX_ITEMS} items"),
        ));
    }
    let mut category_ids = HashSet::new();
    let mut item_ids = HashSet::new();
    let mut categories = Vec::with_capacity(doc.categories.len());
    for (c, category) in doc.categories.into_iter().enumerate() {
        let field = format!("categories[{c}]");
        let id = match category.id {
            Some(id) if !known.categories.contains(&id) => {
                return Err(FieldError::new(
                    format!("{field}.id"),
                    "unknown category id; omit the id to add a new category",
                ));
            }
            Some(id) => id,
            None => CategoryId::new(),
        };
        if !category_ids.insert(id) {
            return Err(FieldError::new(
                format!("{field}.id"),
                "category appears twice",
            ));
        }
        let name = text(
            &format!("{field}.name"),
            &category.name,
            "category name",
            50,
        )?;
        let items = category
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| check_item(&format!("{field}.items[{i}]"), item, known, &mut item_ids))
            .collect::<Checked<Vec<_>>>()?;
        let translations = check_translations(
            &field,
            category.translations,
            &TranslationRules {
                name_max: 50,
                description: false,
                choices: None,
            },
        )?;
        categories.push(Category {
            id: Some(id),
            name,
            translations,
            items,
        });
    }
    Ok(categories)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: serde_json::Value) -> MenuDocument {
        serde_json::from_value(value).unwrap()
    }

    fn error_field(value: serde_json::Value) -> String {
        validate_menu(doc(value), &KnownIds::default())
            .unwrap_err()
            .field
    }

    #[test]
    fn a_valid_document_gets_ids_and_defaults() {
        let categories = validate_menu(
            doc(json!({"categories": [{"name": " 치킨 ", "items": [
                {"name": "후라이드", "price": 18000, "options": [
                    {"name": "맛", "choices": ["순한맛", "매운맛"], "required": true,
                     "price_deltas": {"매운맛": 500, "순한맛": 0}}]}]}]})),
            &KnownIds::default(),
        )
        .unwrap();
        let item = &categories[0].items[0];
        assert_eq!(categories[0].name, "치킨");
        assert!(item.id.is_some() && item.is_available);
        assert_eq!(item.options[0].delta("매운맛"), 500);
        assert!(!item.options[0].price_deltas.contains_key("순한맛"));
    }

    #[test]
    fn rules_name_the_offending_field() {
        let item = |extra: serde_json::Value| {
            let mut base = json!({"name": "x", "price": 1000});
            base.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"categories": [{"name": "c", "items": [base]}]})
        };
        assert_eq!(
            error_field(item(json!({"name": " "}))),
            "categories[0].items[0].name"
        );
        assert_eq!(
            error_field(item(json!({"price": -1}))),
            "categories[0].items[0].price"
        );
        assert_eq!(
            error_field(item(json!({"options": [{"name": "o", "choices": []}]}))),
            "categories[0].items[0].options[0].choices"
        );
        assert_eq!(
            error_field(item(
                json!({"options": [{"name": "o", "choices": ["a", "a"]}]})
            )),
            "categories[0].items[0].options[0].choices[1]"
        );
        assert_eq!(
            error_field(item(
                json!({"options": [{"name": "o", "choices": ["a"], "price_deltas": {"b": 100}}]})
            )),
            "categories[0].items[0].options[0].price_deltas.b"
        );
        assert_eq!(
            error_field(item(json!({"id": MenuItemId::new()}))),
            "categories[0].items[0].id"
        );
        assert_eq!(
            error_field(json!({"categories": [{"name": ""}]})),
            "categories[0].name"
        );
    }

    #[test]
    fn known_ids_are_kept() {
        let id = MenuItemId::new();
        let known = KnownIds {
            items: HashSet::from([id]),
            ..KnownIds::default()
        };
        let categories = validate_menu(
            doc(json!({"categories": [{"name": "c", "items": [{"id": id, "name": "x", "price": 1}]}]})),
            &known,
        )
        .unwrap();
        assert_eq!(categories[0].items[0].id, Some(id));
        let twice = validate_menu(
            doc(json!({"categories": [{"name": "c", "items": [
                {"id": id, "name": "x", "price": 1}, {"id": id, "name": "y", "price": 1}]}]})),
            &known,
        );
        assert_eq!(twice.unwrap_err().field, "categories[0].items[1].id");
    }
}
