//! The Plaid sandbox's answers, route by route, against `plaid-openapi.yml`: every request these tests send
//! validates against the operation's request schema, every answer against its response schema (the 200 one,
//! or `default` for Plaid's error object); and its data is drawn from the spec's examples.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tributary_sandbox::{PlaidSandbox, Sandbox};
use tributary_spec::Spec;

use super::post;

/// A JSON number as the exact decimal its text says.
fn decimal(value: &Value) -> Option<Decimal> {
    value.is_number().then(|| {
        value
            .to_string()
            .parse()
            .expect("a JSON number is a decimal")
    })
}

/// Sends `body` (after checking it against the request schema, credentials included), expects `status`, and
/// checks the answer against the spec's response schema for that status.
async fn checked(
    spec: &Spec,
    server: &PlaidSandbox,
    path: &str,
    body: Value,
    status: u16,
) -> Value {
    let mut sent = body.clone();
    sent["client_id"] = json!(server.client_id());
    sent["secret"] = json!(server.secret());
    spec.validate_request("post", path, &sent)
        .unwrap_or_else(|error| panic!("the test's own request is off: {error}"));
    let answer = crate::support::json(post(server, path, body).await, status).await;
    spec.validate_response("post", path, status, &answer)
        .unwrap_or_else(|error| {
            panic!("the sandbox's answer to {path} breaks the spec: {error}\n{answer}")
        });
    answer
}

/// A test Item made through `/sandbox/public_token/create` and exchanged, each answer checked against the
/// spec: its access token.
async fn sandbox_item(spec: &Spec, server: &PlaidSandbox) -> Value {
    let created = checked(
        spec,
        server,
        "/sandbox/public_token/create",
        json!({"institution_id": "ins_109508", "initial_products": ["investments"]}),
        200,
    )
    .await;
    let exchanged = checked(
        spec,
        server,
        "/item/public_token/exchange",
        json!({"public_token": created["public_token"]}),
        200,
    )
    .await;
    exchanged["access_token"].clone()
}

#[tokio::test]
async fn every_answer_of_every_route_the_sandbox_serves_satisfies_the_spec() {
    let spec = Spec::load("plaid-openapi.yml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let link = json!({"client_name": "Tributary", "language": "en", "country_codes": ["US"],
                      "user": {"client_user_id": "u1"}, "products": ["investments"],
                      "webhook": "https://example.com/webhooks/plaid"});
    checked(&spec, server, "/link/token/create", link, 200).await;
    let token = sandbox_item(&spec, server).await;
    let accounts = checked(
        &spec,
        server,
        "/accounts/get",
        json!({"access_token": token}),
        200,
    )
    .await;
    let first = accounts["accounts"][0]["account_id"].clone();
    checked(
        &spec,
        server,
        "/investments/holdings/get",
        json!({"access_token": token}),
        200,
    )
    .await;
    checked(
        &spec,
        server,
        "/investments/holdings/get",
        json!({"access_token": token, "options": {"account_ids": [first]}}),
        200,
    )
    .await;
    for options in [
        json!({"count": 500, "offset": 0}),
        json!({"count": 7, "offset": 3, "account_ids": [first]}),
    ] {
        checked(
            &spec,
            server,
            "/investments/transactions/get",
            json!({"access_token": token, "start_date": "2000-01-01", "end_date": "2100-01-01",
                   "options": options}),
            200,
        )
        .await;
    }
    checked(
        &spec,
        server,
        "/item/get",
        json!({"access_token": token}),
        200,
    )
    .await;
    checked(
        &spec,
        server,
        "/investments/refresh",
        json!({"access_token": token}),
        200,
    )
    .await;
    // Plaid's own way to break an Item: `/item/get` then shows its error, and data calls answer with it.
    checked(
        &spec,
        server,
        "/sandbox/item/reset_login",
        json!({"access_token": token}),
        200,
    )
    .await;
    let broken = checked(
        &spec,
        server,
        "/item/get",
        json!({"access_token": token}),
        200,
    )
    .await;
    assert_eq!(broken["item"]["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
    checked(
        &spec,
        server,
        "/investments/holdings/get",
        json!({"access_token": token}),
        400,
    )
    .await;
    let update = json!({"client_name": "Tributary", "language": "en", "country_codes": ["US"],
                        "user": {"client_user_id": "u1"}, "access_token": token});
    checked(&spec, server, "/link/token/create", update, 200).await;
    checked(
        &spec,
        server,
        "/item/remove",
        json!({"access_token": token}),
        200,
    )
    .await;
    // Plaid's error object, the `default` response of every operation.
    checked(
        &spec,
        server,
        "/accounts/get",
        json!({"access_token": token}),
        400,
    )
    .await;
}

#[tokio::test]
async fn the_sandboxs_holdings_are_drawn_from_the_specs_examples() {
    let spec = Spec::load("plaid-openapi.yml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let token = sandbox_item(&spec, server).await;
    let holdings = checked(
        &spec,
        server,
        "/investments/holdings/get",
        json!({"access_token": token}),
        200,
    )
    .await;
    let transactions = checked(
        &spec,
        server,
        "/investments/transactions/get",
        json!({"access_token": token, "start_date": "2000-01-01", "end_date": "2100-01-01"}),
        200,
    )
    .await;

    // `/investments/holdings/get` example-1: the NFLX call bought for a cent and worth 110.
    let example = spec
        .response_examples("post", "/investments/holdings/get")
        .into_iter()
        .find(|example| example.status == "200")
        .expect("the spec has a holdings example")
        .value;
    let tiny = |holdings: &Value| {
        holdings["holdings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| {
                decimal(&h["cost_basis"]) == Some(Decimal::new(1, 2))
                    && decimal(&h["institution_value"]) == Some(Decimal::from(110))
            })
            .count()
    };
    assert!(
        tiny(&example) > 0,
        "the spec's example has the cent-cost holding"
    );
    assert!(tiny(&holdings) > 0, "the sandbox has it too: {holdings}");

    // A security quoted in a code of `UnofficialCurrencyCodeList`, `iso_currency_code: null`, and its holdings
    // and trades in that currency.
    let listed = spec.schema("UnofficialCurrencyCodeList")["properties"].clone();
    let foreign: Vec<&Value> = holdings["securities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["iso_currency_code"].is_null()
                && listed
                    .get(s["unofficial_currency_code"].as_str().unwrap_or(""))
                    .is_some()
        })
        .collect();
    assert_eq!(foreign.len(), 1, "{holdings}");
    let code = &foreign[0]["unofficial_currency_code"];
    for list in [
        &holdings["holdings"],
        &transactions["investment_transactions"],
    ] {
        let of_it: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| {
                entry["security_id"] == foreign[0]["security_id"] && entry["type"] != "cash"
            })
            .collect();
        assert!(!of_it.is_empty());
        assert!(
            of_it
                .iter()
                .all(|entry| entry["iso_currency_code"].is_null()
                    && &entry["unofficial_currency_code"] == code),
            "{of_it:?}"
        );
    }

    // Plaid spec 1.778.0 (plaid-python 46.0.0): `Security.figi` is required, a 12-character FIGI or null.
    for security in holdings["securities"].as_array().unwrap() {
        let figi = security
            .get("figi")
            .unwrap_or_else(|| panic!("no figi: {security}"));
        assert!(
            figi.is_null() || figi.as_str().is_some_and(|figi| figi.len() == 12),
            "{figi}"
        );
    }
}
