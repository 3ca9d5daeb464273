//! The portfolio on PostgreSQL: `get_user_portfolio_mode`, `v_unified_investment_accounts`, onboarding.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use tributary_domain::{
    AccountMode, AccountName, AccountSubtype, AccountType, BrokerageName, ConnectionStatus,
    ConnectionType, InstitutionName, PortfolioMode, Provider, ProviderAccountId, UserId,
};

use super::row::Columns;
use super::{PgStore, commit, only_row};
use crate::error::classify;
use crate::{PortfolioRepository, PortfolioSummary, RepoError, UnifiedAccount};

/// As a user: the schema's function, so its refusal to answer about anyone else applies.
const MODE: &str = "
select mode, has_alpaca, has_plaid, has_snaptrade, alpaca_account_id, accounts_count
from public.get_user_portfolio_mode($1)";

/// As the service: the summary row the database keeps (migration 0025), by primary key, read exactly as the
/// function reads it. The mode is the row's generated column, so the decision stays in one place, the schema's
/// `decide_portfolio_mode`; a user with no row has the facts "nothing", whose mode that function answers too
/// (a call with constant arguments, folded once when the statement is planned).
const MODE_OF_ANY_USER: &str = "
select coalesce(s.mode, public.decide_portfolio_mode(false, false, false)) as mode,
       coalesce(s.has_alpaca, false) as has_alpaca,
       coalesce(s.has_plaid, false) as has_plaid,
       coalesce(s.has_snaptrade, false) as has_snaptrade,
       s.alpaca_account_id,
       coalesce(s.accounts_count, 0) as accounts_count
from (select $1::uuid as user_id) k
left join public.user_portfolio_summary s on s.user_id = k.user_id";

const UNIFIED: &str = "
select id, user_id, provider, provider_account_id, institution_name, account_name, account_type, account_subtype,
       is_active, account_mode, snaptrade_authorization_id, brokerage_name, connection_type, connection_status,
       brokerage_connection_status, brokerage_last_synced, created_at, updated_at, last_synced
from public.v_unified_investment_accounts where user_id = $1
order by provider collate \"C\", provider_account_id collate \"C\"";

const LINK_ALPACA: &str = "
insert into public.user_onboarding as o (user_id, status, alpaca_account_id) values ($1, 'in_progress', $2)
on conflict (user_id) do update set alpaca_account_id = excluded.alpaca_account_id
where o.alpaca_account_id is distinct from excluded.alpaca_account_id";

const UNLINK_ALPACA: &str = "
update public.user_onboarding set alpaca_account_id = null where user_id = $1 and alpaca_account_id is not null";

#[async_trait]
impl PortfolioRepository for PgStore {
    async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError> {
        // The schema decides and stores the mode; neither path here decides anything. As a user the function
        // runs in a transaction with the user's role and claims, so RLS and its refusal apply; service mode asks
        // for this on every page view, for any user, and reads the summary row as one statement on the pool.
        let scoped = self.acting_as.is_some() || self.session_of(user).is_some();
        let query = if scoped {
            sqlx::query(MODE)
        } else {
            sqlx::query(MODE_OF_ANY_USER)
        };
        let query = query.bind(user.into_uuid());
        let rows = self.read_rows(user, query, read_summary).await?;
        only_row(rows, "portfolio mode")
    }

    async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError> {
        let query = sqlx::query(UNIFIED).bind(user.into_uuid());
        self.read_rows(user, query, read_unified).await
    }

    async fn set_alpaca_account(
        &self,
        user: UserId,
        alpaca_account_id: Option<ProviderAccountId>,
    ) -> Result<(), RepoError> {
        let mut tx = self.begin(user).await?;
        let query = match &alpaca_account_id {
            Some(id) => sqlx::query(LINK_ALPACA)
                .bind(user.into_uuid())
                .bind(id.as_str()),
            None => sqlx::query(UNLINK_ALPACA).bind(user.into_uuid()),
        };
        query.execute(&mut *tx).await.map_err(classify)?;
        commit(tx).await
    }
}

fn read_summary(row: &PgRow) -> Result<PortfolioSummary, RepoError> {
    let c = Columns(row);
    let count: i32 = c.get("accounts_count")?;
    Ok(PortfolioSummary {
        mode: c.parse("mode", PortfolioMode::parse)?,
        has_alpaca: c.get("has_alpaca")?,
        has_plaid: c.get("has_plaid")?,
        has_snaptrade: c.get("has_snaptrade")?,
        alpaca_account_id: c.parse_opt("alpaca_account_id", ProviderAccountId::parse)?,
        accounts_count: u32::try_from(count).map_err(|_| {
            RepoError::invalid("accounts_count", format!("{count} is out of range"))
        })?,
    })
}

fn read_unified(row: &PgRow) -> Result<UnifiedAccount, RepoError> {
    let c = Columns(row);
    let provider = c.parse("provider", Provider::parse)?;
    Ok(UnifiedAccount {
        id: c.id("id")?,
        user_id: c.id("user_id")?,
        provider,
        provider_account_id: c.parse("provider_account_id", ProviderAccountId::parse)?,
        institution_name: c.parse("institution_name", InstitutionName::parse)?,
        account_name: c.parse_opt("account_name", AccountName::parse)?,
        account_type: c.parse("account_type", AccountType::parse)?,
        account_subtype: c.parse_opt("account_subtype", AccountSubtype::parse)?,
        is_active: c.get::<Option<bool>>("is_active")?.unwrap_or(true),
        account_mode: c
            .parse_opt("account_mode", AccountMode::parse)?
            .unwrap_or(AccountMode::from(provider)),
        snaptrade_authorization_id: c.opt_id("snaptrade_authorization_id")?,
        brokerage_name: c.parse_opt("brokerage_name", BrokerageName::parse)?,
        connection_type: c
            .parse_opt("connection_type", ConnectionType::parse)?
            .unwrap_or(ConnectionType::Read),
        connection_status: c
            .parse_opt("connection_status", ConnectionStatus::parse)?
            .unwrap_or(ConnectionStatus::Active),
        brokerage_connection_status: c
            .parse_opt("brokerage_connection_status", ConnectionStatus::parse)?,
        brokerage_last_synced: c.get("brokerage_last_synced")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        last_synced: c.get("last_synced")?,
    })
}
