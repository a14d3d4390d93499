//! Creating accounts, shared by the API (customers), the CLI and the demo (owners): input is
//! checked, the password hashed, and the rows written in one transaction.

use chrono::Utc;

use crate::auth::password::PasswordHasher;
use crate::domain::ids::{RestaurantId, UserId};
use crate::domain::restaurant::RestaurantName;
use crate::domain::user::{Email, PersonName, Role, User, check_password_policy};
use crate::error::AppError;
use crate::store::{NewRestaurant, NewUser, Store, StoreError};

pub struct NewAccount<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
}

async fn prepare(
    account: &NewAccount<'_>,
    role: Role,
    passwords: &PasswordHasher,
) -> Result<NewUser, AppError> {
    let email = Email::parse(account.email).map_err(|why| AppError::validation("email", why))?;
    check_password_policy(account.password).map_err(|why| AppError::validation("password", why))?;
    let name = PersonName::parse(account.name).map_err(|why| AppError::validation("name", why))?;
    Ok(NewUser {
        id: UserId::new(),
        email,
        password_hash: passwords.hash(account.password).await?,
        name,
        role,
        restaurant_id: None,
        created_at: Utc::now(),
    })
}

fn email_taken(err: StoreError) -> AppError {
    match err {
        StoreError::Conflict(_) => AppError::Conflict {
            message: "this email is already registered".into(),
            details: Some(serde_json::json!({ "field": "email" })),
        },
        other => other.into(),
    }
}

pub async fn register_customer(
    store: &dyn Store,
    passwords: &PasswordHasher,
    account: NewAccount<'_>,
) -> Result<User, AppError> {
    let user = prepare(&account, Role::Customer, passwords).await?;
    store.insert_user(user).await.map_err(email_taken)
}

/// A STAFF or KITCHEN account working for `restaurant`.
pub async fn create_staff(
    store: &dyn Store,
    passwords: &PasswordHasher,
    account: NewAccount<'_>,
    role: Role,
    restaurant: RestaurantId,
) -> Result<User, AppError> {
    if !role.is_shop_staff() {
        return Err(AppError::validation("role", "STAFF or KITCHEN"));
    }
    let mut user = prepare(&account, role, passwords).await?;
    user.restaurant_id = Some(restaurant);
    store.insert_user(user).await.map_err(email_taken)
}

pub async fn create_owner(
    store: &dyn Store,
    passwords: &PasswordHasher,
    account: NewAccount<'_>,
    restaurant_name: &str,
) -> Result<(User, RestaurantId), AppError> {
    let name = RestaurantName::parse(restaurant_name)
        .map_err(|why| AppError::validation("restaurant", why))?;
    let owner = prepare(&account, Role::Owner, passwords).await?;
    let restaurant = NewRestaurant {
        id: RestaurantId::new(),
        name,
    };
    store
        .create_owner(owner, restaurant)
        .await
        .map_err(email_taken)
}
