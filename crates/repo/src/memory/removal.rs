//! Removals in memory: an Item, or every row of a user, taken out under one lock of the state.

use async_trait::async_trait;
use tributary_domain::{ProviderItemId, UserId};

use super::MemoryStore;
use crate::{RemovalRepository, RepoError, UserRowsDeleted};

#[async_trait]
impl RemovalRepository for MemoryStore {
    async fn delete_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<(), RepoError> {
        self.lock()
            .plaid_items
            .remove(&(user, item.clone()))
            .map(drop)
            .ok_or(RepoError::NotFound {
                entity: "plaid item",
            })
    }

    async fn delete_user_rows(&self, user: UserId) -> Result<UserRowsDeleted, RepoError> {
        let mut state = self.lock();
        let count = |before: usize, after: usize| before - after;
        let mut deleted = UserRowsDeleted::default();
        let before = state.orders.len();
        state.orders.retain(|_, order| order.user_id != user);
        deleted.orders = count(before, state.orders.len());
        let before = state.transactions.len();
        state.transactions.retain(|(owner, _, _), _| *owner != user);
        deleted.transactions = count(before, state.transactions.len());
        state
            .transactions_synced
            .retain(|(owner, _), _| *owner != user);
        let before = state.value_points.len();
        state
            .value_points
            .retain(|(owner, _, _, _), _| *owner != user);
        deleted.value_points = count(before, state.value_points.len());
        let before = state.holdings.len();
        state.holdings.retain(|_, holding| holding.user_id != user);
        deleted.holdings = count(before, state.holdings.len());
        let before = state.accounts.len();
        state.accounts.retain(|_, account| account.user_id != user);
        deleted.accounts = count(before, state.accounts.len());
        let before = state.connections.len();
        state.connections.retain(|(owner, _), _| *owner != user);
        deleted.connections = count(before, state.connections.len());
        let before = state.plaid_items.len();
        state.plaid_items.retain(|(owner, _), _| *owner != user);
        deleted.plaid_items = count(before, state.plaid_items.len());
        deleted.snaptrade_user = state.snaptrade_users.remove(&user).is_some();
        deleted.alpaca_account_link = state.alpaca_accounts.remove(&user).is_some();
        Ok(deleted)
    }
}
