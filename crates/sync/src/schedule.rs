//! Syncing everyone who is due: one call a scheduler makes in a loop.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tributary_domain::UserId;
use tributary_repo::{Store, SyncScheduleRepository};

use crate::{SyncEngine, SyncError, SyncReport};

/// What one round of [`SyncEngine::sync_due`] did, user by user, most overdue first.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DueSyncs {
    /// The users synced, with their reports (a report may hold a provider's failure: the user stays due).
    pub synced: Vec<(UserId, SyncReport)>,
    /// The users whose sync could not run or not be saved (the store's failures), with the error.
    pub failed: Vec<(UserId, SyncError)>,
}

impl DueSyncs {
    /// How many users the round took up.
    pub fn len(&self) -> usize {
        self.synced.len() + self.failed.len()
    }

    /// Whether nobody was due.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: Store + SyncScheduleRepository + 'static> SyncEngine<S> {
    /// Syncs at most `limit` users whose last successful sync is before `older_than` (or who never synced),
    /// most overdue first, `users_at_once` of them at a time
    /// ([`SyncScheduleRepository::users_due_for_sync`] says who is due and why a user with only broken
    /// connections is not).
    ///
    /// Every user's provider calls draw on their client's request budgets (the providers' documented limits
    /// unless the configs say otherwise), shared by everything the process syncs: when the budget is the
    /// limit, the round takes longer instead of drawing 429s. One user's failure does not stop the others; it is
    /// in [`DueSyncs::failed`], and a user whose sync failed stays due for the next round.
    ///
    /// # Errors
    /// Only the store's, when it cannot say who is due.
    pub async fn sync_due(
        &self,
        older_than: DateTime<Utc>,
        limit: usize,
        users_at_once: usize,
    ) -> Result<DueSyncs, SyncError> {
        let due = self.store.users_due_for_sync(older_than, limit).await?;
        let mut round = DueSyncs::default();
        let mut syncs = futures_util::stream::iter(due)
            .map(|due| async move { (due.user, self.sync_user(due.user).await) })
            .buffered(users_at_once.max(1));
        while let Some((user, outcome)) = syncs.next().await {
            match outcome {
                Ok(report) => round.synced.push((user, report)),
                Err(error) => {
                    tracing::warn!(%user, error = %error, "a due user's sync failed");
                    round.failed.push((user, error));
                }
            }
        }
        Ok(round)
    }
}
