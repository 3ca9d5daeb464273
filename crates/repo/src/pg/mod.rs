//! [`PgStore`]: the repositories on PostgreSQL through `sqlx`, in service mode or scoped to one signed-in user.

mod accounts;
mod connect;
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

pub use connect::PgStoreOptions;
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
        let tx = match (self.session_of(user), self.acting_as) {
            (Some(session), acting_as) => {
                let mut tx = StoreTx(TxKind::Session(session.begin().await?));
                if let Some(me) = acting_as {
                    // Both settings are transaction-local, as PostgREST sets them: the connection goes back clean.
                    sqlx::query(
                        "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)",
                    )
                    .bind(jwt_claims(me))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                }
                tx
            }
            // One round trip for BEGIN and the identity, where two statements would take two.
            (None, Some(me)) => StoreTx(TxKind::Pooled(
                self.pool
                    .begin_with(sqlx::AssertSqlSafe(begin_as(me)))
                    .await
                    .map_err(classify)?,
            )),
            (None, None) => StoreTx(TxKind::Pooled(self.pool.begin().await.map_err(classify)?)),
        };
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

    /// Runs one read for `user` under the store's identity and reads every row. User-scoped, it runs in its own
    /// transaction as role `authenticated` with the user's claims (two round trips while the caller waits: the
    /// `BEGIN` with the claims, then the query; the transaction ends as the connection returns to the pool). In service mode it is one statement, its own
    /// transaction: on the pool, or on the lock's connection (inside its unit of writes when one is open) for a
    /// store bound to `user`'s lock. One round trip where `BEGIN`, the query and `COMMIT` take three.
    pub(crate) async fn read_rows<T>(
        &self,
        user: UserId,
        query: PgQuery<'_>,
        read: fn(&PgRow) -> Result<T, RepoError>,
    ) -> Result<Vec<T>, RepoError> {
        self.fetch_rows(user, query)
            .await?
            .iter()
            .map(read)
            .collect()
    }

    /// [`Self::read_rows`]'s rows, before they are read.
    pub(crate) async fn fetch_rows(
        &self,
        user: UserId,
        query: PgQuery<'_>,
    ) -> Result<Vec<PgRow>, RepoError> {
        if self.acting_as.is_some() {
            let mut tx = self.begin(user).await?;
            let rows = query.fetch_all(&mut *tx).await.map_err(classify)?;
            tx.end_read().await?;
            Ok(rows)
        } else if let Some(session) = self.session_of(user) {
            session.fetch_all(query).await
        } else {
            query.fetch_all(&self.pool).await.map_err(classify)
        }
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

/// The JWT claims PostgREST sets for `user`'s request, as the text `request.jwt.claims` holds.
fn jwt_claims(user: UserId) -> String {
    serde_json::json!({ "sub": user.to_string(), "role": "authenticated" }).to_string()
}

/// `BEGIN`, then the role and JWT claims PostgREST sets for a signed-in user's request, both transaction-local,
/// as one simple query. The claims are spelled out, not bound (a simple query has no parameters): they hold only
/// the user's id, a UUID, whose text is hex digits and hyphens. Should the settings fail, the error is the
/// `BEGIN`'s and sqlx rolls the transaction back before the connection is reused: nothing runs without them.
fn begin_as(user: UserId) -> String {
    let claims = jwt_claims(user);
    let begin_with_claims = format!(
        "begin; select pg_catalog.set_config('role', 'authenticated', true), \
         pg_catalog.set_config('request.jwt.claims', '{claims}', true)"
    );
    begin_with_claims
}

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

#[cfg(test)]
mod begin_as_tests {
    use super::*;

    #[test]
    fn the_begin_text_quotes_only_its_own_literals_whatever_the_user() {
        for _ in 0..100 {
            let user = UserId::new(uuid::Uuid::new_v4());
            let text = begin_as(user);
            // 'role', 'authenticated', 'request.jwt.claims' and the claims: eight quotes, none inside a value.
            assert_eq!(text.matches('\'').count(), 8, "{text}");
            assert!(text.contains(&format!("\"sub\":\"{user}\"")), "{text}");
        }
    }
}
