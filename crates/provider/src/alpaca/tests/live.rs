//! The Alpaca client against Alpaca's real Broker API sandbox (`https://broker-api.sandbox.alpaca.markets`),
//! to catch what the local sandbox cannot: a drifted payload, a status Alpaca added, auth it changed.
//!
//! Every test is `#[ignore]`d, so `cargo test` and CI never reach the internet. To run them, with Broker
//! API sandbox keys and the id of one of the sandbox's customer accounts (Broker dashboard → Accounts):
//!
//! ```sh
//! ALPACA_BROKER_API_KEY=... ALPACA_BROKER_API_SECRET=... ALPACA_BROKER_ACCOUNT_ID=<uuid> \
//!     cargo test -p tributary-provider --all-features --lib alpaca::tests::live -- --ignored
//! ```
//!
//! `ALPACA_BROKER_BASE_URL` may stay unset (the sandbox is the default); one that points anywhere else
//! fails the tests, which never trade real money. A missing variable fails the test with its name. The
//! order test places a limit buy far below the market (1 share at $1), finds it by its client_order_id
//! and cancels it; on an account without buying power it fails with Alpaca's refusal.
#![cfg(feature = "alpaca")]

use crate::ProviderError;
use crate::alpaca::{
    AlpacaClient, AlpacaClientOrderId, AlpacaConfig, AlpacaEnvironment, AlpacaOrderQuery,
    AlpacaOrderRequest, AlpacaOrderSide, AlpacaOrderStatusFilter, AlpacaOrderType,
    AlpacaTimeInForce, BrokerAccountId,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::tests::support::{configured, required_variable};

/// The variable naming the sandbox customer account the tests read.
const ENV_ACCOUNT_ID: &str = "ALPACA_BROKER_ACCOUNT_ID";

/// A client from the environment, refused unless it points at the Broker API sandbox.
fn sandbox_client() -> AlpacaClient {
    let config = configured(AlpacaConfig::from_env());
    assert_eq!(
        config.base_url(),
        &AlpacaEnvironment::Sandbox.base_url(),
        "ALPACA_BROKER_BASE_URL must be unset or the sandbox: these tests never run against production"
    );
    AlpacaClient::new(config).expect("the HTTP client builds")
}

fn sandbox_account() -> BrokerAccountId {
    BrokerAccountId::parse(&required_variable(ENV_ACCOUNT_ID))
        .unwrap_or_else(|error| panic!("{ENV_ACCOUNT_ID}: {error}"))
}

#[tokio::test]
#[ignore = "talks to the real Alpaca Broker API sandbox; needs ALPACA_BROKER_API_KEY, ALPACA_BROKER_API_SECRET and ALPACA_BROKER_ACCOUNT_ID"]
async fn the_account_its_balances_positions_and_open_orders_parse() {
    let alpaca = sandbox_client();
    let account = sandbox_account();

    let details = alpaca.account(&account).await.unwrap();
    let trading = alpaca.trading_account(&account).await.unwrap();
    let positions = alpaca.positions(&account).await.unwrap();
    let open = alpaca
        .orders(&account, &AlpacaOrderQuery::default())
        .await
        .unwrap();

    assert_eq!(details.id, account.as_uuid());
    assert!(!details.status.is_empty());
    assert_eq!(details.currency.len(), 3, "{}", details.currency);
    assert_eq!(trading.id, account.as_uuid());
    assert_eq!(trading.currency, details.currency);
    assert!(
        trading.buying_power >= Decimal::ZERO,
        "{}",
        trading.buying_power
    );
    for position in &positions {
        assert!(!position.symbol.is_empty());
        assert!(
            matches!(position.side.as_str(), "long" | "short"),
            "{}",
            position.side
        );
    }
    assert!(
        open.iter()
            .all(|order| order.order.client_order_id.is_some()),
        "every open order carries a client_order_id"
    );
}

#[tokio::test]
#[ignore = "talks to the real Alpaca Broker API sandbox; needs ALPACA_BROKER_API_KEY and ALPACA_BROKER_API_SECRET"]
async fn an_account_alpaca_does_not_have_is_not_found() {
    let alpaca = sandbox_client();
    let unknown = BrokerAccountId::new(Uuid::new_v4());

    let error = alpaca.account(&unknown).await.unwrap_err();

    let ProviderError::NotFound(detail) = &error else {
        panic!("expected NotFound (the keys were accepted), got {error:?}");
    };
    assert_eq!(detail.status, 404);
}

#[tokio::test]
#[ignore = "talks to the real Alpaca Broker API sandbox; needs ALPACA_BROKER_API_KEY, ALPACA_BROKER_API_SECRET and ALPACA_BROKER_ACCOUNT_ID"]
async fn a_limit_order_far_below_the_market_is_found_by_its_client_order_id_and_cancelled() {
    let alpaca = sandbox_client();
    let account = sandbox_account();
    let client_order_id = AlpacaClientOrderId::generate();
    let order = AlpacaOrderRequest {
        order_type: AlpacaOrderType::Limit {
            limit_price: Decimal::ONE,
        },
        time_in_force: AlpacaTimeInForce::GoodTillCanceled,
        ..AlpacaOrderRequest::market("AAPL", AlpacaOrderSide::Buy, Decimal::ONE)
    }
    .with_client_order_id(client_order_id.clone());

    let placed = alpaca.submit_order(&account, &order).await.unwrap();
    let found = alpaca
        .order_by_client_order_id(&account, &client_order_id)
        .await;
    let cancelled = alpaca.cancel_order(&account, placed.order.id).await;

    assert_eq!(
        placed.order.client_order_id.as_deref(),
        Some(client_order_id.as_str())
    );
    let found = found
        .unwrap()
        .expect("the order is found by its client_order_id");
    assert_eq!(found.order.id, placed.order.id);
    cancelled.unwrap();
    let closed = alpaca
        .orders(
            &account,
            &AlpacaOrderQuery {
                status: AlpacaOrderStatusFilter::All,
                symbols: vec!["AAPL".into()],
                ..AlpacaOrderQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        closed
            .iter()
            .filter(
                |listed| listed.order.client_order_id.as_deref() == Some(client_order_id.as_str())
            )
            .count(),
        1,
        "exactly one order carries the client_order_id"
    );
}
