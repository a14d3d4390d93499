//! Authentication: JWT access/refresh tokens, password hashing, revocation, and the extractors
//! handlers use to say who may call them (`AuthUser`, `Customer`, `Owner`).

pub mod extract;
pub mod password;
pub mod table;
pub mod tokens;

pub use extract::{AuthUser, Crew, Customer, Owner, Staff};
