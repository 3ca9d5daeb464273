//! The Alpaca client when the Broker API misbehaves, over real HTTP against `tributary-sandbox`'s fault
//! knobs (and a proxy that drops connections): the rate-limit reset waited out, capped retries ending in
//! typed errors, an order never placed twice whatever happened to its answer, timeouts, unreadable and
//! retired answers. Bodies in a wrong shape are served by `wiremock`, which the sandbox never sends.
//!
//! Faults already covered elsewhere are not repeated here: a 5xx on submit resolved by lookup and a
//! rate limit ridden out (`alpaca_sandbox`), a timed-out submit found by lookup and a timeout naming only
//! the operation (`alpaca_client`, `shared_secrecy`).
#![cfg(feature = "alpaca")]

use std::time::Duration;

use crate::ProviderError;
use crate::alpaca::{
    AlpacaClient, AlpacaClientOrderId, AlpacaConfig, AlpacaEnvironment, AlpacaOrderRequest,
    AlpacaOrderSide, AlpacaOrderType, AlpacaTimeInForce, BrokerAccountId,
};
use chrono::{DurationRound, TimeDelta};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;
use tributary_sandbox::{RecordedRequest, Sandbox};
use url::Url;
use uuid::Uuid;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::tests::support::dropping_proxy::DroppingProxy;

/// The client's default number of attempts for a call it may repeat.
const ATTEMPTS: usize = 3;

fn client_at(sandbox: &Sandbox, base_url: &str) -> AlpacaClient {
    let config = AlpacaConfig::new(
        sandbox.alpaca().key_id(),
        SecretString::from(sandbox.alpaca().secret()),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(base_url).unwrap())
    .with_timeout(Duration::from_millis(300));
    AlpacaClient::new(config).unwrap()
}

fn client(sandbox: &Sandbox) -> AlpacaClient {
    client_at(sandbox, &sandbox.alpaca_base_url())
}

fn default_account(sandbox: &Sandbox) -> BrokerAccountId {
    BrokerAccountId::new(sandbox.alpaca().default_account_id())
}

/// A limit buy far below the market, so it stays open, with our own client_order_id.
fn limit_buy(client_order_id: &AlpacaClientOrderId) -> AlpacaOrderRequest {
    AlpacaOrderRequest {
        order_type: AlpacaOrderType::Limit {
            limit_price: Decimal::ONE,
        },
        time_in_force: AlpacaTimeInForce::GoodTillCanceled,
        ..AlpacaOrderRequest::market("AAPL", AlpacaOrderSide::Buy, Decimal::ONE)
    }
    .with_client_order_id(client_order_id.clone())
}

fn requests_to(sandbox: &Sandbox, method: &str, path: &str) -> Vec<RecordedRequest> {
    sandbox
        .alpaca()
        .log()
        .all()
        .into_iter()
        .filter(|request| request.method == method && request.path == path)
        .collect()
}

fn orders_path(account: &BrokerAccountId) -> String {
    format!("/v1/trading/accounts/{account}/orders")
}

fn positions_path(account: &BrokerAccountId) -> String {
    format!("/v1/trading/accounts/{account}/positions")
}

#[tokio::test]
async fn a_rate_limited_read_asks_again_only_after_the_reset_time_alpaca_sent() {
    let sandbox = Sandbox::start().await;
    let account = default_account(&sandbox);
    sandbox.alpaca().knobs().rate_limit_next(1, 1);

    let positions = client(&sandbox).positions(&account).await.unwrap();

    assert_eq!(positions.len(), 2);
    let asked = requests_to(&sandbox, "GET", &positions_path(&account));
    let statuses: Vec<u16> = asked.iter().map(|request| request.status).collect();
    assert_eq!(statuses, [429, 200]);
    // X-RateLimit-Reset is a unix second: at the earliest, the second after the refusal's.
    let reset = asked[0]
        .received_at
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap()
        + TimeDelta::seconds(1);
    assert!(
        asked[1].received_at >= reset,
        "asked again at {} before the reset at {reset}",
        asked[1].received_at
    );
}

#[tokio::test]
async fn a_rate_limit_reset_beyond_the_backoff_cap_is_rate_limited_at_once_with_the_wait() {
    let sandbox = Sandbox::start().await;
    let account = default_account(&sandbox);
    sandbox.alpaca().knobs().rate_limit_next(1, 60);

    let error = client(&sandbox).positions(&account).await.unwrap_err();

    let ProviderError::RateLimited {
        retry_after: Some(wait),
        ..
    } = error
    else {
        panic!("expected RateLimited with a wait, got {error:?}");
    };
    assert!(
        (Duration::from_secs(59)..=Duration::from_secs(60)).contains(&wait),
        "{wait:?}"
    );
    assert_eq!(
        requests_to(&sandbox, "GET", &positions_path(&account)).len(),
        1
    );
}

#[tokio::test]
async fn a_read_failing_with_5xx_on_every_attempt_is_upstream_after_the_capped_retries() {
    let sandbox = Sandbox::start().await;
    let account = default_account(&sandbox);
    sandbox.alpaca().knobs().server_error_next(5, 503);

    let error = client(&sandbox).positions(&account).await.unwrap_err();

    let ProviderError::Upstream(detail) = &error else {
        panic!("expected Upstream, got {error:?}");
    };
    assert_eq!(detail.status, 503);
    assert_eq!(detail.code.as_deref(), Some("50010000"));
    assert_eq!(
        requests_to(&sandbox, "GET", &positions_path(&account)).len(),
        ATTEMPTS
    );
}

#[tokio::test]
async fn a_read_whose_connection_always_drops_is_a_transport_error_after_the_capped_retries() {
    let sandbox = Sandbox::start().await;
    let proxy = DroppingProxy::start(&sandbox.alpaca_base_url(), usize::MAX).await;

    let error = client_at(&sandbox, &proxy.base_url())
        .positions(&default_account(&sandbox))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::Transport {
                endpoint: "getPositionsForAccount",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(proxy.accepted(), ATTEMPTS);
}

#[tokio::test]
async fn an_order_placed_but_its_answer_lost_is_found_by_its_client_order_id_not_placed_twice() {
    let sandbox = Sandbox::start().await;
    let account = default_account(&sandbox);
    let proxy = DroppingProxy::losing_answers(&sandbox.alpaca_base_url(), 1).await;
    let client_order_id = AlpacaClientOrderId::generate();

    let placed = client_at(&sandbox, &proxy.base_url())
        .submit_order(&account, &limit_buy(&client_order_id))
        .await
        .unwrap();

    assert_eq!(
        placed.order.client_order_id.as_deref(),
        Some(client_order_id.as_str())
    );
    assert_eq!(
        requests_to(&sandbox, "POST", &orders_path(&account)).len(),
        1
    );
    let orders = sandbox.alpaca().orders(account.as_uuid());
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["id"], placed.order.id.to_string());
}

#[tokio::test]
async fn an_order_dropped_before_alpaca_saw_it_is_looked_up_then_sent_once_more() {
    let sandbox = Sandbox::start().await;
    let account = default_account(&sandbox);
    let proxy = DroppingProxy::start(&sandbox.alpaca_base_url(), 1).await;
    let client_order_id = AlpacaClientOrderId::generate();

    let placed = client_at(&sandbox, &proxy.base_url())
        .submit_order(&account, &limit_buy(&client_order_id))
        .await
        .unwrap();

    assert_eq!(
        placed.order.client_order_id.as_deref(),
        Some(client_order_id.as_str())
    );
    let lookup = format!("{}:by_client_order_id", orders_path(&account));
    assert_eq!(requests_to(&sandbox, "GET", &lookup).len(), 1);
    assert_eq!(
        requests_to(&sandbox, "POST", &orders_path(&account)).len(),
        1
    );
    assert_eq!(sandbox.alpaca().orders(account.as_uuid()).len(), 1);
}

#[tokio::test]
async fn an_order_that_timed_out_is_placed_once_when_the_caller_retries_with_its_client_order_id() {
    let sandbox = Sandbox::start().await;
    let account = default_account(&sandbox);
    let alpaca = client(&sandbox);
    let order = limit_buy(&AlpacaClientOrderId::generate());
    // Slower than the client's 300 ms timeout, lookups included.
    sandbox
        .alpaca()
        .knobs()
        .set_latency(Duration::from_millis(600));

    let timed_out = alpaca.submit_order(&account, &order).await.unwrap_err();
    sandbox.alpaca().knobs().set_latency(Duration::ZERO);
    let placed = alpaca.submit_order(&account, &order).await.unwrap();

    assert!(
        matches!(
            timed_out,
            ProviderError::Timeout {
                endpoint: "createOrderForAccount",
                ..
            }
        ),
        "{timed_out:?}"
    );
    let orders = sandbox.alpaca().orders(account.as_uuid());
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["id"], placed.order.id.to_string());
}

#[tokio::test]
async fn a_truncated_answer_is_a_decode_error_with_the_raw_body() {
    let sandbox = Sandbox::start().await;
    sandbox.alpaca().knobs().malformed_next(1);

    let error = client(&sandbox)
        .account(&default_account(&sandbox))
        .await
        .unwrap_err();

    let ProviderError::Decode {
        endpoint, raw_body, ..
    } = &error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(*endpoint, "getAccount");
    assert_eq!(raw_body, "{\"results\": [{\"id\": ");
}

#[tokio::test]
async fn a_retired_endpoint_is_gone_with_alpacas_code() {
    let sandbox = Sandbox::start().await;
    let account = default_account(&sandbox);
    sandbox
        .alpaca()
        .knobs()
        .retire_path(&positions_path(&account));

    let error = client(&sandbox).positions(&account).await.unwrap_err();

    let ProviderError::Gone(detail) = &error else {
        panic!("expected Gone, got {error:?}");
    };
    assert_eq!(detail.status, 410);
    assert_eq!(detail.code.as_deref(), Some("41010000"));
}

/// The error for `GET /v1/accounts/{id}` answered 200 with `body`.
async fn account_answered_with(body: serde_json::Value) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let config = AlpacaConfig::new(
        "key",
        SecretString::from("secret"),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap());
    AlpacaClient::new(config)
        .unwrap()
        .account(&BrokerAccountId::new(Uuid::new_v4()))
        .await
        .unwrap_err()
}

fn raw_body_of(error: &ProviderError) -> &str {
    match error {
        ProviderError::Decode { raw_body, .. } => raw_body,
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[tokio::test]
async fn an_account_missing_a_required_field_is_a_decode_error_with_the_raw_body() {
    let error = account_answered_with(json!({
        "id": Uuid::new_v4(),
        "currency": "USD",
        "created_at": "2026-01-02T03:04:05Z",
    }))
    .await;

    assert!(raw_body_of(&error).contains("\"currency\":\"USD\""));
    assert!(error.to_string().contains("status"), "{error}");
}

#[tokio::test]
async fn an_account_field_of_the_wrong_type_is_a_decode_error_with_the_raw_body() {
    let error = account_answered_with(json!({
        "id": 42,
        "status": "ACTIVE",
        "currency": "USD",
        "created_at": "2026-01-02T03:04:05Z",
    }))
    .await;

    assert!(raw_body_of(&error).contains("\"id\":42"));
    assert!(error.to_string().contains("invalid type"), "{error}");
}
