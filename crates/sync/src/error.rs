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
}
