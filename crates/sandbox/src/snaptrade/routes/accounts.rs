//! Accounts and what they hold (the API's Account Information tag): details, balances, positions, orders,
//! activities.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::trading::required_text;
use super::{Ctx, Params, Shared, bad_request, json_body, not_found, user, uuid_param};
use crate::knobs::lock;
use crate::reply::{ApiError, Reply};
use crate::snaptrade::state::{
    Activity, SnapState, account_json, activity_json, activity_spread, balances_json,
    generated_activity_type, order_json, positions_json,
};

pub(super) async fn list_accounts(State(shared): Ctx, Query(params): Params) -> Reply {
    let user_id = user(&shared, &params)?;
    let state = lock(&shared.state);
    let list: Vec<Value> = state
        .accounts
        .iter()
        .filter(|account| account.user_id == user_id)
        .map(|account| account_json(&state, account))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// The account `id` of the calling user. Another user's account answers exactly as an unknown one, 404
/// `404FailedRequestResponse` ("The requested resource does not exist.", code 1011): a user's credentials reach
/// only that user's accounts, and the answer does not even tell that the account exists (the account paths
/// document no 404 of their own; this is the spec's answer for a missing resource, the strictest plausible).
pub(super) fn owned_account(state: &SnapState, user_id: &str, id: &str) -> Result<Uuid, ApiError> {
    let id = uuid_param(id)?;
    state
        .account(id)
        .filter(|found| found.user_id == user_id)
        .map(|found| found.id)
        .ok_or_else(not_found)
}

/// Runs `render` on the caller's account `id`.
fn with_account(
    shared: &Shared,
    params: &HashMap<String, String>,
    id: &str,
    render: impl FnOnce(&SnapState, &crate::snaptrade::state::Account) -> Value,
) -> Reply {
    let user_id = user(shared, params)?;
    let state = lock(&shared.state);
    let id = owned_account(&state, &user_id, id)?;
    let account = state.account(id).ok_or_else(not_found)?;
    Ok(Json(render(&state, account)))
}

pub(super) async fn account_details(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    with_account(&shared, &params, &id, account_json)
}

pub(super) async fn account_balances(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    with_account(&shared, &params, &id, |_, account| balances_json(account))
}

pub(super) async fn account_positions(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    with_account(&shared, &params, &id, positions_json)
}

pub(super) async fn account_orders(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let wanted = params.get("state").map_or("all", String::as_str);
    if !matches!(wanted, "all" | "open" | "executed") {
        return Err(bad_request("state must be one of all, open, executed"));
    }
    // snaptrade-openapi.yaml, `AccountInformation_getUserAccountOrders`: `state` "defaults to "all"" (enum all,
    // open, executed); `days` "Defaults to the last 30 days if no value is passed in. Values greater than 90
    // will be capped at 90." (`minimum: 1`, so less is refused).
    let days = match params.get("days") {
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|days| *days >= 1)
            .map(|days| days.min(90)),
        None => Some(30),
    };
    let days = days.ok_or_else(|| bad_request("days must be an integer of at least 1"))?;
    let since = Utc::now() - Duration::days(days);
    with_account(&shared, &params, &id, |state, account| {
        let list: Vec<Value> = state
            .orders
            .iter()
            .filter(|order| order.account_id == account.id && order.placed >= since)
            .filter(|order| match wanted {
                "open" => order.is_open(),
                "executed" => order.status == "EXECUTED",
                _ => true,
            })
            .map(|order| order_json(state, order))
            .collect();
        Value::Array(list)
    })
}

/// `POST /accounts/{id}/orders/details`: one order by `brokerage_order_id`, e.g. to look an order up
/// after a placement timed out.
pub(super) async fn account_order_detail(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = json_body(&body)?;
    let order_id = required_text(&body, "brokerage_order_id")?;
    let order_id = Uuid::parse_str(order_id).map_err(|_| not_found())?;
    let user_id = user(&shared, &params)?;
    let state = lock(&shared.state);
    let account_id = owned_account(&state, &user_id, &id)?;
    let order = state
        .orders
        .iter()
        .find(|order| order.id == order_id && order.account_id == account_id);
    order
        .map(|order| Json(order_json(&state, order)))
        .ok_or_else(not_found)
}

/// SnapTrade's largest page of activities: `AccountInformation_getAccountActivities` "will return a maximum of
/// 1000 transactions per request".
const MAX_ACTIVITIES_PAGE: u64 = 1_000;

fn date_param(params: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    params
        .get(name)
        .map(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .transpose()
        .map_err(|_| bad_request(&format!("{name} must be a date in YYYY-MM-DD format")))
}

fn count_param(
    params: &HashMap<String, String>,
    name: &str,
    default: u64,
) -> Result<u64, ApiError> {
    params.get(name).map_or(Ok(default), |text| {
        text.parse()
            .map_err(|_| bad_request(&format!("{name} must be a non-negative integer")))
    })
}

/// `GET /accounts/{id}/activities`: executed sandbox orders, then the generated history, newest first,
/// filtered by date and type, one `offset`/`limit` page at a time.
pub(super) async fn account_activities(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let start = date_param(&params, "startDate")?.unwrap_or(NaiveDate::MIN);
    let end = date_param(&params, "endDate")?.unwrap_or(NaiveDate::MAX);
    let offset = count_param(&params, "offset", 0)?;
    // `limit`: "Default of 1000", `minimum: 1`; "The endpoint will return a maximum of 1000 transactions per
    // request", whatever the limit asked.
    let limit = count_param(&params, "limit", MAX_ACTIVITIES_PAGE)?;
    if limit < 1 {
        return Err(bad_request("limit must be at least 1"));
    }
    let limit = limit.min(MAX_ACTIVITIES_PAGE);
    let types: Option<Vec<String>> = params.get("type").map(|list| {
        list.split(',')
            .map(|kind| kind.trim().to_ascii_uppercase())
            .collect()
    });
    let wanted = |kind: &str| {
        types
            .as_ref()
            .is_none_or(|types| types.iter().any(|wanted| wanted == kind))
    };
    with_account(&shared, &params, &id, |state, account| {
        // "Transaction are returned in reverse chronological order, using the `trade_date` field": the orders
        // executed here are newer than the generated history, which ends the day before the account opened.
        // Built lazily, so an account of 100,000 activities costs one page's JSON.
        let matching = || {
            let executed = state.orders.iter().rev().filter(|order| {
                let day = order.executed.map(|at| at.date_naive());
                order.account_id == account.id
                    && day.is_some_and(|day| (start..=end).contains(&day))
                    && wanted(&order.action)
            });
            // `startDate`/`endDate`: "The start date (inclusive)", "The end date (inclusive)", by `trade_date`.
            let generated = activity_spread(account)
                .between(start, end)
                .filter(|&index| wanted(generated_activity_type(index)));
            executed
                .map(Activity::Executed)
                .chain(generated.map(Activity::Generated))
        };
        let total = matching().count();
        let page: Vec<Value> = matching()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|activity| activity_json(state, account, activity))
            .collect();
        // `PaginationDetails.total`: "The total number of items available to be returned over the API".
        json!({"data": page, "pagination": {"offset": offset, "limit": limit, "total": total}})
    })
}
