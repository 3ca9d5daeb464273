//! Plaid investment transactions paged from the sandbox through the client's streaming pagination (one page
//! of 500 at a time, each dropped before the next is fetched), with the process's peak RSS measured against
//! the same run over an Item with no transactions.
//!
//! There is no transactions table or repository yet, so each page stops at the domain types
//! (`capability::Transaction`): nothing is written to the database.

use std::time::Instant;

use anyhow::{Context, ensure};
use chrono::{Days, Utc};
use secrecy::SecretString;
use tributary::provider::capability::Aggregation;
use tributary::provider::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
use tributary_sandbox::{Sandbox, SeedItem};

use crate::report::{Figure, human};

const MIB: f64 = 1024.0 * 1024.0;

pub async fn run(transactions: u64) -> anyhow::Result<Figure> {
    let sandbox = Sandbox::try_start().await?;
    let config = PlaidConfig::new(
        sandbox.plaid().client_id(),
        SecretString::from(sandbox.plaid().secret()),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(sandbox.plaid_base_url().parse()?)
    // The figure is the client's paging and memory, not Plaid's per-Item budget (30 pages a minute), which
    // would make it a measure of waiting: the budgets have their own figure (bench/schedule.rs).
    .with_rate_limits(tributary::provider::RateLimits::none());
    let client = PlaidClient::new(config)?;
    let empty = sandbox.plaid().seed_item(SeedItem::new(3, 4, 0));
    let full = sandbox.plaid().seed_item(SeedItem::new(3, 4, transactions));
    let (empty_growth, _, _) = peak_growth_while_paging(&client, &empty.access_token).await?;
    let (growth, seen, took) = peak_growth_while_paging(&client, &full.access_token).await?;
    ensure!(
        seen == transactions,
        "paged {seen} of {transactions} transactions"
    );
    let over_empty = (growth - empty_growth).max(0.0) / MIB;
    Ok(Figure::limit(
        format!("Plaid investment transactions, {transactions} in pages of 500, peak RSS growth"),
        format!("+{:.1} MiB in {}", growth / MIB, human(took)),
        format!("empty Item +{:.1} MiB", empty_growth / MIB),
        over_empty,
        64.0,
        "MiB",
    ))
}

/// Pages every transaction of the Item, dropping each page; returns how far the peak RSS rose above the RSS
/// at the start (bytes), the transactions seen, and the time taken.
async fn peak_growth_while_paging(
    client: &PlaidClient,
    token: &str,
) -> anyhow::Result<(f64, u64, std::time::Duration)> {
    let token = AccessToken::new(SecretString::from(token.to_owned()));
    let to = Utc::now().date_naive();
    let from = to.checked_sub_days(Days::new(730)).context("date")?;
    reset_peak_rss()?;
    let start = memory("VmRSS")?;
    let started = Instant::now();
    let (mut seen, mut cursor) = (0u64, None);
    loop {
        let page = Aggregation::transactions(client, &token, from, to, cursor).await?;
        seen += page.transactions.len() as u64;
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let took = started.elapsed();
    Ok((memory("VmHWM")? - start, seen, took))
}

/// Sets VmHWM back to the current RSS (Linux: `5` into /proc/self/clear_refs).
fn reset_peak_rss() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")
}

/// A `kB` line of /proc/self/status, in bytes.
fn memory(field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .with_context(|| format!("{field} in /proc/self/status"))?;
    let kib: f64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024.0)
}
