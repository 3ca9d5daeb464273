//! The engine: a user's sync, orders, and portfolio reads, over any [`Store`] and any provider clients.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tributary_domain::{
    AccountId, AuthorizationId, ConnectionStatus, InvestmentAccount, NewHolding,
    NewInvestmentAccount, Notional, Provider, ProviderAccountId, StatusMessage, SyncStatus, UserId,
    ValuePoint,
};
use tributary_provider::capability::{AccountRef, Listing, OrderScope, PlacedOrder};
use tributary_provider::router::ProviderRouter;
use tributary_repo::{
    AccountSyncState, PortfolioSummary, RepoError, Store, UnifiedAccount, UserLock,
};

use crate::convert::{connection_of, deactivated, new_account, new_connection};
use crate::history::{AccountFacts, HistoryScope, HistorySource, HistoryWindow};
use crate::merge::{Lot, merge_each};
use crate::plugin::{ProviderPlugin, Registered};
use crate::source::{AccountSource, OrderDesk, Snapshot};
use crate::{
    AccountReport, ConnectionReport, Failure, HistoryReport, Outcome, ProviderReport, SyncError,
    SyncReport, UserGuard, UserLocks,
};

/// How many provider calls one user's sync makes at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The sync engine. Cheap to share behind an `Arc`; every operation takes the user it acts for and
/// holds that user's lock, so one user's syncs and orders never interleave.
pub struct SyncEngine<S> {
    pub(crate) store: Arc<S>,
    pub(crate) router: ProviderRouter,
    sources: Vec<Arc<dyn AccountSource<S>>>,
    desks: Vec<Arc<dyn OrderDesk<S>>>,
    pub(crate) locks: UserLocks,
    pub(crate) concurrency: usize,
    pub(crate) notional_cap: Option<Notional>,
    plugins: Vec<Registered>,
    pub(crate) histories: Vec<Arc<dyn HistorySource<S>>>,
    pub(crate) history_window: HistoryWindow,
}

impl<S> std::fmt::Debug for SyncEngine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers =
            |list: Vec<Provider>| list.into_iter().map(|p| p.as_str()).collect::<Vec<_>>();
        f.debug_struct("SyncEngine")
            .field(
                "sources",
                &providers(self.sources.iter().map(|s| s.provider()).collect()),
            )
            .field(
                "desks",
                &providers(self.desks.iter().map(|d| d.provider()).collect()),
            )
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<S: Store + 'static> SyncEngine<S> {
    /// An engine over `store` with no providers yet; `router` decides which providers are switched on.
    pub fn new(store: Arc<S>, router: ProviderRouter) -> Self {
        Self {
            store,
            router,
            sources: Vec::new(),
            desks: Vec::new(),
            locks: UserLocks::new(),
            concurrency: DEFAULT_CONCURRENCY,
            notional_cap: None,
            plugins: Vec::new(),
            histories: Vec::new(),
            history_window: HistoryWindow::default(),
        }
    }

    /// Adds a provider: its source and its desk (with its gate), as its [`ProviderPlugin`] gives them. The
    /// provider's own flows find the plugin again through [`Self::plugin`].
    pub fn with_provider<P: ProviderPlugin<S>>(mut self, plugin: P) -> Self {
        if let Some(source) = plugin.source() {
            self.sources.push(source);
        }
        if let Some(desk) = plugin.desk() {
            self.desks.push(desk);
        }
        if let Some(history) = plugin.history() {
            self.histories.push(history);
        }
        self.plugins.push(Arc::new(plugin));
        self
    }

    /// The plugin of type `P` given to [`Self::with_provider`], if one was (the first, if several were).
    pub fn plugin<P: ProviderPlugin<S>>(&self) -> Option<&P> {
        self.plugins
            .iter()
            .find_map(|plugin| plugin.as_ref().downcast_ref::<P>())
    }

    /// Adds a provider to sync accounts and positions from.
    pub fn with_source(mut self, source: impl AccountSource<S> + 'static) -> Self {
        self.sources.push(Arc::new(source));
        self
    }

    /// Adds a provider to place and list orders through.
    pub fn with_desk(mut self, desk: impl OrderDesk<S> + 'static) -> Self {
        self.desks.push(Arc::new(desk));
        self
    }

    /// Adds a provider to sync transaction histories from (a plugin's comes with it).
    pub fn with_history_source(mut self, source: impl HistorySource<S> + 'static) -> Self {
        self.histories.push(Arc::new(source));
        self
    }

    /// How much transaction history each sync fetches: the overlap re-fetched before the day an account is
    /// synced through, and a first sync's depth ([`HistoryWindow::default`]: 30 days, two years).
    pub fn with_history_window(mut self, window: HistoryWindow) -> Self {
        self.history_window = window;
        self
    }

    /// At most `limit` provider calls at once within one user's sync (at least one).
    pub fn with_concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Refuses, before anything is recorded or sent, an order worth more than `cap`: a notional order over
    /// it, or units whose limit or stop price puts them over it. Orders by units at market carry no price to
    /// check and are not held to it. No cap unless one is set.
    pub fn with_notional_cap(mut self, cap: Notional) -> Self {
        self.notional_cap = Some(cap);
        self
    }

    /// The store the engine writes to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The user's portfolio mode, from the schema's `get_user_portfolio_mode`: brokerage (an Alpaca account),
    /// aggregation (Plaid or SnapTrade accounts), hybrid (both) or none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tributary_domain::{FeatureFlags, PortfolioMode, ProviderAccountId};
    /// use tributary_provider::router::ProviderRouter;
    /// use tributary_repo::{MemoryStore, PortfolioRepository};
    /// use tributary_sync::SyncEngine;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let user = store.create_user();
    /// let engine = SyncEngine::new(Arc::clone(&store), ProviderRouter::new(FeatureFlags::all_on()));
    /// assert_eq!(engine.portfolio_mode(user).await?.mode, PortfolioMode::None);
    ///
    /// // Onboarding opened an Alpaca brokerage account for the user.
    /// let alpaca = ProviderAccountId::parse("904837e3-3b76-47ec-b432-046db621571b")?;
    /// store.set_alpaca_account(user, Some(alpaca.clone())).await?;
    /// let summary = engine.portfolio_mode(user).await?;
    /// assert_eq!(summary.mode, PortfolioMode::Brokerage);
    /// assert_eq!(summary.alpaca_account_id, Some(alpaca));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The repository's.
    pub async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, SyncError> {
        Ok(self.store.portfolio_mode(user).await?)
    }

    /// The user's accounts from the schema's unified view, with their connections' health.
    ///
    /// # Errors
    /// The repository's.
    pub async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, SyncError> {
        Ok(self.store.unified_accounts(user).await?)
    }

    pub(crate) fn desk(&self, provider: Provider) -> Result<&Arc<dyn OrderDesk<S>>, SyncError> {
        self.desks
            .iter()
            .find(|desk| desk.provider() == provider)
            .ok_or(SyncError::NoClient { provider })
    }

    /// Brings everything the user has at every configured provider into the store: SnapTrade connections,
    /// accounts, holdings (replaced as a whole, atomically) and orders.
    ///
    /// Once that is saved, each provider whose holdings synced in full has its transaction history synced
    /// ([`crate::history`]: from the day each account is synced through less an overlap, page by page), and the
    /// day's value points are recorded ([`Self::value_history`]); either is its own part of the report, and a
    /// failure there never undoes the holdings.
    ///
    /// A provider switched off or not linked is skipped; one that fails is reported and the rest goes on.
    /// Holdings of accounts that could not be fetched are kept as they were, so an outage never empties a
    /// portfolio; a position the provider no longer reports disappears.
    ///
    /// The user is held exclusively for the whole sync, across processes sharing the database (see
    /// [`crate::UserLocks`]), and everything the sync writes is saved in one unit: when any write fails (the
    /// database connection lost, a value refused) nothing of it is saved and the error is
    /// [`SyncError::NotSaved`].
    ///
    /// ```
    /// # #[cfg(feature = "alpaca")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use rust_decimal::Decimal;
    /// # use secrecy::SecretString;
    /// # use tributary_provider::alpaca::{AlpacaConfig, AlpacaEnvironment};
    /// # use tributary_sandbox::{Sandbox, SeedAccount};
    /// use std::sync::Arc;
    /// use tributary_domain::{FeatureFlags, ProviderAccountId};
    /// use tributary_provider::alpaca::AlpacaClient;
    /// use tributary_provider::router::ProviderRouter;
    /// use tributary_repo::{HoldingRepository, MemoryStore, PortfolioRepository};
    /// use tributary_sync::SyncEngine;
    ///
    /// # let sandbox = Sandbox::start().await;
    /// # let brokerage_account = sandbox.alpaca().seed_account(SeedAccount::new(Decimal::from(100_000), 3));
    /// # let config = AlpacaConfig::new(sandbox.alpaca().key_id(), SecretString::from(sandbox.alpaca().secret()),
    /// #     AlpacaEnvironment::Sandbox).with_base_url(sandbox.alpaca_base_url().parse::<url::Url>()?);
    /// // In a service: AlpacaConfig::from_env()? reads ALPACA_API_KEY, ALPACA_API_SECRET…
    /// let store = Arc::new(MemoryStore::new());
    /// let user = store.create_user();
    /// let account = ProviderAccountId::parse(&brokerage_account.to_string())?;
    /// store.set_alpaca_account(user, Some(account)).await?;
    /// let engine = SyncEngine::new(Arc::clone(&store), ProviderRouter::new(FeatureFlags::all_on()))
    ///     .with_alpaca(Arc::new(AlpacaClient::new(config)?));
    ///
    /// let report = engine.sync_user(user).await?;
    /// assert!(!report.has_failures(), "{:?}", report.failures());
    /// assert_eq!(store.list_holdings(user).await?.len(), report.holdings_count);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "alpaca"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// Only the repository's: provider failures are in the report.
    pub async fn sync_user(&self, user: UserId) -> Result<SyncReport, SyncError> {
        let held = self.hold(user).await?;
        let result = held.engine.sync_held(user, &held.lock).await;
        held.finish(result).await
    }

    /// The sync, with the user held: fetch, then write everything as one unit.
    pub(crate) async fn sync_held(
        &self,
        user: UserId,
        lock: &UserLock,
    ) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        let snapshots = self.fetch_all(user, &mut report).await;
        for snapshot in &snapshots {
            report.left_out.extend(snapshot.left_out.iter().cloned());
        }
        let stored_connections: HashMap<AuthorizationId, _> = self
            .store
            .list_connections(user)
            .await?
            .into_iter()
            .map(|c| (c.authorization_id, c))
            .collect();
        let now = Utc::now();
        let mut connections = Vec::new();
        let mut accounts = Vec::new();
        for snapshot in &snapshots {
            let infos: Vec<_> = snapshot.accounts.iter().map(|a| a.info.clone()).collect();
            for info in &snapshot.connections {
                if let Some(row) = new_connection(user, info, &infos, &stored_connections, now)? {
                    report.connections.push(ConnectionReport {
                        authorization_id: row.authorization_id,
                        status: row.status,
                        message: row.error_message.as_ref().map(ToString::to_string),
                    });
                    connections.push(row);
                }
            }
            for info in &infos {
                accounts.push(new_account(
                    user,
                    info,
                    connection_of(&snapshot.connections, info),
                )?);
            }
        }
        let not_saved = |error: SyncError| SyncError::NotSaved {
            user,
            source: Box::new(error),
        };
        // Every provider call is made before the unit of writes opens: no transaction waits on a provider.
        let orders = self.fetch_orders(user, &accounts).await?;
        let writes = self.write_sync(
            user,
            &snapshots,
            &connections,
            &accounts,
            orders,
            &mut report,
            now,
        );
        in_one_unit(lock, writes).await.map_err(not_saved)?;
        for left_out in &report.left_out {
            tracing::warn!(%user, %left_out, "left out of the sync");
        }
        self.after_holdings(user, &snapshots, &mut report).await?;
        Ok(report)
    }

    /// Once the holdings are saved: the transaction history of every provider whose holdings synced in full
    /// (its own part of the report: a failure there undoes nothing), then the day's value points.
    async fn after_holdings(
        &self,
        user: UserId,
        snapshots: &[Snapshot],
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let synced: Vec<Provider> = report
            .providers
            .iter()
            .filter(|p| p.outcome == Outcome::Synced)
            .map(|p| p.provider)
            .collect();
        if synced.is_empty() {
            return Ok(());
        }
        report.history = self
            .sync_histories(user, &synced, &HistoryScope::All)
            .await?;
        let stored: HashMap<(Provider, ProviderAccountId), AccountId> = self
            .store
            .list_accounts(user)
            .await?
            .into_iter()
            .map(|a| ((a.provider, a.provider_account_id), a.id))
            .collect();
        // What the histories just read says of each account: whether it is stored from as far back as offered.
        let history_stored: HashMap<AccountId, bool> = report
            .history
            .iter()
            .flat_map(|h| &h.accounts)
            .map(|a| (a.account_id, a.synced_through.is_some()))
            .collect();
        let mut facts = HashMap::new();
        for snapshot in snapshots {
            for account in &snapshot.accounts {
                let key = (snapshot.provider, account.info.provider_account_id.clone());
                let Some(&id) = stored.get(&key) else {
                    continue;
                };
                facts.insert(
                    id,
                    AccountFacts {
                        cash: account.info.cash,
                        currency: account.info.currency.clone(),
                        cost_known: account
                            .positions
                            .as_ref()
                            .is_ok_and(|all| all.iter().all(|p| p.cost_basis.is_some())),
                        history_stored: history_stored.get(&id).copied(),
                    },
                );
            }
        }
        report.value_points = self
            .record_value_points(user, Utc::now().date_naive(), &facts)
            .await;
        Ok(())
    }

    /// Syncs the user's transaction histories alone (every provider wired in and switched on), with the user
    /// held: what a provider's transaction webhook does. See [`crate::history`] for the window fetched, paging,
    /// and what is removed.
    ///
    /// # Errors
    /// The repository's, before any history is fetched; provider failures are in the reports.
    pub async fn sync_history(
        &self,
        user: UserId,
        scope: HistoryScope,
    ) -> Result<Vec<HistoryReport>, SyncError> {
        let held = self.hold(user).await?;
        let providers: Vec<Provider> = held.engine.histories.iter().map(|h| h.provider()).collect();
        let result = held.engine.sync_histories(user, &providers, &scope).await;
        held.finish(result).await
    }

    /// The user's value points from `from` to `to` (both included), as the syncs recorded them: by day, the
    /// total before the accounts, then by currency. Days without a sync have no point.
    ///
    /// # Errors
    /// The repository's: [`RepoError::InvalidData`] (`"to"`) for a range that ends before it starts.
    pub async fn value_history(
        &self,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ValuePoint>, SyncError> {
        Ok(self.store.value_history(user, from, to).await?)
    }

    /// The sync's writes (inside the caller's unit): connections, accounts, holdings, orders, sync states.
    #[allow(clippy::too_many_arguments)] // the sync's parts, each fetched or derived before the unit
    async fn write_sync(
        &self,
        user: UserId,
        snapshots: &[Snapshot],
        connections: &[tributary_domain::NewBrokerageConnection],
        accounts: &[NewInvestmentAccount],
        orders: Vec<FetchedOrders>,
        report: &mut SyncReport,
        now: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        self.store.upsert_connections(user, connections).await?;
        let stored_accounts = self.store.upsert_accounts(user, accounts).await?;
        // Every account the user has, fetched or not: listed once, after the upsert, for both the holdings
        // and the sync states (deactivating vanished accounts changes nothing either reads but `is_active`).
        let all_accounts = self.store.list_accounts(user).await?;
        let holdings = self
            .holdings(user, snapshots, &stored_accounts, &all_accounts, report)
            .await?;
        report.holdings_count = holdings.len();
        report.holdings = self.store.replace_holdings(user, &holdings).await?;
        self.save_orders(user, orders, &stored_accounts, report)
            .await?;
        self.record_sync_states(user, &all_accounts, report, now)
            .await
    }

    /// Holds `user` exclusively: first in this process (so waiting callers hold no database connection),
    /// then the repository's lock; returns the engine bound to it.
    pub(crate) async fn hold(&self, user: UserId) -> Result<Held<S>, SyncError> {
        let local = self.locks.lock(user).await;
        let lock = self.store.lock_user(user).await?;
        let engine = Self {
            store: Arc::new(self.store.within(&lock)?),
            router: self.router,
            sources: self.sources.clone(),
            desks: self.desks.clone(),
            locks: self.locks.clone(),
            concurrency: self.concurrency,
            notional_cap: self.notional_cap,
            plugins: self.plugins.clone(),
            histories: self.histories.clone(),
            history_window: self.history_window,
        };
        Ok(Held {
            _local: local,
            lock,
            engine,
        })
    }

    /// Writes each account's sync status from the report (success, the connection's disabled/error state, or
    /// the failure's reason), and lets each source that synced in full record it ([`AccountSource::synced`]).
    async fn record_sync_states(
        &self,
        user: UserId,
        accounts: &[InvestmentAccount],
        report: &SyncReport,
        now: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        let states: Vec<_> = accounts
            .iter()
            .filter_map(|account| {
                let (status, message) = sync_state(account, report)?;
                Some(AccountSyncState {
                    account: account.id,
                    status,
                    error_message: message.and_then(|m| StatusMessage::from_optional(Some(&m))),
                })
            })
            .collect();
        // One statement for every account: a sync of 50 accounts is not 50 round trips.
        self.store.record_account_syncs(user, &states, now).await?;
        for source in &self.sources {
            let synced = report
                .providers
                .iter()
                .any(|p| p.provider == source.provider() && p.outcome == Outcome::Synced);
            if synced {
                source.synced(self.store.as_ref(), user, now).await?;
            }
        }
        Ok(())
    }

    /// Every source's snapshot, fetched concurrently under one bound on provider calls.
    async fn fetch_all(&self, user: UserId, report: &mut SyncReport) -> Vec<Snapshot> {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        for source in &self.sources {
            let provider = source.provider();
            if let Err(refused) = self.router.check(provider) {
                report.providers.push(ProviderReport {
                    provider,
                    outcome: Outcome::skipped(refused),
                });
                continue;
            }
            let (source, store, permits) = (
                Arc::clone(source),
                Arc::clone(&self.store),
                Arc::clone(&permits),
            );
            tasks.spawn(
                async move { (provider, source.fetch(store.as_ref(), user, permits).await) },
            );
        }
        let mut snapshots = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (provider, fetched) = match joined {
                Ok(done) => done,
                Err(panic) => {
                    tracing::error!(%user, error = %panic, "a provider fetch task failed");
                    continue;
                }
            };
            let outcome = match fetched {
                Ok(snapshot) if snapshot.failures.is_empty() => {
                    snapshots.push(snapshot);
                    Outcome::Synced
                }
                Ok(snapshot) => {
                    let outcome = Outcome::failed(Failure::Logins(snapshot.failures.clone()));
                    snapshots.push(snapshot);
                    outcome
                }
                Err(error @ SyncError::NotLinked { .. }) => Outcome::skipped(error),
                Err(error) => {
                    tracing::warn!(%user, %provider, error = %error, "provider sync failed");
                    Outcome::failed(error)
                }
            };
            report.providers.push(ProviderReport { provider, outcome });
        }
        report.providers.sort_by_key(|p| p.provider);
        snapshots.sort_by_key(|s| s.provider);
        snapshots
    }

    /// The user's new holdings: fetched positions, plus what was stored for accounts that could not be
    /// fetched this time. An account its provider no longer reports (the provider answered in full) is
    /// deactivated and its holdings dropped.
    async fn holdings(
        &self,
        user: UserId,
        snapshots: &[Snapshot],
        stored: &[InvestmentAccount],
        all_accounts: &[InvestmentAccount],
        report: &mut SyncReport,
    ) -> Result<Vec<NewHolding>, SyncError> {
        let mut lots = fetched_lots(snapshots, stored, report)?;
        let complete: Vec<Provider> = snapshots
            .iter()
            .filter(|s| s.failures.is_empty())
            .map(|s| s.provider)
            .collect();
        let mut carried = Vec::new();
        let mut vanished = Vec::new();
        for account in all_accounts {
            let entry = report
                .accounts
                .iter()
                .find(|a| a.account_id == Some(account.id));
            match entry {
                Some(entry) if entry.positions.is_failed() => carried.push(account.id),
                Some(_) => {}
                None if complete.contains(&account.provider) => {
                    if account.is_active {
                        vanished.push(account.clone());
                    }
                }
                None => carried.push(account.id),
            }
        }
        self.deactivate(user, &vanished, report).await?;
        if !carried.is_empty() {
            for holding in self.store.list_holdings(user).await? {
                lots.extend(Lot::carried_from(&holding, &carried));
            }
        }
        let merged = merge_each(user, lots);
        report.positions_left_out.extend(merged.left_out);
        Ok(merged.holdings)
    }

    /// Marks accounts the provider no longer reports inactive (their rows and orders stay for history).
    async fn deactivate(
        &self,
        user: UserId,
        vanished: &[InvestmentAccount],
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        if vanished.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = vanished.iter().map(deactivated).collect();
        self.store.upsert_accounts(user, &rows).await?;
        for account in vanished {
            let reason = format!("no longer reported by {}; deactivated", account.provider);
            report.accounts.push(AccountReport {
                provider: account.provider,
                provider_account_id: account.provider_account_id.clone(),
                account_id: Some(account.id),
                positions: Outcome::skipped(&reason),
                orders: Outcome::skipped(reason),
            });
        }
        Ok(())
    }

    /// Fetches each synced account's orders from its trading provider, concurrently (bounded like every
    /// provider call of the sync), before anything is written. The accounts are the ones the providers just
    /// reported, so no stored row alone decides whose orders are read. An account whose connection is not
    /// active is skipped.
    async fn fetch_orders(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<FetchedOrders>, SyncError> {
        let traded: Vec<&NewInvestmentAccount> = accounts
            .iter()
            .filter(|a| self.desk(a.provider).is_ok())
            .collect();
        if traded.is_empty() {
            return Ok(Vec::new());
        }
        let stored: HashMap<(Provider, ProviderAccountId), AccountId> = self
            .store
            .list_accounts(user)
            .await?
            .into_iter()
            .map(|a| ((a.provider, a.provider_account_id), a.id))
            .collect();
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        let mut fetched = Vec::new();
        for account in traded {
            let key = (account.provider, account.provider_account_id.clone());
            if account.connection_status != ConnectionStatus::Active {
                let skipped =
                    Outcome::skipped(format!("connection is {}", account.connection_status));
                fetched.push(FetchedOrders {
                    key,
                    orders: Err(skipped),
                });
                continue;
            }
            // A new account has no id until the unit writes it: its orders carry a stand-in, replaced then.
            let reference = AccountRef {
                user_id: user,
                account_id: stored
                    .get(&key)
                    .copied()
                    .unwrap_or_else(AccountId::generate),
                provider_account_id: account.provider_account_id.clone(),
            };
            let desk = Arc::clone(self.desk(account.provider)?);
            let (store, permits) = (Arc::clone(&self.store), Arc::clone(&permits));
            tasks.spawn(async move {
                let _permit = permits.acquire().await;
                let orders = desk
                    .orders(store.as_ref(), &reference, OrderScope::All)
                    .await
                    .map_err(Outcome::failed);
                FetchedOrders { key, orders }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(done) => fetched.push(done),
                Err(panic) => tracing::error!(%user, error = %panic, "an order fetch task failed"),
            }
        }
        Ok(fetched)
    }

    /// Reports each account's order outcome and upserts every fetched order, under the account's stored id,
    /// in one batch.
    async fn save_orders(
        &self,
        user: UserId,
        fetched: Vec<FetchedOrders>,
        stored_accounts: &[InvestmentAccount],
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let ids: HashMap<(Provider, &ProviderAccountId), AccountId> = stored_accounts
            .iter()
            .map(|a| ((a.provider, &a.provider_account_id), a.id))
            .collect();
        let mut orders: Vec<PlacedOrder> = Vec::new();
        let mut left_out = Vec::new();
        for FetchedOrders {
            key,
            orders: outcome,
        } in fetched
        {
            let Some(&account) = ids.get(&(key.0, &key.1)) else {
                continue;
            };
            let Some(entry) = report.account_mut(account) else {
                continue;
            };
            entry.orders = match outcome {
                Ok(fetched) => {
                    left_out.extend(fetched.left_out);
                    orders.extend(fetched.items.into_iter().map(|order| PlacedOrder {
                        account_id: account,
                        ..order
                    }));
                    Outcome::Synced
                }
                Err(outcome) => outcome,
            };
        }
        report.left_out.extend(left_out);
        orders.sort_by(|a, b| {
            (a.account_id, a.brokerage_order_id.as_str())
                .cmp(&(b.account_id, b.brokerage_order_id.as_str()))
        });
        orders.dedup_by(|a, b| {
            a.account_id == b.account_id && a.brokerage_order_id == b.brokerage_order_id
        });
        let written = self.store.upsert_orders(user, &orders).await?;
        report.orders_written = all_written("snaptrade_orders", orders.len(), written)?.len();
        Ok(())
    }
}

/// One account's orders as its provider listed them (under a stand-in account id for a new account), or why
/// they were not fetched; keyed by provider and the provider's account id until the account is written.
struct FetchedOrders {
    key: (Provider, ProviderAccountId),
    orders: Result<Listing<PlacedOrder>, Outcome>,
}

/// `written` when the repository stored every one of the `sent` rows; a typed conflict naming the table's key
/// otherwise (never a panic on a short answer).
pub(crate) fn all_written<T>(
    key: &'static str,
    sent: usize,
    written: Vec<T>,
) -> Result<Vec<T>, SyncError> {
    if written.len() == sent {
        Ok(written)
    } else {
        Err(RepoError::Conflict {
            constraint: format!("{key}: {} of {sent} rows written", written.len()),
        }
        .into())
    }
}

/// A user held exclusively, and the engine whose calls for the user run under that hold.
pub(crate) struct Held<S> {
    _local: UserGuard,
    pub(crate) lock: UserLock,
    pub(crate) engine: SyncEngine<S>,
}

impl<S> Held<S> {
    /// Lets the user go and hands back `result`. A release that fails is only logged: the repository closes
    /// the lock's connection then, which releases the lock all the same.
    pub(crate) async fn finish<T>(self, result: Result<T, SyncError>) -> Result<T, SyncError> {
        let Self {
            _local,
            lock,
            engine,
            ..
        } = self;
        drop(engine);
        let user = lock.user();
        if let Err(error) = lock.release().await {
            tracing::warn!(%user, %error, "releasing the user's lock failed; its connection was closed");
        }
        result
    }
}

/// Runs `writes` (calls of an engine bound to `lock`) as the lock's unit of writes: saved whole when they
/// succeed, nothing of them otherwise (the unit is left uncommitted, and releasing or dropping the lock
/// rolls it back).
pub(crate) async fn in_one_unit<T>(
    lock: &UserLock,
    writes: impl Future<Output = Result<T, SyncError>>,
) -> Result<T, SyncError> {
    lock.begin_writes().await?;
    let done = writes.await?;
    lock.commit_writes().await?;
    Ok(done)
}

/// The lots of every fetched account, each account's outcome added to the report.
fn fetched_lots(
    snapshots: &[Snapshot],
    stored: &[InvestmentAccount],
    report: &mut SyncReport,
) -> Result<Vec<Lot>, SyncError> {
    let by_key: HashMap<(Provider, &ProviderAccountId), &InvestmentAccount> = stored
        .iter()
        .map(|a| ((a.provider, &a.provider_account_id), a))
        .collect();
    let mut lots = Vec::new();
    for snapshot in snapshots {
        for account in &snapshot.accounts {
            let Some(row) = by_key.get(&(snapshot.provider, &account.info.provider_account_id))
            else {
                continue;
            };
            let outcome = match &account.positions {
                Ok(positions) => {
                    for position in positions {
                        let institution = row.institution_name.clone();
                        let lot = Lot::from_position(
                            row.id,
                            institution,
                            row.provider,
                            position,
                            account.info.currency.as_ref(),
                        )?;
                        match lot {
                            Ok(lot) => lots.push(lot),
                            Err(left_out) => report.positions_left_out.push(left_out),
                        }
                    }
                    Outcome::Synced
                }
                Err(failure) => Outcome::failed(failure),
            };
            report.accounts.push(AccountReport {
                provider: row.provider,
                provider_account_id: row.provider_account_id.clone(),
                account_id: Some(row.id),
                positions: outcome,
                orders: Outcome::skipped("not a trading provider"),
            });
        }
    }
    Ok(lots)
}

/// The sync state the report gives an account, or `None` when this sync did not touch its provider.
fn sync_state(
    account: &InvestmentAccount,
    report: &SyncReport,
) -> Option<(SyncStatus, Option<String>)> {
    if let Some(entry) = report
        .accounts
        .iter()
        .find(|a| a.account_id == Some(account.id))
    {
        return Some(match (&entry.positions, account.connection_status) {
            (Outcome::Failed(failure), _) => (SyncStatus::Error, Some(failure.to_string())),
            (Outcome::Skipped { reason }, _) => (SyncStatus::Disabled, Some(reason.clone())),
            (_, ConnectionStatus::Disabled) => (
                SyncStatus::Disabled,
                Some("the connection is disabled; reconnect it".to_owned()),
            ),
            (_, ConnectionStatus::Error) => (
                SyncStatus::Error,
                Some("the connection reports an error".to_owned()),
            ),
            _ => (SyncStatus::Success, None),
        });
    }
    // Not fetched: an account of a provider that failed as a whole records that failure.
    report
        .providers
        .iter()
        .find(|p| p.provider == account.provider)
        .and_then(|p| match &p.outcome {
            Outcome::Failed(failure) => Some((SyncStatus::Error, Some(failure.to_string()))),
            _ => None,
        })
}

/// How a provider call names a stored account.
pub(crate) fn account_ref(account: &InvestmentAccount) -> AccountRef {
    AccountRef {
        user_id: account.user_id,
        account_id: account.id,
        provider_account_id: account.provider_account_id.clone(),
    }
}
