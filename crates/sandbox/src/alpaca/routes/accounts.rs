//! Accounts (`/v1/accounts`, `/v1/trading/accounts/{account_id}/account`) and their positions.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::{Ctx, account_id, account_not_found};
use crate::alpaca::state::{account_json, position_json, trade_account_json};
use crate::knobs::lock;
use crate::reply::Reply;

/// `GET /v1/accounts` (alpaca-broker-api.yaml `getAllAccounts`): every account the sandbox holds, as a list of
/// `AccountExtended` sorted by creation time (the spec: "Sorting is based on creation time"; the sandbox holds
/// fewer than the 1000 the spec caps the answer at).
pub(super) async fn list_accounts(State(shared): Ctx) -> Reply {
    let state = lock(&shared.state);
    Ok(Json(Value::Array(
        state.accounts.iter().map(account_json).collect(),
    )))
}

pub(super) async fn get_account(State(shared): Ctx, Path(id): Path<String>) -> Reply {
    let state = lock(&shared.state);
    let id = account_id(&state, &id)?;
    Ok(Json(
        state.account(id).map(account_json).unwrap_or_default(),
    ))
}

pub(super) async fn trading_account(State(shared): Ctx, Path(id): Path<String>) -> Reply {
    let state = lock(&shared.state);
    let id = account_id(&state, &id)?;
    Ok(Json(
        state
            .account(id)
            .map(|account| trade_account_json(&state, account))
            .unwrap_or_default(),
    ))
}

pub(super) async fn positions(State(shared): Ctx, Path(id): Path<String>) -> Reply {
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
