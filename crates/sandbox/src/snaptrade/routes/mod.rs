//! SnapTrade's paths, its signature check, and the handlers.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::state::{
    Activity, Order, PendingTrade, PortalSession, SnapState, account_json, activity_json,
    activity_spread, authorization_json, balances_json, generated_activity_type, impact_json,
    order_json, positions_json, universal_symbol_json,
};
use super::{SeedConnection, signature};
use crate::knobs::{Dialect, MarketFill, lock};
use crate::reply::{ApiError, Reply};

/// How far a request's `timestamp` may be from the sandbox clock (SnapTrade documents no value).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// The state and the credentials the handlers check.
pub(crate) struct Shared {
    pub(crate) state: Mutex<SnapState>,
    pub(crate) client_id: String,
    pub(crate) consumer_key: String,
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
            get(detail_authorization),
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
        .route("/accounts/{account_id}/activities", get(account_activities))
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

async fn register_user(State(shared): Ctx, body: Bytes) -> Reply {
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

async fn delete_user(State(shared): Ctx, Query(params): Params) -> Reply {
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

async fn reset_user_secret(State(shared): Ctx, Query(params): Params, body: Bytes) -> Reply {
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

async fn list_users(State(shared): Ctx) -> Json<Value> {
    Json(json!(lock(&shared.state).users.keys().collect::<Vec<_>>()))
}

async fn login(
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
async fn portal(State(shared): Ctx, Path(session_id): Path<String>) -> Response {
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
            // first) an option, with a little history.
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

/// The authorization `id` of the calling user.
fn owned_authorization(state: &SnapState, user_id: &str, id: &str) -> Result<Uuid, ApiError> {
    let id = uuid_param(id)?;
    state
        .authorization(id)
        .filter(|found| found.user_id == user_id)
        .map(|found| found.id)
        .ok_or_else(not_found)
}

async fn list_authorizations(State(shared): Ctx, Query(params): Params) -> Reply {
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

async fn detail_authorization(
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

fn disabled_connection() -> ApiError {
    error(
        402,
        Some("3003"),
        "Unable to sync with brokerage account because the connection is disabled.",
    )
}

async fn refresh_authorization(
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

async fn disable_authorization(
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

async fn authorization_accounts(
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

async fn delete_connection(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let user_id = user(&shared, &params)?;
    let mut state = lock(&shared.state);
    let id = owned_authorization(&state, &user_id, &id)?;
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
    Ok(Json(json!({
        "detail": "Connection deletion has been queued. Wait for the CONNECTION_DELETED webhook for confirmation.",
        "connection_id": id
    })))
}

async fn list_accounts(State(shared): Ctx, Query(params): Params) -> Reply {
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
fn owned_account(state: &SnapState, user_id: &str, id: &str) -> Result<Uuid, ApiError> {
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
    render: impl FnOnce(&SnapState, &super::state::Account) -> Value,
) -> Reply {
    let user_id = user(shared, params)?;
    let state = lock(&shared.state);
    let id = owned_account(&state, &user_id, id)?;
    let account = state.account(id).ok_or_else(not_found)?;
    Ok(Json(render(&state, account)))
}

async fn account_details(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    with_account(&shared, &params, &id, account_json)
}

async fn account_balances(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    with_account(&shared, &params, &id, |_, account| balances_json(account))
}

async fn account_positions(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    with_account(&shared, &params, &id, positions_json)
}

async fn account_orders(
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
async fn account_order_detail(
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
async fn account_activities(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let start = date_param(&params, "startDate")?.unwrap_or(NaiveDate::MIN);
    let end = date_param(&params, "endDate")?.unwrap_or(NaiveDate::MAX);
    let offset = count_param(&params, "offset", 0)?;
    // SnapTrade answers at most 1000 per page whatever the limit asked.
    let limit = count_param(&params, "limit", MAX_ACTIVITIES_PAGE)?.clamp(1, MAX_ACTIVITIES_PAGE);
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
        let executed = state.orders.iter().rev().filter(|order| {
            let day = order.executed.map(|at| at.date_naive());
            order.account_id == account.id && day.is_some_and(|day| (start..=end).contains(&day))
        });
        let executed = executed
            .filter(|order| wanted(&order.action))
            .map(Activity::Executed);
        let generated = activity_spread(account)
            .between(start, end)
            .filter(|&index| wanted(generated_activity_type(index)))
            .map(Activity::Generated);
        let all: Vec<Activity<'_>> = executed.chain(generated).collect();
        let page: Vec<Value> = all
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|activity| activity_json(state, account, *activity))
            .collect();
        json!({"data": page, "pagination": {"offset": offset, "limit": limit, "total": all.len()}})
    })
}

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

fn required_text<'a>(body: &'a Value, name: &str) -> Result<&'a str, ApiError> {
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

async fn order_impact(State(shared): Ctx, Query(params): Params, body: Bytes) -> Reply {
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
async fn place_order(
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
async fn place_force_order(State(shared): Ctx, Query(params): Params, body: Bytes) -> Reply {
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

async fn cancel_order(
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

async fn symbol_search(State(shared): Ctx, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let substring = body["substring"].as_str().unwrap_or("");
    Ok(Json(search(&lock(&shared.state), substring)))
}

async fn account_symbol_search(
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

async fn symbol_by_ticker(State(shared): Ctx, Path(query): Path<String>) -> Reply {
    let state = lock(&shared.state);
    let by_id = Uuid::parse_str(&query).ok().and_then(|id| state.symbol(id));
    let found = by_id
        .or_else(|| state.symbol_by_ticker(&query))
        .ok_or_else(not_found)?;
    Ok(Json(universal_symbol_json(found)))
}

async fn retired() -> ApiError {
    SnapTradeDialect.gone()
}
