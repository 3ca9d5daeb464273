//! Spec-driven: every operation the Plaid client calls, fed every example `plaid-openapi.yml` gives its
//! answer (and the variants the schemas allow: the required-only shape, nulls wherever nullable), read and
//! converted through the client; every request body the client sends checked against the request schema.
//! Nothing here is copied from the spec by hand: a spec update that adds an example is covered as it lands.

use std::collections::BTreeSet;

use crate::capability::{Aggregation, Position};
use crate::plaid::wire::InvestmentsHoldingsGetResponse;
use crate::plaid::{AccessToken, LinkTokenRequest, PlaidClient, PlaidConfig, PlaidEnvironment};
use chrono::NaiveDate;
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary_spec::Spec;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::tests::support::dec;

const SPEC: &str = "plaid-openapi.yml";

/// Every Plaid operation the client calls (all are `POST`s).
const CLIENT_PATHS: [&str; 8] = [
    "/link/token/create",
    "/sandbox/public_token/create",
    "/item/public_token/exchange",
    "/accounts/get",
    "/investments/holdings/get",
    "/investments/transactions/get",
    "/item/get",
    "/item/remove",
];

const HOLDINGS: &str = "/investments/holdings/get";

fn client(server: &MockServer) -> PlaidClient {
    let config = PlaidConfig::new(
        "client-id",
        SecretString::from("secret"),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap());
    PlaidClient::new(config).unwrap()
}

fn token() -> AccessToken {
    AccessToken::new(SecretString::from("access-sandbox-token"))
}

/// A range wide enough for any example's transactions.
fn any_date() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
    )
}

/// The 2xx examples the spec gives `path`'s answer; at least one, or the spec stopped describing it.
fn ok_examples(spec: &Spec, path: &str) -> Vec<(String, Value)> {
    let examples: Vec<(String, Value)> = spec
        .response_examples("post", path)
        .into_iter()
        .filter(|example| example.status.starts_with('2'))
        .map(|example| (example.name, example.value))
        .collect();
    assert!(!examples.is_empty(), "{SPEC} gives no example for {path}");
    examples
}

async fn serve(server: &MockServer, path_: &str, body: &Value) {
    Mock::given(method("POST"))
        .and(path(path_))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// Serves `body` as `path`'s answer and reads it the way the client does, through to domain types where the
/// client converts it (`Aggregation`).
async fn read_as_the_client(path: &str, body: &Value) -> Result<(), String> {
    let server = MockServer::start().await;
    serve(&server, path, body).await;
    let plaid = client(&server);
    let shown = |error: crate::ProviderError| format!("{error}");
    match path {
        "/link/token/create" => plaid
            .create_link_token(&LinkTokenRequest::investments("user-1", "Tributary"))
            .await
            .map(drop)
            .map_err(shown),
        "/sandbox/public_token/create" => plaid
            .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
            .await
            .map(drop)
            .map_err(shown),
        "/item/public_token/exchange" => plaid
            .exchange_public_token("public-sandbox-token")
            .await
            .map(drop)
            .map_err(shown),
        "/accounts/get" => Aggregation::accounts(&plaid, &token())
            .await
            .map(drop)
            .map_err(shown),
        "/investments/holdings/get" => match plaid.positions(&token()).await {
            Ok(listing) if listing.left_out.is_empty() => Ok(()),
            Ok(listing) => Err(format!("left out: {:?}", listing.left_out)),
            Err(error) => Err(shown(error)),
        },
        "/investments/transactions/get" => {
            let (from, to) = any_date();
            plaid
                .transactions(&token(), from, to, None)
                .await
                .map(drop)
                .map_err(shown)
        }
        "/item/get" => plaid.connections(&token()).await.map(drop).map_err(shown),
        "/item/remove" => plaid.remove_item(&token()).await.map(drop).map_err(shown),
        other => panic!("the client does not call {other}"),
    }
}

/// The positions of the served holdings, none left out.
async fn every_position(plaid: &PlaidClient) -> Vec<Position> {
    let listing = plaid.positions(&token()).await.unwrap();
    assert_eq!(listing.left_out, []);
    listing.items
}

#[tokio::test]
async fn every_example_answer_in_the_spec_reads_and_converts_for_every_operation_the_client_calls()
{
    let spec = Spec::load(SPEC);
    for path in CLIENT_PATHS {
        for (name, example) in ok_examples(&spec, path) {
            read_as_the_client(path, &example)
                .await
                .unwrap_or_else(|error| panic!("{path} {name}: {error}"));
        }
    }
}

/// The spec's holdings example has a holding bought for a cent and worth 110 (a gain of 1,099,900 %): the
/// figures are carried exactly; deriving a percentage from them is the sync's business.
#[tokio::test]
async fn the_holdings_example_with_a_cent_of_cost_basis_converts_exactly() {
    let spec = Spec::load(SPEC);
    let mut found = 0;
    for (name, example) in ok_examples(&spec, HOLDINGS) {
        let tiny: Vec<&Value> = example["holdings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|holding| {
                holding["cost_basis"].is_number()
                    && dec(&holding["cost_basis"].to_string()) == dec("0.01")
            })
            .collect();
        found += tiny.len();
        let server = MockServer::start().await;
        serve(&server, HOLDINGS, &example).await;
        let positions = every_position(&client(&server)).await;
        for holding in tiny {
            let security_id = holding["security_id"].as_str().unwrap();
            let value = dec(&holding["institution_value"].to_string());
            let position = positions
                .iter()
                .find(|position| {
                    position.security_id.as_ref().map(|id| id.as_str()) == Some(security_id)
                        && position.market_value.map(rust_decimal::Decimal::from) == Some(value)
                })
                .unwrap_or_else(|| panic!("{name}: the holding of {security_id} is missing"));
            assert_eq!(
                position.cost_basis.map(rust_decimal::Decimal::from),
                Some(dec("0.01"))
            );
        }
    }
    assert!(
        found > 0,
        "the spec's holdings examples have a holding bought for a cent"
    );
}

/// The spec's holdings example with its cryptocurrency quoted in a code of the spec's
/// `UnofficialCurrencyCodeList` (`iso_currency_code: null`, as `Holding.iso_currency_code` requires when
/// `unofficial_currency_code` is set), on the holding itself or only on its security.
fn quoted_in(example: &Value, code: &str, on_holding: bool) -> (Value, String) {
    let mut body = example.clone();
    let security = body["securities"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|security| security["type"] == "cryptocurrency")
        .expect("the holdings example has a cryptocurrency");
    security["iso_currency_code"] = Value::Null;
    security["unofficial_currency_code"] = json!(code);
    let security_id = security["security_id"].as_str().unwrap().to_owned();
    for holding in body["holdings"].as_array_mut().unwrap() {
        if holding["security_id"] == json!(security_id) {
            holding["iso_currency_code"] = Value::Null;
            holding["unofficial_currency_code"] =
                if on_holding { json!(code) } else { Value::Null };
        }
    }
    (body, security_id)
}

#[tokio::test]
async fn a_holding_quoted_in_an_unofficial_currency_keeps_that_currency_never_usd() {
    let spec = Spec::load(SPEC);
    let listed = spec.schema("UnofficialCurrencyCodeList")["properties"]
        .as_object()
        .unwrap();
    assert!(listed.contains_key("BTC"), "the spec lists BTC");
    for (name, example) in ok_examples(&spec, HOLDINGS) {
        for on_holding in [true, false] {
            let (body, crypto) = quoted_in(&example, "BTC", on_holding);
            spec.validate_response("post", HOLDINGS, 200, &body)
                .unwrap_or_else(|error| {
                    panic!("{name}: the variant is not one the spec allows: {error}")
                });
            let server = MockServer::start().await;
            serve(&server, HOLDINGS, &body).await;
            let positions = every_position(&client(&server)).await;
            let mut seen = 0;
            for position in &positions {
                let is_crypto =
                    position.security_id.as_ref().map(|id| id.as_str()) == Some(&crypto);
                let expected = if is_crypto { "BTC" } else { "USD" };
                assert_eq!(
                    position.currency.as_ref().map(|c| c.as_str()),
                    Some(expected),
                    "{name}: {:?} (currency on the holding: {on_holding})",
                    position.security_id
                );
                seen += usize::from(is_crypto);
            }
            assert!(seen > 0, "{name}: the crypto holding converted");
        }
    }
}

/// Plaid spec 1.778.0 (plaid-python 46.0.0) adds `Security.figi`, required and nullable; the vendored spec
/// (1.697.4) has none. Every security of the spec's examples reads with a FIGI, with `null`, and without.
#[tokio::test]
async fn securities_read_with_a_figi_with_a_null_figi_and_without_one() {
    let spec = Spec::load(SPEC);
    for (name, example) in ok_examples(&spec, HOLDINGS) {
        for figi in [Some(json!("BBG000BVPV84")), Some(Value::Null), None] {
            let mut body = example.clone();
            for security in body["securities"].as_array_mut().unwrap() {
                match &figi {
                    Some(figi) => security["figi"] = figi.clone(),
                    None => drop(security.as_object_mut().unwrap().remove("figi")),
                }
            }
            let read: InvestmentsHoldingsGetResponse =
                serde_json::from_slice(&serde_json::to_vec(&body).unwrap())
                    .unwrap_or_else(|error| panic!("{name} with figi {figi:?}: {error}"));
            let expected = figi.as_ref().and_then(Value::as_str);
            assert!(
                read.securities
                    .iter()
                    .all(|security| security.figi.as_deref() == expected)
            );
            read_as_the_client(HOLDINGS, &body).await.unwrap();
        }
    }
}

/// A shape the schemas allow besides the examples themselves.
#[derive(Debug, Clone, Copy)]
enum Variant {
    /// Every object keeps only its schema's `required` properties.
    RequiredOnly,
    /// Every property whose schema is `nullable` is `null`.
    NullWhereNullable,
}

/// Every schema that applies to a value: the schema itself, what its `$ref` names (with that name), and each
/// part of an `allOf`.
fn expand<'a>(spec: &'a Spec, schema: &'a Value, out: &mut Vec<(Option<String>, &'a Value)>) {
    let name = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.rsplit('/').next())
        .map(str::to_owned);
    let resolved = spec.resolve(schema);
    if let Some(Value::Array(parts)) = resolved.get("allOf") {
        for part in parts {
            expand(spec, part, out);
        }
    }
    out.push((name, resolved));
}

fn nullable(spec: &Spec, schema: &Value) -> bool {
    schema.get("nullable") == Some(&Value::Bool(true))
        || spec.resolve(schema).get("nullable") == Some(&Value::Bool(true))
}

/// Rewrites `value` into `variant` wherever `schemas` describe it, naming the component schemas whose
/// objects it changed.
fn rewrite(
    spec: &Spec,
    schemas: &[&Value],
    value: &mut Value,
    variant: Variant,
    touched: &mut BTreeSet<String>,
) {
    let mut all = Vec::new();
    for schema in schemas {
        expand(spec, schema, &mut all);
    }
    let names: Vec<String> = all.iter().filter_map(|(name, _)| name.clone()).collect();
    match value {
        Value::Array(items) => {
            let item_schemas: Vec<&Value> = all
                .iter()
                .filter_map(|(_, schema)| schema.get("items"))
                .collect();
            for item in items {
                rewrite(spec, &item_schemas, item, variant, touched);
            }
        }
        Value::Object(object) => {
            let required: BTreeSet<&str> = all
                .iter()
                .filter_map(|(_, schema)| schema.get("required").and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let described = all
                .iter()
                .any(|(_, schema)| schema.get("properties").is_some());
            let mut changed = false;
            if matches!(variant, Variant::RequiredOnly) && described {
                let before = object.len();
                object.retain(|key, _| required.contains(key.as_str()));
                changed |= object.len() != before;
            }
            for (key, field) in object.iter_mut() {
                let field_schemas: Vec<&Value> = all
                    .iter()
                    .filter_map(|(_, schema)| schema.get("properties").and_then(|p| p.get(key)))
                    .collect();
                if field_schemas.is_empty() {
                    continue;
                }
                if matches!(variant, Variant::NullWhereNullable)
                    && field_schemas.iter().all(|schema| nullable(spec, schema))
                {
                    changed |= !field.is_null();
                    *field = Value::Null;
                } else {
                    rewrite(spec, &field_schemas, field, variant, touched);
                }
            }
            if changed {
                touched.extend(names);
            }
        }
        _ => {}
    }
}

/// The 200 response schema of `path`.
fn response_schema<'a>(spec: &'a Spec, path: &str) -> &'a Value {
    let response = spec.resolve(&spec.operation("post", path)["responses"]["200"]);
    &response["content"]["application/json"]["schema"]
}

#[tokio::test]
async fn the_required_only_shape_and_nulls_where_nullable_read_and_convert() {
    let spec = Spec::load(SPEC);
    let mut touched = BTreeSet::new();
    for path in CLIENT_PATHS {
        let schema = response_schema(&spec, path);
        for (name, example) in ok_examples(&spec, path) {
            for variants in [
                &[Variant::RequiredOnly][..],
                &[Variant::NullWhereNullable],
                &[Variant::RequiredOnly, Variant::NullWhereNullable],
            ] {
                let mut body = example.clone();
                for &variant in variants {
                    rewrite(&spec, &[schema], &mut body, variant, &mut touched);
                }
                spec.validate_response("post", path, 200, &body)
                    .unwrap_or_else(|error| {
                        panic!("{path} {name} {variants:?} is not a shape the spec allows: {error}")
                    });
                read_as_the_client(path, &body)
                    .await
                    .unwrap_or_else(|error| panic!("{path} {name} {variants:?}: {error}"));
            }
        }
    }
    for schema in [
        "Holding",
        "Security",
        "InvestmentTransaction",
        "AccountBase",
    ] {
        assert!(
            touched.contains(schema),
            "no example had a {schema} to rewrite: {touched:?}"
        );
    }
}

#[tokio::test]
async fn every_request_body_the_client_sends_validates_against_the_spec() {
    let spec = Spec::load(SPEC);
    let server = MockServer::start().await;
    for path in CLIENT_PATHS {
        let (_, example) = ok_examples(&spec, path).remove(0);
        serve(&server, path, &example).await;
    }
    let plaid = client(&server);
    let (from, to) = any_date();
    let mut link = LinkTokenRequest::investments("user-1", "Tributary");
    link.webhook = Some("https://example.com/webhooks/plaid".into());
    link.redirect_uri = Some("https://example.com/oauth".into());
    plaid.create_link_token(&link).await.unwrap();
    plaid
        .create_link_token(&link.clone().update(token()))
        .await
        .unwrap();
    plaid
        .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
        .await
        .unwrap();
    plaid
        .exchange_public_token("public-sandbox-token")
        .await
        .unwrap();
    plaid.accounts(&token()).await.unwrap();
    plaid.holdings(&token()).await.unwrap();
    let access = token();
    plaid
        .investment_transactions_page(
            &access,
            from,
            to,
            &["JqMLm4rJwpF6gMPJwBqdh9ZjjPvvpDcb7kDK1".into()],
            2,
            0,
        )
        .await
        .unwrap();
    plaid.transactions(&token(), from, to, None).await.unwrap();
    plaid.item(&token()).await.unwrap();
    plaid.remove_item(&token()).await.unwrap();

    let mut sent = BTreeSet::new();
    for request in server.received_requests().await.unwrap() {
        let path = request.url.path().to_owned();
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        spec.validate_request("post", &path, &body)
            .unwrap_or_else(|error| panic!("{path} sent {body}: {error}"));
        sent.insert(path);
    }
    let expected: BTreeSet<String> = CLIENT_PATHS.iter().map(|path| (*path).to_owned()).collect();
    assert_eq!(sent, expected, "every operation was sent and checked");
}

/// A holding past the domain's columns (a quantity of 10^18 units does not fit `NUMERIC(28,10)`) in the
/// spec's holdings example is left out, named by its security and the field, and the others are read.
#[tokio::test]
async fn one_holding_that_cannot_be_represented_is_left_out_and_the_others_are_read() {
    let spec = Spec::load(SPEC);
    for (name, example) in ok_examples(&spec, HOLDINGS) {
        let mut body = example.clone();
        let holdings = body["holdings"].as_array_mut().unwrap();
        let count = holdings.len();
        holdings[1]["quantity"] = json!(1_000_000_000_000_000_000_u64);
        let security_id = holdings[1]["security_id"].as_str().unwrap().to_owned();
        let server = MockServer::start().await;
        serve(&server, HOLDINGS, &body).await;

        let listing = client(&server).positions(&token()).await.unwrap();

        assert_eq!(listing.items.len(), count - 1, "{name}");
        assert_eq!(listing.left_out.len(), 1, "{name}");
        let left_out = &listing.left_out[0];
        assert_eq!(left_out.provider_id.as_deref(), Some(security_id.as_str()));
        assert_eq!(left_out.field, "holdings[1].quantity");
        assert!(!left_out.reason.is_empty());
    }
}
