//! Alpaca Broker API paths behind HTTP Basic auth.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::state::{
    AlpacaState, Instrument, Order, account_json, leg_json, order_json, position_json,
    trade_account_json,
};
use crate::knobs::MarketFill;
use crate::knobs::{Dialect, lock};
use crate::reply::{ApiError, Reply};

/// The state and the key pair the server accepts.
pub(crate) struct Shared {
    pub(crate) state: Mutex<AlpacaState>,
    pub(crate) key_id: String,
    pub(crate) secret: String,
}

type Ctx = State<Arc<Shared>>;
type Params = Query<HashMap<String, String>>;

/// Alpaca's error body `{code, message}`.
pub(crate) fn error(status: u16, code: u64, message: &str) -> ApiError {
    ApiError::new(status, json!({"code": code, "message": message}))
}

fn invalid(message: &str) -> ApiError {
    error(422, 40_010_001, message)
}

fn account_not_found() -> ApiError {
    error(404, 40_410_000, "account not found")
}

fn order_not_found() -> ApiError {
    error(404, 40_410_000, "order not found")
}

/// How Alpaca words the injected faults.
pub(crate) struct AlpacaDialect;

impl Dialect for AlpacaDialect {
    fn rate_limited(&self, retry_after_secs: u64) -> ApiError {
        // Alpaca sends no Retry-After; X-RateLimit-Reset is the unix time the window reopens.
        let reset =
            Utc::now().timestamp() + i64::try_from(retry_after_secs).unwrap_or(i64::MAX / 2);
        error(429, 42_910_000, "rate limit exceeded")
            .with_header("x-ratelimit-limit", 200)
            .with_header("x-ratelimit-remaining", 0)
            .with_header("x-ratelimit-reset", reset)
    }

    fn server_error(&self, status: u16) -> ApiError {
        error(status, 50_010_000, "internal server error occurred")
    }

    fn gone(&self) -> ApiError {
        error(410, 41_010_000, "this endpoint has been retired")
    }
}

/// Every Broker API path the sandbox serves.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/accounts", get(list_accounts))
        .route("/v1/accounts/{account_id}", get(get_account))
        .route(
            "/v1/trading/accounts/{account_id}/account",
            get(trading_account),
        )
        .route(
            "/v1/trading/accounts/{account_id}/positions",
            get(positions),
        )
        .route(
            "/v1/trading/accounts/{account_id}/orders",
            get(list_orders).post(create_order),
        )
        .route(
            "/v1/trading/accounts/{account_id}/orders:by_client_order_id",
            get(order_by_client_order_id),
        )
        .route(
            "/v1/trading/accounts/{account_id}/orders/{order_id}",
            get(get_order).delete(cancel_order),
        )
        .fallback(|| async { error(404, 40_410_000, "endpoint not found") })
        .layer(middleware::from_fn_with_state(shared.clone(), basic_auth))
        .with_state(shared)
}

/// Refuses any request whose `Authorization: Basic` is not the sandbox's key pair: alpaca-broker-api.yaml
/// `components.securitySchemes.BasicAuth` (every Broker API path), answered 401 as
/// `components.responses.NotAuthorized` ("Client is not authorized for this operation.").
async fn basic_auth(State(shared): Ctx, request: Request, next: Next) -> Response {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", shared.key_id, shared.secret))
    );
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if sent == Some(expected.as_str()) {
        next.run(request).await
    } else {
        error(401, 40_110_000, "request is not authorized").into_response()
    }
}

/// An account the sandbox holds; any other id (unknown, or not a UUID) is 404, `components.responses.NotFound`
/// ("Resource does not exist."), which every `/v1/trading/accounts/{account_id}/…` path lists.
fn account_id(state: &AlpacaState, text: &str) -> Result<Uuid, ApiError> {
    let id = Uuid::parse_str(text).map_err(|_| account_not_found())?;
    state
        .account(id)
        .map(|account| account.id)
        .ok_or_else(account_not_found)
}

/// `GET /v1/accounts` (alpaca-broker-api.yaml `getAllAccounts`): every account the sandbox holds, as a list of
/// `AccountExtended` sorted by creation time (the spec: "Sorting is based on creation time"; the sandbox holds
/// fewer than the 1000 the spec caps the answer at).
async fn list_accounts(State(shared): Ctx) -> Reply {
    let state = lock(&shared.state);
    Ok(Json(Value::Array(
        state.accounts.iter().map(account_json).collect(),
    )))
}

async fn get_account(State(shared): Ctx, Path(id): Path<String>) -> Reply {
    let state = lock(&shared.state);
    let id = account_id(&state, &id)?;
    Ok(Json(
        state.account(id).map(account_json).unwrap_or_default(),
    ))
}

async fn trading_account(State(shared): Ctx, Path(id): Path<String>) -> Reply {
    let state = lock(&shared.state);
    let id = account_id(&state, &id)?;
    Ok(Json(
        state
            .account(id)
            .map(|account| trade_account_json(&state, account))
            .unwrap_or_default(),
    ))
}

async fn positions(State(shared): Ctx, Path(id): Path<String>) -> Reply {
    let state = lock(&shared.state);
    let id = account_id(&state, &id)?;
    let account = state.account(id).ok_or_else(account_not_found)?;
    Ok(Json(Value::Array(
        account
            .positions
            .iter()
            .map(|position| position_json(&state, position))
            .collect(),
    )))
}

fn time_param(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(name)
        .map(|text| DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)))
        .transpose()
        .map_err(|_| invalid(&format!("{name} must be an RFC 3339 timestamp")))
}

/// `getAllOrdersForAccount` (alpaca-broker-api.yaml `paths./v1/trading/accounts/{account_id}/orders.get`), paged as
/// the spec defines: `status` "open, closed or all. Defaults to open."; `limit` "Defaults to 50 and max is 500.";
/// `direction` (`components.parameters.Direction`: "The chronological order of response based on the submission
/// time. asc or desc. Defaults to desc."); `after` / `until` (`components.parameters.After`/`Until`: "only ones
/// submitted after / until this timestamp (exclusive)"), compared with each order's submission time to the
/// nanosecond; `symbols`; `nested` ("If true, the result will roll up multi-leg orders under the legs field of
/// primary order"), a boolean written `true`/`false` or, as alpaca-py 0.44.0 sends `GetOrdersRequest.nested`
/// through `requests`, `True`/`False`. Values outside those are refused with 422 (the spec is silent on how;
/// Alpaca's own validation errors are 422 `{code, message}`).
async fn list_orders(State(shared): Ctx, Path(id): Path<String>, Query(params): Params) -> Reply {
    let status = params.get("status").map_or("open", String::as_str);
    if !matches!(status, "open" | "closed" | "all") {
        return Err(invalid("status must be one of open, closed, all"));
    }
    let limit = params
        .get("limit")
        .map_or(Ok(50), |text| text.parse::<usize>())
        .map_err(|_| invalid("limit must be an integer"))?;
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit must be between 1 and 500"));
    }
    let ascending = match params.get("direction").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(invalid("direction must be asc or desc")),
    };
    let nested = match params.get("nested").map(String::as_str) {
        None | Some("false" | "False") => false,
        Some("true" | "True") => true,
        Some(_) => return Err(invalid("nested must be true or false")),
    };
    let (after, until) = (time_param(&params, "after")?, time_param(&params, "until")?);
    let symbols: Option<Vec<String>> = params
        .get("symbols")
        .map(|list| list.split(',').map(str::to_uppercase).collect());
    let state = lock(&shared.state);
    let id = account_id(&state, &id)?;
    let mut orders: Vec<&Order> = state
        .orders
        .iter()
        .filter(|order| order.account == id)
        .filter(|order| match status {
            "open" => order.is_open(),
            "closed" => !order.is_open(),
            _ => true,
        })
        .filter(|order| {
            after.is_none_or(|after| order.created > after)
                && until.is_none_or(|until| order.created < until)
        })
        .filter(|order| {
            symbols.as_ref().is_none_or(|wanted| {
                traded_symbols(&state, order).any(|symbol| wanted.contains(&symbol))
            })
        })
        .collect();
    if !ascending {
        orders.reverse();
    }
    // Not nested, a multi-leg order is listed without its legs, and each leg as an order of its own after it.
    let listed = orders.into_iter().flat_map(|order| {
        let mut rendered = order_json(&state, order);
        let legs = match &order.instrument {
            Instrument::Legs(legs) if !nested => {
                rendered["legs"] = Value::Null;
                legs.iter().map(|leg| leg_json(order, leg)).collect()
            }
            _ => Vec::new(),
        };
        std::iter::once(rendered).chain(legs)
    });
    Ok(Json(Value::Array(listed.take(limit).collect())))
}

/// The symbols an order trades, upper-cased: its asset's, or its legs' contracts'.
fn traded_symbols<'a>(
    state: &'a AlpacaState,
    order: &'a Order,
) -> impl Iterator<Item = String> + 'a {
    let (asset, legs) = match &order.instrument {
        Instrument::Asset(asset) => (state.asset(*asset), &[][..]),
        Instrument::Legs(legs) => (None, legs.as_slice()),
    };
    asset
        .map(|asset| asset.symbol.to_uppercase())
        .into_iter()
        .chain(legs.iter().map(|leg| leg.symbol.to_uppercase()))
}

fn decimal_field(body: &Value, name: &str) -> Result<Option<Decimal>, ApiError> {
    match &body[name] {
        Value::Null => Ok(None),
        Value::String(text) => Decimal::from_str(text)
            .map(Some)
            .map_err(|_| invalid(&format!("invalid {name}"))),
        Value::Number(number) => Decimal::from_str(&number.to_string())
            .map(Some)
            .map_err(|_| invalid(&format!("invalid {name}"))),
        _ => Err(invalid(&format!("invalid {name}"))),
    }
}

fn one_of<'a>(body: &'a Value, name: &str, allowed: &[&str]) -> Result<&'a str, ApiError> {
    let value = body[name]
        .as_str()
        .ok_or_else(|| invalid(&format!("{name} is required")))?;
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(invalid(&format!("invalid {name}: {value}")))
    }
}

async fn create_order(State(shared): Ctx, Path(id): Path<String>, body: Bytes) -> Reply {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| error(400, 40_010_000, "request body format is invalid"))?;
    let mut state = lock(&shared.state);
    let account = account_id(&state, &id)?;
    let mut order = parse_order(&state, account, &body)?;
    // A reused id is refused, whatever the first order's state: `CreateOrderRequest.client_order_id` is "A
    // unique identifier for the order"; Alpaca answers 422 "client_order_id must be unique" even after the
    // first was cancelled (alpaca-py#260; the spec's createOrderForAccount lists `'422': Some parameters are
    // not valid`).
    if state.orders.iter().any(|existing| {
        existing.account == account && existing.client_order_id == order.client_order_id
    }) {
        return Err(invalid("client_order_id must be unique"));
    }
    check_buying_power(&state, &order)?;
    let fills_now = order.order_type == "market" && state.market_fill == MarketFill::Immediate;
    order.status = if order.order_type == "market" {
        "accepted"
    } else {
        "new"
    };
    state.orders.push(order);
    let index = state.orders.len() - 1;
    if fills_now {
        state.fill(index);
    }
    Ok(Json(order_json(&state, &state.orders[index])))
}

fn parse_order(state: &AlpacaState, account: Uuid, body: &Value) -> Result<Order, ApiError> {
    let symbol = body["symbol"]
        .as_str()
        .ok_or_else(|| invalid("symbol is required"))?;
    let asset = state
        .asset_by_symbol(symbol)
        .ok_or_else(|| invalid(&format!("asset not found: {symbol}")))?;
    let side = one_of(body, "side", &["buy", "sell"])?.to_owned();
    let order_type = one_of(
        body,
        "type",
        &["market", "limit", "stop", "stop_limit", "trailing_stop"],
    )?
    .to_owned();
    let time_in_force = one_of(
        body,
        "time_in_force",
        &["day", "gtc", "opg", "cls", "ioc", "fok"],
    )?
    .to_owned();
    let (qty, notional) = (
        decimal_field(body, "qty")?,
        decimal_field(body, "notional")?,
    );
    // alpaca-broker-api.yaml, `CreateOrderRequest.notional`: "Dollar amount to trade. Cannot work with qty.
    // Only market and limit orders supported with time_in_force = day"; `CreateOrderRequest.qty`: "the number
    // of shares to trade. Can be fractionable for only market and day order types." A size of zero or less is
    // refused: the spec is silent, and no order for nothing is plausible.
    match (qty, notional) {
        (Some(_), Some(_)) => return Err(invalid("qty and notional are mutually exclusive")),
        (None, None) => return Err(invalid("qty or notional is required")),
        (_, Some(_))
            if !matches!(order_type.as_str(), "market" | "limit") || time_in_force != "day" =>
        {
            return Err(invalid(
                "notional orders must be market or limit orders with time_in_force day",
            ));
        }
        (Some(qty), _) | (_, Some(qty)) if qty <= Decimal::ZERO => {
            return Err(invalid("qty must be > 0"));
        }
        (Some(qty), None)
            if qty.fract() != Decimal::ZERO
                && (order_type != "market" || time_in_force != "day") =>
        {
            return Err(invalid(
                "fractional orders must be market orders with time_in_force day",
            ));
        }
        _ => {}
    }
    let limit_price = decimal_field(body, "limit_price")?;
    let stop_price = decimal_field(body, "stop_price")?;
    // `CreateOrderRequest.limit_price`/`stop_price`: "Required if type is limit or stop_limit" / "stop or
    // stop_limit"; a price of zero or less is refused (spec silent: the strictest plausible).
    if [limit_price, stop_price]
        .into_iter()
        .flatten()
        .any(|price| price <= Decimal::ZERO)
    {
        return Err(invalid("limit_price and stop_price must be > 0"));
    }
    if matches!(order_type.as_str(), "limit" | "stop_limit") && limit_price.is_none() {
        return Err(invalid("limit_price is required"));
    }
    if matches!(order_type.as_str(), "stop" | "stop_limit") && stop_price.is_none() {
        return Err(invalid("stop_price is required"));
    }
    // `CreateOrderRequest.client_order_id`: "A unique identifier for the order. Automatically generated if not
    // sent. (<= 128 characters)"; an empty one is refused (spec silent: the strictest plausible).
    let client_order_id = match body["client_order_id"].as_str() {
        Some("") => return Err(invalid("client_order_id must not be empty")),
        Some(text) if text.chars().count() > 128 => {
            return Err(invalid("client_order_id must be at most 128 characters"));
        }
        Some(text) => text.to_owned(),
        None => Uuid::new_v4().to_string(),
    };
    let now = Utc::now();
    Ok(Order {
        id: Uuid::new_v4(),
        account,
        client_order_id,
        instrument: Instrument::Asset(asset.id),
        seeded: false,
        side,
        order_type,
        time_in_force,
        qty,
        notional,
        limit_price,
        stop_price,
        extended_hours: body["extended_hours"].as_bool().unwrap_or(false),
        status: "new",
        filled_qty: Decimal::ZERO,
        filled_avg_price: None,
        created: now,
        updated: now,
        filled_at: None,
        canceled_at: None,
    })
}

/// Refuses a buy the account's cash cannot cover, with Alpaca's 403: `createOrderForAccount` lists
/// `'403': Forbidden`; the body `{code: 40310000, message: "insufficient buying power", buying_power,
/// cost_basis}` is the one Alpaca sends (research/alpaca.md).
fn check_buying_power(state: &AlpacaState, order: &Order) -> Result<(), ApiError> {
    if order.side != "buy" {
        return Ok(());
    }
    let price = order
        .limit_price
        .or_else(|| {
            order
                .asset()
                .and_then(|asset| state.asset(asset))
                .map(|asset| asset.price)
        })
        .unwrap_or_default();
    let cost = order
        .notional
        .unwrap_or_else(|| order.qty.unwrap_or_default() * price);
    let cash = state
        .account(order.account)
        .map_or(Decimal::ZERO, |account| account.cash);
    if cost > cash {
        let mut refusal = error(403, 40_310_000, "insufficient buying power");
        refusal.body["buying_power"] = Value::String(cash.to_string());
        refusal.body["cost_basis"] = Value::String(cost.round_dp(2).to_string());
        return Err(refusal);
    }
    Ok(())
}

async fn get_order(State(shared): Ctx, Path((id, order_id)): Path<(String, String)>) -> Reply {
    let state = lock(&shared.state);
    let account = account_id(&state, &id)?;
    let order_id = Uuid::parse_str(&order_id).map_err(|_| order_not_found())?;
    let found = state
        .orders
        .iter()
        .find(|order| order.account == account && order.id == order_id);
    found
        .map(|order| Json(order_json(&state, order)))
        .ok_or_else(order_not_found)
}

/// `getOrderByClientOrderIdForAccount`: "Retrieves a single order specified by the client order ID", of any
/// status and age; `'404': NotFound` when the account holds none.
async fn order_by_client_order_id(
    State(shared): Ctx,
    Path(id): Path<String>,
    Query(params): Params,
) -> Reply {
    let client_order_id = params
        .get("client_order_id")
        .ok_or_else(|| invalid("client_order_id is required"))?;
    let state = lock(&shared.state);
    let account = account_id(&state, &id)?;
    let found = state
        .orders
        .iter()
        .find(|order| order.account == account && &order.client_order_id == client_order_id);
    found
        .map(|order| Json(order_json(&state, order)))
        .ok_or_else(order_not_found)
}

/// `deleteOrderForAccount`: "If the order is no longer cancelable (for example if the status is "filled"), the
/// server will respond with status 422 … Upon acceptance of the cancel request, it returns status 204.";
/// `'404': NotFound` for an order the account does not hold.
async fn cancel_order(
    State(shared): Ctx,
    Path((id, order_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let mut state = lock(&shared.state);
    let account = account_id(&state, &id)?;
    let order_id = Uuid::parse_str(&order_id).map_err(|_| order_not_found())?;
    let order = state
        .orders
        .iter_mut()
        .find(|order| order.account == account && order.id == order_id)
        .ok_or_else(order_not_found)?;
    if !order.is_open() {
        return Err(error(422, 42_210_000, "order is not cancelable"));
    }
    let now = Utc::now();
    order.status = "canceled";
    order.canceled_at = Some(now);
    order.updated = now;
    Ok(StatusCode::NO_CONTENT)
}
