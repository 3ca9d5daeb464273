//! SnapTrade's JSON as serde structs, read leniently and written exactly.
//!
//! Read side: SnapTrade documents nearly every field as optional or nullable, changed prices and
//! quantities from JSON numbers to decimal strings in 2026 (spec #794), and sends brokerage vocabularies
//! (order status, action, type, time in force) as free strings. So every field here is an `Option` or
//! defaults to empty, every decimal accepts a string or a number and becomes a `Decimal` from its text
//! (serde_json's `arbitrary_precision` keeps the digits: no `f64` on the way), and vocabularies stay
//! strings until the conversions sort them into the domain's open enums.
//!
//! Write side: request bodies carry decimals as JSON numbers written the way Python's `json.dumps` writes
//! the float SnapTrade parses them into (`1e-05`, not `0.00001`), so the body we sign and the body
//! SnapTrade re-serializes to check the signature are the same text.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Number, Value};

use crate::recorded::Recorded;

/// `registerUser` and `resetUserSecret`'s answer: the user id and its secret (returned only here).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UserIdAndSecret {
    /// SnapTrade's user id (the one we chose).
    #[serde(rename = "userId", default, deserialize_with = "lenient_string")]
    pub user_id: Option<String>,
    /// The user's secret; `Debug` shows `[REDACTED]`.
    #[serde(rename = "userSecret", default)]
    pub user_secret: Option<SecretString>,
}

/// `deleteUser`'s answer: the deletion is queued, and `USER_DELETED` arrives by webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeleteUserResponse {
    /// `deleted`.
    pub status: Option<String>,
    /// SnapTrade's explanation.
    pub detail: Option<String>,
    /// The user queued for deletion.
    #[serde(rename = "userId", deserialize_with = "lenient_string")]
    pub user_id: Option<String>,
}

/// `login`'s answer: the connection portal link (valid for 5 minutes).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LoginRedirect {
    /// Where to send the user; carries a one-time token, so `Debug` hides it.
    #[serde(rename = "redirectURI")]
    pub redirect_uri: Option<String>,
    /// The portal session's id.
    #[serde(rename = "sessionId")]
    pub session_id: Option<String>,
}

impl fmt::Debug for LoginRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRedirect")
            .field(
                "redirect_uri",
                &self.redirect_uri.as_ref().map(|_| "[REDACTED]"),
            )
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// A brokerage as SnapTrade describes it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Brokerage {
    /// SnapTrade's id.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The slug the portal takes (`ALPACA`, `QUESTRADE`).
    pub slug: Option<String>,
    /// The name.
    pub name: Option<String>,
    /// The name to show.
    pub display_name: Option<String>,
    /// Whether SnapTrade can trade through it.
    pub allows_trading: Option<bool>,
    /// Whether it is under maintenance.
    pub maintenance_mode: Option<bool>,
    /// Whether it is degraded.
    pub is_degraded: Option<bool>,
    /// Whether it is enabled.
    pub enabled: Option<bool>,
}

/// A brokerage authorization: one user's connection to one brokerage.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BrokerageAuthorization {
    /// Its id (a UUID).
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// When it was made (`2024-08-20 21:56:19.123935+00:00`).
    pub created_date: Option<String>,
    /// The brokerage.
    pub brokerage: Option<Brokerage>,
    /// Its name.
    pub name: Option<String>,
    /// `read` or `trade` (a plain string in the spec).
    #[serde(rename = "type")]
    pub connection_type: Option<String>,
    /// Whether it stopped working; the user must reconnect it. Disabled connections keep serving cached data.
    pub disabled: Option<bool>,
    /// When it was disabled.
    pub disabled_date: Option<String>,
    /// How fresh its data is. Sent as a string (`realtime`/`delayed`) by the API `specs/snaptrade-openapi.yaml`
    /// describes, and as `{institution, snaptrade}` by the API snaptrade-python-sdk 13.0.49 was generated from
    /// (`BrokerageAuthorizationDataFreshnessMode`); both are read.
    #[serde(deserialize_with = "data_freshness_mode")]
    pub data_freshness_mode: Option<DataFreshnessMode>,
    /// Last update (deprecated by SnapTrade).
    pub updated_date: Option<String>,
}

/// A connection's data freshness (`BrokerageAuthorization.data_freshness_mode`). Each side is `realtime` or
/// `delayed`, kept as sent (an open vocabulary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataFreshnessMode {
    /// Whether the institution itself gives intra-day data (newer shape only; `None` from the older string).
    pub institution: Option<String>,
    /// How SnapTrade reads the connection: `realtime` reads the brokerage during the call, `delayed` serves
    /// cached data (then `refreshBrokerageAuthorization` fetches fresh data). The older string is this side.
    pub snaptrade: Option<String>,
}

impl DataFreshnessMode {
    /// Whether SnapTrade serves this connection's data from its cache.
    pub fn is_delayed(&self) -> bool {
        self.snaptrade
            .as_deref()
            .is_some_and(|mode| mode.trim().eq_ignore_ascii_case("delayed"))
    }
}

/// `data_freshness_mode` in either shape: the spec's string is SnapTrade's side, the SDK's object is read
/// as it is; `null` is absent.
fn data_freshness_mode<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DataFreshnessMode>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => Ok(Some(DataFreshnessMode {
            institution: None,
            snaptrade: Some(text),
        })),
        object @ Value::Object(_) => DataFreshnessMode::deserialize(object)
            .map(Some)
            .map_err(de::Error::custom),
        other => Err(de::Error::custom(format!(
            "data_freshness_mode: expected a string or an object, found {}",
            kind_of(&other)
        ))),
    }
}

/// An amount in a currency (`Account.balance.total`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Money {
    /// The amount.
    #[serde(deserialize_with = "lenient_decimal")]
    pub amount: Option<Decimal>,
    /// The ISO 4217 code.
    pub currency: Option<String>,
}

/// `Account.balance`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AccountBalance {
    /// The account's total market value, as the brokerage reports it.
    pub total: Option<Money>,
}

/// An investment account behind a connection.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Account {
    /// SnapTrade's id (a UUID).
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The connection it belongs to.
    #[serde(deserialize_with = "lenient_string")]
    pub brokerage_authorization: Option<String>,
    /// The name the brokerage gives it.
    pub name: Option<String>,
    /// The account number (masked by some brokerages).
    #[serde(deserialize_with = "lenient_string")]
    pub number: Option<String>,
    /// The brokerage's own id for it.
    #[serde(deserialize_with = "lenient_string")]
    pub institution_account_id: Option<String>,
    /// The brokerage's name.
    pub institution_name: Option<String>,
    /// When SnapTrade first saw it.
    pub created_date: Option<String>,
    /// When it was opened at the brokerage (null for most brokerages). The spec says a date-time; accounts
    /// are also sent with a bare date (`2021-01-01`, read as midnight UTC).
    #[serde(deserialize_with = "lenient_timestamp")]
    pub opening_date: Option<DateTime<Utc>>,
    /// When it was funded (null for most brokerages); a date-time or a bare date, as `opening_date`.
    #[serde(deserialize_with = "lenient_timestamp")]
    pub funding_date: Option<DateTime<Utc>>,
    /// Total value.
    pub balance: Option<AccountBalance>,
    /// `open`, `closed`, `archived`, `unavailable`.
    pub status: Option<String>,
    /// The brokerage's account type (`Margin`, `TFSA`, `Roth IRA`).
    pub raw_type: Option<String>,
    /// `INVESTMENT`, `DEPOSIT`, `LOC`.
    pub account_category: Option<String>,
    /// Whether it is a paper-trading account.
    pub is_paper: Option<bool>,
    /// Holdings and transactions sync state, as sent.
    pub sync_status: Option<Value>,
}

/// A currency (`{id, code, name}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Currency {
    /// SnapTrade's id.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The ISO 4217 code.
    pub code: Option<String>,
    /// The name.
    pub name: Option<String>,
}

/// One currency's balance in an account.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Balance {
    /// The currency of `cash` and `buying_power`.
    pub currency: Option<Currency>,
    /// Cash (negative on margin).
    #[serde(deserialize_with = "lenient_decimal")]
    pub cash: Option<Decimal>,
    /// Buying power.
    #[serde(deserialize_with = "lenient_decimal")]
    pub buying_power: Option<Decimal>,
}

/// `getAllAccountPositions`' answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AllAccountPositions {
    /// Every position: stocks, ETFs, funds, crypto, futures and options alike.
    pub results: Vec<AccountPosition>,
    /// How fresh the data is.
    pub data_freshness: Option<DataFreshness>,
}

/// `data_freshness`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataFreshness {
    /// When the brokerage data was read.
    pub as_of: Option<String>,
}

/// One position from `/positions/all`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AccountPosition {
    /// What is held.
    pub instrument: Instrument,
    /// Units held (negative when short).
    #[serde(deserialize_with = "lenient_decimal")]
    pub units: Option<Decimal>,
    /// Latest price per unit.
    #[serde(deserialize_with = "lenient_decimal")]
    pub price: Option<Decimal>,
    /// What the units cost in all.
    #[serde(deserialize_with = "lenient_decimal")]
    pub cost_basis: Option<Decimal>,
    /// The currency of the figures.
    pub currency: Option<String>,
    /// Whether it counts as cash (money market funds).
    pub cash_equivalent: Option<bool>,
}

/// A position's instrument. SnapTrade's spec is a `oneOf` keyed by `kind`; one lenient struct carries
/// every kind's fields so a kind this crate does not know still parses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Instrument {
    /// `stock`, `option`, `crypto`, `future`, `etf`, `mutualfund`, `cef`, `adr`, `cfd`, `other`…
    pub kind: Option<String>,
    /// SnapTrade's id.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The ticker (an OCC symbol for options).
    pub symbol: Option<String>,
    /// The brokerage's own spelling.
    pub raw_symbol: Option<String>,
    /// The name.
    pub description: Option<String>,
    /// The currency.
    pub currency: Option<String>,
    /// The exchange.
    pub exchange: Option<String>,
    /// Options: `CALL` or `PUT`.
    pub option_type: Option<String>,
    /// Options: the strike.
    #[serde(deserialize_with = "lenient_decimal")]
    pub strike_price: Option<Decimal>,
    /// Options: the expiration date (`YYYY-MM-DD`).
    pub expiration_date: Option<String>,
    /// Options: units per contract.
    #[serde(deserialize_with = "lenient_decimal")]
    pub multiplier: Option<Decimal>,
    /// Options: the underlying instrument.
    pub underlying: Option<Box<Instrument>>,
}

/// A security's kind (`{id, code, description}`; codes `cs`, `et`, `oef`, `bnd`…).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SecurityKind {
    /// SnapTrade's id.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The code.
    pub code: Option<String>,
    /// The name.
    pub description: Option<String>,
}

/// A security in SnapTrade's universal symbol table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UniversalSymbol {
    /// The universal symbol id (a UUID) `getOrderImpact` takes.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The ticker (`VAB.TO`).
    pub symbol: Option<String>,
    /// The ticker without exchange suffix (`VAB`).
    pub raw_symbol: Option<String>,
    /// The name.
    pub description: Option<String>,
    /// The trading currency.
    pub currency: Option<Currency>,
    /// The kind of security.
    #[serde(rename = "type")]
    pub security_type: Option<SecurityKind>,
    /// The FIGI.
    pub figi_code: Option<String>,
}

/// An option contract in an order record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OptionsSymbol {
    /// SnapTrade's id.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The OCC ticker.
    pub ticker: Option<String>,
    /// `CALL` or `PUT`.
    pub option_type: Option<String>,
    /// The strike.
    #[serde(deserialize_with = "lenient_decimal")]
    pub strike_price: Option<Decimal>,
    /// The expiration date.
    pub expiration_date: Option<String>,
    /// The underlying.
    pub underlying_symbol: Option<UniversalSymbol>,
}

/// One order (one leg) as SnapTrade records it, with the JSON it came from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OrderRecord {
    /// The fields this crate reads.
    pub fields: OrderFields,
    /// The record exactly as received, for `raw_order_data`.
    pub raw: Value,
}

impl<'de> Deserialize<'de> for OrderRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        let fields = OrderFields::deserialize(&raw).map_err(de::Error::custom)?;
        Ok(Self { fields, raw })
    }
}

/// `AccountOrderRecord`'s fields. None is required by the spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OrderFields {
    /// The brokerage's order id.
    #[serde(deserialize_with = "lenient_string")]
    pub brokerage_order_id: Option<String>,
    /// `PENDING`, `EXECUTED`, `CANCELED`… (open: any string).
    pub status: Option<String>,
    /// The security, for equities.
    pub universal_symbol: Option<UniversalSymbol>,
    /// The contract, for options.
    pub option_symbol: Option<OptionsSymbol>,
    /// `BUY`, `SELL`, `BUY_OPEN`… (open).
    pub action: Option<String>,
    /// Units ordered.
    #[serde(deserialize_with = "lenient_decimal")]
    pub total_quantity: Option<Decimal>,
    /// Units still working.
    #[serde(deserialize_with = "lenient_decimal")]
    pub open_quantity: Option<Decimal>,
    /// Units cancelled.
    #[serde(deserialize_with = "lenient_decimal")]
    pub canceled_quantity: Option<Decimal>,
    /// Units filled.
    #[serde(deserialize_with = "lenient_decimal")]
    pub filled_quantity: Option<Decimal>,
    /// Average fill price.
    #[serde(deserialize_with = "lenient_decimal")]
    pub execution_price: Option<Decimal>,
    /// Limit price.
    #[serde(deserialize_with = "lenient_decimal")]
    pub limit_price: Option<Decimal>,
    /// Stop price.
    #[serde(deserialize_with = "lenient_decimal")]
    pub stop_price: Option<Decimal>,
    /// `Market`, `Limit`… or the brokerage's own value (open).
    pub order_type: Option<String>,
    /// `Day`, `GTC`… or the brokerage's own value (open).
    pub time_in_force: Option<String>,
    /// When it was placed.
    pub time_placed: Option<String>,
    /// When it last changed.
    pub time_updated: Option<String>,
    /// When it filled.
    pub time_executed: Option<String>,
    /// When it expires.
    pub expiry_date: Option<String>,
}

/// `getOrderImpact`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ManualTradeAndImpact {
    /// The checked trade; its `id` places exactly it within 5 minutes.
    pub trade: Option<ManualTrade>,
    /// What it does to the account (one entry today).
    pub trade_impacts: Vec<ManualTradeImpact>,
    /// The account's cash after the trade.
    pub combined_remaining_balance: Option<ManualTradeBalance>,
}

/// The checked trade.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ManualTrade {
    /// The trade id for `placeOrder`.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// `BUY` or `SELL`.
    pub action: Option<String>,
    /// The order type.
    pub order_type: Option<String>,
    /// The time in force.
    pub time_in_force: Option<String>,
    /// Units.
    #[serde(deserialize_with = "lenient_decimal")]
    pub units: Option<Decimal>,
    /// The price SnapTrade estimated with.
    #[serde(deserialize_with = "lenient_decimal")]
    pub price: Option<Decimal>,
}

/// One impact of a checked trade.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ManualTradeImpact {
    /// Cash left after the trade.
    #[serde(deserialize_with = "lenient_decimal")]
    pub remaining_cash: Option<Decimal>,
    /// Estimated commission.
    #[serde(deserialize_with = "lenient_decimal")]
    pub estimated_commission: Option<Decimal>,
    /// Estimated currency-exchange fees.
    #[serde(deserialize_with = "lenient_decimal")]
    pub forex_fees: Option<Decimal>,
}

/// The account's cash after a checked trade.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ManualTradeBalance {
    /// The currency.
    pub currency: Option<Currency>,
    /// Cash left.
    #[serde(deserialize_with = "lenient_decimal")]
    pub cash: Option<Decimal>,
}

/// `cancelOrder`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CancelOrderResponse {
    /// The order asked to cancel.
    #[serde(deserialize_with = "lenient_string")]
    pub brokerage_order_id: Option<String>,
    /// The brokerage's own answer.
    pub raw_response: Option<Value>,
}

/// `deleteConnection`'s answer: the deletion is queued; `CONNECTION_DELETED` arrives by webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeleteConnectionConfirmation {
    /// SnapTrade's explanation.
    pub detail: Option<String>,
    /// The connection queued for deletion.
    #[serde(deserialize_with = "lenient_string")]
    pub connection_id: Option<String>,
}

/// `refreshBrokerageAuthorization`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RefreshConfirmation {
    /// SnapTrade's explanation.
    pub detail: Option<String>,
}

/// `getAccountActivities`' answer: one page.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ActivityPage {
    /// This page's activities, newest trade date first, each with the JSON it arrived as.
    pub(crate) data: Vec<Recorded<Activity>>,
    /// Where this page sits.
    pub pagination: Option<Pagination>,
}

/// `pagination`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Pagination {
    /// This page's offset.
    pub offset: Option<u64>,
    /// The page size asked for.
    pub limit: Option<u64>,
    /// How many activities match in all.
    pub total: Option<u64>,
}

/// One account activity (trade, dividend, fee, transfer…).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Activity {
    /// SnapTrade's id.
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The security, when there is one.
    pub symbol: Option<UniversalSymbol>,
    /// The option contract, when there is one.
    pub option_symbol: Option<OptionsSymbol>,
    /// Price per unit.
    #[serde(deserialize_with = "lenient_decimal")]
    pub price: Option<Decimal>,
    /// Units (negative for units out).
    #[serde(deserialize_with = "lenient_decimal")]
    pub units: Option<Decimal>,
    /// Money moved.
    #[serde(deserialize_with = "lenient_decimal")]
    pub amount: Option<Decimal>,
    /// The currency.
    pub currency: Option<Currency>,
    /// The security `price`, `amount` and `fee` are denominated in instead of a currency (crypto), if any.
    pub currency_universal_symbol: Option<Value>,
    /// `BUY`, `SELL`, `DIVIDEND`, `CONTRIBUTION`, `FEE`… (open).
    #[serde(rename = "type")]
    pub activity_type: Option<String>,
    /// An option trade's kind: `BUY_TO_OPEN`, `SELL_TO_CLOSE`… (open).
    pub option_type: Option<String>,
    /// The brokerage's description.
    pub description: Option<String>,
    /// When it traded.
    pub trade_date: Option<String>,
    /// When it settled.
    pub settlement_date: Option<String>,
    /// Fees.
    #[serde(deserialize_with = "lenient_decimal")]
    pub fee: Option<Decimal>,
}

/// Every error body SnapTrade documents, read as one: `{detail, code, status_code}`,
/// `{default_detail, default_code}` and `{error}`. `code` may be a number or a string.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The message (usually a string; sometimes an object of field errors).
    pub detail: Option<Value>,
    /// SnapTrade's code (`1076`, `"0000"`, `"throttled"`).
    #[serde(deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// The status, repeated.
    pub status_code: Option<Value>,
    /// The message in the `default_` shape.
    pub default_detail: Option<Value>,
    /// The code in the `default_` shape.
    #[serde(deserialize_with = "lenient_string")]
    pub default_code: Option<String>,
    /// The message in the `{error}` shape (501).
    pub error: Option<Value>,
}

impl ErrorBody {
    /// The code, whichever shape carried it.
    pub fn code(&self) -> Option<String> {
        self.code.clone().or_else(|| self.default_code.clone())
    }

    /// The message, whichever shape carried it.
    pub fn message(&self) -> Option<String> {
        [&self.detail, &self.default_detail, &self.error]
            .into_iter()
            .flatten()
            .map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .find(|text| !text.trim().is_empty())
    }

    /// Whether any of the documented fields was present (a JSON object with none of them is not ours).
    pub fn is_recognised(&self) -> bool {
        self.code().is_some() || self.message().is_some()
    }
}

/// `registerUser`'s body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RegisterUserBody<'a> {
    #[serde(rename = "userId")]
    pub user_id: &'a str,
}

/// `login`'s body; every field optional.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct LoginBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    #[serde(rename = "connectionType", skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<String>,
    #[serde(rename = "customRedirect", skip_serializing_if = "Option::is_none")]
    pub custom_redirect: Option<String>,
    #[serde(rename = "immediateRedirect", skip_serializing_if = "Option::is_none")]
    pub immediate_redirect: Option<bool>,
}

/// An order's prices and size, shared by both trade forms. Decimals go out as Python-style JSON numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TradeTerms {
    /// Limit price.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "python_number_opt"
    )]
    pub price: Option<Decimal>,
    /// Stop price.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "python_number_opt"
    )]
    pub stop: Option<Decimal>,
    /// Units (fractional where the brokerage allows).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "python_number_opt"
    )]
    pub units: Option<Decimal>,
    /// A dollar amount instead of units (market, day orders).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "python_number_opt"
    )]
    pub notional_value: Option<Decimal>,
}

impl TradeTerms {
    /// Terms with the given prices and size.
    pub fn new(
        price: Option<Decimal>,
        stop: Option<Decimal>,
        units: Option<Decimal>,
        notional_value: Option<Decimal>,
    ) -> Self {
        Self {
            price,
            stop,
            units,
            notional_value,
        }
    }
}

/// `getOrderImpact`'s body (`ManualTradeForm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ManualTradeForm {
    /// The account.
    pub account_id: String,
    /// `BUY` or `SELL`.
    pub action: String,
    /// The universal symbol id.
    pub universal_symbol_id: String,
    /// `Market`, `Limit`, `Stop`, `StopLimit`.
    pub order_type: String,
    /// `Day`, `GTC`, `FOK`, `IOC`.
    pub time_in_force: String,
    /// Prices and size.
    #[serde(flatten)]
    pub terms: TradeTerms,
}

impl ManualTradeForm {
    /// A complete form.
    pub fn new(
        account_id: impl Into<String>,
        action: impl Into<String>,
        universal_symbol_id: impl Into<String>,
        order_type: impl Into<String>,
        time_in_force: impl Into<String>,
        terms: TradeTerms,
    ) -> Self {
        Self {
            account_id: account_id.into(),
            action: action.into(),
            universal_symbol_id: universal_symbol_id.into(),
            order_type: order_type.into(),
            time_in_force: time_in_force.into(),
            terms,
        }
    }
}

/// `placeForceOrder`'s body (`ManualTradeFormWithOptions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ManualTradeFormWithOptions {
    /// The account.
    pub account_id: String,
    /// `BUY`, `SELL`, `BUY_TO_OPEN`…
    pub action: String,
    /// The universal symbol id (or give `symbol`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub universal_symbol_id: Option<String>,
    /// The ticker or OCC symbol (or give `universal_symbol_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// `Market`, `Limit`, `Stop`, `StopLimit`.
    pub order_type: String,
    /// `Day`, `GTC`, `FOK`, `IOC`, `GTD`.
    pub time_in_force: String,
    /// Prices and size.
    #[serde(flatten)]
    pub terms: TradeTerms,
    /// Our idempotency id (a UUID), passed on to the brokerage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
}

impl ManualTradeFormWithOptions {
    /// A form by ticker; set `client_order_id` (or swap the ticker for a universal symbol id) by field.
    pub fn new(
        account_id: impl Into<String>,
        action: impl Into<String>,
        symbol: impl Into<String>,
        order_type: impl Into<String>,
        time_in_force: impl Into<String>,
        terms: TradeTerms,
    ) -> Self {
        Self {
            account_id: account_id.into(),
            action: action.into(),
            universal_symbol_id: None,
            symbol: Some(symbol.into()),
            order_type: order_type.into(),
            time_in_force: time_in_force.into(),
            terms,
            client_order_id: None,
        }
    }
}

/// `placeOrder`'s body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ValidatedTradeBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_to_confirm: Option<bool>,
}

/// `cancelOrder`'s body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CancelOrderBody<'a> {
    pub brokerage_order_id: &'a str,
}

/// The symbol searches' body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SymbolQuery<'a> {
    pub substring: &'a str,
}

/// A decimal as the JSON number Python's `json.dumps` would write for the float SnapTrade reads it into:
/// integers as integers, fractions in plain notation, scientific below 1e-4 (`1.5e-07`).
pub fn python_number(value: Decimal) -> Number {
    let value = value.normalize();
    let text = if value.scale() == 0 {
        value.to_string()
    } else {
        python_float_text(value)
    };
    Number::from_str(&text).expect("a decimal's text is a JSON number")
}

fn python_float_text(value: Decimal) -> String {
    let digits = value.mantissa().unsigned_abs().to_string();
    let sign = if value.is_sign_negative() { "-" } else { "" };
    // The exponent of the leading digit: 0.00012 has digits "12", scale 5 → -4.
    let exponent = digits.len() as i64 - i64::from(value.scale()) - 1;
    if exponent >= -4 {
        return value.to_string();
    }
    let (first, rest) = digits.split_at(1);
    let mantissa = if rest.is_empty() {
        first.to_owned()
    } else {
        format!("{first}.{rest}")
    };
    format!("{sign}{mantissa}e-{:02}", -exponent)
}

fn python_number_opt<S: Serializer>(
    value: &Option<Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => python_number(*value).serialize(serializer),
        None => serializer.serialize_none(),
    }
}

/// A decimal from a JSON number (its exact text) or a decimal string; `null` and `""` are absent.
pub(crate) fn lenient_decimal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(number) => parse_decimal(&number.to_string())
            .map(Some)
            .map_err(de::Error::custom),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => parse_decimal(text.trim())
            .map(Some)
            .map_err(de::Error::custom),
        other => Err(de::Error::custom(format!(
            "expected a decimal number or string, found {}",
            kind_of(&other)
        ))),
    }
}

fn parse_decimal(text: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| format!("`{}` is not a decimal number", cut(text)))
}

/// A timestamp in any of SnapTrade's spellings ([`parse_timestamp`](super::parse_timestamp): RFC 3339, Python's
/// `str(datetime)`, a bare date); `null` and `""` are absent, anything else unreadable is an error naming it.
pub(crate) fn lenient_timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => super::parse_timestamp(&text).map(Some).ok_or_else(|| {
            de::Error::custom(format!("`{}` is not a date or a date-time", cut(&text)))
        }),
        other => Err(de::Error::custom(format!(
            "expected a date-time string, found {}",
            kind_of(&other)
        ))),
    }
}

/// An id or code as text, whether SnapTrade sent a string or a number; `null` is absent.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        Value::Number(number) => Ok(Some(number.to_string())),
        other => Err(de::Error::custom(format!(
            "expected a string or number, found {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn cut(text: &str) -> &str {
    text.char_indices()
        .nth(64)
        .map_or(text, |(at, _)| &text[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    #[test]
    fn decimals_are_written_as_python_writes_the_float() {
        assert_eq!(python_number(dec("100")).to_string(), "100");
        assert_eq!(python_number(dec("100.00")).to_string(), "100");
        assert_eq!(python_number(dec("150.50")).to_string(), "150.5");
        assert_eq!(python_number(dec("0.0001")).to_string(), "0.0001");
        assert_eq!(python_number(dec("0.00001")).to_string(), "1e-05");
        assert_eq!(python_number(dec("-0.00000015")).to_string(), "-1.5e-07");
        assert_eq!(python_number(dec("1234567.125")).to_string(), "1234567.125");
    }

    #[test]
    fn prices_arrive_as_strings_or_numbers_and_keep_every_digit() {
        let position: AccountPosition = serde_json::from_str(
            r#"{"instrument":{"kind":"stock","symbol":"AAPL"},"units":"10.123456789012345678","price":190.1234567890123,"cost_basis":null}"#,
        )
        .unwrap();
        assert_eq!(position.units, Some(dec("10.123456789012345678")));
        assert_eq!(position.price, Some(dec("190.1234567890123")));
        assert_eq!(position.cost_basis, None);
    }

    #[test]
    fn a_price_that_is_not_a_number_is_a_parse_error_naming_the_text() {
        let error = serde_json::from_str::<Balance>(r#"{"cash":"lots"}"#).unwrap_err();
        assert!(
            error.to_string().contains("`lots` is not a decimal number"),
            "{error}"
        );
    }

    #[test]
    fn an_order_record_keeps_its_raw_json_and_unknown_fields() {
        let record: OrderRecord = serde_json::from_str(
            r#"{"brokerage_order_id":66844,"status":"SOMETHING_NEW","total_quantity":"5","extra":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(record.fields.brokerage_order_id.as_deref(), Some("66844"));
        assert_eq!(record.fields.status.as_deref(), Some("SOMETHING_NEW"));
        assert_eq!(record.raw["extra"]["a"], 1);
    }

    #[test]
    fn every_error_shape_yields_its_code_and_message() {
        let shapes = [
            (
                r#"{"detail":"Unable to verify signature sent","code":1076,"status_code":401}"#,
                "1076",
                "Unable to verify signature sent",
            ),
            (
                r#"{"default_detail":"Not found.","default_code":"1011"}"#,
                "1011",
                "Not found.",
            ),
            (
                r#"{"detail":"Request was throttled.","status_code":429,"code":"0000"}"#,
                "0000",
                "Request was throttled.",
            ),
        ];
        for (body, code, message) in shapes {
            let parsed: ErrorBody = serde_json::from_str(body).unwrap();
            assert_eq!(parsed.code().as_deref(), Some(code));
            assert_eq!(parsed.message().as_deref(), Some(message));
        }
        let not_implemented: ErrorBody =
            serde_json::from_str(r#"{"error":"Not implemented"}"#).unwrap();
        assert_eq!(not_implemented.code(), None);
        assert_eq!(
            not_implemented.message().as_deref(),
            Some("Not implemented")
        );
    }
}
