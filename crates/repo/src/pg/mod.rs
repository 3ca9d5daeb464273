//! [`PgStore`]: the repositories on PostgreSQL through `sqlx`, in service mode or scoped to one signed-in user.

mod accounts;
mod connections;
mod holdings;
mod orders;
mod plaid_items;
mod portfolio;
mod removal;
mod row;
mod schedule;
mod secrets;
mod session;
mod snaptrade_users;
mod streams;
mod transactions;
mod value_history;
mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres};
use tributary_domain::UserId;

pub use session::StoreTx;
use session::TxKind;
use session::{PgLock, PgSession};

use crate::error::classify;
use crate::lock::UserLock;
use crate::secret::Keyring;
use crate::{LockRepository, RepoError};

/// The repositories on PostgreSQL.
///
/// Two modes:
/// * **service** ([`PgStore::new`]): queries run as the pool's role (the tables' owner, or `service_role`),
///   which row-level security does not restrict; the Rust code scopes every query by the user id it is given.
///   This is the mode for the sync engine and other backend jobs.
/// * **user-scoped** ([`PgStore::for_user`]): every call runs in a transaction as role `authenticated` with the
///   user's JWT claims (`sub`), exactly as PostgREST runs a Supabase client's request, so row-level security and
///   column privileges back up the Rust code. Asking such a store about another user is
///   [`RepoError::Forbidden`] before any SQL runs. The schema (migration 0013) lets a signed-in user read
///   their rows and nothing more: every repository write, and every read of a SnapTrade user (its secret column
///   is hidden from `authenticated`), is refused by the database and comes back as [`RepoError::Forbidden`]. The
///   engine trusts what these tables say, so writing them is a service-mode operation.
///
/// Cloning is cheap (the pool and keyring are shared).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    keyring: Arc<Keyring>,
    acting_as: Option<UserId>,
    /// The user lock this store's calls for its user run under ([`LockRepository::within`]).
    session: Option<Arc<PgSession>>,
}

impl PgStore {
    /// A service-mode store over `pool`, sealing SnapTrade user secrets with `keyring`.
    pub fn new(pool: PgPool, keyring: Keyring) -> Self {
        Self {
            pool,
            keyring: Arc::new(keyring),
            acting_as: None,
            session: None,
        }
    }

    /// The same store scoped to `user`: every call runs as role `authenticated` with `user`'s claims.
    pub fn for_user(&self, user: UserId) -> Self {
        Self {
            acting_as: Some(user),
            ..self.clone()
        }
    }

    /// The user this store is scoped to, or `None` in service mode.
    pub fn acting_as(&self) -> Option<UserId> {
        self.acting_as
    }

    /// The pool underneath.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Starts a transaction for work on `user`'s rows, under the same identity the store's own calls use: in
    /// user-scoped mode the role is `authenticated` with `user`'s claims for the whole transaction. This is the
    /// way to run a query the traits do not cover with the same protection. In a store bound to `user`'s lock
    /// ([`LockRepository::within`]) it runs on the lock's connection, inside its unit of writes when one is
    /// open.
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] if a user-scoped store is asked about another user; [`RepoError::Unavailable`]
    /// if no connection can be had.
    pub async fn begin(&self, user: UserId) -> Result<StoreTx, RepoError> {
        if let Some(me) = self.acting_as
            && me != user
        {
            return Err(RepoError::forbidden(format!(
                "a store scoped to user {me} cannot act for user {user}"
            )));
        }
        let mut tx = match self.session_of(user) {
            Some(session) => StoreTx(TxKind::Session(session.begin().await?)),
            None => StoreTx(TxKind::Pooled(self.pool.begin().await.map_err(classify)?)),
        };
        if let Some(me) = self.acting_as {
            let claims = serde_json::json!({ "sub": me.to_string(), "role": "authenticated" });
            // Both settings are transaction-local, as PostgREST sets them: the pooled connection goes back clean.
            sqlx::query(
                "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)",
            )
            .bind(claims.to_string())
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        Ok(tx)
    }

    /// The lock session this store is bound to, if it is `user`'s.
    fn session_of(&self, user: UserId) -> Option<&PgSession> {
        self.session
            .as_deref()
            .filter(|session| session.user == user)
    }

    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Runs one query for `user` in its own transaction, under the store's identity, and reads every row.
    pub(crate) async fn read_rows<T>(
        &self,
        user: UserId,
        query: PgQuery<'_>,
        read: fn(&PgRow) -> Result<T, RepoError>,
    ) -> Result<Vec<T>, RepoError> {
        let mut tx = self.begin(user).await?;
        let rows = query.fetch_all(&mut *tx).await.map_err(classify)?;
        let items = rows.iter().map(read).collect::<Result<Vec<_>, _>>()?;
        commit(tx).await?;
        Ok(items)
    }

    /// As [`Self::read_rows`], but in service mode outside `user`'s lock the query runs alone on the pool: one
    /// round trip where `BEGIN`, query and `COMMIT` take three, and a lone statement is its own transaction
    /// anyway. For reads on the hot path (the portfolio mode, the digests before a replacement).
    pub(crate) async fn read_rows_alone<T>(
        &self,
        user: UserId,
        query: PgQuery<'_>,
        read: fn(&PgRow) -> Result<T, RepoError>,
    ) -> Result<Vec<T>, RepoError> {
        if self.acting_as.is_some() || self.session_of(user).is_some() {
            return self.read_rows(user, query, read).await;
        }
        let rows = query.fetch_all(&self.pool).await.map_err(classify)?;
        rows.iter().map(read).collect()
    }

    /// As [`Self::read_rows`] for a query that selects one row by key: no row is [`RepoError::NotFound`].
    pub(crate) async fn read_row<T>(
        &self,
        user: UserId,
        query: PgQuery<'_>,
        read: fn(&PgRow) -> Result<T, RepoError>,
        entity: &'static str,
    ) -> Result<T, RepoError> {
        only_row(self.read_rows(user, query, read).await?, entity)
    }
}

/// The row a query by key selected: none is [`RepoError::NotFound`].
pub(crate) fn only_row<T>(mut rows: Vec<T>, entity: &'static str) -> Result<T, RepoError> {
    rows.pop().ok_or(RepoError::NotFound { entity })
}

/// A query with its binds, before it runs.
pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Commits, sorting a failure like any other.
pub(crate) async fn commit(tx: StoreTx) -> Result<(), RepoError> {
    tx.commit().await
}

#[async_trait]
impl LockRepository for PgStore {
    async fn lock_user(&self, user: UserId) -> Result<UserLock, RepoError> {
        let session = PgSession::lock(self, user).await?;
        Ok(UserLock::new(PgLock(Arc::new(session))))
    }

    fn within(&self, lock: &UserLock) -> Result<Self, RepoError> {
        let PgLock(session) = lock
            .downcast_ref::<PgLock>()
            .ok_or(RepoError::ForeignLock { store: "postgres" })?;
        Ok(Self {
            session: Some(Arc::clone(session)),
            ..self.clone()
        })
    }
}
