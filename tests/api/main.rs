//! The one integration-test binary: every test starts a real server (real SQLite file in a
//! temp dir, real HTTP/HTTPS) on ephemeral ports and drives it as a client would.

mod backend;
mod fake_toss;
mod helpers;
mod printer_sim;
mod process;

mod auth;
mod backups;
mod cli;
mod connections;
mod errors;
mod guests;
mod images;
#[cfg(feature = "postgres")]
mod instances;
mod live;
mod menus;
mod openapi;
mod ops;
mod orders;
mod payments;
mod printing;
mod reports;
mod resilience;
mod shop_network;
mod staff;
mod state_machine;
mod store_contract;
mod tables;
mod upgrades;
mod web;
