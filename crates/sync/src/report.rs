//! What a sync did: per provider, connection and account, what was synced, skipped and failed, and why.

use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use tributary_domain::{AccountId, AuthorizationId, ConnectionStatus, Provider, ProviderAccountId};
use tributary_provider::ProviderError;
use tributary_provider::capability::UnreadableItem;
use tributary_repo::{HoldingsReplaced, TransactionsWritten};

use crate::SyncError;
use crate::merge::PositionLeftOut;

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
    /// Fetching failed; what was stored before is kept. The [`Failure`] says why, typed.
    Failed(Failure),
}

impl Outcome {
    /// A skip with its reason.
    pub fn skipped(reason: impl ToString) -> Self {
        Self::Skipped {
            reason: reason.to_string(),
        }
    }

    /// A failure: a [`ProviderError`], a [`SyncError`] or a [`Failure`].
    pub fn failed(failure: impl Into<Failure>) -> Self {
        Self::Failed(failure.into())
    }

    /// Whether this part failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed(_))
    }

    /// Why this part failed, when it did.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed(failure) => Some(failure),
            Self::Synced | Self::Skipped { .. } => None,
        }
    }
}

/// Why one part of a sync failed (a provider as a whole, an account's positions or orders), typed so a
/// caller can act on it: [`needs_relink`](Self::needs_relink) (send the user to re-link),
/// [`is_retryable`](Self::is_retryable) (sync again later), [`http_status`](Self::http_status), or a match on
/// the provider's own error. Shared, so snapshots and reports stay cheap to clone; its text (`Display`) is
/// the error's.
///
/// ```
/// use tributary_domain::Provider;
/// use tributary_provider::{ErrorDetail, ProviderError};
/// use tributary_sync::{Failure, Outcome};
///
/// let expired = ErrorDetail::new(Provider::Plaid, 400, "sign in again").with_code("ITEM_LOGIN_REQUIRED");
/// let outcome = Outcome::failed(ProviderError::LoginRequired(expired));
/// match outcome.failure() {
///     Some(failure) if failure.needs_relink() => { /* send the user to Link update mode */ }
///     Some(failure) if failure.is_retryable() => { /* sync again later */ }
///     Some(other) => panic!("unexpected: {other}"),
///     None => {}
/// }
/// assert!(matches!(
///     outcome.failure().and_then(Failure::provider_error),
///     Some(ProviderError::LoginRequired(_))
/// ));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Failure {
    /// A provider call failed.
    Provider(Arc<ProviderError>),
    /// The sync layer failed for this part: the user's logins could not be read from the store, no login
    /// of the provider could be reached ([`SyncError::Unreachable`]), an order listing was refused….
    Sync(Arc<SyncError>),
    /// Some of the user's logins at a provider failed, one failure each; the other logins were synced.
    Logins(Vec<Failure>),
    /// The task fetching this part ended without an answer (it panicked or was cancelled).
    TaskFailed {
        /// What became of the task.
        reason: String,
    },
}

impl Failure {
    /// A failed task's failure.
    pub fn task_failed(reason: impl Into<String>) -> Self {
        Self::TaskFailed {
            reason: reason.into(),
        }
    }

    /// The provider's error, when a provider call failed.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            Self::Provider(error) => Some(error),
            Self::Sync(error) => match error.as_ref() {
                SyncError::Provider(error) => Some(error),
                _ => None,
            },
            Self::Logins(_) | Self::TaskFailed { .. } => None,
        }
    }

    /// Every provider error behind this failure: its own, each login's of a [`Logins`](Self::Logins)
    /// failure, and each login's of a provider that could not be reached at all
    /// ([`SyncError::Unreachable`]). Empty when no provider call failed (a store error, a failed task).
    pub fn provider_errors(&self) -> Vec<&ProviderError> {
        match self {
            Self::Provider(error) => vec![error],
            Self::Sync(error) => match error.as_ref() {
                SyncError::Provider(error) => vec![error],
                SyncError::Unreachable { failures, .. } => {
                    failures.iter().flat_map(Self::provider_errors).collect()
                }
                _ => Vec::new(),
            },
            Self::Logins(failures) => failures.iter().flat_map(Self::provider_errors).collect(),
            Self::TaskFailed { .. } => Vec::new(),
        }
    }

    /// The sync layer's error, when the failure was not a single provider call's.
    pub fn sync_error(&self) -> Option<&SyncError> {
        match self {
            Self::Sync(error) => Some(error),
            Self::Provider(_) | Self::Logins(_) | Self::TaskFailed { .. } => None,
        }
    }

    /// Whether only the user can repair this by linking again ([`ProviderError::needs_relink`]); for
    /// several logins, whether any of them needs it.
    pub fn needs_relink(&self) -> bool {
        match self {
            Self::Provider(error) => error.needs_relink(),
            Self::Sync(error) => error.needs_relink(),
            Self::Logins(failures) => failures.iter().any(Self::needs_relink),
            Self::TaskFailed { .. } => false,
        }
    }

    /// Whether syncing again later may succeed without anyone changing anything
    /// ([`ProviderError::is_retryable`]); for several logins, whether all of them may. A failed task is a
    /// bug, not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Provider(error) => error.is_retryable(),
            Self::Sync(error) => error.is_retryable(),
            Self::Logins(failures) => all_retryable(failures),
            Self::TaskFailed { .. } => false,
        }
    }

    /// The provider's HTTP status, when there was one ([`ProviderError::http_status`]); for several
    /// logins, the status they all share, if they do.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Provider(error) => error.http_status(),
            Self::Sync(error) => error.http_status(),
            Self::Logins(failures) => common_status(failures),
            Self::TaskFailed { .. } => None,
        }
    }
}

/// Whether every one of several failures is retryable (and there is at least one).
pub(crate) fn all_retryable(failures: &[Failure]) -> bool {
    !failures.is_empty() && failures.iter().all(Failure::is_retryable)
}

/// The HTTP status several failures all share, if they do.
pub(crate) fn common_status(failures: &[Failure]) -> Option<u16> {
    let first = failures.first()?.http_status()?;
    failures
        .iter()
        .all(|f| f.http_status() == Some(first))
        .then_some(first)
}

/// Several failures as one line, `"; "` between them.
pub(crate) fn joined(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        Self::Provider(Arc::new(error))
    }
}

/// A sync error that is a provider's becomes [`Failure::Provider`], so a caller finds it in one place.
impl From<SyncError> for Failure {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::Provider(error) => Self::from(error),
            other => Self::Sync(Arc::new(other)),
        }
    }
}

impl From<&Failure> for Failure {
    fn from(failure: &Failure) -> Self {
        failure.clone()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Provider(error) => error.fmt(f),
            Self::Sync(error) => error.fmt(f),
            Self::Logins(failures) => f.write_str(&joined(failures)),
            Self::TaskFailed { reason } => f.write_str(reason),
        }
    }
}

/// Equal when the failures are the same field by field (`ProviderError` and `SyncError` have no
/// `PartialEq`, so their derived `Debug`, which shows every field and never a secret, stands in for it).
impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

impl Eq for Failure {}

/// Which part of a sync a [`ReportedFailure`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailedPart {
    /// The provider as a whole (or some of its logins): its accounts are missing from the report.
    Provider,
    /// An account's positions.
    Positions,
    /// An account's orders.
    Orders,
    /// An account's transaction history (or the provider's, when its history could not be listed at all).
    History,
}

/// One failure of a [`SyncReport`], with where it happened. Its text is one line:
/// `"snaptrade: …"`, `"account acct-1 positions: …"`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReportedFailure {
    /// The provider.
    pub provider: Provider,
    /// The provider's id for the account, when the failure is an account's.
    pub account: Option<ProviderAccountId>,
    /// What failed.
    pub part: FailedPart,
    /// Why, typed.
    pub failure: Failure,
}

impl fmt::Display for ReportedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = match self.part {
            FailedPart::Provider => None,
            FailedPart::Positions => Some("positions"),
            FailedPart::Orders => Some("orders"),
            FailedPart::History => Some("history"),
        };
        match (&self.account, part) {
            (Some(account), Some(part)) => write!(f, "account {account} {part}: {}", self.failure),
            (None, Some(part)) if self.part != FailedPart::Provider => {
                write!(f, "{} {part}: {}", self.provider, self.failure)
            }
            _ => write!(f, "{}: {}", self.provider, self.failure),
        }
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
    /// Positions left out of the holdings, with why (a short position has no place in a holdings row; a
    /// merged holding whose figure does not fit its column is left out whole).
    pub positions_left_out: Vec<PositionLeftOut>,
    /// Items a provider answered with that cannot be represented (a position or an order with a field the
    /// domain refuses): left out, each with its provider id, the field and why; the rest was written.
    pub left_out: Vec<UnreadableItem>,
    /// Per provider whose holdings synced, what its transaction history sync did (its own part: a failure
    /// here never undoes the holdings).
    pub history: Vec<HistoryReport>,
    /// The day's value points ([`crate::SyncEngine::value_history`]): how many rows were written, or why
    /// none were.
    pub value_points: ValuePointsReport,
}

/// What a sync of one provider's transaction history did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryReport {
    /// The provider.
    pub provider: Provider,
    /// Whether its logins' accounts could be listed: `Failed` when none could (then `accounts` is empty), the
    /// first failure when some could not.
    pub outcome: Outcome,
    /// Per stored account the provider's pages cover.
    pub accounts: Vec<AccountHistory>,
    /// Transactions the provider answered with that could not be stored (a field the domain refuses, an
    /// account that is not stored): left out, with why; the rest was stored.
    pub left_out: Vec<UnreadableItem>,
}

/// What one account's history sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountHistory {
    /// The provider's id for the account.
    pub provider_account_id: ProviderAccountId,
    /// The stored account.
    pub account_id: AccountId,
    /// The first day fetched (the day synced through less the overlap, or the history depth on a first sync).
    pub from: NaiveDate,
    /// The last day fetched.
    pub to: NaiveDate,
    /// Rows inserted, updated (a provider's revision) and left as they were.
    pub written: TransactionsWritten,
    /// Stored transactions inside the window the provider no longer returns, removed.
    pub removed: usize,
    /// This account's transactions the store refused (counted here, each in [`HistoryReport::left_out`]).
    pub left_out: usize,
    /// The day the account's history is stored up to, after this sync (`None` before the first complete one).
    pub synced_through: Option<NaiveDate>,
    /// `Synced` when the range was fetched to its end; `Failed` when a page could not be fetched or stored:
    /// what was stored is kept, nothing is removed, `synced_through` does not move, and the next sync
    /// finishes it.
    pub outcome: Outcome,
}

/// What recording the day's value points did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePointsReport {
    /// `Synced` when the points were written; `Skipped` when the sync wrote none (nothing fetched);
    /// `Failed` when writing them failed.
    pub outcome: Outcome,
    /// Rows written (per account and total, per currency).
    pub written: usize,
    /// Holdings or accounts no point could include, with why (a holding whose currency nobody named).
    pub left_out: Vec<String>,
}

impl Default for ValuePointsReport {
    fn default() -> Self {
        Self {
            outcome: Outcome::skipped("no value points recorded"),
            written: 0,
            left_out: Vec::new(),
        }
    }
}

impl SyncReport {
    /// Whether anything failed (the sync still wrote what it could): one of [`Self::failures`], or writing the
    /// day's value points ([`Self::value_points`]).
    pub fn has_failures(&self) -> bool {
        !self.failures().is_empty() || self.value_points.outcome.is_failed()
    }

    /// The failures, each typed and with where it happened; each reads as one line
    /// (`"snaptrade: …"`, `"account acct-1 positions: …"`).
    ///
    /// ```
    /// # use tributary_sync::SyncReport;
    /// # let report = SyncReport::default();
    /// if report.failures().iter().any(|f| f.failure.needs_relink()) {
    ///     // ask the user to link the connection again
    /// }
    /// ```
    pub fn failures(&self) -> Vec<ReportedFailure> {
        let providers = self.providers.iter().filter_map(|p| {
            p.outcome.failure().map(|failure| ReportedFailure {
                provider: p.provider,
                account: None,
                part: FailedPart::Provider,
                failure: failure.clone(),
            })
        });
        let accounts = self.accounts.iter().flat_map(|a| {
            [
                (FailedPart::Positions, &a.positions),
                (FailedPart::Orders, &a.orders),
            ]
            .into_iter()
            .filter_map(move |(part, outcome)| {
                outcome.failure().map(|failure| ReportedFailure {
                    provider: a.provider,
                    account: Some(a.provider_account_id.clone()),
                    part,
                    failure: failure.clone(),
                })
            })
        });
        let history = self.history.iter().flat_map(|h| {
            let whole = h.outcome.failure().map(|failure| ReportedFailure {
                provider: h.provider,
                account: None,
                part: FailedPart::History,
                failure: failure.clone(),
            });
            let accounts = h.accounts.iter().filter_map(move |a| {
                a.outcome.failure().map(|failure| ReportedFailure {
                    provider: h.provider,
                    account: Some(a.provider_account_id.clone()),
                    part: FailedPart::History,
                    failure: failure.clone(),
                })
            });
            whole.into_iter().chain(accounts)
        });
        providers.chain(accounts).chain(history).collect()
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
    use tributary_provider::ErrorDetail;
    use tributary_repo::RepoError;

    use super::*;

    fn timeout() -> ProviderError {
        ProviderError::Timeout {
            provider: Provider::SnapTrade,
            endpoint: "getAllAccountPositions",
        }
    }

    fn disabled() -> ProviderError {
        let detail = ErrorDetail::new(Provider::SnapTrade, 402, "disabled").with_code("3003");
        ProviderError::ConnectionDisabled(detail)
    }

    fn upstream(status: u16) -> ProviderError {
        ProviderError::Upstream(ErrorDetail::new(Provider::Plaid, status, "down"))
    }

    #[test]
    fn a_failure_keeps_the_providers_error_typed_and_reads_as_it() {
        let failure = Failure::from(timeout());

        assert_eq!(failure.to_string(), timeout().to_string());
        assert!(matches!(
            failure.provider_error(),
            Some(ProviderError::Timeout {
                endpoint: "getAllAccountPositions",
                ..
            })
        ));
        assert_eq!(failure, Failure::from(timeout()));
        assert_ne!(
            failure,
            Failure::task_failed(failure.to_string()),
            "the same words without the typed error are another failure"
        );
        assert!(
            Failure::task_failed("task failed")
                .provider_error()
                .is_none()
        );
    }

    #[test]
    fn a_sync_error_that_is_a_providers_becomes_a_provider_failure() {
        let failure = Failure::from(SyncError::from(disabled()));
        assert!(matches!(failure, Failure::Provider(_)), "{failure:?}");
        let busy = Failure::from(SyncError::Busy {
            user: tributary_domain::UserId::generate(),
        });
        assert!(matches!(busy.sync_error(), Some(SyncError::Busy { .. })));
    }

    /// One failure of every variant.
    fn every_variant() -> Vec<Failure> {
        vec![
            disabled().into(),
            timeout().into(),
            SyncError::from(RepoError::Unavailable {
                reason: "pool timed out".into(),
            })
            .into(),
            SyncError::Unreachable {
                provider: Provider::Plaid,
                failures: vec![upstream(503).into(), upstream(503).into()],
            }
            .into(),
            Failure::Logins(vec![upstream(503).into(), disabled().into()]),
            Failure::Logins(vec![upstream(502).into(), upstream(502).into()]),
            Failure::task_failed("fetch task failed: boom"),
        ]
    }

    /// `(needs_relink, is_retryable, http_status)` for each variant. No wildcard: a new variant does not
    /// compile until someone decides how it is classified.
    fn expected(failure: &Failure) -> (bool, bool, Option<u16>) {
        match failure {
            Failure::Provider(error) => (
                error.needs_relink(),
                error.is_retryable(),
                error.http_status(),
            ),
            Failure::Sync(error) => (
                error.needs_relink(),
                error.is_retryable(),
                error.http_status(),
            ),
            Failure::Logins(failures) => {
                let statuses: Vec<_> = failures.iter().map(Failure::http_status).collect();
                let shared = statuses.windows(2).all(|w| w[0] == w[1]);
                (
                    failures.iter().any(Failure::needs_relink),
                    failures.iter().all(Failure::is_retryable),
                    statuses[0].filter(|_| shared),
                )
            }
            Failure::TaskFailed { .. } => (false, false, None),
        }
    }

    #[test]
    fn every_failure_is_classified_for_relink_retry_and_status() {
        let failures = every_variant();
        for failure in &failures {
            let (relink, retryable, status) = expected(failure);
            assert_eq!(
                failure.needs_relink(),
                relink,
                "needs_relink of {failure:?}"
            );
            assert_eq!(
                failure.is_retryable(),
                retryable,
                "is_retryable of {failure:?}"
            );
            assert_eq!(failure.http_status(), status, "http_status of {failure:?}");
        }
        let answers: Vec<_> = failures.iter().map(expected).collect();
        assert_eq!(
            answers,
            [
                (true, false, Some(402)),
                (false, true, None),
                (false, true, None),
                (false, true, Some(503)),
                (true, false, None),
                (false, true, Some(502)),
                (false, false, None),
            ]
        );
    }

    #[test]
    fn every_provider_error_behind_a_failure_is_found_however_deep() {
        let unreachable = Failure::from(SyncError::Unreachable {
            provider: Provider::Plaid,
            failures: vec![upstream(503).into(), Failure::task_failed("boom")],
        });
        let logins = Failure::Logins(vec![disabled().into(), unreachable]);
        let found: Vec<_> = logins
            .provider_errors()
            .into_iter()
            .map(|e| e.http_status())
            .collect();
        assert_eq!(found, [Some(402), Some(503)]);
        assert!(Failure::task_failed("boom").provider_errors().is_empty());
    }

    #[test]
    fn a_reports_failures_are_typed_and_read_as_one_line_each() {
        let account = ProviderAccountId::parse("acct-1").unwrap();
        let report = SyncReport {
            providers: vec![
                ProviderReport {
                    provider: Provider::Plaid,
                    outcome: Outcome::failed(Failure::Logins(vec![upstream(503).into()])),
                },
                ProviderReport {
                    provider: Provider::Alpaca,
                    outcome: Outcome::Synced,
                },
            ],
            accounts: vec![AccountReport {
                provider: Provider::SnapTrade,
                provider_account_id: account.clone(),
                account_id: None,
                positions: Outcome::failed(disabled()),
                orders: Outcome::skipped("not a trading provider"),
            }],
            ..SyncReport::default()
        };

        assert!(report.has_failures());
        let failures = report.failures();
        let lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                format!("plaid: {}", upstream(503)),
                format!("account acct-1 positions: {}", disabled()),
            ]
        );
        assert_eq!(failures[0].part, FailedPart::Provider);
        assert!(failures[0].failure.is_retryable());
        assert_eq!(failures[1].part, FailedPart::Positions);
        assert_eq!(failures[1].account.as_ref(), Some(&account));
        assert!(failures[1].failure.needs_relink());
    }
}
