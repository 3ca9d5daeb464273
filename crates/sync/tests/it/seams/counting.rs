//! A decorator store written outside `tributary-repo`: every repository trait implemented by counting the call
//! and passing it on, its lock included. The engine runs the shared scenarios through it on the sandbox
//! providers, which shows everything the engine needs is implementable by a store of a service's own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tributary_domain::{
    AccountId, AuthorizationId, BrokerageConnection, ClientOrderId, Currency, Holding,
    InvestmentAccount, NewBrokerageConnection, NewHolding, NewInvestmentAccount, NewOrder,
    NewSnapTradeUser, Order, OrderId, OrderStatus, Provider, ProviderAccountId, ProviderItemId,
    SnapTradeUser, StatusMessage, Symbol, SyncStatus, UserId,
};
use tributary_domain::{
    InvestmentTransaction, NewInvestmentTransaction, NewValuePoint, ProviderTransactionId,
    ValuePoint,
};
use tributary_repo::{
    AccountRepository, AccountSyncState, ConnectionRepository, ConnectionStatusChange,
    HoldingRepository, HoldingsReplaced, LockRepository, MemoryStore, NewPlaidItem,
    NewWebhookDelivery, OrderRepository, PlaidItem, PlaidItemRepository, PlaidItemStatusChange,
    PortfolioRepository, PortfolioSummary, RemovalRepository, RepoError, ResealReport,
    SecretRepository, SnapTradeUserRepository, UnifiedAccount, UserLock, UserRowsDeleted,
    WebhookDelivery, WebhookKey, WebhookRepository,
};
use tributary_repo::{
    TransactionQuery, TransactionRepository, TransactionsWritten, ValueHistoryRepository,
};

use crate::support::{self, World};

/// Wraps a store and counts its calls by method; clones (and the store bound to a lock) share the counts and the
/// traps. Two traps make it fail as a database that went away would: an Item status change
/// ([`Self::set_item_status_unavailable`]), or the `n`-th call from now, whatever it is ([`Self::fail_at`]).
#[derive(Clone)]
pub struct CountingStore<S> {
    inner: S,
    calls: Arc<Mutex<BTreeMap<&'static str, usize>>>,
    item_status_unavailable: Arc<AtomicBool>,
    trap: Arc<Trap>,
}

/// The `n`-th call trap.
#[derive(Debug, Default)]
struct Trap {
    /// Calls counted since the trap was armed.
    calls: AtomicUsize,
    /// The call that fails (1-based); 0 when disarmed.
    fail_at: AtomicUsize,
    /// Whether the armed call came.
    tripped: AtomicBool,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            item_status_unavailable: Arc::default(),
            trap: Arc::default(),
        }
    }

    /// From now on, the `n`-th call (1-based) fails with [`RepoError::Unavailable`].
    pub fn fail_at(&self, n: usize) {
        self.trap.calls.store(0, Ordering::SeqCst);
        self.trap.tripped.store(false, Ordering::SeqCst);
        self.trap.fail_at.store(n, Ordering::SeqCst);
    }

    /// Disarms the `n`-th call trap; returns whether it went off.
    pub fn disarm(&self) -> bool {
        self.trap.fail_at.store(0, Ordering::SeqCst);
        self.trap.tripped.load(Ordering::SeqCst)
    }

    /// From now on, `set_plaid_item_status` fails as unavailable (`true`) or is passed on (`false`).
    pub fn set_item_status_unavailable(&self, unavailable: bool) {
        self.item_status_unavailable
            .store(unavailable, Ordering::SeqCst);
    }

    /// How many times `method` was called.
    pub fn calls(&self, method: &str) -> usize {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.get(method).copied().unwrap_or(0)
    }

    /// Counts a call of `method`, and fails it when it is the armed `n`-th.
    fn count(&self, method: &'static str) -> Result<(), RepoError> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        *calls.entry(method).or_default() += 1;
        let armed = self.trap.fail_at.load(Ordering::SeqCst);
        if armed == 0 {
            return Ok(());
        }
        let call = self.trap.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call != armed {
            return Ok(());
        }
        self.trap.tripped.store(true, Ordering::SeqCst);
        Err(RepoError::Unavailable {
            reason: format!("the test cut the call short at its step {call} ({method})"),
        })
    }
}

/// The lock is the wrapped store's: taking it and binding to it are passed on, so the wrapped store recognises
/// its own lock.
#[async_trait]
impl<S: LockRepository> LockRepository for CountingStore<S> {
    async fn lock_user(&self, user: UserId) -> Result<UserLock, RepoError> {
        self.count("lock_user")?;
        self.inner.lock_user(user).await
    }

    fn within(&self, lock: &UserLock) -> Result<Self, RepoError> {
        self.count("within")?;
        Ok(Self {
            inner: self.inner.within(lock)?,
            calls: Arc::clone(&self.calls),
            item_status_unavailable: Arc::clone(&self.item_status_unavailable),
            trap: Arc::clone(&self.trap),
        })
    }
}

#[async_trait]
impl<S: AccountRepository> AccountRepository for CountingStore<S> {
    async fn upsert_accounts(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        self.count("upsert_accounts")?;
        self.inner.upsert_accounts(user, accounts).await
    }

    async fn get_account(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<InvestmentAccount, RepoError> {
        self.count("get_account")?;
        self.inner.get_account(user, account).await
    }

    async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError> {
        self.count("list_accounts")?;
        self.inner.list_accounts(user).await
    }

    async fn record_account_sync(
        &self,
        user: UserId,
        account: AccountId,
        status: SyncStatus,
        error_message: Option<StatusMessage>,
        at: DateTime<Utc>,
    ) -> Result<InvestmentAccount, RepoError> {
        self.count("record_account_sync")?;
        self.inner
            .record_account_sync(user, account, status, error_message, at)
            .await
    }

    async fn record_account_syncs(
        &self,
        user: UserId,
        states: &[AccountSyncState],
        at: DateTime<Utc>,
    ) -> Result<usize, RepoError> {
        self.count("record_account_syncs")?;
        self.inner.record_account_syncs(user, states, at).await
    }
}

#[async_trait]
impl<S: SnapTradeUserRepository> SnapTradeUserRepository for CountingStore<S> {
    async fn upsert_snaptrade_user(
        &self,
        user: UserId,
        snaptrade_user: &NewSnapTradeUser,
    ) -> Result<SnapTradeUser, RepoError> {
        self.count("upsert_snaptrade_user")?;
        self.inner.upsert_snaptrade_user(user, snaptrade_user).await
    }

    async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError> {
        self.count("find_snaptrade_user")?;
        self.inner.find_snaptrade_user(user).await
    }

    async fn record_snaptrade_sync(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.count("record_snaptrade_sync")?;
        self.inner.record_snaptrade_sync(user, at).await
    }

    async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError> {
        self.count("delete_snaptrade_user")?;
        self.inner.delete_snaptrade_user(user).await
    }
}

#[async_trait]
impl<S: ConnectionRepository> ConnectionRepository for CountingStore<S> {
    async fn upsert_connections(
        &self,
        user: UserId,
        connections: &[NewBrokerageConnection],
    ) -> Result<Vec<BrokerageConnection>, RepoError> {
        self.count("upsert_connections")?;
        self.inner.upsert_connections(user, connections).await
    }

    async fn get_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.count("get_connection")?;
        self.inner.get_connection(user, authorization).await
    }

    async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError> {
        self.count("list_connections")?;
        self.inner.list_connections(user).await
    }

    async fn set_connection_status(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<BrokerageConnection, RepoError> {
        self.count("set_connection_status")?;
        self.inner
            .set_connection_status(user, authorization, change)
            .await
    }

    async fn delete_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.count("delete_connection")?;
        self.inner.delete_connection(user, authorization).await
    }
}

#[async_trait]
impl<S: HoldingRepository> HoldingRepository for CountingStore<S> {
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError> {
        self.count("upsert_holdings")?;
        self.inner.upsert_holdings(user, holdings).await
    }

    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError> {
        self.count("replace_holdings")?;
        self.inner.replace_holdings(user, holdings).await
    }

    async fn get_holding(
        &self,
        user: UserId,
        symbol: &Symbol,
        currency: Option<Currency>,
    ) -> Result<Holding, RepoError> {
        self.count("get_holding")?;
        self.inner.get_holding(user, symbol, currency).await
    }

    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError> {
        self.count("list_holdings")?;
        self.inner.list_holdings(user).await
    }
}

#[async_trait]
impl<S: OrderRepository> OrderRepository for CountingStore<S> {
    async fn upsert_orders(
        &self,
        user: UserId,
        orders: &[NewOrder],
    ) -> Result<Vec<Order>, RepoError> {
        self.count("upsert_orders")?;
        self.inner.upsert_orders(user, orders).await
    }

    async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError> {
        self.count("get_order")?;
        self.inner.get_order(user, order).await
    }

    async fn list_orders(
        &self,
        user: UserId,
        account: Option<AccountId>,
    ) -> Result<Vec<Order>, RepoError> {
        self.count("list_orders")?;
        self.inner.list_orders(user, account).await
    }

    async fn find_order_by_client_order_id(
        &self,
        user: UserId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, RepoError> {
        self.count("find_order_by_client_order_id")?;
        self.inner
            .find_order_by_client_order_id(user, client_order_id)
            .await
    }

    async fn confirm_order(
        &self,
        user: UserId,
        order: OrderId,
        placed: &NewOrder,
    ) -> Result<Order, RepoError> {
        self.count("confirm_order")?;
        self.inner.confirm_order(user, order, placed).await
    }

    async fn update_order_status(
        &self,
        user: UserId,
        order: OrderId,
        status: OrderStatus,
        message: Option<StatusMessage>,
    ) -> Result<Order, RepoError> {
        self.count("update_order_status")?;
        self.inner
            .update_order_status(user, order, status, message)
            .await
    }
}

#[async_trait]
impl<S: PortfolioRepository> PortfolioRepository for CountingStore<S> {
    async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError> {
        self.count("portfolio_mode")?;
        self.inner.portfolio_mode(user).await
    }

    async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError> {
        self.count("unified_accounts")?;
        self.inner.unified_accounts(user).await
    }

    async fn set_alpaca_account(
        &self,
        user: UserId,
        alpaca_account_id: Option<ProviderAccountId>,
    ) -> Result<(), RepoError> {
        self.count("set_alpaca_account")?;
        self.inner.set_alpaca_account(user, alpaca_account_id).await
    }
}

#[async_trait]
impl<S: WebhookRepository> WebhookRepository for CountingStore<S> {
    async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError> {
        self.count("record_webhook")?;
        self.inner.record_webhook(delivery).await
    }

    async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError> {
        self.count("find_webhook")?;
        self.inner.find_webhook(key).await
    }

    async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError> {
        self.count("mark_webhook_applied")?;
        self.inner.mark_webhook_applied(key).await
    }

    async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError> {
        self.count("mark_webhook_failed")?;
        self.inner.mark_webhook_failed(key, error).await
    }

    async fn pending_webhooks(
        &self,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, RepoError> {
        self.count("pending_webhooks")?;
        self.inner.pending_webhooks(provider, limit).await
    }

    async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError> {
        self.count("purge_webhooks")?;
        self.inner.purge_webhooks(applied_before).await
    }
}

#[async_trait]
impl<S: PlaidItemRepository> PlaidItemRepository for CountingStore<S> {
    async fn upsert_plaid_item(
        &self,
        user: UserId,
        item: &NewPlaidItem,
    ) -> Result<PlaidItem, RepoError> {
        self.count("upsert_plaid_item")?;
        self.inner.upsert_plaid_item(user, item).await
    }

    async fn get_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItem, RepoError> {
        self.count("get_plaid_item")?;
        self.inner.get_plaid_item(user, item).await
    }

    async fn list_plaid_items(&self, user: UserId) -> Result<Vec<PlaidItem>, RepoError> {
        self.count("list_plaid_items")?;
        self.inner.list_plaid_items(user).await
    }

    async fn set_plaid_item_status(
        &self,
        user: UserId,
        item: &ProviderItemId,
        change: PlaidItemStatusChange,
    ) -> Result<PlaidItem, RepoError> {
        self.count("set_plaid_item_status")?;
        if self.item_status_unavailable.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable {
                reason: "the test made the database go away".to_owned(),
            });
        }
        self.inner.set_plaid_item_status(user, item, change).await
    }

    async fn plaid_item_owners(&self, item: &ProviderItemId) -> Result<Vec<UserId>, RepoError> {
        self.count("plaid_item_owners")?;
        self.inner.plaid_item_owners(item).await
    }
}

#[async_trait]
impl<S: TransactionRepository> TransactionRepository for CountingStore<S> {
    async fn upsert_transactions(
        &self,
        user: UserId,
        account: AccountId,
        transactions: &[NewInvestmentTransaction],
    ) -> Result<TransactionsWritten, RepoError> {
        self.count("upsert_transactions")?;
        self.inner
            .upsert_transactions(user, account, transactions)
            .await
    }

    async fn remove_transactions(
        &self,
        user: UserId,
        account: AccountId,
        provider_transaction_ids: &[ProviderTransactionId],
    ) -> Result<usize, RepoError> {
        self.count("remove_transactions")?;
        self.inner
            .remove_transactions(user, account, provider_transaction_ids)
            .await
    }

    async fn list_transactions(
        &self,
        user: UserId,
        query: &TransactionQuery,
    ) -> Result<Vec<InvestmentTransaction>, RepoError> {
        self.count("list_transactions")?;
        self.inner.list_transactions(user, query).await
    }

    async fn transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<Option<NaiveDate>, RepoError> {
        self.count("transactions_synced_through")?;
        self.inner.transactions_synced_through(user, account).await
    }

    async fn net_contributions(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<std::collections::BTreeMap<Currency, rust_decimal::Decimal>, RepoError> {
        self.count("net_contributions")?;
        self.inner.net_contributions(user, account).await
    }

    async fn advance_transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
        through: NaiveDate,
    ) -> Result<bool, RepoError> {
        self.count("advance_transactions_synced_through")?;
        self.inner
            .advance_transactions_synced_through(user, account, through)
            .await
    }
}

#[async_trait]
impl<S: ValueHistoryRepository> ValueHistoryRepository for CountingStore<S> {
    async fn upsert_value_points(
        &self,
        user: UserId,
        points: &[NewValuePoint],
    ) -> Result<usize, RepoError> {
        self.count("upsert_value_points")?;
        self.inner.upsert_value_points(user, points).await
    }

    async fn value_history(
        &self,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ValuePoint>, RepoError> {
        self.count("value_history")?;
        self.inner.value_history(user, from, to).await
    }
}

#[async_trait]
impl<S: RemovalRepository> RemovalRepository for CountingStore<S> {
    async fn delete_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<(), RepoError> {
        self.count("delete_plaid_item")?;
        self.inner.delete_plaid_item(user, item).await
    }

    async fn delete_user_rows(&self, user: UserId) -> Result<UserRowsDeleted, RepoError> {
        self.count("delete_user_rows")?;
        self.inner.delete_user_rows(user).await
    }
}

#[async_trait]
impl<S: SecretRepository> SecretRepository for CountingStore<S> {
    async fn reseal_secrets(&self, batch_size: usize) -> Result<ResealReport, RepoError> {
        self.count("reseal_secrets")?;
        self.inner.reseal_secrets(batch_size).await
    }
}

/// A world whose engine writes through a `CountingStore` over a `MemoryStore`, and a handle on the counts.
async fn counted_world() -> (
    World<CountingStore<MemoryStore>>,
    CountingStore<MemoryStore>,
) {
    let memory = MemoryStore::new();
    let user = memory.create_user();
    let store = CountingStore::new(memory);
    (World::start(store.clone(), user).await, store)
}

macro_rules! decorated_cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            support::$case(counted_world().await.0).await;
        }
    )*};
}

decorated_cases!(
    a_sync_writes_exactly_what_the_sandbox_holds,
    a_second_sync_changes_nothing,
    a_limit_order_is_recorded_pending_then_accepted_then_cancelled,
    a_replayed_webhook_is_not_applied_twice,
    a_provider_outage_keeps_its_holdings_and_reports_the_failure,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_through_the_decorator_takes_the_users_lock_once_and_writes_through_the_bound_store()
{
    let (world, store) = counted_world().await;
    world.link_everything().await;
    let locks_before = store.calls("lock_user");
    let replacements_before = store.calls("replace_holdings");

    world.engine.sync_user(world.user).await.unwrap();

    assert_eq!(store.calls("lock_user") - locks_before, 1);
    assert!(store.calls("within") >= 1);
    assert_eq!(store.calls("replace_holdings") - replacements_before, 1);
    let holdings = world
        .engine
        .store()
        .list_holdings(world.user)
        .await
        .unwrap();
    assert!(
        !holdings.is_empty(),
        "the sync's holdings reached the wrapped store"
    );
}
