//! Tributary's repository layer: typed access to the schema in `migrations/`, from PostgreSQL in production and
//! from a mock or an in-memory twin in other services' tests.
//!
//! One trait per aggregate — [`AccountRepository`], [`SnapTradeUserRepository`], [`ConnectionRepository`],
//! [`HoldingRepository`], [`OrderRepository`], [`PortfolioRepository`], [`PlaidItemRepository`],
//! [`TransactionRepository`], [`ValueHistoryRepository`] (all together: [`Store`]) — and every method
//! takes the [`UserId`](tributary_domain::UserId) it acts for. Three implementations:
//!
//! * [`PgStore`] over a `sqlx::PgPool` ([`PgStore::connect`] builds one tuned to cost a statement one round trip
//!   on the caller's path; [`PgStoreOptions`] says why each setting is what it is). In service mode the Rust code scopes each query by user; with
//!   [`PgStore::for_user`] every call also runs as role `authenticated` with the user's JWT claims, so Supabase's
//!   row-level security backs the code up.
//! * [`MemoryStore`]: the same semantics in memory. One conformance suite (`tests/it/conformance/`) runs against both.
//! * With the `mock` feature, `mockall` twins: one per trait (`MockAccountRepository`, …), `MockStore` for all of
//!   them at once (what `SyncEngine<MockStore>` runs on) and `MockHeldLock` for its locks. Enable it in
//!   dev-dependencies only.
//!
//! A user's lock ([`LockRepository::lock_user`]) is a [`UserLock`] over any [`HeldLock`], so a store of your own,
//! a decorator or a mock can implement [`Store`] too.
//!
//! Writes are idempotent on the schema's natural keys (an account by provider, provider account id and user; a
//! connection by authorization id; an order by brokerage order id and account; a holding by user and symbol; a
//! transaction by user, account and provider transaction id; a value point by user, account-or-total, day and
//! currency). A
//! batch is one `INSERT … SELECT FROM unnest(…)` statement, and rows that would not change are not rewritten, so a
//! re-sync leaves `updated_at` alone. [`HoldingRepository::replace_holdings`] swaps a user's whole set in one
//! transaction.
//!
//! SnapTrade user secrets and Plaid Items' access tokens are sealed with AES-256-GCM before they reach their
//! columns (see [`secret`]); the key comes
//! from `TRIBUTARY_SECRET_KEY` through [`Keyring::from_env`]. Failures are one [`RepoError`] with variants a
//! caller can act on; no `sqlx` error type leaks out.
//!
//! Queries are built at run time (`sqlx::query` with binds), never with sqlx's compile-time macros, so the crate
//! builds with no database reachable and there is no `.sqlx/` offline data to keep current.
//!
//! ```
//! use tributary_domain::{
//!     AccountType, HoldingFigures, InstitutionName, NewHolding, NewInvestmentAccount, PortfolioMode, Provider,
//!     ProviderAccountId, Symbol,
//! };
//! use tributary_repo::{AccountRepository, HoldingRepository, MemoryStore, PortfolioRepository};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::new(); // or PgStore::new(pool, Keyring::from_env()?)
//! let user = store.create_user();
//! let vanguard = NewInvestmentAccount::new(
//!     user,
//!     Provider::Plaid,
//!     ProviderAccountId::parse("BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp")?,
//!     InstitutionName::parse("Vanguard")?,
//!     AccountType::parse("investment")?,
//! );
//! store.upsert_accounts(user, &[vanguard.clone()]).await?;
//! store.upsert_accounts(user, &[vanguard]).await?; // idempotent: still one account
//! assert_eq!(store.list_accounts(user).await?.len(), 1);
//!
//! let vti = NewHolding::new(user, Symbol::parse("VTI")?, HoldingFigures::ZERO);
//! let replaced = store.replace_holdings(user, &[vti]).await?;
//! assert_eq!((replaced.written, replaced.removed), (1, 0));
//!
//! assert_eq!(store.portfolio_mode(user).await?.mode, PortfolioMode::Aggregation);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run()).unwrap();
//! ```
//!
//! On PostgreSQL, [`MIGRATOR`] applies the workspace's `migrations/` folder (the same files Supabase users apply
//! with psql), and [`schema_check::verify_schema`] tells whether a database holds that schema:
//!
//! ```no_run
//! use tributary_repo::{AccountRepository, Keyring, PgStore};
//! # async fn run(user: tributary_domain::UserId) -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/postgres").await?;
//! tributary_repo::MIGRATOR.run(&pool).await?;
//! let failed = tributary_repo::schema_check::verify_schema(&pool)
//!     .await
//!     .into_iter()
//!     .filter(|check| !check.passed)
//!     .count();
//! assert_eq!(failed, 0);
//!
//! let service = PgStore::new(pool, Keyring::from_env()?);
//! let as_user = service.for_user(user); // RLS applies to everything this store does; it only reads
//! let accounts = as_user.list_accounts(user).await?;
//! # Ok(())
//! # }
//! ```

mod batch;
mod error;
mod history;
mod lock;
mod memory;
#[cfg(feature = "mock")]
mod mock;
mod pg;
mod plaid_items;
mod removal;
mod repository;
mod schedule;
pub mod schema_check;
pub mod secret;
mod streams;

pub use error::RepoError;
#[cfg(feature = "mock")]
pub use history::{MockTransactionRepository, MockValueHistoryRepository};
pub use history::{
    TransactionQuery, TransactionRepository, TransactionsWritten, ValueHistoryRepository,
};
#[cfg(feature = "mock")]
pub use lock::MockHeldLock;
pub use lock::{HeldLock, InProcessGuard, InProcessLocks, UserLock};
pub use memory::MemoryStore;
#[cfg(feature = "mock")]
pub use mock::MockStore;
pub use pg::{PgStore, PgStoreOptions, StoreTx};
#[cfg(feature = "mock")]
pub use plaid_items::MockPlaidItemRepository;
pub use plaid_items::{
    NewPlaidItem, PlaidItem, PlaidItemRepository, PlaidItemStatus, PlaidItemStatusChange,
};
#[cfg(feature = "mock")]
pub use removal::MockRemovalRepository;
pub use removal::{RemovalRepository, UserRowsDeleted};
pub use repository::EventStreamRepository;
#[cfg(feature = "mock")]
pub use repository::MockEventStreamRepository;
pub use repository::{
    AccountRepository, AccountSyncState, ConnectionRepository, ConnectionStatusChange,
    HoldingRepository, HoldingsReplaced, LockRepository, NewWebhookDelivery, OrderRepository,
    PortfolioRepository, PortfolioSummary, RESEAL_BATCH, ResealReport, SecretRepository,
    SnapTradeUserRepository, Store, UnifiedAccount, WebhookDelivery, WebhookKey, WebhookRepository,
    WebhookStatus,
};
#[cfg(feature = "mock")]
pub use repository::{
    MockAccountRepository, MockConnectionRepository, MockHoldingRepository, MockOrderRepository,
    MockPortfolioRepository, MockSecretRepository, MockSnapTradeUserRepository,
    MockWebhookRepository,
};
#[cfg(feature = "mock")]
pub use schedule::MockSyncScheduleRepository;
pub use schedule::{DueUser, SyncScheduleRepository};
pub use secret::{Keyring, SecretError, SecretKey};
pub use streams::{StreamEventId, StreamName};

/// Every migration in the workspace's `migrations/` folder, in order: the same files users apply to Supabase.
///
/// `crates/repo/migrations` is a symbolic link to the workspace's top-level `migrations/`, so the repository keeps
/// one folder while the packaged crate carries the files (`cargo package` copies what a link points at) and the
/// macro, which resolves its path from this crate's manifest, finds them both in the workspace and in the
/// published crate.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
