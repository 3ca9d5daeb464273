//! Investment transactions and their sync position in memory.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tributary_domain::{
    AccountId, Currency, InvestmentTransaction, NewInvestmentTransaction, Provider,
    ProviderTransactionId, TransactionId, UserId,
};

use super::{MemoryStore, State, sorted_by};
use crate::history::{check_transactions, currency_changed};
use crate::{RepoError, TransactionQuery, TransactionRepository, TransactionsWritten};

impl State {
    /// The provider of the user's account; [`RepoError::NotFound`] (`"account"`) when it is not the user's.
    fn account_provider(&self, user: UserId, account: AccountId) -> Result<Provider, RepoError> {
        self.accounts
            .get(&account)
            .filter(|a| a.user_id == user)
            .map(|a| a.provider)
            .ok_or(RepoError::NotFound { entity: "account" })
    }
}

#[async_trait]
impl TransactionRepository for MemoryStore {
    async fn upsert_transactions(
        &self,
        user: UserId,
        account: AccountId,
        transactions: &[NewInvestmentTransaction],
    ) -> Result<TransactionsWritten, RepoError> {
        check_transactions(user, account, transactions)?;
        let mut state = self.lock();
        let provider = state.account_provider(user, account)?;
        if let Some(other) = transactions.iter().find(|t| t.provider != provider) {
            return Err(RepoError::invalid(
                "provider",
                format!("a {} transaction for a {provider} account", other.provider),
            ));
        }
        // Every check before the first change, so a refused batch writes nothing.
        for new in transactions {
            if let Some(stored) = state.transactions.get(&transaction_key(new))
                && stored.transaction.currency != new.currency
            {
                return Err(currency_changed(
                    new.provider_transaction_id.as_str(),
                    &stored.transaction.currency,
                    &new.currency,
                ));
            }
        }
        let at = state.clock.stamp();
        let mut written = TransactionsWritten::default();
        for new in transactions {
            match state.transactions.get_mut(&transaction_key(new)) {
                Some(stored) if stored.transaction == *new => written.unchanged += 1,
                Some(stored) => {
                    stored.transaction = new.clone();
                    stored.updated_at = at;
                    written.updated += 1;
                }
                None => {
                    let created = new
                        .clone()
                        .into_stored(TransactionId::generate_ordered(), at);
                    state.transactions.insert(transaction_key(new), created);
                    written.inserted += 1;
                }
            }
        }
        Ok(written)
    }

    async fn remove_transactions(
        &self,
        user: UserId,
        account: AccountId,
        provider_transaction_ids: &[ProviderTransactionId],
    ) -> Result<usize, RepoError> {
        let mut state = self.lock();
        state.account_provider(user, account)?;
        Ok(provider_transaction_ids
            .iter()
            .filter(|id| {
                state
                    .transactions
                    .remove(&(user, account, (*id).clone()))
                    .is_some()
            })
            .count())
    }

    async fn list_transactions(
        &self,
        user: UserId,
        query: &TransactionQuery,
    ) -> Result<Vec<InvestmentTransaction>, RepoError> {
        query.check()?;
        let matching = self
            .lock()
            .transactions
            .values()
            .filter(|t| t.transaction.user_id == user && query.matches(&t.transaction))
            .cloned()
            .collect();
        let mut listed = sorted_by(matching, |t| {
            (
                std::cmp::Reverse(t.transaction.trade_date),
                t.transaction.account_id,
                t.transaction.provider_transaction_id.as_str().to_owned(),
            )
        });
        listed.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(listed)
    }

    async fn transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<Option<NaiveDate>, RepoError> {
        let state = self.lock();
        state.account_provider(user, account)?;
        Ok(state.transactions_synced.get(&(user, account)).copied())
    }

    async fn net_contributions(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<BTreeMap<Currency, Decimal>, RepoError> {
        let state = self.lock();
        state.account_provider(user, account)?;
        let mut sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
        let contributions = state
            .transactions
            .values()
            .map(|t| &t.transaction)
            .filter(|t| {
                t.user_id == user && t.account_id == account && t.transaction_type.is_contribution()
            });
        for t in contributions {
            *sums.entry(t.currency.clone()).or_default() += t.amount.get();
        }
        Ok(sums)
    }

    async fn advance_transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
        through: NaiveDate,
    ) -> Result<bool, RepoError> {
        let mut state = self.lock();
        state.account_provider(user, account)?;
        let key = (user, account);
        match state.transactions_synced.get(&key) {
            Some(recorded) if *recorded >= through => Ok(false),
            _ => {
                state.transactions_synced.insert(key, through);
                Ok(true)
            }
        }
    }
}

/// A transaction's key, as `investment_transactions_account_transaction_key`.
pub(super) type TransactionKey = (UserId, AccountId, ProviderTransactionId);

pub(super) fn transaction_key(transaction: &NewInvestmentTransaction) -> TransactionKey {
    (
        transaction.user_id,
        transaction.account_id,
        transaction.provider_transaction_id.clone(),
    )
}
