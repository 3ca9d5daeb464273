//! The Alpaca Broker sandbox checks Basic auth and keeps orders the way Alpaca does.

use std::collections::HashSet;

use crate::support::json;
use serde_json::{Value, json};
use tributary_sandbox::{AlpacaSandbox, MarketFill, Sandbox, SeedAccount};
use tributary_spec::Spec;
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

    let closed = format!("{}?status=closed&nested=true", orders_url(server, account));
    let closed = json(
        client(server, reqwest::Method::GET, closed)
            .send()
            .await
            .expect("answer"),
        200,
    )
    .await;
    // The canceled order, then (older) the account's seeded multi-leg order.
    let closed: Vec<&Value> = closed
        .as_array()
        .expect("a list")
        .iter()
        .map(|order| &order["id"])
        .collect();
    assert_eq!(
        closed,
        [&json!(id), &server.seeded_orders(account)[0]["id"]]
    );
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

/// A schema violation as "location: message", array indices written `*`, so the same deviation in another item
/// of a list reads the same.
fn normalized(violation: &str) -> String {
    let (location, message) = violation.split_once(": ").unwrap_or(("", violation));
    let location: Vec<&str> = location
        .split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|byte| byte.is_ascii_digit()) {
                "*"
            } else {
                segment
            }
        })
        .collect();
    format!("{}: {message}", location.join("/"))
}

/// The violations of `components.schemas.Order` found in `order`, normalized (`Err` text of
/// `Spec::validate_schema`: a title line, then one violation per line).
fn order_violations(spec: &Spec, order: &Value) -> Vec<String> {
    match spec.validate_schema("Order", order) {
        Ok(()) => Vec::new(),
        Err(report) => report
            .lines()
            .skip(1)
            .map(|line| normalized(line.trim()))
            .collect(),
    }
}

/// Where the spec's own order examples break its `Order` schema: `MultilegOptionsOrderResponse` has `asset_id:
/// ''` (`format: uuid`), `asset_class: ''` and `side: ''` (neither enum lists an empty value), and legs with
/// `type: ''`/`order_type: ''` and `legs: null` (`OrderLeg.legs` is `type: object`) — legs that a list which is
/// not `nested` shows as orders of their own, so each leg is checked as an `Order` too. The spec documents
/// answers shaped so, so an answer may deviate there, the same way, and nowhere else.
fn deviations_the_spec_makes(spec: &Spec) -> HashSet<String> {
    spec.response_examples("post", "/v1/trading/accounts/{account_id}/orders")
        .iter()
        .filter(|example| example.status == "200")
        .flat_map(|example| {
            let legs = example.value["legs"].as_array().into_iter().flatten();
            std::iter::once(&example.value).chain(legs)
        })
        .flat_map(|order| order_violations(spec, order))
        .collect()
}

/// Checks an answer that is one order, or a list of orders, against `Order`: every violation must be one the
/// spec's own examples make.
fn check_orders(
    spec: &Spec,
    tolerated: &HashSet<String>,
    route: &str,
    body: &Value,
) -> Vec<String> {
    let orders = match body {
        Value::Array(orders) => orders.iter().collect(),
        order => vec![order],
    };
    orders
        .into_iter()
        .flat_map(|order| {
            order_violations(spec, order)
                .into_iter()
                .filter(|violation| !tolerated.contains(violation))
                .map(move |violation| format!("{route}: {violation}\n  order: {order}"))
        })
        .collect()
}

#[test]
fn the_specs_own_multi_leg_example_breaks_its_order_schema_only_where_the_sandbox_may() {
    let spec = Spec::load("alpaca-broker-api.yaml");
    let tolerated = deviations_the_spec_makes(&spec);
    for expected in [
        "/asset_id: \"\" is not a \"uuid\"",
        "/side: \"\" is not one of",
        "/legs/*/type: \"\" is not one of",
    ] {
        assert!(
            tolerated.iter().any(|found| found.starts_with(expected)),
            "{expected} not among {tolerated:#?}"
        );
    }
    assert!(
        tolerated.iter().all(|found| [
            "/asset_id:",
            "/asset_class:",
            "/side:",
            "/type:",
            "/order_type:",
            "/legs/*/type:",
            "/legs/*/order_type:",
            "/legs/*/legs:"
        ]
        .iter()
        .any(|location| found.starts_with(location))),
        "{tolerated:#?}"
    );
}

/// Every path the Alpaca sandbox serves answers as `specs/alpaca-broker-api.yaml`'s response schema says:
/// required fields present, formats right (the list of accounts, an account's identity, its trading account,
/// positions, orders in every state and both list forms, the order lookups; and the error bodies). An order may
/// deviate from `Order` only where the spec's own examples do.
#[tokio::test]
async fn every_answer_of_every_path_satisfies_the_spec_response_schema() {
    let spec = Spec::load("alpaca-broker-api.yaml");
    let tolerated = deviations_the_spec_makes(&spec);
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    server.set_market_fill(MarketFill::Immediate);
    let account = server.default_account_id();
    // Orders in several states: filled, open, canceled; and the account's seeded multi-leg order.
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
    let multileg = &server.seeded_orders(account)[0];
    let mut failures = Vec::new();
    let mut checked = HashSet::new();
    let mut get = async |template: &str, route: String, status: u16| {
        checked.insert(format!("get {template}"));
        json(
            client(server, reqwest::Method::GET, format!("{base}{route}"))
                .send()
                .await
                .unwrap(),
            status,
        )
        .await
    };
    for (template, route) in [
        ("/v1/accounts", "/v1/accounts".to_owned()),
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
    ] {
        let body = get(template, route, 200).await;
        if let Err(error) = spec.validate_response("get", template, 200, &body) {
            failures.push(error);
        }
    }
    let orders = "/v1/trading/accounts/{account_id}/orders";
    for query in ["status=all&nested=true", "status=all&nested=false"] {
        let listed = get(
            orders,
            format!("/v1/trading/accounts/{account}/orders?{query}"),
            200,
        )
        .await;
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(if query.ends_with("true") { 4 } else { 6 }),
            "{query}: {listed}"
        );
        failures.extend(check_orders(&spec, &tolerated, orders, &listed));
    }
    for (template, route) in [
        (
            "/v1/trading/accounts/{account_id}/orders/{order_id}",
            format!(
                "/v1/trading/accounts/{account}/orders/{}",
                filled["id"].as_str().unwrap()
            ),
        ),
        (
            "/v1/trading/accounts/{account_id}/orders/{order_id}",
            format!(
                "/v1/trading/accounts/{account}/orders/{}",
                multileg["id"].as_str().unwrap()
            ),
        ),
        (
            "/v1/trading/accounts/{account_id}/orders:by_client_order_id",
            format!(
                "/v1/trading/accounts/{account}/orders:by_client_order_id?client_order_id=open-one"
            ),
        ),
    ] {
        let body = get(template, route, 200).await;
        failures.extend(check_orders(&spec, &tolerated, template, &body));
    }
    for order in [&filled, &open, &canceled] {
        failures.extend(check_orders(&spec, &tolerated, orders, order));
    }
    // The error bodies: `components.responses.NotFound`/`NotAuthorized`/`BadRequest` are `Error`.
    let unknown = get(
        "/v1/accounts/{account_id}",
        format!("/v1/accounts/{}", Uuid::new_v4()),
        404,
    )
    .await;
    let not_cancelable = json(
        client(
            server,
            reqwest::Method::DELETE,
            format!(
                "{}/{}",
                orders_url(server, account),
                filled["id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap(),
        422,
    )
    .await;
    let anonymous = json(
        reqwest::get(format!("{base}/v1/accounts")).await.unwrap(),
        401,
    )
    .await;
    checked.insert(format!("post {orders}"));
    // `deleteOrderForAccount` answers 204 without a body, or 422 for an order no longer cancelable.
    checked.insert("delete /v1/trading/accounts/{account_id}/orders/{order_id}".to_owned());
    for error in [&unknown, &not_cancelable, &anonymous] {
        if let Err(violation) = spec.validate_schema("Error", error) {
            failures.push(violation);
        }
    }
    assert_eq!(checked.len(), 9, "{checked:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// alpaca-broker-api.yaml `components.examples.MultilegOptionsOrderResponse`, in the default account's history
/// (and an account seeded with it): the order has no asset, symbol or side of its own, its legs no type;
/// `nested=true` rolls the legs up under it ("If true, the result will roll up multi-leg orders under the legs
/// field of primary order"), otherwise they are listed after it as orders of their own and its `legs` is null.
#[tokio::test]
async fn the_default_account_holds_a_multi_leg_order_shaped_like_the_specs_example() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let seeded = server.seeded_orders(account);
    assert_eq!(seeded.len(), 1);
    let order = &seeded[0];
    for (field, value) in [
        ("asset_id", json!("")),
        ("symbol", json!("")),
        ("side", json!("")),
        ("asset_class", json!("")),
        ("order_class", json!("mleg")),
        ("type", json!("limit")),
        ("status", json!("filled")),
        ("limit_price", json!("10")),
        ("filled_avg_price", json!("1.28")),
    ] {
        assert_eq!(order[field], value, "{field}: {order}");
    }
    let legs = order["legs"].as_array().expect("legs");
    let shape: Vec<(&str, &str, &str, &str, &str)> = legs
        .iter()
        .map(|leg| {
            (
                leg["symbol"].as_str().unwrap(),
                leg["side"].as_str().unwrap(),
                leg["position_intent"].as_str().unwrap(),
                leg["qty"].as_str().unwrap(),
                leg["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("AAPL241213C00250000", "buy", "buy_to_open", "3", ""),
            ("AAPL241213C00260000", "sell", "sell_to_open", "1", ""),
        ]
    );
    // Not counted among the orders placed through the API.
    assert!(server.orders(account).is_empty());
    assert_eq!(server.order_count(account), 0);
    // An account a test seeds has it only when asked.
    let plain = server.seed_account(SeedAccount::default());
    assert!(server.seeded_orders(plain).is_empty());
    let asked = server.seed_account(SeedAccount::default().with_multileg_order());
    assert_eq!(server.seeded_orders(asked).len(), 1);

    let list = |query: &'static str| {
        client(
            server,
            reqwest::Method::GET,
            format!("{}?{query}", orders_url(server, account)),
        )
        .send()
    };
    let nested = json(list("status=all&nested=true").await.unwrap(), 200).await;
    assert_eq!(nested, json!([order]));
    let flat = json(list("status=closed&nested=false").await.unwrap(), 200).await;
    let ids: Vec<&Value> = flat
        .as_array()
        .unwrap()
        .iter()
        .map(|listed| &listed["id"])
        .collect();
    assert_eq!(ids, [&order["id"], &legs[0]["id"], &legs[1]["id"]]);
    assert!(flat[0]["legs"].is_null(), "{flat}");
    // By a leg's contract; and not among the open orders.
    let by_contract = json(
        list("status=all&nested=true&symbols=AAPL241213C00260000")
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(by_contract.as_array().map(Vec::len), Some(1));
    let open = json(list("status=open").await.unwrap(), 200).await;
    assert_eq!(open, json!([]));
    // A filled order cannot be cancelled.
    let cancel = client(
        server,
        reqwest::Method::DELETE,
        format!(
            "{}/{}",
            orders_url(server, account),
            order["id"].as_str().unwrap()
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(json(cancel, 422).await["code"], 42210000);
}

/// alpaca-py 0.44.0 sends `GetOrdersRequest.nested` as Python writes a bool (`True`), and Alpaca answers it.
#[tokio::test]
async fn the_order_list_reads_nested_as_alpaca_py_writes_it() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    for (nested, listed) in [("True", 1), ("False", 3), ("true", 1), ("false", 3)] {
        let url = format!("{}?status=all&nested={nested}", orders_url(server, account));
        let answer = json(
            client(server, reqwest::Method::GET, url)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(answer.as_array().map(Vec::len), Some(listed), "{nested}");
    }
    let url = format!("{}?nested=yes", orders_url(server, account));
    let refused = client(server, reqwest::Method::GET, url)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
}

/// alpaca-py 0.44.0 `alpaca.broker.models.accounts.TradeAccount` requires keys the Broker spec only lists; the
/// fields the SDK says Alpaca removed on 2026-07-06 are not sent.
#[tokio::test]
async fn the_trading_account_carries_every_key_alpaca_py_requires() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let url = format!(
        "{}/v1/trading/accounts/{account}/account",
        server.base_url()
    );
    let trading = json(
        client(server, reqwest::Method::GET, url)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    for key in [
        "cash_withdrawable",
        "cash_transferable",
        "previous_close",
        "last_long_market_value",
        "last_short_market_value",
        "last_cash",
        "last_initial_margin",
        "last_regt_buying_power",
        "last_buying_power",
        "clearing_broker",
    ] {
        assert!(trading.get(key).is_some(), "{key}: {trading}");
    }
    assert_eq!(trading["clearing_broker"], "VELOX");
    assert!(
        chrono::DateTime::parse_from_rfc3339(trading["previous_close"].as_str().unwrap()).is_ok()
    );
    for removed in ["daytrading_buying_power", "daytrade_count"] {
        assert!(trading.get(removed).is_none(), "{removed}: {trading}");
    }
}
