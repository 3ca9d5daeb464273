//! SnapTrade users (the API's Authentication tag): register, delete, reset a secret, list.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Ctx, Params, bad_request, error, json_body, new_secret, not_found, user};
use crate::knobs::lock;
use crate::reply::Reply;
use crate::snaptrade::state::SnapState;

pub(super) async fn register_user(State(shared): Ctx, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let user_id = body["userId"].as_str().filter(|id| !id.trim().is_empty());
    let user_id = user_id
        .ok_or_else(|| bad_request("userId is required"))?
        .to_owned();
    let mut state = lock(&shared.state);
    if state.users.contains_key(&user_id) {
        return Err(error(400, Some("1010"), "User already exist"));
    }
    let secret = new_secret();
    state.users.insert(user_id.clone(), secret.clone());
    Ok(Json(json!({"userId": user_id, "userSecret": secret})))
}

/// snaptrade-openapi.yaml, `DELETE /snapTrade/deleteUser` (`Authentication_deleteSnapTradeUser`): "Deletes a
/// registered user and all associated data. This action is irreversible", answered 200 with `DeleteUserResponse`
/// (`status` "is always `deleted`", `detail`, `userId`); "404: Not Found" for a user it does not know, one deleted
/// already included. Queued at SnapTrade, done at once here; the user's secret stops opening anything (401 code
/// 1083 from then on).
pub(super) async fn delete_user(State(shared): Ctx, Query(params): Params) -> Reply {
    let user_id = params
        .get("userId")
        .ok_or_else(|| bad_request("userId is required"))?
        .clone();
    let mut state = lock(&shared.state);
    if state.users.remove(&user_id).is_none() {
        return Err(not_found());
    }
    remove_user_data(&mut state, &user_id);
    Ok(Json(json!({
        "status": "deleted",
        "detail": format!("User {user_id} deleted; wait for the USER_DELETED webhook for confirmation."),
        "userId": user_id
    })))
}

fn remove_user_data(state: &mut SnapState, user_id: &str) {
    let accounts: Vec<Uuid> = state
        .accounts
        .iter()
        .filter(|account| account.user_id == user_id)
        .map(|account| account.id)
        .collect();
    state
        .orders
        .retain(|order| !accounts.contains(&order.account_id));
    state.accounts.retain(|account| account.user_id != user_id);
    state
        .authorizations
        .retain(|authorization| authorization.user_id != user_id);
    state
        .sessions
        .retain(|_, session| session.user_id != user_id);
}

pub(super) async fn reset_user_secret(
    State(shared): Ctx,
    Query(params): Params,
    body: Bytes,
) -> Reply {
    let body = json_body(&body)?;
    let field = |name: &str| {
        body[name]
            .as_str()
            .map(str::to_owned)
            .or_else(|| params.get(name).cloned())
    };
    let credentials = HashMap::from([
        ("userId".to_owned(), field("userId").unwrap_or_default()),
        (
            "userSecret".to_owned(),
            field("userSecret").unwrap_or_default(),
        ),
    ]);
    let user_id = user(&shared, &credentials)?;
    let secret = new_secret();
    lock(&shared.state)
        .users
        .insert(user_id.clone(), secret.clone());
    Ok(Json(json!({"userId": user_id, "userSecret": secret})))
}

pub(super) async fn list_users(State(shared): Ctx) -> Json<Value> {
    Json(json!(lock(&shared.state).users.keys().collect::<Vec<_>>()))
}
