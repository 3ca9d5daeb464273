//! Spec-driven tests, generated from `specs/alpaca-broker-api.yaml` (found through `tributary_spec::specs_dir`):
//! for every operation the Alpaca client calls, every example the spec gives its 2xx response (on the response
//! itself, or as `x-examples` on the schema it returns), the required-only shape of that schema (built from its
//! `required` list and the spec's property examples) and the example with every nullable field null are served on
//! 127.0.0.1 and must parse and convert through the capability traits. Nothing here is copied from the spec by
//! hand: an example the spec adds is covered without a new test.

use crate::ProviderError;
use crate::alpaca::{AlpacaClientOrderId, AlpacaOrderRequest, AlpacaOrderSide, BrokerAccountId};
use crate::capability::{BrokerageAccounts, OrderScope, PlacedOrder, Trading};
use serde_json::{Map, Value, json};
use tributary_domain::{ClientOrderId, ProviderAccountId};
use tributary_spec::Spec;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SPEC: &str = "alpaca-broker-api.yaml";
use crate::tests::support::alpaca::{ACCOUNT, account, client};
use crate::tests::support::dec;
const ACCOUNTS_PATH: &str = "/v1/accounts";
const ACCOUNT_PATH: &str = "/v1/accounts/{account_id}";
const TRADING_ACCOUNT_PATH: &str = "/v1/trading/accounts/{account_id}/account";
const POSITIONS_PATH: &str = "/v1/trading/accounts/{account_id}/positions";
const ORDERS_PATH: &str = "/v1/trading/accounts/{account_id}/orders";
const ORDER_PATH: &str = "/v1/trading/accounts/{account_id}/orders/{order_id}";
const BY_CLIENT_ORDER_ID_PATH: &str = "/v1/trading/accounts/{account_id}/orders:by_client_order_id";

/// Every operation the client calls that answers with a body, as the spec writes it.
const READ_OPERATIONS: [(&str, &str); 8] = [
    ("get", ACCOUNTS_PATH),
    ("get", ACCOUNT_PATH),
    ("get", TRADING_ACCOUNT_PATH),
    ("get", POSITIONS_PATH),
    ("get", ORDERS_PATH),
    ("post", ORDERS_PATH),
    ("get", ORDER_PATH),
    ("get", BY_CLIENT_ORDER_ID_PATH),
];

fn concrete(template: &str) -> String {
    template.replace("{account_id}", ACCOUNT)
}

/// The schema a 2xx answer of `method` `path` has: `(item schema, is an array)`.
fn response_schema<'a>(spec: &'a Spec, method: &str, path: &str) -> Option<(&'a Value, bool)> {
    let responses = spec.operation(method, path)["responses"].as_object()?;
    let (_, response) = responses
        .iter()
        .find(|(status, _)| status.starts_with('2'))?;
    let schema = spec
        .resolve(response)
        .pointer("/content/application~1json/schema")?;
    if let Some(items) = schema.get("items") {
        return Some((items, true));
    }
    Some((schema, false))
}

/// Every example of a 2xx answer: the operation's own, and the `x-examples` of the schema it returns (an item
/// example becomes a one-item list where the answer is a list).
fn examples(spec: &Spec, method: &str, path: &str) -> Vec<(String, Value)> {
    let mut all: Vec<(String, Value)> = spec
        .response_examples(method, path)
        .into_iter()
        .filter(|example| example.status.starts_with('2'))
        .map(|example| (format!("{method} {path} {}", example.name), example.value))
        .collect();
    if let Some((schema, list)) = response_schema(spec, method, path) {
        for (name, example) in spec
            .resolve(schema)
            .get("x-examples")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let body = if list {
                json!([example])
            } else {
                example.clone()
            };
            all.push((format!("{method} {path} x-examples {name}"), body));
        }
    }
    all
}

/// A value for a property from the spec alone: its `example`, its first `enum` value, or (for an object or a
/// list) the required-only shape of what it holds.
fn spec_value(spec: &Spec, property: &Value) -> Value {
    let property = spec.resolve(property);
    if let Some(example) = property.get("example") {
        return example.clone();
    }
    if let Some(first) = property.get("enum").and_then(|values| values.get(0)) {
        return first.clone();
    }
    if nullable(spec, property) {
        return Value::Null;
    }
    // No example: a value of the declared format (the spec's own property examples use these same ones).
    match property.get("format").and_then(Value::as_str) {
        Some("uuid") => return json!(ACCOUNT),
        Some("date-time") => return json!("2021-03-16T18:38:01.942282Z"),
        Some("date") => return json!("2021-03-16"),
        Some("decimal") => return json!("0"),
        _ => {}
    }
    // A string whose description lists its values (`Currency`: `"USD" // US Dollar…`): the first one.
    let listed = property["description"]
        .as_str()
        .and_then(|text| text.split('"').nth(1))
        .filter(|value| !value.is_empty());
    match property.get("type").and_then(Value::as_str) {
        Some("string") if listed.is_some() => json!(listed),
        Some("array") => json!([]),
        Some("object") => required_only(spec, property),
        Some("boolean") => json!(false),
        _ => panic!("{SPEC}: a required property has no example to build from: {property}"),
    }
}

/// The smallest instance of `schema` the spec allows: its `required` properties only, each the spec's example.
fn required_only(spec: &Spec, schema: &Value) -> Value {
    let schema = spec.resolve(schema);
    let mut shape = Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        shape.insert(
            name.to_owned(),
            spec_value(spec, &schema["properties"][name]),
        );
    }
    Value::Object(shape)
}

/// Whether the spec lets `property` be null (`nullable: true` or a `type` list with `null`).
fn nullable(spec: &Spec, property: &Value) -> bool {
    let property = spec.resolve(property);
    property.get("nullable") == Some(&Value::Bool(true))
        || property["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("null")))
}

/// `example` with every property the schema lets be null set to null.
fn nulls_where_nullable(spec: &Spec, schema: &Value, example: &Value) -> Value {
    let schema = spec.resolve(schema);
    let mut example = example.clone();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        if nullable(spec, property) {
            example[name] = Value::Null;
        }
    }
    example
}

/// The shapes to serve for a schema: every example, the required-only shape, and each example with nulls.
fn shapes(spec: &Spec, method: &str, path: &str) -> Vec<(String, Value)> {
    let mut all = examples(spec, method, path);
    let Some((schema, list)) = response_schema(spec, method, path) else {
        return all;
    };
    let wrap = |item: Value| if list { json!([item]) } else { item };
    let nulled: Vec<(String, Value)> = all
        .iter()
        .map(|(name, body)| {
            let item = if list { body[0].clone() } else { body.clone() };
            (
                format!("{name} with nulls"),
                wrap(nulls_where_nullable(spec, schema, &item)),
            )
        })
        .collect();
    all.extend(nulled);
    all.push((
        format!("{method} {path} required-only"),
        wrap(required_only(spec, schema)),
    ));
    all
}

async fn serve(server: &MockServer, verb: &str, route: &str, body: &Value) {
    Mock::given(method(verb))
        .and(path(concrete(route)))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// What `find_order` makes of `order`, answered as Alpaca's order-by-client-order-id lookup.
async fn order_found_by_client_order_id(
    order: &Value,
) -> Result<Option<PlacedOrder>, ProviderError> {
    let server = MockServer::start().await;
    serve(&server, "GET", BY_CLIENT_ORDER_ID_PATH, order).await;
    Trading::find_order(
        &client(&server),
        &(),
        &account(),
        &ClientOrderId::parse("x").unwrap(),
    )
    .await
}

/// One order body (an example, a required-only order…) through every order read the capabilities make.
/// Whether the shape lacks what a recorded order must have: the required-only order (`id` and `symbol`: no
/// side, type, status or time), or a multi-leg order (own symbol '') whose `legs` were nulled. Such an order is
/// left out of a listing naming the field, and a single read of it is a typed error naming it.
fn unrecordable(name: &str, order: &Value) -> Option<&'static str> {
    if name.ends_with("required-only") {
        return Some("side");
    }
    (name.ends_with("with nulls") && order["symbol"] == json!("")).then_some("symbol")
}

/// One order body (an example, a required-only order…) through every order read the capabilities make.
async fn order_converts(name: &str, order: &Value) {
    let id = order["id"].as_str().unwrap();
    if let Some(missing) = unrecordable(name, order) {
        let server = MockServer::start().await;
        serve(&server, "GET", ORDERS_PATH, &json!([order])).await;
        serve(&server, "GET", BY_CLIENT_ORDER_ID_PATH, order).await;
        let alpaca = client(&server);
        let listed = Trading::list_orders(&alpaca, &(), &account(), OrderScope::All)
            .await
            .unwrap_or_else(|error| panic!("{name}: listing it fails: {error}"));
        assert!(listed.items.is_empty(), "{name}");
        assert_eq!(listed.left_out.len(), 1, "{name}");
        assert_eq!(
            listed.left_out[0].provider_id.as_deref(),
            Some(id),
            "{name}"
        );
        assert_eq!(listed.left_out[0].field, missing, "{name}");
        let found = Trading::find_order(
            &alpaca,
            &(),
            &account(),
            &ClientOrderId::parse("spec-example").unwrap(),
        )
        .await;
        assert!(
            matches!(&found, Err(ProviderError::InvalidData { field, .. }) if field == missing),
            "{name}: {found:?}"
        );
        return;
    }
    let server = MockServer::start().await;
    let alpaca = client(&server);
    serve(&server, "GET", ORDERS_PATH, &json!([order])).await;
    serve(&server, "GET", BY_CLIENT_ORDER_ID_PATH, order).await;
    let listed = Trading::list_orders(&alpaca, &(), &account(), OrderScope::All)
        .await
        .unwrap_or_else(|error| panic!("{name}: listing it fails: {error}"));
    assert!(listed.left_out.is_empty(), "{name}: {:?}", listed.left_out);
    // The order, then each of its legs.
    let legs = order["legs"].as_array().map_or(0, Vec::len);
    assert_eq!(listed.items.len(), 1 + legs, "{name}");
    assert!(
        listed
            .items
            .iter()
            .any(|row| row.brokerage_order_id.as_str() == id),
        "{name}: the order is not among the listed rows"
    );
    let found = Trading::find_order(
        &alpaca,
        &(),
        &account(),
        &ClientOrderId::parse("spec-example").unwrap(),
    )
    .await
    .unwrap_or_else(|error| panic!("{name}: finding it fails: {error}"))
    .expect("the order is found");
    assert_eq!(found.brokerage_order_id.as_str(), id, "{name}");
}

/// `getAllAccounts`, which the quickstart lists to show a partner its account ids: every shape of its answer
/// (each `AccountExtended` example, with nulls, required-only) parses, each account keeping its id and status.
#[tokio::test]
async fn every_account_list_shape_the_spec_allows_parses() {
    let spec = Spec::load(SPEC);
    let all = shapes(&spec, "get", ACCOUNTS_PATH);
    assert!(all.len() > 1, "{SPEC}: examples of GET {ACCOUNTS_PATH}");
    for (name, body) in all {
        let server = MockServer::start().await;
        serve(&server, "GET", ACCOUNTS_PATH, &body).await;
        let listed = client(&server)
            .accounts()
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let sent = body.as_array().unwrap();
        assert_eq!(listed.len(), sent.len(), "{name}");
        for (account, item) in listed.iter().zip(sent) {
            assert_eq!(
                account.id.to_string(),
                item["id"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(account.status, item["status"].as_str().unwrap(), "{name}");
        }
    }
}

#[tokio::test]
async fn every_order_shape_the_spec_allows_parses_and_converts() {
    let spec = Spec::load(SPEC);
    let mut seen = 0;
    for (verb, route) in READ_OPERATIONS {
        let Some((schema, _)) = response_schema(&spec, verb, route) else {
            continue;
        };
        if schema.get("$ref") != Some(&json!("#/components/schemas/Order")) {
            continue;
        }
        for (name, body) in shapes(&spec, verb, route) {
            let orders = if body.is_array() {
                body.as_array().unwrap().clone()
            } else {
                vec![body]
            };
            for order in orders {
                order_converts(&name, &order).await;
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "the spec's order examples were found ({seen})");
}

#[tokio::test]
async fn every_position_shape_the_spec_allows_parses_and_converts() {
    let spec = Spec::load(SPEC);
    let shapes = shapes(&spec, "get", POSITIONS_PATH);
    assert!(shapes.len() >= 3, "the spec's position examples were found");
    for (name, body) in shapes {
        let server = MockServer::start().await;
        serve(&server, "GET", POSITIONS_PATH, &body).await;
        let positions = BrokerageAccounts::account_positions(
            &client(&server),
            &(),
            &ProviderAccountId::parse(ACCOUNT).unwrap(),
        )
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(
            positions.left_out.is_empty(),
            "{name}: {:?}",
            positions.left_out
        );
        assert_eq!(
            positions.items.len(),
            body.as_array().unwrap().len(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_account_and_trading_account_shape_the_spec_allows_parses_and_converts() {
    let spec = Spec::load(SPEC);
    let accounts = shapes(&spec, "get", ACCOUNT_PATH);
    let balances = shapes(&spec, "get", TRADING_ACCOUNT_PATH);
    assert!(
        accounts.len() >= 3 && balances.len() >= 3,
        "the spec's account examples were found"
    );
    // Each account shape with the first balances, and each balances shape with the first account.
    let pairs = accounts
        .iter()
        .map(|account| (account, &balances[0]))
        .chain(balances.iter().map(|balances| (&accounts[0], balances)));
    for ((account_name, account), (balances_name, balances)) in pairs {
        let server = MockServer::start().await;
        serve(&server, "GET", ACCOUNT_PATH, account).await;
        serve(&server, "GET", TRADING_ACCOUNT_PATH, balances).await;
        let id = account["id"].as_str().unwrap();
        let info = BrokerageAccounts::brokerage_account(
            &client(&server),
            &(),
            &ProviderAccountId::parse(id).unwrap(),
        )
        .await
        .unwrap_or_else(|error| panic!("{account_name} + {balances_name}: {error}"));
        assert_eq!(info.provider_account_id.as_str(), id);
    }
}

/// Every shape of order the client can send: each order type, units and dollars, extended hours.
fn new_orders() -> Vec<AlpacaOrderRequest> {
    use crate::alpaca::{AlpacaOrderQuantity, AlpacaOrderType, AlpacaTimeInForce};
    let d = |text: &str| text.parse::<rust_decimal::Decimal>().unwrap();
    let base = AlpacaOrderRequest::market("AAPL", AlpacaOrderSide::Buy, d("2"));
    let mut all = vec![
        base.clone(),
        AlpacaOrderRequest {
            quantity: AlpacaOrderQuantity::Notional(d("500")),
            ..base.clone()
        },
        AlpacaOrderRequest {
            quantity: AlpacaOrderQuantity::Units(d("0.000000001")),
            symbol: "BTC/USD".into(),
            ..base.clone()
        },
    ];
    for (order_type, time_in_force) in [
        (
            AlpacaOrderType::Limit {
                limit_price: d("150"),
            },
            AlpacaTimeInForce::GoodTillCanceled,
        ),
        (
            AlpacaOrderType::Stop {
                stop_price: d("140"),
            },
            AlpacaTimeInForce::Day,
        ),
        (
            AlpacaOrderType::StopLimit {
                stop_price: d("140"),
                limit_price: d("139.5"),
            },
            AlpacaTimeInForce::ImmediateOrCancel,
        ),
    ] {
        all.push(AlpacaOrderRequest {
            order_type,
            time_in_force,
            side: AlpacaOrderSide::Sell,
            extended_hours: true,
            ..base.clone()
        });
    }
    for time_in_force in [
        AlpacaTimeInForce::AtOpen,
        AlpacaTimeInForce::AtClose,
        AlpacaTimeInForce::FillOrKill,
    ] {
        all.push(
            AlpacaOrderRequest {
                time_in_force,
                ..base.clone()
            }
            .with_client_order_id(AlpacaClientOrderId::parse("x".repeat(128)).unwrap()),
        );
    }
    all
}

#[tokio::test]
async fn every_order_the_client_sends_validates_against_the_spec_request_schema() {
    let spec = Spec::load(SPEC);
    let answer = spec
        .response_examples("post", ORDERS_PATH)
        .into_iter()
        .find(|example| example.status == "200")
        .expect("the spec has an order example")
        .value;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(concrete(ORDERS_PATH)))
        .respond_with(ResponseTemplate::new(200).set_body_json(&answer))
        .mount(&server)
        .await;
    let alpaca = client(&server);
    let broker_account = BrokerAccountId::parse(ACCOUNT).unwrap();
    let orders = new_orders();
    for order in &orders {
        alpaca.submit_order(&broker_account, order).await.unwrap();
    }
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), orders.len());
    for request in sent {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        spec.validate_request("post", ORDERS_PATH, &body)
            .unwrap_or_else(|error| panic!("{body}: {error}"));
    }
}

/// The positions example the spec gives its deprecated `/v1/accounts/positions`: a fractional position,
/// `qty: '0.079145874'`, whose `cost_basis` and `market_value` are that quantity times `avg_entry_price` and
/// `current_price` to the last digit (eleven decimals). Served as an account's positions, the quantity is kept
/// exactly; the two products are Alpaca's arithmetic and rounded to the money column, not refused.
#[tokio::test]
async fn the_spec_fractional_position_keeps_its_nine_decimal_quantity_exactly() {
    let spec = Spec::load(SPEC);
    let example = spec
        .response_examples("get", "/v1/accounts/positions")
        .into_iter()
        .find(|example| example.status == "200")
        .expect("the spec's account positions example")
        .value;
    let position = example["positions"]
        .as_object()
        .and_then(|by_account| by_account.values().next())
        .and_then(|positions| positions.get(0))
        .expect("a position in the example")
        .clone();
    assert_eq!(position["qty"], json!("0.079145874"));
    let server = MockServer::start().await;
    serve(&server, "GET", POSITIONS_PATH, &json!([position])).await;
    let read = BrokerageAccounts::account_positions(
        &client(&server),
        &(),
        &ProviderAccountId::parse(ACCOUNT).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(read.left_out, []);
    let position = &read.items[0];
    assert_eq!(position.quantity.get(), dec("0.079145874"));
    assert_eq!(position.price.unwrap().get(), dec("166.13"));
    assert_eq!(
        dec("0.079145874") * dec("172.34"),
        dec("13.63999992516"),
        "cost_basis is qty × avg_entry_price"
    );
    assert_eq!(position.cost_basis.unwrap().get(), dec("13.6399999252"));
    assert_eq!(position.market_value.unwrap().get(), dec("13.1485040476"));
}

/// Alpaca sends crypto quantities with up to 9 decimals: the `Units` and `Quantity` columns keep 10
/// (migration 0017), so they are read to the last digit, in a position and in an order.
#[tokio::test]
async fn a_nine_decimal_crypto_quantity_is_read_to_the_last_digit() {
    let spec = Spec::load(SPEC);
    let (_, positions) = examples(&spec, "get", POSITIONS_PATH).remove(0);
    let mut position = positions[0].clone();
    position["qty"] = json!("0.123456789");
    let server = MockServer::start().await;
    serve(&server, "GET", POSITIONS_PATH, &json!([position])).await;
    let read = BrokerageAccounts::account_positions(
        &client(&server),
        &(),
        &ProviderAccountId::parse(ACCOUNT).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(read.left_out, []);
    assert_eq!(read.items[0].quantity.get(), dec("0.123456789"));

    let crypto = spec
        .response_examples("post", ORDERS_PATH)
        .into_iter()
        .find(|example| example.name == "Crypto")
        .expect("the spec's crypto order example");
    let mut order = crypto.value;
    order["qty"] = json!("0.123456789");
    order["filled_qty"] = json!("0.000000001");
    order["filled_avg_price"] = json!("64123.1234567891");
    let row = order_found_by_client_order_id(&order)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.units.unwrap().get(), dec("0.123456789"));
    assert_eq!(row.filled_units.unwrap().get(), dec("0.000000001"));
    assert_eq!(
        row.average_fill_price.unwrap().get(),
        dec("64123.1234567891")
    );
}

/// A quantity or price with more decimals than even the widened columns keep is never rounded: the position
/// or order is left out naming the field, and a single read of it is a typed error naming it.
#[tokio::test]
async fn a_figure_with_more_decimals_than_the_column_is_left_out_naming_the_field_not_rounded() {
    let spec = Spec::load(SPEC);
    let (_, positions) = examples(&spec, "get", POSITIONS_PATH).remove(0);
    let mut past = positions[0].clone();
    past["qty"] = json!("0.12345678901");
    let mut kept = positions[0].clone();
    kept["symbol"] = json!("MSFT");
    let server = MockServer::start().await;
    serve(&server, "GET", POSITIONS_PATH, &json!([past, kept])).await;
    let read = BrokerageAccounts::account_positions(
        &client(&server),
        &(),
        &ProviderAccountId::parse(ACCOUNT).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(read.items.len(), 1);
    assert_eq!(read.items[0].symbol.as_str(), "MSFT");
    assert_eq!(read.left_out.len(), 1);
    let left_out = &read.left_out[0];
    assert_eq!(left_out.field, "positions[0].qty");
    assert!(
        left_out.reason.contains("more than the 10 decimal places"),
        "{left_out:?}"
    );
    assert_eq!(
        left_out.provider_id.as_ref(),
        past["asset_id"].as_str().map(str::to_owned).as_ref()
    );

    let (_, order) = examples(&spec, "post", ORDERS_PATH).remove(0);
    for (field, value) in [
        ("filled_qty", "0.00000000001"),
        ("limit_price", "187.12345678901"),
    ] {
        let mut past = order.clone();
        past[field] = json!(value);
        let found = order_found_by_client_order_id(&past).await;
        assert!(
            matches!(&found, Err(ProviderError::InvalidData { field: named, reason, .. })
                if named == field && reason.contains("decimal places")),
            "{field}: {found:?}"
        );
    }
}

#[tokio::test]
async fn the_spec_multi_leg_order_is_recorded_under_its_legs_symbols_without_a_side() {
    let spec = Spec::load(SPEC);
    let multileg = spec
        .response_examples("post", ORDERS_PATH)
        .into_iter()
        .find(|example| example.name == "MultilegOptions")
        .expect("the spec's multi-leg example")
        .value;
    let row = order_found_by_client_order_id(&multileg)
        .await
        .unwrap()
        .unwrap();
    let legs: Vec<&str> = multileg["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|leg| leg["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(row.symbol.as_str(), legs.join("/"));
    assert_eq!(row.action.as_str(), "mleg");
    assert_eq!(row.raw_order_data.as_ref(), Some(&multileg));
}

#[tokio::test]
async fn one_order_that_cannot_be_recorded_leaves_the_accounts_other_orders_listed() {
    let spec = Spec::load(SPEC);
    let examples = spec.response_examples("post", ORDERS_PATH);
    let by_name = |name: &str| {
        examples
            .iter()
            .find(|example| example.name == name)
            .unwrap_or_else(|| panic!("the spec's {name} example"))
            .value
            .clone()
    };
    let mut multileg = by_name("MultilegOptions");
    multileg["legs"] = Value::Null;
    // And one that is not even an `Order`: its quantity is not a number.
    let mut garbled = by_name("Options");
    garbled["qty"] = json!("lots");
    let body = json!([by_name("Equity"), multileg, by_name("Crypto"), garbled]);
    let server = MockServer::start().await;
    serve(&server, "GET", ORDERS_PATH, &body).await;

    let listed = Trading::list_orders(&client(&server), &(), &account(), OrderScope::All)
        .await
        .unwrap();

    let kept: Vec<&str> = listed
        .items
        .iter()
        .map(|row| row.brokerage_order_id.as_str())
        .collect();
    assert_eq!(
        kept,
        [
            body[0]["id"].as_str().unwrap(),
            body[2]["id"].as_str().unwrap()
        ]
    );
    assert_eq!(listed.left_out.len(), 2);
    assert_eq!(
        listed.left_out[0].provider_id.as_deref(),
        body[1]["id"].as_str()
    );
    assert_eq!(listed.left_out[0].item, "order");
    assert_eq!(listed.left_out[0].field, "symbol");
    assert_eq!(
        listed.left_out[1].provider_id.as_deref(),
        body[3]["id"].as_str()
    );
    assert!(
        listed.left_out[1].reason.contains("lots"),
        "{:?}",
        listed.left_out[1]
    );
}

#[tokio::test]
async fn one_position_that_does_not_parse_leaves_the_others_listed() {
    let spec = Spec::load(SPEC);
    let (_, positions) = examples(&spec, "get", POSITIONS_PATH).remove(0);
    let good = positions[0].clone();
    let mut bad = good.clone();
    bad["asset_id"] = json!("b0b6dd9d-8b9b-48a9-ba46-b9d54906e415");
    bad["avg_entry_price"] = json!("");
    let server = MockServer::start().await;
    serve(&server, "GET", POSITIONS_PATH, &json!([bad, good])).await;

    let read = BrokerageAccounts::account_positions(
        &client(&server),
        &(),
        &ProviderAccountId::parse(ACCOUNT).unwrap(),
    )
    .await
    .unwrap();

    assert_eq!(read.items.len(), 1);
    assert_eq!(
        read.items[0].symbol.as_str(),
        good["symbol"].as_str().unwrap()
    );
    assert_eq!(read.left_out.len(), 1);
    assert_eq!(
        read.left_out[0].provider_id.as_deref(),
        Some("b0b6dd9d-8b9b-48a9-ba46-b9d54906e415")
    );
    assert!(
        read.left_out[0].field.starts_with("positions[0]"),
        "{:?}",
        read.left_out[0]
    );
}

/// The body of a non-2xx answer, from its schema alone: a string schema (`createOrderForAccount`'s 403) is the
/// response's description; an object (`Error`) its required fields, the message the description, numbers 0.
fn error_body(spec: &Spec, response: &Value) -> Option<Value> {
    let response = spec.resolve(response);
    let description = response["description"].as_str().unwrap_or_default();
    let schema = spec.resolve(response.pointer("/content/application~1json/schema")?);
    if schema["type"] == json!("string") {
        return Some(json!(description));
    }
    let mut body = Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        let value = match spec.resolve(&schema["properties"][name])["type"].as_str() {
            Some("string") => json!(description),
            _ => json!(0),
        };
        body.insert(name.to_owned(), value);
    }
    Some(Value::Object(body))
}

/// Every non-2xx answer the spec documents for the operations the client calls is a typed error carrying the
/// status and the message (a 404 from `orders:by_client_order_id` is the typed "no such order").
#[tokio::test]
async fn every_error_answer_the_spec_documents_is_a_typed_error_with_its_status() {
    let spec = Spec::load(SPEC);
    let broker_account = BrokerAccountId::parse(ACCOUNT).unwrap();
    let order_id = uuid::Uuid::new_v4();
    let mut seen = 0;
    for (verb, route) in READ_OPERATIONS {
        let responses = spec.operation(verb, route)["responses"]
            .as_object()
            .unwrap()
            .clone();
        for (status, response) in responses
            .iter()
            .filter(|(status, _)| !status.starts_with('2'))
        {
            let Some(body) = error_body(&spec, response) else {
                continue;
            };
            let status: u16 = status.parse().unwrap();
            let server = MockServer::start().await;
            let concrete = concrete(route).replace("{order_id}", &order_id.to_string());
            Mock::given(method(verb.to_uppercase().as_str()))
                .and(path(concrete))
                .respond_with(ResponseTemplate::new(status).set_body_json(&body))
                .mount(&server)
                .await;
            let alpaca = client(&server);
            let name = format!("{verb} {route} {status}");
            let error = match route {
                ACCOUNTS_PATH => alpaca.accounts().await.map(drop),
                ACCOUNT_PATH => alpaca.account(&broker_account).await.map(drop),
                TRADING_ACCOUNT_PATH => alpaca.trading_account(&broker_account).await.map(drop),
                POSITIONS_PATH => alpaca.positions(&broker_account).await.map(drop),
                ORDERS_PATH if verb == "get" => alpaca
                    .orders(&broker_account, &crate::alpaca::AlpacaOrderQuery::default())
                    .await
                    .map(drop),
                ORDERS_PATH => alpaca
                    .submit_order(
                        &broker_account,
                        &AlpacaOrderRequest::market(
                            "AAPL",
                            AlpacaOrderSide::Buy,
                            rust_decimal::Decimal::ONE,
                        ),
                    )
                    .await
                    .map(drop),
                ORDER_PATH => alpaca.order(&broker_account, order_id).await.map(drop),
                BY_CLIENT_ORDER_ID_PATH => {
                    let found = alpaca
                        .order_by_client_order_id(
                            &broker_account,
                            &AlpacaClientOrderId::parse("x").unwrap(),
                        )
                        .await;
                    if status == 404 {
                        assert!(matches!(found, Ok(None)), "{name}: {found:?}");
                        seen += 1;
                        continue;
                    }
                    found.map(drop)
                }
                other => panic!("no call for {other}"),
            }
            .expect_err(&name);
            let detail = match &error {
                ProviderError::NotFound(detail)
                | ProviderError::Rejected(detail)
                | ProviderError::Unauthorized(detail) => detail,
                other => panic!("{name}: not a typed answer: {other:?}"),
            };
            assert_eq!(detail.status, status, "{name}");
            let description = spec.resolve(response)["description"].as_str().unwrap();
            assert_eq!(detail.message, description, "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 9, "the spec's error answers were found ({seen})");
}
