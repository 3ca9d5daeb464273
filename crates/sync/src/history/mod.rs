//! Each account's transaction history, synced incrementally after its provider's holdings, and the portfolio's
//! value recorded day by day.
//!
//! # The window fetched
//!
//! Per account, from the day its history is stored up to
//! ([`TransactionRepository::transactions_synced_through`](tributary_repo::TransactionRepository::transactions_synced_through))
//! less [`HistoryWindow::overlap`] (providers revise recent days: a trade settles, a dividend is corrected), or on
//! the first sync from [`HistoryWindow::depth`] before today (Plaid offers 24 months), never earlier than that
//! depth, to today. A feed covering several accounts (a Plaid Item, a SnapTrade user) fetches from the earliest
//! of its accounts' days.
//!
//! # Page by page
//!
//! Each page is converted and upserted, one batch per account, before the next is fetched, so a history of
//! 100,000 transactions is never held whole. A returned transaction identical in every column to the stored one
//! (compared by a fingerprint of the stored rows in the range, read before the first page) is counted unchanged
//! and not sent to the store: a re-sync that finds nothing new costs no write statement. A transaction of an account that is not stored is left out and
//! reported; one the store refuses (a revision in another currency) is left out and reported, the rest of its
//! batch stored.
//!
//! # Removal, and how far a history is synced
//!
//! Only when the range was fetched to its end: a stored transaction of a covered account whose trade date lies
//! inside the range fetched, and which no page returned (nor named among the items left out), was withdrawn by
//! the provider and is removed; then the account's `synced_through` moves to the range's end. A page that fails
//! keeps what was stored, removes nothing and moves nothing: the next sync fetches the same range again.
//!
//! # Value points
//!
//! After the histories, the sync writes the day's points ([`crate::SyncEngine::value_history`] reads them): one per
//! account and one total per currency, never summing currencies. Market value is the account's part of the stored
//! holdings; cost basis is known only when every position of the account reported one this sync; cash is the
//! balance the provider just reported. Net contributions (deposits, withdrawals and transfers of cash,
//! [`TransactionType::is_contribution`](tributary_domain::TransactionType::is_contribution)) are summed over the
//! account's stored transactions only once its history was fetched in full from as far back as the provider offers
//! (its `synced_through` is recorded); before that they would count part of the history, so they are `None`. For
//! an account older than the provider's reach (Plaid: 24 months) the figure is the contributions within that
//! reach, which is all any provider reports. A total has a figure only when every account's point in that
//! currency has it. A second sync on the same day rewrites the day's points; a day without a sync has none.

mod feed;
mod value;

use std::collections::{HashMap, HashSet};

use chrono::{Days, NaiveDate, Utc};
use futures_util::StreamExt;
use tributary_domain::{
    AccountId, InvestmentAccount, NewInvestmentTransaction, Provider, ProviderAccountId,
    ProviderTransactionId, UserId,
};
use tributary_provider::capability::{Transaction, UnreadableItem};
use tributary_repo::{RepoError, Store, TransactionQuery};

pub use self::feed::{
    AggregationHistory, BrokerageHistory, HistoryScope, HistorySource, PerAccountHistory,
    TransactionFeed, TransactionPages,
};
pub(crate) use self::value::AccountFacts;
use crate::{AccountHistory, Failure, HistoryReport, Outcome, SyncEngine, SyncError};

/// Days re-fetched before the day an account's history is stored up to, unless told otherwise: providers
/// revise recent transactions (settlement, corrections, cancellations) for weeks.
pub const DEFAULT_OVERLAP_DAYS: u64 = 30;

/// How far back a first sync reaches, unless told otherwise: two years (730 days), Plaid's limit
/// (`/investments/transactions/get`: "up to 24 months").
pub const DEFAULT_HISTORY_DAYS: u64 = 730;

/// How many stored transactions the engine reads at once (to find the withdrawn ones, to sum contributions).
const STORED_PAGE: u32 = 5_000;

/// How much history a sync fetches: see the [module](self) documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryWindow {
    /// Days re-fetched before the day an account is synced through.
    pub overlap: Days,
    /// How far back a first sync reaches (and the earliest day any sync fetches).
    pub depth: Days,
}

impl Default for HistoryWindow {
    fn default() -> Self {
        Self {
            overlap: Days::new(DEFAULT_OVERLAP_DAYS),
            depth: Days::new(DEFAULT_HISTORY_DAYS),
        }
    }
}

/// One covered account while its feed is read.
struct Tracked {
    account: AccountId,
    provider_account_id: ProviderAccountId,
    /// Stored transactions inside the range not returned yet, each with its [`Fingerprint`] (if it has one):
    /// the withdrawn ones, once the range is read.
    unseen: HashMap<ProviderTransactionId, Option<Fingerprint>>,
    entry: AccountHistory,
}

/// A stored transaction's every column, as a SHA-256 of its JSON form (a raw record's keys come sorted), so a
/// re-sync can tell a returned transaction identical to the stored one without holding the stored rows (raw
/// records are most of a row). Identical ones are not sent to the store again: an unchanged page costs no
/// statement. Anything that differs, a figure's scale included (`1.50` against `1.5`), goes to the store, whose
/// upsert decides as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint([u8; 32]);

impl Fingerprint {
    fn of(transaction: &NewInvestmentTransaction) -> Option<Self> {
        use sha2::Digest as _;
        let json = serde_json::to_vec(transaction).ok()?;
        Some(Self(sha2::Sha256::digest(&json).into()))
    }
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Syncs the transaction history of each provider in `providers` (with the user held), within `scope`.
    pub(crate) async fn sync_histories(
        &self,
        user: UserId,
        providers: &[Provider],
        scope: &HistoryScope,
    ) -> Result<Vec<HistoryReport>, SyncError> {
        let mut reports = Vec::new();
        let accounts = self.store.list_accounts(user).await?;
        let today = Utc::now().date_naive();
        for source in &self.histories {
            let provider = source.provider();
            if !providers.contains(&provider) || self.router.check(provider).is_err() {
                continue;
            }
            let mut report = HistoryReport {
                provider,
                outcome: Outcome::Synced,
                accounts: Vec::new(),
                left_out: Vec::new(),
            };
            let feeds = match source.feeds(self.store.as_ref(), user).await {
                Ok(feeds) => feeds,
                Err(error @ SyncError::NotLinked { .. }) => {
                    report.outcome = Outcome::skipped(error);
                    reports.push(report);
                    continue;
                }
                Err(error) => {
                    report.outcome = Outcome::failed(error);
                    reports.push(report);
                    continue;
                }
            };
            let stored: HashMap<&ProviderAccountId, &InvestmentAccount> = accounts
                .iter()
                .filter(|a| a.provider == provider)
                .map(|a| (&a.provider_account_id, a))
                .collect();
            // Feeds (an Item's, an account's) are independent: read at most `concurrency` at a time, each
            // into its own part of the report, so a slow provider's latency is paid per feed, not per sync.
            let parts: Vec<HistoryReport> = futures_util::stream::iter(feeds)
                .map(|feed| {
                    let stored = &stored;
                    async move {
                        let mut part = HistoryReport {
                            provider,
                            outcome: Outcome::Synced,
                            accounts: Vec::new(),
                            left_out: Vec::new(),
                        };
                        match feed {
                            Ok(feed) => {
                                self.sync_feed(
                                    user, provider, feed, scope, stored, today, &mut part,
                                )
                                .await;
                            }
                            Err(failure) => part.outcome = Outcome::Failed(failure),
                        }
                        part
                    }
                })
                .buffered(self.concurrency)
                .collect()
                .await;
            for part in parts {
                if part.outcome.is_failed() && !report.outcome.is_failed() {
                    report.outcome = part.outcome;
                }
                report.accounts.extend(part.accounts);
                report.left_out.extend(part.left_out);
            }
            for left_out in &report.left_out {
                tracing::warn!(%user, %left_out, "left out of the transaction history");
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Reads one feed to its end (or its first failure), storing page by page; see the module documentation.
    #[allow(clippy::too_many_arguments)] // the feed and where its results go
    async fn sync_feed(
        &self,
        user: UserId,
        provider: Provider,
        feed: TransactionFeed,
        scope: &HistoryScope,
        stored: &HashMap<&ProviderAccountId, &InvestmentAccount>,
        today: NaiveDate,
        report: &mut HistoryReport,
    ) {
        let TransactionFeed { accounts, pages } = feed;
        let covered: HashSet<&ProviderAccountId> =
            accounts.iter().map(|a| &a.provider_account_id).collect();
        let mut tracked = match self.tracked(user, &accounts, scope, stored, today).await {
            Ok(tracked) => tracked,
            Err(error) => {
                report.outcome = Outcome::failed(error);
                return;
            }
        };
        let Some(from) = tracked.iter().map(|t| t.entry.from).min() else {
            return;
        };
        for t in &mut tracked {
            t.entry.from = from;
        }
        let read = self
            .read_pages(
                user,
                provider,
                pages.as_ref(),
                (from, today),
                &covered,
                &mut tracked,
                report,
            )
            .await;
        match read {
            Ok(()) => {
                for t in &mut tracked {
                    if let Err(error) = self.finish_account(user, t, today).await {
                        t.entry.outcome = Outcome::failed(error);
                    }
                }
            }
            Err(failure) => {
                tracing::warn!(%user, %provider, %failure, "a transaction history fetch stopped midway; kept what was stored");
                for t in &mut tracked {
                    t.entry.outcome = Outcome::Failed(failure.clone());
                }
            }
        }
        report.accounts.extend(tracked.into_iter().map(|t| t.entry));
    }

    /// The stored accounts a feed covers within `scope`, each with its window and its stored transactions in it.
    async fn tracked(
        &self,
        user: UserId,
        accounts: &[tributary_provider::capability::AccountInfo],
        scope: &HistoryScope,
        stored: &HashMap<&ProviderAccountId, &InvestmentAccount>,
        today: NaiveDate,
    ) -> Result<Vec<Tracked>, SyncError> {
        let earliest = today
            .checked_sub_days(self.history_window.depth)
            .unwrap_or(NaiveDate::MIN);
        let mut tracked = Vec::new();
        for info in accounts.iter().filter(|a| scope.covers(a)) {
            let Some(account) = stored.get(&info.provider_account_id) else {
                continue;
            };
            let through = self
                .store
                .transactions_synced_through(user, account.id)
                .await?;
            let from = through
                .and_then(|day| day.checked_sub_days(self.history_window.overlap))
                .map_or(earliest, |day| day.max(earliest))
                .min(today);
            tracked.push(Tracked {
                account: account.id,
                provider_account_id: account.provider_account_id.clone(),
                unseen: HashMap::new(),
                entry: AccountHistory {
                    provider_account_id: account.provider_account_id.clone(),
                    account_id: account.id,
                    from,
                    to: today,
                    written: Default::default(),
                    removed: 0,
                    left_out: 0,
                    synced_through: through,
                    outcome: Outcome::Synced,
                },
            });
        }
        let Some(from) = tracked.iter().map(|t| t.entry.from).min() else {
            return Ok(tracked);
        };
        for t in &mut tracked {
            let mut unseen = HashMap::new();
            self.each_stored(user, t.account, Some(from), Some(today), |row| {
                let fingerprint = Fingerprint::of(&row);
                unseen.insert(row.provider_transaction_id, fingerprint);
            })
            .await?;
            t.unseen = unseen;
        }
        Ok(tracked)
    }

    /// Calls `each` with every stored transaction of `account` traded from `from` to `to` (`None`: no bound), read
    /// [`STORED_PAGE`] rows at a time, newest first, so an account's whole history is never held at once.
    pub(crate) async fn each_stored(
        &self,
        user: UserId,
        account: AccountId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        each: impl FnMut(NewInvestmentTransaction),
    ) -> Result<(), SyncError> {
        self.each_stored_by(user, account, (from, to), STORED_PAGE, each)
            .await
    }

    /// [`Self::each_stored`], `limit` rows at a time.
    async fn each_stored_by(
        &self,
        user: UserId,
        account: AccountId,
        (from, to): (Option<NaiveDate>, Option<NaiveDate>),
        mut limit: u32,
        mut each: impl FnMut(NewInvestmentTransaction),
    ) -> Result<(), SyncError> {
        // Rows come newest trade date first, then by provider id: the next page starts on the last row's day,
        // skipping that day's rows already seen. A day with more rows than a page doubles the page.
        let mut day = to;
        let mut seen_on_day: HashSet<ProviderTransactionId> = HashSet::new();
        loop {
            let query = TransactionQuery {
                account: Some(account),
                from,
                to: day,
                limit,
            };
            let rows = self.store.list_transactions(user, &query).await?;
            let full = rows.len() >= limit as usize;
            let last_day = rows.last().map(|row| row.transaction.trade_date);
            let mut new = 0;
            let mut on_last_day = Vec::new();
            for row in rows {
                let row = row.transaction;
                if Some(row.trade_date) == day && seen_on_day.contains(&row.provider_transaction_id)
                {
                    continue;
                }
                new += 1;
                if Some(row.trade_date) == last_day {
                    on_last_day.push(row.provider_transaction_id.clone());
                }
                each(row);
            }
            let Some(last_day) = last_day.filter(|_| full) else {
                return Ok(());
            };
            if Some(last_day) != day {
                seen_on_day.clear();
                day = Some(last_day);
            }
            seen_on_day.extend(on_last_day);
            if new == 0 {
                limit = limit.saturating_mul(2);
            }
        }
    }

    /// Fetches and stores every page of `range`; the first failure (a page not fetched, a batch not stored)
    /// stops it.
    #[allow(clippy::too_many_arguments)] // the feed, its range, and where its results go
    async fn read_pages(
        &self,
        user: UserId,
        provider: Provider,
        pages: &dyn TransactionPages,
        (from, to): (NaiveDate, NaiveDate),
        covered: &HashSet<&ProviderAccountId>,
        tracked: &mut [Tracked],
        report: &mut HistoryReport,
    ) -> Result<(), Failure> {
        let mut cursor = None;
        loop {
            let page = pages.page(from, to, cursor).await.map_err(Failure::from)?;
            for item in &page.left_out {
                // Still at the provider, only unreadable: never taken for withdrawn.
                if let Some(id) = item
                    .provider_id
                    .as_deref()
                    .and_then(|id| ProviderTransactionId::parse(id).ok())
                {
                    for t in tracked.iter_mut() {
                        t.unseen.remove(&id);
                    }
                }
            }
            report.left_out.extend(page.left_out);
            let mut batches: Vec<Vec<NewInvestmentTransaction>> = vec![Vec::new(); tracked.len()];
            let mut on_page: Vec<HashSet<ProviderTransactionId>> =
                vec![HashSet::new(); tracked.len()];
            for transaction in page.transactions {
                let index = tracked
                    .iter()
                    .position(|t| t.provider_account_id == transaction.provider_account_id);
                match index {
                    Some(index) => {
                        let t = &mut tracked[index];
                        if !on_page[index].insert(transaction.provider_transaction_id.clone()) {
                            report.left_out.push(not_stored(
                                provider,
                                &transaction,
                                "provider_transaction_id",
                                "appears twice in one page; the first is kept",
                            ));
                            t.entry.left_out += 1;
                            continue;
                        }
                        let stored = t.unseen.remove(&transaction.provider_transaction_id);
                        let new = transaction.into_new(user, t.account, provider);
                        if stored
                            .flatten()
                            .is_some_and(|f| Some(f) == Fingerprint::of(&new))
                        {
                            t.entry.written.unchanged += 1;
                            continue;
                        }
                        batches[index].push(new);
                    }
                    // An account of the feed outside the sync's scope: another sync's.
                    None if covered.contains(&transaction.provider_account_id) => {}
                    None => report.left_out.push(not_stored(
                        provider,
                        &transaction,
                        "account_id",
                        &format!(
                            "its account {} is not one of the user's stored accounts",
                            transaction.provider_account_id
                        ),
                    )),
                }
            }
            for (t, batch) in tracked.iter_mut().zip(batches) {
                if !batch.is_empty() {
                    self.store_batch(user, provider, t, batch, report)
                        .await
                        .map_err(Failure::from)?;
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Upserts one account's batch; when the store refuses it for one transaction's data, each is stored on its
    /// own and those refused are left out and reported.
    async fn store_batch(
        &self,
        user: UserId,
        provider: Provider,
        t: &mut Tracked,
        batch: Vec<NewInvestmentTransaction>,
        report: &mut HistoryReport,
    ) -> Result<(), SyncError> {
        match self
            .store
            .upsert_transactions(user, t.account, &batch)
            .await
        {
            Ok(written) => {
                add(&mut t.entry, written);
                Ok(())
            }
            Err(RepoError::InvalidData { .. }) => {
                for transaction in batch {
                    let one = std::slice::from_ref(&transaction);
                    match self.store.upsert_transactions(user, t.account, one).await {
                        Ok(written) => add(&mut t.entry, written),
                        Err(RepoError::InvalidData { field, reason }) => {
                            t.entry.left_out += 1;
                            report.left_out.push(UnreadableItem {
                                provider,
                                item: "transaction",
                                provider_id: Some(
                                    transaction.provider_transaction_id.as_str().to_owned(),
                                ),
                                field,
                                reason,
                            });
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The range was read to its end: removes what the provider withdrew, and moves `synced_through`.
    async fn finish_account(
        &self,
        user: UserId,
        t: &mut Tracked,
        today: NaiveDate,
    ) -> Result<(), SyncError> {
        if !t.unseen.is_empty() {
            let mut withdrawn: Vec<ProviderTransactionId> =
                t.unseen.drain().map(|(id, _)| id).collect();
            withdrawn.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            t.entry.removed = self
                .store
                .remove_transactions(user, t.account, &withdrawn)
                .await?;
        }
        // A sync later the same day has nothing to move: the day stored is already today.
        if t.entry.synced_through.is_none_or(|day| day < today) {
            self.store
                .advance_transactions_synced_through(user, t.account, today)
                .await?;
        }
        t.entry.synced_through = Some(t.entry.synced_through.map_or(today, |day| day.max(today)));
        Ok(())
    }
}

fn add(entry: &mut AccountHistory, written: tributary_repo::TransactionsWritten) {
    entry.written.inserted += written.inserted;
    entry.written.updated += written.updated;
    entry.written.unchanged += written.unchanged;
}

fn not_stored(
    provider: Provider,
    transaction: &Transaction,
    field: &str,
    reason: &str,
) -> UnreadableItem {
    UnreadableItem {
        provider,
        item: "transaction",
        provider_id: Some(transaction.provider_transaction_id.as_str().to_owned()),
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tributary_domain::{
        AccountType, Currency, FeatureFlags, InstitutionName, NewInvestmentAccount, SignedAmount,
        TransactionType,
    };
    use tributary_provider::router::ProviderRouter;
    use tributary_repo::{AccountRepository, MemoryStore, TransactionRepository};

    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, n).unwrap()
    }

    /// An engine over a store holding one account with `per_day[i]` transactions on day `i + 1`.
    async fn engine_with(per_day: &[usize]) -> (SyncEngine<MemoryStore>, UserId, AccountId, usize) {
        let store = MemoryStore::new();
        let user = store.create_user();
        let account = NewInvestmentAccount::new(
            user,
            Provider::Plaid,
            ProviderAccountId::parse("acct").unwrap(),
            InstitutionName::parse("Bank").unwrap(),
            AccountType::parse("brokerage").unwrap(),
        );
        let account = store.upsert_accounts(user, &[account]).await.unwrap()[0].id;
        let mut rows = Vec::new();
        for (index, count) in per_day.iter().enumerate() {
            for n in 0..*count {
                rows.push(NewInvestmentTransaction::new(
                    user,
                    account,
                    Provider::Plaid,
                    ProviderTransactionId::parse(&format!("t-{index}-{n}")).unwrap(),
                    day(u32::try_from(index).unwrap() + 1),
                    TransactionType::Deposit,
                    SignedAmount::parse_exact("1").unwrap(),
                    Currency::usd(),
                ));
            }
        }
        store
            .upsert_transactions(user, account, &rows)
            .await
            .unwrap();
        let engine = SyncEngine::new(
            Arc::new(store),
            ProviderRouter::new(FeatureFlags::default()),
        );
        (engine, user, account, rows.len())
    }

    #[tokio::test]
    async fn stored_rows_are_read_page_by_page_each_once_even_when_a_day_outgrows_a_page() {
        // Day 2 holds more rows than a page, and pages end in the middle of days.
        let (engine, user, account, total) = engine_with(&[3, 7, 1, 4]).await;
        for limit in [1, 2, 3, 5, 100] {
            let mut seen = Vec::new();
            engine
                .each_stored_by(user, account, (None, None), limit, |row| {
                    seen.push(row.provider_transaction_id.as_str().to_owned());
                })
                .await
                .unwrap();
            let count = seen.len();
            seen.sort();
            seen.dedup();
            assert_eq!((count, seen.len()), (total, total), "page of {limit}");
        }
        let mut window = 0;
        engine
            .each_stored_by(user, account, (Some(day(2)), Some(day(3))), 2, |_| {
                window += 1;
            })
            .await
            .unwrap();
        assert_eq!(window, 8, "days 2 and 3 only");
    }
}
