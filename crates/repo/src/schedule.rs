//! Which users are due for a sync (`user_sync_schedule`, migration 0023): the question a scheduler asks on every
//! round, answered oldest first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::UserId;

use crate::RepoError;

/// A user a scheduler should sync, with when their data was last synced in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DueUser {
    /// The user.
    pub user: UserId,
    /// The stalest of their usable links' last successful syncs; `None` when one of them never synced.
    pub last_synced_at: Option<DateTime<Utc>>,
}

impl DueUser {
    /// A due user (for stores of your own and mocks).
    pub const fn new(user: UserId, last_synced_at: Option<DateTime<Utc>>) -> Self {
        Self {
            user,
            last_synced_at,
        }
    }
}

/// The sync schedule: which users are due, across all users (a service operation).
///
/// A user is a candidate when at least one of their connections can sync:
///
/// * **Plaid**: an Item whose status is healthy, pending expiration or pending disconnection (its token still
///   works). An Item that needs the user (login required, revoked, a state this crate does not know) does not count.
/// * **SnapTrade**: a registered SnapTrade user with no brokerage connection stored yet (the first sync finds
///   them) or at least one whose status is active. Disabled and failing connections need the reconnect portal.
/// * **Alpaca**: an Alpaca account linked ([`crate::PortfolioRepository::set_alpaca_account`]).
///
/// The user's last successful sync is the stalest of those usable links' own: a Plaid Item's `last_synced_at`,
/// the SnapTrade user's `last_sync_at`, the linked Alpaca account's `last_synced`. Each moves only when a sync of
/// that provider succeeded, so a failed sync leaves the user due, and a broken link neither keeps the user due nor
/// holds them back. A user none of whose links can sync is not due at all: they need to repair a connection first.
///
/// Not part of [`crate::Store`]: only a service that schedules syncs needs it.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SyncScheduleRepository: Send + Sync {
    /// At most `limit` users due for a sync: those whose last successful sync is before `older_than` or who never
    /// synced, never-synced first, then oldest first (ties by user id).
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] on a store scoped to one user (this reads every user's schedule); the store's
    /// failures otherwise.
    async fn users_due_for_sync(
        &self,
        older_than: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueUser>, RepoError>;
}
