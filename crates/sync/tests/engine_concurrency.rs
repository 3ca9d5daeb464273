//! The engine's bounds on parallelism, with a provider double that counts calls in flight: one user's
//! accounts are fetched concurrently up to the configured limit, and two syncs of one user never
//! interleave while two users' syncs do run side by side.
#![cfg(feature = "plaid")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use tributary_domain::{
    AccountType, ConnectionStatus, ConnectionType, FeatureFlags, InstitutionName, Provider,
    ProviderAccountId, ProviderItemId, Quantity, SignedAmount, Symbol, UserId,
};
use tributary_provider::ProviderError;
use tributary_provider::capability::{
    AccountInfo, Aggregation, BrokerageAccounts, ConnectionInfo, PageCursor, Position,
    PositionSide, ProviderConnectionId, TransactionPage,
};
use tributary_provider::router::ProviderRouter;
use tributary_repo::{HoldingRepository, MemoryStore};
use tributary_sync::SyncEngine;
use tributary_sync::source::{GivenLogins, PerAccountSource};

/// Counts calls in flight and remembers the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    async fn during<T>(&self, work: impl Future<Output = T>) -> T {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let result = work.await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// A Plaid-like provider with `accounts` accounts of one AAPL share each, every call taking a while.
struct SlowBank {
    accounts: usize,
    positions_in_flight: InFlight,
    syncs_in_flight: InFlight,
}

impl SlowBank {
    fn new(accounts: usize) -> Self {
        Self {
            accounts,
            positions_in_flight: InFlight::default(),
            syncs_in_flight: InFlight::default(),
        }
    }

    fn item() -> ProviderConnectionId {
        ProviderConnectionId::Item(ProviderItemId::parse("item-1").unwrap())
    }
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(40)).await;
}

#[async_trait]
impl Aggregation for SlowBank {
    type Login = String;

    fn provider(&self) -> Provider {
        Provider::Plaid
    }

    /// The first call of a sync: it stays in flight long enough for a second sync to overlap it.
    async fn connections(&self, _: &String) -> Result<Vec<ConnectionInfo>, ProviderError> {
        self.syncs_in_flight.during(pause()).await;
        Ok(vec![ConnectionInfo {
            provider: Provider::Plaid,
            provider_connection_id: Self::item(),
            institution: Some(InstitutionName::parse("Slow Bank").unwrap()),
            connection_type: ConnectionType::Read,
            status: ConnectionStatus::Active,
            status_reason: None,
        }])
    }

    async fn accounts(&self, _: &String) -> Result<Vec<AccountInfo>, ProviderError> {
        Ok((0..self.accounts)
            .map(|index| AccountInfo {
                provider: Provider::Plaid,
                provider_account_id: ProviderAccountId::parse(&format!("acct-{index}")).unwrap(),
                provider_connection_id: Some(Self::item()),
                institution: Some(InstitutionName::parse("Slow Bank").unwrap()),
                name: None,
                account_type: AccountType::parse("investment").unwrap(),
                account_subtype: None,
                total_value: None,
                cash: None,
                currency: None,
            })
            .collect())
    }

    async fn positions(&self, _: &String) -> Result<Vec<Position>, ProviderError> {
        unreachable!("the per-account source reads positions account by account")
    }

    async fn transactions(
        &self,
        _: &String,
        _: NaiveDate,
        _: NaiveDate,
        _: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        unreachable!("a sync reads no transactions")
    }
}

#[async_trait]
impl BrokerageAccounts for SlowBank {
    type Login = String;

    async fn brokerage_account(
        &self,
        _: &String,
        _: &ProviderAccountId,
    ) -> Result<AccountInfo, ProviderError> {
        unreachable!("the per-account source lists accounts through Aggregation")
    }

    async fn account_positions(
        &self,
        _: &String,
        account: &ProviderAccountId,
    ) -> Result<Vec<Position>, ProviderError> {
        self.positions_in_flight.during(pause()).await;
        Ok(vec![Position {
            provider_account_id: account.clone(),
            symbol: Symbol::parse("AAPL").unwrap(),
            security_id: None,
            security_name: None,
            security_type: None,
            provider_security_type: None,
            option_contract: None,
            side: PositionSide::Long,
            quantity: Quantity::parse("1").unwrap(),
            price: None,
            market_value: Some(SignedAmount::parse("200.00").unwrap()),
            cost_basis: None,
            currency: None,
        }])
    }
}

fn engine(
    bank: &Arc<SlowBank>,
    store: &MemoryStore,
    users: &[UserId],
    limit: usize,
) -> SyncEngine<MemoryStore> {
    let logins = GivenLogins::new();
    for user in users {
        logins.add(*user, "token".to_owned());
    }
    SyncEngine::new(
        Arc::new(store.clone()),
        ProviderRouter::new(FeatureFlags::new(false, true, true, false)),
    )
    .with_concurrency(limit)
    .with_source(PerAccountSource::new(Arc::clone(bank), logins))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_fetched_concurrently_up_to_the_configured_limit() {
    let bank = Arc::new(SlowBank::new(8));
    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = engine(&bank, &store, &[user], 3);

    let report = engine.sync_user(user).await.unwrap();

    assert!(!report.has_failures(), "{:?}", report.failures());
    assert_eq!(bank.positions_in_flight.most(), 3);
    let aapl = store.list_holdings(user).await.unwrap().remove(0);
    assert_eq!(aapl.figures.total_quantity, Quantity::parse("8").unwrap());
    assert_eq!(aapl.account_count, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_of_one_user_never_interleave() {
    let bank = Arc::new(SlowBank::new(2));
    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = engine(&bank, &store, &[user], 4);

    let (first, second) = tokio::join!(engine.sync_user(user), engine.sync_user(user));

    first.unwrap();
    second.unwrap();
    assert_eq!(bank.syncs_in_flight.most(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_sync_side_by_side() {
    let bank = Arc::new(SlowBank::new(2));
    let store = MemoryStore::new();
    let (alice, bob) = (store.create_user(), store.create_user());
    let engine = engine(&bank, &store, &[alice, bob], 4);

    let (first, second) = tokio::join!(engine.sync_user(alice), engine.sync_user(bob));

    first.unwrap();
    second.unwrap();
    assert_eq!(bank.syncs_in_flight.most(), 2);
}

#[tokio::test]
async fn a_user_without_credentials_is_skipped_not_failed() {
    let bank = Arc::new(SlowBank::new(1));
    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = engine(&bank, &store, &[], 2);

    let report = engine.sync_user(user).await.unwrap();

    assert!(!report.has_failures());
    assert!(
        matches!(&report.providers[0].outcome, tributary_sync::Outcome::Skipped { reason } if reason.contains("not linked"))
    );
}

#[tokio::test]
async fn a_provider_switched_off_is_skipped_with_the_routers_reason() {
    let bank = Arc::new(SlowBank::new(1));
    let store = MemoryStore::new();
    let user = store.create_user();
    let logins = GivenLogins::new();
    logins.add(user, "token".to_owned());
    let engine = SyncEngine::new(
        Arc::new(store.clone()),
        ProviderRouter::new(FeatureFlags::new(false, true, false, false)),
    )
    .with_source(PerAccountSource::new(Arc::clone(&bank), logins));

    let report = engine.sync_user(user).await.unwrap();

    assert_eq!(
        bank.syncs_in_flight.most(),
        0,
        "nothing was asked of a disabled provider"
    );
    assert!(matches!(
        &report.providers[0].outcome,
        tributary_sync::Outcome::Skipped { .. }
    ));
}
