//! The SnapTrade client when SnapTrade misbehaves, over real HTTP against `tributary-sandbox`'s fault
//! knobs (and a proxy that drops connections): rate limits waited out as told, capped retries of reads
//! ending in typed errors, writes never repeated on their own, timeouts, unreadable and retired answers.
//!
//! Faults already covered elsewhere are not repeated here: a 503 and a 429 ridden out by a read and a
//! 5xx on order placement sent once (`snaptrade_sandbox_flow`), registerUser not repeated after a 5xx and
//! every error body shape (`snaptrade_client`).
#![cfg(feature = "snaptrade")]

use std::time::Duration;

use crate::ProviderError;
use crate::capability::{AccountRef, OrderRequest, OrderSize, Trading};
use crate::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use secrecy::SecretString;
use tributary_domain::{
    AccountId, ClientOrderId, OrderAction, Price, ProviderAccountId, SnapTradeUserId,
    SnapTradeUserSecret, Symbol, TimeInForce, Units, UserId,
};
use tributary_sandbox::{RecordedRequest, Sandbox, SeedConnection};
use url::Url;
use uuid::Uuid;

use crate::tests::support::dropping_proxy::DroppingProxy;

/// Attempts per idempotent call in these tests (the client's default too).
const ATTEMPTS: u32 = 3;

/// A client of the server at `base_url` retrying with waits drawn up to `backoff_base` (capped at 8×).
fn client_at(sandbox: &Sandbox, base_url: &str, backoff_base: Duration) -> SnapTradeClient {
    let snaptrade = sandbox.snaptrade();
    let config = SnapTradeConfig::new(
        snaptrade.client_id(),
        SecretString::from(snaptrade.consumer_key()),
    )
    .unwrap()
    .with_base_url(Url::parse(base_url).unwrap())
    .with_timeout(Duration::from_millis(300));
    SnapTradeClient::new(config)
        .unwrap()
        .with_retries(ATTEMPTS, backoff_base)
}

fn client(sandbox: &Sandbox) -> SnapTradeClient {
    client_at(
        sandbox,
        &sandbox.snaptrade_base_url(),
        Duration::from_millis(5),
    )
}

/// A user with one trade connection holding one account, seeded straight into the sandbox.
fn seeded_account(sandbox: &Sandbox) -> (UserCredentials, Uuid) {
    let snaptrade = sandbox.snaptrade();
    let user = snaptrade.seed_user(&format!("faults-{}", Uuid::new_v4()));
    let connection = snaptrade.seed_connection(&user.user_id, SeedConnection::new(1, 2));
    let credentials = UserCredentials::new(
        SnapTradeUserId::parse(&user.user_id).unwrap(),
        SnapTradeUserSecret::new(SecretString::from(user.user_secret.clone())).unwrap(),
    );
    (credentials, connection.account_ids[0])
}

fn account_ref(account: Uuid) -> AccountRef {
    AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse(&account.to_string()).unwrap(),
    }
}

fn limit_buy_with_id(client_order_id: &ClientOrderId) -> OrderRequest {
    OrderRequest::limit(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("1").unwrap()),
        Price::parse("1.00").unwrap(),
    )
    .unwrap()
    .with_time_in_force(TimeInForce::GoodTillCanceled)
    .with_client_order_id(client_order_id.clone())
}

fn requests_to(sandbox: &Sandbox, method: &str, path: &str) -> Vec<RecordedRequest> {
    sandbox
        .snaptrade()
        .log()
        .all()
        .into_iter()
        .filter(|request| request.method == method && request.path == path)
        .collect()
}

/// The account at the sandbox holds exactly one order, the one the client returned: nothing placed twice.
fn assert_the_sandbox_holds_only(sandbox: &Sandbox, account: Uuid, order: &impl AsRef<str>) {
    let orders = sandbox.snaptrade().orders(account);
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(
        orders[0]["brokerage_order_id"].as_str(),
        Some(order.as_ref())
    );
}

#[tokio::test]
async fn a_rate_limited_read_asks_again_only_after_retry_after_and_then_succeeds() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    // Waits up to 8 × 200 ms are allowed, so the 1 s the sandbox asks for is honoured, not refused.
    let snaptrade = client_at(
        &sandbox,
        &sandbox.snaptrade_base_url(),
        Duration::from_millis(200),
    );
    sandbox.snaptrade().knobs().rate_limit_next(1, 1);

    let accounts = snaptrade.list_user_accounts(&user).await.unwrap();

    assert_eq!(accounts.len(), 1);
    let asked = requests_to(&sandbox, "GET", "/accounts");
    let statuses: Vec<u16> = asked.iter().map(|request| request.status).collect();
    assert_eq!(statuses, [429, 200]);
    let waited = asked[1].received_at - asked[0].received_at;
    assert!(
        waited >= chrono::Duration::seconds(1),
        "asked again after {waited}, before the 1 s SnapTrade asked for"
    );
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_backoff_cap_is_rate_limited_at_once_with_the_wait() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    sandbox.snaptrade().knobs().rate_limit_next(1, 30);

    let error = client(&sandbox)
        .list_user_accounts(&user)
        .await
        .unwrap_err();

    let ProviderError::RateLimited {
        detail,
        retry_after,
    } = &error
    else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(30)));
    assert_eq!(detail.code.as_deref(), Some("0000"));
    assert_eq!(requests_to(&sandbox, "GET", "/accounts").len(), 1);
}

#[tokio::test]
async fn a_read_rate_limited_past_the_retry_cap_is_rate_limited_after_the_last_attempt() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    sandbox.snaptrade().knobs().rate_limit_next(ATTEMPTS + 2, 0);

    let error = client(&sandbox)
        .list_user_accounts(&user)
        .await
        .unwrap_err();

    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(
        requests_to(&sandbox, "GET", "/accounts").len(),
        ATTEMPTS as usize
    );
}

#[tokio::test]
async fn a_read_failing_with_5xx_on_every_attempt_is_upstream_after_the_capped_retries() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    sandbox
        .snaptrade()
        .knobs()
        .server_error_next(ATTEMPTS + 2, 500);

    let error = client(&sandbox)
        .list_user_accounts(&user)
        .await
        .unwrap_err();

    let ProviderError::Upstream(detail) = &error else {
        panic!("expected Upstream, got {error:?}");
    };
    assert_eq!(detail.status, 500);
    assert_eq!(detail.code.as_deref(), Some("1000"));
    assert_eq!(
        requests_to(&sandbox, "GET", "/accounts").len(),
        ATTEMPTS as usize
    );
}

#[tokio::test]
async fn a_read_whose_connection_drops_is_sent_again_and_succeeds() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    let proxy = DroppingProxy::start(&sandbox.snaptrade_base_url(), 1).await;
    let snaptrade = client_at(&sandbox, &proxy.base_url(), Duration::from_millis(5));

    let accounts = snaptrade.list_user_accounts(&user).await.unwrap();

    assert_eq!(accounts.len(), 1);
    assert_eq!(proxy.accepted(), 2);
}

#[tokio::test]
async fn a_read_whose_connection_always_drops_is_a_transport_error_after_the_capped_retries() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    let proxy = DroppingProxy::start(&sandbox.snaptrade_base_url(), usize::MAX).await;
    let snaptrade = client_at(&sandbox, &proxy.base_url(), Duration::from_millis(5));

    let error = snaptrade.list_user_accounts(&user).await.unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::Transport {
                endpoint: "listUserAccounts",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(proxy.accepted(), ATTEMPTS as usize);
}

#[tokio::test]
async fn register_user_is_not_sent_again_after_its_connection_drops() {
    let sandbox = Sandbox::start().await;
    let proxy = DroppingProxy::start(&sandbox.snaptrade_base_url(), usize::MAX).await;
    let snaptrade = client_at(&sandbox, &proxy.base_url(), Duration::from_millis(5));
    let user = SnapTradeUserId::parse("dropped-registration").unwrap();

    let error = snaptrade.register_snaptrade_user(&user).await.unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::Transport {
                endpoint: "registerUser",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(proxy.accepted(), 1, "registerUser was sent again");
}

#[tokio::test]
async fn an_order_placement_whose_connection_drops_is_not_sent_again() {
    let sandbox = Sandbox::start().await;
    let (user, account) = seeded_account(&sandbox);
    let proxy = DroppingProxy::start(&sandbox.snaptrade_base_url(), usize::MAX).await;
    let snaptrade = client_at(&sandbox, &proxy.base_url(), Duration::from_millis(5));
    let order = limit_buy_with_id(&ClientOrderId::parse(&Uuid::new_v4().to_string()).unwrap());

    let error = snaptrade
        .place_order(&user, &account_ref(account), &order)
        .await
        .unwrap_err();

    assert!(
        matches!(error, ProviderError::Transport { .. }),
        "{error:?}"
    );
    assert_eq!(proxy.accepted(), 1, "the order was sent again");
    assert!(sandbox.snaptrade().orders(account).is_empty());
}

/// SnapTrade "does not enforce uniqueness server-side" of `client_order_id` (snaptrade-openapi.yaml,
/// `ClientOrderID`): after a lost answer, a caller's blind retry with the same id places a second real order.
/// So the client never resends, and `find_order` says the outcome is unknown instead of "absent".
#[tokio::test]
async fn an_order_placed_but_its_answer_lost_is_placed_twice_by_a_blind_retry_so_find_order_cannot_clear_it()
 {
    let sandbox = Sandbox::start().await;
    let (user, account) = seeded_account(&sandbox);
    let proxy = DroppingProxy::losing_answers(&sandbox.snaptrade_base_url(), 1).await;
    let snaptrade = client_at(&sandbox, &proxy.base_url(), Duration::from_millis(5));
    let id = ClientOrderId::parse(&Uuid::new_v4().to_string()).unwrap();
    let order = limit_buy_with_id(&id);

    let lost = snaptrade
        .place_order(&user, &account_ref(account), &order)
        .await
        .unwrap_err();
    let placed_before_the_retry = sandbox.snaptrade().orders(account).len();
    let found = snaptrade
        .find_order(&user, &account_ref(account), &id)
        .await;
    snaptrade
        .place_order(&user, &account_ref(account), &order)
        .await
        .unwrap();

    assert!(
        matches!(
            lost,
            ProviderError::Transport {
                endpoint: "placeForceOrder",
                ..
            }
        ),
        "{lost:?}"
    );
    assert_eq!(placed_before_the_retry, 1, "SnapTrade did place the order");
    assert!(
        matches!(found, Err(ProviderError::OutcomeUnknown { .. })),
        "{found:?}"
    );
    assert_eq!(requests_to(&sandbox, "POST", "/trade/place").len(), 2);
    assert_eq!(
        sandbox.snaptrade().order_count(account),
        2,
        "the blind retry placed a second order"
    );
}

#[tokio::test]
async fn an_order_that_timed_out_is_not_resent_and_the_callers_retry_with_its_id_places_it_once() {
    let sandbox = Sandbox::start().await;
    let (user, account) = seeded_account(&sandbox);
    let counting = DroppingProxy::start(&sandbox.snaptrade_base_url(), 0).await;
    let snaptrade = client_at(&sandbox, &counting.base_url(), Duration::from_millis(5));
    let order = limit_buy_with_id(&ClientOrderId::parse(&Uuid::new_v4().to_string()).unwrap());
    // Slower than the client's 300 ms timeout.
    sandbox
        .snaptrade()
        .knobs()
        .set_latency(Duration::from_millis(600));

    let timed_out = snaptrade
        .place_order(&user, &account_ref(account), &order)
        .await
        .unwrap_err();
    let connections_before_the_retry = counting.accepted();
    sandbox.snaptrade().knobs().set_latency(Duration::ZERO);
    let placed = snaptrade
        .place_order(&user, &account_ref(account), &order)
        .await
        .unwrap();

    assert!(
        matches!(
            timed_out,
            ProviderError::Timeout {
                endpoint: "placeForceOrder",
                ..
            }
        ),
        "{timed_out:?}"
    );
    assert_eq!(
        connections_before_the_retry, 1,
        "the client resent the order"
    );
    assert_the_sandbox_holds_only(&sandbox, account, &placed.brokerage_order_id);
}

#[tokio::test]
async fn a_read_slower_than_the_timeout_is_a_typed_timeout_after_the_capped_retries() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    sandbox
        .snaptrade()
        .knobs()
        .set_latency(Duration::from_millis(600));

    let error = client(&sandbox)
        .list_user_accounts(&user)
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::Timeout {
                endpoint: "listUserAccounts",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.provider(),
        Some(tributary_domain::Provider::SnapTrade)
    );
}

#[tokio::test]
async fn a_truncated_answer_is_a_decode_error_with_the_raw_body_and_is_not_retried() {
    let sandbox = Sandbox::start().await;
    let (user, _) = seeded_account(&sandbox);
    sandbox.snaptrade().knobs().malformed_next(1);

    let error = client(&sandbox)
        .list_user_accounts(&user)
        .await
        .unwrap_err();

    let ProviderError::Decode {
        endpoint, raw_body, ..
    } = &error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(*endpoint, "listUserAccounts");
    assert_eq!(raw_body, "{\"results\": [{\"id\": ");
    assert_eq!(requests_to(&sandbox, "GET", "/accounts").len(), 1);
}

#[tokio::test]
async fn a_retired_endpoint_is_gone_with_snaptrades_message() {
    let sandbox = Sandbox::start().await;
    let (user, account) = seeded_account(&sandbox);
    let balances = format!("/accounts/{account}/balances");
    sandbox.snaptrade().knobs().retire_path(&balances);
    let account = ProviderAccountId::parse(&account.to_string()).unwrap();

    let error = client(&sandbox)
        .account_balances(&user, &account)
        .await
        .unwrap_err();

    let ProviderError::Gone(detail) = &error else {
        panic!("expected Gone, got {error:?}");
    };
    assert_eq!(detail.status, 410);
    assert_eq!(
        detail.message,
        "This endpoint is no longer available for your account."
    );
    assert_eq!(requests_to(&sandbox, "GET", &balances).len(), 1);
}
