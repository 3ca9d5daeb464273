//! The SnapTrade server: signed requests, users, the connection portal, accounts, positions and orders.

mod routes;
pub mod signature;
mod state;

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use uuid::Uuid;

pub use routes::TIMESTAMP_TOLERANCE_SECS;

use crate::knobs::{AfterEffect, Knobs, RequestLog, lock};
use crate::{LostAnswer, MarketFill};

/// The route of `Trading_placeForceOrder`, as the knobs name it.
pub const PLACE_ORDER_PATH: &str = "/trade/place";
/// The route of `Trading_placeOrder` (a checked trade), as the knobs name it.
pub const PLACE_CHECKED_ORDER_PATH: &str = "/trade/{trade_id}";
use crate::server::InstrumentedServer;

/// A SnapTrade user the sandbox registered (`seed_user`), as registerUser returns it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeededUser {
    /// The partner-chosen user id.
    pub user_id: String,
    /// The secret SnapTrade hands out once; user-scoped calls send it as `userSecret`.
    pub user_secret: String,
}

impl std::fmt::Debug for SeededUser {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SeededUser")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// What [`SnapTradeSandbox::seed_connection`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedConnection {
    /// Brokerage slug, e.g. `"ALPACA"`.
    pub broker: String,
    /// `"read"` or `"trade"`.
    pub connection_type: String,
    /// How many accounts the connection has.
    pub accounts: usize,
    /// How many stock/ETF positions each account holds.
    pub positions_per_account: usize,
    /// Whether the first account also holds an AAPL call option.
    pub with_option: bool,
    /// Generated activities per account, before any order placed in the sandbox: buys and sells of what the
    /// account holds, dividends, a reinvested one, interest, contributions, a withdrawal, fees, a withheld tax
    /// and a split, over the last two years, newest first.
    pub activities_per_account: u64,
}

/// The activities of a default account: 1,200 over two years, so `GET /accounts/{accountId}/activities` pages
/// them in two ("The endpoint will return a maximum of 1000 transactions per request", snaptrade-openapi.yaml).
const DEFAULT_ACTIVITIES: u64 = 1_200;

impl Default for SeedConnection {
    fn default() -> Self {
        Self {
            broker: "ALPACA".to_owned(),
            connection_type: "trade".to_owned(),
            accounts: 1,
            positions_per_account: 3,
            with_option: true,
            activities_per_account: DEFAULT_ACTIVITIES,
        }
    }
}

impl SeedConnection {
    /// A trade connection with `accounts` accounts of `positions_per_account` positions each.
    pub fn new(accounts: usize, positions_per_account: usize) -> Self {
        Self {
            accounts,
            positions_per_account,
            ..Self::default()
        }
    }

    /// The same connection with `activities` generated activities per account.
    pub fn with_activities(mut self, activities: u64) -> Self {
        self.activities_per_account = activities;
        self
    }

    /// The same connection, read-only.
    pub fn read_only(mut self) -> Self {
        self.connection_type = "read".to_owned();
        self
    }
}

/// What [`SnapTradeSandbox::seed_connection`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeededConnection {
    /// The brokerage authorization (connection) id.
    pub authorization_id: Uuid,
    /// The accounts' ids, in creation order.
    pub account_ids: Vec<Uuid>,
}

/// The running SnapTrade server, with its knobs and its state.
pub struct SnapTradeSandbox {
    served: InstrumentedServer,
    shared: Arc<routes::Shared>,
}

// By hand, so the credentials and the state (user secrets, access tokens) never reach a Debug line.
impl std::fmt::Debug for SnapTradeSandbox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SnapTradeSandbox")
            .field("base_url", &self.base_url())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl SnapTradeSandbox {
    pub(crate) async fn start(client_id: &str, consumer_key: &str) -> io::Result<Self> {
        let shared = Arc::new(routes::Shared {
            state: Mutex::new(state::SnapState::default()),
            client_id: client_id.to_owned(),
            consumer_key: consumer_key.to_owned(),
            revisions: Default::default(),
        });
        let served =
            InstrumentedServer::spawn(routes::router(shared.clone()), routes::SnapTradeDialect)
                .await?;
        Ok(Self { served, shared })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`; paths are at the root (`/accounts`).
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    /// The partner `clientId` the server accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The consumer key that signs requests.
    pub fn consumer_key(&self) -> &str {
        &self.shared.consumer_key
    }

    /// Fault injection and latency for this server.
    pub fn knobs(&self) -> &Knobs {
        self.served.knobs()
    }

    /// Every request this server received.
    pub fn log(&self) -> &RequestLog {
        self.served.log()
    }

    /// Registers `user_id` directly (as registerUser would) and returns its secret.
    ///
    /// # Panics
    /// If the user already exists: seeding is test setup, and a clash is a bug in the test.
    pub fn seed_user(&self, user_id: &str) -> SeededUser {
        let user_secret = format!("{}", Uuid::new_v4().simple());
        let previous = lock(&self.shared.state)
            .users
            .insert(user_id.to_owned(), user_secret.clone());
        assert!(
            previous.is_none(),
            "SnapTrade sandbox user {user_id} already exists"
        );
        SeededUser {
            user_id: user_id.to_owned(),
            user_secret,
        }
    }

    /// Adds a connection for an existing user, as a completed portal would.
    ///
    /// # Panics
    /// If `user_id` is not registered.
    pub fn seed_connection(&self, user_id: &str, seed: SeedConnection) -> SeededConnection {
        let mut state = lock(&self.shared.state);
        assert!(
            state.users.contains_key(user_id),
            "SnapTrade sandbox user {user_id} is not registered"
        );
        let (authorization_id, account_ids) = state.connect(user_id, &seed);
        SeededConnection {
            authorization_id,
            account_ids,
        }
    }

    /// Breaks a connection: `disabled: true`, refresh and trading answer 402 code 3003, reads serve the
    /// cached data. A portal login with `reconnect` set to it repairs it. Returns false if unknown.
    pub fn disable_connection(&self, authorization_id: Uuid) -> bool {
        let mut state = lock(&self.shared.state);
        let found = state
            .authorizations
            .iter_mut()
            .find(|found| found.id == authorization_id);
        found
            .map(|authorization| {
                authorization.disabled = true;
                authorization.disabled_date = Some(chrono::Utc::now());
            })
            .is_some()
    }

    /// The next `calls` orders (placed through `/trade/place` or `/trade/{tradeId}`) are placed, and then
    /// SnapTrade's answer to each is lost as `how` says: the order exists, the client never heard so.
    pub fn lose_order_answers(&self, calls: u32, how: LostAnswer) {
        self.knobs().after_handler(
            "POST",
            &[PLACE_ORDER_PATH, PLACE_CHECKED_ORDER_PATH],
            calls,
            AfterEffect::Lose(how),
        );
    }

    /// The next `calls` orders are placed at once, and SnapTrade's answer to each comes only after `delay`
    /// (make it longer than the client's timeout: the client gives up on an order that exists).
    pub fn delay_order_answers(&self, calls: u32, delay: std::time::Duration) {
        self.knobs().after_handler(
            "POST",
            &[PLACE_ORDER_PATH, PLACE_CHECKED_ORDER_PATH],
            calls,
            AfterEffect::Delay(delay),
        );
    }

    /// How many orders the sandbox holds for the account, in every state.
    pub fn order_count(&self, account_id: Uuid) -> usize {
        lock(&self.shared.state)
            .orders
            .iter()
            .filter(|order| order.account_id == account_id)
            .count()
    }

    /// The `client_order_id` each of the account's orders was placed with, oldest first: what the brokerage
    /// received. SnapTrade's API never shows it back (`AccountOrderRecord` has no such field), so only a test
    /// can look.
    pub fn client_order_ids(&self, account_id: Uuid) -> Vec<Option<String>> {
        lock(&self.shared.state)
            .orders
            .iter()
            .filter(|order| order.account_id == account_id)
            .map(|order| order.client_order_id.clone())
            .collect()
    }

    /// Chooses when market orders fill.
    pub fn set_market_fill(&self, fill: MarketFill) {
        lock(&self.shared.state).market_fill = fill;
    }

    /// Fills every PENDING market order (for [`MarketFill::OnStep`]); returns how many filled.
    pub fn step(&self) -> usize {
        let mut state = lock(&self.shared.state);
        let pending: Vec<usize> = (0..state.orders.len())
            .filter(|&index| {
                state.orders[index].status == "PENDING"
                    && state.orders[index].order_type == "Market"
            })
            .collect();
        for &index in &pending {
            state.execute(index);
        }
        pending.len()
    }

    /// Registered user ids.
    pub fn users(&self) -> Vec<String> {
        lock(&self.shared.state).users.keys().cloned().collect()
    }

    /// The user's brokerage authorizations as the API renders them.
    pub fn authorizations(&self, user_id: &str) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .authorizations
            .iter()
            .filter(|found| found.user_id == user_id)
            .map(state::authorization_json)
            .collect()
    }

    /// The account's orders as the API renders them (every state, any age).
    pub fn orders(&self, account_id: Uuid) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .orders
            .iter()
            .filter(|order| order.account_id == account_id)
            .map(|order| state::order_json(&state, order))
            .collect()
    }

    /// How many times refreshBrokerageAuthorization succeeded for this connection.
    pub fn refresh_count(&self, authorization_id: Uuid) -> u32 {
        lock(&self.shared.state)
            .authorization(authorization_id)
            .map_or(0, |found| found.refreshes)
    }

    /// The universal symbol id of a ticker the sandbox knows (AAPL, MSFT, TSLA, VTI, SPY, SHOP.TO, VAB.TO, seeded SBX…).
    pub fn symbol_id(&self, ticker: &str) -> Option<Uuid> {
        lock(&self.shared.state)
            .symbol_by_ticker(ticker)
            .map(|symbol| symbol.id)
    }
}
