//! Re-sealing every sealed column under the keyring's current key, in committed batches.

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::PgStore;
use crate::error::classify;
use crate::secret::{
    PLAID_ACCESS_TOKEN, SNAPTRADE_USER_SECRET, SecretError, plaid_access_token_context,
};
use crate::{RepoError, ResealReport, SecretRepository};
use tributary_domain::{ProviderItemId, UserId};

/// A column whose values the keyring seals, with its two statements. Another sealed column is one more entry of
/// [`SEALED_COLUMNS`].
struct SealedColumn {
    /// `"<table>.<column>"`, as the sealed value's tag authenticates it.
    name: &'static str,
    /// The next rows after `$1` (by id) whose value is not under key `$2`, at most `$3`, locked for the batch:
    /// `id`, `user_id` (the owner the value is bound to), `item_id` (the Plaid Item it is bound to, or null) and
    /// `sealed`.
    select: &'static str,
    /// Writes `$3[i]` over row `$1[i]` only where it still holds `$2[i]`: a value rewritten since the select (a
    /// new registration) is newer than the re-seal and stays.
    update: &'static str,
}

const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        name: SNAPTRADE_USER_SECRET,
        select: "
select id, user_id, null::text as item_id, snaptrade_user_secret as sealed from public.snaptrade_users
where id > $1 and pg_catalog.split_part(snaptrade_user_secret, ':', 2) <> $2
order by id limit $3 for update",
        update: "
update public.snaptrade_users s set snaptrade_user_secret = v.sealed
from unnest($1::uuid[], $2::text[], $3::text[]) as v(id, old, sealed)
where s.id = v.id and s.snaptrade_user_secret = v.old",
    },
    SealedColumn {
        name: PLAID_ACCESS_TOKEN,
        select: "
select id, user_id, item_id, access_token_encrypted as sealed from public.plaid_items
where id > $1 and pg_catalog.split_part(access_token_encrypted, ':', 2) <> $2
order by id limit $3 for update",
        update: "
update public.plaid_items p set access_token_encrypted = v.sealed
from unnest($1::uuid[], $2::text[], $3::text[]) as v(id, old, sealed)
where p.id = v.id and p.access_token_encrypted = v.old",
    },
];

#[async_trait]
impl SecretRepository for PgStore {
    async fn reseal_secrets(&self, batch_size: usize) -> Result<ResealReport, RepoError> {
        if batch_size == 0 {
            return Err(RepoError::invalid("batch_size", "must be at least 1"));
        }
        if let Some(user) = self.acting_as() {
            return Err(RepoError::forbidden(format!(
                "re-sealing is a service operation; a store scoped to user {user} cannot run it"
            )));
        }
        let limit = i64::try_from(batch_size)
            .map_err(|_| RepoError::invalid("batch_size", "is out of range"))?;
        let mut report = ResealReport::default();
        for column in SEALED_COLUMNS {
            let mut after = Uuid::nil();
            loop {
                let (last, seen) = self
                    .reseal_batch(
                        column.name,
                        column.select,
                        column.update,
                        after,
                        limit,
                        &mut report,
                    )
                    .await?;
                match last {
                    Some(last) if seen == batch_size => after = last,
                    _ => break,
                }
            }
        }
        Ok(report)
    }
}

impl PgStore {
    /// One batch in one transaction: returns the last id read and how many rows were read. The statements are
    /// `&'static str`: a [`SealedColumn`]'s constants, never built from a value.
    async fn reseal_batch(
        &self,
        column: &'static str,
        select: &'static str,
        update: &'static str,
        after: Uuid,
        limit: i64,
        report: &mut ResealReport,
    ) -> Result<(Option<Uuid>, usize), RepoError> {
        let mut tx = self.pool().begin().await.map_err(classify)?;
        let rows = sqlx::query(select)
            .bind(after)
            .bind(self.keyring().current_key_id())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        let (mut ids, mut old, mut new) = (Vec::new(), Vec::new(), Vec::new());
        let mut last = None;
        for row in &rows {
            let id: Uuid = row.try_get("id").map_err(classify)?;
            let owner: Uuid = row.try_get("user_id").map_err(classify)?;
            let item: Option<String> = row.try_get("item_id").map_err(classify)?;
            let sealed: String = row.try_get("sealed").map_err(classify)?;
            last = Some(id);
            // A Plaid token's tag binds its Item too: the context is the column and the Item.
            let context = match item.as_deref().map(ProviderItemId::parse) {
                Some(Ok(item)) => plaid_access_token_context(&item),
                Some(Err(_)) => {
                    report.unopenable += 1;
                    tracing::warn!(column, row = %id, "a sealed value's Item id is not one; left as it is");
                    continue;
                }
                None => column.to_owned(),
            };
            match self.keyring().reseal(&context, &sealed, UserId::new(owner)) {
                Ok(Some(resealed)) => {
                    ids.push(id);
                    old.push(sealed);
                    new.push(resealed);
                }
                Ok(None) => {}
                Err(error) => {
                    report.unopenable += 1;
                    log_unopenable(column, id, &error);
                }
            }
        }
        if !ids.is_empty() {
            let written = sqlx::query(update)
                .bind(&ids)
                .bind(&old)
                .bind(&new)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
            report.resealed += usize::try_from(written).unwrap_or(usize::MAX);
        }
        tx.commit().await.map_err(classify)?;
        Ok((last, rows.len()))
    }
}

/// Names the row and why, never the value.
fn log_unopenable(column: &str, id: Uuid, error: &SecretError) {
    tracing::warn!(column, row = %id, %error, "a sealed value does not open under any key held; left as it is");
}
