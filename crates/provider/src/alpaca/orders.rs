//! Orders: what a caller asks for, and submitting it exactly once.
//!
//! Alpaca has no idempotency header for orders; `client_order_id` (unique per account) is the handle. A
//! submit whose outcome is unknown — the request timed out, the connection dropped after sending, or
//! Alpaca answered 5xx — may have placed the order. Before sending it again, the client asks
//! `orders:by_client_order_id`: an order found there is the answer; only a confirmed absence (404) allows
//! another POST. If the lookup itself fails, the original failure is returned and nothing is resent.

use std::fmt;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use tributary_domain::Provider;
use uuid::Uuid;

use super::wire::{AlpacaErrorBody, CreateOrderRequest, Order};
use super::{AlpacaClient, BrokerAccountId, into_error};
use crate::error::ProviderError;
use crate::http::{Endpoint, Failure, StatusFailure};

/// Alpaca's limit on `client_order_id`.
const CLIENT_ORDER_ID_MAX_LEN: usize = 128;

/// Our idempotency handle for an order: at most 128 characters, unique per account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlpacaClientOrderId(String);

impl AlpacaClientOrderId {
    /// A fresh random id (a UUID v4).
    pub fn generate() -> Self {
        Self(Uuid::new_v4().to_string())
    }

    /// Accepts a caller's id if Alpaca will: non-empty and at most 128 characters.
    pub fn parse(text: impl Into<String>) -> Result<Self, ProviderError> {
        let text = text.into();
        if text.trim().is_empty() || text.chars().count() > CLIENT_ORDER_ID_MAX_LEN {
            return Err(ProviderError::invalid_input(
                "client_order_id",
                "must be 1 to 128 characters",
            ));
        }
        Ok(Self(text))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlpacaClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlpacaOrderSide {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl AlpacaOrderSide {
    fn as_wire(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// The order types Alpaca accepts for equities (trailing stops are not offered by Tributary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlpacaOrderType {
    /// At the market.
    Market,
    /// At `limit_price` or better.
    Limit {
        /// The limit.
        limit_price: Decimal,
    },
    /// A market order once `stop_price` trades.
    Stop {
        /// The trigger.
        stop_price: Decimal,
    },
    /// A limit order once `stop_price` trades.
    StopLimit {
        /// The trigger.
        stop_price: Decimal,
        /// The limit.
        limit_price: Decimal,
    },
}

impl AlpacaOrderType {
    fn as_wire(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit { .. } => "limit",
            Self::Stop { .. } => "stop",
            Self::StopLimit { .. } => "stop_limit",
        }
    }

    fn limit_price(self) -> Option<Decimal> {
        match self {
            Self::Limit { limit_price } | Self::StopLimit { limit_price, .. } => Some(limit_price),
            Self::Market | Self::Stop { .. } => None,
        }
    }

    fn stop_price(self) -> Option<Decimal> {
        match self {
            Self::Stop { stop_price } | Self::StopLimit { stop_price, .. } => Some(stop_price),
            Self::Market | Self::Limit { .. } => None,
        }
    }
}

/// How long an order stays working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlpacaTimeInForce {
    /// Until the end of the trading day.
    Day,
    /// Until canceled.
    GoodTillCanceled,
    /// At the opening auction only.
    AtOpen,
    /// At the closing auction only.
    AtClose,
    /// Immediately, any unfilled part canceled.
    ImmediateOrCancel,
    /// Entirely and immediately, or not at all.
    FillOrKill,
}

impl AlpacaTimeInForce {
    fn as_wire(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::GoodTillCanceled => "gtc",
            Self::AtOpen => "opg",
            Self::AtClose => "cls",
            Self::ImmediateOrCancel => "ioc",
            Self::FillOrKill => "fok",
        }
    }
}

/// Units or dollars: Alpaca takes exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlpacaOrderQuantity {
    /// A number of units (fractional for market/day orders).
    Units(Decimal),
    /// A dollar amount (market or limit, day only).
    Notional(Decimal),
}

/// An order to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlpacaOrderRequest {
    /// Symbol or asset id.
    pub symbol: String,
    /// Buy or sell.
    pub side: AlpacaOrderSide,
    /// Market, limit, stop or stop-limit, with its prices.
    pub order_type: AlpacaOrderType,
    /// How long it works.
    pub time_in_force: AlpacaTimeInForce,
    /// Units or dollars.
    pub quantity: AlpacaOrderQuantity,
    /// Eligible for extended hours (limit orders, day or GTC).
    pub extended_hours: bool,
    /// Our idempotency handle; generated when `None`.
    pub client_order_id: Option<AlpacaClientOrderId>,
}

impl AlpacaOrderRequest {
    /// A day market order for `units` of `symbol`.
    #[cfg(test)]
    pub fn market(symbol: impl Into<String>, side: AlpacaOrderSide, units: Decimal) -> Self {
        Self {
            symbol: symbol.into(),
            side,
            order_type: AlpacaOrderType::Market,
            time_in_force: AlpacaTimeInForce::Day,
            quantity: AlpacaOrderQuantity::Units(units),
            extended_hours: false,
            client_order_id: None,
        }
    }

    /// The same order with a caller-chosen `client_order_id`.
    #[cfg(test)]
    pub fn with_client_order_id(mut self, id: AlpacaClientOrderId) -> Self {
        self.client_order_id = Some(id);
        self
    }

    fn to_wire<'a>(&'a self, client_order_id: &'a AlpacaClientOrderId) -> CreateOrderRequest<'a> {
        let (qty, notional) = match self.quantity {
            AlpacaOrderQuantity::Units(units) => (Some(units), None),
            AlpacaOrderQuantity::Notional(dollars) => (None, Some(dollars)),
        };
        CreateOrderRequest {
            symbol: &self.symbol,
            qty,
            notional,
            side: self.side.as_wire(),
            order_type: self.order_type.as_wire(),
            time_in_force: self.time_in_force.as_wire(),
            limit_price: self.order_type.limit_price(),
            stop_price: self.order_type.stop_price(),
            extended_hours: self.extended_hours,
            client_order_id: client_order_id.as_str(),
        }
    }
}

/// An order as Alpaca has it: the parsed order and the JSON exactly as Alpaca sent it (kept for
/// `raw_order_data`).
#[derive(Debug, Clone)]
pub struct AlpacaOrder {
    /// The parsed order.
    pub order: Order,
    /// Alpaca's JSON for it.
    pub raw: serde_json::Value,
}

impl AlpacaOrder {
    /// Parses one order object, keeping its JSON.
    pub(super) fn from_json(
        endpoint: &'static str,
        raw: serde_json::Value,
    ) -> Result<Self, ProviderError> {
        let order = serde_json::from_value(raw.clone()).map_err(|error| {
            ProviderError::decode(
                Provider::Alpaca,
                endpoint,
                &error,
                raw.to_string().as_bytes(),
            )
        })?;
        Ok(Self { order, raw })
    }

    /// Parses a response body holding one order.
    pub(super) fn from_body(endpoint: &'static str, bytes: &[u8]) -> Result<Self, ProviderError> {
        let raw = serde_json::from_slice(bytes)
            .map_err(|error| ProviderError::decode(Provider::Alpaca, endpoint, &error, bytes))?;
        Self::from_json(endpoint, raw)
    }
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlpacaOrderStatusFilter {
    /// Working orders (Alpaca's default).
    #[default]
    Open,
    /// Filled, canceled, expired, rejected…
    Closed,
    /// Both.
    All,
}

/// Filters for listing orders. [`AlpacaClient::orders`](super::AlpacaClient::orders) reads every page.
#[derive(Debug, Clone, Default)]
pub struct AlpacaOrderQuery {
    /// Open, closed or all.
    pub status: AlpacaOrderStatusFilter,
    /// Orders per page (Alpaca: "Defaults to 50 and max is 500"); every page is read whatever its size.
    pub limit: Option<u32>,
    /// Only orders submitted after this time (exclusive).
    pub after: Option<chrono::DateTime<chrono::Utc>>,
    /// Only orders submitted until this time (exclusive).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only these symbols.
    pub symbols: Vec<String>,
    /// Multi-leg orders rolled up under their parent's `legs` instead of listed one by one.
    pub nested: bool,
}

/// The spec's most orders per page (`getAllOrdersForAccount`, `limit`: "Defaults to 50 and max is 500").
pub(super) const MAX_PAGE: u32 = 500;

impl AlpacaOrderQuery {
    /// The orders on one page.
    pub(super) fn page_size(&self) -> u32 {
        self.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE)
    }

    /// The query of one page: newest first (`direction=desc`), submitted before `until` (exclusive).
    pub(super) fn to_query(
        &self,
        page_size: u32,
        after: Option<chrono::DateTime<chrono::Utc>>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Vec<(&'static str, String)> {
        let status = match self.status {
            AlpacaOrderStatusFilter::Open => "open",
            AlpacaOrderStatusFilter::Closed => "closed",
            AlpacaOrderStatusFilter::All => "all",
        };
        let at = |time: chrono::DateTime<chrono::Utc>| {
            time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        };
        let mut query = vec![
            ("status", status.to_owned()),
            ("limit", page_size.to_string()),
            ("direction", "desc".to_owned()),
        ];
        if let Some(after) = after {
            query.push(("after", at(after)));
        }
        if let Some(until) = until {
            query.push(("until", at(until)));
        }
        if !self.symbols.is_empty() {
            query.push(("symbols", self.symbols.join(",")));
        }
        if self.nested {
            query.push(("nested", "true".to_owned()));
        }
        query
    }
}

const CREATE_ORDER: &str = "createOrderForAccount";

pub(super) async fn submit(
    client: &AlpacaClient,
    account: &BrokerAccountId,
    order: &AlpacaOrderRequest,
) -> Result<AlpacaOrder, ProviderError> {
    let client_order_id = order
        .client_order_id
        .clone()
        .unwrap_or_else(AlpacaClientOrderId::generate);
    let body = serde_json::to_vec(&order.to_wire(&client_order_id))
        .expect("an order request is a plain struct that always serializes");
    let path = format!("/v1/trading/accounts/{account}/orders");
    let mut attempt = 1;
    // Set once an attempt may have placed the order: a later "client_order_id must be unique" rejection then
    // means that attempt did go through.
    let mut earlier_attempt_unclear = false;
    loop {
        let request = client
            .request(Method::POST, &path)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        let endpoint = Endpoint::new(Provider::Alpaca, CREATE_ORDER);
        let failure = match client.http.send(endpoint, request).await {
            Ok(reply) => return AlpacaOrder::from_body(CREATE_ORDER, &reply.body),
            Err(failure) => failure,
        };
        if is_reused_client_order_id(&failure) {
            return already_placed(client, account, order, &client_order_id).await;
        }
        let wait = client.retry.delay(attempt, failure.retry_after());
        let may_send_again = attempt < client.retry.max_attempts && failure.is_transient();
        let Some(wait) = wait.filter(|_| may_send_again) else {
            return resolve_last_failure(
                client,
                account,
                &client_order_id,
                failure,
                earlier_attempt_unclear,
            )
            .await;
        };
        if !failure.surely_not_processed() {
            earlier_attempt_unclear = true;
            // The order may exist: find it before placing it again.
            match client
                .order_by_client_order_id(account, &client_order_id)
                .await
            {
                Ok(Some(existing)) => return existing_order(existing, &client_order_id),
                Ok(None) => {}
                Err(_) => return Err(into_error(CREATE_ORDER, failure)),
            }
        }
        tracing::info!(attempt, "order submit failed transiently, sending it again");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// The submit is over: an unclear failure still gets one lookup, since the order may have gone through,
/// and so does any failure after an earlier unclear attempt (Alpaca refuses a reused `client_order_id`).
async fn resolve_last_failure(
    client: &AlpacaClient,
    account: &BrokerAccountId,
    client_order_id: &AlpacaClientOrderId,
    failure: Failure,
    earlier_attempt_unclear: bool,
) -> Result<AlpacaOrder, ProviderError> {
    let outcome_unknown = failure.is_transient() && !failure.surely_not_processed();
    if (outcome_unknown || earlier_attempt_unclear)
        && let Ok(Some(existing)) = client
            .order_by_client_order_id(account, client_order_id)
            .await
    {
        return existing_order(existing, client_order_id);
    }
    Err(into_error(CREATE_ORDER, failure))
}

/// Alpaca's refusal of a `client_order_id` the account already used: HTTP 422 with the message
/// `client_order_id must be unique` (spec: `createOrderForAccount` answers `'422': Some parameters are not
/// valid`; the message is the one Alpaca sends, quoted in alpaca-py#260). It means an order with this id
/// exists, not that this one was refused.
fn is_reused_client_order_id(failure: &Failure) -> bool {
    let Failure::Status(StatusFailure { status, body, .. }) = failure else {
        return false;
    };
    *status == StatusCode::UNPROCESSABLE_ENTITY
        && serde_json::from_slice::<AlpacaErrorBody>(body).is_ok_and(|error| {
            error
                .message
                .trim()
                .eq_ignore_ascii_case(REUSED_CLIENT_ORDER_ID)
        })
}

/// Alpaca's message for a reused `client_order_id`.
const REUSED_CLIENT_ORDER_ID: &str = "client_order_id must be unique";

/// Alpaca says the account already holds an order with this `client_order_id` (an earlier attempt, by us or a
/// caller's retry, went through): that order is the answer. It must be the same order, not another one that
/// happens to carry the id; and if the lookup cannot find it, the outcome is unknown, never a rejection.
async fn already_placed(
    client: &AlpacaClient,
    account: &BrokerAccountId,
    order: &AlpacaOrderRequest,
    client_order_id: &AlpacaClientOrderId,
) -> Result<AlpacaOrder, ProviderError> {
    let unknown = |reason: String| ProviderError::OutcomeUnknown {
        provider: Provider::Alpaca,
        client_order_id: client_order_id.as_str().to_owned(),
        reason,
    };
    match client
        .order_by_client_order_id(account, client_order_id)
        .await
    {
        Ok(Some(existing)) if same_order(&existing, order) => {
            existing_order(existing, client_order_id)
        }
        Ok(Some(existing)) => Err(ProviderError::invalid_input(
            "client_order_id",
            format!(
                "is already used by another order of this account (Alpaca order {}, {} {})",
                existing.order.id,
                existing.order.side.as_deref().unwrap_or("?"),
                existing.order.symbol
            ),
        )),
        Ok(None) => Err(unknown(
            "Alpaca refused the client_order_id as already used, yet finds no order with it"
                .to_owned(),
        )),
        Err(error) => Err(unknown(format!(
            "Alpaca refused the client_order_id as already used, and looking it up failed: {error}"
        ))),
    }
}

/// Whether the order Alpaca holds is the one we are placing: same symbol and side.
fn same_order(existing: &AlpacaOrder, order: &AlpacaOrderRequest) -> bool {
    existing.order.symbol.eq_ignore_ascii_case(&order.symbol)
        && existing.order.side.as_deref() == Some(order.side.as_wire())
}

fn existing_order(
    existing: AlpacaOrder,
    client_order_id: &AlpacaClientOrderId,
) -> Result<AlpacaOrder, ProviderError> {
    tracing::info!(
        %client_order_id,
        order_id = %existing.order.id,
        "order was already placed; returning it instead of resubmitting"
    );
    Ok(existing)
}
