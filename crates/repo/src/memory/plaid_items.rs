//! Plaid Items in memory: the token kept as the domain's `SecretString` (nothing here outlives the process), the
//! Item's health mirrored on its accounts as PostgreSQL does.

use async_trait::async_trait;
use secrecy::ExposeSecret;
use tributary_domain::{Provider, ProviderItemId, UserId};
use uuid::Uuid;

use super::{MemoryStore, State};
use crate::plaid_items::{apply_change, check_new_item, check_status_change};
use crate::{
    NewPlaidItem, PlaidItem, PlaidItemRepository, PlaidItemStatus, PlaidItemStatusChange, RepoError,
};

const NOT_FOUND: RepoError = RepoError::NotFound {
    entity: "plaid item",
};

#[async_trait]
impl PlaidItemRepository for MemoryStore {
    async fn upsert_plaid_item(
        &self,
        user: UserId,
        item: &NewPlaidItem,
    ) -> Result<PlaidItem, RepoError> {
        check_new_item(item)?;
        let mut state = self.lock();
        state.ensure_user(user)?;
        let at = state.clock.stamp();
        let stored = state
            .plaid_items
            .entry((user, item.item_id.clone()))
            .and_modify(|current| {
                let unchanged = current.access_token.expose_secret()
                    == item.access_token.expose_secret()
                    && current.institution_id == item.institution_id
                    && current.institution_name == item.institution_name;
                if !unchanged {
                    current.access_token = item.access_token.clone();
                    current.institution_id = item.institution_id.clone();
                    current.institution_name = item.institution_name.clone();
                    current.updated_at = at;
                }
            })
            .or_insert_with(|| PlaidItem {
                id: Uuid::new_v4(),
                user_id: user,
                item_id: item.item_id.clone(),
                institution_id: item.institution_id.clone(),
                institution_name: item.institution_name.clone(),
                access_token: item.access_token.clone(),
                status: PlaidItemStatus::Healthy,
                error_code: None,
                last_error: None,
                created_at: at,
                updated_at: at,
                status_changed_at: at,
                last_synced_at: None,
            });
        Ok(stored.clone())
    }

    async fn get_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItem, RepoError> {
        self.lock()
            .plaid_items
            .get(&(user, item.clone()))
            .cloned()
            .ok_or(NOT_FOUND)
    }

    async fn list_plaid_items(&self, user: UserId) -> Result<Vec<PlaidItem>, RepoError> {
        let mut items: Vec<PlaidItem> = self
            .lock()
            .plaid_items
            .values()
            .filter(|item| item.user_id == user)
            .cloned()
            .collect();
        items.sort_by(|a, b| a.item_id.as_str().cmp(b.item_id.as_str()));
        Ok(items)
    }

    async fn set_plaid_item_status(
        &self,
        user: UserId,
        item: &ProviderItemId,
        change: PlaidItemStatusChange,
    ) -> Result<PlaidItem, RepoError> {
        check_status_change(&change)?;
        let mut state = self.lock();
        let at = state.clock.stamp();
        let current = state
            .plaid_items
            .get_mut(&(user, item.clone()))
            .ok_or(NOT_FOUND)?;
        let (status, error_code, last_error, last_synced_at) = apply_change(current, &change);
        let status_changed = current.status != status;
        let changed = status_changed
            || current.error_code != error_code
            || current.last_error != last_error
            || current.last_synced_at != last_synced_at;
        if changed {
            if status_changed {
                current.status_changed_at = at;
            }
            current.status = status;
            current.error_code = error_code;
            current.last_error = last_error;
            current.last_synced_at = last_synced_at;
            current.updated_at = at;
        }
        let stored = current.clone();
        mirror_on_accounts(&mut state, &stored);
        Ok(stored)
    }

    async fn plaid_item_owners(&self, item: &ProviderItemId) -> Result<Vec<UserId>, RepoError> {
        let mut owners: Vec<UserId> = self
            .lock()
            .plaid_items
            .keys()
            .filter(|(_, held)| held == item)
            .map(|(user, _)| *user)
            .collect();
        owners.sort_by_key(|user| user.into_uuid());
        Ok(owners)
    }
}

/// The Item's health on its accounts' `connection_status`, each changed account stamped.
fn mirror_on_accounts(state: &mut State, item: &PlaidItem) {
    let health = item.status.connection_status();
    let at = state.clock.stamp();
    for account in state.accounts.values_mut() {
        let linked = account.user_id == item.user_id
            && account.provider == Provider::Plaid
            && account.provider_item_id.as_ref() == Some(&item.item_id);
        if linked && account.connection_status != health {
            account.connection_status = health;
            account.updated_at = Some(at);
        }
    }
}
