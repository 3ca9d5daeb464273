//! Places a day limit order through the sync engine and prints the order row it recorded.
//!
//! ```sh
//! cargo run --example place_order                            # buy 1 AAPL at 1.00, new user, sandbox Alpaca
//! cargo run --example place_order -- MSFT 3 250.50           # symbol, units, limit price
//! DATABASE_URL=… TRIBUTARY_SECRET_KEY=… cargo run --example place_order -- AAPL 1 1.00 \
//!     --user <user-uuid> --account <account-uuid>               # an account already in the database
//! ```
//!
//! Without `--account` it signs a new user up, records an Alpaca brokerage account for them (a sandbox account,
//! or `ALPACA_ACCOUNT_ID` with real Alpaca credentials), syncs, and orders in that account. The store is
//! `MemoryStore`, or PostgreSQL with `DATABASE_URL`; providers as in the quickstart. The engine checks the
//! order's impact first, records it `PENDING`, then with the provider's answer. Any failure: exit status 1 and
//! one line `place_order: <reason>` on stderr.

#[path = "support/mod.rs"]
#[macro_use]
mod support;

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use support::{Linked, Providers, SignUp};
use tributary::domain::{AccountId, OrderAction, Price, Provider, Symbol, Units, UserId};
use tributary::provider::capability::{OrderRequest, OrderSize};
use tributary::repo::MemoryStore;

const USAGE: &str = "usage: cargo run --example place_order -- [SYMBOL [UNITS [LIMIT]]] \
                     [--user <user-uuid> --account <account-uuid>]";

/// What to order, and where.
struct Request {
    symbol: String,
    units: String,
    limit: String,
    target: Option<(UserId, AccountId)>,
}

#[tokio::main]
async fn main() -> ExitCode {
    support::exit_with("place_order", run().await)
}

async fn run() -> anyhow::Result<()> {
    let request = parse_arguments(std::env::args().skip(1).collect())?;
    match support::database_url() {
        Some(url) => place(support::pg_store(&url).await?, request).await,
        None => place(MemoryStore::new(), request).await,
    }
}

fn parse_arguments(args: Vec<String>) -> anyhow::Result<Request> {
    let mut positional = Vec::new();
    let (mut user, mut account) = (None, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--user" | "--account" => {
                let value = args
                    .next()
                    .ok_or_else(|| anyhow!("{arg} needs a value; {USAGE}"))?;
                if arg == "--user" {
                    user = Some(UserId::parse(&value).map_err(|e| anyhow!("--user: {e}"))?);
                } else {
                    account =
                        Some(AccountId::parse(&value).map_err(|e| anyhow!("--account: {e}"))?);
                }
            }
            flag if flag.starts_with("--") => bail!("unknown option {flag}; {USAGE}"),
            _ => positional.push(arg),
        }
    }
    if positional.len() > 3 {
        bail!("too many arguments; {USAGE}");
    }
    let target = match (user, account) {
        (Some(user), Some(account)) => Some((user, account)),
        (None, None) => None,
        _ => bail!("--user and --account go together; {USAGE}"),
    };
    let mut positional = positional.into_iter();
    Ok(Request {
        symbol: positional.next().unwrap_or_else(|| "AAPL".to_owned()),
        units: positional.next().unwrap_or_else(|| "1".to_owned()),
        limit: positional.next().unwrap_or_else(|| "1.00".to_owned()),
        target,
    })
}

async fn place<S: SignUp>(store: S, request: Request) -> anyhow::Result<()> {
    // Validate the order before anything is created for it.
    // The domain's errors name the field; more decimals than the order's columns hold is refused, not rounded.
    let order = OrderRequest::limit(
        Symbol::parse(&request.symbol)?,
        OrderAction::Buy,
        OrderSize::Units(Units::parse_exact(&request.units)?),
        Price::parse_exact(&request.limit)?,
    )?;
    let providers = Providers::from_env().await?;
    out!("store:     {}", store.describe())?;
    out!("alpaca:    {}", providers.alpaca.describe())?;
    out!("snaptrade: {}", providers.snaptrade.describe())?;
    let engine = providers.engine(store, support::flags_from_env()?);
    let (user, account) = match request.target {
        Some(target) => target,
        None => new_alpaca_customer(&providers, &engine).await?,
    };

    let placed = engine.place_order(user, account, order).await?;
    out!("\nuser {user}, account {account}")?;
    match &placed.impact {
        Some(impact) => {
            let estimate = impact
                .estimated_value
                .map_or_else(|| "none".to_owned(), |v| support::money(v.get()));
            out!("impact checked first: estimated value {estimate}")?;
        }
        None => out!("already placed with this client order id: nothing was sent again")?,
    }
    out!(
        "client order id {} (send it again to retry safely)\n",
        placed.client_order_id
    )?;
    out!("{}", support::order_table(&placed.order))
}

/// A new user with an Alpaca brokerage account, synced, and that account.
async fn new_alpaca_customer<S: SignUp>(
    providers: &Providers,
    engine: &tributary::sync::SyncEngine<S>,
) -> anyhow::Result<(UserId, AccountId)> {
    let user = engine.store().sign_up().await?;
    if let Linked::NeedsBrowser(what) = providers.link_alpaca(engine.store(), user, 2).await? {
        bail!("{what}");
    }
    let report = engine.sync_user(user).await?;
    if report.has_failures() {
        let failures: Vec<String> = report.failures().iter().map(ToString::to_string).collect();
        bail!("the sync failed: {}", failures.join("; "));
    }
    let account = engine
        .store()
        .list_accounts(user)
        .await?
        .into_iter()
        .find(|a| a.provider == Provider::Alpaca)
        .ok_or_else(|| anyhow!("the sync brought in no Alpaca account"))?;
    Ok((user, account.id))
}
