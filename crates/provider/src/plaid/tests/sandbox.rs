//! The Plaid client against `tributary-sandbox`'s Plaid server on 127.0.0.1: a stateful Plaid with its
//! auth checks, error bodies and paging, plus faults on demand.
#![cfg(feature = "plaid")]

use crate::ProviderError;
use crate::capability::{Aggregation, TransactionPage};
use crate::plaid::{AccessToken, LinkTokenRequest, PlaidClient, PlaidConfig, PlaidEnvironment};
use chrono::{Duration as Days, NaiveDate, Utc};
use secrecy::SecretString;
use tributary_domain::ConnectionStatus;
use tributary_sandbox::{Sandbox, SeedItem, SeededItem};
use url::Url;

fn client_with_secret(sandbox: &Sandbox, secret: &str) -> PlaidClient {
    let config = PlaidConfig::new(
        sandbox.plaid().client_id(),
        SecretString::from(secret),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&sandbox.plaid_base_url()).unwrap());
    PlaidClient::new(config).unwrap()
}

fn client(sandbox: &Sandbox) -> PlaidClient {
    client_with_secret(sandbox, sandbox.plaid().secret())
}

fn token(item: &SeededItem) -> AccessToken {
    AccessToken::new(SecretString::from(item.access_token.as_str()))
}

/// The sandbox spreads transactions over the 700 days before today.
fn whole_history() -> (NaiveDate, NaiveDate) {
    let today = Utc::now().date_naive();
    (today - Days::days(800), today)
}

#[tokio::test]
async fn a_seeded_item_reads_as_domain_accounts_and_positions() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(3, 4, 10));
    let plaid = client(&sandbox);

    let accounts = Aggregation::accounts(&plaid, &token(&item)).await.unwrap();
    let positions = plaid.positions(&token(&item)).await.unwrap().items;

    let ids: Vec<&str> = accounts
        .iter()
        .map(|account| account.provider_account_id.as_str())
        .collect();
    assert_eq!(ids, item.account_ids);
    assert_eq!(positions.len(), 12);
    assert!(
        positions
            .iter()
            .any(|position| position.option_contract.is_some()),
        "the sandbox's NFLX call keeps its contract"
    );
}

#[tokio::test]
async fn transactions_are_paged_in_500s_until_the_total_and_every_one_arrives_once() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(2, 2, 1_234));
    let plaid = client(&sandbox);
    let (from, to) = whole_history();

    let mut seen = std::collections::HashSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let TransactionPage {
            transactions,
            left_out,
            next,
        } = plaid
            .transactions(&token(&item), from, to, cursor)
            .await
            .unwrap();
        assert!(left_out.is_empty(), "{left_out:?}");
        pages += 1;
        for transaction in transactions {
            assert!(seen.insert(transaction.provider_transaction_id));
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    assert_eq!(seen.len(), 1_234);
    assert_eq!(pages, 3, "500 + 500 + 234");
    assert_eq!(
        sandbox
            .plaid()
            .log()
            .count("POST", "/investments/transactions/get"),
        3
    );
}

#[tokio::test]
async fn an_item_that_needs_the_user_again_is_login_required_and_a_disabled_connection() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 1, 1));
    assert!(sandbox.plaid().require_login(&item.item_id));
    let plaid = client(&sandbox);

    let error = plaid.holdings(&token(&item)).await.unwrap_err();
    let connections = plaid.connections(&token(&item)).await.unwrap();

    let ProviderError::LoginRequired(detail) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(detail.code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
    assert!(detail.request_id.is_some(), "Plaid's request_id is kept");
    assert_eq!(connections[0].status, ConnectionStatus::Disabled);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_as_unauthorized() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 1, 1));

    let error = client_with_secret(&sandbox, "not-the-secret")
        .accounts(&token(&item))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ProviderError::Unauthorized(_)),
        "got {error:?}"
    );
}

#[tokio::test]
async fn reads_ride_out_a_rate_limit_and_a_server_error() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 2, 1));
    sandbox.plaid().knobs().rate_limit_next(1, 0);
    sandbox.plaid().knobs().server_error_next(1, 500);

    let holdings = client(&sandbox).holdings(&token(&item)).await.unwrap();

    assert_eq!(holdings.holdings.len(), 2);
    assert_eq!(
        sandbox
            .plaid()
            .log()
            .count("POST", "/investments/holdings/get"),
        3
    );
}

#[tokio::test]
async fn removing_an_item_is_not_retried_after_a_server_error() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 1, 1));
    sandbox.plaid().knobs().server_error_next(1, 500);

    let error = client(&sandbox)
        .remove_item(&token(&item))
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::Upstream(_)), "got {error:?}");
    assert_eq!(sandbox.plaid().log().count("POST", "/item/remove"), 1);
    assert_eq!(sandbox.plaid().item_count(), 1, "the Item is still there");
}

#[tokio::test]
async fn a_malformed_answer_is_a_decode_error_and_not_retried() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 1, 1));
    sandbox.plaid().knobs().malformed_next(1);

    let error = client(&sandbox).item(&token(&item)).await.unwrap_err();

    assert!(
        matches!(error, ProviderError::Decode { .. }),
        "got {error:?}"
    );
    assert_eq!(sandbox.plaid().log().count("POST", "/item/get"), 1);
}

#[tokio::test]
async fn a_link_token_is_created_for_the_user() {
    let sandbox = Sandbox::start().await;

    let link = client(&sandbox)
        .create_link_token(&LinkTokenRequest::investments("user-1", "Tributary"))
        .await
        .unwrap();

    assert!(!link.link_token.is_empty());
    assert!(link.expiration > Utc::now());
}

#[tokio::test]
async fn a_removed_item_is_gone_for_good() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 1, 1));
    let plaid = client(&sandbox);

    plaid.remove_item(&token(&item)).await.unwrap();
    let error = plaid.item(&token(&item)).await.unwrap_err();

    assert!(matches!(error, ProviderError::NotFound(_)), "got {error:?}");
}

#[tokio::test]
async fn the_sandboxs_btc_quoted_holding_keeps_btc_and_its_cent_cost_option_converts() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 4, 0));
    let plaid = client(&sandbox);

    let positions = plaid.positions(&token(&item)).await.unwrap().items;

    let currency = |symbol: &str| {
        positions
            .iter()
            .find(|position| position.symbol.as_str() == symbol)
            .and_then(|position| position.currency.clone())
    };
    assert_eq!(currency("DOGE").as_ref().map(|c| c.as_str()), Some("BTC"));
    assert_eq!(currency("ACHN").as_ref().map(|c| c.as_str()), Some("USD"));
    let option = positions
        .iter()
        .find(|position| position.option_contract.is_some())
        .unwrap();
    assert_eq!(
        option.cost_basis.map(rust_decimal::Decimal::from),
        Some(rust_decimal::Decimal::new(1, 2))
    );
    assert_eq!(
        option.market_value.map(rust_decimal::Decimal::from),
        Some(rust_decimal::Decimal::from(110))
    );
}

/// What a quickstart on Plaid's sandbox does without a browser: a test Item from
/// `/sandbox/public_token/create`, exchanged, then read.
#[tokio::test]
async fn a_test_item_made_without_link_is_exchanged_and_read() {
    use secrecy::ExposeSecret;
    let sandbox = Sandbox::start().await;
    let plaid = client(&sandbox);

    let public_token = plaid
        .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
        .await
        .unwrap();
    let item = plaid
        .exchange_public_token(public_token.expose_secret())
        .await
        .unwrap();
    let positions = plaid.positions(&item.access_token).await.unwrap();

    assert!(!format!("{public_token:?}").contains("public-sandbox"));
    assert_eq!(sandbox.plaid().item_count(), 1);
    assert!(!positions.items.is_empty());
    assert_eq!(positions.left_out, []);
}
