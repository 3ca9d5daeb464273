//! The Plaid client against Plaid's real Sandbox environment (`https://sandbox.plaid.com`), to catch what
//! the local sandbox cannot: a drifted request or error format, credentials Plaid no longer accepts.
//!
//! Every test is `#[ignore]`d, so `cargo test` and CI never reach the internet. To run them, with the
//! client id and the **Sandbox** secret from the Plaid dashboard:
//!
//! ```sh
//! PLAID_CLIENT_ID=... PLAID_SECRET=... PLAID_ENV=sandbox \
//!     cargo test -p tributary-provider --all-features --lib plaid::tests::live -- --ignored
//! ```
//!
//! A missing variable fails the test with its name, and so does any configuration that does not point at
//! Plaid's Sandbox (`PLAID_ENV=production`, a `PLAID_BASE_URL` elsewhere): these tests never touch real
//! institutions. Our client has no `/sandbox/public_token/create` (production code never needs one), so
//! no Item is created: the tests create a Link token and check how Plaid refuses what it never issued.
#![cfg(feature = "plaid")]

use crate::ProviderError;
use crate::plaid::{AccessToken, LinkTokenRequest, PlaidClient, PlaidConfig, PlaidEnvironment};
use chrono::Utc;
use secrecy::SecretString;
use uuid::Uuid;

use crate::tests::support::configured;

/// The configuration from the environment, refused unless it points at Plaid's Sandbox.
fn sandbox_config() -> PlaidConfig {
    let config = configured(PlaidConfig::from_env());
    assert_eq!(
        config.base_url(),
        &PlaidEnvironment::Sandbox.base_url(),
        "PLAID_ENV must be sandbox (and PLAID_BASE_URL unset): these tests never run against production"
    );
    config
}

fn client(config: PlaidConfig) -> PlaidClient {
    PlaidClient::new(config).expect("the HTTP client builds")
}

fn investments_link() -> LinkTokenRequest {
    LinkTokenRequest::investments(
        format!("tributary-live-{}", Uuid::new_v4()),
        "Tributary live test",
    )
}

#[tokio::test]
#[ignore = "talks to the real Plaid Sandbox; needs PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV=sandbox"]
async fn a_link_token_for_investments_is_created_in_the_sandbox() {
    let plaid = client(sandbox_config());

    let link = plaid.create_link_token(&investments_link()).await.unwrap();

    assert!(
        link.link_token.starts_with("link-sandbox-"),
        "not a sandbox link token"
    );
    assert!(link.expiration > Utc::now(), "{}", link.expiration);
    assert!(!link.request_id.is_empty());
}

#[tokio::test]
#[ignore = "talks to the real Plaid Sandbox; needs PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV=sandbox"]
async fn an_access_token_plaid_never_issued_is_refused_with_plaids_request_id() {
    let plaid = client(sandbox_config());
    let unknown = AccessToken::new(SecretString::from(format!(
        "access-sandbox-{}",
        Uuid::new_v4()
    )));

    let error = plaid.item(&unknown).await.unwrap_err();

    let (ProviderError::Unauthorized(detail) | ProviderError::NotFound(detail)) = &error else {
        panic!("expected Unauthorized or NotFound, got {error:?}");
    };
    assert!(detail.code.is_some(), "Plaid's error_code is kept");
    assert!(detail.request_id.is_some(), "Plaid's request_id is kept");
}

#[tokio::test]
#[ignore = "talks to the real Plaid Sandbox; needs PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV=sandbox"]
async fn a_wrong_secret_is_unauthorized_and_never_shown() {
    let real = sandbox_config();
    let wrong_secret = format!("wrong-{}", Uuid::new_v4().simple());
    let config = PlaidConfig::new(
        real.client_id(),
        SecretString::from(wrong_secret.clone()),
        PlaidEnvironment::Sandbox,
    );

    let error = client(config)
        .create_link_token(&investments_link())
        .await
        .unwrap_err();

    let ProviderError::Unauthorized(detail) = &error else {
        panic!("expected Unauthorized, got {error:?}");
    };
    assert_eq!(detail.code.as_deref(), Some("INVALID_API_KEYS"));
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(&wrong_secret), "the secret leaked: {shown}");
}
