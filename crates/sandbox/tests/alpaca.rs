//! The Alpaca Broker sandbox checks Basic auth and keeps orders the way Alpaca does.

mod support;

use serde_json::{Value, json};
use support::json;
use tributary_sandbox::{AlpacaSandbox, MarketFill, Sandbox};
use uuid::Uuid;

fn orders_url(server: &AlpacaSandbox, account: Uuid) -> String {
    format!("{}/v1/trading/accounts/{account}/orders", server.base_url())
}

fn client(server: &AlpacaSandbox, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, url)
        .basic_auth(server.key_id(), Some(server.secret()))
}

async fn create(server: &AlpacaSandbox, account: Uuid, body: Value) -> reqwest::Response {
    client(server, reqwest::Method::POST, orders_url(server, account))
        .json(&body)
        .send()
        .await
        .expect("answer")
}

#[tokio::test]
async fn bad_basic_auth_is_a_401_with_alpacas_body() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1/accounts/{}",
            server.base_url(),
            server.default_account_id()
        ))
        .basic_auth(server.key_id(), Some("wrong"))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        json(response, 401).await,
        json!({"code": 40110000, "message": "request is not authorized"})
    );
    let anonymous = reqwest::get(format!("{}/v1/accounts", server.base_url()))
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn account_trading_account_and_positions_are_served_with_decimal_strings() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let base = server.base_url();
    let get = |path: String| client(server, reqwest::Method::GET, format!("{base}{path}")).send();
    let described = json(
        get(format!("/v1/accounts/{account}"))
            .await
            .expect("answer"),
        200,
    )
    .await;
    assert_eq!(described["status"], "ACTIVE");
    let trading = json(
        get(format!("/v1/trading/accounts/{account}/account"))
            .await
            .expect("answer"),
        200,
    )
    .await;
    assert_eq!(trading["cash"], "100000");
    let positions = json(
        get(format!("/v1/trading/accounts/{account}/positions"))
            .await
            .expect("answer"),
        200,
    )
    .await;
    assert_eq!(positions[0]["symbol"], "AAPL");
    assert!(positions[0]["qty"].is_string());
}

#[tokio::test]
async fn a_market_order_fills_and_moves_the_position() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let body = json!({"symbol": "TSLA", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day", "client_order_id": "c-1"});
    let order = json(create(server, account, body).await, 200).await;
    assert_eq!(order["status"], "filled");
    assert_eq!(order["filled_qty"], "3");
    assert_eq!(order["filled_avg_price"], "240");
    let positions = client(
        server,
        reqwest::Method::GET,
        format!(
            "{}/v1/trading/accounts/{account}/positions",
            server.base_url()
        ),
    );
    let positions = json(positions.send().await.expect("answer"), 200).await;
    assert!(
        positions
            .as_array()
            .expect("list")
            .iter()
            .any(|p| p["symbol"] == "TSLA" && p["qty"] == "3")
    );
}

#[tokio::test]
async fn a_duplicate_client_order_id_is_refused_with_422_and_no_second_order() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let body = json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "100", "time_in_force": "gtc", "client_order_id": "once"});
    json(create(server, account, body.clone()).await, 200).await;
    let again = json(create(server, account, body).await, 422).await;
    assert_eq!(again["message"], "client_order_id must be unique");
    assert_eq!(server.orders(account).len(), 1);
}

#[tokio::test]
async fn a_limit_order_stays_open_until_cancelled_and_is_found_by_client_order_id() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let body = json!({"symbol": "AAPL", "qty": "2", "side": "buy", "type": "limit", "limit_price": "150", "time_in_force": "gtc", "client_order_id": "lim-1"});
    let order = json(create(server, account, body).await, 200).await;
    assert_eq!(order["status"], "new");
    let id = order["id"].as_str().expect("an id").to_owned();

    let by_client = format!(
        "{}:by_client_order_id?client_order_id=lim-1",
        orders_url(server, account)
    );
    let found = json(
        client(server, reqwest::Method::GET, by_client.clone())
            .send()
            .await
            .expect("answer"),
        200,
    )
    .await;
    assert_eq!(found["id"], id.as_str());

    let open = json(
        client(server, reqwest::Method::GET, orders_url(server, account))
            .send()
            .await
            .expect("answer"),
        200,
    )
    .await;
    assert_eq!(open.as_array().map(Vec::len), Some(1));

    let one = format!("{}/{id}", orders_url(server, account));
    let cancelled = client(server, reqwest::Method::DELETE, one.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(cancelled.status(), 204);
    let again = client(server, reqwest::Method::DELETE, one.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(json(again, 422).await["code"], 42210000);
    let fetched = json(
        client(server, reqwest::Method::GET, one)
            .send()
            .await
            .expect("answer"),
        200,
    )
    .await;
    assert_eq!(fetched["status"], "canceled");

    let closed = format!("{}?status=closed", orders_url(server, account));
    let closed = json(
        client(server, reqwest::Method::GET, closed)
            .send()
            .await
            .expect("answer"),
        200,
    )
    .await;
    assert_eq!(closed.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn on_step_market_orders_wait_until_stepped() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    server.set_market_fill(MarketFill::OnStep);
    let account = server.default_account_id();
    let body = json!({"symbol": "SPY", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"});
    assert_eq!(
        json(create(server, account, body).await, 200).await["status"],
        "accepted"
    );
    assert_eq!(server.step(), 1);
    assert_eq!(server.orders(account)[0]["status"], "filled");
}

#[tokio::test]
async fn a_buy_beyond_cash_is_refused_for_buying_power() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let body = json!({"symbol": "SPY", "qty": "100000", "side": "buy", "type": "market", "time_in_force": "day"});
    let refusal = json(create(server, account, body).await, 403).await;
    assert_eq!(refusal["code"], 40310000);
}

#[tokio::test]
async fn a_rate_limit_carries_the_reset_as_a_unix_time() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    server.knobs().rate_limit_next(1, 30);
    let url = format!("{}/v1/accounts", server.base_url());
    let limited = client(server, reqwest::Method::GET, url.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(limited.status(), 429);
    let reset: i64 = limited.headers()["x-ratelimit-reset"]
        .to_str()
        .ok()
        .and_then(|t| t.parse().ok())
        .expect("a reset");
    assert!(reset >= chrono::Utc::now().timestamp() + 29);
    assert_eq!(
        client(server, reqwest::Method::GET, url)
            .send()
            .await
            .expect("answer")
            .status(),
        200
    );
}

/// alpaca-broker-api.yaml, `CreateOrderRequest.client_order_id`: "A unique identifier for the order"; Alpaca
/// refuses a reused one even after the first order was cancelled (alpaca-py#260).
#[tokio::test]
async fn alpaca_sandbox_refuses_a_client_order_id_reused_after_a_cancel_as_alpaca_does() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let body = json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "100", "time_in_force": "gtc", "client_order_id": "reuse-after-cancel"});
    let first = json(create(server, account, body.clone()).await, 200).await;
    let cancel = format!(
        "{}/{}",
        orders_url(server, account),
        first["id"].as_str().unwrap()
    );
    let cancelled = client(server, reqwest::Method::DELETE, cancel)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 204);

    let again = json(create(server, account, body).await, 422).await;

    assert_eq!(again["message"], "client_order_id must be unique");
    assert_eq!(server.order_count(account), 1);
}

/// alpaca-broker-api.yaml, `CreateOrderRequest.qty`: "Can be fractionable for only market and day order
/// types"; `CreateOrderRequest.notional`: "Only market and limit orders supported with time_in_force = day".
#[tokio::test]
async fn alpaca_sandbox_takes_fractions_and_notional_only_where_the_spec_says() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    for refused in [
        json!({"symbol": "AAPL", "qty": "0.5", "side": "buy", "type": "limit", "limit_price": "100", "time_in_force": "day"}),
        json!({"symbol": "AAPL", "qty": "0.5", "side": "buy", "type": "market", "time_in_force": "gtc"}),
        json!({"symbol": "AAPL", "notional": "50", "side": "buy", "type": "market", "time_in_force": "gtc"}),
        json!({"symbol": "AAPL", "notional": "50", "side": "buy", "type": "stop", "stop_price": "100", "time_in_force": "day"}),
        json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "0", "time_in_force": "day"}),
        json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day", "client_order_id": ""}),
    ] {
        json(create(server, account, refused).await, 422).await;
    }
    assert_eq!(server.order_count(account), 0);
    for accepted in [
        json!({"symbol": "AAPL", "qty": "0.5", "side": "buy", "type": "market", "time_in_force": "day"}),
        json!({"symbol": "AAPL", "notional": "50", "side": "buy", "type": "limit", "limit_price": "100", "time_in_force": "day"}),
    ] {
        json(create(server, account, accepted).await, 200).await;
    }
    assert_eq!(server.order_count(account), 2);
}

/// Every route the Alpaca client uses answers as `specs/alpaca-broker-api.yaml`'s response schema says:
/// required fields present, formats right (the account's identity, the trading account's balances, positions,
/// orders in every state, the order lookups, and the list of accounts).
#[tokio::test]
async fn every_answer_the_client_reads_satisfies_the_spec_response_schema() {
    let spec = tributary_spec::Spec::load("alpaca-broker-api.yaml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    server.set_market_fill(MarketFill::Immediate);
    let account = server.default_account_id();
    // Orders in several states: filled, open, canceled.
    let filled = json(
        create(server, account, json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"})).await,
        200,
    )
    .await;
    let open = json(
        create(server, account, json!({"symbol": "MSFT", "qty": "2", "side": "buy", "type": "limit", "limit_price": "1", "time_in_force": "gtc", "client_order_id": "open-one"})).await,
        200,
    )
    .await;
    let canceled = json(
        create(server, account, json!({"symbol": "AAPL", "notional": "10", "side": "buy", "type": "limit", "limit_price": "1", "time_in_force": "day"})).await,
        200,
    )
    .await;
    let cancel = client(
        server,
        reqwest::Method::DELETE,
        format!(
            "{}/{}",
            orders_url(server, account),
            canceled["id"].as_str().unwrap()
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(cancel.status(), 204);
    let base = server.base_url();
    let order_id = filled["id"].as_str().unwrap();
    let routes = [
        (
            "/v1/accounts/{account_id}",
            format!("/v1/accounts/{account}"),
        ),
        (
            "/v1/trading/accounts/{account_id}/account",
            format!("/v1/trading/accounts/{account}/account"),
        ),
        (
            "/v1/trading/accounts/{account_id}/positions",
            format!("/v1/trading/accounts/{account}/positions"),
        ),
        (
            "/v1/trading/accounts/{account_id}/orders",
            format!("/v1/trading/accounts/{account}/orders?status=all&nested=true"),
        ),
        (
            "/v1/trading/accounts/{account_id}/orders/{order_id}",
            format!("/v1/trading/accounts/{account}/orders/{order_id}"),
        ),
        (
            "/v1/trading/accounts/{account_id}/orders:by_client_order_id",
            format!(
                "/v1/trading/accounts/{account}/orders:by_client_order_id?client_order_id=open-one"
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (template, route) in routes {
        let body = json(
            client(server, reqwest::Method::GET, format!("{base}{route}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        if let Err(error) = spec.validate_response("get", template, 200, &body) {
            failures.push(error);
        }
    }
    for order in [&filled, &open, &canceled] {
        if let Err(error) = spec.validate_response(
            "post",
            "/v1/trading/accounts/{account_id}/orders",
            200,
            order,
        ) {
            failures.push(error);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
