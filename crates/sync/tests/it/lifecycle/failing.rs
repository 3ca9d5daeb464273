//! A store that fails on request: a decorator over either store whose N-th call from the moment it is armed
//! fails as a lost database would, so a test can cut a call short at each of its steps in turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tributary_domain::{
    AccountId, AuthorizationId, BrokerageConnection, ClientOrderId, Currency, Holding,
    InvestmentAccount, InvestmentTransaction, NewBrokerageConnection, NewHolding,
    NewInvestmentAccount, NewInvestmentTransaction, NewOrder, NewSnapTradeUser, NewValuePoint,
    Order, OrderId, OrderStatus, Provider, ProviderAccountId, ProviderItemId,
    ProviderTransactionId, SnapTradeUser, StatusMessage, Symbol, SyncStatus, UserId, ValuePoint,
};
use tributary_repo::{
    AccountRepository, AccountSyncState, ConnectionRepository, ConnectionStatusChange,
    HoldingRepository, HoldingsReplaced, LockRepository, NewPlaidItem, NewWebhookDelivery,
    OrderRepository, PlaidItem, PlaidItemRepository, PlaidItemStatusChange, PortfolioRepository,
    PortfolioSummary, RemovalRepository, RepoError, ResealReport, SecretRepository,
    SnapTradeUserRepository, TransactionQuery, TransactionRepository, TransactionsWritten,
    UnifiedAccount, UserLock, UserRowsDeleted, ValueHistoryRepository, WebhookDelivery, WebhookKey,
    WebhookRepository,
};

/// Wraps a store; once armed with [`Self::fail_at`], its `n`-th call fails with [`RepoError::Unavailable`].
/// Clones (and the store bound to a lock) share the trap.
#[derive(Clone)]
pub struct FailingStore<S> {
    inner: S,
    trap: Arc<Trap>,
}

#[derive(Default)]
struct Trap {
    /// Calls counted since the trap was armed.
    calls: AtomicUsize,
    /// The call that fails (1-based); 0 when disarmed.
    fail_at: AtomicUsize,
    /// Whether the armed call came.
    tripped: AtomicUsize,
}

impl<S> FailingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            trap: Arc::default(),
        }
    }

    /// From now on, the `n`-th call (1-based) fails.
    pub fn fail_at(&self, n: usize) {
        self.trap.calls.store(0, Ordering::SeqCst);
        self.trap.tripped.store(0, Ordering::SeqCst);
        self.trap.fail_at.store(n, Ordering::SeqCst);
    }

    /// Disarms the trap; returns whether it went off.
    pub fn disarm(&self) -> bool {
        self.trap.fail_at.store(0, Ordering::SeqCst);
        self.trap.tripped.load(Ordering::SeqCst) > 0
    }

    fn step(&self, method: &'static str) -> Result<(), RepoError> {
        let armed = self.trap.fail_at.load(Ordering::SeqCst);
        if armed == 0 {
            return Ok(());
        }
        let call = self.trap.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call == armed {
            self.trap.tripped.store(1, Ordering::SeqCst);
            return Err(RepoError::Unavailable {
                reason: format!("the test cut the call short at its step {call} ({method})"),
            });
        }
        Ok(())
    }
}

/// The lock is the wrapped store's: taking it and binding to it are passed on, so the wrapped store recognises
/// its own lock.
#[async_trait]
impl<S: LockRepository> LockRepository for FailingStore<S> {
    async fn lock_user(&self, user: UserId) -> Result<UserLock, RepoError> {
        self.step("lock_user")?;
        self.inner.lock_user(user).await
    }

    fn within(&self, lock: &UserLock) -> Result<Self, RepoError> {
        self.step("within")?;
        Ok(Self {
            inner: self.inner.within(lock)?,
            trap: Arc::clone(&self.trap),
        })
    }
}

#[async_trait]
impl<S: AccountRepository> AccountRepository for FailingStore<S> {
    async fn upsert_accounts(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        self.step("upsert_accounts")?;
        self.inner.upsert_accounts(user, accounts).await
    }

    async fn get_account(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<InvestmentAccount, RepoError> {
        self.step("get_account")?;
        self.inner.get_account(user, account).await
    }

    async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError> {
        self.step("list_accounts")?;
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
        self.step("record_account_sync")?;
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
        self.step("record_account_syncs")?;
        self.inner.record_account_syncs(user, states, at).await
    }
}

#[async_trait]
impl<S: SnapTradeUserRepository> SnapTradeUserRepository for FailingStore<S> {
    async fn upsert_snaptrade_user(
        &self,
        user: UserId,
        snaptrade_user: &NewSnapTradeUser,
    ) -> Result<SnapTradeUser, RepoError> {
        self.step("upsert_snaptrade_user")?;
        self.inner.upsert_snaptrade_user(user, snaptrade_user).await
    }

    async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError> {
        self.step("find_snaptrade_user")?;
        self.inner.find_snaptrade_user(user).await
    }

    async fn record_snaptrade_sync(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.step("record_snaptrade_sync")?;
        self.inner.record_snaptrade_sync(user, at).await
    }

    async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError> {
        self.step("delete_snaptrade_user")?;
        self.inner.delete_snaptrade_user(user).await
    }
}

#[async_trait]
impl<S: ConnectionRepository> ConnectionRepository for FailingStore<S> {
    async fn upsert_connections(
        &self,
        user: UserId,
        connections: &[NewBrokerageConnection],
    ) -> Result<Vec<BrokerageConnection>, RepoError> {
        self.step("upsert_connections")?;
        self.inner.upsert_connections(user, connections).await
    }

    async fn get_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.step("get_connection")?;
        self.inner.get_connection(user, authorization).await
    }

    async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError> {
        self.step("list_connections")?;
        self.inner.list_connections(user).await
    }

    async fn set_connection_status(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<BrokerageConnection, RepoError> {
        self.step("set_connection_status")?;
        self.inner
            .set_connection_status(user, authorization, change)
            .await
    }

    async fn delete_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.step("delete_connection")?;
        self.inner.delete_connection(user, authorization).await
    }
}

#[async_trait]
impl<S: HoldingRepository> HoldingRepository for FailingStore<S> {
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError> {
        self.step("upsert_holdings")?;
        self.inner.upsert_holdings(user, holdings).await
    }

    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError> {
        self.step("replace_holdings")?;
        self.inner.replace_holdings(user, holdings).await
    }

    async fn get_holding(
        &self,
        user: UserId,
        symbol: &Symbol,
        currency: Option<Currency>,
    ) -> Result<Holding, RepoError> {
        self.step("get_holding")?;
        self.inner.get_holding(user, symbol, currency).await
    }

    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError> {
        self.step("list_holdings")?;
        self.inner.list_holdings(user).await
    }
}

#[async_trait]
impl<S: OrderRepository> OrderRepository for FailingStore<S> {
    async fn upsert_orders(
        &self,
        user: UserId,
        orders: &[NewOrder],
    ) -> Result<Vec<Order>, RepoError> {
        self.step("upsert_orders")?;
        self.inner.upsert_orders(user, orders).await
    }

    async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError> {
        self.step("get_order")?;
        self.inner.get_order(user, order).await
    }

    async fn list_orders(
        &self,
        user: UserId,
        account: Option<AccountId>,
    ) -> Result<Vec<Order>, RepoError> {
        self.step("list_orders")?;
        self.inner.list_orders(user, account).await
    }

    async fn find_order_by_client_order_id(
        &self,
        user: UserId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, RepoError> {
        self.step("find_order_by_client_order_id")?;
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
        self.step("confirm_order")?;
        self.inner.confirm_order(user, order, placed).await
    }

    async fn update_order_status(
        &self,
        user: UserId,
        order: OrderId,
        status: OrderStatus,
        message: Option<StatusMessage>,
    ) -> Result<Order, RepoError> {
        self.step("update_order_status")?;
        self.inner
            .update_order_status(user, order, status, message)
            .await
    }
}

#[async_trait]
impl<S: PortfolioRepository> PortfolioRepository for FailingStore<S> {
    async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError> {
        self.step("portfolio_mode")?;
        self.inner.portfolio_mode(user).await
    }

    async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError> {
        self.step("unified_accounts")?;
        self.inner.unified_accounts(user).await
    }

    async fn set_alpaca_account(
        &self,
        user: UserId,
        alpaca_account_id: Option<ProviderAccountId>,
    ) -> Result<(), RepoError> {
        self.step("set_alpaca_account")?;
        self.inner.set_alpaca_account(user, alpaca_account_id).await
    }
}

#[async_trait]
impl<S: WebhookRepository> WebhookRepository for FailingStore<S> {
    async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError> {
        self.step("record_webhook")?;
        self.inner.record_webhook(delivery).await
    }

    async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError> {
        self.step("find_webhook")?;
        self.inner.find_webhook(key).await
    }

    async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError> {
        self.step("mark_webhook_applied")?;
        self.inner.mark_webhook_applied(key).await
    }

    async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError> {
        self.step("mark_webhook_failed")?;
        self.inner.mark_webhook_failed(key, error).await
    }

    async fn pending_webhooks(
        &self,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, RepoError> {
        self.step("pending_webhooks")?;
        self.inner.pending_webhooks(provider, limit).await
    }

    async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError> {
        self.step("purge_webhooks")?;
        self.inner.purge_webhooks(applied_before).await
    }
}

#[async_trait]
impl<S: PlaidItemRepository> PlaidItemRepository for FailingStore<S> {
    async fn upsert_plaid_item(
        &self,
        user: UserId,
        item: &NewPlaidItem,
    ) -> Result<PlaidItem, RepoError> {
        self.step("upsert_plaid_item")?;
        self.inner.upsert_plaid_item(user, item).await
    }

    async fn get_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItem, RepoError> {
        self.step("get_plaid_item")?;
        self.inner.get_plaid_item(user, item).await
    }

    async fn list_plaid_items(&self, user: UserId) -> Result<Vec<PlaidItem>, RepoError> {
        self.step("list_plaid_items")?;
        self.inner.list_plaid_items(user).await
    }

    async fn plaid_item_owners(&self, item: &ProviderItemId) -> Result<Vec<UserId>, RepoError> {
        self.step("plaid_item_owners")?;
        self.inner.plaid_item_owners(item).await
    }

    async fn set_plaid_item_status(
        &self,
        user: UserId,
        item: &ProviderItemId,
        change: PlaidItemStatusChange,
    ) -> Result<PlaidItem, RepoError> {
        self.step("set_plaid_item_status")?;
        self.inner.set_plaid_item_status(user, item, change).await
    }
}

#[async_trait]
impl<S: SecretRepository> SecretRepository for FailingStore<S> {
    async fn reseal_secrets(&self, batch_size: usize) -> Result<ResealReport, RepoError> {
        self.step("reseal_secrets")?;
        self.inner.reseal_secrets(batch_size).await
    }
}

#[async_trait]
impl<S: RemovalRepository> RemovalRepository for FailingStore<S> {
    async fn delete_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<(), RepoError> {
        self.step("delete_plaid_item")?;
        self.inner.delete_plaid_item(user, item).await
    }

    async fn delete_user_rows(&self, user: UserId) -> Result<UserRowsDeleted, RepoError> {
        self.step("delete_user_rows")?;
        self.inner.delete_user_rows(user).await
    }
}

#[async_trait]
impl<S: TransactionRepository> TransactionRepository for FailingStore<S> {
    async fn upsert_transactions(
        &self,
        user: UserId,
        account: AccountId,
        transactions: &[NewInvestmentTransaction],
    ) -> Result<TransactionsWritten, RepoError> {
        self.step("upsert_transactions")?;
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
        self.step("remove_transactions")?;
        self.inner
            .remove_transactions(user, account, provider_transaction_ids)
            .await
    }

    async fn list_transactions(
        &self,
        user: UserId,
        query: &TransactionQuery,
    ) -> Result<Vec<InvestmentTransaction>, RepoError> {
        self.step("list_transactions")?;
        self.inner.list_transactions(user, query).await
    }

    async fn transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<Option<NaiveDate>, RepoError> {
        self.step("transactions_synced_through")?;
        self.inner.transactions_synced_through(user, account).await
    }

    async fn advance_transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
        through: NaiveDate,
    ) -> Result<bool, RepoError> {
        self.step("advance_transactions_synced_through")?;
        self.inner
            .advance_transactions_synced_through(user, account, through)
            .await
    }
}

#[async_trait]
impl<S: ValueHistoryRepository> ValueHistoryRepository for FailingStore<S> {
    async fn upsert_value_points(
        &self,
        user: UserId,
        points: &[NewValuePoint],
    ) -> Result<usize, RepoError> {
        self.step("upsert_value_points")?;
        self.inner.upsert_value_points(user, points).await
    }

    async fn value_history(
        &self,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ValuePoint>, RepoError> {
        self.step("value_history")?;
        self.inner.value_history(user, from, to).await
    }
}
