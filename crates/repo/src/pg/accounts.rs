//! Accounts on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use tributary_domain::{
    AccountId, AccountMode, AccountName, AccountSubtype, AccountType, BrokerageName,
    ConnectionStatus, ConnectionType, InstitutionId, InstitutionName, InvestmentAccount,
    NewInvestmentAccount, Provider, ProviderAccountId, ProviderItemId, StatusMessage, SyncStatus,
    UserId,
};

use super::row::Columns;
use super::{PgStore, commit};
use crate::batch::{check_accounts, check_sync_states};
use crate::error::classify;
use crate::{AccountRepository, AccountSyncState, RepoError};

/// The readable columns: never the two secret ones, which `authenticated` may not select.
macro_rules! account_columns {
    ($alias:literal) => {
        concat!(
            $alias,
            ".id, ",
            $alias,
            ".user_id, ",
            $alias,
            ".provider, ",
            $alias,
            ".provider_account_id, ",
            $alias,
            ".provider_item_id, ",
            $alias,
            ".institution_id, ",
            $alias,
            ".institution_name, ",
            $alias,
            ".account_name, ",
            $alias,
            ".account_type, ",
            $alias,
            ".account_subtype, ",
            $alias,
            ".sync_enabled, ",
            $alias,
            ".last_synced, ",
            $alias,
            ".sync_status, ",
            $alias,
            ".sync_error_message, ",
            $alias,
            ".is_active, ",
            $alias,
            ".is_primary, ",
            $alias,
            ".raw_account_data, ",
            $alias,
            ".created_at, ",
            $alias,
            ".updated_at, ",
            $alias,
            ".snaptrade_authorization_id, ",
            $alias,
            ".brokerage_name, ",
            $alias,
            ".connection_type, ",
            $alias,
            ".connection_status, ",
            $alias,
            ".account_mode"
        )
    };
}

/// The key an account is stored under: the provider's account id, scoped by provider and user.
const ACCOUNT_KEY: &str = "user_investment_accounts_provider_provider_account_id_user__key";

/// One statement for the whole batch; the WHERE on the update leaves identical rows (and their `updated_at`)
/// alone.
const UPSERT: &str = "
insert into public.user_investment_accounts as a
  (user_id, provider, provider_account_id, provider_item_id, institution_id, institution_name, account_name,
   account_type, account_subtype, sync_enabled, is_active, is_primary, raw_account_data,
   snaptrade_authorization_id, brokerage_name, connection_type, connection_status, account_mode)
select $1::uuid, * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::text[], $10::bool[], $11::bool[], $12::bool[], $13::jsonb[], $14::uuid[],
                         $15::text[], $16::text[], $17::text[], $18::text[])
on conflict (provider, provider_account_id, user_id) do update set
  provider_item_id = excluded.provider_item_id, institution_id = excluded.institution_id,
  institution_name = excluded.institution_name, account_name = excluded.account_name,
  account_type = excluded.account_type, account_subtype = excluded.account_subtype,
  sync_enabled = excluded.sync_enabled, is_active = excluded.is_active, is_primary = excluded.is_primary,
  raw_account_data = excluded.raw_account_data, snaptrade_authorization_id = excluded.snaptrade_authorization_id,
  brokerage_name = excluded.brokerage_name, connection_type = excluded.connection_type,
  connection_status = excluded.connection_status, account_mode = excluded.account_mode
where (a.provider_item_id, a.institution_id, a.institution_name, a.account_name, a.account_type,
       a.account_subtype, a.sync_enabled, a.is_active, a.is_primary, a.raw_account_data,
       a.snaptrade_authorization_id, a.brokerage_name, a.connection_type, a.connection_status, a.account_mode)
  is distinct from
      (excluded.provider_item_id, excluded.institution_id, excluded.institution_name, excluded.account_name,
       excluded.account_type, excluded.account_subtype, excluded.sync_enabled, excluded.is_active,
       excluded.is_primary, excluded.raw_account_data, excluded.snaptrade_authorization_id,
       excluded.brokerage_name, excluded.connection_type, excluded.connection_status, excluded.account_mode)";

const SELECT_BATCH: &str = concat!(
    "select ",
    account_columns!("a"),
    " from unnest($2::text[], $3::text[]) with ordinality as k(provider, provider_account_id, position)
      join public.user_investment_accounts a
        on a.user_id = $1 and a.provider = k.provider and a.provider_account_id = k.provider_account_id
      order by k.position"
);

const SELECT_ONE: &str = concat!(
    "select ",
    account_columns!("a"),
    " from public.user_investment_accounts a where a.user_id = $1 and a.id = $2"
);

const SELECT_ALL: &str = concat!(
    "select ",
    account_columns!("a"),
    " from public.user_investment_accounts a where a.user_id = $1
      order by a.provider collate \"C\", a.provider_account_id collate \"C\""
);

/// Every user's account of one provider id (`EventStreamRepository::accounts_by_provider_id`), by owner.
pub(super) const SELECT_BY_PROVIDER_ID: &str = concat!(
    "select ",
    account_columns!("a"),
    " from public.user_investment_accounts a where a.provider = $1 and a.provider_account_id = $2
      order by a.user_id"
);

/// `last_synced` moves only on success; identical values are not rewritten.
const RECORD_SYNC: &str = "
update public.user_investment_accounts a
set sync_status = $3, sync_error_message = $4,
    last_synced = case when $3 = 'success' then $5 else a.last_synced end
where a.user_id = $1 and a.id = $2
  and (a.sync_status, a.sync_error_message, a.last_synced)
      is distinct from ($3, $4, case when $3 = 'success' then $5 else a.last_synced end)";

/// Every state of the batch in one statement. `found` counts the user's accounts among the batch's; the update
/// runs only when that is all of them, so a batch naming an unknown (or another user's) account writes nothing.
/// `last_synced` moves only on success; identical values are not rewritten.
const RECORD_SYNCS: &str = "
with batch as (
  select * from unnest($2::uuid[], $3::text[], $4::text[]) as b(id, sync_status, sync_error_message)
), found as (
  select count(*) as accounts
  from public.user_investment_accounts a join batch b on a.id = b.id
  where a.user_id = $1
), written as (
  update public.user_investment_accounts a
  set sync_status = b.sync_status, sync_error_message = b.sync_error_message,
      last_synced = case when b.sync_status = 'success' then $5 else a.last_synced end
  from batch b
  where a.user_id = $1 and a.id = b.id
    and (select accounts from found) = pg_catalog.cardinality($2::uuid[])
    and (a.sync_status, a.sync_error_message, a.last_synced)
        is distinct from
        (b.sync_status, b.sync_error_message,
         case when b.sync_status = 'success' then $5 else a.last_synced end)
  returning 1
)
select (select accounts from found) as found, (select count(*) from written) as written";

#[async_trait]
impl AccountRepository for PgStore {
    async fn upsert_accounts(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        check_accounts(user, accounts)?;
        let mut tx = self.begin(user).await?;
        let text = |f: fn(&NewInvestmentAccount) -> Option<&str>| {
            accounts
                .iter()
                .map(|a| f(a).map(str::to_owned))
                .collect::<Vec<_>>()
        };
        let providers: Vec<&str> = accounts.iter().map(|a| a.provider.as_str()).collect();
        let provider_account_ids: Vec<&str> = accounts
            .iter()
            .map(|a| a.provider_account_id.as_str())
            .collect();
        sqlx::query(UPSERT)
            .bind(user.into_uuid())
            .bind(&providers)
            .bind(&provider_account_ids)
            .bind(text(|a| a.provider_item_id.as_ref().map(|v| v.as_str())))
            .bind(text(|a| a.institution_id.as_ref().map(|v| v.as_str())))
            .bind(text(|a| Some(a.institution_name.as_str())))
            .bind(text(|a| a.account_name.as_ref().map(|v| v.as_str())))
            .bind(text(|a| Some(a.account_type.as_str())))
            .bind(text(|a| a.account_subtype.as_ref().map(|v| v.as_str())))
            .bind(accounts.iter().map(|a| a.sync_enabled).collect::<Vec<_>>())
            .bind(accounts.iter().map(|a| a.is_active).collect::<Vec<_>>())
            .bind(accounts.iter().map(|a| a.is_primary).collect::<Vec<_>>())
            .bind(
                accounts
                    .iter()
                    .map(|a| a.raw_account_data.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                accounts
                    .iter()
                    .map(|a| a.snaptrade_authorization_id.map(|id| id.into_uuid()))
                    .collect::<Vec<_>>(),
            )
            .bind(text(|a| a.brokerage_name.as_ref().map(|v| v.as_str())))
            .bind(text(|a| Some(a.connection_type.as_str())))
            .bind(text(|a| Some(a.connection_status.as_str())))
            .bind(text(|a| Some(a.account_mode.as_str())))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let rows = sqlx::query(SELECT_BATCH)
            .bind(user.into_uuid())
            .bind(&providers)
            .bind(&provider_account_ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        // Every account of the batch is read back under its key; fewer rows than sent (one kept out or removed by
        // something else in the database) is a conflict on the key, and dropping the transaction undoes the batch.
        if rows.len() != accounts.len() {
            return Err(RepoError::Conflict {
                constraint: ACCOUNT_KEY.to_owned(),
            });
        }
        let stored = rows
            .iter()
            .map(read_account)
            .collect::<Result<Vec<_>, _>>()?;
        commit(tx).await?;
        Ok(stored)
    }

    async fn get_account(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<InvestmentAccount, RepoError> {
        let query = sqlx::query(SELECT_ONE)
            .bind(user.into_uuid())
            .bind(account.into_uuid());
        self.read_row(user, query, read_account, "account").await
    }

    async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError> {
        let query = sqlx::query(SELECT_ALL).bind(user.into_uuid());
        self.read_rows(user, query, read_account).await
    }

    async fn record_account_sync(
        &self,
        user: UserId,
        account: AccountId,
        status: SyncStatus,
        error_message: Option<StatusMessage>,
        at: DateTime<Utc>,
    ) -> Result<InvestmentAccount, RepoError> {
        let mut tx = self.begin(user).await?;
        sqlx::query(RECORD_SYNC)
            .bind(user.into_uuid())
            .bind(account.into_uuid())
            .bind(status.as_str())
            .bind(error_message.as_ref().map(StatusMessage::as_str))
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let row = sqlx::query(SELECT_ONE)
            .bind(user.into_uuid())
            .bind(account.into_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
            .ok_or(RepoError::NotFound { entity: "account" })?;
        let account = read_account(&row)?;
        commit(tx).await?;
        Ok(account)
    }

    async fn record_account_syncs(
        &self,
        user: UserId,
        states: &[AccountSyncState],
        at: DateTime<Utc>,
    ) -> Result<usize, RepoError> {
        check_sync_states(user, states)?;
        if states.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin(user).await?;
        let row = sqlx::query(RECORD_SYNCS)
            .bind(user.into_uuid())
            .bind(
                states
                    .iter()
                    .map(|s| s.account.into_uuid())
                    .collect::<Vec<_>>(),
            )
            .bind(states.iter().map(|s| s.status.as_str()).collect::<Vec<_>>())
            .bind(
                states
                    .iter()
                    .map(|s| s.error_message.as_ref().map(StatusMessage::as_str))
                    .collect::<Vec<_>>(),
            )
            .bind(at)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let (found, written): (i64, i64) =
            (Columns(&row).get("found")?, Columns(&row).get("written")?);
        // Committed even when an account is missing: the statement wrote nothing then, and a miss is an
        // answer, not a failed write of the caller's unit.
        commit(tx).await?;
        if usize::try_from(found).ok() != Some(states.len()) {
            return Err(RepoError::NotFound { entity: "account" });
        }
        Ok(usize::try_from(written).unwrap_or(usize::MAX))
    }
}

/// A row of the account columns; NULLs in defaulted columns are read as their defaults.
pub(super) fn read_account(row: &PgRow) -> Result<InvestmentAccount, RepoError> {
    let c = Columns(row);
    let provider = c.parse("provider", Provider::parse)?;
    Ok(InvestmentAccount {
        id: c.id("id")?,
        user_id: c.id("user_id")?,
        provider,
        provider_account_id: c.parse("provider_account_id", ProviderAccountId::parse)?,
        provider_item_id: c.parse_opt("provider_item_id", ProviderItemId::parse)?,
        institution_id: c.parse_opt("institution_id", InstitutionId::parse)?,
        institution_name: c.parse("institution_name", InstitutionName::parse)?,
        account_name: c.parse_opt("account_name", AccountName::parse)?,
        account_type: c.parse("account_type", AccountType::parse)?,
        account_subtype: c.parse_opt("account_subtype", AccountSubtype::parse)?,
        sync_enabled: c.get::<Option<bool>>("sync_enabled")?.unwrap_or(true),
        last_synced: c.get("last_synced")?,
        sync_status: c
            .parse_opt("sync_status", SyncStatus::parse)?
            .unwrap_or(SyncStatus::Pending),
        sync_error_message: c
            .get::<Option<String>>("sync_error_message")?
            .and_then(|text| StatusMessage::from_optional(Some(&text))),
        is_active: c.get::<Option<bool>>("is_active")?.unwrap_or(true),
        is_primary: c.get::<Option<bool>>("is_primary")?.unwrap_or(false),
        raw_account_data: c.json_or("raw_account_data", || serde_json::json!({}))?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        snaptrade_authorization_id: c.opt_id("snaptrade_authorization_id")?,
        brokerage_name: c.parse_opt("brokerage_name", BrokerageName::parse)?,
        connection_type: c
            .parse_opt("connection_type", ConnectionType::parse)?
            .unwrap_or(ConnectionType::Read),
        connection_status: c
            .parse_opt("connection_status", ConnectionStatus::parse)?
            .unwrap_or(ConnectionStatus::Active),
        account_mode: c
            .parse_opt("account_mode", AccountMode::parse)?
            .unwrap_or(AccountMode::from(provider)),
    })
}
