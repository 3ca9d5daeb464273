//! [`MockStore`]: a `mockall` twin of a whole store, for tests that drive the sync engine (or anything generic
//! over [`crate::Store`]) on expectations. With [`crate::MockHeldLock`] for the locks it hands out.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tributary_domain::{
    AccountId, AuthorizationId, BrokerageConnection, ClientOrderId, Currency, Holding,
    InvestmentAccount, NewBrokerageConnection, NewHolding, NewInvestmentAccount, NewOrder,
    NewSnapTradeUser, Order, OrderId, OrderStatus, Provider, ProviderAccountId, ProviderItemId,
    SnapTradeUser, StatusMessage, Symbol, SyncStatus, UserId,
};

use crate::{
    AccountRepository, AccountSyncState, ConnectionRepository, ConnectionStatusChange,
    HoldingRepository, HoldingsReplaced, LockRepository, NewPlaidItem, NewWebhookDelivery,
    OrderRepository, PlaidItem, PlaidItemRepository, PlaidItemStatusChange, PortfolioRepository,
    PortfolioSummary, RepoError, ResealReport, SecretRepository, SnapTradeUserRepository,
    UnifiedAccount, UserLock, WebhookDelivery, WebhookKey, WebhookRepository,
};
use crate::{DueUser, SyncScheduleRepository};
use crate::{EventStreamRepository, RemovalRepository, StreamEventId, StreamName, UserRowsDeleted};
use crate::{TransactionQuery, TransactionRepository, TransactionsWritten, ValueHistoryRepository};
use tributary_domain::{
    InvestmentTransaction, NewInvestmentTransaction, NewValuePoint, ProviderTransactionId,
    ValuePoint,
};

mockall::mock! {
    /// Every repository trait at once — everything [`crate::Store`] asks for, [`SecretRepository`] and
    /// [`EventStreamRepository`] — as one
    /// `mockall` mock: what `SyncEngine<MockStore>` runs on in a test that states each store call it expects.
    ///
    /// [`LockRepository::lock_user`] returns a [`UserLock`] you build from a [`crate::MockHeldLock`];
    /// [`LockRepository::within`] returns the store the engine uses while it holds the user, usually a second
    /// `MockStore` carrying the expectations of the work done under the lock.
    ///
    /// ```
    /// use tributary_domain::UserId;
    /// use tributary_repo::{AccountRepository, LockRepository, MockHeldLock, MockStore, UserLock};
    ///
    /// # async fn run() -> Result<(), tributary_repo::RepoError> {
    /// let user = UserId::generate();
    /// let mut bound = MockStore::new();
    /// bound.expect_list_accounts().returning(|_| Ok(Vec::new()));
    /// let mut store = MockStore::new();
    /// store.expect_lock_user().returning(|user| {
    ///     let mut held = MockHeldLock::new();
    ///     held.expect_user().return_const(user);
    ///     held.expect_release().returning(|| Ok(()));
    ///     Ok(UserLock::new(held))
    /// });
    /// store.expect_within().return_once(move |_| Ok(bound));
    ///
    /// let lock = store.lock_user(user).await?;
    /// assert!(store.within(&lock)?.list_accounts(user).await?.is_empty());
    /// lock.release().await
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run()).unwrap();
    /// ```
    pub Store {}

    #[async_trait]
    impl AccountRepository for Store {
        async fn upsert_accounts(
            &self,
            user: UserId,
            accounts: &[NewInvestmentAccount],
        ) -> Result<Vec<InvestmentAccount>, RepoError>;
        async fn get_account(
            &self,
            user: UserId,
            account: AccountId,
        ) -> Result<InvestmentAccount, RepoError>;
        async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError>;
        async fn record_account_sync(
            &self,
            user: UserId,
            account: AccountId,
            status: SyncStatus,
            error_message: Option<StatusMessage>,
            at: DateTime<Utc>,
        ) -> Result<InvestmentAccount, RepoError>;
        async fn record_account_syncs(
            &self,
            user: UserId,
            states: &[AccountSyncState],
            at: DateTime<Utc>,
        ) -> Result<usize, RepoError>;
    }

    #[async_trait]
    impl SnapTradeUserRepository for Store {
        async fn upsert_snaptrade_user(
            &self,
            user: UserId,
            snaptrade_user: &NewSnapTradeUser,
        ) -> Result<SnapTradeUser, RepoError>;
        async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError>;
        async fn record_snaptrade_sync(&self, user: UserId, at: DateTime<Utc>)
        -> Result<(), RepoError>;
        async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError>;
    }

    #[async_trait]
    impl ConnectionRepository for Store {
        async fn upsert_connections(
            &self,
            user: UserId,
            connections: &[NewBrokerageConnection],
        ) -> Result<Vec<BrokerageConnection>, RepoError>;
        async fn get_connection(
            &self,
            user: UserId,
            authorization: AuthorizationId,
        ) -> Result<BrokerageConnection, RepoError>;
        async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError>;
        async fn set_connection_status(
            &self,
            user: UserId,
            authorization: AuthorizationId,
            change: ConnectionStatusChange,
        ) -> Result<BrokerageConnection, RepoError>;
        async fn delete_connection(
            &self,
            user: UserId,
            authorization: AuthorizationId,
        ) -> Result<BrokerageConnection, RepoError>;
    }

    #[async_trait]
    impl HoldingRepository for Store {
        async fn upsert_holdings(
            &self,
            user: UserId,
            holdings: &[NewHolding],
        ) -> Result<usize, RepoError>;
        async fn replace_holdings(
            &self,
            user: UserId,
            holdings: &[NewHolding],
        ) -> Result<HoldingsReplaced, RepoError>;
        async fn get_holding(
            &self,
            user: UserId,
            symbol: &Symbol,
            currency: Option<Currency>,
        ) -> Result<Holding, RepoError>;
        async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError>;
    }

    #[async_trait]
    impl OrderRepository for Store {
        async fn upsert_orders(
            &self,
            user: UserId,
            orders: &[NewOrder],
        ) -> Result<Vec<Order>, RepoError>;
        async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError>;
        async fn list_orders(
            &self,
            user: UserId,
            account: Option<AccountId>,
        ) -> Result<Vec<Order>, RepoError>;
        async fn find_order_by_client_order_id(
            &self,
            user: UserId,
            client_order_id: &ClientOrderId,
        ) -> Result<Option<Order>, RepoError>;
        async fn confirm_order(
            &self,
            user: UserId,
            order: OrderId,
            placed: &NewOrder,
        ) -> Result<Order, RepoError>;
        async fn update_order_status(
            &self,
            user: UserId,
            order: OrderId,
            status: OrderStatus,
            message: Option<StatusMessage>,
        ) -> Result<Order, RepoError>;
    }

    #[async_trait]
    impl PortfolioRepository for Store {
        async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError>;
        async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError>;
        async fn set_alpaca_account(
            &self,
            user: UserId,
            alpaca_account_id: Option<ProviderAccountId>,
        ) -> Result<(), RepoError>;
    }

    #[async_trait]
    impl WebhookRepository for Store {
        async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError>;
        async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError>;
        async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError>;
        async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError>;
        async fn pending_webhooks(
            &self,
            provider: Provider,
            limit: usize,
        ) -> Result<Vec<WebhookDelivery>, RepoError>;
        async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError>;
    }

    #[async_trait]
    impl PlaidItemRepository for Store {
        async fn upsert_plaid_item(
            &self,
            user: UserId,
            item: &NewPlaidItem,
        ) -> Result<PlaidItem, RepoError>;
        async fn get_plaid_item(
            &self,
            user: UserId,
            item: &ProviderItemId,
        ) -> Result<PlaidItem, RepoError>;
        async fn list_plaid_items(&self, user: UserId) -> Result<Vec<PlaidItem>, RepoError>;
        async fn set_plaid_item_status(
            &self,
            user: UserId,
            item: &ProviderItemId,
            change: PlaidItemStatusChange,
        ) -> Result<PlaidItem, RepoError>;
        async fn plaid_item_owners(&self, item: &ProviderItemId) -> Result<Vec<UserId>, RepoError>;
    }

    #[async_trait]
    impl TransactionRepository for Store {
        async fn upsert_transactions(
            &self,
            user: UserId,
            account: AccountId,
            transactions: &[NewInvestmentTransaction],
        ) -> Result<TransactionsWritten, RepoError>;
        async fn remove_transactions(
            &self,
            user: UserId,
            account: AccountId,
            provider_transaction_ids: &[ProviderTransactionId],
        ) -> Result<usize, RepoError>;
        async fn list_transactions(
            &self,
            user: UserId,
            query: &TransactionQuery,
        ) -> Result<Vec<InvestmentTransaction>, RepoError>;
        async fn transactions_synced_through(
            &self,
            user: UserId,
            account: AccountId,
        ) -> Result<Option<NaiveDate>, RepoError>;
        async fn net_contributions(
            &self,
            user: UserId,
            account: AccountId,
        ) -> Result<std::collections::BTreeMap<Currency, rust_decimal::Decimal>, RepoError>;
        async fn advance_transactions_synced_through(
            &self,
            user: UserId,
            account: AccountId,
            through: NaiveDate,
        ) -> Result<bool, RepoError>;
    }

    #[async_trait]
    impl ValueHistoryRepository for Store {
        async fn upsert_value_points(
            &self,
            user: UserId,
            points: &[NewValuePoint],
        ) -> Result<usize, RepoError>;
        async fn value_history(
            &self,
            user: UserId,
            from: NaiveDate,
            to: NaiveDate,
        ) -> Result<Vec<ValuePoint>, RepoError>;
    }

    #[async_trait]
    impl EventStreamRepository for Store {
        async fn stream_position(
            &self,
            stream: &StreamName,
        ) -> Result<Option<StreamEventId>, RepoError>;
        async fn advance_stream(
            &self,
            user: Option<UserId>,
            stream: &StreamName,
            event: &StreamEventId,
        ) -> Result<bool, RepoError>;
        async fn accounts_by_provider_id(
            &self,
            provider: Provider,
            provider_account_id: &ProviderAccountId,
        ) -> Result<Vec<InvestmentAccount>, RepoError>;
    }

    #[async_trait]
    impl RemovalRepository for Store {
        async fn delete_plaid_item(&self, user: UserId, item: &ProviderItemId) -> Result<(), RepoError>;
        async fn delete_user_rows(&self, user: UserId) -> Result<UserRowsDeleted, RepoError>;
    }

    #[async_trait]
    impl SyncScheduleRepository for Store {
        async fn users_due_for_sync(
            &self,
            older_than: DateTime<Utc>,
            limit: usize,
        ) -> Result<Vec<DueUser>, RepoError>;
    }

    #[async_trait]
    impl SecretRepository for Store {
        async fn reseal_secrets(&self, batch_size: usize) -> Result<ResealReport, RepoError>;
    }

    #[async_trait]
    impl LockRepository for Store {
        async fn lock_user(&self, user: UserId) -> Result<UserLock, RepoError>;
        fn within(&self, lock: &UserLock) -> Result<Self, RepoError>
        where
            Self: Sized;
    }
}
