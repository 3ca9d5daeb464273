//! SnapTrade users on PostgreSQL, their secret sealed in the column.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tributary_domain::{ExposeSecret, NewSnapTradeUser, SnapTradeUser, SnapTradeUserId, UserId};

use super::row::Columns;
use super::{PgStore, commit};
use crate::batch::check_snaptrade_user;
use crate::error::classify;
use crate::{RepoError, SnapTradeUserRepository};

const SELECT: &str = "
select id, user_id, snaptrade_user_id, snaptrade_user_secret, created_at, updated_at, last_sync_at
from public.snaptrade_users where user_id = $1";

const SELECT_FOR_UPDATE: &str = "
select id, user_id, snaptrade_user_id, snaptrade_user_secret, created_at, updated_at, last_sync_at
from public.snaptrade_users where user_id = $1 for update";

/// Identical values are not rewritten: the caller keeps the stored sealed value when the secret is unchanged.
const UPSERT: &str = "
insert into public.snaptrade_users as s (user_id, snaptrade_user_id, snaptrade_user_secret) values ($1, $2, $3)
on conflict (user_id) do update set
  snaptrade_user_id = excluded.snaptrade_user_id, snaptrade_user_secret = excluded.snaptrade_user_secret
where (s.snaptrade_user_id, s.snaptrade_user_secret)
  is distinct from (excluded.snaptrade_user_id, excluded.snaptrade_user_secret)";

const RECORD_SYNC: &str = "
update public.snaptrade_users set last_sync_at = $2
where user_id = $1 and last_sync_at is distinct from $2";

const EXISTS: &str = "select exists (select 1 from public.snaptrade_users where user_id = $1)";

const DELETE: &str = "delete from public.snaptrade_users where user_id = $1";

#[async_trait]
impl SnapTradeUserRepository for PgStore {
    async fn upsert_snaptrade_user(
        &self,
        user: UserId,
        snaptrade_user: &NewSnapTradeUser,
    ) -> Result<SnapTradeUser, RepoError> {
        check_snaptrade_user(user, snaptrade_user)?;
        let mut tx = self.begin(user).await?;
        let existing = fetch(&mut tx, SELECT_FOR_UPDATE, user).await?;
        let sealed = self.sealed_value(existing.as_ref(), snaptrade_user);
        sqlx::query(UPSERT)
            .bind(user.into_uuid())
            .bind(snaptrade_user.snaptrade_user_id.as_str())
            .bind(&sealed)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let row = fetch(&mut tx, SELECT, user)
            .await?
            .ok_or(RepoError::NotFound {
                entity: "snaptrade user",
            })?;
        let stored = self.read_snaptrade_user(&row)?;
        commit(tx).await?;
        Ok(stored)
    }

    async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError> {
        // A sync reads it for each account whose orders it lists: one statement (see `PgStore::read_rows`).
        let query = sqlx::query(SELECT).bind(user.into_uuid());
        let rows = self.fetch_rows(user, query).await?;
        rows.first()
            .map(|row| self.read_snaptrade_user(row))
            .transpose()
    }

    async fn record_snaptrade_sync(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut tx = self.begin(user).await?;
        sqlx::query(RECORD_SYNC)
            .bind(user.into_uuid())
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let registered: bool = sqlx::query_scalar(EXISTS)
            .bind(user.into_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        if !registered {
            return Err(RepoError::NotFound {
                entity: "snaptrade user",
            });
        }
        commit(tx).await
    }

    async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError> {
        let mut tx = self.begin(user).await?;
        let deleted = sqlx::query(DELETE)
            .bind(user.into_uuid())
            .execute(&mut *tx)
            .await
            .map_err(classify)?
            .rows_affected();
        commit(tx).await?;
        if deleted == 0 {
            return Err(RepoError::NotFound {
                entity: "snaptrade user",
            });
        }
        Ok(())
    }
}

impl PgStore {
    /// The value to store: the existing sealed value when it opens to the same secret under the current key (so
    /// an unchanged registration rewrites nothing), a fresh seal otherwise.
    fn sealed_value(&self, existing: Option<&PgRow>, new: &NewSnapTradeUser) -> String {
        let unchanged = existing.and_then(|row| {
            let sealed: String = Columns(row).get("snaptrade_user_secret").ok()?;
            let opened = self.keyring().open(&sealed, new.user_id).ok()?;
            let same = opened.expose_secret() == new.user_secret.expose_secret()
                && !self.keyring().needs_reseal(&sealed);
            same.then_some(sealed)
        });
        unchanged.unwrap_or_else(|| self.keyring().seal(&new.user_secret, new.user_id))
    }

    fn read_snaptrade_user(&self, row: &PgRow) -> Result<SnapTradeUser, RepoError> {
        let c = Columns(row);
        let user_id: UserId = c.id("user_id")?;
        let sealed: String = c.get("snaptrade_user_secret")?;
        Ok(SnapTradeUser {
            id: c.id("id")?,
            user_id,
            snaptrade_user_id: c.parse("snaptrade_user_id", SnapTradeUserId::parse)?,
            user_secret: self.keyring().open(&sealed, user_id)?,
            created_at: c.get("created_at")?,
            updated_at: c.get("updated_at")?,
            last_sync_at: c.get("last_sync_at")?,
        })
    }
}

async fn fetch(
    conn: &mut PgConnection,
    query: &'static str,
    user: UserId,
) -> Result<Option<PgRow>, RepoError> {
    sqlx::query(query)
        .bind(user.into_uuid())
        .fetch_optional(conn)
        .await
        .map_err(classify)
}
