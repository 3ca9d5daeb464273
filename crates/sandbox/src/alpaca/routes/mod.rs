//! Alpaca Broker API paths behind HTTP Basic auth.

mod accounts;
mod activities;
mod events;
mod orders;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use self::accounts::{get_account, list_accounts, positions, trading_account};
use self::orders::{cancel_order, create_order, get_order, list_orders, order_by_client_order_id};
use super::state::AlpacaState;
use crate::knobs::Dialect;
use crate::reply::ApiError;

/// The state and the key pair the server accepts.
pub(crate) struct Shared {
    pub(crate) state: Mutex<AlpacaState>,
    pub(crate) key_id: String,
    pub(crate) secret: String,
    /// Woken when an event is recorded, for the open event streams.
    pub(crate) trade_events_changed: tokio::sync::Notify,
}

type Ctx = State<Arc<Shared>>;
type Params = Query<HashMap<String, String>>;

/// Alpaca's error body `{code, message}`.
pub(crate) fn error(status: u16, code: u64, message: &str) -> ApiError {
    ApiError::new(status, json!({"code": code, "message": message}))
}

fn invalid(message: &str) -> ApiError {
    error(422, 40_010_001, message)
}

fn account_not_found() -> ApiError {
    error(404, 40_410_000, "account not found")
}

fn order_not_found() -> ApiError {
    error(404, 40_410_000, "order not found")
}

/// How Alpaca words the injected faults.
pub(crate) struct AlpacaDialect;

impl Dialect for AlpacaDialect {
    fn rate_limited(&self, retry_after_secs: u64) -> ApiError {
        // Alpaca sends no Retry-After; X-RateLimit-Reset is the unix time the window reopens.
        let reset =
            Utc::now().timestamp() + i64::try_from(retry_after_secs).unwrap_or(i64::MAX / 2);
        error(429, 42_910_000, "rate limit exceeded")
            .with_header("x-ratelimit-limit", 200)
            .with_header("x-ratelimit-remaining", 0)
            .with_header("x-ratelimit-reset", reset)
    }

    fn server_error(&self, status: u16) -> ApiError {
        error(status, 50_010_000, "internal server error occurred")
    }

    fn gone(&self) -> ApiError {
        error(410, 41_010_000, "this endpoint has been retired")
    }
}

/// Every Broker API path the sandbox serves.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/accounts", get(list_accounts))
        .route("/v1/accounts/{account_id}", get(get_account))
        .route("/v1/accounts/activities", get(activities::list_activities))
        .route(
            "/v1/trading/accounts/{account_id}/account",
            get(trading_account),
        )
        .route(
            "/v1/trading/accounts/{account_id}/positions",
            get(positions),
        )
        .route(
            "/v1/trading/accounts/{account_id}/orders",
            get(list_orders).post(create_order),
        )
        .route(
            "/v1/trading/accounts/{account_id}/orders:by_client_order_id",
            get(order_by_client_order_id),
        )
        .route(
            "/v1/trading/accounts/{account_id}/orders/{order_id}",
            get(get_order).delete(cancel_order),
        )
        .route("/v2/events/trades", get(events::trade_events))
        .fallback(|| async { error(404, 40_410_000, "endpoint not found") })
        .layer(middleware::from_fn_with_state(shared.clone(), basic_auth))
        .with_state(shared)
}

/// Refuses any request whose `Authorization: Basic` is not the sandbox's key pair: alpaca-broker-api.yaml
/// `components.securitySchemes.BasicAuth` (every Broker API path), answered 401 as
/// `components.responses.NotAuthorized` ("Client is not authorized for this operation.").
async fn basic_auth(State(shared): Ctx, request: Request, next: Next) -> Response {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", shared.key_id, shared.secret))
    );
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if sent == Some(expected.as_str()) {
        next.run(request).await
    } else {
        error(401, 40_110_000, "request is not authorized").into_response()
    }
}

/// An account the sandbox holds; any other id (unknown, or not a UUID) is 404, `components.responses.NotFound`
/// ("Resource does not exist."), which every `/v1/trading/accounts/{account_id}/…` path lists.
fn account_id(state: &AlpacaState, text: &str) -> Result<Uuid, ApiError> {
    let id = Uuid::parse_str(text).map_err(|_| account_not_found())?;
    state
        .account(id)
        .map(|account| account.id)
        .ok_or_else(account_not_found)
}
