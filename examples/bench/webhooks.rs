//! A verified SnapTrade webhook from receipt to applied, into PostgreSQL: `handle_webhook` with a signed
//! delivery (the `Signature` header SnapTrade sends, HMAC-SHA256 of the canonical body under the consumer key)
//! verified, recorded in the durable inbox, applied with the user held, marked applied. Applied here: a
//! connection's status change (`CONNECTION_BROKEN` / `CONNECTION_FIXED`, alternating), which writes one row and
//! calls no provider; and, for information, `ACCOUNT_TRANSACTIONS_UPDATED`, which syncs the named account's
//! history from `tributary-sandbox` (no added latency). The baseline is the receipt alone: the same signature
//! verified and the delivery recorded in the inbox (one committed insert), what a 2xx must wait for anyway.
//! Then every applied delivery is delivered again: a replay must be acknowledged and write nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgPool, Row};
use tributary::chrono::Utc;
use tributary::domain::{ConnectionStatus, Provider, UserId};
use tributary::provider::snaptrade::SnapTradeClient;
use tributary::repo::secret::SecretKey;
use tributary::repo::{
    AccountRepository, ConnectionRepository, Keyring, NewWebhookDelivery, PgStore, WebhookKey,
    WebhookRepository,
};
use tributary::sync::{SyncEngine, WebhookOutcome};
use tributary_sandbox::Sandbox;

use crate::orders::{SyncedUser, snaptrade_engine, synced_user};
use crate::report::{Figure, Target, Timed, human, quantile};
use crate::roundtrips::RoundTripCounter;

/// The target for a status change's p99, receipt to applied: its statements are about eight round trips and
/// three committed writes (the inbox insert, the connection's row, the inbox marked applied), each a WAL flush.
const APPLIED_P99_MS: f64 = 50.0;

/// The tables a replay could write to: the inbox and what applying a delivery writes.
const WATCHED: &[&str] = &[
    "snaptrade_webhook_events",
    "snaptrade_brokerage_connections",
    "snaptrade_users",
    "user_investment_accounts",
    "investment_transactions",
];

pub async fn run(
    options: &PgConnectOptions,
    store: &PgStore,
    deliveries: usize,
) -> anyhow::Result<Vec<Figure>> {
    let sandbox = Sandbox::try_start().await?;
    let SyncedUser {
        key,
        store,
        user,
        client,
        engine,
        ..
    } = synced_user(store, &sandbox).await?;
    let store = &store;
    let authorization = store
        .list_connections(user)
        .await?
        .first()
        .context("the sync stored no connection")?
        .authorization_id
        .to_string();
    let account = store
        .list_accounts(user)
        .await?
        .into_iter()
        .find(|a| a.provider == Provider::SnapTrade)
        .context("the sync stored no SnapTrade account")?
        .provider_account_id;
    let hooks = Hooks {
        engine: &engine,
        store,
        client: &client,
        user,
    };

    // Untimed: the inbox's statements prepared, the connections of the pool opened.
    hooks
        .receive(&hooks.status("warm-receipt", 0, &authorization))
        .await?;
    hooks
        .apply(&hooks.status("warm-apply", 0, &authorization))
        .await?;

    let mut applied = Vec::with_capacity(deliveries);
    let (mut applying, mut receiving, mut verifying) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..deliveries {
        let delivery = hooks.status(&format!("status-{n}"), n, &authorization);
        let receipt = hooks.status(&format!("receipt-{n}"), n, &authorization);
        // Alternating which goes first, so neither always meets a connection the other just used.
        let receive_first = !n.is_multiple_of(2);
        if receive_first {
            let (took, verified) = hooks.receive(&receipt).await?;
            receiving.push(took);
            verifying.push(verified);
        }
        let (took, outcome) = hooks.apply(&delivery).await?;
        let expected = if n.is_multiple_of(2) {
            ConnectionStatus::Disabled
        } else {
            ConnectionStatus::Active
        };
        ensure!(
            matches!(&outcome, WebhookOutcome::ConnectionUpdated { status, .. } if *status == expected),
            "delivery {n} was not applied as a status change: {outcome:?}"
        );
        applying.push(took);
        applied.push(delivery);
        if !receive_first {
            let (took, verified) = hooks.receive(&receipt).await?;
            receiving.push(took);
            verifying.push(verified);
        }
    }

    // Every applied delivery again: acknowledged as a replay, and not a row written.
    let before = row_versions(store.pool(), user).await?;
    let mut replaying = Vec::with_capacity(applied.len());
    for delivery in &applied {
        let (took, outcome) = hooks.apply(delivery).await?;
        ensure!(
            outcome == WebhookOutcome::Replayed,
            "a replay was not acknowledged as one: {outcome:?}"
        );
        replaying.push(took);
    }
    let after = row_versions(store.pool(), user).await?;
    let unchanged = compare(&before, &after);

    // A delivery that syncs: the named account's history, fewer of them (each reads the sandbox).
    let syncs = (deliveries / 4).max(5);
    let mut syncing = Vec::with_capacity(syncs);
    for n in 0..syncs {
        let delivery = hooks.sign(&history(user, &format!("history-{n}"), &account));
        let (took, outcome) = hooks.apply(&delivery).await?;
        ensure!(
            matches!(&outcome, WebhookOutcome::HistorySynced(reports) if !reports.is_empty()),
            "an ACCOUNT_TRANSACTIONS_UPDATED was not applied as a history sync: {outcome:?}"
        );
        syncing.push(took);
    }

    let trips = round_trips(options, key, &client, user, &authorization).await?;

    let receipt_p50 = quantile(&mut receiving, 0.5);
    let receipt_p99 = quantile(&mut receiving, 0.99);
    let verify_p50 = quantile(&mut verifying, 0.5);
    let verify_p99 = quantile(&mut verifying, 0.99);
    let applied_p50 = quantile(&mut applying, 0.5);
    let applied_p99 = quantile(&mut applying, 0.99);
    let receipt = |label: &str, took| {
        Timed::new(
            format!("receipt alone (signature verified, inbox insert committed) {label}"),
            took,
        )
    };
    let status = format!("{deliveries} SnapTrade CONNECTION_BROKEN/FIXED deliveries");
    Ok(vec![
        Figure::report(
            format!("verified webhook, receipt to applied, p50: {status}"),
            Timed::new("receipt to applied p50", applied_p50),
            receipt("p50", receipt_p50),
        ),
        Figure {
            what: format!("verified webhook, receipt to applied, p99: {status}"),
            measured: format!(
                "p99 {} (p50 {}), {:.2} × the receipt's p99; {:.1} round trips (the receipt {:.1})",
                human(applied_p99),
                human(applied_p50),
                applied_p99.as_secs_f64() / receipt_p99.as_secs_f64().max(f64::MIN_POSITIVE),
                trips.applied,
                trips.receipt
            ),
            against: format!(
                "{}; the verification alone p50 {}, p99 {}",
                receipt("p99", receipt_p99),
                human(verify_p50),
                human(verify_p99)
            ),
            ratio: applied_p99.as_secs_f64() * 1e3,
            unit: "ms",
            target: Target::AtMost(APPLIED_P99_MS),
            condition: Ok(()),
        },
        Figure::report(
            format!(
                "replayed webhook (already applied), p99: the same {} deliveries again, which must write nothing",
                applied.len()
            ),
            Timed::new(
                format!(
                    "{}; {:.1} round trips; replay p99 (p50 {})",
                    match &unchanged {
                        Ok(()) => format!("no row of the user's in {} tables changed", WATCHED.len()),
                        Err(what) => what.clone(),
                    },
                    trips.replay,
                    human(quantile(&mut replaying, 0.5))
                ),
                quantile(&mut replaying, 0.99),
            ),
            receipt("p99", receipt_p99),
        )
        .requiring(unchanged),
        Figure::report(
            format!(
                "verified webhook that syncs, receipt to applied, p99: {syncs} ACCOUNT_TRANSACTIONS_UPDATED \
                 (one account's history re-read, sandbox with no added latency)"
            ),
            Timed::new(
                format!(
                    "receipt to applied p99 (p50 {})",
                    human(quantile(&mut syncing, 0.5))
                ),
                quantile(&mut syncing, 0.99),
            ),
            receipt("p99", receipt_p99),
        ),
    ])
}

/// What the bench delivers, and to whom.
#[derive(Clone, Copy)]
struct Hooks<'a> {
    engine: &'a SyncEngine<PgStore>,
    store: &'a PgStore,
    client: &'a SnapTradeClient,
    user: UserId,
}

/// A signed delivery: its body and its `Signature` header.
struct Signed {
    body: String,
    signature: String,
}

impl Hooks<'_> {
    /// A status change of the user's connection: broken for even `n`, fixed for odd, signed now (within
    /// SnapTrade's freshness window).
    fn status(&self, id: &str, n: usize, authorization: &str) -> Signed {
        let event = if n.is_multiple_of(2) {
            "CONNECTION_BROKEN"
        } else {
            "CONNECTION_FIXED"
        };
        self.sign(&json!({
            "webhookId": id,
            "clientId": "TRIBUTARY",
            "eventTimestamp": Utc::now().to_rfc3339(),
            "userId": self.user.to_string(),
            "eventType": event,
            "brokerageAuthorizationId": authorization,
        }))
    }

    fn sign(&self, payload: &Value) -> Signed {
        let signed = self.client.sign_webhook(payload);
        Signed {
            body: signed.body,
            signature: signed.signature,
        }
    }

    /// `handle_webhook`, timed.
    async fn apply(&self, delivery: &Signed) -> anyhow::Result<(Duration, WebhookOutcome)> {
        let started = Instant::now();
        let outcome = self
            .engine
            .snaptrade()
            .handle_webhook(Some(&delivery.signature), delivery.body.as_bytes())
            .await?;
        Ok((started.elapsed(), outcome))
    }

    /// The receipt alone, timed: the signature verified (timed apart too) and the delivery recorded as
    /// `handle_webhook` records it.
    async fn receive(&self, delivery: &Signed) -> anyhow::Result<(Duration, Duration)> {
        let started = Instant::now();
        let event = self
            .client
            .verify_webhook_signature(Some(&delivery.signature), delivery.body.as_bytes())?;
        let verified = started.elapsed();
        let webhook_id = event.webhook_id.as_deref().context("a webhook id")?;
        let recorded = self
            .store
            .record_webhook(&NewWebhookDelivery {
                key: WebhookKey::snaptrade(self.user.to_string(), format!("id:{webhook_id}")),
                event_type: event
                    .raw
                    .get("eventType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                user: Some(self.user),
                payload: event.raw.clone(),
                hint_only: !event.is_fresh_at(Utc::now()),
            })
            .await?;
        let took = started.elapsed();
        ensure!(recorded, "the receipt {webhook_id} was recorded before");
        Ok((took, verified))
    }
}

/// An `ACCOUNT_TRANSACTIONS_UPDATED` naming the user's account, signed by the caller.
fn history(user: UserId, id: &str, account: &tributary::domain::ProviderAccountId) -> Value {
    json!({
        "webhookId": id,
        "clientId": "TRIBUTARY",
        "eventTimestamp": Utc::now().to_rfc3339(),
        "userId": user.to_string(),
        "eventType": "ACCOUNT_TRANSACTIONS_UPDATED",
        "accountId": account.as_str(),
    })
}

/// Each watched table's rows of the user as (ctid, xmin): an update gives a row a new version, an insert or delete adds or
/// removes one, so equal sets mean nothing was written.
async fn row_versions(
    pool: &PgPool,
    user: UserId,
) -> anyhow::Result<BTreeMap<&'static str, Vec<String>>> {
    let mut versions = BTreeMap::new();
    for table in WATCHED {
        let versions_in_table = format!(
            "select ctid::text || '/' || xmin::text from public.{table} where user_id = $1 order by 1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(versions_in_table))
            .bind(user.into_uuid())
            .fetch_all(pool)
            .await?;
        let rows = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        versions.insert(*table, rows);
    }
    Ok(versions)
}

fn compare(
    before: &BTreeMap<&'static str, Vec<String>>,
    after: &BTreeMap<&'static str, Vec<String>>,
) -> Result<(), String> {
    let changed: Vec<String> = WATCHED
        .iter()
        .filter(|table| before.get(*table) != after.get(*table))
        .map(|table| {
            let (was, is) = (before[table].len(), after[table].len());
            format!("{table} changed ({was} rows before, {is} after)")
        })
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(changed.join("; "))
    }
}

/// Round trips to PostgreSQL per delivery, counted through the relay.
struct Trips {
    receipt: f64,
    applied: f64,
    replay: f64,
}

/// A few deliveries of each kind through a relay that counts round trips, on a store with the same key.
async fn round_trips(
    options: &PgConnectOptions,
    key: [u8; 32],
    client: &std::sync::Arc<SnapTradeClient>,
    user: UserId,
    authorization: &str,
) -> anyhow::Result<Trips> {
    const CALLS: usize = 4;
    let counter = RoundTripCounter::start(options).await?;
    let pool = crate::portfolio::bench_pool(counter.through(options.clone()), 4).await?;
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes(key)));
    let engine = snaptrade_engine(&store, client);
    let hooks = Hooks {
        engine: &engine,
        store: &store,
        client,
        user,
    };
    // The pool's connections opened and statements prepared before counting.
    hooks
        .receive(&hooks.status("trips-warm-receipt", 0, authorization))
        .await?;
    hooks
        .apply(&hooks.status("trips-warm", 0, authorization))
        .await?;
    let (mut receipt, mut applied, mut replay) = (0, 0, 0);
    for n in 0..CALLS {
        let delivery = hooks.status(&format!("trips-{n}"), n, authorization);
        let before = counter.count();
        hooks
            .receive(&hooks.status(&format!("trips-receipt-{n}"), n, authorization))
            .await?;
        let received = counter.count();
        hooks.apply(&delivery).await?;
        let done = counter.count();
        hooks.apply(&delivery).await?;
        receipt += received - before;
        applied += done - received;
        replay += counter.count() - done;
    }
    pool.close().await;
    let per = |n: u64| n as f64 / CALLS as f64;
    Ok(Trips {
        receipt: per(receipt),
        applied: per(applied),
        replay: per(replay),
    })
}
