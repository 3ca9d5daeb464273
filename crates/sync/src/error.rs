//! The sync layer's one error.

use tributary_domain::{AccountId, DomainError, Provider, UserId};
use tributary_provider::ProviderError;
use tributary_repo::RepoError;

/// Why a sync-layer operation failed. Repository and provider failures keep their own classification
/// (NotFound, Conflict, RateLimited, ReadOnlyConnection…) so a caller can act on them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The repository refused or failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A provider refused or failed (including the router's refusals: disabled, read-only connection…).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A value the domain refuses, built in the sync layer (e.g. a sum that overflows its column).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A sync's writes failed part-way (the database connection lost, a value refused): none of them was
    /// saved, so the user's rows are exactly as before the sync. Syncing again is safe.
    #[error(
        "nothing of the sync of user {user} was saved, the user's rows are as before it: {source}"
    )]
    NotSaved {
        /// The user whose sync failed.
        user: UserId,
        /// Why it failed.
        source: Box<SyncError>,
    },
    /// Another sync of this user holds the user's lock and the caller asked not to wait.
    #[error("a sync of user {user} is already running")]
    Busy {
        /// The user whose sync is running.
        user: UserId,
    },
    /// No client of this provider was given to the engine.
    #[error("no {provider} client is configured")]
    NoClient {
        /// The provider.
        provider: Provider,
    },
    /// The user has no credentials at this provider (not registered, no Item, no brokerage account).
    #[error("user {user} is not linked to {provider}")]
    NotLinked {
        /// The user.
        user: UserId,
        /// The provider.
        provider: Provider,
    },
    /// Nothing could be fetched from the provider (every login or account failed).
    #[error("{provider} could not be reached: {reason}")]
    Unreachable {
        /// The provider.
        provider: Provider,
        /// What each attempt reported.
        reason: String,
    },
    /// The provider does not list an order the store holds.
    #[error("the provider does not list order {order}")]
    OrderUnknown {
        /// The stored order.
        order: tributary_domain::OrderId,
    },
    /// The provider's answer to an order names a different account than the one it was placed in.
    #[error("the provider answered for another account than {account}")]
    AccountMismatch {
        /// The account the order was placed in.
        account: AccountId,
    },
    /// The provider's own truth does not give this account to the user (for Alpaca, the account id of the
    /// user's onboarding; for SnapTrade, the accounts the user's own registration lists), whatever the stored
    /// row says: nothing was sent to the provider.
    #[error("account {account} is not the user's own {provider} account; nothing was sent")]
    AccountNotOwned {
        /// The stored account that was refused.
        account: AccountId,
        /// Its provider.
        provider: Provider,
    },
    /// Whether the provider holds the order cannot be told (the answer was lost, or the provider cannot prove
    /// it absent). Nothing more was sent: the order stays recorded `PENDING` under its client order id, and
    /// [`crate::SyncEngine::refresh_order`] or a retry of the placement settles it once the provider can tell.
    #[error(
        "the outcome of order {order} is unknown; it stays pending and nothing more was sent: {source}"
    )]
    OutcomeUnknown {
        /// The recorded order.
        order: tributary_domain::OrderId,
        /// Why it cannot be told.
        source: Box<SyncError>,
    },
    /// The order was refused before anything was sent: `reason` says which of the engine's rules it broke.
    #[error("order refused before it was sent: {reason}")]
    OrderRefused {
        /// Which rule, e.g. the notional cap.
        reason: String,
    },
    /// The client order id is already the key of a different order of the user's (another account, symbol,
    /// size…): reusing it would return that order instead of placing this one, so nothing was sent.
    #[error("client order id {client_order_id} already names a different order ({order})")]
    ClientOrderIdReused {
        /// The key.
        client_order_id: tributary_domain::ClientOrderId,
        /// The stored order it names.
        order: tributary_domain::OrderId,
    },
}
