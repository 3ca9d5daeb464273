//! Spec-driven tests: the answers of every operation the client calls are GENERATED from
//! `specs/snaptrade-openapi.yaml`, which carries its examples on schemas and properties (it has no
//! response-level examples for these operations). From each response schema the generator builds an
//! instance (each property's `example`, arrays of one, `$ref`s followed, the `n`-th variant of a `oneOf`) in
//! four shapes: every property, the required properties only, every nullable property null, and every
//! string empty. The client
//! reads each and converts it to domain values, or refuses it as a typed `InvalidData` naming the field; it
//! never fails to decode. Every request body it sends on the way validates against the operation's request
//! schema. A spec update that adds a property, an example or a variant is covered without a new test.

use std::collections::BTreeMap;

use crate::ProviderError;
use crate::capability::{
    Aggregation, BrokerageAccounts, ConnectionPortal, OrderRequest, OrderScope, OrderSize,
    PortalRequest, Trading,
};
use crate::snaptrade::SnapTradeClient;
use serde_json::{Map, Value, json};
use tributary_domain::{
    AuthorizationId, BrokerageOrderId, OrderAction, SnapTradeUserId, Symbol, Units, UserId,
};
use tributary_spec::Spec;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{account_ref, client, user};

const SPEC: &str = "snaptrade-openapi.yaml";

/// How a generated instance is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Every property, with its example.
    Full,
    /// The required properties only.
    RequiredOnly,
    /// Every property, the nullable ones null.
    Nulls,
    /// Every property, every string empty (Alpaca's and Plaid's own examples send `''`).
    EmptyStrings,
}

/// The operations the client calls: method, the spec's path template, and the path pattern the client's
/// requests match.
const OPERATIONS: [(&str, &str, &str); 18] = [
    ("get", "/authorizations", "^/authorizations$"),
    ("get", "/accounts", "^/accounts$"),
    ("get", "/accounts/{accountId}", "^/accounts/[^/]+$"),
    (
        "get",
        "/accounts/{accountId}/balances",
        "^/accounts/[^/]+/balances$",
    ),
    (
        "get",
        "/accounts/{accountId}/positions/all",
        "^/accounts/[^/]+/positions/all$",
    ),
    (
        "get",
        "/accounts/{accountId}/orders",
        "^/accounts/[^/]+/orders$",
    ),
    (
        "get",
        "/accounts/{accountId}/activities",
        "^/accounts/[^/]+/activities$",
    ),
    ("post", "/trade/impact", "^/trade/impact$"),
    ("post", "/trade/place", "^/trade/place$"),
    ("post", "/trade/{tradeId}", "^/trade/[0-9a-f-]{36}$"),
    (
        "post",
        "/accounts/{accountId}/trading/cancel",
        "^/accounts/[^/]+/trading/cancel$",
    ),
    (
        "post",
        "/accounts/{accountId}/symbols",
        "^/accounts/[^/]+/symbols$",
    ),
    (
        "post",
        "/snapTrade/registerUser",
        "^/snapTrade/registerUser$",
    ),
    ("post", "/snapTrade/login", "^/snapTrade/login$"),
    (
        "post",
        "/snapTrade/resetUserSecret",
        "^/snapTrade/resetUserSecret$",
    ),
    ("delete", "/snapTrade/deleteUser", "^/snapTrade/deleteUser$"),
    (
        "delete",
        "/connection/{connectionId}",
        "^/connection/[^/]+$",
    ),
    (
        "post",
        "/authorizations/{authorizationId}/refresh",
        "^/authorizations/[^/]+/refresh$",
    ),
];

/// Builds instances of a spec's schemas.
struct Generator<'a> {
    spec: &'a Spec,
    shape: Shape,
    /// Which variant of each `oneOf`/`anyOf` (modulo their count).
    pick: usize,
}

impl Generator<'_> {
    fn instance(&self, schema: &Value, depth: usize) -> Value {
        if depth > 12 {
            return Value::Null;
        }
        let schema = self.flatten(schema);
        if let Some(variants) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
            .filter(|variants| !variants.is_empty())
        {
            return self.instance(&variants[self.pick % variants.len()], depth + 1);
        }
        let is_object = schema.get("properties").is_some();
        if !is_object && schema.get("items").is_none() {
            if self.shape == Shape::EmptyStrings
                && schema.get("type").and_then(Value::as_str) == Some("string")
            {
                return json!("");
            }
            if let Some(example) = schema.get("example") {
                return example.clone();
            }
        }
        if is_object {
            return self.object(&schema, depth);
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                json!([self.instance(&items, depth + 1)])
            }
            Some("object") => schema.get("example").cloned().unwrap_or(json!({})),
            _ => leaf(&schema),
        }
    }

    fn object(&self, schema: &Value, depth: usize) -> Value {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut object = Map::new();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if self.shape == Shape::RequiredOnly && !required.contains(&name.as_str()) {
                continue;
            }
            let flat = self.flatten(property);
            let value = if self.shape == Shape::Nulls && is_nullable(property, &flat) {
                Value::Null
            } else {
                self.instance(property, depth + 1)
            };
            object.insert(name.clone(), value);
        }
        Value::Object(object)
    }

    /// The schema with `$ref`s followed and `allOf` merged; the outer schema's own keys (a property's
    /// `example`, `nullable`, `description`) win over the referenced ones.
    fn flatten(&self, schema: &Value) -> Value {
        let mut merged = Map::new();
        if let Some(reference) = schema.get("$ref") {
            let target = self.spec.resolve(&json!({ "$ref": reference })).clone();
            merge(&mut merged, self.flatten(&target));
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            merge(&mut merged, self.flatten(part));
        }
        for (key, value) in schema.as_object().into_iter().flatten() {
            if key == "$ref" || key == "allOf" {
                continue;
            }
            if key == "properties" || key == "required" {
                merge(&mut merged, json!({ key.clone(): value.clone() }));
            } else {
                merged.insert(key.clone(), value.clone());
            }
        }
        Value::Object(merged)
    }
}

/// An instance of the spec's schema `name`, every property with its own example (`$ref`s followed, arrays of
/// one): test data made of the spec's examples, for the tests of one schema.
pub(in crate::snaptrade::tests) fn example_of(spec: &Spec, name: &str) -> Value {
    let generator = Generator {
        spec,
        shape: Shape::Full,
        pick: 0,
    };
    generator.instance(spec.schema(name), 0)
}

/// Merges `from` into `into`: properties and required lists are united, other keys overwritten.
fn merge(into: &mut Map<String, Value>, from: Value) {
    let Value::Object(from) = from else { return };
    for (key, value) in from {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => mine.extend(theirs),
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => mine.extend(theirs),
            (_, _, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn is_nullable(property: &Value, flat: &Value) -> bool {
    property.get("nullable") == Some(&Value::Bool(true))
        || flat.get("nullable") == Some(&Value::Bool(true))
}

/// A leaf without an example: the first enum value, or a value of its type and format.
fn leaf(schema: &Value) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    match (
        schema.get("type").and_then(Value::as_str),
        schema.get("format").and_then(Value::as_str),
    ) {
        (Some("string"), Some("uuid")) => json!("2bcd7cc3-e922-4976-bce1-9858296801c3"),
        (Some("string"), Some("date-time")) => json!("2024-08-20T21:56:19.123935Z"),
        (Some("string"), Some("date")) => json!("2024-08-20"),
        (Some("string"), _) => json!("text"),
        (Some("integer"), _) => json!(1),
        (Some("number"), _) => json!(1.5),
        (Some("boolean"), _) => json!(true),
        _ => Value::Null,
    }
}

/// The JSON schema of `method` `path`'s 200 answer.
fn response_schema<'a>(spec: &'a Spec, method: &str, path: &str) -> &'a Value {
    let response = spec.resolve(&spec.operation(method, path)["responses"]["200"]);
    &response["content"]["application/json"]["schema"]
}

/// How many `oneOf`/`anyOf` variants the widest choice in the operations' answers has (the number of
/// `pick`s that reach every variant).
fn widest_choice(spec: &Spec) -> usize {
    fn walk(spec: &Spec, value: &Value, seen: &mut Vec<String>, widest: &mut usize) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    if seen.contains(reference) {
                        return;
                    }
                    seen.push(reference.clone());
                    walk(spec, spec.resolve(value), seen, widest);
                }
                for key in ["oneOf", "anyOf"] {
                    if let Some(Value::Array(variants)) = map.get(key) {
                        *widest = (*widest).max(variants.len());
                    }
                }
                map.values().for_each(|v| walk(spec, v, seen, widest));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(spec, v, seen, widest)),
            _ => {}
        }
    }
    let mut widest = 1;
    let mut seen = Vec::new();
    for (verb, template, _) in OPERATIONS {
        walk(
            spec,
            response_schema(spec, verb, template),
            &mut seen,
            &mut widest,
        );
    }
    widest
}

/// What one call came to.
fn judge(shape: Shape, call: &str, outcome: Result<(), ProviderError>, failures: &mut Vec<String>) {
    match outcome {
        Ok(()) => {}
        // A shape without a field the domain needs is refused, typed and naming the field.
        Err(ProviderError::InvalidData { .. } | ProviderError::InvalidInput { .. })
            if shape != Shape::Full => {}
        // `login`'s other variant, `encryptedResponse`, carries no link: refused, typed.
        Err(ProviderError::InvalidData { field, .. })
            if call == "portal_url" && field == "login.redirectURI" => {}
        Err(error) => failures.push(format!("{shape:?} {call}: {error}")),
    }
}

fn ok<T>(result: Result<T, ProviderError>) -> Result<(), ProviderError> {
    result.map(drop)
}

/// A listing is fine when each item left out names its field and says why.
fn listed<T>(
    result: Result<crate::capability::Listing<T>, ProviderError>,
) -> Result<(), ProviderError> {
    let listing = result?;
    for left_out in &listing.left_out {
        assert!(
            !left_out.field.is_empty() && !left_out.reason.is_empty(),
            "{left_out} names no field or no reason"
        );
    }
    Ok(())
}

/// Every call of the client, against a server answering each operation with its generated instance.
async fn run_calls(
    client: &SnapTradeClient,
    bodies: &BTreeMap<&str, Value>,
    shape: Shape,
) -> Vec<String> {
    let mut failures = Vec::new();
    let login = user();
    let account = account_ref();
    let authorization = AuthorizationId::parse("87b24961-b51e-4db8-9226-f198f6518a89").unwrap();
    let mut out = |call: &str, outcome| judge(shape, call, outcome, &mut failures);

    out(
        "connections",
        ok(Aggregation::connections(client, &login).await),
    );
    out("accounts", ok(Aggregation::accounts(client, &login).await));
    out(
        "brokerage_account",
        ok(
            BrokerageAccounts::brokerage_account(client, &login, &account.provider_account_id)
                .await,
        ),
    );
    out(
        "positions",
        ok(Aggregation::positions(client, &login).await),
    );
    out(
        "list_orders",
        listed(Trading::list_orders(client, &login, &account, OrderScope::All).await),
    );
    let today = chrono::Utc::now().date_naive();
    out(
        "transactions",
        ok(Aggregation::transactions(
            client,
            &login,
            today - chrono::Duration::days(30),
            today,
            None,
        )
        .await),
    );
    // The order names the ticker the generated symbol search answers with, so the impact check finds it.
    let ticker = bodies["/accounts/{accountId}/symbols"][0]["symbol"]
        .as_str()
        .and_then(|ticker| Symbol::parse(ticker).ok())
        .unwrap_or_else(|| Symbol::parse("AAPL").unwrap());
    let order = OrderRequest::market(
        ticker,
        OrderAction::Buy,
        OrderSize::Units(Units::parse("2").unwrap()),
    )
    .unwrap();
    out(
        "order_impact",
        ok(Trading::order_impact(client, &login, &account, &order).await),
    );
    out(
        "place_order",
        ok(Trading::place_order(client, &login, &account, &order).await),
    );
    out(
        "place_checked_order",
        ok(client
            .place_checked_order(
                &login,
                &account,
                "0b3ebefb-ed47-43df-cd8f-729a4420b5cf",
                Some(true),
            )
            .await),
    );
    out(
        "cancel_order",
        ok(Trading::cancel_order(
            client,
            &login,
            &account,
            &BrokerageOrderId::parse("66844").unwrap(),
        )
        .await),
    );
    out(
        "register_user",
        ok(ConnectionPortal::register_user(client, UserId::generate()).await),
    );
    let portal = PortalRequest {
        broker: None,
        connection_type: tributary_domain::ConnectionType::Trade,
        reconnect: Some(authorization),
        redirect_uri: Some("https://example.com/back".to_owned()),
    };
    out("portal_url", ok(client.portal_url(&login, &portal).await));
    out(
        "reset_user_secret",
        ok(client.reset_user_secret(&login).await),
    );
    out(
        "delete_user",
        ok(client
            .delete_user(&SnapTradeUserId::parse("user-1").unwrap())
            .await),
    );
    out(
        "remove_connection",
        ok(ConnectionPortal::remove_connection(client, &login, &authorization).await),
    );
    out(
        "refresh_connection",
        ok(client.refresh_connection(&login, &authorization).await),
    );
    failures
}

#[tokio::test]
async fn every_answer_shape_the_spec_allows_is_read_and_converted_or_refused_typed() {
    let spec = Spec::load(SPEC);
    let picks = widest_choice(&spec);
    let mut failures = Vec::new();
    let mut scenarios = 0;
    for shape in [
        Shape::Full,
        Shape::RequiredOnly,
        Shape::Nulls,
        Shape::EmptyStrings,
    ] {
        for pick in 0..picks {
            let generator = Generator {
                spec: &spec,
                shape,
                pick,
            };
            let server = MockServer::start().await;
            let mut bodies = BTreeMap::new();
            for (verb, template, pattern) in OPERATIONS {
                let body = generator.instance(response_schema(&spec, verb, template), 0);
                assert!(!body.is_null(), "nothing generated for {verb} {template}");
                Mock::given(method(verb.to_ascii_uppercase().as_str()))
                    .and(path_regex(pattern))
                    .respond_with(ResponseTemplate::new(200).set_body_json(&body))
                    .mount(&server)
                    .await;
                bodies.insert(template, body);
            }
            let client = client(&server);
            failures.extend(
                run_calls(&client, &bodies, shape)
                    .await
                    .into_iter()
                    .map(|failure| format!("pick {pick}: {failure}")),
            );
            scenarios += 1;
        }
    }
    assert!(scenarios >= 3);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_request_body_the_client_sends_validates_against_the_specs_request_schema() {
    let spec = Spec::load(SPEC);
    let generator = Generator {
        spec: &spec,
        shape: Shape::Full,
        pick: 0,
    };
    let server = MockServer::start().await;
    let mut bodies = BTreeMap::new();
    for (verb, template, pattern) in OPERATIONS {
        let body = generator.instance(response_schema(&spec, verb, template), 0);
        Mock::given(method(verb.to_ascii_uppercase().as_str()))
            .and(path_regex(pattern))
            .respond_with(ResponseTemplate::new(200).set_body_json(&body))
            .mount(&server)
            .await;
        bodies.insert(template, body);
    }
    let client = client(&server);
    let failures = run_calls(&client, &bodies, Shape::Full).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let mut validated = Vec::new();
    let mut invalid = Vec::new();
    for request in server.received_requests().await.unwrap() {
        if request.body.is_empty() {
            continue;
        }
        let verb = request.method.as_str().to_ascii_lowercase();
        let (_, template, _) = OPERATIONS
            .iter()
            .find(|(v, _, pattern)| *v == verb && regex_lite_match(pattern, request.url.path()))
            .unwrap_or_else(|| panic!("no operation for {verb} {}", request.url.path()));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if let Err(error) = spec.validate_request(&verb, template, &body) {
            invalid.push(error);
        }
        validated.push(format!("{verb} {template}"));
    }
    for expected in [
        "post /trade/impact",
        "post /trade/place",
        "post /accounts/{accountId}/trading/cancel",
        "post /accounts/{accountId}/symbols",
        "post /snapTrade/registerUser",
        "post /snapTrade/login",
        "post /snapTrade/resetUserSecret",
    ] {
        assert!(
            validated.iter().any(|sent| sent == expected),
            "{expected} sent no body: {validated:?}"
        );
    }
    assert!(invalid.is_empty(), "{}", invalid.join("\n"));
}

/// The operations' path patterns are literals with `[^/]+` or `[0-9a-f-]{36}` segments; this matches them
/// without a regex crate.
fn regex_lite_match(pattern: &str, path: &str) -> bool {
    let pattern = pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .replace("[^/]+", "*")
        .replace("[0-9a-f-]{36}", "*");
    let pieces: Vec<&str> = pattern.split('/').collect();
    let parts: Vec<&str> = path.split('/').collect();
    pieces.len() == parts.len()
        && pieces
            .iter()
            .zip(&parts)
            .all(|(piece, part)| *piece == *part || (*piece == "*" && !part.is_empty()))
}
