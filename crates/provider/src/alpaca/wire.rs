//! Alpaca Broker API JSON as serde structs, following `alpaca-broker-api.yaml`.
//!
//! Alpaca sends money and quantities as decimal strings (`"150"`, `"0.02"`); they are read straight into
//! [`Decimal`]. Vocabularies that Alpaca grows without notice (order status, type, side, time in force,
//! asset class, account status) stay strings here and become open domain enums in the conversions. Unknown
//! fields are ignored, and fields the spec's own examples omit are optional. The account's KYC data
//! (identity, contact, documents) is deliberately not read: Tributary has no use for it and it should not
//! end up in memory dumps or logs.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `AccountExtended`, the broker's view of an end customer's account (`GET /v1/accounts/{account_id}`).
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// The account id.
    pub id: Uuid,
    /// The account number shown to the customer.
    #[serde(default)]
    pub account_number: Option<String>,
    /// `ACTIVE`, `APPROVED`, `ACCOUNT_CLOSED`, … (trading is possible only when `ACTIVE`).
    pub status: String,
    /// Crypto trading status, same vocabulary.
    #[serde(default)]
    pub crypto_status: Option<String>,
    /// The account currency (USD unless a local-currency account).
    pub currency: String,
    /// Equity at the previous close.
    #[serde(default)]
    pub last_equity: Option<Decimal>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// `trading`, `custodial`, `donor_advised`, `ira`, …
    #[serde(default)]
    pub account_type: Option<String>,
    /// Asset classes enabled for the account.
    #[serde(default)]
    pub enabled_assets: Option<Vec<String>>,
}

/// `TradeAccount`, the account's balances (`GET /v1/trading/accounts/{account_id}/account`).
#[derive(Debug, Clone, Deserialize)]
pub struct TradeAccount {
    /// The account id.
    pub id: Uuid,
    /// The account number.
    #[serde(default)]
    pub account_number: Option<String>,
    /// Account status, as in [`Account::status`].
    pub status: String,
    /// Crypto status.
    #[serde(default)]
    pub crypto_status: Option<String>,
    /// Always USD in practice.
    pub currency: String,
    /// Cash balance.
    pub cash: Decimal,
    /// Buying power now.
    pub buying_power: Decimal,
    /// Cash + long market value + short market value.
    pub equity: Decimal,
    /// Equity at the previous close.
    #[serde(default)]
    pub last_equity: Option<Decimal>,
    /// Value of all long positions.
    #[serde(default)]
    pub long_market_value: Option<Decimal>,
    /// Value of all short positions.
    #[serde(default)]
    pub short_market_value: Option<Decimal>,
    /// Value of all positions.
    #[serde(default)]
    pub position_market_value: Option<Decimal>,
    /// Deprecated alias of `equity`.
    #[serde(default)]
    pub portfolio_value: Option<Decimal>,
    /// Cash that can be withdrawn.
    #[serde(default)]
    pub cash_withdrawable: Option<Decimal>,
    /// Buying power multiplier (`1`–`4`).
    #[serde(default)]
    pub multiplier: Option<Decimal>,
    /// Reg T initial margin.
    #[serde(default)]
    pub initial_margin: Option<Decimal>,
    /// Maintenance margin.
    #[serde(default)]
    pub maintenance_margin: Option<Decimal>,
    /// When true, no trading is allowed.
    #[serde(default)]
    pub trading_blocked: bool,
    /// When true, no transfers are allowed.
    #[serde(default)]
    pub transfers_blocked: bool,
    /// When true, all account activity is prohibited.
    #[serde(default)]
    pub account_blocked: bool,
    /// The user suspended trading themselves.
    #[serde(default)]
    pub trade_suspended_by_user: bool,
    /// Whether shorting is enabled.
    #[serde(default)]
    pub shorting_enabled: bool,
    /// When the account was created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// An open position (`GET /v1/trading/accounts/{account_id}/positions`).
#[derive(Debug, Clone, Deserialize)]
pub struct Position {
    /// The asset (for options, the contract) id.
    pub asset_id: Uuid,
    /// The symbol.
    pub symbol: String,
    /// Exchange name (`NASDAQ`, `NYSE`, … or empty).
    #[serde(default)]
    pub exchange: Option<String>,
    /// `us_equity`, `us_option`, `crypto`, …
    #[serde(default)]
    pub asset_class: Option<String>,
    /// Average entry price.
    pub avg_entry_price: Decimal,
    /// Units held (negative never: shorts say so in `side`).
    pub qty: Decimal,
    /// Units not locked by open orders.
    #[serde(default)]
    pub qty_available: Option<Decimal>,
    /// `long` or `short`.
    pub side: String,
    /// Current market value.
    #[serde(default)]
    pub market_value: Option<Decimal>,
    /// Total cost basis.
    #[serde(default)]
    pub cost_basis: Option<Decimal>,
    /// Unrealized profit or loss.
    #[serde(default)]
    pub unrealized_pl: Option<Decimal>,
    /// Unrealized profit or loss as a fraction (0.2 = 20 %).
    #[serde(default)]
    pub unrealized_plpc: Option<Decimal>,
    /// Today's unrealized profit or loss.
    #[serde(default)]
    pub unrealized_intraday_pl: Option<Decimal>,
    /// Today's unrealized profit or loss as a fraction.
    #[serde(default)]
    pub unrealized_intraday_plpc: Option<Decimal>,
    /// Current price per unit.
    #[serde(default)]
    pub current_price: Option<Decimal>,
    /// Previous close per unit.
    #[serde(default)]
    pub lastday_price: Option<Decimal>,
    /// Change since the previous close, as a fraction.
    #[serde(default)]
    pub change_today: Option<Decimal>,
}

/// An order, as returned by every order endpoint (the spec's `Order`, and `OrderLeg` for its `legs`).
///
/// The spec's `Order` requires only `id` and `symbol`; everything else may be missing or null, and its own
/// examples send empty strings where a value does not apply (`MultilegOptionsOrderResponse`: `asset_id: ''`,
/// `side: ''`, `asset_class: ''`, legs with `type: ''`). An empty string reads as absent here; whether an order
/// without some field can still be recorded is decided in the conversion, order by order.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    /// Alpaca's order id.
    pub id: Uuid,
    /// The symbol (empty for a multi-leg order, whose legs carry theirs).
    pub symbol: String,
    /// The caller's idempotency handle, unique per account.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub client_order_id: Option<String>,
    /// When the order was entered.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// When it was submitted for execution (the time `after`/`until` page by).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    /// When it filled completely.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub filled_at: Option<DateTime<Utc>>,
    /// When it expired.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub expired_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub canceled_at: Option<DateTime<Utc>>,
    /// When it failed.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub failed_at: Option<DateTime<Utc>>,
    /// When it was replaced.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub replaced_at: Option<DateTime<Utc>>,
    /// The order that replaced this one.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub replaced_by: Option<Uuid>,
    /// The order this one replaced.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub replaces: Option<Uuid>,
    /// The asset (or option contract) id.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub asset_id: Option<Uuid>,
    /// `us_equity`, `us_option`, `crypto`, …
    #[serde(default, deserialize_with = "blank_as_none")]
    pub asset_class: Option<String>,
    /// Dollar amount, for notional orders (then `qty` is null).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub notional: Option<Decimal>,
    /// Units ordered (then `notional` is null).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub qty: Option<Decimal>,
    /// Units filled so far.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub filled_qty: Option<Decimal>,
    /// Average fill price.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub filled_avg_price: Option<Decimal>,
    /// `simple`, `bracket`, `oco`, `oto`, `mleg` (or empty).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub order_class: Option<String>,
    /// `market`, `limit`, `stop`, `stop_limit`, `trailing_stop`.
    #[serde(rename = "type", default, deserialize_with = "blank_as_none")]
    pub order_type: Option<String>,
    /// The same as `type`, under the spec's other name for it.
    #[serde(rename = "order_type", default, deserialize_with = "blank_as_none")]
    pub order_type_alias: Option<String>,
    /// `buy` or `sell` (and a few rarer sides); empty for a multi-leg order.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub side: Option<String>,
    /// `buy_to_open`, `sell_to_close`, … (options).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub position_intent: Option<String>,
    /// `day`, `gtc`, `opg`, `cls`, `ioc`, `fok`.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub time_in_force: Option<String>,
    /// Limit price.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub limit_price: Option<Decimal>,
    /// Stop price.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub stop_price: Option<Decimal>,
    /// Trailing stop distance in dollars.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub trail_price: Option<Decimal>,
    /// Trailing stop distance in percent.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub trail_percent: Option<Decimal>,
    /// `new`, `accepted`, `filled`, `canceled`, … (16 values and growing).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub status: Option<String>,
    /// Eligible for extended hours.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub extended_hours: Option<bool>,
    /// The commission charged, if any.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub commission: Option<Decimal>,
    /// A multi-leg order's legs, when listed `nested` (the spec: "Otherwise, null").
    #[serde(default, deserialize_with = "blank_as_none")]
    pub legs: Option<Vec<Order>>,
}

impl Order {
    /// The order type, under either of the spec's names for it.
    pub fn order_type(&self) -> Option<&str> {
        self.order_type
            .as_deref()
            .or(self.order_type_alias.as_deref())
    }

    /// When the order was submitted, the time Alpaca sorts and pages orders by (`submitted_at`, which the spec
    /// says is `created_at` until it is submitted).
    pub fn submitted(&self) -> Option<DateTime<Utc>> {
        self.submitted_at.or(self.created_at)
    }
}

/// `Activity`, one item of `GET /v1/accounts/activities` (`getAccountActivities`): the spec's base (`id`,
/// `activity_type`, both required, and `account_id`) with the fields of `TradeActivity` or `NonTradeActivity`,
/// whichever it is. A field of the other kind is "Null for trading activites" (or non-trading), so every field but
/// the two required is optional here, and which are needed is decided in the conversion, activity by activity.
#[derive(Debug, Clone, Deserialize)]
pub struct Activity {
    /// `20220208125959696::88b5f678-…`: New York local time to the millisecond, then a UUID.
    pub id: String,
    /// The account it belongs to.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub account_id: Option<Uuid>,
    /// `FILL`, `DIV`, `CSD`, … (`ActivityType`, an open vocabulary).
    pub activity_type: String,
    /// `CDIV`, `REG`, `FSPLIT`, … (`ActivitySubType`, optional).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub activity_sub_type: Option<String>,
    /// Trade: the order's filled quantity so far.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub cum_qty: Option<Decimal>,
    /// Trade: the order's quantity still to fill.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub leaves_qty: Option<Decimal>,
    /// Trade: the order that filled.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub order_id: Option<Uuid>,
    /// Trade: the order's status after the fill.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub order_status: Option<String>,
    /// Trade: the price per unit of the execution.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub price: Option<Decimal>,
    /// Trade: the units executed (unsigned; `side` says which way). Non-trade: for a dividend, the shares
    /// that earned it.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub qty: Option<Decimal>,
    /// Trade: `buy`, `sell`, `sell_short`, … (`OrderSide`).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub side: Option<String>,
    /// The security's symbol.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub symbol: Option<String>,
    /// Trade: when the execution happened.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub transaction_time: Option<DateTime<Utc>>,
    /// Trade: `fill` or `partial_fill`.
    #[serde(rename = "type", default, deserialize_with = "blank_as_none")]
    pub fill_type: Option<String>,
    /// Non-trade: when Alpaca booked it.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Non-trade: "Currency denomination of the activity. USD by default."
    #[serde(default, deserialize_with = "blank_as_none")]
    pub currency: Option<String>,
    /// Non-trade: the security's CUSIP.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub cusip: Option<String>,
    /// Non-trade: the day it happened or settled, as a date (Broker API) or a timestamp (Trading API).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub date: Option<String>,
    /// Non-trade: Alpaca's description.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub description: Option<String>,
    /// Non-trade: links sibling activities.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub group_id: Option<Uuid>,
    /// Non-trade: the cash it moved, signed (positive into the account).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub net_amount: Option<Decimal>,
    /// Non-trade: for a dividend, the amount per share.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub per_share_amount: Option<Decimal>,
    /// Non-trade: `executed`, `correct` or `canceled`.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub status: Option<String>,
    /// Non-trade: the deposit or withdrawal behind an `OCT` activity.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub transfer_id: Option<Uuid>,
}

/// Reads `null`, a missing field and an empty (or blank) string as `None`, anything else as `T`.
fn blank_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) if text.trim().is_empty() => Ok(None),
        value => serde_json::from_value(value)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// `CreateOrderRequest`, the body of `POST /v1/trading/accounts/{account_id}/orders`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CreateOrderRequest<'a> {
    pub symbol: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notional: Option<Decimal>,
    pub side: &'a str,
    #[serde(rename = "type")]
    pub order_type: &'a str,
    pub time_in_force: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub extended_hours: bool,
    pub client_order_id: &'a str,
}

/// Alpaca's error body: `{"code": 40310000, "message": "…"}`, `code` sometimes missing, extra fields common.
#[derive(Debug, Clone, Deserialize)]
pub struct AlpacaErrorBody {
    /// Alpaca's numeric error code, when it sends one.
    #[serde(default)]
    pub code: Option<u64>,
    /// The message.
    pub message: String,
}

/// `TradeUpdateEventV2`, one event of the trade event stream (`GET /v2/events/trades`, `subscribeToTradeV2SSE`).
///
/// The spec lists no required field; read as the strictest plausible provider, an event is refused without the
/// fields that say what it is and whose: `event_id` ("lexically sortable, monotonically increasing"),
/// `account_id` ("Account UUID"), `event`, `at` ("Timestamp of event") and the `order` it concerns. The order stays
/// JSON here: it is read as an [`Order`] by the conversion, which keeps it for `raw_order_data`.
#[derive(Debug, Clone, Deserialize)]
pub struct TradeUpdateEvent {
    /// The event's ULID.
    pub event_id: String,
    /// The customer account the order belongs to.
    pub account_id: Uuid,
    /// `new`, `fill`, `partial_fill`, `canceled`, … (an open vocabulary, `TradeUpdateEventType`).
    pub event: String,
    /// When the event happened.
    pub at: DateTime<Utc>,
    /// The order as it stands after the event.
    pub order: serde_json::Value,
    /// The execution behind a fill (not present for multi-leg options).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub execution_id: Option<String>,
    /// Meaning depends on `event` (the fill time, the cancel time…).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub timestamp: Option<DateTime<Utc>>,
    /// `fill`/`partial_fill`: the average price of this fill.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub price: Option<Decimal>,
    /// `fill`/`partial_fill`/`trade_bust`/`trade_correct`: the shares of this execution (negative for a bust).
    #[serde(default, deserialize_with = "blank_as_none")]
    pub qty: Option<Decimal>,
    /// `fill`/`partial_fill`: the position after the fill, negative when short.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub position_qty: Option<Decimal>,
}
