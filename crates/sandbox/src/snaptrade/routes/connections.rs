//! Authorizations (the API's Connections tag): list, detail, refresh, disable, their accounts, and removal.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Ctx, Params, error, not_found, user, uuid_param};
use crate::knobs::lock;
use crate::reply::{ApiError, Reply};
use crate::snaptrade::state::{SnapState, account_json, authorization_json};

/// The authorization `id` of the calling user.
fn owned_authorization(state: &SnapState, user_id: &str, id: &str) -> Result<Uuid, ApiError> {
    let id = uuid_param(id)?;
    state
        .authorization(id)
        .filter(|found| found.user_id == user_id)
        .map(|found| found.id)
        .ok_or_else(not_found)
}

pub(super) async fn list_authorizations(State(shared): Ctx, Query(params): Params) -> Reply {
    let user_id = user(&shared, &params)?;
    let state = lock(&shared.state);
    let list: Vec<Value> = state
        .authorizations
        .iter()
        .filter(|found| found.user_id == user_id)
        .map(authorization_json)
        .collect();
    Ok(Json(Value::Array(list)))
}

pub(super) async fn detail_authorization(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let state = lock(&shared.state);
    let id = owned_authorization(&state, &user_id, &id)?;
    Ok(Json(
        state
            .authorization(id)
            .map(authorization_json)
            .unwrap_or_default(),
    ))
}

pub(super) fn disabled_connection() -> ApiError {
    error(
        402,
        Some("3003"),
        "Unable to sync with brokerage account because the connection is disabled.",
    )
}

pub(super) async fn refresh_authorization(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let mut state = lock(&shared.state);
    let id = owned_authorization(&state, &user_id, &id)?;
    let authorization = state
        .authorizations
        .iter_mut()
        .find(|found| found.id == id)
        .ok_or_else(not_found)?;
    if authorization.disabled {
        return Err(disabled_connection());
    }
    authorization.refreshes += 1;
    authorization.updated = Utc::now();
    Ok(Json(
        json!({"detail": format!("Connection {id} scheduled for refresh")}),
    ))
}

pub(super) async fn disable_authorization(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let mut state = lock(&shared.state);
    let id = owned_authorization(&state, &user_id, &id)?;
    let authorization = state
        .authorizations
        .iter_mut()
        .find(|found| found.id == id)
        .ok_or_else(not_found)?;
    if authorization.disabled {
        return Err(error(
            402,
            Some("3011"),
            "This connection is already disabled.",
        ));
    }
    authorization.disabled = true;
    authorization.disabled_date = Some(Utc::now());
    Ok(Json(json!({"detail": format!("Connection {id} disabled")})))
}

pub(super) async fn authorization_accounts(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let state = lock(&shared.state);
    let id = owned_authorization(&state, &user_id, &id)?;
    let list: Vec<Value> = state
        .accounts
        .iter()
        .filter(|account| account.authorization_id == id)
        .map(|account| account_json(&state, account))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// snaptrade-openapi.yaml, `DELETE /connection/{connectionId}` (`Connections_deleteConnection`): "Deletes the
/// SnapTrade connection specified by the ID. This will also remove the accounts and holdings data associated with
/// the connection from SnapTrade", answered 200 with `DeleteConnectionConfirmation` (`detail`, `connection_id`);
/// "404: Not Found" for a connection that is not the user's (one deleted already included: "This action is
/// irreversible"), in `404FailedRequestResponse`'s shape (code 1011). The real deletion is queued; the sandbox
/// does it at once, so the answer and the state agree from then on.
pub(super) async fn delete_connection(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let mut state = lock(&shared.state);
    let id = owned_authorization(&state, &user_id, &id)?;
    remove_authorization_data(&mut state, id);
    Ok(Json(json!({
        "detail": "Connection deletion has been queued. Wait for the CONNECTION_DELETED webhook for confirmation.",
        "connection_id": id
    })))
}

/// snaptrade-openapi-legacy-2026-08-07.yaml, `DELETE /authorizations/{authorizationId}`
/// (`Connections_removeBrokerageAuthorization`, dropped from the current spec in favour of
/// `Connections_deleteConnection`): "This endpoint is synchronous, a 204 response indicates that the data has been
/// successfully deleted"; "404: Not Found" otherwise. Served for clients built on the older spec.
pub(super) async fn remove_authorization(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let user_id = user(&shared, &params)?;
    let mut state = lock(&shared.state);
    let id = owned_authorization(&state, &user_id, &id)?;
    remove_authorization_data(&mut state, id);
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The authorization, its accounts and their orders.
fn remove_authorization_data(state: &mut SnapState, id: Uuid) {
    let accounts: Vec<Uuid> = state
        .accounts
        .iter()
        .filter(|account| account.authorization_id == id)
        .map(|account| account.id)
        .collect();
    state
        .orders
        .retain(|order| !accounts.contains(&order.account_id));
    state
        .accounts
        .retain(|account| account.authorization_id != id);
    state.authorizations.retain(|found| found.id != id);
}
