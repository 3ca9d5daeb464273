//! The Alpaca client against `tributary-sandbox`'s Broker API server on 127.0.0.1: Basic auth, orders that
//! fill and cancel, client_order_id uniqueness, buying power, and faults on demand.
#![cfg(feature = "alpaca")]

use crate::ProviderError;
use crate::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
use crate::capability::{
    AccountRef, BrokerageAccounts, OrderRequest, OrderScope, OrderSize, Trading,
};
use rust_decimal::Decimal;
use secrecy::SecretString;
use tributary_domain::{
    AccountId, BrokerageOrderId, ClientOrderId, OrderAction, OrderStatus, Price, ProviderAccountId,
    Symbol, Units, UserId,
};
use tributary_sandbox::{MarketFill, Sandbox, SeedAccount};
use url::Url;
use uuid::Uuid;

use crate::tests::support::dec;

fn client_with_secret(sandbox: &Sandbox, secret: &str) -> AlpacaClient {
    let config = AlpacaConfig::new(
        sandbox.alpaca().key_id(),
        SecretString::from(secret),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&sandbox.alpaca_base_url()).unwrap());
    AlpacaClient::new(config).unwrap()
}

fn client(sandbox: &Sandbox) -> AlpacaClient {
    client_with_secret(sandbox, sandbox.alpaca().secret())
}

fn account_ref(id: Uuid) -> AccountRef {
    AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse(&id.to_string()).unwrap(),
    }
}

/// The rows the client reads from an account's seeded history: the sandbox's default account holds a filled
/// multi-leg options order (alpaca-broker-api.yaml `MultilegOptionsOrderResponse`), listed as the order and
/// each of its legs.
fn seeded_rows(sandbox: &Sandbox, account: Uuid) -> usize {
    let history = sandbox.alpaca().seeded_orders(account);
    let legs = |order: &serde_json::Value| order["legs"].as_array().map_or(0, Vec::len);
    history.iter().map(|order| 1 + legs(order)).sum()
}

fn units(text: &str) -> OrderSize {
    OrderSize::Units(Units::parse(text).unwrap())
}

fn market(symbol: &str, action: OrderAction, size: &str) -> OrderRequest {
    OrderRequest::market(Symbol::parse(symbol).unwrap(), action, units(size))
        .expect("an order for a positive size")
}

fn limit_buy(symbol: &str, size: &str, limit: &str) -> OrderRequest {
    OrderRequest::limit(
        Symbol::parse(symbol).unwrap(),
        OrderAction::Buy,
        units(size),
        Price::parse(limit).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_market_buy_fills_and_is_listed_among_closed_orders() {
    let sandbox = Sandbox::start().await;
    let account = account_ref(sandbox.alpaca().default_account_id());
    let alpaca = client(&sandbox);

    let placed = alpaca
        .place_order(&(), &account, &market("AAPL", OrderAction::Buy, "2"))
        .await
        .unwrap();
    let closed = alpaca
        .list_orders(&(), &account, OrderScope::Closed)
        .await
        .unwrap()
        .items;

    assert_eq!(placed.status, OrderStatus::Filled);
    assert_eq!(placed.filled_units.map(Units::get), Some(dec("2")));
    assert!(placed.average_fill_price.is_some());
    let history = seeded_rows(&sandbox, sandbox.alpaca().default_account_id());
    assert_eq!(closed.len(), 1 + history);
    assert_eq!(closed[0].brokerage_order_id, placed.brokerage_order_id);
}

#[tokio::test]
async fn a_limit_order_stays_open_until_cancelled() {
    let sandbox = Sandbox::start().await;
    let account = account_ref(sandbox.alpaca().default_account_id());
    let alpaca = client(&sandbox);

    let placed = alpaca
        .place_order(&(), &account, &limit_buy("MSFT", "1", "100"))
        .await
        .unwrap();
    let open = alpaca
        .list_orders(&(), &account, OrderScope::Open)
        .await
        .unwrap()
        .items;
    Trading::cancel_order(&alpaca, &(), &account, &placed.brokerage_order_id)
        .await
        .unwrap();
    let after = alpaca
        .list_orders(&(), &account, OrderScope::All)
        .await
        .unwrap()
        .items;

    assert!(placed.status.is_open(), "{:?}", placed.status);
    assert_eq!(open.len(), 1);
    let history = seeded_rows(&sandbox, sandbox.alpaca().default_account_id());
    assert_eq!(after.len(), 1 + history);
    assert_eq!(after[0].status, OrderStatus::Canceled);
    assert!(after[0].cancelled_at.is_some());
}

#[tokio::test]
async fn cancelling_a_filled_order_is_rejected_with_alpacas_code() {
    let sandbox = Sandbox::start().await;
    let account = account_ref(sandbox.alpaca().default_account_id());
    let alpaca = client(&sandbox);
    let filled = alpaca
        .place_order(&(), &account, &market("AAPL", OrderAction::Buy, "1"))
        .await
        .unwrap();

    let error = Trading::cancel_order(&alpaca, &(), &account, &filled.brokerage_order_id)
        .await
        .unwrap_err();

    let ProviderError::Rejected(detail) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(detail.status, 422);
    assert_eq!(detail.code.as_deref(), Some("42210000"));
}

#[tokio::test]
async fn a_server_error_on_submit_is_resolved_by_lookup_and_places_exactly_one_order() {
    let sandbox = Sandbox::start().await;
    let account_id = sandbox.alpaca().default_account_id();
    let account = account_ref(account_id);
    sandbox.alpaca().knobs().server_error_next(1, 502);
    let order = market("SPY", OrderAction::Buy, "1")
        .with_client_order_id(ClientOrderId::parse("once-only-1").unwrap());

    let placed = client(&sandbox)
        .place_order(&(), &account, &order)
        .await
        .unwrap();

    assert_eq!(placed.status, OrderStatus::Filled);
    assert_eq!(sandbox.alpaca().orders(account_id).len(), 1);
    assert_eq!(
        placed.raw_order_data.as_ref().unwrap()["client_order_id"],
        "once-only-1"
    );
}

#[tokio::test]
async fn placing_the_same_client_order_id_twice_returns_the_first_order_and_places_one() {
    // The sandbox refuses the reused id with 422 as Alpaca does; the client reads that as "it exists".
    let sandbox = Sandbox::start().await;
    let account_id = sandbox.alpaca().default_account_id();
    let account = account_ref(account_id);
    let alpaca = client(&sandbox);
    let order =
        limit_buy("VTI", "1", "50").with_client_order_id(ClientOrderId::parse("dup-1").unwrap());

    let first = alpaca.place_order(&(), &account, &order).await.unwrap();
    let again = alpaca.place_order(&(), &account, &order).await.unwrap();

    assert_eq!(again.brokerage_order_id, first.brokerage_order_id);
    assert_eq!(again.status, OrderStatus::Accepted);
    assert_eq!(sandbox.alpaca().orders(account_id).len(), 1);
    assert_eq!(
        sandbox
            .alpaca()
            .log()
            .count("POST", &format!("/v1/trading/accounts/{account_id}/orders")),
        2
    );
}

#[tokio::test]
async fn a_buy_beyond_buying_power_is_warned_about_then_refused() {
    let sandbox = Sandbox::start().await;
    let poor = sandbox
        .alpaca()
        .seed_account(SeedAccount::new(Decimal::from(100), 0));
    let account = account_ref(poor);
    let alpaca = client(&sandbox);
    let order = limit_buy("AAPL", "10", "150");

    let impact = alpaca.order_impact(&(), &account, &order).await.unwrap();
    let error = alpaca.place_order(&(), &account, &order).await.unwrap_err();

    assert!(
        impact
            .warnings
            .iter()
            .any(|warning| warning.contains("buying power")),
        "{:?}",
        impact.warnings
    );
    let ProviderError::Rejected(detail) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(detail.status, 403);
    assert_eq!(detail.message, "insufficient buying power");
}

#[tokio::test]
async fn a_market_order_waits_until_the_market_steps() {
    let sandbox = Sandbox::start().await;
    sandbox.alpaca().set_market_fill(MarketFill::OnStep);
    let account = account_ref(sandbox.alpaca().default_account_id());
    let alpaca = client(&sandbox);

    let placed = alpaca
        .place_order(&(), &account, &market("TSLA", OrderAction::Buy, "1"))
        .await
        .unwrap();
    sandbox.alpaca().step();
    let closed = alpaca
        .list_orders(&(), &account, OrderScope::Closed)
        .await
        .unwrap()
        .items;

    assert_eq!(placed.status, OrderStatus::Accepted);
    assert_eq!(closed[0].status, OrderStatus::Filled);
}

#[tokio::test]
async fn the_account_and_positions_are_read_as_domain_values() {
    let sandbox = Sandbox::start().await;
    let id = ProviderAccountId::parse(&sandbox.alpaca().default_account_id().to_string()).unwrap();
    let alpaca = client(&sandbox);

    let account = alpaca.brokerage_account(&(), &id).await.unwrap();
    let positions = alpaca.account_positions(&(), &id).await.unwrap().items;

    assert_eq!(account.provider_account_id, id);
    assert!(account.cash.is_some());
    let symbols: Vec<&str> = positions
        .iter()
        .map(|position| position.symbol.as_str())
        .collect();
    assert_eq!(symbols, ["AAPL", "MSFT"]);
}

#[tokio::test]
async fn reads_wait_out_a_rate_limit_reset_and_succeed() {
    let sandbox = Sandbox::start().await;
    sandbox.alpaca().knobs().rate_limit_next(1, 1);
    let id = ProviderAccountId::parse(&sandbox.alpaca().default_account_id().to_string()).unwrap();

    let positions = client(&sandbox)
        .account_positions(&(), &id)
        .await
        .unwrap()
        .items;

    assert_eq!(positions.len(), 2);
    assert_eq!(
        sandbox.alpaca().log().count("GET", "/v1/trading/accounts"),
        2
    );
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let sandbox = Sandbox::start().await;
    let id = ProviderAccountId::parse(&sandbox.alpaca().default_account_id().to_string()).unwrap();

    let error = client_with_secret(&sandbox, "wrong")
        .brokerage_account(&(), &id)
        .await
        .unwrap_err();

    let ProviderError::Unauthorized(detail) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(detail.code.as_deref(), Some("40110000"));
}

#[tokio::test]
async fn cancelling_an_unknown_order_is_not_found() {
    let sandbox = Sandbox::start().await;
    let account = account_ref(sandbox.alpaca().default_account_id());
    let unknown = BrokerageOrderId::parse(&Uuid::new_v4().to_string()).unwrap();

    let error = Trading::cancel_order(&client(&sandbox), &(), &account, &unknown)
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::NotFound(_)), "got {error:?}");
}

fn client_with_timeout(sandbox: &Sandbox, timeout: std::time::Duration) -> AlpacaClient {
    let config = AlpacaConfig::new(
        sandbox.alpaca().key_id(),
        SecretString::from(sandbox.alpaca().secret()),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&sandbox.alpaca_base_url()).unwrap())
    .with_timeout(timeout);
    AlpacaClient::new(config).unwrap()
}

#[tokio::test]
async fn an_order_whose_answer_is_lost_is_found_by_its_client_order_id_and_placed_once() {
    for how in [
        tributary_sandbox::LostAnswer::ConnectionClosed,
        tributary_sandbox::LostAnswer::ServerError(502),
    ] {
        let sandbox = Sandbox::start().await;
        let account_id = sandbox.alpaca().default_account_id();
        sandbox.alpaca().lose_order_answers(1, how);
        let order = limit_buy("VTI", "1", "50")
            .with_client_order_id(ClientOrderId::parse("lost-answer-1").unwrap());

        let placed = client(&sandbox)
            .place_order(&(), &account_ref(account_id), &order)
            .await
            .unwrap();

        assert_eq!(sandbox.alpaca().order_count(account_id), 1, "{how:?}");
        assert_eq!(
            placed.raw_order_data.as_ref().unwrap()["client_order_id"],
            "lost-answer-1"
        );
    }
}

#[tokio::test]
async fn an_order_answered_after_the_timeout_exists_and_find_order_sees_it() {
    let sandbox = Sandbox::start().await;
    let account_id = sandbox.alpaca().default_account_id();
    let account = account_ref(account_id);
    sandbox
        .alpaca()
        .delay_order_answers(1, std::time::Duration::from_secs(5));
    let alpaca = client_with_timeout(&sandbox, std::time::Duration::from_millis(300));
    let id = ClientOrderId::parse("late-answer-1").unwrap();
    let order = limit_buy("VTI", "1", "50").with_client_order_id(id.clone());

    // The client times out, looks the order up, and finds it: one order, never two.
    let placed = alpaca.place_order(&(), &account, &order).await.unwrap();
    let found = alpaca.find_order(&(), &account, &id).await.unwrap();

    assert_eq!(sandbox.alpaca().order_count(account_id), 1);
    assert_eq!(
        found.map(|order| order.brokerage_order_id),
        Some(placed.brokerage_order_id)
    );
}

#[tokio::test]
async fn find_order_in_the_sandbox_is_none_for_an_order_never_sent() {
    let sandbox = Sandbox::start().await;
    let account = account_ref(sandbox.alpaca().default_account_id());

    let found = client(&sandbox)
        .find_order(&(), &account, &ClientOrderId::parse("never-sent").unwrap())
        .await
        .unwrap();

    assert_eq!(found, None);
}

/// More orders than one page holds (the spec's `limit` max is 500): every one is listed, through the capability
/// and through the client with a small page.
#[tokio::test]
async fn an_account_with_more_orders_than_a_page_has_every_order_listed() {
    let sandbox = Sandbox::start().await;
    let alpaca = client(&sandbox);
    let id = sandbox.alpaca().default_account_id();
    let broker_account = crate::alpaca::BrokerAccountId::new(id);
    let total = 501;
    for _ in 0..total {
        let order = crate::alpaca::AlpacaOrderRequest {
            order_type: crate::alpaca::AlpacaOrderType::Limit {
                limit_price: dec("0.01"),
            },
            ..crate::alpaca::AlpacaOrderRequest::market(
                "AAPL",
                crate::alpaca::AlpacaOrderSide::Buy,
                Decimal::ONE,
            )
        };
        alpaca.submit_order(&broker_account, &order).await.unwrap();
    }

    let listed = Trading::list_orders(&alpaca, &(), &account_ref(id), OrderScope::All)
        .await
        .unwrap();
    assert!(listed.left_out.is_empty(), "{:?}", listed.left_out);
    let listed = listed.items;
    let small_pages = alpaca
        .orders(
            &broker_account,
            &crate::alpaca::AlpacaOrderQuery {
                status: crate::alpaca::AlpacaOrderStatusFilter::Open,
                limit: Some(7),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let distinct = |ids: Vec<String>| ids.into_iter().collect::<std::collections::HashSet<_>>();
    // Every placed order, and the account's filled history (all listed; not among the open ones).
    let history = seeded_rows(&sandbox, id);
    assert_eq!(
        distinct(
            listed
                .iter()
                .map(|row| row.brokerage_order_id.as_str().to_owned())
                .collect()
        )
        .len(),
        total + history
    );
    assert_eq!(listed.len(), total + history);
    assert_eq!(small_pages.len(), total);
    assert_eq!(
        distinct(
            small_pages
                .iter()
                .map(|order| order.order.id.to_string())
                .collect()
        ),
        sandbox
            .alpaca()
            .orders(id)
            .iter()
            .map(|order| order["id"].as_str().unwrap().to_owned())
            .collect()
    );
    let pages = sandbox
        .alpaca()
        .log()
        .all()
        .iter()
        .filter(|entry| entry.method == "GET" && entry.path.ends_with("/orders"))
        .count();
    assert!(pages >= 2 + 501 / 7, "{pages} pages were read");
}

#[tokio::test]
async fn the_partners_accounts_are_listed_oldest_first_with_their_status() {
    let sandbox = Sandbox::start().await;
    let default = sandbox.alpaca().default_account_id();
    let opened = sandbox
        .alpaca()
        .seed_account(SeedAccount::new(Decimal::from(5_000), 1));
    let listed = client(&sandbox).accounts().await.expect("the account list");
    let ids: Vec<Uuid> = listed.iter().map(|account| account.id).collect();
    assert_eq!(
        ids,
        vec![default, opened],
        "oldest first, as the spec sorts"
    );
    assert!(listed.iter().all(|account| account.status == "ACTIVE"));
    assert!(listed.iter().all(|account| account.currency == "USD"));
}

#[tokio::test]
async fn the_broker_accounts_are_the_partners_accounts_as_stored_account_ids() {
    let sandbox = Sandbox::start().await;
    let default = sandbox.alpaca().default_account_id();
    let opened = sandbox
        .alpaca()
        .seed_account(SeedAccount::new(Decimal::from(5_000), 1));

    let listed = client(&sandbox)
        .broker_accounts()
        .await
        .expect("the account list");

    let ids: Vec<String> = listed
        .iter()
        .map(|account| account.id.to_string())
        .collect();
    assert_eq!(ids, vec![default.to_string(), opened.to_string()]);
    assert!(listed.iter().all(|account| account.status == "ACTIVE"));
}

#[tokio::test]
async fn listing_accounts_with_a_wrong_secret_is_unauthorized() {
    let sandbox = Sandbox::start().await;
    let listed = client_with_secret(&sandbox, "not-the-secret")
        .accounts()
        .await;
    assert!(
        matches!(listed, Err(ProviderError::Unauthorized(_))),
        "{listed:?}"
    );
}
