//! No secret reaches a log line, an error message or a `Debug` output. A quickstart-style flow (connect
//! SnapTrade, link Plaid and Alpaca, sync, trade, cancel, a webhook and its replay, a secret rotation) runs
//! on `MemoryStore` and on `PgStore` sealing with a known key, with `tracing` captured at TRACE; calls that
//! fail on purpose (a forged webhook, an order on a read-only connection, a provider failing mid-sync, a
//! sealed secret opened with the wrong key) add their errors. Every captured text is then searched for the
//! SnapTrade consumer key, every user secret the store held, the Plaid secret and access tokens, the Alpaca
//! secret, and the sealing keys (raw and base64). The capture is checked to hold the provider calls, so the
//! search cannot pass on an empty log.
//!
//! The Alpaca key id and the client ids are identifiers, not secrets: configs show them in `Debug` by design.

#[path = "../examples/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Mutex, OnceLock, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sqlx::PgPool;
use support::{Linked, Providers};
use tracing_subscriber::fmt::format::FmtSpan;
use tributary::domain::{ConnectionType, FeatureFlags, Provider, UserId};
use tributary::provider::alpaca::{AlpacaConfig, AlpacaEnvironment};
use tributary::provider::plaid::{PlaidConfig, PlaidEnvironment};
use tributary::provider::snaptrade::SnapTradeConfig;
use tributary::repo::{Keyring, MemoryStore, PgStore, SecretKey, SnapTradeUserRepository, Store};
use tributary::sync::source::Logins;
use tributary::sync::{SyncEngine, WebhookOutcome};
use tributary_sandbox::Sandbox;

tributary_testdb::require_database!();

/// Every provider switched on.
const ALL_ON: FeatureFlags = FeatureFlags::all_on();

/// The sealing key PgStore uses here, as `TRIBUTARY_SECRET_KEY` holds it (base64) and as bytes: distinctive,
/// so finding either is meaningful.
const SEALING_KEY: (&str, &str) = (
    "dHJpYnV0YXJ5LXNlYWxpbmcta2V5LTAxMjM0NTY3ODk=",
    "tributary-sealing-key-0123456789",
);
/// A key that did not seal anything: opening with it must fail without showing either key.
const WRONG_KEY: (&str, &str) = (
    "bm90LXRoZS1zZWFsaW5nLWtleS1hYmNkZWZnaGlqa2w=",
    "not-the-sealing-key-abcdefghijkl",
);

fn sealing_key((base64, _): (&str, &str)) -> SecretKey {
    SecretKey::from_base64(&SecretString::from(base64)).expect("32 bytes in base64")
}

/// Everything any test in this binary logged, at TRACE, as text.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs one global TRACE subscriber writing into [`LOG`] (global, so tasks on any runtime thread are
/// captured), spans logged when they open and close with their recorded fields, and the `log` crate's records
/// (reqwest, sqlx) bridged into it (`init` installs the bridge with tracing-subscriber's `tracing-log` feature).
fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(|| CaptureWriter)
            .init();
    });
}

fn captured_log() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

/// The secrets of one run, by what they are, and the texts that must not contain them.
#[derive(Default)]
struct Exposure {
    secrets: Vec<(String, String)>,
    texts: Vec<(String, String)>,
}

impl Exposure {
    fn secret(&mut self, what: &str, value: &str) {
        assert!(
            value.len() >= 12,
            "{what} is too short to search for: {value:?}"
        );
        self.secrets.push((what.to_owned(), value.to_owned()));
    }

    fn text(&mut self, what: &str, text: String) {
        self.texts.push((what.to_owned(), text));
    }

    fn debug(&mut self, what: &str, value: &impl std::fmt::Debug) {
        self.text(what, format!("{value:?} {value:#?}"));
    }

    fn error(&mut self, what: &str, error: &impl std::error::Error) {
        let mut chain = format!("{error} {error:?}");
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(&format!(" / {cause}"));
            source = cause.source();
        }
        self.text(what, chain);
    }

    fn sealing_key(&mut self, what: &str, (base64, bytes): (&str, &str)) {
        self.secret(&format!("{what} (base64)"), base64);
        self.secret(&format!("{what} (its bytes)"), bytes);
    }

    /// Fails naming the first text that shows a secret, and the secret by what it is.
    fn assert_nothing_shown(&self) {
        assert!(
            self.texts.len() > 10,
            "only {} texts checked",
            self.texts.len()
        );
        for (what_text, text) in &self.texts {
            for (what_secret, secret) in &self.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{what_secret} appears in {what_text}"
                );
            }
        }
    }
}

/// The providers' configurations as the examples build them on the sandbox, for their `Debug`.
fn configs(sandbox: &Sandbox) -> Vec<String> {
    let snaptrade = SnapTradeConfig::new(
        sandbox.snaptrade().client_id(),
        SecretString::from(sandbox.snaptrade().consumer_key()),
    )
    .unwrap();
    let plaid = PlaidConfig::new(
        sandbox.plaid().client_id(),
        SecretString::from(sandbox.plaid().secret()),
        PlaidEnvironment::Sandbox,
    );
    let alpaca = AlpacaConfig::new(
        sandbox.alpaca().key_id(),
        SecretString::from(sandbox.alpaca().secret()),
        AlpacaEnvironment::Sandbox,
    );
    vec![
        format!("{snaptrade:?} {snaptrade:#?}"),
        format!("{plaid:?} {plaid:#?}"),
        format!("{alpaca:?} {alpaca:#?}"),
    ]
}

/// The quickstart's steps and the failures, every returned value and error recorded in `exposure`.
async fn run_the_flow<S: Store + 'static>(
    providers: &Providers,
    engine: &SyncEngine<S>,
    user: UserId,
    exposure: &mut Exposure,
) {
    let linked = providers
        .connect_snaptrade(engine, user, ConnectionType::Trade)
        .await
        .unwrap();
    assert_eq!(linked, Linked::Done);
    assert_eq!(
        providers.link_plaid(engine, user).await.unwrap(),
        Linked::Done
    );
    let alpaca = providers
        .link_alpaca(engine.store(), user, 3)
        .await
        .unwrap();
    assert_eq!(alpaca, Linked::Done);

    let report = engine.sync_user(user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    exposure.debug("the sync report", &report);
    exposure.debug(
        "the portfolio mode",
        &engine.portfolio_mode(user).await.unwrap(),
    );
    exposure.debug(
        "the unified accounts",
        &engine.unified_accounts(user).await.unwrap(),
    );
    let store = engine.store();
    exposure.debug("the holdings", &store.list_holdings(user).await.unwrap());
    exposure.debug(
        "the connections",
        &store.list_connections(user).await.unwrap(),
    );
    let accounts = store.list_accounts(user).await.unwrap();
    exposure.debug("the accounts", &accounts);

    let trading = accounts
        .iter()
        .find(|a| a.provider == Provider::SnapTrade)
        .expect("a SnapTrade account");
    let order = one_aapl_at_a_dollar();
    let placed = engine.place_order(user, trading.id, order).await.unwrap();
    exposure.debug("the order placement", &placed);
    let cancelled = engine.cancel_order(user, placed.order.id).await.unwrap();
    exposure.debug("the cancelled order", &cancelled);
    exposure.debug("the orders", &store.list_orders(user, None).await.unwrap());

    webhooks(providers, engine, user, exposure).await;
    failures(providers, engine, user, exposure).await;

    // A rotation: the old secret and the new one must both stay hidden.
    let before = store.find_snaptrade_user(user).await.unwrap().unwrap();
    engine.snaptrade().rotate_secret(user).await.unwrap();
    let after = store.find_snaptrade_user(user).await.unwrap().unwrap();
    exposure.debug("the SnapTrade registration before a rotation", &before);
    exposure.debug("the SnapTrade registration after a rotation", &after);
    for (what, registration) in [("before", &before), ("after", &after)] {
        let secret = registration.user_secret.expose_secret();
        exposure.secret(
            &format!("the SnapTrade user secret {what} the rotation"),
            secret,
        );
    }
    assert_ne!(
        before.user_secret.expose_secret(),
        after.user_secret.expose_secret()
    );

    // Linking stores the Item with its token sealed; the store hands it back opened.
    let items = store.list_plaid_items(user).await.unwrap();
    assert!(!items.is_empty(), "a Plaid Item is linked");
    for item in &items {
        exposure.debug("a stored Plaid Item", item);
        exposure.secret("a Plaid access token", item.access_token.expose_secret());
    }
    let given = providers.plaid_items.logins(store, user).await.unwrap();
    for token in &given {
        exposure.debug("a Plaid access token", token);
        exposure.secret("a Plaid access token", token.secret().expose_secret());
    }
    exposure.debug("the engine", engine);
}

/// A webhook applied, replayed, forged.
async fn webhooks<S: Store + 'static>(
    providers: &Providers,
    engine: &SyncEngine<S>,
    user: UserId,
    exposure: &mut Exposure,
) {
    let payload = json!({
        "webhookId": "secrets-hook-1",
        "clientId": tributary_sandbox::SNAPTRADE_CLIENT_ID,
        "eventTimestamp": chrono::Utc::now().to_rfc3339(),
        "userId": user.to_string(),
        "eventType": "ACCOUNT_HOLDINGS_UPDATED",
    });
    let (body, signature) = providers.signed_webhook(&payload);
    let applied = engine
        .snaptrade()
        .handle_webhook(Some(&signature), &body)
        .await
        .unwrap();
    assert!(
        matches!(applied, WebhookOutcome::Resynced(_)),
        "{applied:?}"
    );
    exposure.debug("a webhook's outcome", &applied);
    let replay = engine
        .snaptrade()
        .handle_webhook(Some(&signature), &body)
        .await
        .unwrap();
    assert_eq!(replay, WebhookOutcome::Replayed);
    let forged = engine
        .snaptrade()
        .handle_webhook(Some("Zm9yZ2Vk"), &body)
        .await
        .unwrap_err();
    exposure.error("a forged webhook's error", &forged);
    let unsigned = engine
        .snaptrade()
        .handle_webhook(None, b"{\"eventType\":\"USER_DELETED\"}")
        .await
        .unwrap_err();
    exposure.error("an unsigned webhook's error", &unsigned);
}

/// An order on a read-only connection, and each provider failing during a sync.
async fn failures<S: Store + 'static>(
    providers: &Providers,
    engine: &SyncEngine<S>,
    user: UserId,
    exposure: &mut Exposure,
) {
    let linked = providers
        .connect_snaptrade(engine, user, ConnectionType::Read)
        .await
        .unwrap();
    assert_eq!(linked, Linked::Done);
    engine.sync_user(user).await.unwrap();
    let read_only = engine
        .store()
        .list_accounts(user)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.connection_type == ConnectionType::Read && a.provider == Provider::SnapTrade)
        .expect("an account on the read connection");
    let order = one_aapl_at_a_dollar();
    let refused = engine
        .place_order(user, read_only.id, order)
        .await
        .unwrap_err();
    exposure.error("an order refused on a read-only connection", &refused);

    let sandbox = providers.sandbox.as_ref().expect("on the sandbox");
    for knobs in [
        sandbox.snaptrade().knobs(),
        sandbox.plaid().knobs(),
        sandbox.alpaca().knobs(),
    ] {
        knobs.server_error_next(100, 500);
    }
    sandbox.plaid().knobs().reset();
    sandbox.plaid().knobs().malformed_next(100);
    let failed = engine.sync_user(user).await;
    for knobs in [
        sandbox.snaptrade().knobs(),
        sandbox.plaid().knobs(),
        sandbox.alpaca().knobs(),
    ] {
        knobs.reset();
    }
    match failed {
        Ok(report) => {
            assert!(report.has_failures(), "the failing providers are reported");
            let failures: Vec<String> = report.failures().iter().map(ToString::to_string).collect();
            exposure.text("a failed sync's failures", failures.join("\n"));
            exposure.debug("a failed sync's report", &report);
        }
        Err(error) => exposure.error("a failed sync's error", &error),
    }
}

/// The capture holds the provider calls the flow made: the search ran over real log lines.
fn assert_the_log_holds_the_flow(log: &str) {
    for provider in ["snaptrade", "plaid", "alpaca"] {
        let calls = log
            .lines()
            .filter(|line| line.contains("provider_call") && line.contains(provider))
            .count();
        assert!(calls > 0, "no {provider} provider_call in the captured log");
    }
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "not captured at TRACE"
    );
    assert!(log.contains("provider call returned an error status"));
    // Records of the `log` crate (reqwest's connection lines, sqlx's) are bridged into the capture too.
    assert!(
        log.lines().any(|line| line.contains(" reqwest::")),
        "no `log` record of reqwest in the captured log"
    );
}

/// The secrets every run shares: the sandbox's credentials.
fn provider_secrets(sandbox: &Sandbox, exposure: &mut Exposure) {
    exposure.secret(
        "the SnapTrade consumer key",
        sandbox.snaptrade().consumer_key(),
    );
    exposure.secret("the Plaid secret", sandbox.plaid().secret());
    exposure.secret("the Alpaca secret", sandbox.alpaca().secret());
}

fn check(providers: &Providers, mut exposure: Exposure) {
    let sandbox = providers.sandbox.as_ref().expect("on the sandbox");
    provider_secrets(sandbox, &mut exposure);
    for (at, config) in configs(sandbox).into_iter().enumerate() {
        exposure.text(&format!("provider config {at}'s Debug"), config);
    }
    exposure.debug("the SnapTrade client", &providers.snaptrade.client);
    exposure.debug("the Plaid client", &providers.plaid.client);
    exposure.debug("the Alpaca client", &providers.alpaca.client);
    let log = captured_log();
    assert_the_log_holds_the_flow(&log);
    exposure.text("the TRACE log", log);
    exposure.assert_nothing_shown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_shown_or_returned_by_a_flow_on_memory_store() {
    capture_logs();
    let providers = Providers::on_sandbox(Sandbox::start().await);
    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = providers.engine(store, ALL_ON);
    let mut exposure = Exposure::default();

    run_the_flow(&providers, &engine, user, &mut exposure).await;

    check(&providers, exposure);
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn no_secret_is_logged_shown_or_returned_by_a_flow_on_pg_store_sealing_secrets(pool: PgPool) {
    capture_logs();
    let providers = Providers::on_sandbox(Sandbox::start().await);
    let keyring = Keyring::new(sealing_key(SEALING_KEY));
    let user = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
    let store = PgStore::new(pool.clone(), keyring);
    let mut exposure = Exposure::default();
    exposure.debug("the store", &store);
    let engine = providers.engine(store, ALL_ON);

    run_the_flow(&providers, &engine, user, &mut exposure).await;

    let sealed: String = sqlx::query_scalar(
        "select snaptrade_user_secret from public.snaptrade_users where user_id = $1",
    )
    .bind(user.into_uuid())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(sealed.starts_with("v1:"), "the column holds a sealed value");
    exposure.text("the snaptrade_user_secret column", sealed);
    let wrong = PgStore::new(pool, Keyring::new(sealing_key(WRONG_KEY)));
    exposure.debug("a store with the wrong key", &wrong);
    let refused = wrong.find_snaptrade_user(user).await.unwrap_err();
    exposure.error("opening with the wrong key", &refused);
    exposure.sealing_key("the sealing key", SEALING_KEY);
    exposure.sealing_key("the wrong key", WRONG_KEY);
    check(&providers, exposure);
}

#[test]
#[should_panic(expected = "the Plaid secret appears in a planted log line")]
fn the_search_fails_when_a_secret_is_planted_in_a_text() {
    let mut exposure = Exposure::default();
    exposure.secret("the Plaid secret", tributary_sandbox::PLAID_SECRET);
    for at in 0..10 {
        exposure.text(&format!("clean line {at}"), format!("provider_call {at}"));
    }
    let planted = format!(
        "POST /investments/holdings/get secret={}",
        tributary_sandbox::PLAID_SECRET
    );
    exposure.text("a planted log line", planted);

    exposure.assert_nothing_shown();
}

/// A day limit order to buy one AAPL at 1.00.
fn one_aapl_at_a_dollar() -> tributary::provider::capability::OrderRequest {
    use tributary::domain::{OrderAction, Price, Symbol, Units};
    use tributary::provider::capability::{OrderRequest, OrderSize};
    OrderRequest::limit(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse_exact("1").unwrap()),
        Price::parse_exact("1.00").unwrap(),
    )
    .unwrap()
}
