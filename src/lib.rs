// The README is the crate's front page, and each of its ```rust blocks is compiled (and, unless `no_run`, run) as
// a doctest, so the code a service author copies from it is known to build against this version.
#![doc = include_str!("../README.md")]

pub use tributary_domain as domain;
pub use tributary_provider as provider;
pub use tributary_repo as repo;
pub use tributary_sync as sync;

// The crates whose types appear in Tributary's public API, so a service names them through `tributary::` at the
// versions Tributary was built with: `sqlx` for `PgStore::new(PgPool, …)` and `repo::MIGRATOR`, `rust_decimal`
// for every amount, `chrono` for timestamps, `url` for the clients' base URLs, `secrecy` for keys and secrets.
// The axum the webhook routes are built with, for the service that mounts them.
#[cfg(feature = "axum")]
#[doc(no_inline)]
pub use axum;
#[doc(no_inline)]
pub use chrono;
#[doc(no_inline)]
pub use rust_decimal;
#[doc(no_inline)]
pub use rust_decimal::Decimal;
#[doc(no_inline)]
pub use secrecy;
#[doc(no_inline)]
pub use sqlx;
#[doc(no_inline)]
pub use url;
