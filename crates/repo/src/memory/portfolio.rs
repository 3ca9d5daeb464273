//! The portfolio mode and the unified accounts view, computed from the rows in memory.

use async_trait::async_trait;
use tributary_domain::{
    BrokerageConnection, InvestmentAccount, PortfolioMode, Provider, ProviderAccountId, UserId,
};

use super::{MemoryStore, listing_order, sorted_by};
use crate::{PortfolioRepository, PortfolioSummary, RepoError, UnifiedAccount};

#[async_trait]
impl PortfolioRepository for MemoryStore {
    async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError> {
        let state = self.lock();
        let active: Vec<&InvestmentAccount> = state
            .accounts
            .values()
            .filter(|a| a.user_id == user && a.is_active)
            .collect();
        let has = |provider| active.iter().any(|a| a.provider == provider);
        let alpaca_account_id = state.alpaca_accounts.get(&user).cloned();
        let (has_alpaca, has_plaid, has_snaptrade) = (
            alpaca_account_id.is_some(),
            has(Provider::Plaid),
            has(Provider::SnapTrade),
        );
        Ok(PortfolioSummary {
            mode: PortfolioMode::from_providers(has_alpaca, has_plaid, has_snaptrade),
            has_alpaca,
            has_plaid,
            has_snaptrade,
            alpaca_account_id,
            accounts_count: u32::try_from(active.len()).unwrap_or(u32::MAX),
        })
    }

    async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError> {
        let state = self.lock();
        let unified = state
            .accounts
            .values()
            .filter(|a| a.user_id == user)
            .map(|a| {
                let connection = a
                    .snaptrade_authorization_id
                    .and_then(|id| state.connections.get(&(user, id)));
                unified(a, connection)
            })
            .collect();
        Ok(sorted_by(unified, |a| {
            listing_order(a.provider, &a.provider_account_id)
        }))
    }

    async fn set_alpaca_account(
        &self,
        user: UserId,
        alpaca_account_id: Option<ProviderAccountId>,
    ) -> Result<(), RepoError> {
        let mut state = self.lock();
        match alpaca_account_id {
            Some(id) => {
                state.ensure_user(user)?;
                state.alpaca_accounts.insert(user, id);
            }
            None => {
                state.alpaca_accounts.remove(&user);
            }
        }
        Ok(())
    }
}

/// A row of the view: the account left-joined to its connection (same authorization and same user).
fn unified(
    account: &InvestmentAccount,
    connection: Option<&BrokerageConnection>,
) -> UnifiedAccount {
    let a = account.clone();
    UnifiedAccount {
        id: a.id,
        user_id: a.user_id,
        provider: a.provider,
        provider_account_id: a.provider_account_id,
        institution_name: a.institution_name,
        account_name: a.account_name,
        account_type: a.account_type,
        account_subtype: a.account_subtype,
        is_active: a.is_active,
        account_mode: a.account_mode,
        snaptrade_authorization_id: a.snaptrade_authorization_id,
        brokerage_name: a.brokerage_name,
        connection_type: a.connection_type,
        connection_status: a.connection_status,
        brokerage_connection_status: connection.map(|c| c.status),
        brokerage_last_synced: connection.and_then(|c| c.last_synced_at),
        created_at: a.created_at,
        updated_at: a.updated_at,
        last_synced: a.last_synced,
    }
}
