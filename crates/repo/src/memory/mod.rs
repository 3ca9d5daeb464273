//! [`MemoryStore`]: the repositories in memory, with PostgreSQL's semantics, for other services' tests.

mod accounts;
mod connections;
mod holdings;
mod orders;
mod plaid_items;
mod portfolio;
mod removal;
mod schedule;
mod secrets;
mod session;
mod snaptrade_users;
mod streams;
mod transactions;
mod value_history;
mod webhooks;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, NaiveDate, Utc};
use tributary_domain::{
    AccountId, AuthorizationId, BrokerageConnection, Currency, Holding, InvestmentAccount,
    InvestmentTransaction, NewHolding, NewInvestmentAccount, NewOrder, Order, OrderId, Provider,
    ProviderAccountId, ProviderItemId, SnapTradeUser, Symbol, UserId, ValuePoint,
};

use crate::lock::InProcessLocks;
use crate::{PlaidItem, RepoError, StreamEventId, StreamName, WebhookDelivery, WebhookKey};

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
    /// Plaid Items by user and Item id (`plaid_items_user_id_item_id_key`).
    plaid_items: HashMap<(UserId, ProviderItemId), PlaidItem>,
    /// The webhook inbox, by key (a delivery naming a user goes with the user).
    webhooks: HashMap<WebhookKey, WebhookDelivery>,
    /// The last event applied from each stream (the service's, no user's).
    stream_positions: HashMap<StreamName, StreamEventId>,
    /// Investment transactions by user, account and provider id.
    transactions: HashMap<transactions::TransactionKey, InvestmentTransaction>,
    /// How far each account's transactions were synced, by user and account.
    transactions_synced: HashMap<(UserId, AccountId), NaiveDate>,
    /// The value history by user, account (none: the total), day and currency.
    value_points: HashMap<value_history::ValuePointKey, ValuePoint>,
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
            .field("plaid_items", &state.plaid_items.len())
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

/// A holding's key, as `user_aggregated_holdings_user_id_symbol_currency_key`.
type HoldingKey = (UserId, Symbol, Option<Currency>);

fn holding_key(holding: &NewHolding) -> HoldingKey {
    (
        holding.user_id,
        holding.symbol.clone(),
        holding.currency.clone(),
    )
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
