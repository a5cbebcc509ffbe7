//! The code every service apigen generates shares: everything that does not depend on the
//! contract.
//!
//! A generated project holds what its contract decides — models, validation tables,
//! security requirements, routes, repositories, the default implementation of each
//! operation, migrations and tests — and reaches this crate for the rest: the guard that
//! enforces every requirement ([`auth`]), accounts, sessions and API keys ([`accounts`]),
//! rate limits ([`ratelimit`]), the outer middleware ([`edge`]), the validation engine
//! ([`validation`]) and the extractors built on it ([`extract`]), the one error type and its
//! formats ([`error`]), paging ([`pagination`]), the database pool and migrations ([`db`]),
//! health, metrics and docs routes, configuration, the command line and the test harness.
//!
//! What the contract decides reaches this crate as data: one [`Service`] static (the crate
//! name, the error format, the roles, the served document, the migrations), the
//! [`auth::Requirement`] static of each operation, the [`validation::Schema`] tables. The
//! database is a cargo feature (`sqlite` or `postgres`, exactly one), and so are Redis
//! (`redis`) and the regex engine (`unicode-patterns`).
//!
//! **Invariant:** nothing here names a contract, a resource or an operation.

#[cfg(all(feature = "sqlite", feature = "postgres"))]
compile_error!("apigen-runtime: enable exactly one of the `sqlite` and `postgres` features");
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("apigen-runtime: enable one of the `sqlite` and `postgres` features");

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod conditional;
pub mod config;
pub mod db;
pub mod docs;
pub mod edge;
pub mod error;
pub mod extract;
#[cfg(test)]
mod fixture;
pub mod health;
pub mod idempotency;
pub mod migrations;
pub mod observability;
#[cfg(feature = "otel")]
pub mod otel;
pub mod pagination;
pub mod patch;
pub mod ratelimit;
pub mod respond;
pub mod revocation;
pub mod server;
pub mod service;
pub mod state;
pub mod testing;
pub mod validation;
pub mod write;

pub use auth::Caller;
pub use config::Config;
pub use error::ApiError;
pub use server::app;
pub use service::{Paths, Service};
pub use state::AppState;
