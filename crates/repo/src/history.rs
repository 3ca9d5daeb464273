//! History (migration 0024): investment transactions ([`TransactionRepository`]) and the portfolio's value day by
//! day ([`ValueHistoryRepository`]).

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
#[cfg(doc)]
use tributary_domain::TransactionType;
use tributary_domain::{
    AccountId, Currency, InvestmentTransaction, NewInvestmentTransaction, NewValuePoint,
    ProviderTransactionId, UserId, ValuePoint,
};

use crate::RepoError;

/// What a batch of transactions did: how many rows were inserted, how many stored rows changed (a provider's
/// revision), and how many were left as they were. A re-sync of an unchanged history is all `unchanged`, and
/// writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransactionsWritten {
    /// New rows.
    pub inserted: usize,
    /// Stored rows whose data changed.
    pub updated: usize,
    /// Stored rows identical to what was sent: not rewritten.
    pub unchanged: usize,
}

impl TransactionsWritten {
    /// Rows written (inserted or changed).
    pub fn written(&self) -> usize {
        self.inserted + self.updated
    }
}

/// Which of a user's transactions [`TransactionRepository::list_transactions`] answers: newest first, at most
/// `limit`, optionally of one account and within a range of trade dates (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionQuery {
    /// Only this account's.
    pub account: Option<AccountId>,
    /// Traded on or after this day.
    pub from: Option<NaiveDate>,
    /// Traded on or before this day.
    pub to: Option<NaiveDate>,
    /// At most this many.
    pub limit: u32,
}

impl TransactionQuery {
    /// The user's `limit` latest transactions over every account.
    pub fn latest(limit: u32) -> Self {
        Self {
            account: None,
            from: None,
            to: None,
            limit,
        }
    }

    /// The same query, for one account only.
    #[must_use]
    pub fn in_account(self, account: AccountId) -> Self {
        Self {
            account: Some(account),
            ..self
        }
    }

    /// The same query, for trade dates from `from` to `to`, both included.
    #[must_use]
    pub fn between(self, from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            from: Some(from),
            to: Some(to),
            ..self
        }
    }

    /// Refuses a range that ends before it starts.
    pub(crate) fn check(&self) -> Result<(), RepoError> {
        check_range(self.from, self.to)
    }

    /// Whether `transaction` is one the query asks for (the limit aside).
    pub(crate) fn matches(&self, transaction: &NewInvestmentTransaction) -> bool {
        self.account.is_none_or(|a| a == transaction.account_id)
            && self.from.is_none_or(|from| transaction.trade_date >= from)
            && self.to.is_none_or(|to| transaction.trade_date <= to)
    }
}

fn check_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), RepoError> {
    match (from, to) {
        (Some(from), Some(to)) if to < from => Err(RepoError::invalid(
            "to",
            format!("the range ends ({to}) before it starts ({from})"),
        )),
        _ => Ok(()),
    }
}

/// Investment transactions (`investment_transactions`) and how far each account's were synced
/// (`investment_transaction_sync`). Written by the backend only: a user-scoped store reads, and every write is
/// refused as [`RepoError::Forbidden`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TransactionRepository: Send + Sync {
    /// Inserts or updates one account's `transactions`, keyed by the provider's transaction id, in one statement:
    /// a row identical to what is sent is not rewritten (nor its `updated_at`), so a re-sync of an unchanged
    /// history writes nothing.
    ///
    /// A transaction keeps its currency: a revision naming another currency than the stored row's is refused,
    /// never stored over figures in the first, which would mix two currencies in the account's history. A
    /// provider that really changed it is followed by removing the transaction ([`Self::remove_transactions`])
    /// and storing it again.
    ///
    /// # Errors
    /// Nothing is written when any of these is returned:
    /// [`RepoError::Forbidden`] if a transaction names another user; [`RepoError::NotFound`] (`"account"`) if
    /// `account` is not the user's (another user's included); [`RepoError::InvalidData`] naming
    /// `account_id` (a transaction of another account), `provider` (not the account's provider),
    /// `provider_transaction_id` (twice in the batch) or `currency` (another currency than the stored
    /// transaction's).
    async fn upsert_transactions(
        &self,
        user: UserId,
        account: AccountId,
        transactions: &[NewInvestmentTransaction],
    ) -> Result<TransactionsWritten, RepoError>;

    /// Removes the account's transactions with these provider ids (ones the provider withdrew); an id not stored
    /// is skipped. Returns how many were removed.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"account"`) if `account` is not the user's.
    async fn remove_transactions(
        &self,
        user: UserId,
        account: AccountId,
        provider_transaction_ids: &[ProviderTransactionId],
    ) -> Result<usize, RepoError>;

    /// The user's transactions the query asks for, newest trade date first (then by account and provider id, in
    /// byte order).
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"to"`) for a range that ends before it starts.
    async fn list_transactions(
        &self,
        user: UserId,
        query: &TransactionQuery,
    ) -> Result<Vec<InvestmentTransaction>, RepoError>;

    /// The last day up to which the account's transactions are stored, or `None` before its first sync.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"account"`) if `account` is not the user's.
    async fn transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<Option<NaiveDate>, RepoError>;

    /// The account's net contributions per currency: the sum of the amounts of its stored transactions whose
    /// type [`TransactionType::is_contribution`] (deposits in, withdrawals out, cash transfers either way),
    /// worked out where the rows are rather than read row by row. A currency with no such transaction is absent.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"account"`) if `account` is not the user's.
    async fn net_contributions(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<BTreeMap<Currency, Decimal>, RepoError>;

    /// Records that the account's transactions are stored up to `through`, when that is past the recorded day
    /// (or none is recorded); returns whether it moved. A day at or before the recorded one changes nothing: a
    /// sync that fetched an overlap window, or a slower sync finishing after a faster one, never moves it back.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"account"`) if `account` is not the user's.
    async fn advance_transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
        through: NaiveDate,
    ) -> Result<bool, RepoError>;
}

/// The portfolio's value over time (`portfolio_value_history`): one point per user, account (or the user's
/// total), day and currency. Written by the backend only.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ValueHistoryRepository: Send + Sync {
    /// Inserts or updates `points` (a second sync on the same day rewrites the day's point), in one statement.
    /// A point identical to its row is not rewritten. Returns how many rows were written.
    ///
    /// # Errors
    /// Nothing is written when any of these is returned:
    /// [`RepoError::Forbidden`] if a point names another user; [`RepoError::NotFound`] (`"account"`) if a point
    /// names an account that is not the user's; [`RepoError::InvalidData`] (`"day"`) if one account, day and
    /// currency appear twice.
    async fn upsert_value_points(
        &self,
        user: UserId,
        points: &[NewValuePoint],
    ) -> Result<usize, RepoError>;

    /// The user's points from `from` to `to` (both included), by day, then the total before the accounts (by
    /// account id), then currency. Days without a point have none: nothing is invented.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"to"`) for a range that ends before it starts.
    async fn value_history(
        &self,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ValuePoint>, RepoError>;
}

/// Checks a batch of one account's transactions before anything is written, the same way in every store.
pub(crate) fn check_transactions(
    user: UserId,
    account: AccountId,
    transactions: &[NewInvestmentTransaction],
) -> Result<(), RepoError> {
    let mut seen = HashSet::with_capacity(transactions.len());
    for transaction in transactions {
        if transaction.user_id != user {
            return Err(RepoError::forbidden(format!(
                "a transaction of user {} in a batch written for user {user}",
                transaction.user_id
            )));
        }
        if transaction.account_id != account {
            return Err(RepoError::invalid(
                "account_id",
                format!(
                    "a transaction of account {} in a batch for account {account}",
                    transaction.account_id
                ),
            ));
        }
        if !seen.insert(&transaction.provider_transaction_id) {
            return Err(RepoError::invalid(
                "provider_transaction_id",
                "appears twice in one batch",
            ));
        }
    }
    Ok(())
}

/// The error for a revision that would change a stored transaction's currency.
pub(crate) fn currency_changed(id: &str, stored: &Currency, sent: &Currency) -> RepoError {
    RepoError::invalid(
        "currency",
        format!(
            "transaction {id} is stored in {stored}; a revision in {sent} would mix currencies in the \
             account's history (remove it and store it again if the provider really changed it)"
        ),
    )
}

/// Checks a batch of value points before anything is written: the user's own, each key once.
pub(crate) fn check_value_points(user: UserId, points: &[NewValuePoint]) -> Result<(), RepoError> {
    let mut seen = HashSet::with_capacity(points.len());
    for point in points {
        if point.user_id != user {
            return Err(RepoError::forbidden(format!(
                "a value point of user {} in a batch written for user {user}",
                point.user_id
            )));
        }
        if !seen.insert((point.account_id, point.day, &point.currency)) {
            return Err(RepoError::invalid(
                "day",
                format!(
                    "the point of {} on {} in {} appears twice in one batch",
                    point
                        .account_id
                        .map_or_else(|| "the total".to_owned(), |a| format!("account {a}")),
                    point.day,
                    point.currency
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a value history range that ends before it starts.
pub(crate) fn check_value_range(from: NaiveDate, to: NaiveDate) -> Result<(), RepoError> {
    check_range(Some(from), Some(to))
}
