//! Tributary's sync engine: brings a user's connections, accounts, positions and orders from the providers into
//! the repository, places and tracks orders, and applies provider webhooks.

mod convert;
mod engine;
mod error;
mod lock;
pub mod merge;
mod report;
pub mod source;

pub use engine::{DEFAULT_CONCURRENCY, SyncEngine};
pub use error::SyncError;
pub use lock::{UserGuard, UserLocks};
pub use report::{AccountReport, ConnectionReport, Outcome, ProviderReport, SyncReport};
