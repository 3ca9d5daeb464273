//! What a sync did: per provider, connection and account, what was synced, skipped and failed, and why.

use std::fmt;
use std::sync::Arc;

use tributary_domain::{AccountId, AuthorizationId, ConnectionStatus, Provider, ProviderAccountId};
use tributary_provider::ProviderError;
use tributary_provider::capability::LeftOut;
use tributary_repo::HoldingsReplaced;

/// How one part of a sync ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched and written.
    Synced,
    /// Deliberately not fetched (a provider switched off, a user not linked to it).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Fetching failed; what was stored before is kept.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl Outcome {
    /// A skip with its reason.
    pub fn skipped(reason: impl ToString) -> Self {
        Self::Skipped {
            reason: reason.to_string(),
        }
    }

    /// A failure with its reason.
    pub fn failed(reason: impl ToString) -> Self {
        Self::Failed {
            reason: reason.to_string(),
        }
    }

    /// Whether this part failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

/// Why an account's positions could not be fetched, with the provider's typed error when a call failed, so
/// a caller can tell a [`ProviderError::Timeout`] (naming the call) from a [`ProviderError::Decode`] (with
/// the raw body) and act on it. Shared, so snapshots and reports stay cheap to clone.
#[derive(Debug, Clone)]
pub struct FetchFailure {
    reason: String,
    error: Option<Arc<ProviderError>>,
}

impl FetchFailure {
    /// A failure that no provider call reported (the fetch's task itself failed).
    pub fn untyped(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            error: None,
        }
    }

    /// What went wrong, as the report's [`Outcome::Failed`] says it.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The provider's error, when a provider call failed.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        self.error.as_deref()
    }
}

impl From<ProviderError> for FetchFailure {
    fn from(error: ProviderError) -> Self {
        Self {
            reason: error.to_string(),
            error: Some(Arc::new(error)),
        }
    }
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Equal when the reasons and the errors are the same field by field (`ProviderError` has no `PartialEq`,
/// so its derived `Debug`, which shows every field and never a secret, stands in for it).
impl PartialEq for FetchFailure {
    fn eq(&self, other: &Self) -> bool {
        let fields = |error: &Option<Arc<ProviderError>>| error.as_ref().map(|e| format!("{e:?}"));
        self.reason == other.reason && fields(&self.error) == fields(&other.error)
    }
}

impl Eq for FetchFailure {}

/// What happened to one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReport {
    /// The provider.
    pub provider: Provider,
    /// How it ended.
    pub outcome: Outcome,
}

/// What was recorded for one SnapTrade connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    /// The authorization.
    pub authorization_id: AuthorizationId,
    /// The status recorded.
    pub status: ConnectionStatus,
    /// The provider's message for a connection that is not active.
    pub message: Option<String>,
}

/// What happened to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountReport {
    /// The provider.
    pub provider: Provider,
    /// The provider's id for the account.
    pub provider_account_id: ProviderAccountId,
    /// The stored account, once written.
    pub account_id: Option<AccountId>,
    /// How its positions ended.
    pub positions: Outcome,
    /// Why its positions failed, typed, when they did (the same reason as `positions`).
    pub positions_failure: Option<FetchFailure>,
    /// How its orders ended (Skipped for providers that do not trade).
    pub orders: Outcome,
}

/// A whole user's sync.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Per provider.
    pub providers: Vec<ProviderReport>,
    /// Per SnapTrade connection.
    pub connections: Vec<ConnectionReport>,
    /// Per account.
    pub accounts: Vec<AccountReport>,
    /// Holdings after the sync: how many symbols, and what the replacement wrote and removed.
    pub holdings_count: usize,
    /// What replacing the holdings did.
    pub holdings: HoldingsReplaced,
    /// Orders upserted.
    pub orders_written: usize,
    /// Positions left out of the holdings, with why (a short position has no place in a holdings row).
    pub positions_left_out: Vec<String>,
    /// Items a provider answered with that cannot be represented (a position or an order with a field the
    /// domain refuses): left out, each with its provider id, the field and why; the rest was written.
    pub left_out: Vec<LeftOut>,
}

impl SyncReport {
    /// Whether anything failed (the sync still wrote what it could).
    pub fn has_failures(&self) -> bool {
        self.providers.iter().any(|p| p.outcome.is_failed())
            || self
                .accounts
                .iter()
                .any(|a| a.positions.is_failed() || a.orders.is_failed())
    }

    /// The failures, one line each: `"snaptrade: …"`, `"account acct-1 positions: …"`.
    pub fn failures(&self) -> Vec<String> {
        let providers = self.providers.iter().filter_map(|p| match &p.outcome {
            Outcome::Failed { reason } => Some(format!("{}: {reason}", p.provider)),
            _ => None,
        });
        let accounts = self.accounts.iter().flat_map(|a| {
            [("positions", &a.positions), ("orders", &a.orders)]
                .into_iter()
                .filter_map(move |(what, outcome)| match outcome {
                    Outcome::Failed { reason } => Some(format!(
                        "account {} {what}: {reason}",
                        a.provider_account_id
                    )),
                    _ => None,
                })
        });
        providers.chain(accounts).collect()
    }

    /// The entry of a stored account, if this sync fetched it.
    pub(crate) fn account_mut(&mut self, account: AccountId) -> Option<&mut AccountReport> {
        self.accounts
            .iter_mut()
            .find(|a| a.account_id == Some(account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_failure_keeps_the_providers_error_typed_and_reads_as_it() {
        let timeout = || ProviderError::Timeout {
            provider: Provider::SnapTrade,
            endpoint: "getAllAccountPositions",
        };
        let failure = FetchFailure::from(timeout());

        assert_eq!(failure.reason(), timeout().to_string());
        assert_eq!(failure.to_string(), timeout().to_string());
        assert!(matches!(
            failure.provider_error(),
            Some(ProviderError::Timeout {
                endpoint: "getAllAccountPositions",
                ..
            })
        ));
        assert_eq!(failure, FetchFailure::from(timeout()));
        assert_ne!(
            failure,
            FetchFailure::untyped(failure.reason()),
            "the same words without the typed error are another failure"
        );
        assert!(
            FetchFailure::untyped("task failed")
                .provider_error()
                .is_none()
        );
    }
}
