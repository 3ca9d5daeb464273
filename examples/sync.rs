//! Syncs one stored user from a fresh process: the tool an operator reaches for to resync a user.
//!
//! ```sh
//! DATABASE_URL=postgres://… TRIBUTARY_SECRET_KEY=… cargo run --example sync -- <user-uuid>
//! ```
//!
//! Everything the user linked is read from PostgreSQL: their Plaid Items (access tokens opened with
//! `TRIBUTARY_SECRET_KEY`, and any previous keys in `TRIBUTARY_SECRET_KEYS_PREVIOUS`), their SnapTrade
//! registration, their Alpaca account. Providers are chosen as the quickstart chooses them: a provider whose
//! variables are set (`PLAID_CLIENT_ID`+`PLAID_SECRET`, `SNAPTRADE_CLIENT_ID`+`SNAPTRADE_CONSUMER_KEY`,
//! `ALPACA_BROKER_API_KEY`+`ALPACA_BROKER_API_SECRET`) gets its real client, the others the in-process sandbox;
//! the feature flags come from the `FF_*` variables. The migrations are not applied: this tool changes data,
//! never the schema.
//!
//! Prints the sync's report: each provider's outcome, each account, the holdings written and removed, the
//! orders, and anything left out. Any failure (no argument, not a UUID, no `DATABASE_URL` or key, a provider
//! that failed): exit status 1 and one line `sync: <reason>` on stderr, after the report when there is one.

#[path = "support/mod.rs"]
#[macro_use]
mod support;

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use support::{Providers, Table};
use tributary::domain::UserId;
use tributary::repo::{Keyring, PgStore};
use tributary::sync::{Outcome, SyncReport};

const USAGE: &str = "usage: cargo run --example sync -- <user-uuid>";

#[tokio::main]
async fn main() -> ExitCode {
    support::exit_with("sync", run().await)
}

async fn run() -> anyhow::Result<()> {
    let user = user_argument()?;
    let url = support::database_url().ok_or_else(|| {
        anyhow!("DATABASE_URL is not set: the user's links are read from PostgreSQL")
    })?;
    let keyring = Keyring::from_env()
        .map_err(|e| anyhow!("{e} (the stored Plaid tokens and SnapTrade secrets open with it)"))?;
    let flags = support::flags_from_env()?;
    let pool = support::connect(&url).await?;
    let providers = Providers::from_env().await?;
    let engine = providers.engine(PgStore::new(pool, keyring), flags);
    let report = engine
        .sync_user(user)
        .await
        .with_context(|| format!("syncing user {user}"))?;
    print_report(user, &report)?;
    let failed: Vec<String> = report.failures().iter().map(ToString::to_string).collect();
    if !failed.is_empty() {
        bail!(
            "the sync of user {user} had failures: {}",
            failed.join("; ")
        );
    }
    Ok(())
}

fn print_report(user: UserId, report: &SyncReport) -> anyhow::Result<()> {
    out!("user:      {user}")?;
    for provider in &report.providers {
        let label = format!("{}:", provider.provider);
        out!("{label:<10} {}", outcome(&provider.outcome))?;
    }
    out!(
        "holdings:  {} ({} written, {} removed)",
        report.holdings_count,
        report.holdings.written,
        report.holdings.removed
    )?;
    out!("orders:    {} written", report.orders_written)?;
    if !report.accounts.is_empty() {
        let mut accounts = Table::new(&["provider", "account", "positions", "orders"]);
        for account in &report.accounts {
            accounts.row(vec![
                account.provider.to_string(),
                account.provider_account_id.to_string(),
                outcome(&account.positions),
                outcome(&account.orders),
            ]);
        }
        out!("\n{accounts}")?;
    }
    for left_out in &report.left_out {
        out!("left out:  {left_out}")?;
    }
    for left_out in &report.positions_left_out {
        out!("left out:  {left_out}")?;
    }
    Ok(())
}

fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Synced => "synced".to_owned(),
        Outcome::Skipped { reason } => format!("skipped ({reason})"),
        Outcome::Failed(failure) => format!("failed ({failure})"),
    }
}

fn user_argument() -> anyhow::Result<UserId> {
    let mut args = std::env::args().skip(1);
    let (Some(text), None) = (args.next(), args.next()) else {
        bail!("{USAGE}");
    };
    UserId::parse(text.trim()).map_err(|e| anyhow!("{text:?} is not a user id ({e}); {USAGE}"))
}
