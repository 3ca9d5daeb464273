//! Tributary's repository layer: the SQL schema every other layer stands on, and typed access to it.
//!
//! [`MIGRATOR`] applies the workspace's `migrations/` folder (the same files Supabase users apply with psql), and
//! [`schema_check::verify_schema`] tells whether a database holds that schema.

mod batch;
mod error;
mod memory;
mod pg;
mod repository;
pub mod schema_check;
pub mod secret;

pub use error::RepoError;
pub use memory::MemoryStore;
pub use pg::PgStore;
pub use repository::{
    AccountRepository, ConnectionRepository, ConnectionStatusChange, HoldingRepository,
    HoldingsReplaced, OrderRepository, PortfolioRepository, PortfolioSummary,
    SnapTradeUserRepository, Store, UnifiedAccount,
};
#[cfg(feature = "mock")]
pub use repository::{
    MockAccountRepository, MockConnectionRepository, MockHoldingRepository, MockOrderRepository,
    MockPortfolioRepository, MockSnapTradeUserRepository,
};
pub use secret::{Keyring, SecretError, SecretKey};

/// Every migration in the workspace's `migrations/` folder, in order: the same files users apply to Supabase.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
