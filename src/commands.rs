//! What each subcommand does; `main.rs` parses the command line and calls one of these.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use chrono::Utc;

use crate::auth::password::PasswordHasher;
use crate::cli::{CreateOwnerArgs, ServeArgs, StoreArgs};
use crate::config::Config;
use crate::domain::ids::{RestaurantId, UserId};
use crate::domain::restaurant::RestaurantName;
use crate::domain::user::{Email, PersonName, Role, check_password_policy};
use crate::server::Listeners;
use crate::store::{self, NewRestaurant, NewUser, StoreError};

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(args)?;
    let listeners = Listeners::bind(&config)?;
    crate::run(config, listeners, shutdown_signal()).await
}

/// Resolves on SIGTERM (systemd stop) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}

pub async fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    let url = args.database_url();
    store::connect(&url).await?;
    println!(
        "database is up to date (schema version {})",
        store::sqlite::SCHEMA_VERSION
    );
    Ok(())
}

pub async fn create_owner(args: CreateOwnerArgs) -> anyhow::Result<()> {
    let email = Email::parse(&args.email).map_err(|why| anyhow::anyhow!("--email: {why}"))?;
    let name = PersonName::parse(&args.name).map_err(|why| anyhow::anyhow!("--name: {why}"))?;
    let restaurant = RestaurantName::parse(&args.restaurant)
        .map_err(|why| anyhow::anyhow!("--restaurant: {why}"))?;
    let password = read_password(args.password_stdin)?;
    check_password_policy(&password).map_err(|why| anyhow::anyhow!("password: {why}"))?;

    let store = store::connect(&args.store.database_url()).await?;
    let password_hash = PasswordHasher::new(args.bcrypt_cost)?
        .hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let owner = NewUser {
        id: UserId::new(),
        email,
        password_hash,
        name,
        role: Role::Owner,
        created_at: Utc::now(),
    };
    let restaurant = NewRestaurant {
        id: RestaurantId::new(),
        name: restaurant,
    };
    let (user, restaurant_id) = match store.create_owner(owner, restaurant).await {
        Ok(created) => created,
        Err(StoreError::Conflict(_)) => bail!("an account with email {} already exists", args.email),
        Err(other) => return Err(anyhow::Error::new(other).context("creating the owner")),
    };
    println!("owner_id={}", user.id);
    println!("restaurant_id={restaurant_id}");
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Owner password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Repeat password: ").context("reading the password")?;
    if first != again {
        bail!("the passwords do not match");
    }
    Ok(first)
}
