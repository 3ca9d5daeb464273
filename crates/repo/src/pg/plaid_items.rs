//! Plaid Items on PostgreSQL, their access token sealed in the column, their health mirrored on their accounts.

use async_trait::async_trait;
use secrecy::ExposeSecret;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tributary_domain::{InstitutionId, InstitutionName, ProviderItemId, StatusMessage, UserId};

use super::row::Columns;
use super::{PgStore, commit};
use crate::error::classify;
use crate::plaid_items::{apply_change, check_new_item, check_status_change};
use crate::{
    NewPlaidItem, PlaidItem, PlaidItemRepository, PlaidItemStatus, PlaidItemStatusChange, RepoError,
};

#[cfg(test)]
const COLUMNS: &str = "id, user_id, item_id, institution_id, institution_name, access_token_encrypted, status, \
                       error_code, last_error, created_at, updated_at, status_changed_at, last_synced_at";

const SELECT_ONE: &str = "
select id, user_id, item_id, institution_id, institution_name, access_token_encrypted, status, error_code,
       last_error, created_at, updated_at, status_changed_at, last_synced_at
from public.plaid_items where user_id = $1 and item_id = $2";

const SELECT_ONE_FOR_UPDATE: &str = "
select id, user_id, item_id, institution_id, institution_name, access_token_encrypted, status, error_code,
       last_error, created_at, updated_at, status_changed_at, last_synced_at
from public.plaid_items where user_id = $1 and item_id = $2 for update";

const SELECT_ALL: &str = "
select id, user_id, item_id, institution_id, institution_name, access_token_encrypted, status, error_code,
       last_error, created_at, updated_at, status_changed_at, last_synced_at
from public.plaid_items where user_id = $1 order by item_id collate \"C\"";

/// Identical values are not rewritten: the caller keeps the stored sealed value when the token is unchanged.
const UPSERT: &str = "
insert into public.plaid_items as p (user_id, item_id, institution_id, institution_name, access_token_encrypted)
values ($1, $2, $3, $4, $5)
on conflict on constraint plaid_items_user_id_item_id_key do update set
  institution_id = excluded.institution_id, institution_name = excluded.institution_name,
  access_token_encrypted = excluded.access_token_encrypted
where (p.institution_id, p.institution_name, p.access_token_encrypted)
  is distinct from (excluded.institution_id, excluded.institution_name, excluded.access_token_encrypted)";

const SET_STATUS: &str = "
update public.plaid_items set
  status = $3, error_code = $4, last_error = $5, last_synced_at = $6,
  status_changed_at = case when status = $3 then status_changed_at else now() end
where user_id = $1 and item_id = $2
  and (status, error_code, last_error, last_synced_at) is distinct from ($3, $4, $5, $6)";

/// The Item's health on its accounts (`user_investment_accounts` with provider `plaid` and its item id).
const MIRROR_ON_ACCOUNTS: &str = "
update public.user_investment_accounts set connection_status = $3
where user_id = $1 and provider = 'plaid' and provider_item_id = $2 and connection_status is distinct from $3";

/// Who holds an Item, across users (`idx_plaid_items_item_id`, migration 0021).
const OWNERS: &str = "select user_id from public.plaid_items where item_id = $1 order by user_id";

#[async_trait]
impl PlaidItemRepository for PgStore {
    async fn upsert_plaid_item(
        &self,
        user: UserId,
        item: &NewPlaidItem,
    ) -> Result<PlaidItem, RepoError> {
        check_new_item(item)?;
        let mut tx = self.begin(user).await?;
        let existing = fetch(&mut tx, SELECT_ONE_FOR_UPDATE, user, &item.item_id).await?;
        let sealed = self.sealed_token(existing.as_ref(), user, item);
        sqlx::query(UPSERT)
            .bind(user.into_uuid())
            .bind(item.item_id.as_str())
            .bind(item.institution_id.as_ref().map(InstitutionId::as_str))
            .bind(item.institution_name.as_ref().map(InstitutionName::as_str))
            .bind(&sealed)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let row = fetch(&mut tx, SELECT_ONE, user, &item.item_id)
            .await?
            .ok_or(not_found())?;
        let stored = self.read_item(&row)?;
        commit(tx).await?;
        Ok(stored)
    }

    async fn get_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItem, RepoError> {
        let mut tx = self.begin(user).await?;
        let row = fetch(&mut tx, SELECT_ONE, user, item)
            .await?
            .ok_or(not_found())?;
        let found = self.read_item(&row)?;
        commit(tx).await?;
        Ok(found)
    }

    async fn list_plaid_items(&self, user: UserId) -> Result<Vec<PlaidItem>, RepoError> {
        let mut tx = self.begin(user).await?;
        let rows = sqlx::query(SELECT_ALL)
            .bind(user.into_uuid())
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        let items = rows
            .iter()
            .map(|row| self.read_item(row))
            .collect::<Result<Vec<_>, _>>()?;
        commit(tx).await?;
        Ok(items)
    }

    async fn set_plaid_item_status(
        &self,
        user: UserId,
        item: &ProviderItemId,
        change: PlaidItemStatusChange,
    ) -> Result<PlaidItem, RepoError> {
        check_status_change(&change)?;
        let mut tx = self.begin(user).await?;
        let row = fetch(&mut tx, SELECT_ONE_FOR_UPDATE, user, item)
            .await?
            .ok_or(not_found())?;
        let current = self.read_item(&row)?;
        let (status, error_code, last_error, last_synced_at) = apply_change(&current, &change);
        sqlx::query(SET_STATUS)
            .bind(user.into_uuid())
            .bind(item.as_str())
            .bind(status.as_str())
            .bind(error_code.as_deref())
            .bind(last_error.as_ref().map(StatusMessage::as_str))
            .bind(last_synced_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query(MIRROR_ON_ACCOUNTS)
            .bind(user.into_uuid())
            .bind(item.as_str())
            .bind(status.connection_status().as_str())
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let row = fetch(&mut tx, SELECT_ONE, user, item)
            .await?
            .ok_or(not_found())?;
        let stored = self.read_item(&row)?;
        commit(tx).await?;
        Ok(stored)
    }

    async fn plaid_item_owners(&self, item: &ProviderItemId) -> Result<Vec<UserId>, RepoError> {
        if let Some(me) = self.acting_as() {
            return Err(RepoError::forbidden(format!(
                "finding the owners of a Plaid Item is a service operation; a store scoped to user {me} cannot run it"
            )));
        }
        let owners: Vec<uuid::Uuid> = sqlx::query_scalar(OWNERS)
            .bind(item.as_str())
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        Ok(owners.into_iter().map(UserId::new).collect())
    }
}

fn not_found() -> RepoError {
    RepoError::NotFound {
        entity: "plaid item",
    }
}

impl PgStore {
    /// The value to store: the existing sealed value when it opens to the same token under the current key (so
    /// storing the same Item again rewrites nothing), a fresh seal otherwise.
    fn sealed_token(&self, existing: Option<&PgRow>, user: UserId, item: &NewPlaidItem) -> String {
        let keyring = self.keyring();
        let unchanged = existing.and_then(|row| {
            let sealed: String = Columns(row).get("access_token_encrypted").ok()?;
            let opened = keyring
                .open_plaid_access_token(&sealed, user, &item.item_id)
                .ok()?;
            let same = opened.expose_secret() == item.access_token.expose_secret()
                && !keyring.needs_reseal(&sealed);
            same.then_some(sealed)
        });
        unchanged.unwrap_or_else(|| {
            keyring.seal_plaid_access_token(&item.access_token, user, &item.item_id)
        })
    }

    fn read_item(&self, row: &PgRow) -> Result<PlaidItem, RepoError> {
        let c = Columns(row);
        let user_id: UserId = c.id("user_id")?;
        let item_id = c.parse("item_id", ProviderItemId::parse)?;
        let sealed: String = c.get("access_token_encrypted")?;
        let status: String = c.get("status")?;
        Ok(PlaidItem {
            id: c.get("id")?,
            user_id,
            access_token: self
                .keyring()
                .open_plaid_access_token(&sealed, user_id, &item_id)?,
            item_id,
            institution_id: c.parse_opt("institution_id", InstitutionId::parse)?,
            institution_name: c.parse_opt("institution_name", InstitutionName::parse)?,
            status: PlaidItemStatus::parse(&status)?,
            error_code: c.get("error_code")?,
            last_error: c.parse_opt("last_error", StatusMessage::parse)?,
            created_at: c.get("created_at")?,
            updated_at: c.get("updated_at")?,
            status_changed_at: c.get("status_changed_at")?,
            last_synced_at: c.get("last_synced_at")?,
        })
    }
}

async fn fetch(
    conn: &mut PgConnection,
    query: &'static str,
    user: UserId,
    item: &ProviderItemId,
) -> Result<Option<PgRow>, RepoError> {
    sqlx::query(query)
        .bind(user.into_uuid())
        .bind(item.as_str())
        .fetch_optional(conn)
        .await
        .map_err(classify)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_select_reads_every_column_the_reader_needs() {
        for query in [
            super::SELECT_ONE,
            super::SELECT_ONE_FOR_UPDATE,
            super::SELECT_ALL,
        ] {
            let squeezed: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
            for column in super::COLUMNS.split(", ") {
                assert!(squeezed.contains(column.trim()), "{column} in {query}");
            }
        }
    }
}
