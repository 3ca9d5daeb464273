//! Per-user serialisation: two syncs (or a sync and an order) of the same user never interleave.
//!
//! In one process a keyed async mutex does it. Across processes sharing one PostgreSQL, the repository's
//! writes that must not interleave (replacing holdings) take a transaction-scoped advisory lock keyed by the
//! user; see the crate docs for what a whole-sync, cross-process lock would need from the repository.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tributary_domain::UserId;

use crate::SyncError;

/// One async mutex per user, created on first use and dropped when nobody holds or waits for it.
#[derive(Debug, Default, Clone)]
pub struct UserLocks {
    locks: Arc<Mutex<HashMap<UserId, Weak<AsyncMutex<()>>>>>,
}

/// Holds a user's lock until dropped.
#[derive(Debug)]
pub struct UserGuard {
    _guard: OwnedMutexGuard<()>,
}

impl UserLocks {
    /// No locks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until no one else holds `user`'s lock, then holds it.
    pub async fn lock(&self, user: UserId) -> UserGuard {
        UserGuard {
            _guard: self.mutex(user).lock_owned().await,
        }
    }

    /// Holds `user`'s lock if it is free.
    ///
    /// # Errors
    /// [`SyncError::Busy`] if someone holds it.
    pub fn try_lock(&self, user: UserId) -> Result<UserGuard, SyncError> {
        let guard = self
            .mutex(user)
            .try_lock_owned()
            .map_err(|_| SyncError::Busy { user })?;
        Ok(UserGuard { _guard: guard })
    }

    /// How many users have a live lock (held or awaited).
    pub fn live(&self) -> usize {
        let locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks
            .values()
            .filter(|lock| lock.strong_count() > 0)
            .count()
    }

    fn mutex(&self, user: UserId) -> Arc<AsyncMutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget the users nobody holds any more, so the map does not grow with every user ever synced.
        locks.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = locks.get(&user).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(AsyncMutex::new(()));
        locks.insert(user, Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_lock_of_the_same_user_waits_for_the_first() {
        let locks = UserLocks::new();
        let user = UserId::generate();
        let first = locks.lock(user).await;
        assert!(matches!(locks.try_lock(user), Err(SyncError::Busy { user: u }) if u == user));
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock(user)).await;
        assert!(waiting.is_err(), "the second lock must wait");
        drop(first);
        assert!(locks.try_lock(user).is_ok());
    }

    #[tokio::test]
    async fn different_users_do_not_wait_for_each_other() {
        let locks = UserLocks::new();
        let _first = locks.lock(UserId::generate()).await;
        assert!(locks.try_lock(UserId::generate()).is_ok());
    }

    #[tokio::test]
    async fn a_released_user_is_forgotten() {
        let locks = UserLocks::new();
        drop(locks.lock(UserId::generate()).await);
        let _held = locks.lock(UserId::generate()).await;
        assert_eq!(locks.live(), 1);
    }
}
