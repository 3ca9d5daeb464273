//! `BrokerageAccounts::account_transactions` for SnapTrade against `tributary-sandbox`: one account's activities,
//! 1000 a page (`getAccountActivities`: "will return a maximum of 1000 transactions per request"), to the end.
#![cfg(feature = "snaptrade")]

use std::collections::HashSet;

use secrecy::SecretString;
use tributary_domain::{ProviderAccountId, SnapTradeUserId, SnapTradeUserSecret};
use tributary_provider::ProviderError;
use tributary_provider::capability::{Aggregation, BrokerageAccounts, PageCursor};
use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use tributary_sandbox::{Sandbox, SeedConnection};
use url::Url;

fn client(sandbox: &Sandbox) -> SnapTradeClient {
    let snaptrade = sandbox.snaptrade();
    let config = SnapTradeConfig::new(
        snaptrade.client_id(),
        SecretString::from(snaptrade.consumer_key()),
    )
    .unwrap()
    .with_base_url(Url::parse(&sandbox.snaptrade_base_url()).unwrap());
    SnapTradeClient::new(config).unwrap()
}

#[tokio::test]
async fn one_accounts_activities_are_paged_to_the_end_and_only_that_accounts() {
    let sandbox = Sandbox::start().await;
    let snaptrade = client(&sandbox);
    let user = sandbox.snaptrade().seed_user("one-account-user");
    let credentials = UserCredentials::new(
        SnapTradeUserId::parse(&user.user_id).unwrap(),
        SnapTradeUserSecret::new(SecretString::from(user.user_secret.clone())).unwrap(),
    );
    let seeded = sandbox.snaptrade().seed_connection(
        &user.user_id,
        SeedConnection::new(2, 1).with_activities(2_345),
    );
    let account = ProviderAccountId::parse(&seeded.account_ids[1].to_string()).unwrap();
    let from = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let to = chrono::Utc::now().date_naive();

    let mut cursor: Option<PageCursor> = None;
    let mut pages = 0;
    let mut ids = HashSet::new();
    loop {
        let page = snaptrade
            .account_transactions(&credentials, &account, from, to, cursor.take())
            .await
            .unwrap();
        pages += 1;
        assert!(page.left_out.is_empty(), "{:?}", page.left_out);
        for transaction in page.transactions {
            assert_eq!(transaction.provider_account_id, account);
            assert!(ids.insert(transaction.provider_transaction_id));
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
        assert!(pages < 10, "the cursor never ends");
    }

    assert_eq!(ids.len(), 2_345);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn a_cursor_over_several_accounts_is_refused_for_one_account() {
    let sandbox = Sandbox::start().await;
    let snaptrade = client(&sandbox);
    let user = sandbox.snaptrade().seed_user("cursor-user");
    let credentials = UserCredentials::new(
        SnapTradeUserId::parse(&user.user_id).unwrap(),
        SnapTradeUserSecret::new(SecretString::from(user.user_secret.clone())).unwrap(),
    );
    let seeded = sandbox
        .snaptrade()
        .seed_connection(&user.user_id, SeedConnection::new(2, 1).with_activities(10));
    let from = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let to = chrono::Utc::now().date_naive();
    // The first account's activities fit one page: the next cursor names the second account.
    let first = Aggregation::transactions(&snaptrade, &credentials, from, to, None)
        .await
        .unwrap();
    let account = ProviderAccountId::parse(&seeded.account_ids[0].to_string()).unwrap();

    let crossed = snaptrade
        .account_transactions(&credentials, &account, from, to, first.next)
        .await;

    assert!(
        matches!(
            crossed,
            Err(ProviderError::InvalidInput { field: "page", .. })
        ),
        "{crossed:?}"
    );
}
