//! What each subcommand does; `main.rs` parses the command line and calls one of these.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use crate::accounts::{self, NewAccount};
use crate::auth::password::PasswordHasher;
use crate::cli::{CreateOwnerArgs, ServeArgs, StoreArgs};
use crate::config::Config;
use crate::error::AppError;
use crate::server::Listeners;
use crate::store;

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
    let password = read_password(args.password_stdin)?;
    let store = store::connect(&args.store.database_url()).await?;
    let passwords = PasswordHasher::new(args.bcrypt_cost)?;
    let account = NewAccount {
        email: &args.email,
        password: &password,
        name: &args.name,
    };
    let (user, restaurant_id) =
        accounts::create_owner(&*store, &passwords, account, &args.restaurant)
            .await
            .map_err(describe)?;
    println!("owner_id={}", user.id);
    println!("restaurant_id={restaurant_id}");
    Ok(())
}

/// Turns an API-shaped error into a sentence for the terminal.
fn describe(err: AppError) -> anyhow::Error {
    match err {
        AppError::Validation { field, reason } => anyhow::anyhow!("--{field}: {reason}"),
        AppError::Conflict { message, .. } => anyhow::anyhow!("{message}"),
        AppError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
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
