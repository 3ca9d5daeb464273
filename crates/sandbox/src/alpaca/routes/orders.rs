//! Orders of a trading account: listing, creating, reading by id or client order id, cancelling.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use super::{Ctx, Params, account_id, error, invalid, order_not_found};
use crate::alpaca::state::{AlpacaState, Instrument, Order, leg_json, order_json};
use crate::knobs::MarketFill;
use crate::knobs::lock;
use crate::reply::{ApiError, Reply};

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
pub(super) async fn list_orders(
    State(shared): Ctx,
    Path(id): Path<String>,
    Query(params): Params,
) -> Reply {
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

pub(super) async fn create_order(State(shared): Ctx, Path(id): Path<String>, body: Bytes) -> Reply {
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
    // `TradeUpdateEventType`: `accepted` "Sent when an order is received and accepted by Alpaca", `new` "Sent
    // when an order has been routed to exchanges for execution": the event names the status the order took.
    let event = state.orders[index].status;
    state.record_trade_event(index, event);
    if fills_now {
        state.fill(index);
    }
    let rendered = order_json(&state, &state.orders[index]);
    drop(state);
    shared.trade_events_changed.notify_waiters();
    Ok(Json(rendered))
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

pub(super) async fn get_order(
    State(shared): Ctx,
    Path((id, order_id)): Path<(String, String)>,
) -> Reply {
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
pub(super) async fn order_by_client_order_id(
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
pub(super) async fn cancel_order(
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
    // `canceled`: "Sent when your requested cancellation of an order is processed."
    if let Some(index) = state.orders.iter().position(|order| order.id == order_id) {
        state.record_trade_event(index, "canceled");
    }
    drop(state);
    shared.trade_events_changed.notify_waiters();
    Ok(StatusCode::NO_CONTENT)
}
