//! Every table checked against the sandbox, field by field, after the flow a user goes through: SnapTrade
//! connected through its portal, a Plaid Item linked through Link's sandbox tokens, an Alpaca account with
//! three positions, orders placed through the engine and at Alpaca directly; on the same [`World`] as the rest
//! of the engine's scenarios, on both stores.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use tributary_domain::{
    AccountId, AccountMode, Amount, BrokerageConnection, ConnectionStatus, ConnectionType, Holding,
    InstitutionName, InvestmentAccount, Order, OrderAction, Price, Provider, ProviderAccountId,
    Symbol, SyncStatus, Units, UniversalSymbolId, UserId,
};
use tributary_provider::RoutingRefusal;
use tributary_provider::capability::{
    AccountInfo, AccountRef, Aggregation, BrokerageAccounts, OrderRequest, OrderSize, Position,
    PositionSide, ProviderConnectionId, Trading,
};
use tributary_repo::Store;
use tributary_sandbox::Sandbox;
use tributary_sync::source::Logins;
use tributary_sync::{SyncError, SyncReport};
use uuid::Uuid;

use super::World;

/// The institution and product the Plaid sandbox links without Link's browser (as `examples/support` does).
const PLAID_SANDBOX_INSTITUTION: &str = "ins_109508";
const PLAID_SANDBOX_PRODUCT: &str = "investments";

impl<S: Store + 'static> World<S> {
    /// A SnapTrade trade connection through the portal, a Plaid Item through Link's sandbox tokens, an Alpaca
    /// account with three positions: what the quickstart links.
    async fn link_everything_through_link(&self) {
        self.connect_snaptrade(ConnectionType::Trade).await;
        let public_token = self
            .plaid
            .create_sandbox_public_token(
                PLAID_SANDBOX_INSTITUTION,
                &[PLAID_SANDBOX_PRODUCT.to_owned()],
            )
            .await
            .unwrap();
        let item = self
            .plaid
            .exchange_public_token(public_token.expose_secret())
            .await
            .unwrap();
        self.plaid_items.add(self.user, item.access_token);
        self.link_alpaca().await;
    }

    async fn sync(&self) -> SyncReport {
        let report = self.engine.sync_user(self.user).await.unwrap();
        assert!(!report.has_failures(), "{:?}", report.failures());
        report
    }

    async fn accounts(&self) -> Vec<InvestmentAccount> {
        self.store().list_accounts(self.user).await.unwrap()
    }

    async fn account(&self, provider: Provider) -> InvestmentAccount {
        self.accounts()
            .await
            .into_iter()
            .find(|a| a.provider == provider)
            .unwrap_or_else(|| panic!("a {provider} account is stored"))
    }

    /// Every account and position the three providers report for the user, read through the clients.
    async fn at_the_providers(&self) -> (Vec<AccountInfo>, Vec<(Provider, Position)>) {
        let (mut accounts, mut positions) = (Vec::new(), Vec::new());
        let snaptrade = self.snaptrade.as_ref();
        let login = self.snaptrade_login().await;
        accounts.extend(Aggregation::accounts(snaptrade, &login).await.unwrap());
        let found = Aggregation::positions(snaptrade, &login).await.unwrap();
        positions.extend(found.items.into_iter().map(|p| (Provider::SnapTrade, p)));

        let plaid = self.plaid.as_ref();
        let items = self.plaid_items.as_ref();
        for token in items.logins(self.store(), self.user).await.unwrap() {
            accounts.extend(Aggregation::accounts(plaid, &token).await.unwrap());
            let found = Aggregation::positions(plaid, &token).await.unwrap();
            positions.extend(found.items.into_iter().map(|p| (Provider::Plaid, p)));
        }

        let alpaca = self.alpaca.as_ref();
        let summary = self.store().portfolio_mode(self.user).await.unwrap();
        if let Some(id) = summary.alpaca_account_id {
            accounts.push(alpaca.brokerage_account(&(), &id).await.unwrap());
            let found = alpaca.account_positions(&(), &id).await.unwrap();
            positions.extend(found.items.into_iter().map(|p| (Provider::Alpaca, p)));
        }
        (accounts, positions)
    }

    /// An order placed at Alpaca directly, not through the engine: the user trading elsewhere.
    async fn trade_at_alpaca(&self, order: &OrderRequest) {
        let account = self.account(Provider::Alpaca).await;
        let reference = AccountRef {
            user_id: self.user,
            account_id: account.id,
            provider_account_id: account.provider_account_id,
        };
        let alpaca = self.alpaca.as_ref();
        Trading::place_order(alpaca, &(), &reference, order)
            .await
            .unwrap();
    }

    /// Every row the user has, in every table the engine writes.
    async fn rows(&self) -> Rows {
        let store = self.store();
        Rows {
            connections: store.list_connections(self.user).await.unwrap(),
            accounts: self.accounts().await,
            holdings: store.list_holdings(self.user).await.unwrap(),
            orders: store.list_orders(self.user, None).await.unwrap(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Rows {
    connections: Vec<BrokerageConnection>,
    accounts: Vec<InvestmentAccount>,
    holdings: Vec<Holding>,
    orders: Vec<Order>,
}

fn uuid_of(id: &ProviderAccountId) -> Uuid {
    id.as_str().parse().expect("sandbox account ids are UUIDs")
}

/// Each stored connection is the sandbox's authorization, field by field.
fn check_connections(sandbox: &Sandbox, user: UserId, rows: &Rows) {
    let at_sandbox = sandbox.snaptrade().authorizations(&user.to_string());
    assert_eq!(rows.connections.len(), at_sandbox.len());
    for authorization in &at_sandbox {
        let id = authorization["id"].as_str().unwrap();
        let stored = rows
            .connections
            .iter()
            .find(|c| c.authorization_id.to_string() == id)
            .unwrap_or_else(|| panic!("connection {id} is stored"));
        let brokerage = &authorization["brokerage"];
        assert_eq!(stored.brokerage_name.as_str(), brokerage["name"]);
        assert_eq!(stored.brokerage_slug.as_str(), brokerage["slug"]);
        assert_eq!(stored.connection_type.as_str(), authorization["type"]);
        assert_eq!(authorization["disabled"], false);
        assert_eq!(stored.status, ConnectionStatus::Active);
        assert_eq!(stored.disabled_date, None);
        assert_eq!(stored.error_message, None);
        assert!(stored.last_synced_at.is_some());
        let accounts = rows
            .accounts
            .iter()
            .filter(|a| a.snaptrade_authorization_id == Some(stored.authorization_id))
            .count();
        assert_eq!(usize::from(stored.accounts_count), accounts);
    }
}

/// Each stored account is what its provider reports, field by field, and nothing else is stored.
fn check_accounts(at_providers: &[AccountInfo], rows: &Rows) {
    assert_eq!(rows.accounts.len(), at_providers.len());
    for info in at_providers {
        let stored = rows
            .accounts
            .iter()
            .find(|a| {
                a.provider == info.provider && a.provider_account_id == info.provider_account_id
            })
            .unwrap_or_else(|| {
                panic!(
                    "{} account {} is stored",
                    info.provider, info.provider_account_id
                )
            });
        if let Some(institution) = &info.institution {
            assert_eq!(&stored.institution_name, institution);
        }
        assert_eq!(stored.account_name, info.name);
        assert_eq!(stored.account_type, info.account_type);
        assert_eq!(stored.account_subtype, info.account_subtype);
        assert_eq!(
            stored.account_mode,
            AccountMode::parse(info.provider.as_str()).unwrap()
        );
        assert!(stored.is_active);
        assert_eq!(stored.sync_status, SyncStatus::Success);
        assert_eq!(stored.sync_error_message, None);
        assert!(stored.last_synced.is_some());
        match (&info.provider_connection_id, info.provider) {
            (Some(ProviderConnectionId::Authorization(authorization)), Provider::SnapTrade) => {
                assert_eq!(stored.snaptrade_authorization_id, Some(*authorization));
                assert_eq!(stored.connection_type, ConnectionType::Trade);
                assert_eq!(stored.connection_status, ConnectionStatus::Active);
                assert!(stored.brokerage_name.is_some());
            }
            (Some(ProviderConnectionId::Item(item)), Provider::Plaid) => {
                assert_eq!(stored.provider_item_id.as_ref(), Some(item));
                assert_eq!(stored.connection_type, ConnectionType::Read);
                assert_eq!(stored.snaptrade_authorization_id, None);
            }
            (_, Provider::Alpaca) => {
                assert_eq!(stored.connection_type, ConnectionType::Trade);
                assert_eq!(stored.snaptrade_authorization_id, None);
            }
            other => panic!("unexpected connection for {other:?}"),
        }
    }
}

/// One account's part of a holding: quantity, market value, cost basis and institution.
type Part = (Decimal, Decimal, Decimal, InstitutionName);

/// A position as a holdings row stores it: value = the provider's, else price × quantity; cost basis or 0.
fn part(position: &Position, institution: &InstitutionName) -> Part {
    let value = match (position.market_value, position.price) {
        (Some(value), _) => value.get(),
        (None, Some(price)) => price.get() * position.quantity.get(),
        (None, None) => Decimal::ZERO,
    };
    let cost = position.cost_basis.map_or(Decimal::ZERO, |c| c.get());
    let column = |v: Decimal| Amount::new(v).unwrap().get();
    (
        position.quantity.get(),
        column(value),
        column(cost),
        institution.clone(),
    )
}

/// Each stored holding is the sum of the long positions in its symbol across every account and provider,
/// with one contribution per account, the institution breakdown, and SnapTrade's symbol id and option
/// contract; no other symbol is stored.
fn check_holdings(positions: &[(Provider, Position)], rows: &Rows) {
    let account_of = |provider: Provider, id: &ProviderAccountId| {
        rows.accounts
            .iter()
            .find(|a| a.provider == provider && &a.provider_account_id == id)
            .unwrap_or_else(|| panic!("{provider} account {id} is stored"))
    };
    let mut expected: BTreeMap<Symbol, BTreeMap<AccountId, Part>> = BTreeMap::new();
    for (provider, position) in positions
        .iter()
        .filter(|(_, p)| p.side == PositionSide::Long)
    {
        let account = account_of(*provider, &position.provider_account_id);
        expected
            .entry(position.symbol.clone())
            .or_default()
            .insert(account.id, part(position, &account.institution_name));
    }
    let stored: BTreeSet<&Symbol> = rows.holdings.iter().map(|h| &h.symbol).collect();
    assert_eq!(stored, expected.keys().collect::<BTreeSet<_>>());

    for holding in &rows.holdings {
        let parts = &expected[&holding.symbol];
        let contributions: BTreeMap<AccountId, Part> = holding
            .account_contributions
            .iter()
            .map(|c| {
                let part = (
                    c.quantity.get(),
                    c.market_value.get(),
                    c.cost_basis.get(),
                    c.institution.clone(),
                );
                (c.account_id, part)
            })
            .collect();
        assert_eq!(&contributions, parts, "{}", holding.symbol);
        let sum = |pick: fn(&Part) -> Decimal| parts.values().map(pick).sum::<Decimal>();
        assert_eq!(holding.figures.total_quantity.get(), sum(|p| p.0));
        assert_eq!(holding.figures.total_market_value.get(), sum(|p| p.1));
        assert_eq!(holding.figures.total_cost_basis.get(), sum(|p| p.2));
        assert_eq!(holding.account_count as usize, parts.len());
        let institutions: BTreeSet<String> = parts.values().map(|p| p.3.to_string()).collect();
        assert_eq!(
            holding
                .institution_breakdown
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>(),
            institutions
        );
        for (institution, totals) in &holding.institution_breakdown {
            let at = || parts.values().filter(|p| p.3.as_str() == institution);
            assert_eq!(totals.quantity, at().map(|p| p.0).sum::<Decimal>());
            assert_eq!(totals.market_value, at().map(|p| p.1).sum::<Decimal>());
            assert_eq!(totals.account_count as usize, at().count());
        }

        let of_symbol = || positions.iter().filter(|(_, p)| p.symbol == holding.symbol);
        let snaptrade_symbol_id = of_symbol()
            .filter(|(provider, _)| *provider == Provider::SnapTrade)
            .find_map(|(_, p)| p.security_id.as_ref())
            .and_then(|id| UniversalSymbolId::parse(id.as_str()).ok());
        assert_eq!(
            holding.universal_symbol_id, snaptrade_symbol_id,
            "{}",
            holding.symbol
        );
        let contract = of_symbol().find_map(|(_, p)| p.option_contract.clone());
        assert_eq!(holding.option_contract, contract, "{}", holding.symbol);
        for (provider, _) in of_symbol() {
            assert!(
                holding.provider_metadata.contains_key(provider.as_str()),
                "{} has no {provider} metadata: {:?}",
                holding.symbol,
                holding.provider_metadata
            );
        }
    }
}

/// Each stored order is an order the sandbox holds, its raw_order_data exactly the sandbox's JSON, and
/// every sandbox order of a trading account is stored.
fn check_orders(sandbox: &Sandbox, rows: &Rows) {
    for account in &rows.accounts {
        let at_sandbox = match account.provider {
            Provider::SnapTrade => sandbox
                .snaptrade()
                .orders(uuid_of(&account.provider_account_id)),
            Provider::Alpaca => sandbox
                .alpaca()
                .orders(uuid_of(&account.provider_account_id)),
            _ => continue,
        };
        let stored: Vec<&Order> = rows
            .orders
            .iter()
            .filter(|o| o.account_id == account.id)
            .collect();
        assert_eq!(
            stored.len(),
            at_sandbox.len(),
            "orders of {}",
            account.provider_account_id
        );
        for order in stored {
            let id_field = if account.provider == Provider::Alpaca {
                "id"
            } else {
                "brokerage_order_id"
            };
            let raw = at_sandbox
                .iter()
                .find(|o| o[id_field] == order.brokerage_order_id.as_str())
                .unwrap_or_else(|| panic!("order {} is at the sandbox", order.brokerage_order_id));
            assert_eq!(order.raw_order_data.as_ref(), Some(raw));
            let ticker = match account.provider {
                Provider::SnapTrade => &raw["universal_symbol"]["symbol"],
                _ => &raw["symbol"],
            };
            assert_eq!(order.symbol.as_str(), ticker.as_str().unwrap());
            assert_eq!(
                order.status.as_str().to_lowercase(),
                canonical_status(&raw["status"])
            );
        }
    }
}

/// The sandbox's status spelled as the schema's (lowercased): Alpaca's `new` is `ACCEPTED`, its `filled`
/// SnapTrade's `EXECUTED`.
fn canonical_status(status: &serde_json::Value) -> String {
    match status.as_str().unwrap().to_lowercase().as_str() {
        "new" => "accepted".to_owned(),
        "filled" => "executed".to_owned(),
        "cancelled" => "canceled".to_owned(),
        other => other.to_owned(),
    }
}

/// Checks every table against the sandbox.
async fn check_every_table<S: Store + 'static>(world: &World<S>) -> Rows {
    let (accounts, positions) = world.at_the_providers().await;
    let rows = world.rows().await;
    check_connections(&world.sandbox, world.user, &rows);
    check_accounts(&accounts, &rows);
    check_holdings(&positions, &rows);
    check_orders(&world.sandbox, &rows);
    rows
}

fn limit_buy(symbol: &str, units: &str, limit: &str) -> OrderRequest {
    OrderRequest::limit(
        Symbol::parse(symbol).unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse_exact(units).unwrap()),
        Price::parse_exact(limit).unwrap(),
    )
    .unwrap()
}

pub async fn a_sync_leaves_every_table_as_the_sandbox_holds_it<S: Store + 'static>(
    world: World<S>,
) {
    world.link_everything_through_link().await;
    world.sync().await;
    let snaptrade_account = world.account(Provider::SnapTrade).await;
    world
        .engine
        .place_order(
            world.user,
            snaptrade_account.id,
            limit_buy("MSFT", "2", "5.00"),
        )
        .await
        .unwrap();
    world.trade_at_alpaca(&limit_buy("AAPL", "1", "2.50")).await;

    world.sync().await;

    let rows = check_every_table(&world).await;
    assert_eq!(rows.connections.len(), 1);
    assert_eq!(
        rows.accounts.len(),
        2 + 2 + 1,
        "two per SnapTrade connection and Plaid Item, one Alpaca"
    );
    assert_eq!(rows.orders.len(), 2);
    assert!(rows.holdings.iter().any(|h| h.option_contract.is_some()));
    assert!(
        rows.holdings.iter().any(|h| h.account_count > 1),
        "a symbol held in several accounts"
    );
}

pub async fn a_second_sync_after_an_order_changes_no_table<S: Store + 'static>(world: World<S>) {
    world.link_everything_through_link().await;
    world.sync().await;
    let account = world.account(Provider::SnapTrade).await;
    world
        .engine
        .place_order(world.user, account.id, limit_buy("TSLA", "1", "3.00"))
        .await
        .unwrap();
    world.sync().await;
    let first = world.rows().await;

    let second = world.sync().await;

    assert_eq!((second.holdings.written, second.holdings.removed), (0, 0));
    let again = world.rows().await;
    assert_eq!(
        again.holdings, first.holdings,
        "holdings, updated_at included"
    );
    assert_eq!(again.orders, first.orders, "orders, updated_at included");
    // A sync records when it ran on accounts and connections, and nothing else about them changes.
    assert_eq!(
        without_sync_times(&again).accounts,
        without_sync_times(&first).accounts
    );
    assert_eq!(
        without_sync_times(&again).connections,
        without_sync_times(&first).connections
    );
    for (before, after) in first.connections.iter().zip(&again.connections) {
        assert!(after.last_synced_at > before.last_synced_at);
    }
    check_every_table(&world).await;
}

/// The rows without the columns a sync moves forward by running (when it ran, so when the row changed).
fn without_sync_times(rows: &Rows) -> Rows {
    let mut rows = rows.clone();
    for account in &mut rows.accounts {
        account.last_synced = None;
        account.updated_at = None;
    }
    for connection in &mut rows.connections {
        connection.last_synced_at = None;
        connection.updated_at = None;
    }
    rows
}

pub async fn a_position_sold_at_the_sandbox_disappears_from_the_holdings<S: Store + 'static>(
    world: World<S>,
) {
    world.link_everything_through_link().await;
    world.sync().await;
    let alpaca = world.account(Provider::Alpaca).await;
    let (_, positions) = world.at_the_providers().await;
    let sold = positions
        .iter()
        .find(|(provider, _)| *provider == Provider::Alpaca)
        .map(|(_, p)| p.clone())
        .expect("the Alpaca account holds positions");
    let everything = Units::new(sold.quantity.get()).unwrap();
    let sell = OrderRequest::market(
        sold.symbol.clone(),
        OrderAction::Sell,
        OrderSize::Units(everything),
    )
    .expect("an order for a positive size");
    world.trade_at_alpaca(&sell).await;

    let report = world.sync().await;

    assert!(report.holdings.removed + report.holdings.written >= 1);
    let rows = check_every_table(&world).await;
    let still_held_here = rows
        .holdings
        .iter()
        .filter(|h| h.symbol == sold.symbol)
        .flat_map(|h| &h.account_contributions)
        .any(|c| c.account_id == alpaca.id);
    assert!(
        !still_held_here,
        "{} is still counted in the Alpaca account",
        sold.symbol
    );
}

pub async fn broken_connections_end_disabled_or_in_error_with_their_messages<S: Store + 'static>(
    world: World<S>,
) {
    world.link_everything_through_link().await;
    world.sync().await;
    let connection = world.rows().await.connections.remove(0);
    let disabled = world
        .sandbox
        .snaptrade()
        .disable_connection(*connection.authorization_id.as_uuid());
    assert!(disabled);
    let plaid_item = world
        .account(Provider::Plaid)
        .await
        .provider_item_id
        .unwrap();
    assert!(world.sandbox.plaid().require_login(plaid_item.as_str()));

    let report = world.engine.sync_user(world.user).await.unwrap();

    let stored = world
        .store()
        .get_connection(world.user, connection.authorization_id)
        .await
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::Disabled);
    assert!(stored.disabled_date.is_some());
    let message = stored
        .error_message
        .expect("a disabled connection says why");
    assert!(!message.as_str().is_empty());
    let reported = report
        .connections
        .iter()
        .find(|c| c.authorization_id == connection.authorization_id)
        .unwrap();
    assert_eq!(reported.status, ConnectionStatus::Disabled);
    assert_eq!(reported.message.as_deref(), Some(message.as_str()));
    for account in world.accounts().await {
        match account.provider {
            Provider::SnapTrade => {
                assert_eq!(account.connection_status, ConnectionStatus::Disabled);
                assert_eq!(account.sync_status, SyncStatus::Disabled);
            }
            Provider::Plaid => {
                assert_eq!(account.sync_status, SyncStatus::Error, "{account:?}");
                let why = account
                    .sync_error_message
                    .expect("a failed account says why");
                assert!(why.as_str().contains("ITEM_LOGIN_REQUIRED"), "{why}");
            }
            _ => assert_eq!(account.sync_status, SyncStatus::Success, "{account:?}"),
        }
    }
}

pub async fn a_read_only_connection_refuses_a_limit_order<S: Store + 'static>(world: World<S>) {
    world.connect_snaptrade(ConnectionType::Read).await;
    world.sync().await;
    let account = world.account(Provider::SnapTrade).await;
    assert_eq!(account.connection_type, ConnectionType::Read);

    let refused = world
        .engine
        .place_order(world.user, account.id, limit_buy("AAPL", "1", "1.00"))
        .await
        .unwrap_err();

    assert!(
        matches!(&refused, SyncError::Refused(RoutingRefusal::ReadOnlyConnection { account: a }) if *a == account.id),
        "{refused:?}"
    );
    assert!(world.rows().await.orders.is_empty());
    assert_eq!(world.sandbox.snaptrade().log().count("POST", "/trade"), 0);
}
