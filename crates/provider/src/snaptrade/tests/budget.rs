//! The client's request budget against a sandbox that enforces SnapTrade's budget as strictly as it can (a
//! sliding window, every request counted, 429 with `X-RateLimit-Remaining: 0` and the reset): a burst of
//! concurrent calls kept inside the budget draws no 429, and the same burst without it does.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tributary_domain::{SnapTradeUserId, SnapTradeUserSecret};
use tributary_sandbox::{Sandbox, SeedConnection};
use url::Url;
use uuid::Uuid;

use crate::limit::{RateBudget, RateLimits};
use crate::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};

/// The scaled budget both sides keep: 10 requests in any second (SnapTrade's is 250 a minute).
const REQUESTS: u32 = 10;
const PER: Duration = Duration::from_secs(1);
/// Concurrent calls in the burst: three windows' worth.
const BURST: usize = 30;

fn client(sandbox: &Sandbox, limits: RateLimits) -> SnapTradeClient {
    let snaptrade = sandbox.snaptrade();
    let config = SnapTradeConfig::new(
        snaptrade.client_id(),
        SecretString::from(snaptrade.consumer_key()),
    )
    .unwrap()
    .with_base_url(Url::parse(&sandbox.snaptrade_base_url()).unwrap())
    .with_timeout(Duration::from_secs(10))
    .with_rate_limits(limits);
    // One attempt: a 429 is counted, not ridden out.
    SnapTradeClient::new(config)
        .unwrap()
        .with_retries(1, Duration::from_millis(1))
}

fn user(sandbox: &Sandbox) -> UserCredentials {
    let snaptrade = sandbox.snaptrade();
    let user = snaptrade.seed_user(&format!("budget-{}", Uuid::new_v4()));
    snaptrade.seed_connection(&user.user_id, SeedConnection::new(1, 1));
    UserCredentials::new(
        SnapTradeUserId::parse(&user.user_id).unwrap(),
        SnapTradeUserSecret::new(SecretString::from(user.user_secret.clone())).unwrap(),
    )
}

/// Sends `BURST` account listings at once through clones of `client`; how many failed.
async fn burst(client: SnapTradeClient, user: UserCredentials) -> usize {
    let user = Arc::new(user);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let (client, user) = (client.clone(), Arc::clone(&user));
        calls.spawn(async move { client.list_user_accounts(&user).await.is_err() });
    }
    calls
        .join_all()
        .await
        .into_iter()
        .filter(|failed| *failed)
        .count()
}

fn budget() -> RateBudget {
    RateBudget::new(NonZeroU32::new(REQUESTS).unwrap(), PER).unwrap()
}

#[tokio::test]
async fn a_burst_of_concurrent_calls_within_the_budget_draws_no_429() {
    let sandbox = Sandbox::start().await;
    let knobs = sandbox.snaptrade().knobs();
    let user = user(&sandbox);
    knobs.enforce_budget(REQUESTS, PER);
    let started = Instant::now();
    let failed = burst(
        client(&sandbox, RateLimits::none().with_client_budget(budget())),
        user,
    )
    .await;
    assert_eq!(knobs.budget_refusals(), 0, "429s drawn");
    assert_eq!(failed, 0);
    // Thirty calls at ten a second cannot finish in much under two seconds: the budget made them wait.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_same_burst_without_a_budget_draws_429s() {
    let sandbox = Sandbox::start().await;
    let knobs = sandbox.snaptrade().knobs();
    let user = user(&sandbox);
    knobs.enforce_budget(REQUESTS, PER);
    let failed = burst(client(&sandbox, RateLimits::none()), user).await;
    assert!(knobs.budget_refusals() > 0);
    assert_eq!(failed, knobs.budget_refusals() as usize);
}

#[tokio::test]
async fn a_429_with_remaining_zero_holds_the_clients_next_calls_until_the_reset() {
    let sandbox = Sandbox::start().await;
    let knobs = sandbox.snaptrade().knobs();
    let user = user(&sandbox);
    let client = client(&sandbox, RateLimits::none());
    knobs.rate_limit_next(1, 1);
    assert!(client.list_user_accounts(&user).await.is_err());
    let started = Instant::now();
    client.list_user_accounts(&user).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}
