//! The Plaid client when Plaid misbehaves, over real HTTP against `tributary-sandbox`'s fault knobs (and
//! a proxy that drops connections): capped retries of reads ending in typed errors, writes never
//! repeated, timeouts, retired endpoints. A body of the wrong type is served by `wiremock`.
//!
//! Plaid sends no `Retry-After`, so there is no reset to wait out. Faults already covered elsewhere are
//! not repeated here: a 429 and a 500 ridden out, item/remove sent once after a 5xx, a truncated answer
//! (`plaid_sandbox`); 429 past the retry cap, a body missing its fields (`plaid_client`).
#![cfg(feature = "plaid")]

use std::time::Duration;

use crate::ProviderError;
use crate::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
use secrecy::SecretString;
use serde_json::json;
use tributary_sandbox::{Sandbox, SeedItem, SeededItem};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::tests::support::dropping_proxy::DroppingProxy;

/// The client's default number of attempts for a call it may repeat.
const ATTEMPTS: usize = 3;

fn client_at(base_url: &str, client_id: &str, secret: &str) -> PlaidClient {
    let config = PlaidConfig::new(
        client_id,
        SecretString::from(secret),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(base_url).unwrap())
    .with_timeout(Duration::from_millis(300));
    PlaidClient::new(config).unwrap()
}

fn sandbox_client_at(sandbox: &Sandbox, base_url: &str) -> PlaidClient {
    client_at(
        base_url,
        sandbox.plaid().client_id(),
        sandbox.plaid().secret(),
    )
}

fn client(sandbox: &Sandbox) -> PlaidClient {
    sandbox_client_at(sandbox, &sandbox.plaid_base_url())
}

fn seeded_item(sandbox: &Sandbox) -> (SeededItem, AccessToken) {
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 2, 1));
    let token = AccessToken::new(SecretString::from(item.access_token.as_str()));
    (item, token)
}

#[tokio::test]
async fn a_read_failing_with_5xx_on_every_attempt_is_upstream_after_the_capped_retries() {
    let sandbox = Sandbox::start().await;
    let (_, token) = seeded_item(&sandbox);
    sandbox.plaid().knobs().server_error_next(5, 500);

    let error = client(&sandbox).accounts(&token).await.unwrap_err();

    let ProviderError::Upstream(detail) = &error else {
        panic!("expected Upstream, got {error:?}");
    };
    assert_eq!(detail.code.as_deref(), Some("INTERNAL_SERVER_ERROR"));
    assert!(detail.request_id.is_some(), "Plaid's request_id is kept");
    assert_eq!(
        sandbox.plaid().log().count("POST", "/accounts/get"),
        ATTEMPTS
    );
}

#[tokio::test]
async fn a_read_whose_connection_drops_is_sent_again_and_succeeds() {
    let sandbox = Sandbox::start().await;
    let (item, token) = seeded_item(&sandbox);
    let proxy = DroppingProxy::start(&sandbox.plaid_base_url(), 1).await;

    let accounts = sandbox_client_at(&sandbox, &proxy.base_url())
        .accounts(&token)
        .await
        .unwrap();

    assert_eq!(accounts.accounts.len(), item.account_ids.len());
    assert_eq!(proxy.accepted(), 2);
}

#[tokio::test]
async fn removing_an_item_whose_answer_was_lost_is_not_sent_again() {
    let sandbox = Sandbox::start().await;
    let (_, token) = seeded_item(&sandbox);
    let proxy = DroppingProxy::losing_answers(&sandbox.plaid_base_url(), usize::MAX).await;

    let error = sandbox_client_at(&sandbox, &proxy.base_url())
        .remove_item(&token)
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::Transport {
                endpoint: "/item/remove",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(proxy.accepted(), 1, "item/remove was sent again");
    assert_eq!(sandbox.plaid().log().count("POST", "/item/remove"), 1);
    assert_eq!(sandbox.plaid().item_count(), 0, "Plaid did remove the Item");
}

#[tokio::test]
async fn a_read_slower_than_the_timeout_is_a_typed_timeout_after_the_capped_retries() {
    let sandbox = Sandbox::start().await;
    let (_, token) = seeded_item(&sandbox);
    sandbox
        .plaid()
        .knobs()
        .set_latency(Duration::from_millis(600));
    let counting = DroppingProxy::start(&sandbox.plaid_base_url(), 0).await;

    let error = sandbox_client_at(&sandbox, &counting.base_url())
        .holdings(&token)
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::Timeout {
                endpoint: "/investments/holdings/get",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(counting.accepted(), ATTEMPTS);
}

#[tokio::test]
async fn a_retired_endpoint_is_refused_with_its_status_and_code() {
    let sandbox = Sandbox::start().await;
    let (_, token) = seeded_item(&sandbox);
    sandbox.plaid().knobs().retire_path("/accounts/get");

    let error = client(&sandbox).accounts(&token).await.unwrap_err();

    // Plaid documents no 410, so its error_type (INVALID_REQUEST) decides: a request Plaid refuses.
    let ProviderError::Rejected(detail) = &error else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!(detail.status, 410);
    assert_eq!(detail.code.as_deref(), Some("ENDPOINT_RETIRED"));
    assert_eq!(sandbox.plaid().log().count("POST", "/accounts/get"), 1);
}

#[tokio::test]
async fn a_quantity_of_the_wrong_type_is_a_decode_error_with_the_raw_body() {
    let server = MockServer::start().await;
    let body = json!({
        "accounts": [],
        "holdings": [{
            "account_id": "acc-1",
            "security_id": "sec-1",
            "quantity": true,
            "institution_price": 1.5,
            "institution_value": 4.5,
            "cost_basis": null,
            "iso_currency_code": "USD",
            "unofficial_currency_code": null
        }],
        "securities": [],
        "item": {"item_id": "item-1"},
        "request_id": "req-1"
    });
    Mock::given(method("POST"))
        .and(path("/investments/holdings/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    let token = AccessToken::new(SecretString::from("access-sandbox-1"));

    let error = client_at(&server.uri(), "client", "secret")
        .holdings(&token)
        .await
        .unwrap_err();

    let ProviderError::Decode {
        endpoint, raw_body, ..
    } = &error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(*endpoint, "/investments/holdings/get");
    assert!(raw_body.contains("\"quantity\":true"), "{raw_body}");
    assert!(error.to_string().contains("invalid type"), "{error}");
}
