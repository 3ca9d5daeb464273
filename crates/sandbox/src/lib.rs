//! Local stand-ins for SnapTrade, Plaid and Alpaca's Broker API, for tests.
//!
//! [`Sandbox::start`] binds one HTTP server per provider on `127.0.0.1:0`. Each speaks its provider's
//! wire format — the same paths, the same authentication checks (SnapTrade request signatures, Plaid
//! `client_id`/`secret`, Alpaca HTTP Basic), JSON shaped like the official specs' examples — and keeps
//! state: users, connections, accounts, positions, orders that fill. [`Knobs`] inject latency (on every
//! path or on one), 429s, 5xx, malformed bodies, a given body on one path, and retired endpoints; each
//! server's [`RequestLog`] lets a test assert what was (or was not) sent. The servers stop when the [`Sandbox`] is dropped.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), reqwest::Error> {
//! use tributary_sandbox::{Sandbox, SeedConnection};
//!
//! let sandbox = Sandbox::start().await;
//!
//! // Alpaca's Broker API, with the key pair the sandbox accepts:
//! let alpaca = sandbox.alpaca();
//! let url = format!("{}/v1/trading/accounts/{}/positions", alpaca.base_url(), alpaca.default_account_id());
//! let answer = reqwest::Client::new().get(&url).basic_auth(alpaca.key_id(), Some(alpaca.secret())).send().await?;
//! assert_eq!(answer.status(), 200);
//!
//! // SnapTrade state seeded directly, for tests that start from a linked user:
//! let snaptrade = sandbox.snaptrade();
//! let user = snaptrade.seed_user("user-1");
//! let connection = snaptrade.seed_connection(&user.user_id, SeedConnection::new(2, 5));
//! assert_eq!(connection.account_ids.len(), 2);
//!
//! // Point a client at `snaptrade.base_url()` with `snaptrade.client_id()` and `snaptrade.consumer_key()`;
//! // make the next call fail with a 429 that asks to wait one second:
//! snaptrade.knobs().rate_limit_next(1, 1);
//! # Ok(()) }
//! ```
//!
//! For programs outside Rust, `cargo run -p tributary-sandbox` serves the three servers and prints their base
//! URLs as one JSON line, until its standard input closes: `scripts/sdk-models/` drives the providers' official
//! SDKs against it.
//!
//! This crate is a test tool: it never talks to the internet. Services add it to their `[dev-dependencies]`.

pub mod alpaca;
mod knobs;
pub mod plaid;
mod reply;
mod server;
pub mod snaptrade;
mod spread;

use std::io;

pub use alpaca::{AlpacaSandbox, SeedAccount};
pub use knobs::{Knobs, LostAnswer, MarketFill, RecordedRequest, RequestLog};
pub use plaid::{PlaidSandbox, SeedItem, SeededItem};
pub use snaptrade::{SeedConnection, SeededConnection, SeededUser, SnapTradeSandbox};

/// The SnapTrade `clientId` the sandbox accepts.
pub const SNAPTRADE_CLIENT_ID: &str = "SANDBOX-CLIENT";
/// The SnapTrade consumer key the sandbox verifies signatures with.
pub const SNAPTRADE_CONSUMER_KEY: &str = "sandbox-consumer-key-0123456789abcdef";

/// The Plaid `client_id` the sandbox accepts.
pub const PLAID_CLIENT_ID: &str = "sandbox-plaid-client";
/// The Plaid `secret` the sandbox accepts.
pub const PLAID_SECRET: &str = "sandbox-plaid-secret-0123456789";

/// The Alpaca Broker API key id (Basic auth user name) the sandbox accepts.
pub const ALPACA_KEY_ID: &str = "SANDBOXKEYID0000";
/// The Alpaca Broker API secret (Basic auth password) the sandbox accepts.
pub const ALPACA_SECRET: &str = "sandbox-alpaca-secret-0123456789";

/// The three provider servers, running until dropped.
#[derive(Debug)]
pub struct Sandbox {
    snaptrade: SnapTradeSandbox,
    plaid: PlaidSandbox,
    alpaca: AlpacaSandbox,
}

impl Sandbox {
    /// Starts every server on an ephemeral 127.0.0.1 port, on the current tokio runtime.
    ///
    /// # Panics
    /// If a loopback port cannot be bound (use [`Sandbox::try_start`] to handle that).
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .expect("tributary-sandbox could not bind 127.0.0.1")
    }

    /// Starts every server, reporting a failure to bind instead of panicking.
    pub async fn try_start() -> io::Result<Self> {
        Ok(Self {
            snaptrade: SnapTradeSandbox::start(SNAPTRADE_CLIENT_ID, SNAPTRADE_CONSUMER_KEY).await?,
            plaid: PlaidSandbox::start(PLAID_CLIENT_ID, PLAID_SECRET).await?,
            alpaca: AlpacaSandbox::start(ALPACA_KEY_ID, ALPACA_SECRET).await?,
        })
    }

    /// The SnapTrade server.
    pub fn snaptrade(&self) -> &SnapTradeSandbox {
        &self.snaptrade
    }

    /// The SnapTrade base URL (`http://127.0.0.1:PORT`).
    pub fn snaptrade_base_url(&self) -> String {
        self.snaptrade.base_url()
    }

    /// The Plaid server.
    pub fn plaid(&self) -> &PlaidSandbox {
        &self.plaid
    }

    /// The Plaid base URL (`http://127.0.0.1:PORT`).
    pub fn plaid_base_url(&self) -> String {
        self.plaid.base_url()
    }

    /// The Alpaca Broker API server.
    pub fn alpaca(&self) -> &AlpacaSandbox {
        &self.alpaca
    }

    /// The Alpaca Broker API base URL (`http://127.0.0.1:PORT`).
    pub fn alpaca_base_url(&self) -> String {
        self.alpaca.base_url()
    }
}
