//! The portfolio mode of one user, as the schema's `get_user_portfolio_mode` answers it.
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --example portfolio_mode -- <user-uuid>
//! ```
//!
//! Prints the mode (brokerage, aggregation, hybrid or none), which providers the user has, their Alpaca account
//! and how many active accounts count. Any failure (no argument, not a UUID, no `DATABASE_URL`, a database
//! without the schema): exit status 1 and one line `portfolio_mode: <reason>` on stderr.

#[path = "support/mod.rs"]
#[macro_use]
mod support;

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use tributary::domain::UserId;
use tributary::repo::{Keyring, PgStore, PortfolioRepository, SecretKey};

const USAGE: &str = "usage: cargo run --example portfolio_mode -- <user-uuid>";

#[tokio::main]
async fn main() -> ExitCode {
    support::exit_with("portfolio_mode", run().await)
}

async fn run() -> anyhow::Result<()> {
    let user = user_argument()?;
    let url = support::database_url()
        .ok_or_else(|| anyhow!("DATABASE_URL is not set: the mode is read from PostgreSQL"))?;
    let pool = support::connect(&url).await?;
    // Reading the mode opens no SnapTrade secret, so any key will do when none is configured.
    let keyring = Keyring::from_env().unwrap_or_else(|_| Keyring::new(SecretKey::generate()));
    let store = PgStore::new(pool, keyring);
    let summary = store
        .portfolio_mode(user)
        .await
        .context("reading get_user_portfolio_mode")?;
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    out!("user:      {user}")?;
    out!("mode:      {}", summary.mode)?;
    match &summary.alpaca_account_id {
        Some(id) => out!("alpaca:    yes (brokerage account {id})")?,
        None => out!("alpaca:    no")?,
    }
    out!("plaid:     {}", yes_no(summary.has_plaid))?;
    out!("snaptrade: {}", yes_no(summary.has_snaptrade))?;
    out!("accounts:  {} active", summary.accounts_count)
}

fn user_argument() -> anyhow::Result<UserId> {
    let mut args = std::env::args().skip(1);
    let (Some(text), None) = (args.next(), args.next()) else {
        bail!("{USAGE}");
    };
    UserId::parse(text.trim()).map_err(|e| anyhow!("{text:?} is not a user id ({e}); {USAGE}"))
}
