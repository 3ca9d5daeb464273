//! What the examples and the end-to-end tests share: the store and the provider clients, from the environment
//! or from the embedded default (`MemoryStore` and the sandbox providers, in process on 127.0.0.1), wired
//! into one sync engine; the steps that link a user to each provider; and aligned text tables.

#![allow(dead_code)] // each example and test uses the parts it needs

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rust_decimal::Decimal;
use secrecy::ExposeSecret as _;
use secrecy::SecretString;
use sqlx::postgres::PgConnectOptions;
use tributary::domain::{
    ConnectionType, Currency, FeatureFlags, Provider, ProviderAccountId, UserId,
};
use tributary::provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
use tributary::provider::plaid::{
    AccessToken, LinkTokenRequest, PlaidClient, PlaidConfig, PlaidEnvironment,
};
use tributary::provider::router::ProviderRouter;
use tributary::provider::snaptrade::{SnapTradeClient, SnapTradeConfig};
use tributary::repo::{Keyring, MemoryStore, PgStore, PgStoreOptions, Store};
use tributary::sync::SyncEngine;
use tributary::sync::source::GivenLogins;
use tributary_sandbox::Sandbox;
use url::Url;

/// The variable that points the examples at a real Alpaca brokerage account (the sandbox opens its own).
pub const ALPACA_ACCOUNT_VARIABLE: &str = "ALPACA_ACCOUNT_ID";

/// How many of the Broker API's accounts the examples show when none is chosen.
pub const ALPACA_ACCOUNTS_SHOWN: usize = 5;

/// The institution a Plaid sandbox test Item is made at: `ins_109508`, "First Platypus Bank", the
/// `institution_id` of plaid-openapi.yml's `SandboxPublicTokenCreateRequest` example and the institution
/// Plaid's sandbox docs (plaid.com/docs/sandbox/institutions) name for non-OAuth test Items.
pub const PLAID_SANDBOX_INSTITUTION: &str = "ins_109508";

/// The product a Plaid sandbox test Item is made with: `investments` (plaid-openapi.yml `Products` enum), the
/// only one the quickstart syncs; Plaid's sandbox fills it with its test holdings and transactions.
pub const PLAID_SANDBOX_PRODUCT: &str = "investments";

/// Where a provider client's requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The in-process sandbox server.
    Sandbox,
    /// The provider itself, configured by its environment variables.
    Real,
}

/// One provider's client and where it talks to.
pub struct Wired<C> {
    /// The client.
    pub client: Arc<C>,
    /// Where it talks to.
    pub origin: Origin,
    /// The base URL its requests go to (not a secret).
    pub base_url: Url,
}

impl<C> Wired<C> {
    /// Where the client's requests go, for the first lines the examples print.
    pub fn describe(&self) -> String {
        match self.origin {
            Origin::Sandbox => format!("sandbox at {}", self.base_url),
            Origin::Real => format!(
                "configured by its environment variables, at {}",
                self.base_url
            ),
        }
    }
}

/// The three provider clients, each on the sandbox or on the real provider.
pub struct Providers {
    /// The sandbox servers, running while any client uses them.
    pub sandbox: Option<Sandbox>,
    /// SnapTrade.
    pub snaptrade: Wired<SnapTradeClient>,
    /// Plaid.
    pub plaid: Wired<PlaidClient>,
    /// Whether Plaid is a sandbox (the in-process one, or Plaid's own with `PLAID_ENV=sandbox`), where a
    /// test Item is made without Link.
    pub plaid_sandbox: bool,
    /// The Plaid access tokens the caller holds, per user.
    pub plaid_items: Arc<GivenLogins<AccessToken>>,
    /// Alpaca's Broker API.
    pub alpaca: Wired<AlpacaClient>,
}

fn any_set(variables: &[&str]) -> bool {
    variables
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

fn sandbox_url(text: &str) -> Url {
    Url::parse(text).expect("the sandbox serves on http://127.0.0.1:<port>")
}

impl Providers {
    /// Every client on the sandbox.
    pub fn on_sandbox(sandbox: Sandbox) -> Self {
        Self::assemble(Some(sandbox), [false; 3]).expect("sandbox clients need no configuration")
    }

    /// A provider whose variables are set (either of its credential pair) gets its real client from
    /// `from_env`; the others use the sandbox, started only if needed.
    ///
    /// # Errors
    /// A provider's configuration error (naming the missing or malformed variable); the sandbox not starting.
    pub async fn from_env() -> anyhow::Result<Self> {
        let real = [
            any_set(&["SNAPTRADE_CLIENT_ID", "SNAPTRADE_CONSUMER_KEY"]),
            any_set(&["PLAID_CLIENT_ID", "PLAID_SECRET"]),
            any_set(&["ALPACA_BROKER_API_KEY", "ALPACA_BROKER_API_SECRET"]),
        ];
        let sandbox = if real.iter().all(|&r| r) {
            None
        } else {
            Some(
                Sandbox::try_start()
                    .await
                    .context("starting the sandbox providers on 127.0.0.1")?,
            )
        };
        Self::assemble(sandbox, real)
    }

    fn assemble(sandbox: Option<Sandbox>, real: [bool; 3]) -> anyhow::Result<Self> {
        let [snaptrade, plaid, alpaca] = real.map(|real| match (real, &sandbox) {
            (true, _) => None,
            (false, Some(sandbox)) => Some(sandbox),
            (false, None) => unreachable!("the sandbox runs unless every provider is real"),
        });
        let config = snaptrade_config(snaptrade)?;
        let snaptrade = wired(
            SnapTradeClient::new(config.clone())?,
            config.base_url(),
            snaptrade,
        );
        let config = plaid_config(plaid)?;
        let plaid_sandbox = plaid.is_some() || plaid_env_is_sandbox(config.base_url());
        let plaid = wired(PlaidClient::new(config.clone())?, config.base_url(), plaid);
        let config = alpaca_config(alpaca)?;
        let alpaca = wired(
            AlpacaClient::new(config.clone())?,
            config.base_url(),
            alpaca,
        );
        Ok(Self {
            sandbox,
            snaptrade,
            plaid,
            plaid_sandbox,
            plaid_items: Arc::new(GivenLogins::new()),
            alpaca,
        })
    }

    /// The engine on `store` with the three clients wired in.
    pub fn engine<S: Store + 'static>(&self, store: S, flags: FeatureFlags) -> SyncEngine<S> {
        SyncEngine::new(Arc::new(store), ProviderRouter::new(flags))
            .with_snaptrade(Arc::clone(&self.snaptrade.client))
            .with_plaid(
                Arc::clone(&self.plaid.client),
                Arc::clone(&self.plaid_items),
            )
            .with_alpaca(Arc::clone(&self.alpaca.client))
    }

    /// The running sandbox (only when some provider uses it).
    fn sandbox(&self) -> &Sandbox {
        self.sandbox
            .as_ref()
            .expect("a provider on the sandbox means the sandbox runs")
    }

    /// Connects a SnapTrade brokerage: registers the user (once) and opens the connection portal. On the
    /// sandbox, fetching the portal URL completes the connection as the user's browser would; on the real
    /// SnapTrade the URL is returned for a person to open.
    ///
    /// # Errors
    /// The engine's; the sandbox portal not answering 200.
    pub async fn connect_snaptrade<S: Store + 'static>(
        &self,
        engine: &SyncEngine<S>,
        user: UserId,
        connection_type: ConnectionType,
    ) -> anyhow::Result<Linked> {
        let link = engine
            .snaptrade()
            .connect(user, connection_type, None)
            .await?;
        if self.snaptrade.origin == Origin::Real {
            return Ok(Linked::NeedsBrowser(format!(
                "open the connection portal in a browser to connect a brokerage: {}",
                link.url
            )));
        }
        let portal = reqwest::get(&link.url)
            .await
            .context("opening the sandbox connection portal")?;
        if !portal.status().is_success() {
            bail!("the sandbox connection portal answered {}", portal.status());
        }
        Ok(Linked::Done)
    }

    /// Links a Plaid Item. On a sandbox (the in-process one, or Plaid's with `PLAID_ENV=sandbox`) a test Item
    /// is made without Link (`/sandbox/public_token/create` at [`PLAID_SANDBOX_INSTITUTION`]) and linked through
    /// the engine (`engine.plaid().link`, which exchanges its public token, stores the Item with its access token
    /// sealed, and syncs). In production only Plaid Link, in the user's browser,
    /// makes an Item: a Link token is created for it and nothing is linked.
    ///
    /// # Errors
    /// Plaid's.
    pub async fn link_plaid<S: Store + 'static>(
        &self,
        engine: &SyncEngine<S>,
        user: UserId,
    ) -> anyhow::Result<Linked> {
        if !self.plaid_sandbox {
            let request = LinkTokenRequest::investments(user.to_string(), "Tributary quickstart");
            let link_token = self.plaid.client.create_link_token(&request).await?;
            return Ok(Linked::NeedsBrowser(format!(
                "linking an Item in production needs Plaid Link in a browser: start Link with link token {}, \
                 exchange the public token it hands back, and sync",
                link_token.link_token
            )));
        }
        let public_token = self
            .plaid
            .client
            .create_sandbox_public_token(
                PLAID_SANDBOX_INSTITUTION,
                &[PLAID_SANDBOX_PRODUCT.to_owned()],
            )
            .await?;
        engine
            .plaid()
            .link(user, public_token.expose_secret())
            .await?;
        Ok(Linked::Done)
    }

    /// Records the user's Alpaca brokerage account in their onboarding: on the sandbox a new ACTIVE
    /// account with `positions` positions (standing in for Alpaca's account opening); on the real Broker API
    /// the account named by `ALPACA_ACCOUNT_ID`.
    ///
    /// # Errors
    /// The store's; a malformed `ALPACA_ACCOUNT_ID`.
    pub async fn link_alpaca<S: Store>(
        &self,
        store: &S,
        user: UserId,
        positions: usize,
    ) -> anyhow::Result<Linked> {
        let id = match self.alpaca.origin {
            Origin::Sandbox => {
                let seed = tributary_sandbox::SeedAccount::new(Decimal::from(100_000), positions);
                self.sandbox().alpaca().seed_account(seed).to_string()
            }
            Origin::Real => match std::env::var(ALPACA_ACCOUNT_VARIABLE) {
                Ok(id) if !id.trim().is_empty() => id,
                _ => return Ok(Linked::NeedsBrowser(self.alpaca_accounts_to_pick().await?)),
            },
        };
        let id = ProviderAccountId::parse(id.trim())
            .map_err(|e| anyhow!("{ALPACA_ACCOUNT_VARIABLE}: {e}"))?;
        store.set_alpaca_account(user, Some(id)).await?;
        Ok(Linked::Done)
    }

    /// What to do without `ALPACA_ACCOUNT_ID`: the Broker API's accounts (`GET /v1/accounts`, the first
    /// [`ALPACA_ACCOUNTS_SHOWN`], oldest first) with their statuses, and how to pick one.
    async fn alpaca_accounts_to_pick(&self) -> anyhow::Result<String> {
        let accounts = self.alpaca.client.broker_accounts().await?;
        if accounts.is_empty() {
            return Ok(format!(
                "no {ALPACA_ACCOUNT_VARIABLE} set, and your Broker API holds no accounts yet: opening one needs \
                 the customer's KYC details (POST /v1/accounts, or the Broker dashboard); then re-run with \
                 {ALPACA_ACCOUNT_VARIABLE}=<its id>"
            ));
        }
        let mut text = format!(
            "no {ALPACA_ACCOUNT_VARIABLE} set; your Broker API holds {} account{} (the first {}, oldest first):",
            accounts.len(),
            if accounts.len() == 1 { "" } else { "s" },
            accounts.len().min(ALPACA_ACCOUNTS_SHOWN),
        );
        for account in accounts.iter().take(ALPACA_ACCOUNTS_SHOWN) {
            text.push_str(&format!(
                "\n             {}  {}  account number {}",
                account.id,
                account.status,
                account.account_number.as_deref().unwrap_or("-"),
            ));
        }
        text.push_str(&format!(
            "\n           pick one and re-run with {ALPACA_ACCOUNT_VARIABLE}=<id> (an ACTIVE account syncs and trades)"
        ));
        Ok(text)
    }

    /// A SnapTrade webhook `payload`, as SnapTrade delivers it: the body and its `Signature` header, signed with
    /// the consumer key.
    pub fn signed_webhook(&self, payload: &serde_json::Value) -> (Vec<u8>, String) {
        let delivery = self.snaptrade.client.sign_webhook(payload);
        (delivery.body.into_bytes(), delivery.signature)
    }
}

/// SnapTrade's configuration: the sandbox's, or from the environment when `sandbox` is None. The client built
/// from it owns the consumer key, for its requests and for the webhooks it verifies and signs.
fn snaptrade_config(sandbox: Option<&Sandbox>) -> anyhow::Result<SnapTradeConfig> {
    let Some(sandbox) = sandbox else {
        return Ok(SnapTradeConfig::from_env()?);
    };
    let key = SecretString::from(sandbox.snaptrade().consumer_key());
    Ok(SnapTradeConfig::new(sandbox.snaptrade().client_id(), key)?
        .with_base_url(sandbox_url(&sandbox.snaptrade_base_url())))
}

/// Plaid's configuration: the sandbox's, or from the environment when `sandbox` is None.
fn plaid_config(sandbox: Option<&Sandbox>) -> anyhow::Result<PlaidConfig> {
    let Some(sandbox) = sandbox else {
        return Ok(PlaidConfig::from_env()?);
    };
    let secret = SecretString::from(sandbox.plaid().secret());
    let config = PlaidConfig::new(
        sandbox.plaid().client_id(),
        secret,
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(sandbox_url(&sandbox.plaid_base_url()));
    Ok(config)
}

/// Whether the configured Plaid is Plaid's sandbox: `PLAID_ENV=sandbox`, or without `PLAID_ENV` a base URL
/// that is Plaid's sandbox host.
fn plaid_env_is_sandbox(base_url: &Url) -> bool {
    match std::env::var(tributary::provider::plaid::ENV_ENVIRONMENT) {
        Ok(value) if !value.trim().is_empty() => {
            PlaidEnvironment::parse(&value) == Some(PlaidEnvironment::Sandbox)
        }
        _ => base_url.host_str() == PlaidEnvironment::Sandbox.base_url().host_str(),
    }
}

/// Alpaca's configuration: the sandbox's, or from the environment when `sandbox` is None.
fn alpaca_config(sandbox: Option<&Sandbox>) -> anyhow::Result<AlpacaConfig> {
    let Some(sandbox) = sandbox else {
        return Ok(AlpacaConfig::from_env()?);
    };
    let secret = SecretString::from(sandbox.alpaca().secret());
    let config = AlpacaConfig::new(
        sandbox.alpaca().key_id(),
        secret,
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(sandbox_url(&sandbox.alpaca_base_url()));
    Ok(config)
}

/// A client, where it talks to: its sandbox when `sandbox` is given, else the configured provider.
fn wired<C>(client: C, base_url: &Url, sandbox: Option<&Sandbox>) -> Wired<C> {
    Wired {
        client: Arc::new(client),
        origin: if sandbox.is_some() {
            Origin::Sandbox
        } else {
            Origin::Real
        },
        base_url: base_url.clone(),
    }
}

/// How linking a provider ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// Linked: the next sync brings its accounts in.
    Done,
    /// Needs a person (a browser, KYC details): what to do, and nothing was linked.
    NeedsBrowser(String),
}

/// The feature flags from the environment, except that brokerage mode defaults to on: the examples show
/// Alpaca trading unless `FF_BROKERAGE_MODE=false` says otherwise.
///
/// # Errors
/// A flag set to something other than a boolean, naming it.
pub fn flags_from_env() -> anyhow::Result<FeatureFlags> {
    let brokerage_variable = Provider::Alpaca.flag().map(|flag| flag.variable);
    let flags = FeatureFlags::from_lookup(|name| {
        std::env::var(name)
            .ok()
            .or_else(|| (Some(name) == brokerage_variable).then(|| "true".to_owned()))
    })?;
    Ok(flags)
}

/// `DATABASE_URL`, when set and not blank.
pub fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Connects to `url`: one connection first, so an unreachable server is reported at once and as it is
/// (a pool would retry until its timeout), then the pool.
///
/// # Errors
/// The URL is malformed or the server cannot be reached, saying which (never the URL: it may hold a password).
pub async fn connect(url: &str) -> anyhow::Result<sqlx::PgPool> {
    use sqlx::Connection as _;
    let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
        anyhow!(
            "DATABASE_URL is not a PostgreSQL URL: {}",
            one_line(&e.to_string())
        )
    })?;
    let unreachable = |e: sqlx::Error| {
        anyhow!(
            "cannot connect to DATABASE_URL: {}",
            one_line(&e.to_string())
        )
    };
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::PgConnection::connect_with(&options),
    )
    .await
    .map_err(|_| anyhow!("cannot connect to DATABASE_URL: no answer within 10 s"))?
    .map_err(unreachable)?;
    first.close().await.map_err(unreachable)?;
    // PgStore::connect's pool (one round trip per statement), smaller and more patient for an example.
    let tuned = PgStoreOptions::default()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(10));
    tuned
        .pool_options()
        .connect_with(tuned.connect_options(options))
        .await
        .map_err(unreachable)
}

/// `PgStore` on `DATABASE_URL`, migrated first, sealing SnapTrade secrets with `TRIBUTARY_SECRET_KEY`.
///
/// # Errors
/// No or a malformed key (checked before connecting), the connection, the migrations.
pub async fn pg_store(url: &str) -> anyhow::Result<PgStore> {
    let keyring = Keyring::from_env()
        .map_err(|e| anyhow!("{e} (PgStore seals SnapTrade user secrets with it)"))?;
    let pool = connect(url).await?;
    tributary::repo::MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| anyhow!("applying migrations/: {}", one_line(&e.to_string())))?;
    Ok(PgStore::new(pool, keyring))
}

/// A store the examples can sign a new user up in.
pub trait SignUp: Store + Sized + 'static {
    /// What the store is, for the first line the examples print.
    fn describe(&self) -> String;

    /// Whether what is stored outlives the run (PostgreSQL does, memory does not).
    fn persistent(&self) -> bool;

    /// A new user, as a sign-up would create one (a row in `auth.users` on PostgreSQL).
    async fn sign_up(&self) -> anyhow::Result<UserId>;

    /// The user an earlier run signed up and registered at SnapTrade (the latest such), whose stored
    /// registration lets a re-run sync the brokerages connected in the portal since. None in memory: nothing
    /// outlives the run.
    async fn returning_snaptrade_user(&self) -> anyhow::Result<Option<UserId>>;
}

impl SignUp for MemoryStore {
    fn describe(&self) -> String {
        "MemoryStore (in memory; it seals nothing, so no TRIBUTARY_SECRET_KEY is needed)".to_owned()
    }

    fn persistent(&self) -> bool {
        false
    }

    async fn sign_up(&self) -> anyhow::Result<UserId> {
        Ok(self.create_user())
    }

    async fn returning_snaptrade_user(&self) -> anyhow::Result<Option<UserId>> {
        Ok(None)
    }
}

impl SignUp for PgStore {
    fn describe(&self) -> String {
        "PostgreSQL at DATABASE_URL (PgStore, migrated; SnapTrade secrets sealed with TRIBUTARY_SECRET_KEY)"
            .to_owned()
    }

    fn persistent(&self) -> bool {
        true
    }

    async fn sign_up(&self) -> anyhow::Result<UserId> {
        let id = uuid::Uuid::new_v4();
        sqlx::query("insert into auth.users (id, email) values ($1, $2)")
            .bind(id)
            .bind(format!("{SIGN_UP_EMAIL_PREFIX}{id}{SIGN_UP_EMAIL_DOMAIN}"))
            .execute(self.pool())
            .await
            .context("creating the user in auth.users")?;
        Ok(UserId::new(id))
    }

    async fn returning_snaptrade_user(&self) -> anyhow::Result<Option<UserId>> {
        // Only users the examples signed up (their address says so), never another user of the database.
        let found: Option<uuid::Uuid> = sqlx::query_scalar(
            "select s.user_id from public.snaptrade_users s join auth.users u on u.id = s.user_id \
             where u.email like $1 order by s.created_at desc, s.id desc limit 1",
        )
        .bind(format!("{SIGN_UP_EMAIL_PREFIX}%{SIGN_UP_EMAIL_DOMAIN}"))
        .fetch_optional(self.pool())
        .await
        .context("looking for an earlier run's SnapTrade registration")?;
        Ok(found.map(UserId::new))
    }
}

/// How the address of a user the examples sign up starts and ends (`quickstart-<uuid>@example.invalid`).
const SIGN_UP_EMAIL_PREFIX: &str = "quickstart-";
const SIGN_UP_EMAIL_DOMAIN: &str = "@example.invalid";

/// `println!` that reports a closed stdout (`quickstart | head`) as an error instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
            .map_err(|e| anyhow::anyhow!("writing to stdout: {e}"))
    }};
}

/// Text on one line: error chains from drivers may span several.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `work` as an example's `main`: exit 0, or one line `<name>: <reason>` on stderr and exit 1.
pub fn exit_with(name: &str, outcome: anyhow::Result<()>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("{name}: {}", one_line(&format!("{reason:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

/// A text table whose columns are as wide as their widest cell; numbers align right.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<&'static str>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns; a column whose name starts with `>` is right-aligned (the `>` is dropped).
    pub fn new(columns: &[&'static str]) -> Self {
        Self {
            header: columns.iter().map(|c| c.trim_start_matches('>')).collect(),
            right_aligned: columns.iter().map(|c| c.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|column| {
                std::iter::once(&header)
                    .chain(&self.rows)
                    .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .zip(&self.right_aligned)
                .map(|((cell, &width), &right)| {
                    if right {
                        format!("{cell:>width$}")
                    } else {
                        format!("{cell:<width$}")
                    }
                })
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}

/// Money as stored: at least two decimals, and every further digit it has (a fraction of a cent, or of a
/// bitcoin, is shown, never rounded away).
pub fn money(value: Decimal) -> String {
    let value = value.normalize();
    if value.scale() < 2 {
        format!("{value:.2}")
    } else {
        value.to_string()
    }
}

/// A price: shown as [`money`] is.
pub fn price(value: Decimal) -> String {
    money(value)
}

/// A currency code, or `-` for a holding whose provider named none.
pub fn currency_code(currency: Option<&Currency>) -> String {
    currency.map_or_else(|| "-".to_owned(), |code| code.as_str().to_owned())
}

/// A quantity without trailing zeros.
pub fn quantity(value: Decimal) -> String {
    value.normalize().to_string()
}

/// An order row as one readable table.
pub fn order_table(order: &tributary::domain::Order) -> Table {
    let mut table = Table::new(&["column", "value"]);
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let rows = [
        ("id", order.id.to_string()),
        ("account_id", order.account_id.to_string()),
        ("brokerage_order_id", order.brokerage_order_id.to_string()),
        ("symbol", order.symbol.to_string()),
        ("action", order.action.to_string()),
        ("order_type", order.order_type.to_string()),
        (
            "time_in_force",
            optional(order.time_in_force.as_ref().map(|t| t.to_string())),
        ),
        ("units", optional(order.units.map(|u| quantity(u.get())))),
        (
            "limit_price",
            optional(order.limit_price.map(|p| price(p.get()))),
        ),
        ("status", order.status.to_string()),
        (
            "status_message",
            optional(order.status_message.as_ref().map(|m| m.to_string())),
        ),
        ("placed_at", order.placed_at.to_rfc3339()),
        (
            "cancelled_at",
            optional(order.cancelled_at.map(|t| t.to_rfc3339())),
        ),
        (
            "raw_order_data",
            optional(order.raw_order_data.as_ref().map(|raw| {
                let text = raw.to_string();
                if text.chars().count() > 60 {
                    format!("{}…", text.chars().take(60).collect::<String>())
                } else {
                    text
                }
            })),
        ),
    ];
    for (column, value) in rows {
        table.row(vec![column.to_owned(), value]);
    }
    table
}
