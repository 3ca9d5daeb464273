//! `sync_user` against the SnapTrade sandbox with 50 ms per call: one provider call per account in flight
//! against one at a time, and against the critical path: one list call and the slowest account's chain for the
//! holdings, then, as the sync reads the transaction history once the holdings are saved, one list call and the
//! slowest account's first page of activities over the re-sync's window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::{Days, Utc};
use secrecy::SecretString;
use tributary::domain::{
    FeatureFlags, NewSnapTradeUser, Provider, ProviderAccountId, SnapTradeUserId,
    SnapTradeUserSecret, UserId,
};
use tributary::provider::capability::{
    AccountRef, Aggregation, BrokerageAccounts, OrderScope, Trading,
};
use tributary::provider::router::ProviderRouter;
use tributary::provider::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use tributary::repo::{AccountRepository, PgStore, SnapTradeUserRepository};
use tributary::sync::SyncEngine;
use tributary_sandbox::{Sandbox, SeedConnection, SeededUser};

use crate::report::{Figure, Timed};

/// The shape the issue names.
pub struct Shape {
    pub connections: usize,
    pub accounts_per_connection: usize,
    pub positions_per_account: usize,
    pub latency: Duration,
}

pub async fn run(store: &PgStore, user: UserId, shape: &Shape) -> anyhow::Result<Vec<Figure>> {
    let sandbox = Sandbox::try_start().await?;
    let login = register(store, &sandbox, user, shape).await?;
    let client = Arc::new(client(&sandbox)?);
    let accounts = shape.connections * shape.accounts_per_connection;
    let engine = |concurrency| {
        SyncEngine::new(
            Arc::new(store.clone()),
            ProviderRouter::new(
                FeatureFlags::builder()
                    .aggregation_mode(true)
                    .enable(Provider::SnapTrade)
                    .build(),
            ),
        )
        .with_concurrency(concurrency)
        .with_snaptrade(Arc::clone(&client))
    };
    let (serial, parallel) = (engine(1), engine(accounts));
    // The first sync writes every row; the timed ones find the same data, as a periodic re-sync does.
    let first = parallel.sync_user(user).await?;
    ensure!(
        first.failures().is_empty(),
        "the first sync failed: {:?}",
        first.failures()
    );
    ensure!(
        first.accounts.len() == accounts,
        "the sync saw {} of {accounts} accounts",
        first.accounts.len()
    );
    sandbox.snaptrade().knobs().set_latency(shape.latency);
    let one_at_a_time = timed_sync(&serial, user).await?;
    // The concurrent sync is short and shares the machine's cores with PostgreSQL and the sandbox: the median of
    // three, so one busy moment does not decide it.
    let mut runs = Vec::with_capacity(3);
    for _ in 0..3 {
        runs.push(timed_sync(&parallel, user).await?);
    }
    runs.sort();
    let all_at_once = runs[1];
    let critical = critical_path(&client, store, user, &login).await?;
    let what = format!(
        "sync_user, {} connections × {} accounts × {} positions, {} ms per call",
        shape.connections,
        shape.accounts_per_connection,
        shape.positions_per_account,
        shape.latency.as_millis()
    );
    Ok(vec![
        Figure::speedup(
            format!("{what}: concurrency {accounts} vs 1"),
            Timed::new(format!("concurrency {accounts}"), all_at_once),
            Timed::new("concurrency 1", one_at_a_time),
            5.0,
        ),
        Figure::at_most(
            format!("{what}: concurrency {accounts} vs the critical path"),
            Timed::new(format!("concurrency {accounts}"), all_at_once),
            Timed::new("critical path", critical),
            2.0,
        ),
    ])
}

async fn timed_sync(engine: &SyncEngine<PgStore>, user: UserId) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let report = engine.sync_user(user).await?;
    let took = started.elapsed();
    ensure!(
        report.failures().is_empty(),
        "a timed sync failed: {:?}",
        report.failures()
    );
    Ok(took)
}

/// The user registered at the sandbox and in the store (secret sealed), with the connections seeded.
async fn register(
    store: &PgStore,
    sandbox: &Sandbox,
    user: UserId,
    shape: &Shape,
) -> anyhow::Result<UserCredentials> {
    let registered = sandbox.snaptrade().seed_user(&user.to_string());
    for _ in 0..shape.connections {
        sandbox.snaptrade().seed_connection(
            &registered.user_id,
            SeedConnection::new(shape.accounts_per_connection, shape.positions_per_account),
        );
    }
    store_registration(store, user, &registered).await
}

/// Stores the sandbox's registration of `user` (the secret sealed by the store's keyring); the credentials to call
/// the sandbox with directly.
pub async fn store_registration(
    store: &PgStore,
    user: UserId,
    registered: &SeededUser,
) -> anyhow::Result<UserCredentials> {
    let snaptrade_user_id = SnapTradeUserId::parse(&registered.user_id)?;
    let secret = || SnapTradeUserSecret::new(SecretString::from(registered.user_secret.clone()));
    store
        .upsert_snaptrade_user(
            user,
            &NewSnapTradeUser {
                user_id: user,
                snaptrade_user_id: snaptrade_user_id.clone(),
                user_secret: secret()?,
            },
        )
        .await?;
    Ok(UserCredentials::new(snaptrade_user_id, secret()?))
}

fn client(sandbox: &Sandbox) -> anyhow::Result<SnapTradeClient> {
    let config = SnapTradeConfig::new(
        sandbox.snaptrade().client_id(),
        SecretString::from(sandbox.snaptrade().consumer_key()),
    )?
    .with_base_url(sandbox.snaptrade_base_url().parse()?)
    // The figures are the engine's concurrency against the provider's latency; SnapTrade's request budget would
    // make them a measure of waiting (the budgets have their own figure, bench/schedule.rs).
    .with_rate_limits(tributary::provider::RateLimits::none());
    Ok(SnapTradeClient::new(config)?)
}

/// One list call, then the slowest of a few accounts' chains (positions, then orders), timed one by one
/// through the same client: the least any sync of this user can take.
async fn critical_path(
    client: &SnapTradeClient,
    store: &PgStore,
    user: UserId,
    login: &UserCredentials,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    Aggregation::accounts(client, login).await?;
    let list = started.elapsed();
    let mut slowest = Duration::ZERO;
    for account in store.list_accounts(user).await?.iter().take(5) {
        let reference = AccountRef {
            user_id: user,
            account_id: account.id,
            provider_account_id: account.provider_account_id.clone(),
        };
        let started = Instant::now();
        client
            .account_positions(
                login,
                &ProviderAccountId::clone(&account.provider_account_id),
            )
            .await
            .context("positions")?;
        Trading::list_orders(client, login, &reference, OrderScope::All).await?;
        slowest = slowest.max(started.elapsed());
    }
    Ok(list + slowest + history_path(client, store, user, login).await?)
}

/// The history's part of the critical path: the login's accounts listed, then the slowest of a few accounts'
/// first page of activities over the window a re-sync reads (the overlap before today).
async fn history_path(
    client: &SnapTradeClient,
    store: &PgStore,
    user: UserId,
    login: &UserCredentials,
) -> anyhow::Result<Duration> {
    let today = Utc::now().date_naive();
    let from = today - Days::new(tributary::sync::history::DEFAULT_OVERLAP_DAYS);
    let started = Instant::now();
    Aggregation::accounts(client, login).await?;
    let list = started.elapsed();
    let mut slowest = Duration::ZERO;
    for account in store.list_accounts(user).await?.iter().take(5) {
        let started = Instant::now();
        client
            .account_transactions(login, &account.provider_account_id, from, today, None)
            .await
            .context("activities")?;
        slowest = slowest.max(started.elapsed());
    }
    Ok(list + slowest)
}
