//! What a sync did: per provider, connection and account, what was synced, skipped and failed, and why.

use tributary_domain::{AccountId, AuthorizationId, ConnectionStatus, Provider, ProviderAccountId};
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
