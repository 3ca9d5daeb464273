//! Removing what a user asked to end: one Plaid Item, or every row Tributary keeps for the user.

use async_trait::async_trait;
use tributary_domain::{ProviderItemId, UserId};

use crate::RepoError;

/// What [`RemovalRepository::delete_user_rows`] deleted, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserRowsDeleted {
    /// `user_investment_accounts` rows, every provider's, inactive ones included.
    pub accounts: usize,
    /// `snaptrade_orders` rows (every provider's orders, under those accounts).
    pub orders: usize,
    /// `user_aggregated_holdings` rows.
    pub holdings: usize,
    /// `snaptrade_brokerage_connections` rows.
    pub connections: usize,
    /// `plaid_items` rows, their sealed tokens with them.
    pub plaid_items: usize,
    /// `investment_transactions` rows (every account's, with how far each account was synced).
    pub transactions: usize,
    /// `portfolio_value_history` rows, the per-account series and the user's totals.
    pub value_points: usize,
    /// Whether the `snaptrade_users` row (the sealed SnapTrade secret) was there.
    pub snaptrade_user: bool,
    /// Whether the user's `user_onboarding` row held an Alpaca account link (the row is deleted either way;
    /// the brokerage account itself stays open at Alpaca).
    pub alpaca_account_link: bool,
}

impl UserRowsDeleted {
    /// Whether nothing was left to delete.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Deleting rows on request: an unlinked Plaid Item, a forgotten user. Both are backend operations: a user-scoped
/// store refuses them as [`RepoError::Forbidden`].
///
/// Not part of [`crate::Store`], as [`crate::EventStreamRepository`] is not: only a service that removes things
/// needs it. In a store bound to the user's lock ([`crate::LockRepository::within`]) each call joins the lock's
/// unit of writes, so a removal and what goes with it (the accounts retired) are saved together or not at all.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RemovalRepository: Send + Sync {
    /// Deletes one of the user's Plaid Items and its sealed token. Its accounts are left as they are (the caller
    /// retires them, keeping their orders).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"plaid item"`) when the user has no such Item (another user's never is one);
    /// [`RepoError::Forbidden`] in a user-scoped store.
    async fn delete_plaid_item(&self, user: UserId, item: &ProviderItemId)
    -> Result<(), RepoError>;

    /// Deletes every row Tributary's own tables hold for `user`, in one transaction: orders, holdings, accounts,
    /// SnapTrade connections and registration, Plaid Items, the onboarding row with its Alpaca account link. The
    /// user (`auth.users`, Supabase's) is left, and so are webhook inbox records (they carry the providers' ids
    /// only, and keep a late redelivery recognised). Deleting for a user with nothing left deletes nothing.
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] in a user-scoped store; [`RepoError::Unavailable`] when the database cannot be
    /// reached (nothing is deleted then).
    async fn delete_user_rows(&self, user: UserId) -> Result<UserRowsDeleted, RepoError>;
}
