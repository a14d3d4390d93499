//! The `ordersync` command: parse the command line, set up logging, run a subcommand.

use std::process::ExitCode;

use clap::Parser;
use ordersync::cli::{Cli, Command};
use ordersync::commands;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::prelude::*;

// Profiling the menu GET put glibc's malloc at about 15 % of the server's CPU (frees,
// consolidation, and `madvise` calls that make the other core flush its TLB); mimalloc's
// per-thread free lists cost a fraction of that. Built without transparent huge pages
// (`no_thp`): with them the idle box held 15 MB more.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(production: bool) {
    // Empty pieces (`RUST_LOG=`, `info,`) would be read by `Targets` as "everything at TRACE".
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let pieces: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let spec = match pieces.as_slice() {
        [] => "info".to_owned(),
        pieces => pieces.join(","),
    };
    // Levels per target (`info`, `ordersync=debug,tower_http=warn`) need no per-span work;
    // `EnvFilter` keeps books on every span even without span directives (about 2 % of a
    // cached menu GET), so it only reads what `Targets` cannot (span and field directives).
    let (targets, env_filter) = match spec.parse::<Targets>() {
        Ok(targets) => (Some(targets), None),
        Err(_) => {
            let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
            (None, Some(filter))
        }
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let output = tracing_subscriber::fmt::layer()
        // Colour codes only for a person at a terminal, not for a journal or a file.
        .with_ansi(terminal)
        .with_writer(ordersync::logging::BatchedStderr::start());
    let output = if production {
        output
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    } else if terminal {
        output.boxed()
    } else {
        if targets.is_some() {
            ordersync::logging::use_plain_output();
        }
        output
            .fmt_fields(ordersync::logging::PlainFields)
            .event_format(ordersync::logging::PlainLines)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(output)
        .with(targets)
        .with(env_filter)
        .init();
}

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth knowing about.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("warning: ignoring .env: {err}");
    }
    let cli = Cli::parse();
    // `serve --env` (or ENV, which the flag reads) decides; other commands follow ENV.
    let environment = match &cli.command {
        Command::Serve(args) => args.environment.clone(),
        _ => std::env::var("ENV").unwrap_or_default(),
    };
    init_logging(matches!(
        environment.to_ascii_lowercase().as_str(),
        "production" | "prod"
    ));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => commands::serve(*args).await,
            Command::Migrate(args) => commands::migrate(args).await,
            Command::CreateOwner(args) => commands::create_owner(args).await,
            Command::CreateStaff(args) => commands::create_staff(args).await,
            Command::Doctor(args) => {
                let healthy = commands::doctor(args).await?;
                if !healthy {
                    ordersync::logging::flush();
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::TableUrl(args) => commands::table_url(args).await,
            Command::Menu(command) => commands::menu(command).await,
            Command::Qr(args) => commands::qr(args).await,
            Command::Printer(command) => commands::printer(command).await,
            Command::Backup(args) => commands::backup(args).await,
            Command::Restore(args) => commands::restore(args).await,
        }
    });
    let code = match &result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    };
    // Log lines still waiting for the writer thread, then the error where a person sees it.
    ordersync::logging::flush();
    if let Err(err) = &result {
        eprintln!("error: {err:#}");
    }
    code
}
