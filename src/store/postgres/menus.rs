//! SQL for menus: categories, items (archived rather than deleted) and their options, kept as
//! JSON text as in SQLite (PostgreSQL).

use std::collections::HashMap;

use chrono::Utc;
use tokio_postgres::Row;

use super::{Db, Fail, Outbox, PgResult, id, opt_id, restaurants};
use crate::domain::ids::{CategoryId, MenuItemId, RestaurantId};
use crate::domain::menu::{Category, KnownIds, MenuItem, MenuOption};
use crate::domain::menu_labels::ItemLabels;
use crate::domain::restaurant::Restaurant;
use crate::domain::to_millis;
use crate::events::{LiveEvent, MenuEvent};
use crate::store::MenuItemChanges;

const ITEM_COLUMNS: &str =
    "id, name, price, description, image_url, is_available, options, category_id, labels";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, index: usize, what: &str) -> PgResult<T> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text).map_err(|e| Fail::other(format!("{what}: {e}")))
}

fn item_from_row(row: &Row) -> PgResult<(Option<CategoryId>, MenuItem)> {
    let options: Vec<MenuOption> = json_column(row, 6, "menu options")?;
    let labels: ItemLabels = json_column(row, 8, "menu item labels")?;
    Ok((
        opt_id(row, 7)?,
        MenuItem {
            id: Some(id(row, 0)?),
            name: row.try_get(1)?,
            price: row.try_get(2)?,
            description: row.try_get(3)?,
            image_url: row.try_get(4)?,
            is_available: row.try_get(5)?,
            options,
            allergens: labels.allergens,
            origin: labels.origin,
            translations: labels.translations,
        },
    ))
}

/// Run inside a snapshot: never half of a menu that is being replaced.
pub async fn menu(
    db: Db<'_>,
    restaurant: RestaurantId,
) -> PgResult<Option<(Restaurant, Vec<Category>)>> {
    let Some(found) = restaurants::by_id(db, restaurant).await? else {
        return Ok(None);
    };
    let rid = restaurant.to_string();
    let mut categories: Vec<Category> = db
        .query(
            "SELECT id, name, translations FROM menu_categories WHERE restaurant_id = $1
             ORDER BY position",
            &[&rid],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(Category {
                id: Some(id(row, 0)?),
                name: row.try_get(1)?,
                translations: json_column(row, 2, "category translations")?,
                items: Vec::new(),
            })
        })
        .collect::<PgResult<_>>()?;
    let index: HashMap<CategoryId, usize> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.expect("stored categories have ids"), i))
        .collect();
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM menus WHERE restaurant_id = $1 AND archived_at IS NULL
         ORDER BY position"
    );
    for row in db.query(&sql, &[&rid]).await? {
        let (category, item) = item_from_row(&row)?;
        if let Some(&i) = category.as_ref().and_then(|c| index.get(c)) {
            categories[i].items.push(item);
        }
    }
    Ok(Some((found, categories)))
}

pub async fn known_ids(db: Db<'_>, restaurant: RestaurantId) -> PgResult<KnownIds> {
    let rid = restaurant.to_string();
    let mut known = KnownIds::default();
    for row in db
        .query(
            "SELECT id FROM menu_categories WHERE restaurant_id = $1",
            &[&rid],
        )
        .await?
    {
        known.categories.insert(id(&row, 0)?);
    }
    for row in db
        .query("SELECT id FROM menus WHERE restaurant_id = $1", &[&rid])
        .await?
    {
        known.items.insert(id(&row, 0)?);
    }
    Ok(known)
}

fn options_json(options: &[MenuOption]) -> PgResult<String> {
    serde_json::to_string(options).map_err(|e| Fail::other(format!("menu options: {e}")))
}

pub async fn replace(
    db: Db<'_>,
    outbox: &mut Outbox,
    restaurant: RestaurantId,
    categories: &[Category],
) -> PgResult<i64> {
    let now = to_millis(Utc::now());
    let rid = restaurant.to_string();
    // Lock the restaurant first (as every writer of it does), so concurrent replaces queue.
    let revision = restaurants::bump_revision(db, restaurant).await?;
    db.execute(
        "DELETE FROM menu_categories WHERE restaurant_id = $1",
        &[&rid],
    )
    .await?;
    db.execute(
        "UPDATE menus SET archived_at = $2 WHERE restaurant_id = $1 AND archived_at IS NULL",
        &[&rid, &now],
    )
    .await?;
    let mut position = 0i64;
    for (c_pos, category) in categories.iter().enumerate() {
        let category_id = category
            .id
            .expect("validated categories have ids")
            .to_string();
        db.execute(
            "INSERT INTO menu_categories (id, restaurant_id, name, position, translations)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &category_id,
                &rid,
                &category.name,
                &(c_pos as i64),
                &serde_json::to_string(&category.translations).expect("translations serialize"),
            ],
        )
        .await?;
        for item in &category.items {
            position += 1;
            // ON CONFLICT keeps an existing item's id (orders refer to it) and revives it if
            // archived; the WHERE makes sure it only ever touches this restaurant's rows.
            db.execute(
                "INSERT INTO menus (id, restaurant_id, category_id, name, price, description,
                                    image_url, is_available, position, options, archived_at,
                                    created_at, labels)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12)
                 ON CONFLICT (id) DO UPDATE SET
                     category_id = excluded.category_id, name = excluded.name,
                     price = excluded.price, description = excluded.description,
                     image_url = excluded.image_url, is_available = excluded.is_available,
                     position = excluded.position, options = excluded.options,
                     labels = excluded.labels, archived_at = NULL
                 WHERE menus.restaurant_id = excluded.restaurant_id",
                &[
                    &item.id().to_string(),
                    &rid,
                    &category_id,
                    &item.name,
                    &item.price,
                    &item.description,
                    &item.image_url,
                    &item.is_available,
                    &position,
                    &options_json(&item.options)?,
                    &now,
                    &ItemLabels::of(item).to_json(),
                ],
            )
            .await?;
        }
    }
    outbox.push(LiveEvent::Menu(MenuEvent::reload(restaurant, Utc::now())));
    Ok(revision)
}

pub async fn update_item(
    db: Db<'_>,
    outbox: &mut Outbox,
    restaurant: RestaurantId,
    item_id: MenuItemId,
    changes: &MenuItemChanges,
) -> PgResult<Option<MenuItem>> {
    // The restaurant first, as every writer of it: no lock-order deadlocks.
    db.execute(
        "SELECT 1 FROM restaurants WHERE id = $1 FOR UPDATE",
        &[&restaurant.to_string()],
    )
    .await?;
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM menus
         WHERE id = $1 AND restaurant_id = $2 AND archived_at IS NULL FOR UPDATE"
    );
    let Some(row) = db
        .query_opt(&sql, &[&item_id.to_string(), &restaurant.to_string()])
        .await?
    else {
        return Ok(None);
    };
    let (_, mut item) = item_from_row(&row)?;
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
    db.execute(
        "UPDATE menus SET name = $2, price = $3, description = $4, image_url = $5,
                          is_available = $6
         WHERE id = $1",
        &[
            &item_id.to_string(),
            &item.name,
            &item.price,
            &item.description,
            &item.image_url,
            &item.is_available,
        ],
    )
    .await?;
    restaurants::bump_revision(db, restaurant).await?;
    outbox.push(LiveEvent::Menu(MenuEvent::items_changed(
        restaurant,
        std::slice::from_ref(&item),
        Utc::now(),
    )));
    Ok(Some(item))
}
