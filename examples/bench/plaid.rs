//! A first sync of a Plaid Item holding a long investment-transaction history, through the engine into
//! PostgreSQL: `sync_user` pages `/investments/transactions/get` from the sandbox 500 at a time and stores each
//! page before fetching the next. The figure is the process's peak RSS growth over the same sync of an Item with
//! no transactions, so what it shows is what the history adds: a page, never the history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use secrecy::SecretString;
use sqlx::PgPool;
use tributary::domain::{FeatureFlags, Provider, UserId};
use tributary::provider::ProviderRouter;
use tributary::provider::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
use tributary::repo::PgStore;
use tributary::sync::SyncEngine;
use tributary::sync::source::GivenLogins;
use tributary_sandbox::{Sandbox, SeedItem};

use crate::memory::{memory, reset_peak_rss};
use crate::portfolio;
use crate::report::{Figure, human};

const MIB: f64 = 1024.0 * 1024.0;

pub async fn run(pool: &PgPool, store: &PgStore, transactions: u64) -> anyhow::Result<Figure> {
    let sandbox = Sandbox::try_start().await?;
    let config = PlaidConfig::new(
        sandbox.plaid().client_id(),
        SecretString::from(sandbox.plaid().secret()),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(sandbox.plaid_base_url().parse()?)
    // The figure is the sync's paging and memory, not Plaid's per-Item budget (30 pages a minute), which
    // would make it a measure of waiting: the budgets have their own figure (bench/schedule.rs).
    .with_rate_limits(tributary::provider::RateLimits::none());
    let items = Arc::new(GivenLogins::new());
    let engine = SyncEngine::new(
        Arc::new(store.clone()),
        ProviderRouter::new(
            FeatureFlags::builder()
                .aggregation_mode(true)
                .enable(Provider::Plaid)
                .build(),
        ),
    )
    .with_plaid(Arc::new(PlaidClient::new(config)?), Arc::clone(&items));
    let users = portfolio::create_users(pool, 2).await?;
    let (empty, full) = (users[0], users[1]);
    for (user, count) in [(empty, 0), (full, transactions)] {
        let item = sandbox.plaid().seed_item(SeedItem::new(3, 4, count));
        items.add(
            user,
            AccessToken::new(SecretString::from(item.access_token)),
        );
    }
    let (empty_growth, _, _) = peak_growth_while_syncing(&engine, empty).await?;
    let (growth, stored, took) = peak_growth_while_syncing(&engine, full).await?;
    ensure!(
        stored == transactions,
        "stored {stored} of {transactions} transactions"
    );
    let over_empty = (growth - empty_growth).max(0.0) / MIB;
    Ok(Figure::limit(
        format!(
            "first sync of a Plaid Item of {transactions} transactions into PostgreSQL (pages of 500), peak RSS growth"
        ),
        format!("+{:.1} MiB in {}", growth / MIB, human(took)),
        format!("no transactions +{:.1} MiB", empty_growth / MIB),
        over_empty,
        64.0,
        "MiB",
    ))
}

/// The user's first sync; returns how far the peak RSS rose above the RSS at the start (bytes), the
/// transactions it stored, and the time taken.
async fn peak_growth_while_syncing(
    engine: &SyncEngine<PgStore>,
    user: UserId,
) -> anyhow::Result<(f64, u64, Duration)> {
    reset_peak_rss()?;
    let start = memory("VmRSS")?;
    let started = Instant::now();
    let report = engine.sync_user(user).await?;
    let took = started.elapsed();
    ensure!(
        !report.has_failures(),
        "the sync failed: {:?}",
        report.failures()
    );
    let stored = report
        .history
        .iter()
        .flat_map(|history| &history.accounts)
        .map(|account| account.written.inserted as u64)
        .sum();
    Ok((memory("VmHWM")? - start, stored, took))
}
