//! Accounts in memory: upserts keyed by user, provider and provider account id, and each sync's outcome.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::{
    AccountId, InvestmentAccount, NewInvestmentAccount, StatusMessage, SyncStatus, UserId,
};

use super::{MemoryStore, listing_order, sorted_by, write_if_changed};
use crate::batch::{check_accounts, check_sync_states};
use crate::{AccountRepository, AccountSyncState, RepoError};

#[async_trait]
impl AccountRepository for MemoryStore {
    async fn upsert_accounts(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        check_accounts(user, accounts)?;
        let mut state = self.lock();
        if !accounts.is_empty() {
            state.ensure_user(user)?;
        }
        let at = state.clock.stamp();
        let mut stored = Vec::with_capacity(accounts.len());
        for new in accounts {
            let id = match state.account_by_key(new) {
                Some(id) => {
                    let current = state.accounts.get_mut(&id).expect("found by key");
                    // The sync's own columns are not the draft's to change.
                    let updated = InvestmentAccount {
                        created_at: current.created_at,
                        updated_at: current.updated_at,
                        last_synced: current.last_synced,
                        sync_status: current.sync_status,
                        sync_error_message: current.sync_error_message.clone(),
                        ..new.clone().into_stored(id, at)
                    };
                    write_if_changed(current, updated, |a| a.updated_at = Some(at));
                    id
                }
                None => {
                    let account = new.clone().into_stored(AccountId::generate(), at);
                    let id = account.id;
                    state.accounts.insert(id, account);
                    id
                }
            };
            stored.push(state.accounts[&id].clone());
        }
        Ok(stored)
    }

    async fn get_account(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<InvestmentAccount, RepoError> {
        self.lock()
            .accounts
            .get(&account)
            .filter(|a| a.user_id == user)
            .cloned()
            .ok_or(RepoError::NotFound { entity: "account" })
    }

    async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError> {
        let accounts = self
            .lock()
            .accounts
            .values()
            .filter(|a| a.user_id == user)
            .cloned()
            .collect();
        Ok(sorted_by(accounts, |a| {
            listing_order(a.provider, &a.provider_account_id)
        }))
    }

    async fn record_account_sync(
        &self,
        user: UserId,
        account: AccountId,
        status: SyncStatus,
        error_message: Option<StatusMessage>,
        at: DateTime<Utc>,
    ) -> Result<InvestmentAccount, RepoError> {
        let mut state = self.lock();
        let stamp = state.clock.stamp();
        let current = state
            .accounts
            .get_mut(&account)
            .filter(|a| a.user_id == user)
            .ok_or(RepoError::NotFound { entity: "account" })?;
        let updated = sync_recorded(current, status, error_message, at);
        write_if_changed(current, updated, |a| a.updated_at = Some(stamp));
        Ok(current.clone())
    }

    async fn record_account_syncs(
        &self,
        user: UserId,
        states: &[AccountSyncState],
        at: DateTime<Utc>,
    ) -> Result<usize, RepoError> {
        check_sync_states(user, states)?;
        let mut state = self.lock();
        let all_found = states.iter().all(|s| {
            state
                .accounts
                .get(&s.account)
                .is_some_and(|a| a.user_id == user)
        });
        if !all_found {
            return Err(RepoError::NotFound { entity: "account" });
        }
        if states.is_empty() {
            return Ok(0);
        }
        let stamp = state.clock.stamp();
        let mut written = 0;
        for new in states {
            let current = state.accounts.get_mut(&new.account).expect("checked above");
            let updated = sync_recorded(current, new.status, new.error_message.clone(), at);
            if write_if_changed(current, updated, |a| a.updated_at = Some(stamp)) {
                written += 1;
            }
        }
        Ok(written)
    }
}

/// The account with a sync's outcome recorded: `last_synced` moves only on success.
fn sync_recorded(
    current: &InvestmentAccount,
    status: SyncStatus,
    error_message: Option<StatusMessage>,
    at: DateTime<Utc>,
) -> InvestmentAccount {
    InvestmentAccount {
        sync_status: status,
        sync_error_message: error_message,
        last_synced: if status == SyncStatus::Success {
            Some(at)
        } else {
            current.last_synced
        },
        ..current.clone()
    }
}
