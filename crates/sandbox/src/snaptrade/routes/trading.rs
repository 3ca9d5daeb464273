//! Trading: the order form's checks, the impact, placing and cancelling orders.

use std::str::FromStr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::accounts::owned_account;
use super::connections::disabled_connection;
use super::{Ctx, Params, bad_request, error, json_body, not_found, user};
use crate::knobs::{MarketFill, lock};
use crate::reply::{ApiError, Reply};
use crate::snaptrade::state::{Order, PendingTrade, SnapState, impact_json, order_json};

/// A trade form's fields, checked.
struct TradeForm {
    account_id: Uuid,
    symbol: Uuid,
    action: String,
    order_type: String,
    time_in_force: String,
    units: Decimal,
    limit_price: Option<Decimal>,
    stop_price: Option<Decimal>,
}

fn decimal_field(body: &Value, name: &str) -> Result<Option<Decimal>, ApiError> {
    let invalid = || bad_request(&format!("{name} must be a decimal number"));
    match &body[name] {
        Value::Null => Ok(None),
        Value::Number(value) => Decimal::from_str(&value.to_string())
            .map(Some)
            .map_err(|_| invalid()),
        Value::String(text) => Decimal::from_str(text).map(Some).map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

pub(super) fn required_text<'a>(body: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    body[name]
        .as_str()
        .filter(|text| !text.is_empty())
        .ok_or_else(|| bad_request(&format!("{name} is required")))
}

/// Reads ManualTradeForm / ManualTradeFormWithOptions, checking what SnapTrade checks.
fn trade_form(
    state: &SnapState,
    user_id: &str,
    body: &Value,
    with_options: bool,
) -> Result<TradeForm, ApiError> {
    let account_id = owned_account(state, user_id, required_text(body, "account_id")?)?;
    let action = required_text(body, "action")?.to_owned();
    let actions: &[&str] = if with_options {
        &[
            "BUY",
            "SELL",
            "BUY_TO_OPEN",
            "BUY_TO_CLOSE",
            "SELL_TO_OPEN",
            "SELL_TO_CLOSE",
        ]
    } else {
        &["BUY", "SELL"]
    };
    if !actions.contains(&action.as_str()) {
        return Err(bad_request(&format!(
            "action must be one of {}",
            actions.join(", ")
        )));
    }
    let order_type = required_text(body, "order_type")?.to_owned();
    if !["Market", "Limit", "Stop", "StopLimit"].contains(&order_type.as_str()) {
        return Err(bad_request(
            "order_type must be one of Market, Limit, Stop, StopLimit",
        ));
    }
    let time_in_force = required_text(body, "time_in_force")?.to_owned();
    if !["Day", "GTC", "FOK", "IOC", "GTD"].contains(&time_in_force.as_str()) {
        return Err(bad_request(
            "time_in_force must be one of Day, GTC, FOK, IOC, GTD",
        ));
    }
    let symbol = resolve_symbol(state, body)?;
    let limit_price = decimal_field(body, "price")?;
    let stop_price = decimal_field(body, "stop")?;
    if matches!(order_type.as_str(), "Limit" | "StopLimit") && limit_price.is_none() {
        return Err(bad_request(
            "price is required for Limit and StopLimit orders",
        ));
    }
    if matches!(order_type.as_str(), "Stop" | "StopLimit") && stop_price.is_none() {
        return Err(bad_request(
            "stop is required for Stop and StopLimit orders",
        ));
    }
    // Prices of zero or less are refused: the spec (`Price`: "Trade Price if limit or stop limit order") is silent,
    // and refusing is the strictest plausible.
    if [limit_price, stop_price]
        .into_iter()
        .flatten()
        .any(|price| price <= Decimal::ZERO)
    {
        return Err(bad_request("price and stop must be positive numbers"));
    }
    let units = trade_units(state, body, symbol, &order_type, &time_in_force)?;
    Ok(TradeForm {
        account_id,
        symbol,
        action,
        order_type,
        time_in_force,
        units,
        limit_price,
        stop_price,
    })
}

fn resolve_symbol(state: &SnapState, body: &Value) -> Result<Uuid, ApiError> {
    let by_id = body["universal_symbol_id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok());
    let found = match (by_id, body["symbol"].as_str()) {
        (Some(id), _) => state.symbol(id),
        (None, Some(ticker)) => state.symbol_by_ticker(ticker),
        (None, None) => return Err(bad_request("universal_symbol_id or symbol is required")),
    };
    found
        .map(|symbol| symbol.id)
        .ok_or_else(|| bad_request("Symbol not found"))
}

/// snaptrade-openapi.yaml `components.schemas.Units`: "Must be `null` if `notional_value` is provided";
/// `NotionalValue`: "Must be `null` if `units` is provided. Can only work with `Market` for `order_type` and
/// `Day` for `time_in_force`." A size of zero or less is refused (spec silent: the strictest plausible).
fn trade_units(
    state: &SnapState,
    body: &Value,
    symbol: Uuid,
    order_type: &str,
    time_in_force: &str,
) -> Result<Decimal, ApiError> {
    let units = decimal_field(body, "units")?;
    let notional = decimal_field(body, "notional_value")?;
    match (units, notional) {
        (Some(units), None) if units > Decimal::ZERO => Ok(units),
        (None, Some(notional))
            if notional > Decimal::ZERO && order_type == "Market" && time_in_force == "Day" =>
        {
            let price = state
                .symbol(symbol)
                .map_or(Decimal::ONE, |found| found.price);
            Ok((notional / price).round_dp(6))
        }
        (None, Some(notional)) if notional > Decimal::ZERO => Err(bad_request(
            "notional_value is only allowed on Market orders with time_in_force Day",
        )),
        (Some(_), Some(_)) => Err(bad_request(
            "Provide either units or notional_value, not both",
        )),
        _ => Err(bad_request("units must be a positive number")),
    }
}

/// Refuses trading on read-only or disabled connections, as SnapTrade does: a disabled connection is 402
/// `402BrokerageAuthDisabledResponse` (code 3003); a read-only one 403 (`Trading_placeForceOrder`: "User does
/// not have permissions to place trades"; code 1141 of `403FeatureNotEnabledResponse`).
fn check_can_trade(state: &SnapState, account_id: Uuid) -> Result<(), ApiError> {
    let authorization = state
        .account(account_id)
        .and_then(|account| state.authorization(account.authorization_id))
        .ok_or_else(not_found)?;
    if authorization.disabled {
        return Err(disabled_connection());
    }
    if authorization.connection_type != "trade" {
        return Err(error(
            403,
            Some("1141"),
            "Trading is not enabled for this connection. Reconnect with connectionType=trade to place orders.",
        ));
    }
    Ok(())
}

fn new_order(form: TradeForm, client_order_id: Option<String>) -> Order {
    let now = Utc::now();
    Order {
        id: Uuid::new_v4(),
        account_id: form.account_id,
        client_order_id,
        symbol: form.symbol,
        action: form.action,
        order_type: form.order_type,
        time_in_force: form.time_in_force,
        units: form.units,
        limit_price: form.limit_price,
        stop_price: form.stop_price,
        status: "PENDING",
        filled_units: Decimal::ZERO,
        canceled_units: Decimal::ZERO,
        execution_price: None,
        placed: now,
        updated: now,
        executed: None,
    }
}

/// Stores `order`, fills it if it is a market order and the sandbox fills immediately, and renders it.
fn submit(state: &mut SnapState, mut order: Order) -> Value {
    let is_market = order.order_type == "Market";
    if !is_market {
        order.status = "ACCEPTED";
    }
    state.orders.push(order);
    let index = state.orders.len() - 1;
    if is_market && state.market_fill == MarketFill::Immediate {
        state.execute(index);
    }
    order_json(state, &state.orders[index])
}

pub(super) async fn order_impact(State(shared): Ctx, Query(params): Params, body: Bytes) -> Reply {
    let user_id = user(&shared, &params)?;
    let body = json_body(&body)?;
    let mut state = lock(&shared.state);
    let form = trade_form(&state, &user_id, &body, false)?;
    check_can_trade(&state, form.account_id)?;
    let order = new_order(form, None);
    let trade_id = Uuid::new_v4();
    let reply = impact_json(&state, trade_id, &order).ok_or_else(not_found)?;
    state.trades.insert(
        trade_id,
        PendingTrade {
            user_id,
            order,
            created: Utc::now(),
        },
    );
    Ok(Json(reply))
}

/// `Trading_placeOrder`: places "the previously checked order"; `Trading_getOrderImpact`: "the `Trade` object
/// returned expires after 5 minutes. Any order placed using an expired `Trade` will be rejected." (400, "Failed
/// to submit order to broker"). A trade id placed once is gone: the spec is silent on a second use, and
/// refusing it is the strictest plausible.
pub(super) async fn place_order(
    State(shared): Ctx,
    Query(params): Params,
    Path(trade_id): Path<String>,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let mut state = lock(&shared.state);
    state.forget_expired();
    let trade_id = Uuid::parse_str(&trade_id).map_err(|_| not_found())?;
    let trade = state
        .trades
        .remove(&trade_id)
        .filter(|trade| trade.user_id == user_id)
        .ok_or_else(|| {
            bad_request(
                "Trade not found: it expired, was already placed, or belongs to another user",
            )
        })?;
    check_can_trade(&state, trade.order.account_id)?;
    Ok(Json(submit(&mut state, trade.order)))
}

/// `Trading_placeForceOrder`: "Places a brokerage order in the specified account" (ManualTradeFormWithOptions),
/// 400 "Trade could not be placed", 403 "User does not have permissions to place trades".
pub(super) async fn place_force_order(
    State(shared): Ctx,
    Query(params): Params,
    body: Bytes,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let body = json_body(&body)?;
    let mut state = lock(&shared.state);
    let form = trade_form(&state, &user_id, &body, true)?;
    check_can_trade(&state, form.account_id)?;
    let client_order_id = client_order_id(&body)?;
    // No de-duplication on client_order_id: snaptrade-openapi.yaml, `components.schemas.ClientOrderID`:
    // "SnapTrade forwards this value to the broker but does not enforce uniqueness server-side." A second
    // placement with the same id places a second order, as the real SnapTrade may.
    Ok(Json(submit(&mut state, new_order(form, client_order_id))))
}

/// `client_order_id`, when sent: snaptrade-openapi.yaml, `components.schemas.ClientOrderID`: "Must be a
/// canonical 36-character UUID" (`type: string, format: uuid`, nullable). Anything else is refused with 400, the
/// status `Trading_placeForceOrder` documents for "Trade could not be placed" (the spec gives no code for it, so
/// none is invented).
fn client_order_id(body: &Value) -> Result<Option<String>, ApiError> {
    match &body["client_order_id"] {
        Value::Null => Ok(None),
        Value::String(text) if text.len() == 36 && Uuid::try_parse(text).is_ok() => {
            Ok(Some(text.clone()))
        }
        _ => Err(bad_request(
            "client_order_id must be a canonical 36-character UUID",
        )),
    }
}

pub(super) async fn cancel_order(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let body = json_body(&body)?;
    let order_id = required_text(&body, "brokerage_order_id")?;
    let order_id = Uuid::parse_str(order_id).map_err(|_| not_found())?;
    let mut state = lock(&shared.state);
    let account_id = owned_account(&state, &user_id, &id)?;
    check_can_trade(&state, account_id)?;
    let order = state
        .orders
        .iter_mut()
        .find(|order| order.id == order_id && order.account_id == account_id)
        .ok_or_else(not_found)?;
    if !order.is_open() {
        return Err(bad_request(&format!(
            "Order {order_id} is {} and can no longer be cancelled",
            order.status
        )));
    }
    order.status = "CANCELED";
    order.canceled_units = order.units - order.filled_units;
    order.updated = Utc::now();
    Ok(Json(json!({
        "brokerage_order_id": order_id.to_string(),
        "raw_response": {"id": order_id, "status": "canceled"}
    })))
}
