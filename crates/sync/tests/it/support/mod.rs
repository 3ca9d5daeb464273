//! One engine on the sandbox providers, over any store, and the scenarios both stores must pass.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;
use tributary_domain::{
    AccountId, Amount, ConnectionStatus, ConnectionType, Currency, FeatureFlags, InvestmentAccount,
    OrderAction, OrderStatus, Price, Provider, ProviderAccountId, Symbol, SyncStatus, Units,
    UserId, totals_by_currency,
};
use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
use tributary_provider::capability::{
    Aggregation, BrokerageAccounts, ConnectionPortal, OrderRequest, OrderSize, Position,
    PositionSide,
};
use tributary_provider::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
use tributary_provider::router::ProviderRouter;
use tributary_provider::snaptrade::signing::{canonical_json, sign};
use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use tributary_provider::{RoutingRefusal, WebhookError};
use tributary_repo::{RepoError, Store};
use tributary_sandbox::{Sandbox, SeedAccount, SeedItem};
use tributary_sync::source::GivenLogins;
use tributary_sync::{Outcome, SyncEngine, SyncError, WebhookOutcome};
use url::Url;

mod retries;
mod tables;
mod trust;
pub use retries::*;
pub use tables::*;
pub use trust::*;

/// Every provider switched on.
const ALL_ON: FeatureFlags = FeatureFlags::all_on();

/// The engine on a store, wired to the three sandbox providers, and the clients to check against.
pub struct World<S> {
    pub sandbox: Sandbox,
    pub engine: SyncEngine<S>,
    pub user: UserId,
    pub snaptrade: Arc<SnapTradeClient>,
    pub plaid: Arc<PlaidClient>,
    pub alpaca: Arc<AlpacaClient>,
    pub plaid_items: Arc<GivenLogins<AccessToken>>,
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

impl<S: Store + 'static> World<S> {
    pub async fn start(store: S, user: UserId) -> Self {
        Self::start_with_snaptrade_config(store, user, |config| config).await
    }

    /// The same world with SnapTrade's client configured further by `configure` (a short timeout…).
    pub async fn start_with_snaptrade_config(
        store: S,
        user: UserId,
        configure: impl FnOnce(SnapTradeConfig) -> SnapTradeConfig,
    ) -> Self {
        Self::start_with_configs(store, user, configure, |config| config, |config| config).await
    }

    /// The same world with Plaid's client configured further by `configure` (a short timeout…).
    pub async fn start_with_plaid_config(
        store: S,
        user: UserId,
        configure: impl FnOnce(PlaidConfig) -> PlaidConfig,
    ) -> Self {
        Self::start_with_configs(store, user, |config| config, configure, |config| config).await
    }

    /// The same world with every client's timeout set to `timeout`.
    pub async fn start_with_timeouts(store: S, user: UserId, timeout: Duration) -> Self {
        Self::start_with_configs(
            store,
            user,
            |config| config.with_timeout(timeout),
            |config| config.with_timeout(timeout),
            |config| config.with_timeout(timeout),
        )
        .await
    }

    /// The world with SnapTrade's, Plaid's and Alpaca's clients configured further by the closures.
    async fn start_with_configs(
        store: S,
        user: UserId,
        configure_snaptrade: impl FnOnce(SnapTradeConfig) -> SnapTradeConfig,
        configure_plaid: impl FnOnce(PlaidConfig) -> PlaidConfig,
        configure_alpaca: impl FnOnce(AlpacaConfig) -> AlpacaConfig,
    ) -> Self {
        let sandbox = Sandbox::start().await;
        let consumer_key = SecretString::from(sandbox.snaptrade().consumer_key());
        let snaptrade = SnapTradeConfig::new(sandbox.snaptrade().client_id(), consumer_key.clone())
            .unwrap()
            .with_base_url(url(&sandbox.snaptrade_base_url()));
        let snaptrade = configure_snaptrade(snaptrade);
        let snaptrade = Arc::new(
            SnapTradeClient::new(snaptrade)
                .unwrap()
                .with_retries(2, Duration::from_millis(5)),
        );
        let plaid = PlaidConfig::new(
            sandbox.plaid().client_id(),
            SecretString::from(sandbox.plaid().secret()),
            PlaidEnvironment::Sandbox,
        )
        .with_base_url(url(&sandbox.plaid_base_url()))
        // Plaid's per-Item budgets (15 holdings calls a minute) would make the scenarios that sync one Item many
        // times, or retry it under a short timeout, wait minutes; the budgets are tested in the provider crate.
        .with_rate_limits(tributary_provider::RateLimits::none());
        let plaid = Arc::new(PlaidClient::new(configure_plaid(plaid)).unwrap());
        let alpaca = AlpacaConfig::new(
            sandbox.alpaca().key_id(),
            SecretString::from(sandbox.alpaca().secret()),
            AlpacaEnvironment::Sandbox,
        )
        .with_base_url(url(&sandbox.alpaca_base_url()));
        let alpaca = Arc::new(AlpacaClient::new(configure_alpaca(alpaca)).unwrap());
        let plaid_items = Arc::new(GivenLogins::new());
        let engine = SyncEngine::new(Arc::new(store), ProviderRouter::new(ALL_ON))
            .with_concurrency(3)
            .with_snaptrade(Arc::clone(&snaptrade))
            .with_plaid(Arc::clone(&plaid), Arc::clone(&plaid_items))
            .with_alpaca(Arc::clone(&alpaca));
        Self {
            sandbox,
            engine,
            user,
            snaptrade,
            plaid,
            alpaca,
            plaid_items,
        }
    }

    pub fn store(&self) -> &S {
        self.engine.store()
    }

    /// Connects a SnapTrade brokerage through the portal, as the user would in a browser.
    pub async fn connect_snaptrade(&self, connection_type: ConnectionType) {
        let link = self
            .engine
            .snaptrade()
            .connect(self.user, connection_type, None)
            .await
            .unwrap();
        let portal = reqwest::get(&link.url).await.unwrap();
        assert!(portal.status().is_success(), "{}", portal.status());
    }

    /// A Plaid Item with two accounts of three holdings, its token held by the caller.
    pub fn link_plaid(&self) {
        let item = self.sandbox.plaid().seed_item(SeedItem::new(2, 3, 5));
        let token = AccessToken::new(SecretString::from(item.access_token.as_str()));
        self.plaid_items.add(self.user, token);
    }

    /// An Alpaca brokerage account with three positions, recorded in the user's onboarding.
    pub async fn link_alpaca(&self) -> ProviderAccountId {
        let id = self
            .sandbox
            .alpaca()
            .seed_account(SeedAccount::new(Decimal::from(100_000), 3));
        let id = ProviderAccountId::parse(&id.to_string()).unwrap();
        self.store()
            .set_alpaca_account(self.user, Some(id.clone()))
            .await
            .unwrap();
        id
    }

    pub async fn link_everything(&self) -> ProviderAccountId {
        self.connect_snaptrade(ConnectionType::Trade).await;
        self.link_plaid();
        self.link_alpaca().await
    }

    pub async fn snaptrade_login(&self) -> UserCredentials {
        let row = self
            .store()
            .find_snaptrade_user(self.user)
            .await
            .unwrap()
            .expect("registered at SnapTrade");
        UserCredentials::new(row.snaptrade_user_id, row.user_secret)
    }

    /// Every position the sandbox holds for the user, read straight from the providers, by provider.
    pub async fn sandbox_positions(&self) -> Vec<(Provider, Position)> {
        let mut all = Vec::new();
        if let Some(row) = self.store().find_snaptrade_user(self.user).await.unwrap() {
            let login = UserCredentials::new(row.snaptrade_user_id, row.user_secret);
            let positions = Aggregation::positions(self.snaptrade.as_ref(), &login)
                .await
                .unwrap()
                .items;
            all.extend(positions.into_iter().map(|p| (Provider::SnapTrade, p)));
        }
        let tokens = tributary_sync::source::Logins::logins(
            self.plaid_items.as_ref(),
            self.store(),
            self.user,
        )
        .await
        .unwrap();
        for token in tokens {
            let positions = Aggregation::positions(self.plaid.as_ref(), &token)
                .await
                .unwrap()
                .items;
            all.extend(positions.into_iter().map(|p| (Provider::Plaid, p)));
        }
        if let Some(id) = self
            .store()
            .portfolio_mode(self.user)
            .await
            .unwrap()
            .alpaca_account_id
        {
            let positions = BrokerageAccounts::account_positions(self.alpaca.as_ref(), &(), &id)
                .await
                .unwrap()
                .items;
            all.extend(positions.into_iter().map(|p| (Provider::Alpaca, p)));
        }
        all
    }

    pub async fn first_account(&self) -> InvestmentAccount {
        self.store()
            .list_accounts(self.user)
            .await
            .unwrap()
            .remove(0)
    }

    /// Delivers `payload` as SnapTrade would, signed with the consumer key.
    pub async fn deliver(&self, payload: &serde_json::Value) -> Result<WebhookOutcome, SyncError> {
        let key = SecretString::from(self.sandbox.snaptrade().consumer_key());
        let signature = sign(&key, &canonical_json(payload));
        let body = serde_json::to_vec(payload).unwrap();
        self.engine
            .snaptrade()
            .handle_webhook(Some(&signature), &body)
            .await
    }

    pub async fn account_id(
        &self,
        provider: Provider,
        provider_account_id: &ProviderAccountId,
    ) -> AccountId {
        let accounts = self.store().list_accounts(self.user).await.unwrap();
        accounts
            .iter()
            .find(|a| a.provider == provider && &a.provider_account_id == provider_account_id)
            .map(|a| a.id)
            .expect("the account is stored")
    }
}

/// A position's value as a holdings row stores it (the provider's, else price × quantity).
fn stored_value(position: &Position) -> Decimal {
    let value = match (position.market_value, position.price) {
        (Some(value), _) => value.get(),
        (None, Some(price)) => price.get() * position.quantity.get(),
        (None, None) => Decimal::ZERO,
    };
    Amount::new(value).unwrap().get()
}

pub async fn a_sync_writes_exactly_what_the_sandbox_holds<S: Store + 'static>(world: World<S>) {
    world.link_everything().await;
    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    assert!(
        report
            .providers
            .iter()
            .all(|p| p.outcome == Outcome::Synced),
        "{:?}",
        report.providers
    );

    // Keyed by symbol and currency: a position that names no currency is in its account's, and every sandbox
    // account reports its balances in USD.
    let positions = world.sandbox_positions().await;
    let mut expected: BTreeMap<(String, Currency), (Decimal, Decimal)> = BTreeMap::new();
    for (_, position) in positions
        .iter()
        .filter(|(_, p)| p.side == PositionSide::Long)
    {
        let currency = position.currency.clone().unwrap_or_else(Currency::usd);
        let entry = expected
            .entry((position.symbol.as_str().to_owned(), currency))
            .or_default();
        entry.0 += position.quantity.get();
        entry.1 += stored_value(position);
    }
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    let actual: BTreeMap<(String, Currency), (Decimal, Decimal)> = holdings
        .iter()
        .map(|h| {
            let totals = (
                h.figures.total_quantity.get(),
                h.figures.total_market_value.get(),
            );
            let currency = h
                .currency
                .clone()
                .expect("every sandbox holding names a currency");
            ((h.symbol.as_str().to_owned(), currency), totals)
        })
        .collect();
    assert_eq!(actual, expected);

    // Plaid's DOGE is quoted in BTC (`unofficial_currency_code`): its value is never part of the dollars.
    let btc = Currency::parse("BTC").unwrap();
    let doge = holdings
        .iter()
        .find(|h| h.symbol.as_str() == "DOGE")
        .expect("the sandbox's DOGE holding");
    assert_eq!(doge.currency.as_ref(), Some(&btc));
    let totals = totals_by_currency(&holdings);
    let dollars: Decimal = expected
        .iter()
        .filter(|((_, currency), _)| *currency == Currency::usd())
        .map(|(_, (_, value))| *value)
        .sum();
    assert_eq!(totals[&Some(Currency::usd())].market_value, dollars);
    assert_eq!(
        totals[&Some(btc)].market_value,
        doge.figures.total_market_value.get()
    );

    let expected_accounts: BTreeSet<(Provider, String)> = positions
        .iter()
        .map(|(provider, p)| (*provider, p.provider_account_id.as_str().to_owned()))
        .collect();
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    let stored_accounts: BTreeSet<(Provider, String)> = accounts
        .iter()
        .map(|a| (a.provider, a.provider_account_id.as_str().to_owned()))
        .collect();
    assert!(
        expected_accounts.is_subset(&stored_accounts),
        "{expected_accounts:?} ⊄ {stored_accounts:?}"
    );
    let snaptrade_accounts: Vec<_> = accounts
        .iter()
        .filter(|a| a.provider == Provider::SnapTrade)
        .collect();
    assert_eq!(
        snaptrade_accounts.len(),
        2,
        "the portal connects two accounts"
    );
    assert!(
        accounts
            .iter()
            .all(|a| a.sync_status == SyncStatus::Success && a.last_synced.is_some())
    );
    for account in &snaptrade_accounts {
        assert_eq!(account.connection_type, ConnectionType::Trade);
        assert_eq!(account.connection_status, ConnectionStatus::Active);
        assert!(account.snaptrade_authorization_id.is_some());
        assert!(account.brokerage_name.is_some());
    }
    assert!(
        accounts
            .iter()
            .filter(|a| a.provider == Provider::Plaid)
            .all(|a| a.provider_item_id.is_some())
    );

    let connections = world.store().list_connections(world.user).await.unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].status, ConnectionStatus::Active);
    assert_eq!(connections[0].accounts_count, 2);
    assert_eq!(connections[0].connection_type, ConnectionType::Trade);
    assert!(connections[0].last_synced_at.is_some());

    let option = holdings
        .iter()
        .find(|h| h.option_contract.is_some())
        .expect("the portal's AAPL call");
    assert!(option.provider_metadata.contains_key("snaptrade"));
    let snaptrade_stock = holdings
        .iter()
        .find(|h| h.universal_symbol_id.is_some())
        .expect("SnapTrade positions carry their universal symbol id");
    assert!(!snaptrade_stock.account_contributions.is_empty());
    assert_eq!(report.holdings_count, holdings.len());
}

pub async fn a_second_sync_changes_nothing<S: Store + 'static>(world: World<S>) {
    world.link_everything().await;
    world.engine.sync_user(world.user).await.unwrap();
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    let orders = world.store().list_orders(world.user, None).await.unwrap();

    let second = world.engine.sync_user(world.user).await.unwrap();
    assert_eq!(second.holdings.written, 0);
    assert_eq!(second.holdings.removed, 0);
    assert_eq!(
        world.store().list_holdings(world.user).await.unwrap(),
        holdings
    );
    let again = world.store().list_accounts(world.user).await.unwrap();
    assert_eq!(without_sync_times(again), without_sync_times(accounts));
    assert_eq!(
        world.store().list_orders(world.user, None).await.unwrap(),
        orders
    );
}

/// Accounts without the columns every sync moves forward (when it last synced, hence when the row changed).
fn without_sync_times(accounts: Vec<InvestmentAccount>) -> Vec<InvestmentAccount> {
    accounts
        .into_iter()
        .map(|account| InvestmentAccount {
            last_synced: None,
            updated_at: None,
            ..account
        })
        .collect()
}

/// A day limit order to buy `units` of `ticker` at `limit`.
fn limit_buy(ticker: &str, units: &str, limit: &str) -> OrderRequest {
    OrderRequest::limit(
        Symbol::parse(ticker).unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse(units).unwrap()),
        Price::parse(limit).unwrap(),
    )
    .unwrap()
}

fn sell_everything(position: &Position) -> OrderRequest {
    let units = Units::new(position.quantity.get()).unwrap();
    OrderRequest::market(
        position.symbol.clone(),
        OrderAction::Sell,
        OrderSize::Units(units),
    )
    .expect("an order for a positive size")
}

pub async fn a_position_sold_at_the_provider_disappears_from_the_holdings<S: Store + 'static>(
    world: World<S>,
) {
    let alpaca_account = world.link_alpaca().await;
    world.engine.sync_user(world.user).await.unwrap();
    let account = world.account_id(Provider::Alpaca, &alpaca_account).await;
    let before = world.store().list_holdings(world.user).await.unwrap();
    let sold = world
        .sandbox_positions()
        .await
        .into_iter()
        .map(|(_, p)| p)
        .next()
        .expect("the seeded account holds positions");

    let placement = world
        .engine
        .place_order(world.user, account, sell_everything(&sold))
        .await
        .unwrap();
    assert_eq!(placement.order.status, OrderStatus::Filled);

    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    assert_eq!(report.holdings.removed, 1);
    let after = world.store().list_holdings(world.user).await.unwrap();
    assert_eq!(after.len(), before.len() - 1);
    assert!(after.iter().all(|h| h.symbol != sold.symbol));
}

pub async fn a_broken_connection_ends_disabled_with_its_message_and_the_rest_syncs<
    S: Store + 'static,
>(
    world: World<S>,
) {
    world.link_everything().await;
    world.engine.sync_user(world.user).await.unwrap();
    let connection = world
        .store()
        .list_connections(world.user)
        .await
        .unwrap()
        .remove(0);
    assert!(
        world
            .sandbox
            .snaptrade()
            .disable_connection(*connection.authorization_id.as_uuid())
    );

    let report = world.engine.sync_user(world.user).await.unwrap();
    let broken = world
        .store()
        .get_connection(world.user, connection.authorization_id)
        .await
        .unwrap();
    assert_eq!(broken.status, ConnectionStatus::Disabled);
    assert!(broken.disabled_date.is_some());
    assert!(
        broken
            .error_message
            .as_ref()
            .is_some_and(|m| m.as_str().contains("reconnect")),
        "{broken:?}"
    );
    assert_eq!(report.connections[0].status, ConnectionStatus::Disabled);
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    for account in accounts
        .iter()
        .filter(|a| a.provider == Provider::SnapTrade)
    {
        assert_eq!(account.connection_status, ConnectionStatus::Disabled);
        assert_eq!(account.sync_status, SyncStatus::Disabled);
        assert!(account.sync_error_message.is_some());
    }
    assert!(
        report
            .providers
            .iter()
            .all(|p| p.outcome == Outcome::Synced),
        "{:?}",
        report.providers
    );
    let skipped = report
        .accounts
        .iter()
        .filter(|a| a.provider == Provider::SnapTrade)
        .all(|a| matches!(&a.orders, Outcome::Skipped { reason } if reason.contains("disabled")));
    assert!(skipped, "{:?}", report.accounts);
}

pub async fn a_read_only_connection_refuses_an_order<S: Store + 'static>(world: World<S>) {
    world.connect_snaptrade(ConnectionType::Read).await;
    world.engine.sync_user(world.user).await.unwrap();
    let account = world.first_account().await;
    let order = OrderRequest::market(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("1").unwrap()),
    )
    .expect("an order for a positive size");
    let refused = world
        .engine
        .place_order(world.user, account.id, order)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SyncError::Refused(RoutingRefusal::ReadOnlyConnection { account: a }) if a == account.id),
        "{refused:?}"
    );
    assert!(
        world
            .store()
            .list_orders(world.user, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(world.sandbox.snaptrade().log().count("POST", "/trade"), 0);
}

pub async fn a_limit_order_is_recorded_pending_then_accepted_then_cancelled<S: Store + 'static>(
    world: World<S>,
) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(world.user).await.unwrap();
    let account = world.first_account().await;
    let order = limit_buy("AAPL", "2", "10.00");
    let placed = world
        .engine
        .place_order(world.user, account.id, order.clone())
        .await
        .unwrap();
    assert_eq!(placed.order.status, OrderStatus::Accepted);
    assert!(placed.order.raw_order_data.is_some());
    let rows = world
        .store()
        .list_orders(world.user, Some(account.id))
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|o| o.id).collect::<Vec<_>>(),
        [placed.order.id],
        "the row recorded before the order was sent is the placed order: one row"
    );
    assert_eq!(rows[0].brokerage_order_id, placed.order.brokerage_order_id);
    assert_ne!(
        rows[0].brokerage_order_id.as_str(),
        placed.client_order_id.as_str(),
        "the provider's id replaced the client order id"
    );
    assert_eq!(rows[0].status, OrderStatus::Accepted);

    // A retry with the same client order id places nothing new.
    let retried = world
        .engine
        .place_order(
            world.user,
            account.id,
            order.with_client_order_id(placed.client_order_id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        retried.order.brokerage_order_id,
        placed.order.brokerage_order_id
    );
    assert_eq!(retried.order.id, placed.order.id, "the order keeps its id");
    let at_provider = world
        .sandbox
        .snaptrade()
        .orders(account.provider_account_id.as_str().parse().unwrap());
    assert_eq!(at_provider.len(), 1);
    assert_eq!(
        world
            .store()
            .list_orders(world.user, Some(account.id))
            .await
            .unwrap()
            .len(),
        1,
        "a retry leaves one row"
    );

    let cancelled = world
        .engine
        .cancel_order(world.user, placed.order.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);
}

pub async fn connecting_twice_registers_the_user_once<S: Store + 'static>(world: World<S>) {
    world.connect_snaptrade(ConnectionType::Read).await;
    let first = world.snaptrade_login().await;
    world.connect_snaptrade(ConnectionType::Trade).await;
    assert_eq!(
        world.sandbox.snaptrade().users(),
        vec![world.user.to_string()]
    );
    assert_eq!(
        world
            .sandbox
            .snaptrade()
            .log()
            .count("POST", "/snapTrade/registerUser"),
        1
    );
    let second = world.snaptrade_login().await;
    assert_eq!(first.user_id, second.user_id);

    world
        .engine
        .snaptrade()
        .rotate_secret(world.user)
        .await
        .unwrap();
    let rotated = world.snaptrade_login().await;
    assert_eq!(rotated.user_id, first.user_id);
    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(
        !report.has_failures(),
        "the rotated secret works: {:?}",
        report.failures()
    );
}

pub async fn a_provider_outage_keeps_its_holdings_and_reports_the_failure<S: Store + 'static>(
    world: World<S>,
) {
    world.link_everything().await;
    world.engine.sync_user(world.user).await.unwrap();
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    world
        .sandbox
        .snaptrade()
        .knobs()
        .server_error_next(100, 503);

    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(report.has_failures());
    let snaptrade = report
        .providers
        .iter()
        .find(|p| p.provider == Provider::SnapTrade)
        .unwrap();
    let failure = snaptrade
        .outcome
        .failure()
        .unwrap_or_else(|| panic!("{snaptrade:?}"));
    assert!(
        failure.is_retryable(),
        "a 503 is worth syncing again: {failure:?}"
    );
    assert!(!failure.needs_relink(), "{failure:?}");
    assert_eq!(failure.http_status(), Some(503), "{failure:?}");
    assert!(
        report
            .providers
            .iter()
            .filter(|p| p.provider != Provider::SnapTrade)
            .all(|p| p.outcome == Outcome::Synced)
    );
    assert_eq!(
        world.store().list_holdings(world.user).await.unwrap(),
        holdings
    );
    for account in world.store().list_accounts(world.user).await.unwrap() {
        let expected = if account.provider == Provider::SnapTrade {
            SyncStatus::Error
        } else {
            SyncStatus::Success
        };
        assert_eq!(account.sync_status, expected, "{account:?}");
    }
}

pub fn webhook(
    world_user: UserId,
    event_type: &str,
    authorization: &str,
    id: &str,
) -> serde_json::Value {
    json!({
        "webhookId": id,
        "clientId": "TRIBUTARY",
        "eventTimestamp": chrono::Utc::now().to_rfc3339(),
        "userId": world_user.to_string(),
        "eventType": event_type,
        "brokerageAuthorizationId": authorization,
    })
}

pub async fn a_replayed_webhook_is_not_applied_twice<S: Store + 'static>(world: World<S>) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(world.user).await.unwrap();
    let connection = world
        .store()
        .list_connections(world.user)
        .await
        .unwrap()
        .remove(0);
    let authorization = connection.authorization_id.to_string();

    let broken = webhook(world.user, "CONNECTION_BROKEN", &authorization, "hook-1");
    let first = world.deliver(&broken).await.unwrap();
    assert_eq!(
        first,
        WebhookOutcome::ConnectionUpdated {
            authorization_id: connection.authorization_id,
            status: ConnectionStatus::Disabled
        }
    );

    // Fixed in between: a replay of the broken event must not disable it again.
    let fixed = webhook(world.user, "CONNECTION_FIXED", &authorization, "hook-2");
    world.deliver(&fixed).await.unwrap();
    let replay = world.deliver(&broken).await.unwrap();
    assert_eq!(replay, WebhookOutcome::Replayed);
    let stored = world
        .store()
        .get_connection(world.user, connection.authorization_id)
        .await
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::Active);

    let body = serde_json::to_vec(&broken).unwrap();
    let forged = world
        .engine
        .snaptrade()
        .handle_webhook(Some("forged"), &body)
        .await
        .unwrap_err();
    assert!(
        matches!(
            forged,
            SyncError::Webhook(WebhookError::BadSignature { .. })
        ),
        "{forged:?}"
    );

    let unknown = webhook(world.user, "SOMETHING_NEW", &authorization, "hook-3");
    let outcome = world.deliver(&unknown).await.unwrap();
    assert!(
        matches!(outcome, WebhookOutcome::Ignored { .. }),
        "{outcome:?}"
    );
}

pub async fn each_webhook_event_type_is_acted_on<S: Store + 'static>(world: World<S>) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(world.user).await.unwrap();
    let connection = world
        .store()
        .list_connections(world.user)
        .await
        .unwrap()
        .remove(0);
    let authorization = connection.authorization_id.to_string();
    let account = world.first_account().await;

    // A new connection's accounts arrive through a resync.
    world.connect_snaptrade(ConnectionType::Trade).await;
    let mut event = webhook(
        world.user,
        "NEW_ACCOUNT_AVAILABLE",
        &authorization,
        "hook-new-account",
    );
    event["accountId"] = json!(account.provider_account_id.as_str());
    let outcome = world.deliver(&event).await.unwrap();
    let WebhookOutcome::Resynced(report) = outcome else {
        panic!("expected a resync, got {outcome:?}");
    };
    assert!(!report.has_failures(), "{:?}", report.failures());
    assert_eq!(
        world
            .store()
            .list_connections(world.user)
            .await
            .unwrap()
            .len(),
        2
    );

    // A trade update refreshes the account's orders.
    let order = limit_buy("MSFT", "1", "1.00");
    world
        .engine
        .place_order(world.user, account.id, order)
        .await
        .unwrap();
    let mut event = webhook(world.user, "TRADE_UPDATE", &authorization, "hook-trade");
    event["accountId"] = json!(account.provider_account_id.as_str());
    let outcome = world.deliver(&event).await.unwrap();
    assert_eq!(outcome, WebhookOutcome::OrdersRefreshed { written: 1 });

    // A connection of someone else is not touched.
    let stranger = webhook(
        world.user,
        "CONNECTION_BROKEN",
        &uuid_text(),
        "hook-stranger",
    );
    let outcome = world.deliver(&stranger).await.unwrap();
    assert!(
        matches!(outcome, WebhookOutcome::Ignored { .. }),
        "{outcome:?}"
    );

    // A deleted connection's row is gone; its accounts leave the portfolio, their orders stay as history;
    // the other connection stays.
    let under_deleted = |accounts: &[InvestmentAccount]| -> Vec<AccountId> {
        accounts
            .iter()
            .filter(|a| a.snaptrade_authorization_id == Some(connection.authorization_id))
            .map(|a| a.id)
            .collect()
    };
    let before = world.store().list_accounts(world.user).await.unwrap();
    let orders_before = world
        .store()
        .list_orders(world.user, Some(account.id))
        .await
        .unwrap();
    assert!(!orders_before.is_empty());
    // SnapTrade deleted it first: the webhook is only believed once SnapTrade's API confirms it.
    world
        .snaptrade
        .remove_connection(&world.snaptrade_login().await, &connection.authorization_id)
        .await
        .unwrap();
    let deleted = webhook(
        world.user,
        "CONNECTION_DELETED",
        &authorization,
        "hook-conn-deleted",
    );
    let outcome = world.deliver(&deleted).await.unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::ConnectionRemoved {
            authorization_id: connection.authorization_id,
            accounts_deactivated: under_deleted(&before).len(),
        }
    );
    assert!(matches!(
        world
            .store()
            .get_connection(world.user, connection.authorization_id)
            .await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    let connections = world.store().list_connections(world.user).await.unwrap();
    assert_eq!(connections.len(), 1);
    assert_ne!(connections[0].authorization_id, connection.authorization_id);
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    assert_eq!(accounts.len(), before.len(), "no account row is deleted");
    let retired = under_deleted(&accounts);
    assert!(retired.contains(&account.id));
    for account in &accounts {
        let of_deleted = retired.contains(&account.id);
        assert_eq!(account.is_active, !of_deleted, "{account:?}");
        if of_deleted {
            assert_eq!(account.connection_status, ConnectionStatus::Disabled);
        }
    }
    assert_eq!(
        world
            .store()
            .list_orders(world.user, Some(account.id))
            .await
            .unwrap(),
        orders_before,
        "the order history of a deleted connection's account is kept"
    );
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    assert!(!holdings.is_empty());
    assert!(holdings.iter().all(|h| {
        h.account_contributions
            .iter()
            .all(|c| !retired.contains(&c.account_id))
    }));
    let again = webhook(
        world.user,
        "CONNECTION_DELETED",
        &authorization,
        "hook-conn-deleted-again",
    );
    let outcome = world.deliver(&again).await.unwrap();
    assert!(
        matches!(&outcome, WebhookOutcome::Ignored { reason } if reason.contains("is not stored")),
        "a second deletion finds nothing left to delete: {outcome:?}"
    );
    assert_eq!(
        world.store().list_accounts(world.user).await.unwrap(),
        accounts
    );

    // The user's deletion removes their registration and every connection; accounts and orders stay.
    let login = world.snaptrade_login().await;
    world.snaptrade.delete_user(&login.user_id).await.unwrap();
    let deleted = webhook(world.user, "USER_DELETED", &authorization, "hook-deleted");
    let outcome = world.deliver(&deleted).await.unwrap();
    assert_eq!(outcome, WebhookOutcome::UserRemoved);
    assert!(
        world
            .store()
            .find_snaptrade_user(world.user)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        world
            .store()
            .list_connections(world.user)
            .await
            .unwrap()
            .is_empty()
    );
    let accounts = world.store().list_accounts(world.user).await.unwrap();
    assert_eq!(accounts.len(), before.len(), "no account row is deleted");
    assert!(
        accounts
            .iter()
            .all(|a| !a.is_active && a.connection_status == ConnectionStatus::Disabled),
        "{accounts:?}"
    );
    assert_eq!(
        world
            .store()
            .list_orders(world.user, Some(account.id))
            .await
            .unwrap(),
        orders_before
    );
    assert!(
        world
            .store()
            .list_holdings(world.user)
            .await
            .unwrap()
            .is_empty()
    );
}

fn uuid_text() -> String {
    AccountId::generate().to_string()
}

pub async fn an_account_the_provider_no_longer_reports_is_deactivated_and_its_holdings_dropped<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let old = world.link_alpaca().await;
    world.engine.sync_user(world.user).await.unwrap();
    let old_id = world.account_id(Provider::Alpaca, &old).await;
    let new = world.link_alpaca().await;

    let report = world.engine.sync_user(world.user).await.unwrap();

    assert!(!report.has_failures(), "{:?}", report.failures());
    let old_row = world.store().get_account(world.user, old_id).await.unwrap();
    assert!(!old_row.is_active);
    assert_eq!(old_row.sync_status, SyncStatus::Disabled);
    let new_id = world.account_id(Provider::Alpaca, &new).await;
    let holdings = world.store().list_holdings(world.user).await.unwrap();
    assert!(!holdings.is_empty());
    for holding in &holdings {
        assert!(
            holding
                .account_contributions
                .iter()
                .all(|c| c.account_id == new_id),
            "{holding:?}"
        );
    }
}

pub async fn no_secret_reaches_the_engine_its_reports_or_its_errors<S: Store + 'static>(
    world: World<S>,
) {
    use secrecy::ExposeSecret;
    world.connect_snaptrade(ConnectionType::Trade).await;
    let user_secret = world
        .snaptrade_login()
        .await
        .user_secret
        .expose_secret()
        .to_owned();
    let consumer_key = world.sandbox.snaptrade().consumer_key().to_owned();
    world
        .sandbox
        .snaptrade()
        .knobs()
        .server_error_next(100, 500);
    let failed = world.engine.sync_user(world.user).await.unwrap();
    world.sandbox.snaptrade().knobs().reset();
    let forged = world
        .engine
        .snaptrade()
        .handle_webhook(Some("forged"), b"{\"eventType\":\"USER_DELETED\"}")
        .await
        .unwrap_err();
    let texts = [
        format!("{:?}", world.engine),
        format!("{failed:?}"),
        failed
            .failures()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        format!("{forged:?} {forged}"),
    ];
    for text in &texts {
        assert!(!text.contains(&user_secret), "user secret in {text}");
        assert!(!text.contains(&consumer_key), "consumer key in {text}");
    }
}
