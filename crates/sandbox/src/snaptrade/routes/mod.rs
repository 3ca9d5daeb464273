//! SnapTrade's paths, its signature check, and the handlers.

mod accounts;
mod connections;
mod portal;
mod reference_data;
mod revisions;
mod trading;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use self::accounts::{
    account_balances, account_details, account_order_detail, account_orders, account_positions,
    list_accounts,
};
use self::connections::{
    authorization_accounts, delete_connection, detail_authorization, disable_authorization,
    list_authorizations, refresh_authorization, remove_authorization,
};
use self::portal::{login, portal};
use self::reference_data::{account_symbol_search, symbol_by_ticker, symbol_search};
use self::trading::{cancel_order, order_impact, place_force_order, place_order};
use self::users::{delete_user, list_users, register_user, reset_user_secret};
use super::signature;
use super::state::SnapState;
use crate::knobs::{Dialect, lock};
use crate::reply::ApiError;

/// How far a request's `timestamp` may be from the sandbox clock (SnapTrade documents no value).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// The state and the credentials the handlers check.
pub(crate) struct Shared {
    pub(crate) state: Mutex<SnapState>,
    pub(crate) client_id: String,
    pub(crate) consumer_key: String,
    /// Revised, withdrawn and failing activities (test knobs).
    pub(crate) revisions: Mutex<revisions::Revisions>,
}

type Ctx = State<Arc<Shared>>;
type Params = Query<HashMap<String, String>>;

/// SnapTrade's error body: `{detail, status_code, code}`.
pub(crate) fn error(status: u16, code: Option<&str>, detail: &str) -> ApiError {
    let mut body = json!({"detail": detail, "status_code": status});
    if let Some(code) = code {
        body["code"] = Value::String(code.to_owned());
    }
    ApiError::new(status, body)
}

fn not_found() -> ApiError {
    error(404, Some("1011"), "The requested resource does not exist.")
}

/// A refused request body. SnapTrade's spec gives no code for validation failures, so none is invented.
fn bad_request(detail: &str) -> ApiError {
    error(400, None, detail)
}

/// How SnapTrade words the injected faults.
pub(crate) struct SnapTradeDialect;

impl Dialect for SnapTradeDialect {
    fn rate_limited(&self, retry_after_secs: u64) -> ApiError {
        let detail =
            format!("Request was throttled. Expected available in {retry_after_secs} seconds.");
        error(429, Some("0000"), &detail)
            .with_header("retry-after", retry_after_secs)
            .with_header("x-ratelimit-limit", 250)
            .with_header("x-ratelimit-remaining", 0)
            .with_header("x-ratelimit-reset", retry_after_secs)
    }

    fn server_error(&self, status: u16) -> ApiError {
        match status {
            503 => error(
                503,
                Some("3002"),
                "The brokerage is currently unavailable. Please try again later.",
            ),
            _ => error(
                status,
                Some("1000"),
                "An internal error occurred. Please try again later.",
            ),
        }
    }

    fn gone(&self) -> ApiError {
        ApiError::new(
            410,
            json!({"detail": "This endpoint is no longer available for your account."}),
        )
    }
}

/// Every SnapTrade path the sandbox serves: at the root, and again under the legacy `/api/v1` prefix,
/// whose answers carry SnapTrade's `Deprecation` header.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = api_routes();
    Router::new()
        .route("/", get(status))
        .route("/portal/{session_id}", get(portal))
        .merge(api.clone())
        .nest(
            "/api/v1",
            api.layer(middleware::map_response(deprecated_prefix)),
        )
        .fallback(|| async { not_found() })
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            verify_signature,
        ))
        .with_state(shared)
}

/// Marks an answer to a legacy `/api/v1` path as SnapTrade does (the prefix, not the endpoint, is deprecated).
async fn deprecated_prefix(mut response: Response) -> Response {
    response.headers_mut().insert(
        "deprecation",
        axum::http::HeaderValue::from_static("@1781222400"),
    );
    response
}

fn api_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/snapTrade/registerUser", post(register_user))
        .route("/snapTrade/deleteUser", delete(delete_user))
        .route("/snapTrade/resetUserSecret", post(reset_user_secret))
        .route("/snapTrade/listUsers", get(list_users))
        .route("/snapTrade/login", post(login))
        .route("/authorizations", get(list_authorizations))
        .route(
            "/authorizations/{authorization_id}",
            get(detail_authorization).delete(remove_authorization),
        )
        .route(
            "/authorizations/{authorization_id}/refresh",
            post(refresh_authorization),
        )
        .route(
            "/authorizations/{authorization_id}/disable",
            post(disable_authorization),
        )
        .route(
            "/authorizations/{authorization_id}/accounts",
            get(authorization_accounts),
        )
        .route("/connection/{connection_id}", delete(delete_connection))
        .route("/accounts", get(list_accounts))
        .route("/accounts/{account_id}", get(account_details))
        .route("/accounts/{account_id}/balances", get(account_balances))
        .route(
            "/accounts/{account_id}/positions/all",
            get(account_positions),
        )
        .route("/accounts/{account_id}/orders", get(account_orders))
        .route(
            "/accounts/{account_id}/activities",
            get(revisions::account_activities),
        )
        .route(
            "/accounts/{account_id}/orders/details",
            post(account_order_detail),
        )
        .route("/accounts/{account_id}/trading/cancel", post(cancel_order))
        .route(
            "/accounts/{account_id}/symbols",
            post(account_symbol_search),
        )
        .route("/accounts/{account_id}/holdings", get(retired))
        .route("/accounts/{account_id}/positions", get(retired))
        .route("/accounts/{account_id}/options", get(retired))
        .route("/holdings", get(retired))
        .route("/trade/impact", post(order_impact))
        .route("/trade/place", post(place_force_order))
        .route("/trade/{trade_id}", post(place_order))
        .route("/symbols", post(symbol_search))
        .route("/symbols/{query}", get(symbol_by_ticker))
}

/// Checks clientId, timestamp freshness and the `Signature` header, as SnapTrade does before anything else:
/// snaptrade-openapi.yaml `components.securitySchemes` (`PartnerClientId` and `PartnerTimestamp` in the query,
/// `PartnerSignature` in the `Signature` header); a refusal is 401 `401FailedRequestResponse` ("Unable to verify
/// signature sent", code 1076). The spec gives no freshness window: [`TIMESTAMP_TOLERANCE_SECS`] is ours.
async fn verify_signature(State(shared): Ctx, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/" || path.starts_with("/portal/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if let Err(refusal) = check_request(&shared, &parts.uri, &parts.headers, &body) {
        return refusal.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

fn check_request(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let query = uri.query().unwrap_or("");
    let Query(params) =
        Query::<HashMap<String, String>>::try_from_uri(uri).map_err(|_| bad_signature())?;
    if params.get("clientId") != Some(&shared.client_id) {
        return Err(error(401, Some("1076"), "Invalid clientId provided"));
    }
    let timestamp = params
        .get("timestamp")
        .and_then(|text| text.parse::<i64>().ok());
    let fresh = timestamp
        .is_some_and(|sent| (Utc::now().timestamp() - sent).abs() <= TIMESTAMP_TOLERANCE_SECS);
    if !fresh {
        return Err(error(
            401,
            Some("1076"),
            "Invalid or expired timestamp provided",
        ));
    }
    let content = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: Value = serde_json::from_slice(body).map_err(|_| {
            ApiError::new(
                400,
                json!({"detail": "Unable to verify data sent", "code": "1076"}),
            )
        })?;
        Some(parsed)
    };
    let expected_message = {
        let content = match content {
            Some(Value::Object(map)) if map.is_empty() => Value::Null,
            Some(value) => value,
            None => Value::Null,
        };
        signature::canonical_json(&json!({"content": content, "path": uri.path(), "query": query}))
    };
    let claimed = headers
        .get("Signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if signature::verify_text(&shared.consumer_key, &expected_message, claimed) {
        Ok(())
    } else {
        Err(bad_signature())
    }
}

fn bad_signature() -> ApiError {
    error(401, Some("1076"), "Unable to verify signature sent")
}

/// The user named by `userId`/`userSecret` (required query parameters of every user-scoped path), or 401: the
/// spec lists no status for wrong user credentials; 401 with SnapTrade's code 1083 is what it answers.
fn user(shared: &Shared, params: &HashMap<String, String>) -> Result<String, ApiError> {
    let refused = || error(401, Some("1083"), "Invalid userID or userSecret provided");
    let user_id = params.get("userId").ok_or_else(refused)?;
    let secret = params.get("userSecret").ok_or_else(refused)?;
    let state = lock(&shared.state);
    match state.users.get(user_id) {
        Some(stored) if stored == secret => Ok(user_id.clone()),
        _ => Err(refused()),
    }
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| bad_request("Request body is not valid JSON"))
}

fn uuid_param(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| not_found())
}

fn new_secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

async fn status() -> Json<Value> {
    Json(json!({"version": 151, "timestamp": super::state::timestamp(Utc::now()), "online": true}))
}

async fn retired() -> ApiError {
    SnapTradeDialect.gone()
}
