//! A Plaid-like provider double whose calls take a while and are counted in flight, and an engine on it.

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
    AccountInfo, Aggregation, BrokerageAccounts, ConnectionInfo, Listing, PageCursor, Position,
    PositionSide, ProviderConnectionId, TransactionPage,
};
use tributary_provider::router::ProviderRouter;
use tributary_repo::Store;
use tributary_sync::SyncEngine;
use tributary_sync::source::{GivenLogins, PerAccountSource};

/// Counts calls in flight and remembers the most seen at once.
#[derive(Default)]
pub struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    pub async fn during<T>(&self, work: impl Future<Output = T>) -> T {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let result = work.await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        result
    }

    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// A Plaid-like provider with `accounts` accounts of one AAPL share each, every call taking a while.
pub struct SlowBank {
    accounts: usize,
    pub positions_in_flight: InFlight,
    pub syncs_in_flight: InFlight,
}

impl SlowBank {
    pub fn new(accounts: usize) -> Self {
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

    async fn positions(&self, _: &String) -> Result<Listing<Position>, ProviderError> {
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
    ) -> Result<Listing<Position>, ProviderError> {
        self.positions_in_flight.during(pause()).await;
        Ok(Listing::all(vec![Position {
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
        }]))
    }

    async fn account_transactions(
        &self,
        _: &String,
        _: &ProviderAccountId,
        _: NaiveDate,
        _: NaiveDate,
        _: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        unreachable!("a sync reads no transactions")
    }
}

pub fn engine<S: Store + Clone + 'static>(
    bank: &Arc<SlowBank>,
    store: &S,
    users: &[UserId],
    limit: usize,
) -> SyncEngine<S> {
    let logins = GivenLogins::new();
    for user in users {
        logins.add(*user, "token".to_owned());
    }
    SyncEngine::new(
        Arc::new(store.clone()),
        ProviderRouter::new(
            FeatureFlags::builder()
                .aggregation_mode(true)
                .enable(Provider::Plaid)
                .build(),
        ),
    )
    .with_concurrency(limit)
    .with_source(PerAccountSource::new(Arc::clone(bank), logins))
}
