//! Ending things on request: a user forgotten ([`SyncEngine::forget_user`]), with what it shares with unlinking a
//! Plaid Item and disconnecting a SnapTrade connection — the providers told first, then the rows changed in one
//! unit of writes, so a call cut short anywhere is finished by the same call made again.

use tributary_domain::{ProviderAccountId, ProviderItemId, UserId};
use tributary_repo::{RemovalRepository, Store, UserLock, UserRowsDeleted};

use crate::engine::in_one_unit;
use crate::{SyncEngine, SyncError};

/// What a provider answered when Tributary asked it to end something.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderRemoval {
    /// Removed at the provider by this call.
    Removed,
    /// The provider answered that it was gone already: removed by an earlier run of the same call that stopped
    /// before it finished, or ended at the provider's side (the user revoked it there).
    AlreadyGone,
    /// Nothing was stored to tell the provider about.
    NothingStored,
    /// Left in place at the provider on purpose, with why (Alpaca's brokerage account: closing it is a brokerage
    /// act the operator takes).
    LeftInPlace {
        /// Why.
        reason: String,
    },
}

/// What [`SyncEngine::forget_user`] did at each provider and in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserForgotten {
    /// Each stored Plaid Item and Plaid's answer to `/item/remove`.
    pub plaid_items: Vec<(ProviderItemId, ProviderRemoval)>,
    /// SnapTrade's answer to deleting the user (`deleteUser`), or [`ProviderRemoval::NothingStored`] for a user
    /// never registered there.
    pub snaptrade: ProviderRemoval,
    /// Always [`ProviderRemoval::LeftInPlace`] when the user had an Alpaca brokerage account, else
    /// [`ProviderRemoval::NothingStored`].
    pub alpaca: ProviderRemoval,
    /// The Alpaca brokerage account left open, whose link was deleted with the user's rows: what the operator
    /// closes through the Broker API once its positions are closed and its cash withdrawn.
    pub alpaca_account: Option<ProviderAccountId>,
    /// The rows deleted.
    pub rows: UserRowsDeleted,
}

impl<S: Store + RemovalRepository + 'static> SyncEngine<S> {
    /// Forgets `user`: every provider holding something for them is told first, then every row Tributary's own
    /// tables hold for them is deleted in one unit of writes.
    ///
    /// * **Plaid**: each stored Item is removed with `/item/remove` (which ends Plaid's billing for it).
    /// * **SnapTrade**: the user is deleted with `deleteUser` (SnapTrade bills per connected user), which takes
    ///   their connections with it.
    /// * **Alpaca**: the brokerage account is left open. Closing it is a brokerage act with money in it (the
    ///   Broker API's `POST /v1/accounts/{account_id}/actions/close` wants every position closed and the cash
    ///   withdrawn first, and keeps the account's records), so it is the operator's, with the account id this
    ///   report names ([`UserForgotten::alpaca_account`]); the link to it is deleted with the user's rows.
    /// * **Rows**: accounts, holdings, orders, connections, the SnapTrade registration, Plaid Items and the
    ///   onboarding row ([`RemovalRepository::delete_user_rows`]). Orders go too: the user asked to be
    ///   forgotten, and the brokerage of record (Alpaca, or the brokerage behind a SnapTrade connection) keeps
    ///   the legal trade records; a service that must keep its own copy exports them first. The user row in
    ///   `auth.users` is Supabase's and stays: deleting the user from Supabase Auth is the caller's (its foreign
    ///   keys would cascade to these rows anyway).
    ///
    /// Idempotent and resumable: a provider answering that the thing is gone already counts as done
    /// ([`ProviderRemoval::AlreadyGone`]), and the rows are deleted only after every provider said yes, all at once.
    /// A call cut short (a crash, a provider's outage) leaves the rows as they were, and the same call made again
    /// finishes the job. The user is held across processes meanwhile, so no sync or order of theirs interleaves.
    ///
    /// Items a caller hands in itself ([`crate::plaid::Plaid::add_item`]) are not stored, so they are the
    /// caller's to remove.
    ///
    /// # Errors
    /// [`SyncError::NoClient`] (or the router's refusal) before anything is sent, when the user has something
    /// stored at a provider this engine cannot reach: forgetting them then would leave it billed and unreachable;
    /// the providers' errors (nothing deleted, the call can be made again); the store's.
    pub async fn forget_user(&self, user: UserId) -> Result<UserForgotten, SyncError> {
        let held = self.hold(user).await?;
        let result = held.engine.forget_held(user, &held.lock).await;
        held.finish(result).await
    }

    /// [`Self::forget_user`], with the user held.
    async fn forget_held(&self, user: UserId, lock: &UserLock) -> Result<UserForgotten, SyncError> {
        // Every provider that must be told is checked before the first is: none is told while another cannot be.
        self.plaid_reachable(user).await?;
        self.snaptrade_reachable(user).await?;
        let plaid_items = self.plaid_items_removed(user).await?;
        let snaptrade = self.snaptrade_user_removed(user).await?;
        let alpaca_account = self.store.portfolio_mode(user).await?.alpaca_account_id;
        let alpaca = match &alpaca_account {
            Some(account) => {
                tracing::warn!(%user, alpaca_account = %account, "the forgotten user's Alpaca brokerage account stays open: close it through the Broker API");
                ProviderRemoval::LeftInPlace {
                    reason: format!(
                        "brokerage account {account} stays open: closing it needs its positions closed and its \
                         cash withdrawn first, a brokerage act the operator takes"
                    ),
                }
            }
            None => ProviderRemoval::NothingStored,
        };
        let rows =
            in_one_unit(lock, async { Ok(self.store.delete_user_rows(user).await?) }).await?;
        Ok(UserForgotten {
            plaid_items,
            snaptrade,
            alpaca,
            alpaca_account,
            rows,
        })
    }

    /// Each stored Item removed at Plaid, in order; the first failure stops the call (the Items removed so far
    /// answer "gone" next time).
    #[cfg(feature = "plaid")]
    async fn plaid_items_removed(
        &self,
        user: UserId,
    ) -> Result<Vec<(ProviderItemId, ProviderRemoval)>, SyncError> {
        let items = self.store.list_plaid_items(user).await?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let plaid = self.plaid();
        let client = plaid.client()?;
        let mut removed = Vec::with_capacity(items.len());
        for item in items {
            let answer = crate::plaid::removed_at_plaid(client, &item).await?;
            removed.push((item.item_id, answer));
        }
        Ok(removed)
    }

    #[cfg(not(feature = "plaid"))]
    async fn plaid_items_removed(
        &self,
        user: UserId,
    ) -> Result<Vec<(ProviderItemId, ProviderRemoval)>, SyncError> {
        if self.store.list_plaid_items(user).await?.is_empty() {
            return Ok(Vec::new());
        }
        Err(SyncError::NoClient {
            provider: tributary_domain::Provider::Plaid,
        })
    }

    /// Plaid's client when the user has Items stored; nothing to check otherwise.
    async fn plaid_reachable(&self, user: UserId) -> Result<(), SyncError> {
        if self.store.list_plaid_items(user).await?.is_empty() {
            return Ok(());
        }
        #[cfg(feature = "plaid")]
        return self.plaid().client().map(drop);
        #[cfg(not(feature = "plaid"))]
        return Err(SyncError::NoClient {
            provider: tributary_domain::Provider::Plaid,
        });
    }

    /// SnapTrade's client when the user has a registration stored; nothing to check otherwise.
    async fn snaptrade_reachable(&self, user: UserId) -> Result<(), SyncError> {
        if self.store.find_snaptrade_user(user).await?.is_none() {
            return Ok(());
        }
        #[cfg(feature = "snaptrade")]
        return self.snaptrade().reachable();
        #[cfg(not(feature = "snaptrade"))]
        return Err(SyncError::NoClient {
            provider: tributary_domain::Provider::SnapTrade,
        });
    }

    #[cfg(feature = "snaptrade")]
    async fn snaptrade_user_removed(&self, user: UserId) -> Result<ProviderRemoval, SyncError> {
        self.snaptrade().user_deleted_at_snaptrade(user).await
    }

    #[cfg(not(feature = "snaptrade"))]
    async fn snaptrade_user_removed(&self, user: UserId) -> Result<ProviderRemoval, SyncError> {
        match self.store.find_snaptrade_user(user).await? {
            None => Ok(ProviderRemoval::NothingStored),
            Some(_) => Err(SyncError::NoClient {
                provider: tributary_domain::Provider::SnapTrade,
            }),
        }
    }
}

/// Retiring accounts, shared by Plaid's unlink and SnapTrade's connection removals.
#[cfg(any(feature = "plaid", feature = "snaptrade"))]
mod retire {
    use tributary_domain::{ConnectionStatus, InvestmentAccount, NewInvestmentAccount, UserId};
    use tributary_repo::Store;

    use crate::convert::deactivated;
    use crate::merge::{Lot, merge};
    use crate::{SyncEngine, SyncError};

    impl<S: Store + 'static> SyncEngine<S> {
        /// Deactivates the accounts `retired` picks, marks their connection disabled, and rebuilds the holdings
        /// from the other accounts' contributions; returns how many accounts were active before.
        ///
        /// The account rows are kept, never deleted: `snaptrade_orders.account_id` cascades on delete, and an
        /// account's orders are financial records that must outlive its connection. (The caller holds the user.)
        pub(crate) async fn retire_accounts(
            &self,
            user: UserId,
            retired: impl Fn(&InvestmentAccount) -> bool,
        ) -> Result<usize, SyncError> {
            let (gone, kept): (Vec<_>, Vec<_>) = self
                .store
                .list_accounts(user)
                .await?
                .into_iter()
                .partition(|account| retired(account));
            if gone.is_empty() {
                return Ok(0);
            }
            let was_active = gone.iter().filter(|account| account.is_active).count();
            let rows: Vec<_> = gone
                .iter()
                .map(|account| NewInvestmentAccount {
                    connection_status: ConnectionStatus::Disabled,
                    ..deactivated(account)
                })
                .collect();
            self.store.upsert_accounts(user, &rows).await?;
            let kept: Vec<_> = kept.iter().map(|account| account.id).collect();
            let mut lots = Vec::new();
            for holding in self.store.list_holdings(user).await? {
                lots.extend(Lot::carried_from(&holding, &kept));
            }
            self.store
                .replace_holdings(user, &merge(user, lots)?)
                .await?;
            Ok(was_active)
        }
    }
}
