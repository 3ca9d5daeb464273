//! A user's lock on PostgreSQL: a session-level advisory lock held on one pooled connection, and that
//! connection's transaction state, shared by the stores bound to the lock ([`PgStore::within`]).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tributary_domain::UserId;

use sqlx::postgres::PgRow;

use super::{PgQuery, PgStore};
use crate::error::classify;
use crate::{HeldLock, RepoError};

/// The advisory lock's key: the user id in its own namespace, so it never meets the transaction-scoped lock
/// the holdings replacement takes on the bare user id (which a bound store's writes take on this same session).
const LOCK: &str =
    "select pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended('tributary.user:' || $1, 0))";

const UNLOCK: &str =
    "select pg_catalog.pg_advisory_unlock(pg_catalog.hashtextextended('tributary.user:' || $1, 0))";

/// Names the session in `pg_stat_activity`, so an operator (or a test) can see whose lock a backend holds.
const NAME: &str =
    "select pg_catalog.set_config('application_name', 'tributary user lock ' || $1, false)";

const UNNAME: &str = "reset application_name";

/// Where the session's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxState {
    /// No transaction open.
    Idle,
    /// A unit of writes is open (`begin_writes`); `failed` once one of its writes was not committed.
    Unit { failed: bool },
    /// A call's own transaction was dropped uncommitted: roll it back before the next use.
    Abandoned,
}

/// The locked connection and its state.
#[derive(Debug)]
pub(crate) struct Held {
    /// `None` once released.
    conn: Option<PoolConnection<Postgres>>,
    state: TxState,
}

/// One user's lock: the connection holding it, shared with the stores bound to it.
#[derive(Debug)]
pub(crate) struct PgSession {
    pub(crate) user: UserId,
    held: Arc<Mutex<Held>>,
}

impl PgSession {
    /// Takes `user`'s lock on a connection of `store`'s pool, waiting while another session holds it.
    pub(crate) async fn lock(store: &PgStore, user: UserId) -> Result<Self, RepoError> {
        let mut pending = ClosedUnlessKept(Some(store.pool().acquire().await.map_err(classify)?));
        let conn = pending.0.as_mut().expect("just acquired");
        for statement in [NAME, LOCK] {
            sqlx::query(statement)
                .bind(user.to_string())
                .execute(&mut **conn)
                .await
                .map_err(classify)?;
        }
        Ok(Self {
            user,
            held: Arc::new(Mutex::new(Held {
                conn: pending.0.take(),
                state: TxState::Idle,
            })),
        })
    }

    /// Opens the unit of writes: every bound store's call joins one transaction until
    /// [`Self::commit_writes`].
    pub(crate) async fn begin_writes(&self) -> Result<(), RepoError> {
        let mut held = self.held.lock().await;
        let state = held.state;
        let conn = held.connection()?;
        match state {
            TxState::Unit { .. } => {
                return Err(RepoError::Internal {
                    reason: "a unit of writes is already open on this lock".to_owned(),
                });
            }
            TxState::Abandoned => execute(conn, "rollback").await?,
            TxState::Idle => {}
        }
        held.state = TxState::Idle;
        execute(held.connection()?, "begin").await?;
        held.state = TxState::Unit { failed: false };
        Ok(())
    }

    /// Commits the unit of writes; if one of its writes failed, rolls it all back and says so.
    pub(crate) async fn commit_writes(&self) -> Result<(), RepoError> {
        let mut held = self.held.lock().await;
        let state = held.state;
        held.state = TxState::Idle;
        let conn = held.connection()?;
        match state {
            TxState::Unit { failed: false } => execute(conn, "commit").await,
            TxState::Unit { failed: true } => {
                execute(conn, "rollback").await?;
                Err(RepoError::Internal {
                    reason: "a write of the unit failed, so none of it was saved".to_owned(),
                })
            }
            TxState::Idle | TxState::Abandoned => {
                held.state = state;
                Err(RepoError::Internal {
                    reason: "no unit of writes is open on this lock".to_owned(),
                })
            }
        }
    }

    /// Rolls back what is open, unlocks and returns the connection to the pool. A connection that cannot be
    /// cleaned up is closed instead, which ends the session and so releases its lock too.
    pub(crate) async fn release(&self) -> Result<(), RepoError> {
        let mut held = self.held.lock().await;
        let state = held.state;
        let Some(mut conn) = held.conn.take() else {
            return Ok(());
        };
        let cleaned = clean_up(&mut conn, state, self.user).await;
        if cleaned.is_err() {
            conn.close_on_drop();
        }
        cleaned
    }

    /// One read of a bound service-mode store: inside the open unit of writes if there is one, otherwise on its
    /// own, since a lone statement is its own transaction. One round trip where `BEGIN`, the query and `COMMIT`
    /// take three; a sync makes hundreds of such reads on the locked connection, one after another.
    pub(crate) async fn fetch_all(&self, query: PgQuery<'_>) -> Result<Vec<PgRow>, RepoError> {
        let mut held = self.held.lock().await;
        if held.state == TxState::Abandoned {
            execute(held.connection()?, "rollback").await?;
            held.state = TxState::Idle;
        }
        query.fetch_all(held.connection()?).await.map_err(classify)
    }

    /// A transaction for one call of a bound store: the open unit's, or its own.
    pub(crate) async fn begin(&self) -> Result<SessionTx, RepoError> {
        let mut held = Arc::clone(&self.held).lock_owned().await;
        let state = held.state;
        let conn = held.connection()?;
        let own = match state {
            TxState::Unit { .. } => false,
            TxState::Abandoned => {
                execute(conn, "rollback").await?;
                execute(conn, "begin").await?;
                true
            }
            TxState::Idle => {
                execute(conn, "begin").await?;
                true
            }
        };
        if own {
            // Until it commits, a dropped transaction leaves work for the next call.
            held.state = TxState::Abandoned;
        }
        Ok(SessionTx {
            held: Some(held),
            own,
        })
    }
}

/// A [`PgSession`] as a [`HeldLock`]: what [`PgStore::lock_user`](crate::LockRepository::lock_user) hands
/// out, and what [`PgStore::within`](crate::LockRepository::within) recognises, sharing the session with the
/// stores bound to it.
pub(crate) struct PgLock(pub(crate) Arc<PgSession>);

#[async_trait]
impl HeldLock for PgLock {
    fn user(&self) -> UserId {
        self.0.user
    }

    async fn begin_writes(&self) -> Result<(), RepoError> {
        self.0.begin_writes().await
    }

    async fn commit_writes(&self) -> Result<(), RepoError> {
        self.0.commit_writes().await
    }

    async fn release(&self) -> Result<(), RepoError> {
        self.0.release().await
    }
}

impl Drop for PgSession {
    /// Dropped without [`PgSession::release`] (an error path, a panic, a cancelled task): the connection is
    /// closed rather than returned, so the server rolls back what was open and releases the lock.
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.try_lock()
            && let Some(mut conn) = held.conn.take()
        {
            conn.close_on_drop();
        }
    }
}

impl Held {
    fn connection(&mut self) -> Result<&mut PgConnection, RepoError> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| RepoError::Unavailable {
                reason: "the user's lock was released".to_owned(),
            })
    }
}

async fn clean_up(
    conn: &mut PoolConnection<Postgres>,
    state: TxState,
    user: UserId,
) -> Result<(), RepoError> {
    if state != TxState::Idle {
        execute(conn, "rollback").await?;
    }
    sqlx::query(UNLOCK)
        .bind(user.to_string())
        .execute(&mut **conn)
        .await
        .map_err(classify)?;
    execute(conn, UNNAME).await
}

async fn execute(conn: &mut PgConnection, statement: &'static str) -> Result<(), RepoError> {
    sqlx::query(statement)
        .execute(conn)
        .await
        .map(drop)
        .map_err(classify)
}

/// A connection being locked: closed if the lock was not taken (an error, or the caller gave up waiting),
/// since the server may still grant the lock to the session after the caller left.
struct ClosedUnlessKept(Option<PoolConnection<Postgres>>);

impl Drop for ClosedUnlessKept {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// A bound store's transaction on the locked connection.
#[derive(Debug)]
pub(crate) struct SessionTx {
    held: Option<OwnedMutexGuard<Held>>,
    /// Whether this call began (and so ends) the transaction, rather than joining the open unit.
    own: bool,
}

impl SessionTx {
    pub(crate) async fn commit(mut self) -> Result<(), RepoError> {
        let mut held = self.held.take().expect("present until finished");
        if !self.own {
            return Ok(());
        }
        execute(held.connection()?, "commit").await?;
        held.state = TxState::Idle;
        Ok(())
    }

    pub(crate) async fn rollback(mut self) -> Result<(), RepoError> {
        let mut held = self.held.take().expect("present until finished");
        if self.own {
            execute(held.connection()?, "rollback").await?;
            held.state = TxState::Idle;
        } else {
            held.state = TxState::Unit { failed: true };
        }
        Ok(())
    }

    fn held(&self) -> &Held {
        self.held.as_ref().expect("present until finished")
    }
}

impl Drop for SessionTx {
    fn drop(&mut self) {
        // Dropped unfinished inside a unit (the call failed): the unit must not commit. An own transaction
        // is already marked abandoned.
        if let Some(held) = self.held.as_mut()
            && !self.own
        {
            held.state = TxState::Unit { failed: true };
        }
    }
}

impl Deref for SessionTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.held()
            .conn
            .as_deref()
            .expect("checked when the transaction began")
    }
}

impl DerefMut for SessionTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.held
            .as_mut()
            .expect("present until finished")
            .conn
            .as_deref_mut()
            .expect("checked when the transaction began")
    }
}

/// The transaction a [`PgStore`] call runs in: from the pool, or on the connection of a user's lock the store
/// is bound to. Derefs to the connection, so queries run on it with `&mut *tx`.
#[derive(Debug)]
pub struct StoreTx(pub(crate) TxKind);

#[derive(Debug)]
pub(crate) enum TxKind {
    Pooled(Transaction<'static, Postgres>),
    Session(SessionTx),
}

impl StoreTx {
    /// Commits (inside a bound store's open unit of writes, the unit commits as a whole later).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] and the like, as the database reports them.
    pub async fn commit(self) -> Result<(), RepoError> {
        match self.0 {
            TxKind::Pooled(tx) => tx.commit().await.map_err(classify),
            TxKind::Session(tx) => tx.commit().await,
        }
    }

    /// Ends a transaction that only read. A pooled one is let go uncommitted: sqlx queues its `ROLLBACK` and
    /// sends it with the ping that returns the connection to the pool, after the caller has its answer, which for
    /// a read is the same as a commit. One on a lock's connection commits, so the next call does not pay for it.
    pub(crate) async fn end_read(self) -> Result<(), RepoError> {
        match self.0 {
            TxKind::Pooled(tx) => {
                drop(tx);
                Ok(())
            }
            TxKind::Session(tx) => tx.commit().await,
        }
    }

    /// Rolls back (inside a bound store's open unit of writes, the whole unit will not commit).
    ///
    /// # Errors
    /// As the database reports them.
    pub async fn rollback(self) -> Result<(), RepoError> {
        match self.0 {
            TxKind::Pooled(tx) => tx.rollback().await.map_err(classify),
            TxKind::Session(tx) => tx.rollback().await,
        }
    }
}

impl Deref for StoreTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match &self.0 {
            TxKind::Pooled(tx) => tx,
            TxKind::Session(tx) => tx,
        }
    }
}

impl DerefMut for StoreTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match &mut self.0 {
            TxKind::Pooled(tx) => tx,
            TxKind::Session(tx) => tx,
        }
    }
}
