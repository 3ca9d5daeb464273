//! Quickstart: one user's investments from SnapTrade, Plaid and Alpaca, brought into Tributary's schema by the
//! sync engine.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With nothing configured it runs on the embedded default: `MemoryStore` and the sandbox providers (local
//! servers on 127.0.0.1 speaking each provider's wire format). It signs a user up, connects a SnapTrade
//! brokerage (the sandbox completes the connection portal), links a Plaid Item (the sandbox stands in for Plaid
//! Link), records an Alpaca brokerage account, syncs, prints the portfolio mode, the unified accounts and the
//! aggregated holdings, the latest transactions and the value recorded per day, places and cancels a limit order, and receives a signed SnapTrade webhook (twice: the
//! replay is not applied again).
//!
//! - `DATABASE_URL` set: the same on PostgreSQL (`PgStore`, migrations applied first, SnapTrade secrets
//!   sealed with `TRIBUTARY_SECRET_KEY`, which is then required).
//! - A provider's variables set (`SNAPTRADE_CLIENT_ID`+`SNAPTRADE_CONSUMER_KEY`, `PLAID_CLIENT_ID`+`PLAID_SECRET`,
//!   `ALPACA_BROKER_API_KEY`+`ALPACA_BROKER_API_SECRET`): that provider's real client instead of its sandbox,
//!   doing all it allows without a browser, and saying what needs one. No order is placed there.
//!   - Plaid with `PLAID_ENV=sandbox`: a test Item is made through `/sandbox/public_token/create` (First
//!     Platypus Bank, investments), exchanged and synced. With `PLAID_ENV=production`: a Link token, and
//!     linking needs Plaid Link in a browser.
//!   - Alpaca: the account named by `ALPACA_ACCOUNT_ID` is synced; without it, the Broker API's accounts
//!     are listed with their statuses, to pick one and re-run.
//!   - SnapTrade: the user is registered and the connection portal URL printed, to open in a browser and
//!     connect a brokerage. With `DATABASE_URL` the registration is kept: a re-run finds that user again and
//!     syncs the brokerages connected since.
//!
//! Any failure: exit status 1 and one line `quickstart: <reason>` on stderr.

#[path = "support/mod.rs"]
#[macro_use]
mod support;

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::json;
use support::{Linked, Origin, Providers, SignUp, Table, currency_code, money, quantity};
use tributary::domain::{
    ConnectionType, FeatureFlags, InvestmentAccount, OrderAction, Price, Provider, Symbol, Units,
    UserId, totals_by_currency,
};
use tributary::provider::ProviderError;
use tributary::provider::capability::{OrderRequest, OrderSize};
use tributary::repo::{MemoryStore, TransactionQuery};
use tributary::sync::{ReportedFailure, SyncEngine, SyncReport, WebhookOutcome};

#[tokio::main]
async fn main() -> ExitCode {
    support::exit_with("quickstart", run().await)
}

async fn run() -> anyhow::Result<()> {
    let flags = support::flags_from_env()?;
    match support::database_url() {
        Some(url) => {
            let store = support::pg_store(&url).await?;
            walk_through(store, flags).await
        }
        None => walk_through(MemoryStore::new(), flags).await,
    }
}

async fn walk_through<S: SignUp>(store: S, flags: FeatureFlags) -> anyhow::Result<()> {
    let providers = Providers::from_env().await?;
    print_setup(&store, &providers, flags)?;
    let engine = providers.engine(store, flags);

    let returning = match providers.snaptrade.origin {
        Origin::Real => engine.store().returning_snaptrade_user().await?,
        Origin::Sandbox => None,
    };
    let user = match returning {
        Some(user) => {
            out!(
                "\nuser {user} from an earlier run: its SnapTrade registration is stored, so the brokerages \
                 connected in the portal since sync now"
            )?;
            user
        }
        None => {
            let user = engine.store().sign_up().await?;
            out!("\nuser {user} signed up")?;
            user
        }
    };
    link_everything(&providers, &engine, user, returning.is_some()).await?;

    let report = sync(&engine, user).await?;
    out!("sync:      {}", summary(&report))?;

    print_portfolio(&engine, user).await?;
    print_history(&engine, user).await?;
    trade(&providers, &engine, user).await?;
    receive_webhook(&providers, &engine, user).await
}

fn print_setup<S: SignUp>(
    store: &S,
    providers: &Providers,
    flags: FeatureFlags,
) -> anyhow::Result<()> {
    let on = |flag: bool| if flag { "on" } else { "off" };
    out!("store:     {}", store.describe())?;
    out!("snaptrade: {}", providers.snaptrade.describe())?;
    out!("plaid:     {}", providers.plaid.describe())?;
    out!("alpaca:    {}", providers.alpaca.describe())?;
    out!(
        "flags:     brokerage {}, aggregation {}, plaid sync {}, snaptrade sync {}",
        on(flags.brokerage_mode()),
        on(flags.aggregation_mode()),
        on(flags.flag_on(Provider::Plaid)),
        on(flags.flag_on(Provider::SnapTrade)),
    )
}

async fn link_everything<S: SignUp>(
    providers: &Providers,
    engine: &SyncEngine<S>,
    user: UserId,
    returning: bool,
) -> anyhow::Result<()> {
    let snaptrade = providers
        .connect_snaptrade(engine, user, ConnectionType::Trade)
        .await?;
    let browser_step = matches!(snaptrade, Linked::NeedsBrowser(_));
    say(
        "snaptrade",
        snaptrade,
        "registered, connection portal completed (trade access)",
    )?;
    if browser_step {
        let next = match (engine.store().persistent(), returning) {
            (true, false) => {
                "then re-run the quickstart: the registration is stored in PostgreSQL, and the re-run \
                 finds this user and syncs the brokerages connected in the portal"
            }
            (true, true) => "(for another brokerage; then re-run to sync it too)",
            (false, _) => {
                "then re-run with DATABASE_URL set from the first run: in memory the registration ends \
                 with this run, and a re-run registers a new SnapTrade user with nothing connected"
            }
        };
        out!("{:<10} {next}", "")?;
    }
    let plaid = providers.link_plaid(engine, user).await?;
    say(
        "plaid",
        plaid,
        &format!(
            "Item linked: a test Item at First Platypus Bank ({}) made by /sandbox/public_token/create \
             (standing in for Plaid Link), public token exchanged",
            support::PLAID_SANDBOX_INSTITUTION
        ),
    )?;
    let alpaca = providers.link_alpaca(engine.store(), user, 2).await?;
    say(
        "alpaca",
        alpaca,
        "brokerage account recorded in the user's onboarding",
    )?;
    Ok(())
}

fn say(provider: &str, linked: Linked, done: &str) -> anyhow::Result<()> {
    let label = format!("{provider}:");
    match linked {
        Linked::Done => out!("{label:<10} {done}"),
        Linked::NeedsBrowser(what) => out!("{label:<10} skipped: {what}"),
    }
}

/// How many times the quickstart syncs while Plaid is still preparing a new Item's investments, and how long
/// it waits between: Plaid answers `PRODUCT_NOT_READY` until the data is extracted (plaid-openapi.yml, the
/// `ITEM_ERROR` codes), seconds on its sandbox.
const PLAID_NOT_READY_TRIES: u32 = 6;
const PLAID_NOT_READY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Syncs the user; while the only failures are a new Plaid Item's data not being ready yet, waits and syncs
/// again (a bounded number of times).
async fn sync<S: SignUp>(engine: &SyncEngine<S>, user: UserId) -> anyhow::Result<SyncReport> {
    let mut tries = 1;
    loop {
        let report = engine.sync_user(user).await?;
        if !report.has_failures() {
            return Ok(report);
        }
        let failures = report.failures();
        let not_ready = failures.iter().all(|f| {
            let errors = f.failure.provider_errors();
            !errors.is_empty()
                && errors
                    .iter()
                    .all(|e| matches!(e, ProviderError::NotReady(_)))
        });
        if !not_ready || tries == PLAID_NOT_READY_TRIES {
            bail!("the sync failed: {}", lines(&failures));
        }
        out!(
            "sync:      Plaid is still preparing the new Item's investments; syncing again in {} s",
            PLAID_NOT_READY_WAIT.as_secs()
        )?;
        tokio::time::sleep(PLAID_NOT_READY_WAIT).await;
        tries += 1;
    }
}

/// A report's failures, `"; "` between them.
fn lines(failures: &[ReportedFailure]) -> String {
    let lines: Vec<String> = failures.iter().map(ToString::to_string).collect();
    lines.join("; ")
}

fn summary(report: &SyncReport) -> String {
    let mut in_order: Vec<_> = report.providers.iter().collect();
    in_order.sort_by_key(|p| p.provider);
    let providers: Vec<String> = in_order
        .into_iter()
        .map(|p| match &p.outcome {
            tributary::sync::Outcome::Synced => format!("{} synced", p.provider),
            tributary::sync::Outcome::Skipped { reason } => {
                format!("{} skipped ({reason})", p.provider)
            }
            tributary::sync::Outcome::Failed(failure) => {
                format!("{} failed ({failure})", p.provider)
            }
        })
        .collect();
    let accounts = report.history.iter().flat_map(|history| &history.accounts);
    let (mut new, mut kept, mut withdrawn) = (0, 0, 0);
    for account in accounts {
        new += account.written.written();
        kept += account.written.unchanged;
        withdrawn += account.removed;
    }
    format!(
        "{}; {} accounts, {} holdings, {} orders; transactions: {new} new or revised, {kept} unchanged, \
         {withdrawn} withdrawn",
        providers.join(", "),
        report.accounts.len(),
        report.holdings_count,
        report.orders_written,
    )
}

/// How many of the user's latest transactions the quickstart shows.
const LATEST_TRANSACTIONS: u32 = 10;

/// The user's latest transactions over every provider, and the value series the syncs recorded: one point per
/// day synced, per account and in total, per currency.
async fn print_history<S: SignUp>(engine: &SyncEngine<S>, user: UserId) -> anyhow::Result<()> {
    let providers: std::collections::HashMap<_, _> = engine
        .unified_accounts(user)
        .await?
        .into_iter()
        .map(|account| (account.id, account.provider))
        .collect();
    let mut latest = Table::new(&[
        "traded",
        "provider",
        "type",
        "symbol",
        ">quantity",
        ">amount",
        "currency",
    ]);
    let transactions = engine
        .store()
        .list_transactions(user, &TransactionQuery::latest(LATEST_TRANSACTIONS))
        .await?;
    for stored in &transactions {
        let transaction = &stored.transaction;
        latest.row(vec![
            transaction.trade_date.to_string(),
            providers
                .get(&transaction.account_id)
                .map_or_else(|| "-".to_owned(), ToString::to_string),
            transaction.transaction_type.to_string(),
            transaction
                .symbol
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
            transaction
                .quantity
                .map_or_else(|| "-".to_owned(), quantity),
            money(transaction.amount.get()),
            transaction.currency.to_string(),
        ]);
    }
    out!("latest transactions (amount: cash into the account is positive):\n{latest}")?;

    let today = chrono::Utc::now().date_naive();
    let mut series = Table::new(&[
        "day",
        "account",
        "currency",
        ">market value",
        ">cash",
        ">net contributions",
    ]);
    let points = engine
        .value_history(user, today - chrono::Days::new(30), today)
        .await?;
    for point in points.iter().map(|stored| &stored.point) {
        let optional =
            |figure: Option<rust_decimal::Decimal>| figure.map_or_else(|| "-".to_owned(), money);
        series.row(vec![
            point.day.to_string(),
            point.account_id.map_or_else(
                || "total".to_owned(),
                |account| short_id(&account.to_string()),
            ),
            point.currency.to_string(),
            money(point.market_value.get()),
            optional(point.cash.map(|cash| cash.get())),
            optional(point.net_contributions.map(|net| net.get())),
        ]);
    }
    out!("value over the last 30 days (a point per day synced; none invented between):\n{series}")
}

/// An id's first eight characters, enough to tell a user's accounts apart in a table.
fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

async fn print_portfolio<S: SignUp>(engine: &SyncEngine<S>, user: UserId) -> anyhow::Result<()> {
    let mode = engine.portfolio_mode(user).await?;
    out!(
        "\nportfolio mode: {} (alpaca: {}, plaid: {}, snaptrade: {}, active accounts: {})\n",
        mode.mode,
        mode.has_alpaca,
        mode.has_plaid,
        mode.has_snaptrade,
        mode.accounts_count
    )?;

    let mut accounts = Table::new(&[
        "provider",
        "institution",
        "account",
        "type",
        "access",
        "connection",
    ]);
    // A returning user's accounts from an earlier run's embedded sandboxes are kept, inactive: not shown.
    let (mut unified, inactive): (Vec<_>, Vec<_>) = engine
        .unified_accounts(user)
        .await?
        .into_iter()
        .partition(|account| account.is_active);
    unified.sort_by_key(|a| {
        let name = a.account_name.as_ref().map(ToString::to_string);
        (a.provider, a.institution_name.to_string(), name)
    });
    for account in unified {
        accounts.row(vec![
            account.provider.to_string(),
            account.institution_name.to_string(),
            account
                .account_name
                .map_or_else(|| "-".to_owned(), |name| name.to_string()),
            account.account_type.to_string(),
            account.connection_type.to_string(),
            account
                .brokerage_connection_status
                .map_or_else(|| "-".to_owned(), |status| status.to_string()),
        ]);
    }
    out!("{accounts}")?;
    if !inactive.is_empty() {
        out!(
            "({} inactive accounts not shown: no longer linked, kept with their orders)\n",
            inactive.len()
        )?;
    }

    let mut holdings = Table::new(&[
        "symbol",
        ">quantity",
        ">market value",
        ">cost basis",
        "currency",
        ">accounts",
        "institutions",
    ]);
    let stored = engine.store().list_holdings(user).await?;
    for holding in &stored {
        let institutions: Vec<&str> = holding
            .institution_breakdown
            .keys()
            .map(String::as_str)
            .collect();
        holdings.row(vec![
            holding.symbol.to_string(),
            quantity(holding.figures.total_quantity.get()),
            money(holding.figures.total_market_value.get()),
            money(holding.figures.total_cost_basis.get()),
            currency_code(holding.currency.as_ref()),
            holding.account_count.to_string(),
            institutions.join(", "),
        ]);
    }
    out!("{holdings}")?;
    // Each currency is summed on its own: converting BTC or CAD into dollars needs a rate, which is yours to pick.
    let mut totals = Table::new(&["currency", ">market value", ">cost basis", ">holdings"]);
    for (currency, sums) in totals_by_currency(&stored) {
        totals.row(vec![
            currency_code(currency.as_ref()),
            money(sums.market_value),
            money(sums.cost_basis),
            sums.holdings.to_string(),
        ]);
    }
    out!("totals per currency:\n{totals}")?;
    Ok(())
}

/// The account the quickstart trades in: a SnapTrade trade account, else the Alpaca account, on the sandbox
/// only (a quickstart places no order at a real brokerage).
async fn trading_account<S: SignUp>(
    providers: &Providers,
    engine: &SyncEngine<S>,
    user: UserId,
) -> anyhow::Result<Option<InvestmentAccount>> {
    let accounts = engine.store().list_accounts(user).await?;
    let on_sandbox = |provider: Provider| match provider {
        Provider::SnapTrade => providers.snaptrade.origin == Origin::Sandbox,
        Provider::Alpaca => providers.alpaca.origin == Origin::Sandbox,
        _ => false,
    };
    let tradable = |a: &&InvestmentAccount| {
        a.is_active && on_sandbox(a.provider) && a.connection_type == ConnectionType::Trade
    };
    let snaptrade = accounts
        .iter()
        .filter(tradable)
        .find(|a| a.provider == Provider::SnapTrade);
    let alpaca = accounts
        .iter()
        .filter(tradable)
        .find(|a| a.provider == Provider::Alpaca);
    Ok(snaptrade.or(alpaca).cloned())
}

async fn trade<S: SignUp>(
    providers: &Providers,
    engine: &SyncEngine<S>,
    user: UserId,
) -> anyhow::Result<()> {
    let Some(account) = trading_account(providers, engine, user).await? else {
        out!(
            "order:     skipped: no sandbox account to trade in (no order is placed at a real brokerage)"
        )?;
        return Ok(());
    };
    let order = OrderRequest::limit(
        Symbol::parse("AAPL")?,
        OrderAction::Buy,
        OrderSize::Units(Units::parse_exact("1")?),
        Price::parse_exact("1.00")?,
    )?;
    let placed = engine.place_order(user, account.id, order).await?;
    let estimate = placed
        .impact
        .as_ref()
        .and_then(|impact| impact.estimated_value)
        .map_or_else(
            || "no estimate".to_owned(),
            |v| format!("estimated {}", money(v.get())),
        );
    out!(
        "order:     limit buy 1 AAPL at 1.00 in {} {} ({estimate}): {}, brokerage order id {}",
        account.provider,
        account.account_name.as_ref().map_or_else(
            || account.provider_account_id.to_string(),
            |n| n.to_string()
        ),
        placed.order.status,
        placed.order.brokerage_order_id,
    )?;
    let cancelled = engine.cancel_order(user, placed.order.id).await?;
    out!("cancel:    {}", cancelled.status)?;
    Ok(())
}

async fn receive_webhook<S: SignUp>(
    providers: &Providers,
    engine: &SyncEngine<S>,
    user: UserId,
) -> anyhow::Result<()> {
    let connection = engine
        .store()
        .list_connections(user)
        .await?
        .into_iter()
        .next();
    let payload = json!({
        "webhookId": uuid::Uuid::new_v4().to_string(),
        "eventType": "ACCOUNT_HOLDINGS_UPDATED",
        "eventTimestamp": chrono::Utc::now().to_rfc3339(),
        "userId": user.to_string(),
        "brokerageAuthorizationId": connection.map(|c| c.authorization_id.to_string()),
    });
    let (body, signature) = providers.signed_webhook(&payload);
    let outcome = engine
        .snaptrade()
        .handle_webhook(Some(&signature), &body)
        .await?;
    let WebhookOutcome::Resynced(report) = outcome else {
        return Err(anyhow!(
            "ACCOUNT_HOLDINGS_UPDATED should resync the user, it did: {outcome:?}"
        ));
    };
    out!(
        "webhook:   ACCOUNT_HOLDINGS_UPDATED verified and applied: resynced, {} holdings rewritten, {} removed",
        report.holdings.written,
        report.holdings.removed
    )?;
    let replay = engine
        .snaptrade()
        .handle_webhook(Some(&signature), &body)
        .await?;
    if replay != WebhookOutcome::Replayed {
        bail!("a replayed webhook was applied again: {replay:?}");
    }
    out!("webhook:   the same delivery again: acknowledged as a replay, not applied twice")?;
    Ok(())
}
