//! The Plaid sandbox checks credentials, links Items and pages investment transactions as Plaid does.

mod support;

use std::collections::HashSet;

use serde_json::{Value, json};
use support::json;
use tributary_sandbox::{PlaidSandbox, Sandbox, SeedItem};

async fn post(server: &PlaidSandbox, path: &str, mut body: Value) -> reqwest::Response {
    body["client_id"] = json!(server.client_id());
    body["secret"] = json!(server.secret());
    reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .json(&body)
        .send()
        .await
        .expect("answer")
}

#[tokio::test]
async fn a_bad_secret_gets_invalid_api_keys() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let body = json!({"client_id": server.client_id(), "secret": "wrong", "access_token": "access-sandbox-x"});
    let response = reqwest::Client::new()
        .post(format!("{}/accounts/get", server.base_url()))
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
