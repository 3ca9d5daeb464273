//! A user's lock: while one is held, no other holder of the same user's lock runs — across processes on
//! PostgreSQL (a session-level advisory lock), within the process in memory. A holder may also group its
//! writes into one unit that is saved whole or not at all.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use async_trait::async_trait;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tributary_domain::UserId;

use crate::RepoError;

/// What a held user lock does: the open seam behind [`UserLock`], so any store — PostgreSQL, memory, a
/// decorator, a mock, a store of your own — can hand out locks and drive the sync engine.
///
/// [`crate::PgStore`]'s locks are a session-level advisory lock on one pooled connection; [`crate::MemoryStore`]'s
/// an in-process lock with a snapshot of the user's rows. A store recognises its own locks in
/// [`crate::LockRepository::within`] with [`UserLock::downcast_ref`] (every `HeldLock` is [`Any`]) and refuses
/// another's with [`RepoError::ForeignLock`]. With the `mock` feature, `MockHeldLock` is its `mockall` twin.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// use async_trait::async_trait;
/// use tributary_domain::UserId;
/// use tributary_repo::{HeldLock, RepoError, UserLock};
///
/// /// A lock that only remembers whether a unit of writes is open.
/// struct Flag {
///     user: UserId,
///     open: AtomicBool,
/// }
///
/// #[async_trait]
/// impl HeldLock for Flag {
///     fn user(&self) -> UserId {
///         self.user
///     }
///     async fn begin_writes(&self) -> Result<(), RepoError> {
///         self.open.store(true, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn commit_writes(&self) -> Result<(), RepoError> {
///         self.open.store(false, Ordering::SeqCst);
///         Ok(())
///     }
///     async fn release(&self) -> Result<(), RepoError> {
///         Ok(())
///     }
/// }
///
/// # async fn run() -> Result<(), RepoError> {
/// let user = UserId::generate();
/// let lock = UserLock::new(Flag { user, open: AtomicBool::new(false) });
/// lock.begin_writes().await?;
/// // The store that made it finds its own kind of lock again:
/// assert!(lock.downcast_ref::<Flag>().is_some_and(|flag| flag.open.load(Ordering::SeqCst)));
/// lock.commit_writes().await?;
/// assert_eq!(lock.user(), user);
/// lock.release().await
/// # }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run()).unwrap();
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait HeldLock: Any + Send + Sync {
    /// The user whose lock this is.
    fn user(&self) -> UserId;

    /// Starts a unit of writes: the bound stores' calls for the user from now on are saved together by
    /// [`Self::commit_writes`], or not at all (an error, a dropped lock, a lost connection).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] if the store cannot be used; [`RepoError::Internal`] if a unit is already
    /// open.
    async fn begin_writes(&self) -> Result<(), RepoError>;

    /// Saves the unit of writes as a whole.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] if the store could not commit (nothing of the unit is saved then);
    /// [`RepoError::Internal`] if no unit is open, or one of its writes failed (then it is rolled back).
    async fn commit_writes(&self) -> Result<(), RepoError>;

    /// Releases the lock now, rolling back an unfinished unit of writes. Called once, just before the lock is
    /// dropped; a lock dropped without it must release itself (and roll back) all the same.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] if the lock could not be cleaned up; it must be released anyway.
    async fn release(&self) -> Result<(), RepoError>;
}

/// Holds a user's lock until [released](Self::release) or dropped (dropping releases it too: on PostgreSQL by
/// closing the connection that holds it, which also rolls back an unfinished unit of writes).
///
/// Get one from [`crate::LockRepository::lock_user`]; a store bound to it with
/// [`crate::LockRepository::within`] runs that user's calls on the lock's connection, and between
/// [`Self::begin_writes`] and [`Self::commit_writes`] they are one transaction. A store of your own makes
/// one from its [`HeldLock`] with [`UserLock::new`].
pub struct UserLock {
    /// `held`'s user, asked once.
    user: UserId,
    held: Box<dyn HeldLock>,
}

impl UserLock {
    /// Wraps a held lock (asking it once whose it is).
    pub fn new(held: impl HeldLock) -> Self {
        Self {
            user: held.user(),
            held: Box::new(held),
        }
    }

    /// The held lock as its own type, if it is a `T`: how a store recognises a lock it took itself.
    pub fn downcast_ref<T: HeldLock>(&self) -> Option<&T> {
        let held: &dyn Any = self.held.as_ref();
        held.downcast_ref()
    }

    /// The user whose lock this is.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Starts a unit of writes (see [`HeldLock::begin_writes`]).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] if the store cannot be used; [`RepoError::Internal`] if a unit is
    /// already open.
    pub async fn begin_writes(&self) -> Result<(), RepoError> {
        self.held.begin_writes().await
    }

    /// Saves the unit of writes as a whole (see [`HeldLock::commit_writes`]).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] if the store could not commit (nothing of the unit is saved then);
    /// [`RepoError::Internal`] if no unit is open, or one of its writes failed (then it is rolled back).
    pub async fn commit_writes(&self) -> Result<(), RepoError> {
        self.held.commit_writes().await
    }

    /// Releases the lock now, rolling back an unfinished unit of writes.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] if the lock could not be cleaned up; on PostgreSQL its connection is
    /// closed instead, which releases the lock all the same.
    pub async fn release(self) -> Result<(), RepoError> {
        self.held.release().await
    }
}

impl fmt::Debug for UserLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserLock")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// One async mutex per user, within a process: created on first use, forgotten when nobody holds or awaits
/// it. [`crate::MemoryStore`]'s user locks, and the sync engine's way to keep same-user callers from each
/// holding a database connection while they wait.
#[derive(Debug, Default, Clone)]
pub struct InProcessLocks {
    locks: Arc<Mutex<HashMap<UserId, Weak<AsyncMutex<()>>>>>,
}

/// Holds a user's in-process lock until dropped.
#[derive(Debug)]
pub struct InProcessGuard {
    _guard: OwnedMutexGuard<()>,
}

impl InProcessLocks {
    /// No locks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until no one else holds `user`'s lock, then holds it.
    pub async fn lock(&self, user: UserId) -> InProcessGuard {
        InProcessGuard {
            _guard: self.mutex(user).lock_owned().await,
        }
    }

    /// Holds `user`'s lock if it is free, else `None`.
    pub fn try_lock(&self, user: UserId) -> Option<InProcessGuard> {
        let guard = self.mutex(user).try_lock_owned().ok()?;
        Some(InProcessGuard { _guard: guard })
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
        // Forget the users nobody holds any more, so the map does not grow with every user ever locked.
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
        let locks = InProcessLocks::new();
        let user = UserId::generate();
        let first = locks.lock(user).await;
        assert!(locks.try_lock(user).is_none());
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock(user)).await;
        assert!(waiting.is_err(), "the second lock must wait");
        drop(first);
        assert!(locks.try_lock(user).is_some());
    }

    #[tokio::test]
    async fn different_users_do_not_wait_for_each_other() {
        let locks = InProcessLocks::new();
        let _first = locks.lock(UserId::generate()).await;
        assert!(locks.try_lock(UserId::generate()).is_some());
    }

    #[tokio::test]
    async fn a_released_user_is_forgotten() {
        let locks = InProcessLocks::new();
        drop(locks.lock(UserId::generate()).await);
        let _held = locks.lock(UserId::generate()).await;
        assert_eq!(locks.live(), 1);
    }
}
