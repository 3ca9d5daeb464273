//! Unlinking a stored Item: removed at Plaid, then deleted here with its accounts retired.

use tributary_domain::{Provider, ProviderItemId, UserId};
use tributary_provider::ProviderError;
use tributary_provider::plaid::{AccessToken, PlaidClient};
use tributary_repo::{PlaidItem, RemovalRepository, RepoError, Store, UserLock};

use super::Plaid;
use crate::engine::in_one_unit;
use crate::lifecycle::ProviderRemoval;
use crate::{SyncEngine, SyncError};

/// Plaid's codes for a token that opens nothing any more, which `/item/remove` answers once the Item is gone
/// (plaid-openapi.yml, `/item/remove`: "Once removed, the `access_token` … is no longer valid"; the errors
/// reference: `ITEM_NOT_FOUND` "has been previously removed via /item/remove, or has had access removed by the
/// user", `INVALID_ACCESS_TOKEN` "could not find matching access token").
const CODES_ITEM_GONE: [&str; 2] = ["ITEM_NOT_FOUND", "INVALID_ACCESS_TOKEN"];

/// What [`Plaid::unlink_item`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaidItemUnlinked {
    /// The Item.
    pub item_id: ProviderItemId,
    /// Plaid's answer to `/item/remove`; [`ProviderRemoval::AlreadyGone`] without asking when an earlier call
    /// deleted the Item here already (it is deleted only after Plaid removed it).
    pub at_plaid: ProviderRemoval,
    /// How many of its accounts were active and are not any more.
    pub accounts_retired: usize,
}

/// `/item/remove` with the Item's stored token; an Item Plaid no longer knows is gone already.
pub(crate) async fn removed_at_plaid(
    client: &PlaidClient,
    item: &PlaidItem,
) -> Result<ProviderRemoval, SyncError> {
    match client
        .remove_item(&AccessToken::new(item.access_token.clone()))
        .await
    {
        Ok(_) => Ok(ProviderRemoval::Removed),
        Err(error) if item_gone(&error) => Ok(ProviderRemoval::AlreadyGone),
        Err(error) => Err(error.into()),
    }
}

fn item_gone(error: &ProviderError) -> bool {
    error
        .detail()
        .and_then(|detail| detail.code.as_deref())
        .is_some_and(|code| CODES_ITEM_GONE.contains(&code))
}

impl<S: Store + RemovalRepository + 'static> Plaid<'_, S> {
    /// Unlinks one of `user`'s stored Items: Plaid's `/item/remove` with its stored token (which ends Plaid's
    /// billing for it), then, in one unit of writes, the Item deleted (its sealed token with it) and its accounts
    /// retired — kept as rows with their orders, inactive, their connection shown disabled, and the holdings
    /// rebuilt without them.
    ///
    /// Idempotent and resumable: Plaid answering that the Item is gone already (`ITEM_NOT_FOUND`,
    /// `INVALID_ACCESS_TOKEN`) counts as done, so a call cut short after Plaid removed the Item is finished by the
    /// same call; one made after the Item was deleted here finds its retired accounts and answers
    /// [`ProviderRemoval::AlreadyGone`].
    ///
    /// # Errors
    /// The router's refusal; [`SyncError::NoClient`]; [`RepoError::NotFound`] (`"plaid item"`) when `user` has
    /// no such Item, stored or retired (another user's never is one, and nothing is sent to Plaid then); Plaid's
    /// other errors (nothing changed here); the store's.
    pub async fn unlink_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItemUnlinked, SyncError> {
        self.plugin()?;
        let held = self.engine.hold(user).await?;
        let result = Plaid {
            engine: &held.engine,
        }
        .unlink_held(&held.lock, user, item)
        .await;
        held.finish(result).await
    }

    /// [`Self::unlink_item`], with the user held.
    async fn unlink_held(
        &self,
        lock: &UserLock,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItemUnlinked, SyncError> {
        let client = &self.plugin()?.client;
        let at_plaid = match self.engine.store.get_plaid_item(user, item).await {
            Ok(stored) => removed_at_plaid(client, &stored).await?,
            Err(RepoError::NotFound { .. }) => {
                let accounts = self.engine.store.list_accounts(user).await?;
                if !accounts.iter().any(|account| of_item(account, item)) {
                    return Err(RepoError::NotFound {
                        entity: "plaid item",
                    }
                    .into());
                }
                ProviderRemoval::AlreadyGone
            }
            Err(error) => return Err(error.into()),
        };
        let accounts_retired = in_one_unit(lock, retired(self.engine, user, item)).await?;
        Ok(PlaidItemUnlinked {
            item_id: item.clone(),
            at_plaid,
            accounts_retired,
        })
    }
}

/// The Item deleted here (when it still is stored) and its accounts retired. (The caller holds the user, inside
/// a unit.)
async fn retired<S: Store + RemovalRepository + 'static>(
    engine: &SyncEngine<S>,
    user: UserId,
    item: &ProviderItemId,
) -> Result<usize, SyncError> {
    match engine.store.delete_plaid_item(user, item).await {
        Ok(()) | Err(RepoError::NotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    engine
        .retire_accounts(user, |account| of_item(account, item))
        .await
}

fn of_item(account: &tributary_domain::InvestmentAccount, item: &ProviderItemId) -> bool {
    account.provider == Provider::Plaid && account.provider_item_id.as_ref() == Some(item)
}
