//! The Plaid sandbox checks credentials, links Items and pages investment transactions as Plaid does.

mod plaid_spec;
mod plaid_webhook;

use std::collections::HashSet;

use crate::support::json;
use serde_json::{Value, json};
use tributary_sandbox::{PlaidSandbox, Sandbox, SeedItem};

/// The API version the sandbox speaks: the one plaid-openapi.yml describes (`info.version: 2020-09-14_…`).
const PLAID_VERSION: &str = "2020-09-14";

/// Posts `body` with the credentials in it and the `Plaid-Version` header, as the Plaid client does.
async fn post(server: &PlaidSandbox, path: &str, mut body: Value) -> reqwest::Response {
    body["client_id"] = json!(server.client_id());
    body["secret"] = json!(server.secret());
    reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .header("Plaid-Version", PLAID_VERSION)
        .json(&body)
        .send()
        .await
        .expect("answer")
}

/// Posts and expects a 400 with Plaid's error object; returns `(error_type, error_code)`.
async fn refused(server: &PlaidSandbox, path: &str, body: Value) -> (String, String) {
    let error = json(post(server, path, body).await, 400).await;
    assert!(error["error_message"].is_string(), "{error}");
    assert!(error["request_id"].is_string(), "{error}");
    let text = |field: &str| error[field].as_str().unwrap_or_default().to_owned();
    (text("error_type"), text("error_code"))
}

fn invalid_field() -> (String, String) {
    ("INVALID_REQUEST".to_owned(), "INVALID_FIELD".to_owned())
}

#[tokio::test]
async fn a_bad_secret_gets_invalid_api_keys() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let body = json!({"client_id": server.client_id(), "secret": "wrong", "access_token": "access-sandbox-x"});
    let response = reqwest::Client::new()
        .post(format!("{}/accounts/get", server.base_url()))
        .header("Plaid-Version", PLAID_VERSION)
        .json(&body)
        .send()
        .await
        .expect("answer");
    let error = json(response, 400).await;
    assert_eq!(error["error_type"], "INVALID_INPUT");
    assert_eq!(error["error_code"], "INVALID_API_KEYS");
    assert!(error["error_message"].is_string());
    assert!(error["display_message"].is_null());
    assert!(
        error["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test]
async fn credentials_in_headers_are_accepted() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let response = reqwest::Client::new()
        .post(format!("{}/item/get", server.base_url()))
        .header("Plaid-Version", PLAID_VERSION)
        .header("PLAID-CLIENT-ID", server.client_id())
        .header("PLAID-SECRET", server.secret())
        .json(&json!({"access_token": item.access_token}))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        json(response, 200).await["item"]["item_id"],
        item.item_id.as_str()
    );
}

#[tokio::test]
async fn link_public_token_exchange_then_accounts_and_holdings() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let link = json!({"client_name": "Tributary", "language": "en", "country_codes": ["US"],
                      "user": {"client_user_id": "u1"}, "products": ["investments"]});
    let link = json(post(server, "/link/token/create", link).await, 200).await;
    assert!(
        link["link_token"]
            .as_str()
            .is_some_and(|token| token.starts_with("link-sandbox-"))
    );

    let created = post(
        server,
        "/sandbox/public_token/create",
        json!({"institution_id": "ins_109508", "initial_products": ["investments"]}),
    );
    let public_token = json(created.await, 200).await["public_token"].clone();
    let exchanged = json(
        post(
            server,
            "/item/public_token/exchange",
            json!({"public_token": public_token}),
        )
        .await,
        200,
    )
    .await;
    let access_token = exchanged["access_token"].clone();
    assert!(
        access_token
            .as_str()
            .is_some_and(|token| token.starts_with("access-sandbox-"))
    );

    let again = json(
        post(
            server,
            "/item/public_token/exchange",
            json!({"public_token": public_token}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(again["error_code"], "INVALID_PUBLIC_TOKEN");

    let accounts = json(
        post(
            server,
            "/accounts/get",
            json!({"access_token": access_token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(accounts["accounts"].as_array().map(Vec::len), Some(2));
    assert_eq!(accounts["item"]["item_id"], exchanged["item_id"]);

    let holdings = json(
        post(
            server,
            "/investments/holdings/get",
            json!({"access_token": access_token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(holdings["holdings"].as_array().map(Vec::len), Some(8));
    let option = holdings["securities"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["type"] == "derivative"))
        .cloned();
    assert_eq!(
        option.map(|s| s["option_contract"]["underlying_security_ticker"].clone()),
        Some(json!("NFLX"))
    );
}

#[tokio::test]
async fn amounts_are_json_numbers_written_from_decimal_text() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::new(1, 1, 0));
    let response = post(
        server,
        "/investments/holdings/get",
        json!({"access_token": item.access_token}),
    )
    .await;
    let text = response.text().await.expect("body");
    assert!(text.contains(r#""quantity":2.5"#), "{text}");
    assert!(text.contains(r#""institution_price":2.11"#), "{text}");
}

/// Only what paging needs, so the test spends its time in the sandbox rather than building JSON trees.
#[derive(serde::Deserialize)]
struct TransactionPage {
    total_investment_transactions: u64,
    investment_transactions: Vec<TransactionId>,
}

#[derive(serde::Deserialize)]
struct TransactionId {
    investment_transaction_id: String,
}

#[tokio::test]
async fn one_hundred_thousand_transactions_page_to_their_total() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::new(3, 4, 100_000));
    let (mut offset, mut seen, mut total) = (0u64, HashSet::new(), u64::MAX);
    while offset < total {
        let request = json!({"access_token": item.access_token, "start_date": "2000-01-01", "end_date": "2100-01-01",
                             "options": {"count": 500, "offset": offset}});
        let response = post(server, "/investments/transactions/get", request).await;
        assert_eq!(response.status(), 200);
        let page: TransactionPage = response.json().await.expect("a transactions page");
        total = page.total_investment_transactions;
        assert!(
            !page.investment_transactions.is_empty() && page.investment_transactions.len() <= 500
        );
        offset += page.investment_transactions.len() as u64;
        seen.extend(
            page.investment_transactions
                .into_iter()
                .map(|t| t.investment_transaction_id),
        );
    }
    assert_eq!(total, 100_000);
    assert_eq!(seen.len(), 100_000);
}

#[tokio::test]
async fn a_date_range_narrows_the_total() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::new(1, 2, 1_000));
    let today = chrono::Utc::now().date_naive();
    let since = today - chrono::Duration::days(30);
    let request = json!({"access_token": item.access_token, "start_date": since.to_string(), "end_date": today.to_string()});
    let page = json(
        post(server, "/investments/transactions/get", request).await,
        200,
    )
    .await;
    let total = page["total_investment_transactions"]
        .as_u64()
        .expect("a total");
    assert!(total > 0 && total < 1_000, "{total}");
    let dates_in_range = page["investment_transactions"]
        .as_array()
        .expect("list")
        .iter()
        .all(|t| {
            t["date"].as_str().is_some_and(|date| {
                date >= since.to_string().as_str() && date <= today.to_string().as_str()
            })
        });
    assert!(dates_in_range);
}

#[tokio::test]
async fn a_count_above_500_is_an_invalid_field() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let request = json!({"access_token": item.access_token, "start_date": "2020-01-01", "end_date": "2030-01-01",
                         "options": {"count": 501}});
    let error = json(
        post(server, "/investments/transactions/get", request).await,
        400,
    )
    .await;
    assert_eq!(error["error_code"], "INVALID_FIELD");
}

#[tokio::test]
async fn an_item_needing_login_answers_item_login_required_until_repaired() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    assert!(server.require_login(&item.item_id));
    let error = json(
        post(
            server,
            "/accounts/get",
            json!({"access_token": item.access_token}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(error["error_type"], "ITEM_ERROR");
    assert_eq!(error["error_code"], "ITEM_LOGIN_REQUIRED");
    let described = json(
        post(
            server,
            "/item/get",
            json!({"access_token": item.access_token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        described["item"]["error"]["error_code"],
        "ITEM_LOGIN_REQUIRED"
    );
    assert!(server.repair_login(&item.item_id));
    json(
        post(
            server,
            "/accounts/get",
            json!({"access_token": item.access_token}),
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn an_item_whose_consent_is_revoked_answers_user_permission_revoked_until_update_mode() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    assert!(server.revoke_permission(&item.item_id));
    assert!(!server.revoke_permission("no-such-item"));
    for path in ["/accounts/get", "/investments/holdings/get"] {
        let error = json(
            post(server, path, json!({"access_token": item.access_token})).await,
            400,
        )
        .await;
        assert_eq!(error["error_type"], "ITEM_ERROR", "{path}");
        assert_eq!(error["error_code"], "USER_PERMISSION_REVOKED", "{path}");
    }
    let described = json(
        post(
            server,
            "/item/get",
            json!({"access_token": item.access_token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        described["item"]["error"]["error_code"],
        "USER_PERMISSION_REVOKED"
    );
    // Update mode is open to the revoked Item: a Link token for it, no products.
    let token = json(
        post(
            server,
            "/link/token/create",
            json!({"client_name": "Tributary", "language": "en", "country_codes": ["US"],
                   "user": {"client_user_id": "user-1"}, "access_token": item.access_token}),
        )
        .await,
        200,
    )
    .await;
    assert!(
        token["link_token"]
            .as_str()
            .unwrap()
            .starts_with("link-sandbox-")
    );
    assert!(server.repair_login(&item.item_id));
    json(
        post(
            server,
            "/accounts/get",
            json!({"access_token": item.access_token}),
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn a_removed_item_is_gone() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    json(
        post(
            server,
            "/item/remove",
            json!({"access_token": item.access_token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(server.item_count(), 0);
    let error = json(
        post(
            server,
            "/item/get",
            json!({"access_token": item.access_token}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(error["error_code"], "ITEM_NOT_FOUND");
}

#[tokio::test]
async fn the_sandbox_reset_login_endpoint_breaks_the_item() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let reset = json(
        post(
            server,
            "/sandbox/item/reset_login",
            json!({"access_token": item.access_token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(reset["reset_login"], true);
    let request = json!({"access_token": item.access_token});
    let error = json(
        post(server, "/investments/holdings/get", request).await,
        400,
    )
    .await;
    assert_eq!(error["error_code"], "ITEM_LOGIN_REQUIRED");
}

// ---- Strictness: each test below cites the line of plaid-openapi.yml (or Plaid's error docs, where the spec
// ---- is silent) that the sandbox now enforces.

/// Plaid answers a field its request schema does not list with `UNKNOWN_FIELDS` ("the following fields are not
/// recognized by this endpoint: user.email"); the request schemas (e.g. `AccountsGetRequest.properties`) list
/// what each endpoint knows.
#[tokio::test]
async fn a_field_the_request_schema_does_not_list_is_refused_as_unknown_fields() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let unknown = ("INVALID_REQUEST".to_owned(), "UNKNOWN_FIELDS".to_owned());
    let top = json!({"access_token": item.access_token, "acess_token": "typo"});
    assert_eq!(refused(server, "/accounts/get", top).await, unknown);
    let nested = json!({"access_token": item.access_token, "start_date": "2024-01-01", "end_date": "2024-02-01",
                        "options": {"count": 10, "page": 2}});
    assert_eq!(
        refused(server, "/investments/transactions/get", nested).await,
        unknown
    );
    let link = json!({"client_name": "Tributary", "language": "en", "country_codes": ["US"],
                      "user": {"client_user_id": "u1", "email": "a@example.com"}, "products": ["investments"]});
    assert_eq!(refused(server, "/link/token/create", link).await, unknown);
}

/// The spec's `security` requires `plaidVersion` (header `Plaid-Version`) beside the keys, and describes only
/// version 2020-09-14 (`info.version`); a request without it, or pinned to another version, is refused with
/// `INVALID_HEADERS` (the spec gives no code; this is Plaid's code for a missing or invalid header).
#[tokio::test]
async fn a_request_without_plaid_version_2020_09_14_is_refused_as_invalid_headers() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let body = json!({"client_id": server.client_id(), "secret": server.secret(), "access_token": item.access_token});
    for version in [None, Some("2018-05-22")] {
        let mut request = reqwest::Client::new()
            .post(format!("{}/item/get", server.base_url()))
            .json(&body);
        if let Some(version) = version {
            request = request.header("Plaid-Version", version);
        }
        let error = json(request.send().await.expect("answer"), 400).await;
        assert_eq!(error["error_type"], "INVALID_REQUEST", "{version:?}");
        assert_eq!(error["error_code"], "INVALID_HEADERS", "{version:?}");
    }
}

/// Every `requestBody` in the spec has only `content: application/json`; Plaid answers any other content type
/// with `INVALID_BODY` ("The Plaid API only accepts JSON text as the MIME media type").
#[tokio::test]
async fn a_body_not_sent_as_application_json_is_an_invalid_body() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let body = json!({"client_id": server.client_id(), "secret": server.secret(), "access_token": item.access_token});
    let response = reqwest::Client::new()
        .post(format!("{}/item/get", server.base_url()))
        .header("Plaid-Version", PLAID_VERSION)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(json(response, 400).await["error_code"], "INVALID_BODY");
}

/// Plaid's `INVALID_ACCESS_TOKEN`: "Access tokens are in the format: access-<environment>-<identifier>" and the
/// error comes when the token "is invalid or pertains to a different API environment" ("could not find matching
/// access token"). `ITEM_NOT_FOUND` is for an Item that existed and was removed (`/item/remove`: "Once
/// removed, the `access_token` … is no longer valid").
#[tokio::test]
async fn a_token_of_another_environment_or_never_issued_is_an_invalid_access_token() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let production = item
        .access_token
        .replace("access-sandbox-", "access-production-");
    let never_issued = "access-sandbox-00000000-0000-4000-8000-000000000000";
    for token in [production.as_str(), never_issued] {
        let (error_type, code) = refused(server, "/item/get", json!({"access_token": token})).await;
        assert_eq!(
            (error_type.as_str(), code.as_str()),
            ("INVALID_INPUT", "INVALID_ACCESS_TOKEN"),
            "{token}"
        );
    }
}

/// A required string sent as another JSON type is not missing but wrong: `INVALID_FIELD`. `AccessToken` and
/// `start_date`/`end_date` are `type: string`; dates are `format: date`, "formatted as YYYY-MM-DD" (two-digit
/// month and day, as RFC 3339's full-date).
#[tokio::test]
async fn a_required_field_of_the_wrong_type_or_a_loose_date_is_an_invalid_field() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    assert_eq!(
        refused(server, "/accounts/get", json!({"access_token": 42})).await,
        invalid_field()
    );
    for (start, end) in [
        (json!("2024-1-5"), json!("2024-02-01")),
        (json!(20240101), json!("2024-02-01")),
        (json!("2024-01-01"), json!("2024-02-01T00:00:00Z")),
    ] {
        let request =
            json!({"access_token": item.access_token, "start_date": start, "end_date": end});
        assert_eq!(
            refused(server, "/investments/transactions/get", request).await,
            invalid_field(),
            "{start} {end}"
        );
    }
}

/// `InvestmentsTransactionsGetRequestOptions`: "If provided, must be non-`null`"; `count` is an integer 1..=500
/// (`minimum: 1`, `maximum: 500`) and `offset` an integer `minimum: 0`, neither nullable; `account_ids` is
/// `type: array` of `type: string`. `InvestmentHoldingsGetRequestOptions`: "If provided, must not be `null`".
#[tokio::test]
async fn null_options_and_options_of_the_wrong_type_are_invalid_fields() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let dates = |options: Value| json!({"access_token": item.access_token, "start_date": "2020-01-01", "end_date": "2030-01-01", "options": options});
    for options in [
        Value::Null,
        json!({"count": null}),
        json!({"offset": null}),
        json!({"count": 0}),
        json!({"count": 10.5}),
        json!({"offset": -1}),
        json!({"account_ids": item.account_ids[0]}),
        json!({"account_ids": [7]}),
        json!({"async_update": "yes"}),
    ] {
        assert_eq!(
            refused(
                server,
                "/investments/transactions/get",
                dates(options.clone())
            )
            .await,
            invalid_field(),
            "{options}"
        );
    }
    for options in [Value::Null, json!({"account_ids": "all"})] {
        let request = json!({"access_token": item.access_token, "options": options});
        assert_eq!(
            refused(server, "/investments/holdings/get", request).await,
            invalid_field(),
            "{options}"
        );
    }
}

/// `InvestmentsTransactionsGetRequestOptions.account_ids`: "An array of `account_ids` to retrieve for the
/// Item"; the response's `accounts` are "The accounts for which transaction history is being fetched" and
/// `total_investment_transactions` counts "transactions available within the date range specified". An id
/// that is not the Item's is `INVALID_ACCOUNT_ID` (as `InvestmentHoldingsGetRequestOptions.account_ids` says:
/// "An error will be returned if a provided `account_id` is not associated with the Item").
#[tokio::test]
async fn investment_transactions_are_only_those_of_the_accounts_asked_for() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::new(3, 2, 300));
    let wanted = &item.account_ids[1];
    let (mut offset, mut seen, mut total) = (0u64, 0u64, u64::MAX);
    while offset < total {
        let request = json!({"access_token": item.access_token, "start_date": "2000-01-01", "end_date": "2100-01-01",
                             "options": {"account_ids": [wanted], "count": 7, "offset": offset}});
        let page = json(
            post(server, "/investments/transactions/get", request).await,
            200,
        )
        .await;
        total = page["total_investment_transactions"]
            .as_u64()
            .expect("a total");
        let accounts = page["accounts"].as_array().expect("accounts");
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0]["account_id"], wanted.as_str());
        let transactions = page["investment_transactions"].as_array().expect("list");
        assert!(!transactions.is_empty());
        assert!(
            transactions
                .iter()
                .all(|t| t["account_id"] == wanted.as_str())
        );
        offset += transactions.len() as u64;
        seen += transactions.len() as u64;
    }
    assert_eq!(total, 100);
    assert_eq!(seen, 100);
    let foreign = json!({"access_token": item.access_token, "start_date": "2000-01-01", "end_date": "2100-01-01",
                         "options": {"account_ids": ["not-this-items-account"]}});
    let (error_type, code) = refused(server, "/investments/transactions/get", foreign).await;
    assert_eq!(
        (error_type.as_str(), code.as_str()),
        ("INVALID_INPUT", "INVALID_ACCOUNT_ID")
    );
}

/// `InvestmentsTransactionsGetResponse.securities`: "All securities for which there is a corresponding
/// transaction being fetched" — not every security of the Item.
#[tokio::test]
async fn a_transactions_page_lists_only_the_securities_its_transactions_refer_to() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::new(1, 4, 100));
    let request = json!({"access_token": item.access_token, "start_date": "2000-01-01", "end_date": "2100-01-01",
                         "options": {"count": 1}});
    let page = json(
        post(server, "/investments/transactions/get", request).await,
        200,
    )
    .await;
    let referred = &page["investment_transactions"][0]["security_id"];
    let securities = page["securities"].as_array().expect("securities");
    assert_eq!(securities.len(), 1, "{securities:?}");
    assert_eq!(&securities[0]["security_id"], referred);
}

/// `/item/public_token/exchange`: "The `public_token` is ephemeral and expires after 30 minutes."
#[tokio::test]
async fn a_public_token_expires_thirty_minutes_after_it_was_created() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let create = json!({"institution_id": "ins_109508", "initial_products": ["investments"]});
    let token = json(
        post(server, "/sandbox/public_token/create", create).await,
        200,
    )
    .await["public_token"]
        .clone();
    server.advance_clock(chrono::Duration::minutes(31));
    let (error_type, code) = refused(
        server,
        "/item/public_token/exchange",
        json!({"public_token": token}),
    )
    .await;
    assert_eq!(
        (error_type.as_str(), code.as_str()),
        ("INVALID_INPUT", "INVALID_PUBLIC_TOKEN")
    );
}

fn link_request() -> Value {
    json!({"client_name": "Tributary", "language": "en", "country_codes": ["US"],
           "user": {"client_user_id": "u1"}, "products": ["investments"]})
}

/// `LinkTokenCreateRequest.products`: items are `Products`; "`balance` is *not* a valid value"; "at least one
/// `product` is required" outside update mode. `country_codes` items are `CountryCode` (an enum), `language` one
/// of the "Supported languages", `webhook` is `format: url`.
#[tokio::test]
async fn link_token_create_refuses_values_outside_plaids_lists() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let mut without_products = link_request();
    without_products
        .as_object_mut()
        .expect("object")
        .remove("products");
    let (_, code) = refused(server, "/link/token/create", without_products).await;
    assert_eq!(code, "MISSING_FIELDS");
    for (field, value) in [
        ("products", json!(["balance"])),
        ("products", json!(["stocks"])),
        ("country_codes", json!(["XX"])),
        ("language", json!("klingon")),
        ("webhook", json!("not a url")),
    ] {
        let mut request = link_request();
        request[field] = value.clone();
        assert_eq!(
            refused(server, "/link/token/create", request).await,
            invalid_field(),
            "{field}: {value}"
        );
    }
}

/// Update mode: `LinkTokenCreateRequest.access_token` names an existing Item, `products` "should be omitted"
/// (investments is no credit product), and `LinkTokenCreateResponse.expiration`: "a `link_token` created for
/// an existing Item (such as when updating an existing `access_token` by launching Link in update mode)
/// expires after 30 minutes".
#[tokio::test]
async fn update_mode_needs_a_live_access_token_no_products_and_expires_in_thirty_minutes() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let mut update = link_request();
    update["access_token"] = json!(item.access_token);
    assert_eq!(
        refused(server, "/link/token/create", update.clone()).await,
        invalid_field()
    );
    update.as_object_mut().expect("object").remove("products");
    let created = json(
        post(server, "/link/token/create", update.clone()).await,
        200,
    )
    .await;
    let expiration =
        chrono::DateTime::parse_from_rfc3339(created["expiration"].as_str().expect("text"))
            .expect("a date-time");
    let minutes = (expiration.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((28..=30).contains(&minutes), "{minutes}");
    update["access_token"] = json!("access-sandbox-00000000-0000-4000-8000-000000000000");
    let (_, code) = refused(server, "/link/token/create", update).await;
    assert_eq!(code, "INVALID_ACCESS_TOKEN");
}

/// `SandboxPublicTokenCreateRequest.initial_products` items are `Products`; its `options`: "If specified, must
/// not be `null`"; `options.webhook` is `format: url`.
#[tokio::test]
async fn sandbox_public_token_create_refuses_unknown_products_and_null_options() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    for request in [
        json!({"institution_id": "ins_109508", "initial_products": ["stocks"]}),
        json!({"institution_id": "ins_109508", "initial_products": ["investments"], "options": null}),
        json!({"institution_id": "ins_109508", "initial_products": ["investments"], "options": {"webhook": "nope"}}),
    ] {
        assert_eq!(
            refused(server, "/sandbox/public_token/create", request.clone()).await,
            invalid_field(),
            "{request}"
        );
    }
}

/// `ItemRemoveRequest.reason_code` is `ItemRemoveReasonCode` (an enum); `reason_note` has `maxLength: 512`.
/// A refused removal removes nothing.
#[tokio::test]
async fn item_remove_refuses_an_unknown_reason_and_a_note_over_512_characters() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    for (field, value) in [
        ("reason_code", json!("BORED")),
        ("reason_note", json!("x".repeat(513))),
    ] {
        let mut request = json!({"access_token": item.access_token});
        request[field] = value;
        assert_eq!(
            refused(server, "/item/remove", request).await,
            invalid_field(),
            "{field}"
        );
    }
    assert_eq!(server.item_count(), 1);
    let fine = json!({"access_token": item.access_token, "reason_code": "OTHER", "reason_note": "x".repeat(512)});
    json(post(server, "/item/remove", fine).await, 200).await;
    assert_eq!(server.item_count(), 0);
}

/// Products Plaid added after the vendored spec (plaid-python 46.0.0, spec 1.778.0) are Plaid's products too:
/// a request from the newer SDK naming them is not refused.
#[tokio::test]
async fn products_of_the_newer_spec_are_accepted() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    for product in ["cra_home_lending", "cra_qualify"] {
        let created = post(
            server,
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["investments", product]}),
        )
        .await;
        crate::support::json(created, 200).await;
    }
}
