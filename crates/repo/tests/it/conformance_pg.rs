//! The conformance suite against `PgStore`, three ways:
//! - **service**: as the cluster superuser on the migrated test database;
//! - **backend role**: on a database laid out like a hosted Supabase project's, migrated and then used by
//!   `hosted_postgres`, a login role with exactly the privileges of Supabase's `postgres` (not a superuser,
//!   `BYPASSRLS`, only `USAGE` on schema `auth`), so a privilege the backend lacks on Supabase fails here too;
//! - **user-scoped**: every read through the store scoped to the signed-in user (role `authenticated` with the
//!   user's claims, as PostgREST runs a request), every write through the backend, because the schema lets a
//!   user write nothing the engine trusts (`schema_rls_matrix.rs` shows each write refused).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
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
    HoldingRepository, HoldingsReplaced, Keyring, LockRepository, NewPlaidItem, NewWebhookDelivery,
    OrderRepository, PgStore, PlaidItem, PlaidItemRepository, PlaidItemStatusChange,
    PortfolioRepository, PortfolioSummary, RepoError, SecretKey, SnapTradeUserRepository,
    UnifiedAccount, UserLock, WebhookDelivery, WebhookKey, WebhookRepository,
};
use tributary_repo::{
    TransactionQuery, TransactionRepository, TransactionsWritten, ValueHistoryRepository,
};

use crate::conformance::{self, Harness};

struct Pg {
    store: PgStore,
}

impl Pg {
    fn new(pool: PgPool) -> Self {
        Self {
            store: PgStore::new(pool, Keyring::new(SecretKey::generate())),
        }
    }

    /// On a hosted-Supabase layout, migrated and used by the backend's own role.
    async fn as_backend_role(superuser: PgPool) -> Self {
        let pool = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR)
            .await
            .expect("the migrations apply as the backend role");
        Self::new(pool)
    }
}

impl Harness for Pg {
    type Store = PgStore;

    async fn new_user(&self) -> UserId {
        let id = tributary_testdb::create_auth_user(self.store.pool())
            .await
            .expect("a user in auth.users");
        UserId::new(id)
    }

    fn store_for(&self, _user: UserId) -> PgStore {
        self.store.clone()
    }

    fn admin(&self) -> PgStore {
        self.store.clone()
    }
}

/// Reads as the signed-in user, writes as the backend.
struct UserScoped(Pg);

impl Harness for UserScoped {
    type Store = ReadsAsUser;

    async fn new_user(&self) -> UserId {
        self.0.new_user().await
    }

    fn store_for(&self, user: UserId) -> ReadsAsUser {
        ReadsAsUser {
            reader: self.0.store.for_user(user),
            writer: self.0.store.clone(),
        }
    }

    fn admin(&self) -> ReadsAsUser {
        ReadsAsUser {
            reader: self.0.store.clone(),
            writer: self.0.store.clone(),
        }
    }
}

/// A store whose reads run as the user (`reader`, from [`PgStore::for_user`]) and whose writes run as the
/// backend (`writer`), the way a Supabase client and Tributary's engine share the database.
#[derive(Clone, Debug)]
struct ReadsAsUser {
    reader: PgStore,
    writer: PgStore,
}

#[async_trait]
impl AccountRepository for ReadsAsUser {
    async fn upsert_accounts(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        self.writer.upsert_accounts(user, accounts).await
    }
    async fn get_account(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<InvestmentAccount, RepoError> {
        self.reader.get_account(user, account).await
    }
    async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError> {
        self.reader.list_accounts(user).await
    }
    async fn record_account_sync(
        &self,
        user: UserId,
        account: AccountId,
        status: SyncStatus,
        error_message: Option<StatusMessage>,
        at: DateTime<Utc>,
    ) -> Result<InvestmentAccount, RepoError> {
        self.writer
            .record_account_sync(user, account, status, error_message, at)
            .await
    }
    async fn record_account_syncs(
        &self,
        user: UserId,
        states: &[AccountSyncState],
        at: DateTime<Utc>,
    ) -> Result<usize, RepoError> {
        self.writer.record_account_syncs(user, states, at).await
    }
}

#[async_trait]
impl SnapTradeUserRepository for ReadsAsUser {
    async fn upsert_snaptrade_user(
        &self,
        user: UserId,
        snaptrade_user: &NewSnapTradeUser,
    ) -> Result<SnapTradeUser, RepoError> {
        self.writer
            .upsert_snaptrade_user(user, snaptrade_user)
            .await
    }
    async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError> {
        self.reader.find_snaptrade_user(user).await
    }
    async fn record_snaptrade_sync(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.writer.record_snaptrade_sync(user, at).await
    }
    async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError> {
        self.writer.delete_snaptrade_user(user).await
    }
}

#[async_trait]
impl ConnectionRepository for ReadsAsUser {
    async fn upsert_connections(
        &self,
        user: UserId,
        connections: &[NewBrokerageConnection],
    ) -> Result<Vec<BrokerageConnection>, RepoError> {
        self.writer.upsert_connections(user, connections).await
    }
    async fn get_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.reader.get_connection(user, authorization).await
    }
    async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError> {
        self.reader.list_connections(user).await
    }
    async fn set_connection_status(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<BrokerageConnection, RepoError> {
        self.writer
            .set_connection_status(user, authorization, change)
            .await
    }
    async fn delete_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.writer.delete_connection(user, authorization).await
    }
}

#[async_trait]
impl HoldingRepository for ReadsAsUser {
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError> {
        self.writer.upsert_holdings(user, holdings).await
    }
    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError> {
        self.writer.replace_holdings(user, holdings).await
    }
    async fn get_holding(
        &self,
        user: UserId,
        symbol: &Symbol,
        currency: Option<Currency>,
    ) -> Result<Holding, RepoError> {
        self.reader.get_holding(user, symbol, currency).await
    }
    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError> {
        self.reader.list_holdings(user).await
    }
}

#[async_trait]
impl OrderRepository for ReadsAsUser {
    async fn upsert_orders(
        &self,
        user: UserId,
        orders: &[NewOrder],
    ) -> Result<Vec<Order>, RepoError> {
        self.writer.upsert_orders(user, orders).await
    }
    async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError> {
        self.reader.get_order(user, order).await
    }
    async fn list_orders(
        &self,
        user: UserId,
        account: Option<AccountId>,
    ) -> Result<Vec<Order>, RepoError> {
        self.reader.list_orders(user, account).await
    }
    async fn find_order_by_client_order_id(
        &self,
        user: UserId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, RepoError> {
        self.reader
            .find_order_by_client_order_id(user, client_order_id)
            .await
    }
    async fn confirm_order(
        &self,
        user: UserId,
        order: OrderId,
        placed: &NewOrder,
    ) -> Result<Order, RepoError> {
        self.writer.confirm_order(user, order, placed).await
    }
    async fn update_order_status(
        &self,
        user: UserId,
        order: OrderId,
        status: OrderStatus,
        message: Option<StatusMessage>,
    ) -> Result<Order, RepoError> {
        self.writer
            .update_order_status(user, order, status, message)
            .await
    }
}

#[async_trait]
impl PortfolioRepository for ReadsAsUser {
    async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError> {
        self.reader.portfolio_mode(user).await
    }
    async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError> {
        self.reader.unified_accounts(user).await
    }
    async fn set_alpaca_account(
        &self,
        user: UserId,
        alpaca_account_id: Option<ProviderAccountId>,
    ) -> Result<(), RepoError> {
        self.writer
            .set_alpaca_account(user, alpaca_account_id)
            .await
    }
}

#[async_trait]
impl WebhookRepository for ReadsAsUser {
    async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError> {
        self.writer.record_webhook(delivery).await
    }
    async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError> {
        self.writer.find_webhook(key).await
    }
    async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError> {
        self.writer.mark_webhook_applied(key).await
    }
    async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError> {
        self.writer.mark_webhook_failed(key, error).await
    }
    async fn pending_webhooks(
        &self,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, RepoError> {
        self.writer.pending_webhooks(provider, limit).await
    }
    async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError> {
        self.writer.purge_webhooks(applied_before).await
    }
}

/// Plaid Items' tokens are hidden from the user: every call goes through the backend, as the webhook inbox's.
#[async_trait]
impl PlaidItemRepository for ReadsAsUser {
    async fn upsert_plaid_item(
        &self,
        user: UserId,
        item: &NewPlaidItem,
    ) -> Result<PlaidItem, RepoError> {
        self.writer.upsert_plaid_item(user, item).await
    }
    async fn get_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItem, RepoError> {
        self.writer.get_plaid_item(user, item).await
    }
    async fn list_plaid_items(&self, user: UserId) -> Result<Vec<PlaidItem>, RepoError> {
        self.writer.list_plaid_items(user).await
    }
    async fn set_plaid_item_status(
        &self,
        user: UserId,
        item: &ProviderItemId,
        change: PlaidItemStatusChange,
    ) -> Result<PlaidItem, RepoError> {
        self.writer.set_plaid_item_status(user, item, change).await
    }
    async fn plaid_item_owners(&self, item: &ProviderItemId) -> Result<Vec<UserId>, RepoError> {
        self.writer.plaid_item_owners(item).await
    }
}

#[async_trait]
impl TransactionRepository for ReadsAsUser {
    async fn upsert_transactions(
        &self,
        user: UserId,
        account: AccountId,
        transactions: &[NewInvestmentTransaction],
    ) -> Result<TransactionsWritten, RepoError> {
        self.writer
            .upsert_transactions(user, account, transactions)
            .await
    }
    async fn remove_transactions(
        &self,
        user: UserId,
        account: AccountId,
        provider_transaction_ids: &[ProviderTransactionId],
    ) -> Result<usize, RepoError> {
        self.writer
            .remove_transactions(user, account, provider_transaction_ids)
            .await
    }
    async fn list_transactions(
        &self,
        user: UserId,
        query: &TransactionQuery,
    ) -> Result<Vec<InvestmentTransaction>, RepoError> {
        self.reader.list_transactions(user, query).await
    }
    async fn transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<Option<NaiveDate>, RepoError> {
        self.reader.transactions_synced_through(user, account).await
    }
    async fn net_contributions(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<std::collections::BTreeMap<Currency, rust_decimal::Decimal>, RepoError> {
        self.reader.net_contributions(user, account).await
    }
    async fn advance_transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
        through: NaiveDate,
    ) -> Result<bool, RepoError> {
        self.writer
            .advance_transactions_synced_through(user, account, through)
            .await
    }
}

#[async_trait]
impl ValueHistoryRepository for ReadsAsUser {
    async fn upsert_value_points(
        &self,
        user: UserId,
        points: &[NewValuePoint],
    ) -> Result<usize, RepoError> {
        self.writer.upsert_value_points(user, points).await
    }
    async fn value_history(
        &self,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ValuePoint>, RepoError> {
        self.reader.value_history(user, from, to).await
    }
}

#[async_trait]
impl LockRepository for ReadsAsUser {
    async fn lock_user(&self, user: UserId) -> Result<UserLock, RepoError> {
        self.writer.lock_user(user).await
    }

    fn within(&self, lock: &UserLock) -> Result<Self, RepoError> {
        Ok(Self {
            reader: self.reader.within(lock)?,
            writer: self.writer.within(lock)?,
        })
    }
}

macro_rules! service_case {
    ($case:ident) => {
        #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
        async fn $case(pool: PgPool) {
            conformance::$case(&Pg::new(pool)).await;
        }
    };
}

macro_rules! backend_role_case {
    ($case:ident) => {
        #[sqlx::test(migrations = false)]
        async fn $case(superuser: PgPool) {
            conformance::$case(&Pg::as_backend_role(superuser).await).await;
        }
    };
}

macro_rules! user_scoped_case {
    ($case:ident) => {
        #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
        async fn $case(pool: PgPool) {
            conformance::$case(&UserScoped(Pg::new(pool))).await;
        }
    };
}

mod service {
    use super::*;
    all_cases!(service_case);
}

mod backend_role {
    use super::*;
    all_cases!(backend_role_case);
}

mod user_scoped {
    use super::*;
    user_scoped_cases!(user_scoped_case);
}

/// Event stream positions are the service's bookkeeping: a store scoped to a user refuses every call before any
/// SQL runs (and the schema, migration 0020, would refuse it anyway).
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_scoped_store_neither_reads_nor_moves_stream_positions_nor_finds_account_owners(
    pool: PgPool,
) {
    use tributary_domain::{Provider, ProviderAccountId};
    use tributary_repo::{EventStreamRepository, StreamEventId, StreamName};

    let pg = Pg::new(pool);
    let user = pg.new_user().await;
    let scoped = pg.store.for_user(user);
    let stream = StreamName::parse("alpaca/trade-events").unwrap();
    let event = StreamEventId::parse("01G112NTT0XAXKDZK3AABK68TH").unwrap();
    let account = ProviderAccountId::parse("529248ad-c4cc-4a50-bea4-6bfd2953f83a").unwrap();
    let forbidden = |outcome: Result<(), RepoError>| {
        assert!(
            matches!(outcome, Err(RepoError::Forbidden { .. })),
            "{outcome:?}"
        );
    };
    forbidden(scoped.stream_position(&stream).await.map(drop));
    forbidden(
        scoped
            .advance_stream(Some(user), &stream, &event)
            .await
            .map(drop),
    );
    forbidden(scoped.advance_stream(None, &stream, &event).await.map(drop));
    forbidden(
        scoped
            .accounts_by_provider_id(Provider::Alpaca, &account)
            .await
            .map(drop),
    );
    assert_eq!(pg.store.stream_position(&stream).await.unwrap(), None);
}

/// Removing rows is the service's: a user scoped to their own rows can delete neither an Item of theirs nor
/// everything they have (the API roles hold no delete privilege on these tables either), and nothing is deleted.
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_scoped_store_removes_neither_an_item_nor_the_users_rows(pool: PgPool) {
    use tributary_domain::ProviderItemId;
    use tributary_repo::{PlaidItemRepository, RemovalRepository};

    let pg = Pg::new(pool);
    let user = pg.new_user().await;
    pg.store
        .upsert_plaid_item(user, &conformance::plaid_item("item-1", "access-sandbox-1"))
        .await
        .unwrap();
    let scoped = pg.store.for_user(user);
    let item = ProviderItemId::parse("item-1").unwrap();
    let deleted = scoped.delete_plaid_item(user, &item).await;
    assert!(
        matches!(deleted, Err(RepoError::Forbidden { .. })),
        "{deleted:?}"
    );
    let deleted = scoped.delete_user_rows(user).await;
    assert!(
        matches!(deleted, Err(RepoError::Forbidden { .. })),
        "{deleted:?}"
    );
    pg.store.get_plaid_item(user, &item).await.unwrap();
}

/// A Plaid Item's holders are found across users: a store scoped to one user refuses the lookup before any SQL
/// runs, so a signed-in user cannot learn who else holds an Item.
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_scoped_store_does_not_find_the_holders_of_a_plaid_item(pool: PgPool) {
    let pg = Pg::new(pool);
    let user = pg.new_user().await;
    let item = ProviderItemId::parse("item-1").unwrap();
    let outcome = pg.store.for_user(user).plaid_item_owners(&item).await;
    assert!(
        matches!(outcome, Err(RepoError::Forbidden { .. })),
        "{outcome:?}"
    );
    assert!(pg.store.plaid_item_owners(&item).await.unwrap().is_empty());
}
