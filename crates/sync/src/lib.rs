//! Tributary's sync engine: brings a user's connections, accounts, positions and orders from the providers into
//! the repository, places and tracks orders, and applies provider webhooks.

mod convert;
mod engine;
mod error;
mod ledger;
mod lock;
pub mod merge;
mod orders;
mod report;
#[cfg(feature = "snaptrade")]
mod snaptrade;
pub mod source;

pub use engine::{DEFAULT_CONCURRENCY, SyncEngine};
pub use error::SyncError;
pub use lock::{UserGuard, UserLocks};
pub use orders::OrderPlacement;
pub use report::{AccountReport, ConnectionReport, Outcome, ProviderReport, SyncReport};
#[cfg(feature = "snaptrade")]
pub use snaptrade::{RegisteredSnapTradeUser, WebhookOutcome};
