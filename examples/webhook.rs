//! Verifies a SnapTrade webhook delivery and applies it through the sync engine.
//!
//! ```sh
//! cargo run --example webhook -- payload.json --signature '<Signature header>'
//! echo '{"eventType":"CONNECTION_BROKEN",…}' | cargo run --example webhook -- --sign
//! ```
//!
//! The payload comes from the file argument, or stdin when there is none (or it is `-`). The signature is the
//! `Signature` header SnapTrade sent (`--signature`), or, with `--sign`, computed here with the consumer key the
//! engine verifies with: `SNAPTRADE_CONSUMER_KEY` when SnapTrade is configured, else the sandbox's. The engine
//! refuses a forged, unsigned or stale delivery (older than 5 minutes), acknowledges a replay without acting,
//! and otherwise acts on the event (connection health, a resync, the user's removal, an account's orders).
//! The store is PostgreSQL with `DATABASE_URL` (the users webhooks name live there), else an empty
//! `MemoryStore`. Any failure: exit status 1 and one line `webhook: <reason>` on stderr.

#[path = "support/mod.rs"]
#[macro_use]
mod support;

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use support::{Origin, Providers, SignUp};
use tributary::repo::MemoryStore;
use tributary::sync::{Outcome, WebhookOutcome};

const USAGE: &str =
    "usage: cargo run --example webhook -- [FILE|-] (--signature <Signature header> | --sign)";

/// Where the signature comes from.
enum Signature {
    Given(String),
    Computed,
    Missing,
}

#[tokio::main]
async fn main() -> ExitCode {
    support::exit_with("webhook", run().await)
}

async fn run() -> anyhow::Result<()> {
    let (file, signature) = parse_arguments(std::env::args().skip(1).collect())?;
    let body = read_payload(file.as_deref())?;
    match support::database_url() {
        Some(url) => apply(support::pg_store(&url).await?, &body, signature).await,
        None => apply(MemoryStore::new(), &body, signature).await,
    }
}

fn parse_arguments(args: Vec<String>) -> anyhow::Result<(Option<String>, Signature)> {
    let (mut file, mut signature) = (None, Signature::Missing);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--signature" => {
                let value = args
                    .next()
                    .ok_or_else(|| anyhow!("--signature needs a value; {USAGE}"))?;
                signature = Signature::Given(value);
            }
            "--sign" => signature = Signature::Computed,
            flag if flag.starts_with("--") => bail!("unknown option {flag}; {USAGE}"),
            _ if file.is_some() => bail!("one payload at a time; {USAGE}"),
            _ => file = Some(arg),
        }
    }
    Ok((file, signature))
}

fn read_payload(file: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match file {
        Some(path) if path != "-" => {
            std::fs::read(path).with_context(|| format!("reading the payload from {path}"))
        }
        _ => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .context("reading the payload from stdin")?;
            Ok(body)
        }
    }
}

async fn apply<S: SignUp>(store: S, body: &[u8], signature: Signature) -> anyhow::Result<()> {
    let providers = Providers::from_env().await?;
    let key_source = match providers.snaptrade.origin {
        Origin::Real => "SNAPTRADE_CONSUMER_KEY",
        Origin::Sandbox => "the sandbox's consumer key (SNAPTRADE_CONSUMER_KEY is not set)",
    };
    out!("store:     {}", store.describe())?;
    out!("verifying: with {key_source}")?;
    let signature = match signature {
        Signature::Given(text) => Some(text),
        Signature::Computed => {
            let payload: serde_json::Value =
                serde_json::from_slice(body).context("the payload is not JSON")?;
            Some(providers.signed_webhook(&payload).1)
        }
        Signature::Missing => None,
    };
    let engine = providers.engine(store, support::flags_from_env()?);
    let outcome = engine
        .snaptrade()
        .handle_webhook(signature.as_deref(), body)
        .await?;
    out!("outcome:   {}", describe(&outcome))
}

fn describe(outcome: &WebhookOutcome) -> String {
    match outcome {
        WebhookOutcome::Replayed => "a replay of a delivery already applied: acknowledged, not applied again".into(),
        WebhookOutcome::ConnectionUpdated {
            authorization_id,
            status,
        } => format!("connection {authorization_id} is now {status}"),
        WebhookOutcome::Resynced(report) => {
            let failed = report.providers.iter().filter(|p| p.outcome != Outcome::Synced).count();
            format!(
                "the user was synced again: {} accounts, {} holdings ({} rewritten, {} removed), {} providers not synced",
                report.accounts.len(),
                report.holdings_count,
                report.holdings.written,
                report.holdings.removed,
                failed
            )
        }
        WebhookOutcome::ConnectionRemoved {
            authorization_id,
            accounts_deactivated,
        } => format!(
            "connection {authorization_id} was deleted at SnapTrade: its row removed, {accounts_deactivated} accounts deactivated (their orders kept)"
        ),
        WebhookOutcome::UserRemoved => {
            "the user's SnapTrade registration and connections were deleted and their SnapTrade accounts deactivated (their orders kept)".into()
        }
        WebhookOutcome::HistorySynced(history) => {
            let written: usize = history.iter().flat_map(|h| &h.accounts).map(|a| a.written.written()).sum();
            format!("the account's transactions were synced ({written} written)")
        }
        WebhookOutcome::OrdersRefreshed { written } => format!("the account's orders were refreshed ({written} written)"),
        WebhookOutcome::Ignored { reason } => format!("acknowledged without action: {reason}"),
        WebhookOutcome::UnknownUser { snaptrade_user_id } => {
            format!("names SnapTrade user {snaptrade_user_id}, whom this database does not know: acknowledged, nothing written")
        }
        WebhookOutcome::Deferred { reason } => format!(
            "recorded and acknowledged, but applying it failed ({reason}); retry_snaptrade_webhooks applies it later"
        ),
    }
}
