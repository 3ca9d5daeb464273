//! Tributary's sync engine: brings a user's connections, accounts, positions and orders from the providers into
//! the repository, places and tracks orders, and applies provider webhooks.
//!
//! The engine is the only layer that knows both sides: it is generic over the repository ([`tributary_repo::Store`]:
//! `PgStore` or `MemoryStore`) and holds the provider clients behind the capability traits
//! ([`source::AccountSource`] for syncing, [`source::OrderDesk`] for trading), so it runs the same on
//! PostgreSQL or in memory, with real clients or sandbox-backed ones.
//!
//! | operation | what it does |
//! |---|---|
//! | [`SyncEngine::sync_user`] | connections, accounts, holdings (merged by symbol across providers, replaced atomically) and orders; then each provider's transaction history, incrementally and page by page ([`history`]), and the day's value points; a [`SyncReport`] of what was synced, skipped and failed |
//! | [`SyncEngine::place_order`] | the router picks the provider; impact first; recorded `PENDING`, then with the provider's status; retry-safe through the client order id |
//! | [`SyncEngine::cancel_order`], [`SyncEngine::refresh_order`] | act at the provider, record what it says |
//! | `engine.snaptrade().connect` | registers the user once, returns the portal link (read, trade, reconnect) |
//! | `engine.snaptrade().handle_webhook` | verified, replays acknowledged and not applied twice, acted on per event type |
//! | `engine.plaid().link` | exchanges Plaid Link's public token, stores the Item (token sealed) and syncs; `update_link_token` repairs an Item |
//! | `engine.plaid().unlink_item`, `engine.snaptrade().disconnect`, [`SyncEngine::forget_user`] | the provider told first (an Item removed, a connection or the SnapTrade user deleted), then the rows changed in one unit; idempotent, and a call cut short is finished by the same call |
//! | [`SyncEngine::sync_history`], [`SyncEngine::value_history`] | a history sync alone (what the providers' transaction webhooks do); the value series |
//! | [`SyncEngine::sync_due`] | syncs the users due (oldest first, healthy connections only) within the providers' request budgets |
//! | [`SyncEngine::portfolio_mode`], [`SyncEngine::unified_accounts`] | the schema's function and view |
//!
//! One user's operations never interleave: each holds the user's lock ([`UserLocks`]). Within one sync,
//! provider calls run concurrently up to [`SyncEngine::with_concurrency`]. A provider that fails is reported
//! and the holdings of its accounts are kept as they were; a position a provider stops reporting disappears.
//!
//! Each provider joins through one [`ProviderPlugin`] (its source, and its desk with the gate that admits
//! accounts) given to [`SyncEngine::with_provider`]; the engine holds no provider's name. Each provider's folder
//! (`snaptrade`, `plaid`, `alpaca`, one per Cargo feature) has its plugin, a one-line `with_snaptrade` /
//! `with_plaid` / `with_alpaca`, and its own flows beside sync (`engine.snaptrade()`, `engine.plaid()`). Any
//! [`source::AccountSource`] / [`source::OrderDesk`] can also be added alone. A refusal of the router (a provider
//! switched off or compiled out, a read-only connection) is [`SyncError::Refused`]. With no provider, a sync
//! only reads the store:
//!
//! ```
//! use std::sync::Arc;
//! use tributary_domain::{FeatureFlags, PortfolioMode};
//! use tributary_provider::router::ProviderRouter;
//! use tributary_repo::MemoryStore;
//! use tributary_sync::SyncEngine;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let user = store.create_user();
//! let engine = SyncEngine::new(Arc::new(store), ProviderRouter::new(FeatureFlags::default()))
//!     .with_concurrency(4);
//! let report = engine.sync_user(user).await?;
//! assert!(report.failures().is_empty());
//! assert_eq!(engine.portfolio_mode(user).await?.mode, PortfolioMode::None);
//! # Ok::<(), tributary_sync::SyncError>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "alpaca")]
pub mod alpaca;
mod convert;
mod engine;
mod error;
pub mod history;
#[cfg(any(feature = "snaptrade", feature = "plaid"))]
mod inbox;
mod lifecycle;
mod lock;
pub mod merge;
mod orders;
#[cfg(feature = "plaid")]
pub mod plaid;
mod plugin;
mod report;
#[cfg(all(feature = "axum", any(feature = "snaptrade", feature = "plaid")))]
pub mod routes;
mod schedule;
#[cfg(feature = "snaptrade")]
pub mod snaptrade;
pub mod source;

pub use engine::{DEFAULT_CONCURRENCY, SyncEngine};
pub use error::{OrderRefusal, SyncError, webhook_status};
pub use lifecycle::{ProviderRemoval, UserForgotten};
pub use lock::{UserGuard, UserLocks};
pub use orders::OrderPlacement;
#[cfg(feature = "plaid")]
pub use plaid::PlaidWebhookOutcome;
pub use plugin::ProviderPlugin;
pub use report::{
    AccountHistory, AccountReport, ConnectionReport, FailedPart, Failure, HistoryReport, Outcome,
    ProviderReport, ReportedFailure, SyncReport, ValuePointsReport,
};
pub use schedule::DueSyncs;
#[cfg(feature = "snaptrade")]
pub use snaptrade::{
    MAX_WEBHOOK_BODY, RegisteredSnapTradeUser, WebhookOutcome, webhook_http_status,
};
