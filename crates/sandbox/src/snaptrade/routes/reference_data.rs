//! Symbol search (the API's Reference Data tag).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::Value;
use uuid::Uuid;

use super::accounts::owned_account;
use super::trading::required_text;
use super::{Ctx, Params, json_body, not_found, user};
use crate::knobs::lock;
use crate::reply::Reply;
use crate::snaptrade::state::{SnapState, universal_symbol_json};

fn search(state: &SnapState, substring: &str) -> Value {
    let needle = substring.to_lowercase();
    let found: Vec<Value> = state
        .symbols
        .iter()
        .filter(|symbol| {
            symbol.ticker.to_lowercase().contains(&needle)
                || symbol.name.to_lowercase().contains(&needle)
        })
        .take(20)
        .map(universal_symbol_json)
        .collect();
    Value::Array(found)
}

pub(super) async fn symbol_search(State(shared): Ctx, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let substring = body["substring"].as_str().unwrap_or("");
    Ok(Json(search(&lock(&shared.state), substring)))
}

pub(super) async fn account_symbol_search(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let body = json_body(&body)?;
    let substring = required_text(&body, "substring")?;
    let state = lock(&shared.state);
    owned_account(&state, &user_id, &id)?;
    Ok(Json(search(&state, substring)))
}

pub(super) async fn symbol_by_ticker(State(shared): Ctx, Path(query): Path<String>) -> Reply {
    let state = lock(&shared.state);
    let by_id = Uuid::parse_str(&query).ok().and_then(|id| state.symbol(id));
    let found = by_id
        .or_else(|| state.symbol_by_ticker(&query))
        .ok_or_else(not_found)?;
    Ok(Json(universal_symbol_json(found)))
}
