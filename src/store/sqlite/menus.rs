//! SQL for menus: categories, items (archived rather than deleted) and their options (JSON).

use std::collections::HashMap;

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::restaurants;
use super::users::{json_column, parse_uuid};
use super::writer::Tx;
use crate::domain::ids::{CategoryId, MenuItemId, RestaurantId};
use crate::domain::menu::{Category, KnownIds, MenuItem, MenuOption};
use crate::domain::menu_labels::ItemLabels;
use crate::domain::restaurant::Restaurant;
use crate::domain::to_millis;
use crate::events::{LiveEvent, MenuEvent};
use crate::store::{MenuItemChanges, StoreError, StoreResult};

const ITEM_COLUMNS: &str =
    "id, name, price, description, image_url, is_available, options, category_id, labels";

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<(Option<CategoryId>, MenuItem)> {
    let options: Vec<MenuOption> = json_column(row, 6)?;
    let labels: ItemLabels = json_column(row, 8)?;
    let category: Option<String> = row.get(7)?;
    Ok((
        category.and_then(|c| c.parse().ok()),
        MenuItem {
            id: Some(parse_uuid(row, 0)?),
            name: row.get(1)?,
            price: row.get(2)?,
            description: row.get(3)?,
            image_url: row.get(4)?,
            is_available: row.get(5)?,
            options,
            allergens: labels.allergens,
            origin: labels.origin,
            translations: labels.translations,
        },
    ))
}

pub fn menu(c: &Connection, id: RestaurantId) -> StoreResult<Option<(Restaurant, Vec<Category>)>> {
    // One read transaction: never half of a menu that is being replaced (and cached so).
    let c = &c.unchecked_transaction()?;
    let Some(restaurant) = restaurants::by_id(c, id)? else {
        return Ok(None);
    };
    let mut stmt = c.prepare_cached(
        "SELECT id, name, translations FROM menu_categories WHERE restaurant_id = ?1
         ORDER BY position",
    )?;
    let mut categories: Vec<Category> = stmt
        .query_map([id.to_string()], |row| {
            Ok(Category {
                id: Some(parse_uuid(row, 0)?),
                name: row.get(1)?,
                translations: json_column(row, 2)?,
                items: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let index: HashMap<CategoryId, usize> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.expect("stored categories have ids"), i))
        .collect();
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM menus WHERE restaurant_id = ?1 AND archived_at IS NULL
         ORDER BY position"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let items = stmt.query_map([id.to_string()], item_from_row)?;
    for item in items {
        let (category, item) = item?;
        if let Some(&i) = category.as_ref().and_then(|c| index.get(c)) {
            categories[i].items.push(item);
        }
    }
    Ok(Some((restaurant, categories)))
}

pub fn known_ids(c: &Connection, id: RestaurantId) -> StoreResult<KnownIds> {
    let mut known = KnownIds::default();
    let mut stmt = c.prepare_cached("SELECT id FROM menu_categories WHERE restaurant_id = ?1")?;
    for row in stmt.query_map([id.to_string()], |row| parse_uuid(row, 0))? {
        known.categories.insert(row?);
    }
    let mut stmt = c.prepare_cached("SELECT id FROM menus WHERE restaurant_id = ?1")?;
    for row in stmt.query_map([id.to_string()], |row| parse_uuid(row, 0))? {
        known.items.insert(row?);
    }
    Ok(known)
}

fn options_json(options: &[MenuOption]) -> StoreResult<String> {
    serde_json::to_string(options).map_err(|e| StoreError::Other(e.into()))
}

pub fn replace(c: &Tx<'_>, id: RestaurantId, categories: &[Category]) -> StoreResult<i64> {
    let now = to_millis(Utc::now());
    let rid = id.to_string();
    c.prepare_cached("DELETE FROM menu_categories WHERE restaurant_id = ?1")?
        .execute([&rid])?;
    c.prepare_cached(
        "UPDATE menus SET archived_at = ?2 WHERE restaurant_id = ?1 AND archived_at IS NULL",
    )?
    .execute(params![rid, now])?;
    let mut insert_category = c.prepare_cached(
        "INSERT INTO menu_categories (id, restaurant_id, name, position, translations)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    // ON CONFLICT keeps an existing item's id (orders refer to it) and revives it if archived;
    // the WHERE makes sure it only ever touches this restaurant's rows.
    let mut upsert_item = c.prepare_cached(
        "INSERT INTO menus (id, restaurant_id, category_id, name, price, description, image_url,
                            is_available, position, options, archived_at, created_at, labels)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET
             category_id = excluded.category_id, name = excluded.name, price = excluded.price,
             description = excluded.description, image_url = excluded.image_url,
             is_available = excluded.is_available, position = excluded.position,
             options = excluded.options, labels = excluded.labels, archived_at = NULL
         WHERE menus.restaurant_id = excluded.restaurant_id",
    )?;
    let mut position = 0i64;
    for (c_pos, category) in categories.iter().enumerate() {
        let category_id = category
            .id
            .expect("validated categories have ids")
            .to_string();
        insert_category.execute(params![
            category_id,
            rid,
            category.name,
            c_pos as i64,
            serde_json::to_string(&category.translations).expect("translations serialize"),
        ])?;
        for item in &category.items {
            position += 1;
            upsert_item.execute(params![
                item.id().to_string(),
                rid,
                category_id,
                item.name,
                item.price,
                item.description,
                item.image_url,
                item.is_available,
                position,
                options_json(&item.options)?,
                now,
                ItemLabels::of(item).to_json(),
            ])?;
        }
    }
    c.publish_after_commit(LiveEvent::Menu(MenuEvent::reload(id, Utc::now())));
    restaurants::bump_revision(c, id)
}

pub fn update_item(
    c: &Tx<'_>,
    restaurant: RestaurantId,
    item_id: MenuItemId,
    changes: &MenuItemChanges,
) -> StoreResult<Option<MenuItem>> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM menus
         WHERE id = ?1 AND restaurant_id = ?2 AND archived_at IS NULL"
    );
    let found = c
        .prepare_cached(&sql)?
        .query_row(
            params![item_id.to_string(), restaurant.to_string()],
            item_from_row,
        )
        .optional()?;
    let Some((_, mut item)) = found else {
        return Ok(None);
    };
    if let Some(name) = &changes.name {
        item.name = name.clone();
    }
    if let Some(price) = changes.price {
        item.price = price;
    }
    if let Some(description) = &changes.description {
        item.description = description.clone();
    }
    if let Some(image_url) = &changes.image_url {
        item.image_url = image_url.clone();
    }
    if let Some(available) = changes.is_available {
        item.is_available = available;
    }
    c.prepare_cached(
        "UPDATE menus SET name = ?2, price = ?3, description = ?4, image_url = ?5,
                          is_available = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        item_id.to_string(),
        item.name,
        item.price,
        item.description,
        item.image_url,
        item.is_available,
    ])?;
    restaurants::bump_revision(c, restaurant)?;
    c.publish_after_commit(LiveEvent::Menu(MenuEvent::items_changed(
        restaurant,
        std::slice::from_ref(&item),
        Utc::now(),
    )));
    Ok(Some(item))
}
