//! The connection portal: the login link and the page that plays the user connecting a brokerage.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::{Ctx, Params, bad_request, json_body, not_found, user};
use crate::knobs::lock;
use crate::reply::Reply;
use crate::snaptrade::SeedConnection;
use crate::snaptrade::state::PortalSession;

pub(super) async fn login(
    State(shared): Ctx,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let body = json_body(&body)?;
    let connection_type = match body["connectionType"].as_str().unwrap_or("read") {
        "read" => "read",
        "trade" | "trade-if-available" => "trade",
        _ => {
            return Err(bad_request(
                "connectionType must be one of read, trade, trade-if-available",
            ));
        }
    };
    let broker = body["broker"]
        .as_str()
        .unwrap_or("ALPACA")
        .to_ascii_uppercase();
    let mut state = lock(&shared.state);
    let reconnect = match body["reconnect"].as_str() {
        Some(id) => {
            let id = Uuid::parse_str(id)
                .map_err(|_| bad_request("reconnect must be a connection id"))?;
            state
                .authorization(id)
                .filter(|found| found.user_id == user_id)
                .ok_or_else(not_found)?;
            Some(id)
        }
        None => None,
    };
    state.forget_expired();
    let session_id = Uuid::new_v4().to_string();
    let session = PortalSession {
        user_id,
        broker,
        connection_type: connection_type.to_owned(),
        reconnect,
        created: Utc::now(),
    };
    state.sessions.insert(session_id.clone(), session);
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    Ok(Json(
        json!({"redirectURI": format!("http://{host}/portal/{session_id}"), "sessionId": session_id}),
    ))
}

/// The connection portal: fetching a session's URL plays the user logging in at the brokerage.
pub(super) async fn portal(State(shared): Ctx, Path(session_id): Path<String>) -> Response {
    let mut state = lock(&shared.state);
    state.forget_expired();
    let Some(session) = state.sessions.remove(&session_id) else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            Html("<p>This connection link has expired.</p>"),
        )
            .into_response();
    };
    let authorization_id = match session.reconnect {
        Some(id) => {
            if let Some(found) = state.authorizations.iter_mut().find(|found| found.id == id) {
                found.disabled = false;
                found.disabled_date = None;
                found.updated = Utc::now();
            }
            id
        }
        None => {
            // What a user linking at the portal gets: two accounts holding a stock, an ETF and (the
            // first) an option, each with two years of history.
            let seed = SeedConnection {
                broker: session.broker.clone(),
                connection_type: session.connection_type.clone(),
                accounts: 2,
                positions_per_account: 3,
                ..SeedConnection::default()
            };
            state.connect(&session.user_id, &seed).0
        }
    };
    Html(format!(
        "<p>Connection {authorization_id} is ready. You can close this window.</p>"
    ))
    .into_response()
}
