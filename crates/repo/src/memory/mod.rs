//! [`MemoryStore`]: the repositories in memory, with PostgreSQL's semantics, for other services' tests.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::{
    AccountId, AuthorizationId, BrokerageConnection, ClientOrderId, ConnectionId, Currency,
    ExposeSecret, Holding, HoldingId, InvestmentAccount, NewBrokerageConnection, NewHolding,
    NewInvestmentAccount, NewOrder, NewSnapTradeUser, Order, OrderId, OrderStatus, PortfolioMode,
    Provider, ProviderAccountId, SnapTradeUser, SnapTradeUserRowId, StatusMessage, Symbol,
    SyncStatus, UserId,
};

use crate::batch::{
    check_accounts, check_connections, check_holdings, check_orders, check_snaptrade_user,
    check_sync_states,
};
use crate::lock::{InProcessGuard, InProcessLocks, UserLock};
use crate::repository::{check_webhook_delivery, webhook_error_text};
use crate::{
    AccountRepository, AccountSyncState, ConnectionRepository, ConnectionStatusChange, HeldLock,
    HoldingRepository, HoldingsReplaced, LockRepository, NewWebhookDelivery, OrderRepository,
    PortfolioRepository, PortfolioSummary, RepoError, ResealReport, SecretRepository,
    SnapTradeUserRepository, UnifiedAccount, WebhookDelivery, WebhookKey, WebhookRepository,
    WebhookStatus,
};

/// The repositories in memory, behaving as [`crate::PgStore`] does: the same unique keys and conflicts,
/// idempotent upserts that leave unchanged rows (and their `updated_at`) alone, all-or-nothing batches,
/// holdings replacement, the portfolio mode of `get_user_portfolio_mode`, and rows that exist only for
/// registered users (PostgreSQL's foreign keys to `auth.users`). The conformance suite runs against both.
///
/// Thread-safe; clones share the same data.
///
/// ```
/// use tributary_repo::{MemoryStore, PortfolioRepository};
/// use tributary_domain::PortfolioMode;
///
/// # tokio_test_block_on(async {
/// let store = MemoryStore::new();
/// let user = store.create_user();
/// assert_eq!(store.portfolio_mode(user).await?.mode, PortfolioMode::None);
/// # Ok::<(), tributary_repo::RepoError>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    locks: InProcessLocks,
}

#[derive(Default)]
struct State {
    users: HashSet<UserId>,
    accounts: HashMap<AccountId, InvestmentAccount>,
    snaptrade_users: HashMap<UserId, SnapTradeUser>,
    /// By user and authorization id: the key is scoped by user (migration 0013).
    connections: HashMap<(UserId, AuthorizationId), BrokerageConnection>,
    holdings: HashMap<HoldingKey, Holding>,
    orders: HashMap<OrderId, Order>,
    alpaca_accounts: HashMap<UserId, ProviderAccountId>,
    /// The webhook inbox, by key (a delivery naming a user goes with the user).
    webhooks: HashMap<WebhookKey, WebhookDelivery>,
    clock: Clock,
}

impl MemoryStore {
    /// An empty store with no users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a user (as a sign-up adds a row to `auth.users`), so rows can be written for them.
    pub fn register_user(&self, user: UserId) {
        self.lock().users.insert(user);
    }

    /// Registers a new user with a fresh id and returns the id.
    pub fn create_user(&self) -> UserId {
        let user = UserId::generate();
        self.register_user(user);
        user
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every write checks everything before it mutates, so a panic elsewhere never leaves half a write behind.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("users", &state.users.len())
            .field("accounts", &state.accounts.len())
            .field("snaptrade_users", &state.snaptrade_users.len())
            .field("connections", &state.connections.len())
            .field("holdings", &state.holdings.len())
            .field("orders", &state.orders.len())
            .finish()
    }
}

/// The clock writes are stamped with: PostgreSQL's precision (microseconds), so both stores return the same
/// values, and strictly increasing, as separate transactions' `now()` are. Without that, two writes within one
/// microsecond would carry the same `updated_at`, which PostgreSQL never shows.
#[derive(Default)]
struct Clock {
    last: Option<DateTime<Utc>>,
}

impl Clock {
    fn stamp(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let stamp = match self.last {
            Some(last) if now <= last => last + chrono::Duration::microseconds(1),
            _ => now,
        };
        self.last = Some(stamp);
        stamp
    }
}

impl State {
    /// PostgreSQL's foreign keys to `auth.users`: nothing is written for a user who does not exist.
    fn ensure_user(&self, user: UserId) -> Result<(), RepoError> {
        if self.users.contains(&user) {
            Ok(())
        } else {
            Err(RepoError::NotFound { entity: "user" })
        }
    }

    fn account_by_key(&self, new: &NewInvestmentAccount) -> Option<AccountId> {
        self.accounts
            .values()
            .find(|a| {
                a.user_id == new.user_id
                    && a.provider == new.provider
                    && a.provider_account_id == new.provider_account_id
            })
            .map(|a| a.id)
    }

    /// Refuses `new`'s client order id when another of the user's orders holds it (PostgreSQL's
    /// `snaptrade_orders_user_id_client_order_id_key`); `replacing` is the recorded order a confirmation folds
    /// away, which may hold it.
    fn check_client_order_id(
        &self,
        new: &NewOrder,
        replacing: Option<OrderId>,
    ) -> Result<(), RepoError> {
        let Some(key) = &new.client_order_id else {
            return Ok(());
        };
        let own_row = self.order_by_key(new);
        let taken = self.orders.values().any(|o| {
            o.user_id == new.user_id
                && o.client_order_id.as_ref() == Some(key)
                && Some(o.id) != own_row
                && Some(o.id) != replacing
        });
        if taken {
            return Err(RepoError::Conflict {
                constraint: "snaptrade_orders_user_id_client_order_id_key".to_owned(),
            });
        }
        Ok(())
    }

    fn order_by_key(&self, new: &NewOrder) -> Option<OrderId> {
        self.orders
            .values()
            .find(|o| {
                o.user_id == new.user_id
                    && o.account_id == new.account_id
                    && o.brokerage_order_id == new.brokerage_order_id
            })
            .map(|o| o.id)
    }
}

/// A write that names no client order id keeps the stored one (a provider's listing does not carry it).
fn kept_client_order_id(new: &NewOrder, current: &Order) -> Option<ClientOrderId> {
    new.client_order_id
        .clone()
        .or_else(|| current.client_order_id.clone())
}

/// Stores `updated` over `current` when anything changed, stamping `updated_at` as the schema's trigger does;
/// returns whether it was written.
fn write_if_changed<T: PartialEq>(
    current: &mut T,
    mut updated: T,
    stamp: impl FnOnce(&mut T),
) -> bool {
    if *current == updated {
        return false;
    }
    stamp(&mut updated);
    *current = updated;
    true
}

/// Accounts are listed by provider, then provider account id, in byte order (PostgreSQL's `collate "C"`).
fn listing_order(provider: Provider, id: &ProviderAccountId) -> (&'static str, String) {
    (provider.as_str(), id.as_str().to_owned())
}

fn sorted_by<T, K: Ord>(mut items: Vec<T>, key: impl FnMut(&T) -> K) -> Vec<T> {
    items.sort_by_key(key);
    items
}

#[async_trait]
impl AccountRepository for MemoryStore {
    async fn upsert_accounts(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        check_accounts(user, accounts)?;
        let mut state = self.lock();
        if !accounts.is_empty() {
            state.ensure_user(user)?;
        }
        let at = state.clock.stamp();
        let mut stored = Vec::with_capacity(accounts.len());
        for new in accounts {
            let id = match state.account_by_key(new) {
                Some(id) => {
                    let current = state.accounts.get_mut(&id).expect("found by key");
                    // The sync's own columns are not the draft's to change.
                    let updated = InvestmentAccount {
                        created_at: current.created_at,
                        updated_at: current.updated_at,
                        last_synced: current.last_synced,
                        sync_status: current.sync_status,
                        sync_error_message: current.sync_error_message.clone(),
                        ..new.clone().into_stored(id, at)
                    };
                    write_if_changed(current, updated, |a| a.updated_at = Some(at));
                    id
                }
                None => {
                    let account = new.clone().into_stored(AccountId::generate(), at);
                    let id = account.id;
                    state.accounts.insert(id, account);
                    id
                }
            };
            stored.push(state.accounts[&id].clone());
        }
        Ok(stored)
    }

    async fn get_account(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<InvestmentAccount, RepoError> {
        self.lock()
            .accounts
            .get(&account)
            .filter(|a| a.user_id == user)
            .cloned()
            .ok_or(RepoError::NotFound { entity: "account" })
    }

    async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError> {
        let accounts = self
            .lock()
            .accounts
            .values()
            .filter(|a| a.user_id == user)
            .cloned()
            .collect();
        Ok(sorted_by(accounts, |a| {
            listing_order(a.provider, &a.provider_account_id)
        }))
    }

    async fn record_account_sync(
        &self,
        user: UserId,
        account: AccountId,
        status: SyncStatus,
        error_message: Option<StatusMessage>,
        at: DateTime<Utc>,
    ) -> Result<InvestmentAccount, RepoError> {
        let mut state = self.lock();
        let stamp = state.clock.stamp();
        let current = state
            .accounts
            .get_mut(&account)
            .filter(|a| a.user_id == user)
            .ok_or(RepoError::NotFound { entity: "account" })?;
        let updated = sync_recorded(current, status, error_message, at);
        write_if_changed(current, updated, |a| a.updated_at = Some(stamp));
        Ok(current.clone())
    }

    async fn record_account_syncs(
        &self,
        user: UserId,
        states: &[AccountSyncState],
        at: DateTime<Utc>,
    ) -> Result<usize, RepoError> {
        check_sync_states(user, states)?;
        let mut state = self.lock();
        let all_found = states.iter().all(|s| {
            state
                .accounts
                .get(&s.account)
                .is_some_and(|a| a.user_id == user)
        });
        if !all_found {
            return Err(RepoError::NotFound { entity: "account" });
        }
        if states.is_empty() {
            return Ok(0);
        }
        let stamp = state.clock.stamp();
        let mut written = 0;
        for new in states {
            let current = state.accounts.get_mut(&new.account).expect("checked above");
            let updated = sync_recorded(current, new.status, new.error_message.clone(), at);
            if write_if_changed(current, updated, |a| a.updated_at = Some(stamp)) {
                written += 1;
            }
        }
        Ok(written)
    }
}

/// The account with a sync's outcome recorded: `last_synced` moves only on success.
fn sync_recorded(
    current: &InvestmentAccount,
    status: SyncStatus,
    error_message: Option<StatusMessage>,
    at: DateTime<Utc>,
) -> InvestmentAccount {
    InvestmentAccount {
        sync_status: status,
        sync_error_message: error_message,
        last_synced: if status == SyncStatus::Success {
            Some(at)
        } else {
            current.last_synced
        },
        ..current.clone()
    }
}

#[async_trait]
impl SnapTradeUserRepository for MemoryStore {
    async fn upsert_snaptrade_user(
        &self,
        user: UserId,
        snaptrade_user: &NewSnapTradeUser,
    ) -> Result<SnapTradeUser, RepoError> {
        check_snaptrade_user(user, snaptrade_user)?;
        let mut state = self.lock();
        state.ensure_user(user)?;
        let at = state.clock.stamp();
        let stored = state
            .snaptrade_users
            .entry(user)
            .and_modify(|current| {
                let unchanged = current.snaptrade_user_id == snaptrade_user.snaptrade_user_id
                    && current.user_secret.expose_secret()
                        == snaptrade_user.user_secret.expose_secret();
                if !unchanged {
                    current.snaptrade_user_id = snaptrade_user.snaptrade_user_id.clone();
                    current.user_secret = snaptrade_user.user_secret.clone();
                    current.updated_at = Some(at);
                }
            })
            .or_insert_with(|| SnapTradeUser {
                id: SnapTradeUserRowId::generate(),
                user_id: user,
                snaptrade_user_id: snaptrade_user.snaptrade_user_id.clone(),
                user_secret: snaptrade_user.user_secret.clone(),
                created_at: Some(at),
                updated_at: Some(at),
                last_sync_at: None,
            });
        Ok(stored.clone())
    }

    async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError> {
        Ok(self.lock().snaptrade_users.get(&user).cloned())
    }

    async fn record_snaptrade_sync(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut state = self.lock();
        let stamp = state.clock.stamp();
        let current = state
            .snaptrade_users
            .get_mut(&user)
            .ok_or(RepoError::NotFound {
                entity: "snaptrade user",
            })?;
        if current.last_sync_at != Some(at) {
            current.last_sync_at = Some(at);
            current.updated_at = Some(stamp);
        }
        Ok(())
    }

    async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError> {
        self.lock()
            .snaptrade_users
            .remove(&user)
            .map(drop)
            .ok_or(RepoError::NotFound {
                entity: "snaptrade user",
            })
    }
}

#[async_trait]
impl ConnectionRepository for MemoryStore {
    async fn upsert_connections(
        &self,
        user: UserId,
        connections: &[NewBrokerageConnection],
    ) -> Result<Vec<BrokerageConnection>, RepoError> {
        check_connections(user, connections)?;
        let mut state = self.lock();
        if connections.is_empty() {
            return Ok(Vec::new());
        }
        state.ensure_user(user)?;
        let at = state.clock.stamp();
        let mut stored = Vec::with_capacity(connections.len());
        for new in connections {
            let connection = match state.connections.get_mut(&(user, new.authorization_id)) {
                Some(current) => {
                    let updated = BrokerageConnection {
                        created_at: current.created_at,
                        updated_at: current.updated_at,
                        ..new.clone().into_stored(current.id, at)
                    };
                    write_if_changed(current, updated, |c| c.updated_at = Some(at));
                    current.clone()
                }
                None => {
                    let created = new.clone().into_stored(ConnectionId::generate(), at);
                    state
                        .connections
                        .insert((user, new.authorization_id), created.clone());
                    created
                }
            };
            stored.push(connection);
        }
        Ok(stored)
    }

    async fn get_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.lock()
            .connections
            .get(&(user, authorization))
            .cloned()
            .ok_or(RepoError::NotFound {
                entity: "connection",
            })
    }

    async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError> {
        let connections = self
            .lock()
            .connections
            .values()
            .filter(|c| c.user_id == user)
            .cloned()
            .collect();
        Ok(sorted_by(connections, |c| c.authorization_id))
    }

    async fn set_connection_status(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<BrokerageConnection, RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let current =
            state
                .connections
                .get_mut(&(user, authorization))
                .ok_or(RepoError::NotFound {
                    entity: "connection",
                })?;
        let (status, disabled_date, error_message) = change.apply_to(current);
        let updated = BrokerageConnection {
            status,
            disabled_date,
            error_message,
            ..current.clone()
        };
        write_if_changed(current, updated, |c| c.updated_at = Some(at));
        Ok(current.clone())
    }

    async fn delete_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.lock()
            .connections
            .remove(&(user, authorization))
            .ok_or(RepoError::NotFound {
                entity: "connection",
            })
    }
}

#[async_trait]
impl HoldingRepository for MemoryStore {
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError> {
        check_holdings(user, holdings)?;
        let mut state = self.lock();
        upsert_holdings(&mut state, user, holdings)
    }

    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError> {
        check_holdings(user, holdings)?;
        // One lock for the whole replacement: no reader sees the old and the new set mixed.
        let mut state = self.lock();
        if !holdings.is_empty() {
            state.ensure_user(user)?;
        }
        let kept: HashSet<HoldingKey> = holdings.iter().map(holding_key).collect();
        let before = state.holdings.len();
        state
            .holdings
            .retain(|key, _| key.0 != user || kept.contains(key));
        let removed = before - state.holdings.len();
        let written = upsert_holdings(&mut state, user, holdings)?;
        Ok(HoldingsReplaced { written, removed })
    }

    async fn get_holding(
        &self,
        user: UserId,
        symbol: &Symbol,
        currency: Option<Currency>,
    ) -> Result<Holding, RepoError> {
        self.lock()
            .holdings
            .get(&(user, symbol.clone(), currency))
            .cloned()
            .ok_or(RepoError::NotFound { entity: "holding" })
    }

    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError> {
        let holdings = self
            .lock()
            .holdings
            .values()
            .filter(|h| h.user_id == user)
            .cloned()
            .collect();
        // As PostgreSQL's `order by symbol collate "C", currency collate "C" nulls first`.
        Ok(sorted_by(holdings, |h| {
            (
                h.symbol.as_str().to_owned(),
                h.currency.as_ref().map(|c| c.as_str().to_owned()),
            )
        }))
    }
}

/// A holding's key, as `user_aggregated_holdings_user_id_symbol_currency_key`.
type HoldingKey = (UserId, Symbol, Option<Currency>);

fn holding_key(holding: &NewHolding) -> HoldingKey {
    (
        holding.user_id,
        holding.symbol.clone(),
        holding.currency.clone(),
    )
}

fn upsert_holdings(
    state: &mut State,
    user: UserId,
    holdings: &[NewHolding],
) -> Result<usize, RepoError> {
    if holdings.is_empty() {
        return Ok(0);
    }
    state.ensure_user(user)?;
    let at = state.clock.stamp();
    let mut written = 0;
    for new in holdings {
        let key = holding_key(new);
        match state.holdings.get_mut(&key) {
            Some(current) => {
                let updated = Holding {
                    updated_at: current.updated_at,
                    ..new.clone().into_stored(current.id, at)
                };
                if write_if_changed(current, updated, |h| h.updated_at = Some(at)) {
                    written += 1;
                }
            }
            None => {
                let created = new.clone().into_stored(HoldingId::generate_ordered(), at);
                state.holdings.insert(key, created);
                written += 1;
            }
        }
    }
    Ok(written)
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn upsert_orders(
        &self,
        user: UserId,
        orders: &[NewOrder],
    ) -> Result<Vec<Order>, RepoError> {
        check_orders(user, orders)?;
        let mut state = self.lock();
        let owns_every_account = orders.iter().all(|o| {
            state
                .accounts
                .get(&o.account_id)
                .is_some_and(|a| a.user_id == user)
        });
        if !owns_every_account {
            return Err(RepoError::NotFound { entity: "account" });
        }
        for new in orders {
            state.check_client_order_id(new, None)?;
        }
        let at = state.clock.stamp();
        let mut stored = Vec::with_capacity(orders.len());
        for new in orders {
            let order = match state.order_by_key(new) {
                Some(id) => {
                    let current = state.orders.get_mut(&id).expect("found by key");
                    let updated = Order {
                        updated_at: current.updated_at,
                        client_order_id: kept_client_order_id(new, current),
                        ..new.clone().into_stored(id, at)
                    };
                    write_if_changed(current, updated, |o| o.updated_at = Some(at));
                    current.clone()
                }
                None => {
                    let created = new.clone().into_stored(OrderId::generate(), at);
                    state.orders.insert(created.id, created.clone());
                    created
                }
            };
            stored.push(order);
        }
        Ok(stored)
    }

    async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError> {
        self.lock()
            .orders
            .get(&order)
            .filter(|o| o.user_id == user)
            .cloned()
            .ok_or(RepoError::NotFound { entity: "order" })
    }

    async fn list_orders(
        &self,
        user: UserId,
        account: Option<AccountId>,
    ) -> Result<Vec<Order>, RepoError> {
        let orders = self
            .lock()
            .orders
            .values()
            .filter(|o| o.user_id == user && account.is_none_or(|a| a == o.account_id))
            .cloned()
            .collect();
        Ok(sorted_by(orders, |o| {
            (
                std::cmp::Reverse(o.placed_at),
                o.brokerage_order_id.as_str().to_owned(),
                o.account_id,
            )
        }))
    }

    async fn find_order_by_client_order_id(
        &self,
        user: UserId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, RepoError> {
        Ok(self
            .lock()
            .orders
            .values()
            .find(|o| o.user_id == user && o.client_order_id.as_ref() == Some(client_order_id))
            .cloned())
    }

    async fn confirm_order(
        &self,
        user: UserId,
        order: OrderId,
        placed: &NewOrder,
    ) -> Result<Order, RepoError> {
        check_orders(user, std::slice::from_ref(placed))?;
        let mut state = self.lock();
        let recorded = state
            .orders
            .get(&order)
            .filter(|o| o.user_id == user)
            .ok_or(RepoError::NotFound { entity: "order" })?;
        if recorded.account_id != placed.account_id {
            return Err(RepoError::invalid(
                "account_id",
                "the provider's order names another account than the recorded one",
            ));
        }
        // The provider's order stored already (a retry of a confirmed order) is the order: the recorded row
        // folds into it. Otherwise the recorded row takes the provider's id.
        state.check_client_order_id(placed, Some(order))?;
        let kept = match state.order_by_key(placed).filter(|id| *id != order) {
            Some(existing) => {
                state.orders.remove(&order);
                existing
            }
            None => order,
        };
        let at = state.clock.stamp();
        let current = state.orders.get_mut(&kept).expect("checked above");
        let updated = Order {
            updated_at: current.updated_at,
            client_order_id: kept_client_order_id(placed, current),
            ..placed.clone().into_stored(kept, at)
        };
        write_if_changed(current, updated, |o| o.updated_at = Some(at));
        Ok(current.clone())
    }

    async fn update_order_status(
        &self,
        user: UserId,
        order: OrderId,
        status: OrderStatus,
        message: Option<StatusMessage>,
    ) -> Result<Order, RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let current = state
            .orders
            .get_mut(&order)
            .filter(|o| o.user_id == user)
            .ok_or(RepoError::NotFound { entity: "order" })?;
        let updated = Order {
            status,
            status_message: message,
            ..current.clone()
        };
        write_if_changed(current, updated, |o| o.updated_at = Some(at));
        Ok(current.clone())
    }
}

#[async_trait]
impl PortfolioRepository for MemoryStore {
    async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError> {
        let state = self.lock();
        let active: Vec<&InvestmentAccount> = state
            .accounts
            .values()
            .filter(|a| a.user_id == user && a.is_active)
            .collect();
        let has = |provider| active.iter().any(|a| a.provider == provider);
        let alpaca_account_id = state.alpaca_accounts.get(&user).cloned();
        let (has_alpaca, has_plaid, has_snaptrade) = (
            alpaca_account_id.is_some(),
            has(Provider::Plaid),
            has(Provider::SnapTrade),
        );
        Ok(PortfolioSummary {
            mode: PortfolioMode::from_providers(has_alpaca, has_plaid, has_snaptrade),
            has_alpaca,
            has_plaid,
            has_snaptrade,
            alpaca_account_id,
            accounts_count: u32::try_from(active.len()).unwrap_or(u32::MAX),
        })
    }

    async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError> {
        let state = self.lock();
        let unified = state
            .accounts
            .values()
            .filter(|a| a.user_id == user)
            .map(|a| {
                let connection = a
                    .snaptrade_authorization_id
                    .and_then(|id| state.connections.get(&(user, id)));
                unified(a, connection)
            })
            .collect();
        Ok(sorted_by(unified, |a| {
            listing_order(a.provider, &a.provider_account_id)
        }))
    }

    async fn set_alpaca_account(
        &self,
        user: UserId,
        alpaca_account_id: Option<ProviderAccountId>,
    ) -> Result<(), RepoError> {
        let mut state = self.lock();
        match alpaca_account_id {
            Some(id) => {
                state.ensure_user(user)?;
                state.alpaca_accounts.insert(user, id);
            }
            None => {
                state.alpaca_accounts.remove(&user);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookRepository for MemoryStore {
    async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError> {
        check_webhook_delivery(delivery)?;
        let mut state = self.lock();
        if state.webhooks.contains_key(&delivery.key) {
            return Ok(false);
        }
        let user_id = delivery.user.filter(|user| state.users.contains(user));
        let at = state.clock.stamp();
        state.webhooks.insert(
            delivery.key.clone(),
            WebhookDelivery {
                key: delivery.key.clone(),
                event_type: delivery.event_type.clone(),
                user_id,
                payload: delivery.payload.clone(),
                hint_only: delivery.hint_only,
                status: WebhookStatus::Received,
                attempts: 0,
                last_error: None,
                received_at: at,
                updated_at: at,
                applied_at: None,
            },
        );
        Ok(true)
    }

    async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError> {
        Ok(self.lock().webhooks.get(key).cloned())
    }

    async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let delivery = state
            .webhooks
            .get_mut(key)
            .ok_or(RepoError::NotFound { entity: "webhook" })?;
        delivery.status = WebhookStatus::Applied;
        delivery.attempts += 1;
        delivery.last_error = None;
        delivery.applied_at = Some(at);
        delivery.updated_at = at;
        Ok(())
    }

    async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let delivery = state
            .webhooks
            .get_mut(key)
            .ok_or(RepoError::NotFound { entity: "webhook" })?;
        delivery.attempts += 1;
        delivery.updated_at = at;
        if delivery.status != WebhookStatus::Applied {
            delivery.status = WebhookStatus::Failed;
            delivery.last_error = Some(webhook_error_text(error));
        }
        Ok(())
    }

    async fn pending_webhooks(&self, limit: usize) -> Result<Vec<WebhookDelivery>, RepoError> {
        let state = self.lock();
        let mut pending: Vec<_> = state
            .webhooks
            .values()
            .filter(|delivery| delivery.status != WebhookStatus::Applied)
            .cloned()
            .collect();
        pending.sort_by(|a, b| {
            (a.received_at, &a.key.snaptrade_user_id, &a.key.webhook_id).cmp(&(
                b.received_at,
                &b.key.snaptrade_user_id,
                &b.key.webhook_id,
            ))
        });
        pending.truncate(limit);
        Ok(pending)
    }

    async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError> {
        let mut state = self.lock();
        let before = state.webhooks.len();
        state.webhooks.retain(|_, delivery| {
            delivery.status != WebhookStatus::Applied
                || delivery.applied_at.is_none_or(|at| at >= applied_before)
        });
        Ok(before - state.webhooks.len())
    }
}

/// The memory store keeps SnapTrade secrets as the domain's `SecretString`s, never sealed (it has no keyring and
/// nothing in it outlives the process), so there is never anything to re-seal: the same checks, and 0.
#[async_trait]
impl SecretRepository for MemoryStore {
    async fn reseal_secrets(&self, batch_size: usize) -> Result<ResealReport, RepoError> {
        if batch_size == 0 {
            return Err(RepoError::invalid("batch_size", "must be at least 1"));
        }
        Ok(ResealReport::default())
    }
}

#[async_trait]
impl LockRepository for MemoryStore {
    async fn lock_user(&self, user: UserId) -> Result<UserLock, RepoError> {
        let guard = self.locks.lock(user).await;
        let unit = MemoryUnit {
            _guard: guard,
            store: self.clone(),
            user,
            saved: Mutex::new(None),
        };
        Ok(UserLock::new(unit))
    }

    /// Calls already act on the shared rows, which the lock's unit snapshots and restores; binding only checks
    /// that the lock is this store's (a clone's included).
    fn within(&self, lock: &UserLock) -> Result<Self, RepoError> {
        match lock.downcast_ref::<MemoryUnit>() {
            Some(unit) if Arc::ptr_eq(&unit.store.state, &self.state) => Ok(self.clone()),
            _ => Err(RepoError::ForeignLock { store: "memory" }),
        }
    }
}

/// A user's lock in memory, and the user's rows as they were when a unit of writes began: put back unless the
/// unit commits.
struct MemoryUnit {
    _guard: InProcessGuard,
    store: MemoryStore,
    user: UserId,
    saved: Mutex<Option<UserRows>>,
}

/// Everything one user has in the store.
struct UserRows {
    accounts: Vec<InvestmentAccount>,
    snaptrade_user: Option<SnapTradeUser>,
    connections: Vec<BrokerageConnection>,
    holdings: Vec<Holding>,
    orders: Vec<Order>,
    alpaca_account: Option<ProviderAccountId>,
}

#[async_trait]
impl HeldLock for MemoryUnit {
    fn user(&self) -> UserId {
        self.user
    }

    async fn begin_writes(&self) -> Result<(), RepoError> {
        self.begin()
    }

    async fn commit_writes(&self) -> Result<(), RepoError> {
        self.commit()
    }

    /// The in-process lock goes with the unit when it is dropped, right after; an unfinished unit is undone
    /// then.
    async fn release(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

impl MemoryUnit {
    fn begin(&self) -> Result<(), RepoError> {
        let mut saved = self.saved.lock().unwrap_or_else(PoisonError::into_inner);
        if saved.is_some() {
            return Err(RepoError::Internal {
                reason: "a unit of writes is already open on this lock".to_owned(),
            });
        }
        *saved = Some(self.store.lock().rows_of(self.user));
        Ok(())
    }

    fn commit(&self) -> Result<(), RepoError> {
        let mut saved = self.saved.lock().unwrap_or_else(PoisonError::into_inner);
        saved.take().map(drop).ok_or_else(|| RepoError::Internal {
            reason: "no unit of writes is open on this lock".to_owned(),
        })
    }
}

impl Drop for MemoryUnit {
    /// An unfinished unit is undone: the user's rows go back to what they were when it began.
    fn drop(&mut self) {
        let saved = self
            .saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rows) = saved {
            self.store.lock().restore(self.user, rows);
        }
    }
}

impl State {
    fn rows_of(&self, user: UserId) -> UserRows {
        let mine = |owner: UserId| owner == user;
        UserRows {
            accounts: self
                .accounts
                .values()
                .filter(|a| mine(a.user_id))
                .cloned()
                .collect(),
            snaptrade_user: self.snaptrade_users.get(&user).cloned(),
            connections: self
                .connections
                .values()
                .filter(|c| mine(c.user_id))
                .cloned()
                .collect(),
            holdings: self
                .holdings
                .values()
                .filter(|h| mine(h.user_id))
                .cloned()
                .collect(),
            orders: self
                .orders
                .values()
                .filter(|o| mine(o.user_id))
                .cloned()
                .collect(),
            alpaca_account: self.alpaca_accounts.get(&user).cloned(),
        }
    }

    fn restore(&mut self, user: UserId, rows: UserRows) {
        self.accounts.retain(|_, a| a.user_id != user);
        self.connections.retain(|_, c| c.user_id != user);
        self.holdings.retain(|_, h| h.user_id != user);
        self.orders.retain(|_, o| o.user_id != user);
        self.snaptrade_users.remove(&user);
        self.alpaca_accounts.remove(&user);
        self.accounts
            .extend(rows.accounts.into_iter().map(|a| (a.id, a)));
        self.connections.extend(
            rows.connections
                .into_iter()
                .map(|c| ((c.user_id, c.authorization_id), c)),
        );
        self.holdings.extend(
            rows.holdings
                .into_iter()
                .map(|h| ((h.user_id, h.symbol.clone(), h.currency.clone()), h)),
        );
        self.orders
            .extend(rows.orders.into_iter().map(|o| (o.id, o)));
        if let Some(snaptrade_user) = rows.snaptrade_user {
            self.snaptrade_users.insert(user, snaptrade_user);
        }
        if let Some(alpaca_account) = rows.alpaca_account {
            self.alpaca_accounts.insert(user, alpaca_account);
        }
    }
}

/// A row of the view: the account left-joined to its connection (same authorization and same user).
fn unified(
    account: &InvestmentAccount,
    connection: Option<&BrokerageConnection>,
) -> UnifiedAccount {
    let a = account.clone();
    UnifiedAccount {
        id: a.id,
        user_id: a.user_id,
        provider: a.provider,
        provider_account_id: a.provider_account_id,
        institution_name: a.institution_name,
        account_name: a.account_name,
        account_type: a.account_type,
        account_subtype: a.account_subtype,
        is_active: a.is_active,
        account_mode: a.account_mode,
        snaptrade_authorization_id: a.snaptrade_authorization_id,
        brokerage_name: a.brokerage_name,
        connection_type: a.connection_type,
        connection_status: a.connection_status,
        brokerage_connection_status: connection.map(|c| c.status),
        brokerage_last_synced: connection.and_then(|c| c.last_synced_at),
        created_at: a.created_at,
        updated_at: a.updated_at,
        last_synced: a.last_synced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_never_stamps_two_writes_alike_and_keeps_postgres_precision() {
        let mut clock = Clock::default();
        let stamps: Vec<_> = (0..1000).map(|_| clock.stamp()).collect();
        assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            stamps
                .iter()
                .all(|s| s.timestamp_subsec_nanos() % 1000 == 0)
        );
    }
}
