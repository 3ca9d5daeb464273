//! The Plaid client against wiremock on 127.0.0.1: request shape, parsing, errors, paging, secrecy.
#![cfg(feature = "plaid")]

use std::collections::HashMap;
use std::fmt::Debug;

use crate::ProviderError;
use crate::capability::Aggregation;
use crate::plaid::{
    AccessToken, LinkTokenRequest, MAX_PAGE_SIZE, PlaidClient, PlaidConfig, PlaidEnvironment,
};
use chrono::NaiveDate;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::tests::support::{LogCapture, dec, fixture};

const CLIENT_ID: &str = "client-id-123";
const SECRET: &str = "plaid-secret-do-not-leak";
const TOKEN: &str = "access-sandbox-token-do-not-leak";

fn client(server: &MockServer) -> PlaidClient {
    let config = PlaidConfig::new(
        CLIENT_ID,
        SecretString::from(SECRET),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap());
    PlaidClient::new(config).unwrap()
}

fn token() -> AccessToken {
    AccessToken::new(SecretString::from(TOKEN))
}

fn plaid_error(status: u16, error_type: &str, error_code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error_type": error_type,
        "error_code": error_code,
        "error_message": "something happened",
        "display_message": null,
        "request_id": "req-err-1",
    }))
}

#[tokio::test]
async fn accounts_request_carries_credentials_token_and_version() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/accounts/get"))
        .and(header("Plaid-Version", "2020-09-14"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({"client_id": CLIENT_ID, "secret": SECRET, "access_token": TOKEN}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("plaid", "accounts_get")))
        .expect(1)
        .mount(&server)
        .await;

    let response = client(&server).accounts(&token()).await.unwrap();

    assert_eq!(response.accounts.len(), 3);
    assert_eq!(
        response.accounts[1].balances.current,
        Some(dec("23631.9805"))
    );
}

#[tokio::test]
async fn holdings_and_item_parse_the_spec_examples() {
    let server = MockServer::start().await;
    for (endpoint, name) in [
        ("/investments/holdings/get", "investments_holdings_get"),
        ("/item/get", "item_get"),
    ] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .and(body_partial_json(json!({"access_token": TOKEN})))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture("plaid", name)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let plaid = client(&server);

    let holdings = plaid.holdings(&token()).await.unwrap();
    let item = plaid.item(&token()).await.unwrap();

    assert_eq!(holdings.request_id, "l68wb8zpS0hqmsJ");
    assert!(
        holdings
            .holdings
            .iter()
            .any(|h| h.quantity == dec("12345.67"))
    );
    assert_eq!(
        item.item.institution_name.as_deref(),
        Some("First Platypus Bank")
    );
}

#[tokio::test]
async fn link_token_request_names_the_user_products_and_webhook() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/link/token/create"))
        .and(body_json(json!({
            "client_id": CLIENT_ID,
            "secret": SECRET,
            "client_name": "Tributary",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "user-42"},
            "products": ["investments"],
            "webhook": "https://example.invalid/hooks/plaid",
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("plaid", "link_token_create")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut request = LinkTokenRequest::investments("user-42", "Tributary");
    request.webhook = Some("https://example.invalid/hooks/plaid".into());

    let link = client(&server).create_link_token(&request).await.unwrap();

    assert_eq!(
        link.link_token,
        "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176"
    );
}

#[tokio::test]
async fn update_mode_link_token_sends_the_access_token_and_no_products() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/link/token/create"))
        .and(body_partial_json(
            json!({"access_token": TOKEN, "user": {"client_user_id": "user-42"}}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("plaid", "link_token_create")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let request = LinkTokenRequest::investments("user-42", "Tributary").update(token());

    client(&server).create_link_token(&request).await.unwrap();

    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert!(
        sent.get("products").is_none(),
        "Plaid rejects products in update mode: {sent}"
    );
}

#[tokio::test]
async fn public_token_exchange_returns_a_secret_access_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/item/public_token/exchange"))
        .and(body_json(
            json!({"client_id": CLIENT_ID, "secret": SECRET, "public_token": "public-sandbox-1"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("plaid", "item_public_token_exchange")),
        )
        .expect(1)
        .mount(&server)
        .await;

    let item = client(&server)
        .exchange_public_token("public-sandbox-1")
        .await
        .unwrap();

    let exchanged = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6";
    assert_eq!(item.access_token.secret().expose_secret(), exchanged);
    assert_eq!(item.item_id, "M5eVJqLnv3tbzdngLDp9FL5OlDNxlNhlE55op");
    assert!(!format!("{item:?}").contains(exchanged));
}

#[tokio::test]
async fn a_sandbox_public_token_is_created_once_and_never_shown_even_when_its_answer_is_off() {
    let server = MockServer::start().await;
    let public = "public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d";
    Mock::given(method("POST"))
        .and(path("/sandbox/public_token/create"))
        .and(body_json(json!({"client_id": CLIENT_ID, "secret": SECRET,
                              "institution_id": "ins_109508", "initial_products": ["investments"]})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"public_token": public, "request_id": "Aim3b"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let plaid = client(&server);

    let token = plaid
        .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
        .await
        .unwrap();
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/sandbox/public_token/create"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"public_token": public})))
        .mount(&server)
        .await;
    let error = plaid
        .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
        .await
        .unwrap_err();

    assert_eq!(token.expose_secret(), public);
    assert!(!format!("{token:?}").contains(public));
    assert!(!format!("{error:?} {error}").contains(public), "{error:?}");
}

fn transaction(n: u64) -> Value {
    json!({
        "investment_transaction_id": format!("txn-{n}"),
        "account_id": "acc-1",
        "security_id": "sec-1",
        "date": "2024-05-01",
        "name": "BUY",
        "quantity": serde_json::from_str::<Value>("0.1000000000000000000000000001").unwrap(),
        "amount": 10.5,
        "price": 105,
        "fees": 0,
        "type": "buy",
        "subtype": "buy",
        "iso_currency_code": "USD",
        "unofficial_currency_code": null,
    })
}

fn transactions_page(offset: u64, len: u64, total: u64) -> Value {
    let mut page = fixture("plaid", "investments_transactions_get");
    page["investment_transactions"] = (offset..offset + len).map(transaction).collect();
    page["total_investment_transactions"] = json!(total);
    page
}

#[tokio::test]
async fn transactions_are_paged_by_offset_until_the_total_is_reached() {
    let server = MockServer::start().await;
    for (offset, len) in [(0, 500), (500, 500), (1000, 203)] {
        Mock::given(method("POST"))
            .and(path("/investments/transactions/get"))
            .and(body_partial_json(json!({
                "access_token": TOKEN,
                "start_date": "2024-01-01",
                "end_date": "2024-12-31",
                "options": {"count": 500, "offset": offset},
            })))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(transactions_page(offset, len, 1203)),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let plaid = client(&server);
    let access_token = token();
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
    let mut page_sizes = Vec::new();
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = Aggregation::transactions(&plaid, &access_token, start, end, cursor)
            .await
            .unwrap();
        assert!(page.left_out.is_empty(), "{:?}", page.left_out);
        page_sizes.push(page.transactions.len());
        ids.extend(
            page.transactions
                .into_iter()
                .map(|t| t.provider_transaction_id),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    assert_eq!(page_sizes, [500, 500, 203]);
    assert_eq!(ids.len(), 1203);
    assert_eq!(ids.first().map(|id| id.as_str()), Some("txn-0"));
    assert_eq!(ids.last().map(|id| id.as_str()), Some("txn-1202"));
    let offsets: Vec<u64> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["options"]["offset"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(offsets, [0, 500, 1000]);
}

#[tokio::test]
async fn paging_stops_on_an_early_empty_page_instead_of_looping() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/investments/transactions/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(transactions_page(0, 0, 40)))
        .expect(1)
        .mount(&server)
        .await;
    let plaid = client(&server);
    let access_token = token();
    let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let page = Aggregation::transactions(&plaid, &access_token, day, day, None)
        .await
        .unwrap();

    assert!(page.transactions.is_empty());
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn transaction_amounts_keep_every_digit() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/investments/transactions/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(transactions_page(0, 1, 1)))
        .mount(&server)
        .await;
    let plaid = client(&server);
    let access_token = token();
    let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();

    let page = plaid
        .investment_transactions_page(&access_token, day, day, &[], MAX_PAGE_SIZE, 0)
        .await
        .unwrap();

    assert_eq!(
        page.investment_transactions[0]
            .item
            .as_ref()
            .unwrap()
            .quantity,
        dec("0.1000000000000000000000000001")
    );
}

#[tokio::test]
async fn item_login_required_asks_the_user_to_sign_in_again_with_the_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/investments/holdings/get"))
        .respond_with(plaid_error(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED"))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).holdings(&token()).await.unwrap_err();

    let ProviderError::LoginRequired(details) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(details.code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
    assert_eq!(details.request_id.as_deref(), Some("req-err-1"));
    assert_eq!(details.status, 400);
}

#[tokio::test]
async fn product_not_ready_is_not_ready_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/investments/holdings/get"))
        .respond_with(plaid_error(400, "ITEM_ERROR", "PRODUCT_NOT_READY"))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).holdings(&token()).await.unwrap_err();

    assert!(matches!(error, ProviderError::NotReady(_)), "got {error:?}");
}

#[tokio::test]
async fn invalid_access_token_is_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/item/get"))
        .respond_with(plaid_error(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN"))
        .mount(&server)
        .await;

    let error = client(&server).item(&token()).await.unwrap_err();

    assert!(
        matches!(error, ProviderError::Unauthorized(_)),
        "got {error:?}"
    );
}

#[tokio::test]
async fn rate_limited_reads_are_retried_then_reported_as_rate_limited() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/accounts/get"))
        .respond_with(
            plaid_error(429, "RATE_LIMIT_EXCEEDED", "ACCOUNTS_LIMIT")
                .insert_header("Retry-After", "0"),
        )
        .expect(3)
        .mount(&server)
        .await;

    let error = client(&server).accounts(&token()).await.unwrap_err();

    let ProviderError::RateLimited {
        detail: details, ..
    } = error
    else {
        panic!("got {error:?}")
    };
    assert_eq!(details.code.as_deref(), Some("ACCOUNTS_LIMIT"));
}

#[tokio::test]
async fn a_read_that_hits_an_internal_error_once_succeeds_on_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/accounts/get"))
        .respond_with(plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/accounts/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("plaid", "accounts_get")))
        .expect(1)
        .mount(&server)
        .await;

    let accounts = client(&server).accounts(&token()).await.unwrap();

    assert_eq!(accounts.request_id, "bkVE1BHWMAZ9Rnr");
}

#[tokio::test]
async fn item_remove_is_sent_once_even_when_plaid_fails() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/item/remove"))
        .and(body_partial_json(json!({"access_token": TOKEN})))
        .respond_with(plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR"))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).remove_item(&token()).await.unwrap_err();

    assert!(matches!(error, ProviderError::Upstream(_)), "got {error:?}");
}

#[tokio::test]
async fn item_remove_returns_the_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/item/remove"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("plaid", "item_remove")))
        .expect(1)
        .mount(&server)
        .await;

    assert_eq!(
        client(&server).remove_item(&token()).await.unwrap(),
        "m8MDnv9okwxFNBV"
    );
}

#[tokio::test]
async fn a_body_that_does_not_match_is_a_decode_error_with_the_raw_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/item/get"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"unexpected": true}"#))
        .mount(&server)
        .await;

    let error = client(&server).item(&token()).await.unwrap_err();

    let ProviderError::Decode { raw_body, .. } = error else {
        panic!("got {error:?}")
    };
    assert!(raw_body.contains("unexpected"));
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

#[test]
fn config_reads_the_environment_names_and_picks_the_environment_url() {
    let config = PlaidConfig::from_lookup(lookup(&[
        ("PLAID_CLIENT_ID", "id"),
        ("PLAID_SECRET", "s"),
        ("PLAID_ENV", "production"),
    ]))
    .unwrap();
    assert_eq!(config.base_url().as_str(), "https://production.plaid.com/");

    let config = PlaidConfig::from_lookup(lookup(&[
        ("PLAID_CLIENT_ID", "id"),
        ("PLAID_SECRET", "s"),
        ("PLAID_ENV", "production"),
        ("PLAID_BASE_URL", "http://127.0.0.1:9999"),
    ]))
    .unwrap();
    assert_eq!(config.base_url().as_str(), "http://127.0.0.1:9999/");
    assert_eq!(config.environment(), Some(PlaidEnvironment::Production));

    let unnamed = PlaidConfig::from_lookup(lookup(&[
        ("PLAID_CLIENT_ID", "id"),
        ("PLAID_SECRET", "s"),
        ("PLAID_BASE_URL", "http://127.0.0.1:9999"),
    ]))
    .unwrap();
    assert_eq!(
        unnamed.environment(),
        None,
        "a base URL alone says no environment"
    );
}

#[test]
fn missing_or_malformed_config_names_the_variable() {
    let missing_secret = PlaidConfig::from_lookup(lookup(&[
        ("PLAID_CLIENT_ID", "id"),
        ("PLAID_ENV", "sandbox"),
    ]));
    assert!(
        missing_secret
            .unwrap_err()
            .to_string()
            .contains("PLAID_SECRET")
    );

    let bad_env = PlaidConfig::from_lookup(lookup(&[
        ("PLAID_CLIENT_ID", "id"),
        ("PLAID_SECRET", "s"),
        ("PLAID_ENV", "development"),
    ]));
    assert!(bad_env.unwrap_err().to_string().contains("PLAID_ENV"));

    let no_env =
        PlaidConfig::from_lookup(lookup(&[("PLAID_CLIENT_ID", "id"), ("PLAID_SECRET", "s")]));
    assert!(no_env.unwrap_err().to_string().contains("PLAID_ENV"));
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(plaid_error(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED"))
        .mount(&server)
        .await;
    let plaid = client(&server);
    let error = plaid.accounts(&token()).await.unwrap_err();
    let request = LinkTokenRequest::investments("u", "Tributary").update(token());

    let debug_outputs: Vec<String> = vec![
        format!("{:?}", plaid),
        format!("{:?}", plaid.config()),
        format!("{:?}", token()),
        format!("{:?}", request),
        format!("{error:?}"),
        error.to_string(),
    ];
    assert_no_secret(&debug_outputs);
}

#[tokio::test]
async fn secrets_never_appear_in_captured_logs() {
    let (logs, _guard) = LogCapture::start();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/accounts/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("plaid", "accounts_get")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/item/get"))
        .respond_with(plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR"))
        .mount(&server)
        .await;
    let plaid = client(&server);

    plaid.accounts(&token()).await.unwrap();
    plaid.item(&token()).await.unwrap_err();

    let captured = logs.text();
    assert!(
        captured.contains("/accounts/get"),
        "the spans name the endpoint: {captured}"
    );
    assert!(
        captured.contains("status=500"),
        "the spans record the status: {captured}"
    );
    assert_no_secret(&[captured]);
}

fn assert_no_secret(outputs: &[impl AsRef<str> + Debug]) {
    for output in outputs {
        let text = output.as_ref();
        assert!(!text.contains(SECRET), "the Plaid secret leaked: {text}");
        assert!(!text.contains(TOKEN), "the access token leaked: {text}");
    }
}

#[tokio::test]
async fn a_gateway_page_instead_of_a_plaid_error_is_still_an_upstream_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/item/remove"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).remove_item(&token()).await.unwrap_err();

    let ProviderError::Upstream(details) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(details.status, 502);
    assert!(details.message.contains("Bad Gateway"));
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_backoff_cap_is_reported_at_once_with_its_wait() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/accounts/get"))
        .respond_with(
            plaid_error(429, "RATE_LIMIT_EXCEEDED", "ACCOUNTS_LIMIT")
                .insert_header("Retry-After", "60"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).accounts(&token()).await.unwrap_err();

    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "got {error:?}"
    );
    assert_eq!(
        error.retry_after(),
        Some(std::time::Duration::from_secs(60))
    );
    assert!(error.is_retryable());
}
