//! Where a sync's data comes from: each provider's client behind one object-safe trait, so the engine holds
//! Plaid, SnapTrade and Alpaca (or sandbox-backed and test clients) side by side.
//!
//! [`AggregationSource`] adapts any [`Aggregation`] client (Plaid, SnapTrade), [`BrokerageSource`] any
//! [`BrokerageAccounts`] client (Alpaca), and [`TradingDesk`] any [`Trading`] client. Each is told how to
//! find a user's credentials by a [`Logins`] resolver: [`GivenLogins`] (handed in by the caller, e.g. Plaid
//! access tokens), `RegisteredSnapTradeUser` (the stored, sealed SnapTrade registration, in the `snaptrade` module),
//! [`AlpacaBrokerageAccount`] (the user's onboarding) and [`NoLogin`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tributary_domain::{
    BrokerageOrderId, ClientOrderId, InvestmentAccount, Provider, ProviderAccountId, UserId,
};
use tributary_provider::capability::{
    AccountInfo, AccountRef, Aggregation, BrokerageAccounts, ConnectionInfo, Listing, OrderImpact,
    OrderRequest, OrderScope, PlacedOrder, Position, Trading, UnreadableItem,
};
use tributary_provider::{ProviderError, router};
use tributary_repo::PortfolioRepository;

use crate::{Failure, SyncError};

/// What one provider holds for a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The provider.
    pub provider: Provider,
    /// Its connections (SnapTrade authorizations, Plaid Items).
    pub connections: Vec<ConnectionInfo>,
    /// Its accounts, each with its positions or why they could not be fetched.
    pub accounts: Vec<FetchedAccount>,
    /// Logins or accounts that could not be fetched at all, each typed: their accounts are missing from
    /// `accounts`.
    pub failures: Vec<Failure>,
    /// Items the provider answered with that cannot be represented: left out of `accounts`, with why.
    pub left_out: Vec<UnreadableItem>,
}

/// An account and its positions.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedAccount {
    /// The account.
    pub info: AccountInfo,
    /// Its positions, or why they could not be fetched.
    pub positions: Result<Vec<Position>, Failure>,
}

/// Finds the credentials a provider needs to act for a user.
#[async_trait]
pub trait Logins<S>: Send + Sync {
    /// One credential (a Plaid access token, a SnapTrade user, an Alpaca account…).
    type Login: Send + Sync + 'static;

    /// The user's credentials at the provider; empty when the user is not linked to it.
    async fn logins(&self, store: &S, user: UserId) -> Result<Vec<Self::Login>, SyncError>;
}

/// Credentials handed to the engine by its caller, per user (Plaid access tokens are held by the caller:
/// the repository does not give them out).
#[derive(Debug)]
pub struct GivenLogins<L> {
    logins: Mutex<HashMap<UserId, Vec<L>>>,
}

impl<L> Default for GivenLogins<L> {
    fn default() -> Self {
        Self {
            logins: Mutex::new(HashMap::new()),
        }
    }
}

impl<L: Clone> GivenLogins<L> {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a credential of `user`.
    pub fn add(&self, user: UserId, login: L) {
        self.logins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(user)
            .or_default()
            .push(login);
    }
}

#[async_trait]
impl<S: Sync, L: Clone + Send + Sync + 'static> Logins<S> for GivenLogins<L> {
    type Login = L;

    async fn logins(&self, _: &S, user: UserId) -> Result<Vec<L>, SyncError> {
        let logins = self.logins.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(logins.get(&user).cloned().unwrap_or_default())
    }
}

/// The user's Alpaca brokerage account (from the onboarding row), with Alpaca's login (the client's own
/// Broker API credentials act for every account).
#[derive(Debug, Default, Clone, Copy)]
pub struct AlpacaBrokerageAccount;

#[async_trait]
impl<S: PortfolioRepository> Logins<S> for AlpacaBrokerageAccount {
    type Login = ((), ProviderAccountId);

    async fn logins(&self, store: &S, user: UserId) -> Result<Vec<Self::Login>, SyncError> {
        let summary = store.portfolio_mode(user).await?;
        Ok(summary
            .alpaca_account_id
            .into_iter()
            .map(|id| ((), id))
            .collect())
    }
}

#[async_trait]
impl<S: Sync, R: Logins<S>> Logins<S> for Arc<R> {
    type Login = R::Login;

    async fn logins(&self, store: &S, user: UserId) -> Result<Vec<R::Login>, SyncError> {
        self.as_ref().logins(store, user).await
    }
}

/// For clients that need nothing to act for a user (Alpaca's Broker API).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLogin;

#[async_trait]
impl<S: Sync> Logins<S> for NoLogin {
    type Login = ();

    async fn logins(&self, _: &S, _: UserId) -> Result<Vec<()>, SyncError> {
        Ok(vec![()])
    }
}

/// A provider the engine syncs accounts and positions from.
#[async_trait]
pub trait AccountSource<S>: Send + Sync {
    /// The provider.
    fn provider(&self) -> Provider;

    /// Everything the provider holds for `user`, its calls run at most `permits` at a time.
    ///
    /// # Errors
    /// [`SyncError::NotLinked`] when the user has no credentials there; the provider's error when nothing
    /// could be fetched.
    async fn fetch(
        &self,
        store: &S,
        user: UserId,
        permits: Arc<Semaphore>,
    ) -> Result<Snapshot, SyncError>;

    /// Records, inside the sync's unit of writes, that `user` was synced from this source in full at `at`, for
    /// a provider that keeps such a record of its own (SnapTrade's registration keeps its last sync). Nothing
    /// by default.
    ///
    /// # Errors
    /// The repository's.
    async fn synced(&self, store: &S, user: UserId, at: DateTime<Utc>) -> Result<(), SyncError>
    where
        S: Sync,
    {
        let _ = (store, user, at);
        Ok(())
    }
}

/// An [`Aggregation`] client as a source: per login, its connections, accounts and all positions.
#[derive(Debug)]
pub struct AggregationSource<A, R> {
    client: Arc<A>,
    logins: R,
}

impl<A, R> AggregationSource<A, R> {
    /// The client, finding credentials with `logins`.
    pub fn new(client: Arc<A>, logins: R) -> Self {
        Self { client, logins }
    }
}

/// What one login (or one brokerage account) gave: its connections, its accounts, and what was left out.
type Harvest = (
    Vec<ConnectionInfo>,
    Vec<FetchedAccount>,
    Vec<UnreadableItem>,
);
type LoginHarvest = Result<Harvest, ProviderError>;

#[async_trait]
impl<S, A, R> AccountSource<S> for AggregationSource<A, R>
where
    S: Send + Sync,
    A: Aggregation + 'static,
    R: Logins<S, Login = A::Login>,
{
    fn provider(&self) -> Provider {
        self.client.provider()
    }

    async fn fetch(
        &self,
        store: &S,
        user: UserId,
        permits: Arc<Semaphore>,
    ) -> Result<Snapshot, SyncError> {
        let provider = self.client.provider();
        let logins = linked(&self.logins, store, user, provider).await?;
        harvest_each(provider, logins, |login| {
            let (client, permits) = (Arc::clone(&self.client), Arc::clone(&permits));
            async move { harvest_login(client.as_ref(), &login, &permits).await }
        })
        .await
    }
}

async fn harvest_login<A: Aggregation>(
    client: &A,
    login: &A::Login,
    permits: &Semaphore,
) -> LoginHarvest {
    let (connections, accounts, positions) = tokio::join!(
        limited(permits, client.connections(login)),
        limited(permits, client.accounts(login)),
        limited(permits, client.positions(login)),
    );
    let (connections, accounts) = (connections?, accounts?);
    let (positions, left_out) = match positions {
        Ok(listing) => (Ok(listing.items), listing.left_out),
        Err(error) => (Err(Failure::from(error)), Vec::new()),
    };
    let accounts = accounts
        .into_iter()
        .map(|info| FetchedAccount {
            positions: positions.as_ref().map_err(Clone::clone).map(|all| {
                all.iter()
                    .filter(|p| p.provider_account_id == info.provider_account_id)
                    .cloned()
                    .collect()
            }),
            info,
        })
        .collect();
    Ok((connections, accounts, left_out))
}

/// The user's logins at `provider`; [`SyncError::NotLinked`] when there are none.
pub(crate) async fn linked<S, R: Logins<S>>(
    logins: &R,
    store: &S,
    user: UserId,
    provider: Provider,
) -> Result<Vec<R::Login>, SyncError> {
    let logins = logins.logins(store, user).await?;
    if logins.is_empty() {
        return Err(SyncError::NotLinked { user, provider });
    }
    Ok(logins)
}

/// Harvests every login concurrently (each harvest bounds its own calls) into one snapshot.
async fn harvest_each<L, F, H>(
    provider: Provider,
    logins: Vec<L>,
    harvest: F,
) -> Result<Snapshot, SyncError>
where
    F: Fn(L) -> H,
    H: Future<Output = LoginHarvest> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for login in logins {
        tasks.spawn(harvest(login));
    }
    snapshot(provider, join_all(tasks).await)
}

/// Runs `call` once a permit is free: the engine's bound on concurrent provider calls.
async fn limited<T>(permits: &Semaphore, call: impl Future<Output = T>) -> T {
    // The semaphore is never closed, so acquiring only waits.
    let _permit = permits.acquire().await;
    call.await
}

async fn join_all<T: 'static>(
    mut tasks: JoinSet<Result<T, ProviderError>>,
) -> Vec<Result<T, Failure>> {
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(match joined {
            Ok(result) => result.map_err(Failure::from),
            Err(panic) => Err(Failure::task_failed(format!("fetch task failed: {panic}"))),
        });
    }
    results
}

/// One snapshot from every login's harvest; an error only when no login gave anything.
fn snapshot(
    provider: Provider,
    harvests: Vec<Result<Harvest, Failure>>,
) -> Result<Snapshot, SyncError> {
    let mut snapshot = Snapshot {
        provider,
        connections: Vec::new(),
        accounts: Vec::new(),
        failures: Vec::new(),
        left_out: Vec::new(),
    };
    let attempts = harvests.len();
    for harvest in harvests {
        match harvest {
            Ok((connections, accounts, left_out)) => {
                snapshot.connections.extend(connections);
                snapshot.accounts.extend(accounts);
                snapshot.left_out.extend(left_out);
            }
            Err(failure) => snapshot.failures.push(failure),
        }
    }
    if snapshot.failures.len() == attempts {
        return Err(SyncError::Unreachable {
            provider,
            failures: snapshot.failures,
        });
    }
    Ok(snapshot)
}

/// A client that aggregates and also reads single accounts (SnapTrade): per login its connections and
/// accounts, then every account's positions fetched concurrently, so one slow account does not hold up
/// the others and a failing one fails alone.
#[derive(Debug)]
pub struct PerAccountSource<C, R> {
    client: Arc<C>,
    logins: R,
}

impl<C, R> PerAccountSource<C, R> {
    /// The client, finding credentials with `logins`.
    pub fn new(client: Arc<C>, logins: R) -> Self {
        Self { client, logins }
    }
}

#[async_trait]
impl<S, C, L, R> AccountSource<S> for PerAccountSource<C, R>
where
    S: Send + Sync,
    L: Send + Sync + 'static,
    C: Aggregation<Login = L> + BrokerageAccounts<Login = L> + 'static,
    R: Logins<S, Login = L>,
{
    fn provider(&self) -> Provider {
        self.client.provider()
    }

    async fn fetch(
        &self,
        store: &S,
        user: UserId,
        permits: Arc<Semaphore>,
    ) -> Result<Snapshot, SyncError> {
        let provider = self.client.provider();
        let logins = linked(&self.logins, store, user, provider).await?;
        harvest_each(provider, logins, |login| {
            let (client, permits) = (Arc::clone(&self.client), Arc::clone(&permits));
            harvest_per_account(client, Arc::new(login), permits)
        })
        .await
    }
}

async fn harvest_per_account<L, C>(
    client: Arc<C>,
    login: Arc<L>,
    permits: Arc<Semaphore>,
) -> LoginHarvest
where
    L: Send + Sync + 'static,
    C: Aggregation<Login = L> + BrokerageAccounts<Login = L> + 'static,
{
    let (connections, accounts) = tokio::join!(
        limited(&permits, Aggregation::connections(client.as_ref(), &login)),
        limited(&permits, Aggregation::accounts(client.as_ref(), &login)),
    );
    let (connections, accounts) = (connections?, accounts?);
    let mut tasks = JoinSet::new();
    for (index, info) in accounts.iter().enumerate() {
        let (client, login, permits) = (
            Arc::clone(&client),
            Arc::clone(&login),
            Arc::clone(&permits),
        );
        let account = info.provider_account_id.clone();
        tasks.spawn(async move {
            let positions = limited(&permits, client.account_positions(&login, &account)).await;
            (index, positions.map_err(Failure::from))
        });
    }
    let mut positions: Vec<Result<Vec<Position>, Failure>> =
        vec![Err(Failure::task_failed("not fetched: its task failed")); accounts.len()];
    let mut left_out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, fetched)) => {
                positions[index] = fetched.map(|listing| {
                    left_out.extend(listing.left_out);
                    listing.items
                });
            }
            Err(panic) => tracing::error!(error = %panic, "a positions task failed"),
        }
    }
    let accounts = accounts
        .into_iter()
        .zip(positions)
        .map(|(info, positions)| FetchedAccount { info, positions })
        .collect();
    Ok((connections, accounts, left_out))
}

/// A [`BrokerageAccounts`] client as a source: each of the user's brokerage accounts and its positions,
/// fetched concurrently.
#[derive(Debug)]
pub struct BrokerageSource<B, R> {
    client: Arc<B>,
    provider: Provider,
    logins: R,
}

impl<B, R> BrokerageSource<B, R> {
    /// The client for `provider`, finding the user's accounts with `logins`.
    pub fn new(client: Arc<B>, provider: Provider, logins: R) -> Self {
        Self {
            client,
            provider,
            logins,
        }
    }
}

#[async_trait]
impl<S, B, R> AccountSource<S> for BrokerageSource<B, R>
where
    S: Send + Sync,
    B: BrokerageAccounts + 'static,
    R: Logins<S, Login = (B::Login, ProviderAccountId)>,
{
    fn provider(&self) -> Provider {
        self.provider
    }

    async fn fetch(
        &self,
        store: &S,
        user: UserId,
        permits: Arc<Semaphore>,
    ) -> Result<Snapshot, SyncError> {
        let logins = linked(&self.logins, store, user, self.provider).await?;
        harvest_each(self.provider, logins, |(login, account)| {
            let (client, permits) = (Arc::clone(&self.client), Arc::clone(&permits));
            async move {
                let (info, positions) = tokio::join!(
                    limited(&permits, client.brokerage_account(&login, &account)),
                    limited(&permits, client.account_positions(&login, &account)),
                );
                let (positions, left_out) = match positions {
                    Ok(listing) => (Ok(listing.items), listing.left_out),
                    Err(error) => (Err(Failure::from(error)), Vec::new()),
                };
                Ok((
                    Vec::new(),
                    vec![FetchedAccount {
                        info: info?,
                        positions,
                    }],
                    left_out,
                ))
            }
        })
        .await
    }
}

/// A provider the engine places, cancels and lists orders through.
#[async_trait]
pub trait OrderDesk<S>: Send + Sync {
    /// The provider.
    fn provider(&self) -> Provider;

    /// What the order would do, before it is placed.
    async fn impact(
        &self,
        store: &S,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<OrderImpact, SyncError>;

    /// Places the order.
    async fn place(
        &self,
        store: &S,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<PlacedOrder, SyncError>;

    /// Cancels an order.
    async fn cancel(
        &self,
        store: &S,
        account: &AccountRef,
        order: &BrokerageOrderId,
    ) -> Result<(), SyncError>;

    /// The account's orders, and those left out because they cannot be represented.
    async fn orders(
        &self,
        store: &S,
        account: &AccountRef,
        scope: OrderScope,
    ) -> Result<Listing<PlacedOrder>, SyncError>;

    /// The order the provider holds under `client_order_id`: `Ok(None)` only when the provider's answer
    /// proves it holds none (see [`Trading::find_order`]).
    async fn find(
        &self,
        store: &S,
        account: &AccountRef,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<PlacedOrder>, SyncError>;

    /// Refuses an account the provider's own truth does not give to its user, before any trading call: a
    /// stored row is never enough to trade in, read the orders of, or cancel in an account.
    async fn admit(&self, store: &S, account: &InvestmentAccount) -> Result<(), SyncError>;
}

/// Who may act in an account, decided from the provider's truth rather than from the stored row (which a bug
/// elsewhere could have written for the wrong user).
#[async_trait]
pub trait AccountGate<S>: Send + Sync {
    /// `Ok(())` when `account` is its user's own at the provider; otherwise a typed refusal
    /// ([`SyncError::AccountNotOwned`], or the connection's state when it cannot trade).
    async fn admit(&self, store: &S, account: &InvestmentAccount) -> Result<(), SyncError>;
}

/// Alpaca: the user trades only in the account their onboarding names (`user_onboarding.alpaca_account_id`,
/// written by the backend when Alpaca opens the account, never by the user). The Broker API's key acts for
/// every customer of the partner, so the row's `provider_account_id` alone proves nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct OnboardingAccountGate;

#[async_trait]
impl<S: PortfolioRepository> AccountGate<S> for OnboardingAccountGate {
    async fn admit(&self, store: &S, account: &InvestmentAccount) -> Result<(), SyncError> {
        let onboarding = store.portfolio_mode(account.user_id).await?;
        if onboarding.alpaca_account_id.as_ref() == Some(&account.provider_account_id) {
            Ok(())
        } else {
            Err(SyncError::AccountNotOwned {
                account: account.id,
                provider: account.provider,
            })
        }
    }
}

/// An aggregator whose credentials are the user's own (SnapTrade's registration): the account must be one the
/// provider lists for those credentials, on a connection the provider reports as a working trade connection.
#[derive(Debug)]
pub struct ListedAccountGate<A, R> {
    client: Arc<A>,
    logins: R,
}

impl<A, R> ListedAccountGate<A, R> {
    /// Asks `client` with the user's logins found by `logins`.
    pub fn new(client: Arc<A>, logins: R) -> Self {
        Self { client, logins }
    }
}

#[async_trait]
impl<S, A, R> AccountGate<S> for ListedAccountGate<A, R>
where
    S: Send + Sync,
    A: Aggregation + 'static,
    R: Logins<S, Login = A::Login>,
{
    async fn admit(&self, store: &S, account: &InvestmentAccount) -> Result<(), SyncError> {
        let not_owned = || SyncError::AccountNotOwned {
            account: account.id,
            provider: account.provider,
        };
        if account.provider != self.client.provider() {
            return Err(not_owned());
        }
        for login in self.logins.logins(store, account.user_id).await? {
            let listed = self.client.accounts(&login).await?;
            let Some(found) = listed
                .iter()
                .find(|a| a.provider_account_id == account.provider_account_id)
            else {
                continue;
            };
            return match &found.provider_connection_id {
                Some(connection) => {
                    let connections = self.client.connections(&login).await?;
                    let info = connections
                        .iter()
                        .find(|c| &c.provider_connection_id == connection)
                        .ok_or_else(not_owned)?;
                    trade_connection(account, info)
                }
                None => Ok(()),
            };
        }
        Err(not_owned())
    }
}

/// The provider's word on the account's connection: a trade connection that works.
fn trade_connection(account: &InvestmentAccount, info: &ConnectionInfo) -> Result<(), SyncError> {
    Ok(router::trade_connection(
        account.id,
        info.connection_type,
        info.status,
    )?)
}

/// A [`Trading`] client as an order desk, acting with the user's first login, in the accounts its gate admits.
#[derive(Debug)]
pub struct TradingDesk<T, R, G> {
    client: Arc<T>,
    logins: R,
    gate: G,
}

impl<T, R, G> TradingDesk<T, R, G> {
    /// The client, finding credentials with `logins`, acting only in accounts `gate` admits.
    pub fn new(client: Arc<T>, logins: R, gate: G) -> Self {
        Self {
            client,
            logins,
            gate,
        }
    }
}

impl<T: Trading, R, G> TradingDesk<T, R, G> {
    async fn login<S>(&self, store: &S, user: UserId) -> Result<T::Login, SyncError>
    where
        R: Logins<S, Login = T::Login>,
    {
        let provider = self.client.provider();
        let logins = self.logins.logins(store, user).await?;
        logins
            .into_iter()
            .next()
            .ok_or(SyncError::NotLinked { user, provider })
    }
}

#[async_trait]
impl<S, T, R, G> OrderDesk<S> for TradingDesk<T, R, G>
where
    S: Send + Sync,
    T: Trading + 'static,
    R: Logins<S, Login = T::Login>,
    G: AccountGate<S>,
{
    fn provider(&self) -> Provider {
        self.client.provider()
    }

    async fn impact(
        &self,
        store: &S,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<OrderImpact, SyncError> {
        let login = self.login(store, account.user_id).await?;
        Ok(self.client.order_impact(&login, account, order).await?)
    }

    async fn place(
        &self,
        store: &S,
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<PlacedOrder, SyncError> {
        let login = self.login(store, account.user_id).await?;
        Ok(self.client.place_order(&login, account, order).await?)
    }

    async fn cancel(
        &self,
        store: &S,
        account: &AccountRef,
        order: &BrokerageOrderId,
    ) -> Result<(), SyncError> {
        let login = self.login(store, account.user_id).await?;
        Ok(self.client.cancel_order(&login, account, order).await?)
    }

    async fn orders(
        &self,
        store: &S,
        account: &AccountRef,
        scope: OrderScope,
    ) -> Result<Listing<PlacedOrder>, SyncError> {
        let login = self.login(store, account.user_id).await?;
        Ok(self.client.list_orders(&login, account, scope).await?)
    }

    async fn find(
        &self,
        store: &S,
        account: &AccountRef,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<PlacedOrder>, SyncError> {
        let login = self.login(store, account.user_id).await?;
        Ok(self
            .client
            .find_order(&login, account, client_order_id)
            .await?)
    }

    async fn admit(&self, store: &S, account: &InvestmentAccount) -> Result<(), SyncError> {
        self.gate.admit(store, account).await
    }
}
