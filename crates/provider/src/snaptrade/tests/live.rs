//! The SnapTrade client against SnapTrade's real API, to catch what no local sandbox can: a drifted wire
//! format, a signature SnapTrade no longer accepts, a renamed field.
//!
//! Every test is `#[ignore]`d, so `cargo test` and CI never reach the internet. To run them, with partner
//! keys from the SnapTrade dashboard (a free developer key is enough; nothing is traded):
//!
//! ```sh
//! SNAPTRADE_CLIENT_ID=... SNAPTRADE_CONSUMER_KEY=... \
//!     cargo test -p tributary-provider --all-features --lib snaptrade::tests::live -- --ignored
//! ```
//!
//! `SNAPTRADE_BASE_URL` is optional (`https://api.snaptrade.com`). A missing variable fails the test with
//! its name; nothing passes without having talked to SnapTrade. The flow registers a throwaway user
//! (`tributary-live-<uuid>`) and deletes it again, even when a check in between fails.
#![cfg(feature = "snaptrade")]

use crate::ProviderError;
use crate::snaptrade::{LoginOptions, SnapTradeClient, SnapTradeConfig, UserCredentials};
use secrecy::SecretString;
use tributary_domain::{SnapTradeUserId, SnapTradeUserSecret};
use uuid::Uuid;

use crate::tests::support::configured;

fn live_client() -> SnapTradeClient {
    let config = configured(SnapTradeConfig::from_env());
    SnapTradeClient::new(config).expect("the HTTP client builds")
}

/// What a freshly registered user shows: a portal link, no connections, no accounts.
async fn check_fresh_user(
    snaptrade: &SnapTradeClient,
    user: &UserCredentials,
) -> Result<(), ProviderError> {
    let portal = snaptrade.login(user, &LoginOptions::default()).await?;
    let link = portal.redirect_uri.as_deref().unwrap_or_default();
    assert!(link.starts_with("https://"), "the portal link is not https");
    assert!(
        portal
            .session_id
            .as_deref()
            .is_some_and(|id| !id.is_empty()),
        "the portal answer has no session id"
    );
    let connections = snaptrade.list_brokerage_authorizations(user).await?;
    assert!(connections.is_empty(), "a new user has no connections");
    let accounts = snaptrade.list_user_accounts(user).await?;
    assert!(accounts.is_empty(), "a new user has no accounts");
    Ok(())
}

#[tokio::test]
#[ignore = "talks to the real SnapTrade API; needs SNAPTRADE_CLIENT_ID and SNAPTRADE_CONSUMER_KEY"]
async fn a_throwaway_user_is_registered_gets_a_portal_link_has_no_accounts_and_is_deleted() {
    let snaptrade = live_client();
    let user_id = SnapTradeUserId::parse(&format!("tributary-live-{}", Uuid::new_v4())).unwrap();

    let user = snaptrade.register_snaptrade_user(&user_id).await.unwrap();
    // Checked before asserting, so the user is deleted whatever the checks found.
    let checked = check_fresh_user(&snaptrade, &user).await;
    let deleted = snaptrade.delete_snaptrade_user(&user_id).await;

    assert_eq!(user.user_id, user_id);
    checked.unwrap();
    let deleted = deleted.unwrap();
    assert_eq!(deleted.user_id.as_deref(), Some(user_id.as_str()));
}

#[tokio::test]
#[ignore = "talks to the real SnapTrade API; needs SNAPTRADE_CLIENT_ID and SNAPTRADE_CONSUMER_KEY"]
async fn a_user_secret_snaptrade_never_issued_is_unauthorized() {
    let snaptrade = live_client();
    let stranger = UserCredentials::new(
        SnapTradeUserId::parse(&format!("tributary-live-{}", Uuid::new_v4())).unwrap(),
        SnapTradeUserSecret::new(SecretString::from(Uuid::new_v4().to_string())).unwrap(),
    );

    let error = snaptrade.list_user_accounts(&stranger).await.unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::Unauthorized(_) | ProviderError::NotFound(_)
        ),
        "got {error:?}"
    );
}
