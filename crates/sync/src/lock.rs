//! Per-user serialisation: two syncs (or a sync and an order) of the same user never interleave.
//!
//! Two layers. Within the process, [`UserLocks`] (a keyed async mutex) queues a user's callers without
//! each of them holding a database connection while it waits. Across processes, the holder then takes the
//! repository's user lock ([`tributary_repo::LockRepository::lock_user`]: a session-level advisory lock on
//! PostgreSQL), and the engine's calls for that user run bound to it, with the sync's writes in one unit
//! that is saved whole or not at all.

use tributary_domain::UserId;
use tributary_repo::{InProcessGuard, InProcessLocks};

use crate::SyncError;

/// One async mutex per user, created on first use and dropped when nobody holds or waits for it.
#[derive(Debug, Default, Clone)]
pub struct UserLocks {
    locks: InProcessLocks,
}

/// Holds a user's lock until dropped.
#[derive(Debug)]
pub struct UserGuard {
    _guard: InProcessGuard,
}

impl UserLocks {
    /// No locks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until no one else holds `user`'s lock, then holds it.
    pub async fn lock(&self, user: UserId) -> UserGuard {
        UserGuard {
            _guard: self.locks.lock(user).await,
        }
    }

    /// Holds `user`'s lock if it is free.
    ///
    /// # Errors
    /// [`SyncError::Busy`] if someone holds it.
    pub fn try_lock(&self, user: UserId) -> Result<UserGuard, SyncError> {
        let guard = self.locks.try_lock(user).ok_or(SyncError::Busy { user })?;
        Ok(UserGuard { _guard: guard })
    }

    /// How many users have a live lock (held or awaited).
    pub fn live(&self) -> usize {
        self.locks.live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_user_is_busy_and_free_again_once_released() {
        let locks = UserLocks::new();
        let user = UserId::generate();
        let first = locks.lock(user).await;
        assert!(matches!(locks.try_lock(user), Err(SyncError::Busy { user: u }) if u == user));
        drop(first);
        assert!(locks.try_lock(user).is_ok());
        assert_eq!(locks.live(), 0, "nobody holds or awaits it any more");
    }
}
