//! The sync layer's one error.

use tributary_domain::{AccountId, DomainError, Provider, UserId};
use tributary_provider::{ProviderError, RoutingRefusal, WebhookError};
use tributary_repo::RepoError;

use crate::report::{Failure, all_retryable, common_status};

/// Why a sync-layer operation failed. Repository failures, provider calls and the router's refusals keep their
/// own classification (NotFound, Conflict, RateLimited, ReadOnlyConnection…) so a caller can act on them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The repository refused or failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A provider call failed or the provider refused it.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// An inbound webhook delivery was refused before anything was recorded: answer it with
    /// [`WebhookError::http_status`] (the provider delivers it again).
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The router will not use the provider: switched off, compiled out, a read-only connection… Nothing was
    /// sent.
    #[error(transparent)]
    Refused(#[from] RoutingRefusal),
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
    #[error("{provider} could not be reached: {}", crate::report::joined(.failures))]
    Unreachable {
        /// The provider.
        provider: Provider,
        /// What each attempt reported, typed, one per login.
        failures: Vec<Failure>,
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
    /// The order was refused before anything was recorded or sent: `reason` says which of the engine's rules
    /// it broke.
    #[error("order refused before it was sent: {reason}")]
    OrderRefused {
        /// Which rule, with the figures.
        reason: OrderRefusal,
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

impl SyncError {
    /// Whether only the user can repair this by linking again: a provider's error that says so
    /// ([`ProviderError::needs_relink`]: login required, connection disabled, the user's credential dead…),
    /// a routing refusal that says so ([`RoutingRefusal::needs_relink`]: a read-only or broken connection),
    /// also inside [`Unreachable`](Self::Unreachable) (any login) and [`NotSaved`](Self::NotSaved).
    ///
    /// [`NotLinked`](Self::NotLinked) is not a re-link: the user never linked; match it to offer a first
    /// link.
    ///
    /// ```
    /// use tributary_domain::{Provider, UserId};
    /// use tributary_provider::{ErrorDetail, ProviderError};
    /// use tributary_sync::SyncError;
    ///
    /// let disabled = ErrorDetail::new(Provider::SnapTrade, 402, "disabled").with_code("3003");
    /// assert!(SyncError::from(ProviderError::ConnectionDisabled(disabled)).needs_relink());
    /// let never = SyncError::NotLinked { user: UserId::generate(), provider: Provider::Plaid };
    /// assert!(!never.needs_relink());
    /// ```
    pub fn needs_relink(&self) -> bool {
        match self {
            Self::Provider(error) => error.needs_relink(),
            Self::Refused(refusal) => refusal.needs_relink(),
            Self::Unreachable { failures, .. } => failures.iter().any(Failure::needs_relink),
            Self::NotSaved { source, .. } => source.needs_relink(),
            _ => false,
        }
    }

    /// Whether the same operation may succeed later without anyone changing anything: a provider's
    /// retryable error ([`ProviderError::is_retryable`]: timeouts, 5xx, rate limits, network), the database
    /// unavailable ([`RepoError::Unavailable`]), another sync of the user running ([`Busy`](Self::Busy)),
    /// every login of an [`Unreachable`](Self::Unreachable) provider retryable, or a
    /// [`NotSaved`](Self::NotSaved) sync whose cause is.
    ///
    /// [`OutcomeUnknown`](Self::OutcomeUnknown) is not: settle the order with `refresh_order` first.
    ///
    /// ```
    /// use tributary_domain::{Provider, UserId};
    /// use tributary_provider::{ProviderError, RoutingRefusal};
    /// use tributary_sync::SyncError;
    ///
    /// let timeout = ProviderError::Timeout { provider: Provider::Alpaca, endpoint: "getAccount" };
    /// assert!(SyncError::from(timeout).is_retryable());
    /// assert!(SyncError::Busy { user: UserId::generate() }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Provider(error) => error.is_retryable(),
            Self::Refused(refusal) => refusal.is_retryable(),
            Self::Repo(error) => matches!(error, RepoError::Unavailable { .. }),
            Self::Busy { .. } => true,
            Self::Unreachable { failures, .. } => all_retryable(failures),
            Self::NotSaved { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// The provider's HTTP status, when a provider answered with one ([`ProviderError::http_status`]),
    /// also inside [`NotSaved`](Self::NotSaved), [`OutcomeUnknown`](Self::OutcomeUnknown) and
    /// [`Unreachable`](Self::Unreachable) (when every login got the same status).
    ///
    /// ```
    /// use tributary_domain::Provider;
    /// use tributary_provider::{ErrorDetail, ProviderError};
    /// use tributary_sync::SyncError;
    ///
    /// let refused = ProviderError::Rejected(ErrorDetail::new(Provider::Alpaca, 422, "qty too small"));
    /// assert_eq!(SyncError::from(refused).http_status(), Some(422));
    /// ```
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Provider(error) => error.http_status(),
            Self::Refused(refusal) => refusal.http_status(),
            Self::Unreachable { failures, .. } => common_status(failures),
            Self::NotSaved { source, .. } | Self::OutcomeUnknown { source, .. } => {
                source.http_status()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tributary_domain::{ClientOrderId, Notional, OrderId};
    use tributary_provider::ErrorDetail;

    use super::*;

    fn user() -> UserId {
        UserId::generate()
    }

    fn login_required() -> ProviderError {
        let detail = ErrorDetail::new(Provider::Plaid, 400, "sign in again")
            .with_code("ITEM_LOGIN_REQUIRED");
        ProviderError::LoginRequired(detail)
    }

    fn upstream() -> ProviderError {
        ProviderError::Upstream(ErrorDetail::new(Provider::Plaid, 503, "maintenance"))
    }

    /// One error of every variant (some twice, where what they wrap decides).
    fn every_variant() -> Vec<SyncError> {
        let account = AccountId::generate();
        let order = OrderId::generate();
        vec![
            RepoError::Unavailable {
                reason: "pool timed out".into(),
            }
            .into(),
            RepoError::NotFound { entity: "account" }.into(),
            login_required().into(),
            RoutingRefusal::ReadOnlyConnection { account }.into(),
            RoutingRefusal::Disabled(Provider::Alpaca).into(),
            ProviderError::RateLimited {
                detail: ErrorDetail::new(Provider::Alpaca, 429, "slow down"),
                retry_after: Some(Duration::from_secs(1)),
            }
            .into(),
            UserId::parse("not a uuid").unwrap_err().into(),
            SyncError::NotSaved {
                user: user(),
                source: Box::new(
                    RepoError::Unavailable {
                        reason: "gone".into(),
                    }
                    .into(),
                ),
            },
            SyncError::Busy { user: user() },
            SyncError::NoClient {
                provider: Provider::Alpaca,
            },
            SyncError::NotLinked {
                user: user(),
                provider: Provider::Plaid,
            },
            SyncError::Unreachable {
                provider: Provider::Plaid,
                failures: vec![upstream().into(), login_required().into()],
            },
            SyncError::Unreachable {
                provider: Provider::Plaid,
                failures: vec![upstream().into(), upstream().into()],
            },
            SyncError::OrderUnknown { order },
            SyncError::AccountMismatch { account },
            SyncError::AccountNotOwned {
                account,
                provider: Provider::SnapTrade,
            },
            SyncError::OutcomeUnknown {
                order,
                source: Box::new(upstream().into()),
            },
            SyncError::OrderRefused {
                reason: OrderRefusal::NotionalOverCap {
                    notional: Notional::parse("1000.01").unwrap(),
                    cap: Notional::parse("1000").unwrap(),
                },
            },
            SyncError::Webhook(WebhookError::BadSignature {
                provider: Provider::SnapTrade,
            }),
            SyncError::ClientOrderIdReused {
                client_order_id: ClientOrderId::parse("c-1").unwrap(),
                order,
            },
        ]
    }

    /// `(needs_relink, is_retryable, http_status)` for each variant. No wildcard: a new variant does not
    /// compile until someone decides how it is classified.
    fn expected(error: &SyncError) -> (bool, bool, Option<u16>) {
        match error {
            SyncError::Repo(repo) => (false, matches!(repo, RepoError::Unavailable { .. }), None),
            SyncError::Provider(provider) => (
                provider.needs_relink(),
                provider.is_retryable(),
                provider.http_status(),
            ),
            SyncError::Refused(refusal) => (
                matches!(
                    refusal,
                    RoutingRefusal::ReadOnlyConnection { .. }
                        | RoutingRefusal::ConnectionUnavailable { .. }
                ),
                false,
                None,
            ),
            SyncError::Domain(_) => (false, false, None),
            // The status a refused delivery is answered with is the refusal's own, not a provider's answer.
            SyncError::Webhook(_) => (false, false, None),
            SyncError::NotSaved { source, .. } => (
                source.needs_relink(),
                source.is_retryable(),
                source.http_status(),
            ),
            SyncError::Busy { .. } => (false, true, None),
            SyncError::NoClient { .. } | SyncError::NotLinked { .. } => (false, false, None),
            SyncError::Unreachable { failures, .. } => {
                let relink = failures.iter().any(Failure::needs_relink);
                let all_upstream = failures.iter().all(Failure::is_retryable);
                (relink, all_upstream, all_upstream.then_some(503))
            }
            SyncError::OrderUnknown { .. }
            | SyncError::AccountMismatch { .. }
            | SyncError::AccountNotOwned { .. } => (false, false, None),
            SyncError::OutcomeUnknown { source, .. } => (false, false, source.http_status()),
            SyncError::OrderRefused { .. } | SyncError::ClientOrderIdReused { .. } => {
                (false, false, None)
            }
        }
    }

    #[test]
    fn every_variant_is_classified_for_relink_retry_and_status() {
        for error in every_variant() {
            let (relink, retryable, status) = expected(&error);
            assert_eq!(error.needs_relink(), relink, "needs_relink of {error:?}");
            assert_eq!(error.is_retryable(), retryable, "is_retryable of {error:?}");
            assert_eq!(error.http_status(), status, "http_status of {error:?}");
        }
    }

    #[test]
    fn a_provider_unreachable_through_a_login_that_needs_signing_in_again_needs_a_relink() {
        let error = SyncError::Unreachable {
            provider: Provider::Plaid,
            failures: vec![upstream().into(), login_required().into()],
        };
        assert!(error.needs_relink());
        assert!(!error.is_retryable(), "one login will not heal by waiting");
        assert_eq!(
            error.http_status(),
            None,
            "the logins got different statuses"
        );
    }

    #[test]
    fn an_unknown_order_outcome_is_not_retryable_even_when_its_cause_is() {
        let error = SyncError::OutcomeUnknown {
            order: OrderId::generate(),
            source: Box::new(upstream().into()),
        };
        assert!(!error.is_retryable());
        assert_eq!(error.http_status(), Some(503));
    }

    #[test]
    fn an_unreachable_provider_reads_as_each_logins_failure() {
        let error = SyncError::Unreachable {
            provider: Provider::Plaid,
            failures: vec![
                upstream().into(),
                Failure::task_failed("fetch task failed: boom"),
            ],
        };
        assert_eq!(
            error.to_string(),
            format!(
                "plaid could not be reached: {}; fetch task failed: boom",
                upstream()
            )
        );
    }
}

/// Which of the engine's own limits an order broke (see [`crate::SyncEngine::with_notional_cap`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrderRefusal {
    /// A notional order for more than the cap.
    #[error("notional {notional} is over the engine's cap of {cap}")]
    NotionalOverCap {
        /// The order's notional.
        notional: tributary_domain::Notional,
        /// The engine's cap.
        cap: tributary_domain::Notional,
    },
    /// Units at a limit or stop price whose value (units × the highest price given) is over the cap.
    #[error("{units} units at {price} are over the engine's notional cap of {cap}")]
    PricedValueOverCap {
        /// The order's units.
        units: tributary_domain::Units,
        /// The highest of its limit and stop prices.
        price: rust_decimal::Decimal,
        /// The engine's cap.
        cap: tributary_domain::Notional,
    },
}

impl SyncError {
    /// The HTTP status to answer a webhook delivery with when receiving it failed: the refusal's own
    /// ([`WebhookError::http_status`]: 401 forged or unsigned, 400 stale or malformed, 413 too large), else 503 —
    /// the delivery was not recorded (our store, or the provider's verification key, was unavailable), so the
    /// provider must deliver it again.
    pub fn webhook_http_status(&self) -> u16 {
        match self {
            Self::Webhook(refusal) => refusal.http_status(),
            _ => 503,
        }
    }
}

/// The HTTP status to answer a webhook delivery with, from what a provider's `handle_webhook` returned (SnapTrade's
/// or Plaid's): 200 when it was recorded (applied or not: a recorded delivery is never lost), else
/// [`SyncError::webhook_http_status`].
pub fn webhook_status<T>(result: &Result<T, SyncError>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(error) => error.webhook_http_status(),
    }
}
