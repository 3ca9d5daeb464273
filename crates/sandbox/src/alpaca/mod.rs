//! The Alpaca Broker API server: accounts, trading accounts, positions, orders and account activities for
//! broker customers, behind HTTP Basic auth.

mod events;
mod history;
mod routes;
mod state;

use std::io;
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::knobs::{AfterEffect, Knobs, RequestLog, lock};
use crate::{LostAnswer, MarketFill};

/// The route of `createOrderForAccount` (and of listing orders, with GET), as the knobs name it.
pub const ORDERS_PATH: &str = "/v1/trading/accounts/{account_id}/orders";
use crate::server::InstrumentedServer;

/// What [`AlpacaSandbox::seed_account`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedAccount {
    /// Cash in USD.
    pub cash: Decimal,
    /// Positions (AAPL, MSFT, TSLA, SPY, VTI, then synthetic `ALP0005`…).
    pub positions: usize,
    /// Whether the account's history holds the filled multi-leg options order of alpaca-broker-api.yaml's
    /// `MultilegOptionsOrderResponse` example (see [`AlpacaSandbox::seeded_orders`]). The default account has
    /// it; an account a test seeds has it only when asked, so a test that counts its own orders counts them.
    pub multileg_order: bool,
    /// How many account activities (`GET /v1/accounts/activities`) its history holds, spread over the two years
    /// before it was opened: fills of its holdings, dividends, interest, fees, deposits and withdrawals, a
    /// journal now and then, one split and one cancelled deposit. Generated on demand, so any number is cheap.
    pub activities: usize,
}

/// The activities of an account's history unless a seed says otherwise: five pages of 100, less a few.
pub const DEFAULT_ACTIVITIES: usize = 480;

impl Default for SeedAccount {
    fn default() -> Self {
        Self {
            cash: Decimal::from(100_000),
            positions: 2,
            multileg_order: false,
            activities: DEFAULT_ACTIVITIES,
        }
    }
}

impl SeedAccount {
    /// An account with `cash` dollars and `positions` positions, and no order yet.
    pub fn new(cash: Decimal, positions: usize) -> Self {
        Self {
            cash,
            positions,
            ..Self::default()
        }
    }

    /// The same account with the spec's multi-leg options order in its history.
    pub fn with_multileg_order(mut self) -> Self {
        self.multileg_order = true;
        self
    }

    /// The same account with `activities` activities in its history.
    pub fn with_activities(mut self, activities: usize) -> Self {
        self.activities = activities;
        self
    }
}

/// The running Alpaca Broker API server, with its knobs and its state.
pub struct AlpacaSandbox {
    served: InstrumentedServer,
    shared: Arc<routes::Shared>,
    default_account: Uuid,
}

// By hand, so the credentials and the state (user secrets, access tokens) never reach a Debug line.
impl std::fmt::Debug for AlpacaSandbox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AlpacaSandbox")
            .field("base_url", &self.base_url())
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl AlpacaSandbox {
    pub(crate) async fn start(key_id: &str, secret: &str) -> io::Result<Self> {
        let mut world = state::AlpacaState::new();
        let default_account = world.open_account(&SeedAccount::default().with_multileg_order());
        let shared = Arc::new(routes::Shared {
            state: Mutex::new(world),
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            trade_events_changed: tokio::sync::Notify::new(),
        });
        let served =
            InstrumentedServer::spawn(routes::router(shared.clone()), routes::AlpacaDialect)
                .await?;
        Ok(Self {
            served,
            shared,
            default_account,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41236`; paths are the Broker API's (`/v1/accounts/{id}`).
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    /// The API key id (the Basic auth user name).
    pub fn key_id(&self) -> &str {
        &self.shared.key_id
    }

    /// The API secret (the Basic auth password).
    pub fn secret(&self) -> &str {
        &self.shared.secret
    }

    /// Fault injection and latency for this server.
    pub fn knobs(&self) -> &Knobs {
        self.served.knobs()
    }

    /// Every request this server received.
    pub fn log(&self) -> &RequestLog {
        self.served.log()
    }

    /// The next `calls` orders are placed, and then Alpaca's answer to each is lost as `how` says (the
    /// connection closes mid-answer, or a 5xx replaces it): the order exists, the client never heard so.
    pub fn lose_order_answers(&self, calls: u32, how: LostAnswer) {
        self.knobs()
            .after_handler("POST", &[ORDERS_PATH], calls, AfterEffect::Lose(how));
    }

    /// The next `calls` orders are placed at once, and Alpaca's answer to each comes only after `delay`
    /// (make it longer than the client's timeout: the client gives up on an order that exists).
    pub fn delay_order_answers(&self, calls: u32, delay: std::time::Duration) {
        self.knobs()
            .after_handler("POST", &[ORDERS_PATH], calls, AfterEffect::Delay(delay));
    }

    /// How many orders were placed for the account through the API, in every state (its seeded history is not
    /// counted: see [`AlpacaSandbox::seeded_orders`]).
    pub fn order_count(&self, account_id: Uuid) -> usize {
        lock(&self.shared.state)
            .orders
            .iter()
            .filter(|order| order.account == account_id && !order.seeded)
            .count()
    }

    /// The ACTIVE account every sandbox starts with ($100,000 cash, AAPL and MSFT positions, and a filled
    /// multi-leg options order in its history).
    pub fn default_account_id(&self) -> Uuid {
        self.default_account
    }

    /// Opens another ACTIVE account.
    pub fn seed_account(&self, seed: SeedAccount) -> Uuid {
        lock(&self.shared.state).open_account(&seed)
    }

    /// Chooses when market orders fill ([`MarketFill::OnStep`] leaves them `accepted`).
    pub fn set_market_fill(&self, fill: MarketFill) {
        lock(&self.shared.state).market_fill = fill;
    }

    /// Fills every `accepted` market order; returns how many filled.
    pub fn step(&self) -> usize {
        let mut state = lock(&self.shared.state);
        let waiting: Vec<usize> = (0..state.orders.len())
            .filter(|&index| {
                state.orders[index].status == "accepted"
                    && state.orders[index].order_type == "market"
            })
            .collect();
        for &index in &waiting {
            state.fill(index);
        }
        drop(state);
        self.shared.trade_events_changed.notify_waiters();
        waiting.len()
    }

    /// The orders placed for the account through the API, as the API renders them, oldest first (the seeded
    /// history is left out: see [`AlpacaSandbox::seeded_orders`]).
    pub fn orders(&self, account_id: Uuid) -> Vec<Value> {
        self.rendered_orders(account_id, false)
    }

    /// The account's seeded history as the API renders it: the default account (and any seeded
    /// [`SeedAccount::with_multileg_order`]) holds one filled multi-leg options order shaped as
    /// alpaca-broker-api.yaml's `MultilegOptionsOrderResponse` example (`asset_id`, `symbol`, `side` and
    /// `asset_class` empty; legs with `type: ''`), which the order list serves with the placed orders.
    pub fn seeded_orders(&self, account_id: Uuid) -> Vec<Value> {
        self.rendered_orders(account_id, true)
    }

    /// The trade events recorded so far (`GET /v2/events/trades`), oldest first, as the stream sends them.
    pub fn trade_events(&self) -> Vec<Value> {
        lock(&self.shared.state)
            .trade_events
            .events
            .iter()
            .map(|event| event.data.clone())
            .collect()
    }

    /// The next connection to `/v2/events/trades` breaks off after sending `events` events (the connection
    /// closes mid-stream, as a dropped network would leave it); later connections are whole again.
    pub fn drop_trade_events_after(&self, events: usize) {
        lock(&self.shared.state).trade_events.drop_after = Some(events);
    }

    /// Records a trade event for `account_id` whose order does not read (its `qty` is no number): it gets an
    /// id and a place in the stream like any other. Returns its id.
    pub fn send_malformed_trade_event(&self, account_id: Uuid) -> String {
        let id = lock(&self.shared.state).record_malformed_trade_event(account_id);
        self.shared.trade_events_changed.notify_waiters();
        id
    }

    /// Every activity of the account's history, newest first, as `GET /v1/accounts/activities` renders them
    /// (empty for an account the sandbox does not hold).
    pub fn activities(&self, account_id: Uuid) -> Vec<Value> {
        let state = lock(&self.shared.state);
        let Some(account) = state.account(account_id) else {
            return Vec::new();
        };
        let history = history::History::of(&state, account);
        (0..history.len())
            .rev()
            .map(|k| history.render(k))
            .collect()
    }

    fn rendered_orders(&self, account_id: Uuid, seeded: bool) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .orders
            .iter()
            .filter(|order| order.account == account_id && order.seeded == seeded)
            .map(|order| state::order_json(&state, order))
            .collect()
    }
}
