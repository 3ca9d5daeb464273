//! Plaid's paths: every call is a POST with `client_id`/`secret` in the JSON body (or the
//! `PLAID-CLIENT-ID`/`PLAID-SECRET` headers), answered with JSON carrying a `request_id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use super::state::{
    Item, account_json, holding_json, item_json, login_required_body, random_id, security_json,
    transaction_json,
};
use crate::knobs::{Dialect, lock};
use crate::reply::ApiError;

/// Plaid's largest page of investment transactions.
const MAX_COUNT: u64 = 500;

/// The Plaid world.
#[derive(Debug)]
pub(crate) struct PlaidState {
    /// access_token → Item.
    pub(crate) items: HashMap<String, Item>,
    /// public_token → institution id, waiting to be exchanged.
    pub(crate) public_tokens: HashMap<String, String>,
    /// How many transactions Items created through Link get.
    pub(crate) default_transactions: u64,
}

/// The state and the credentials the handlers check.
pub(crate) struct Shared {
    pub(crate) state: Mutex<PlaidState>,
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

type Handler = fn(&mut PlaidState, &Value) -> Result<Value, ApiError>;

/// Plaid's error object with a fresh request_id.
pub(crate) fn error(status: u16, error_type: &str, error_code: &str, message: &str) -> ApiError {
    ApiError::new(
        status,
        json!({
            "error_type": error_type,
            "error_code": error_code,
            "error_code_reason": null,
            "error_message": message,
            "display_message": null,
            "documentation_url": format!("https://plaid.com/docs/errors/#{}", error_code.to_lowercase()),
            "suggested_action": null,
            "request_id": request_id()
        }),
    )
}

fn request_id() -> String {
    random_id(15)
}

fn missing(fields: &[&str]) -> ApiError {
    error(
        400,
        "INVALID_REQUEST",
        "MISSING_FIELDS",
        &format!(
            "the following required fields are missing: {}",
            fields.join(", ")
        ),
    )
}

fn invalid_field(message: &str) -> ApiError {
    error(400, "INVALID_REQUEST", "INVALID_FIELD", message)
}

/// How Plaid words the injected faults.
pub(crate) struct PlaidDialect;

impl Dialect for PlaidDialect {
    fn rate_limited(&self, _retry_after_secs: u64) -> ApiError {
        // Plaid sends no Retry-After: clients back off on their own.
        error(
            429,
            "RATE_LIMIT_EXCEEDED",
            "RATE_LIMIT_EXCEEDED",
            "rate limit exceeded for this endpoint",
        )
    }

    fn server_error(&self, status: u16) -> ApiError {
        match status {
            503 => error(
                503,
                "API_ERROR",
                "PLANNED_MAINTENANCE",
                "the Plaid API is undergoing planned maintenance",
            ),
            _ => error(
                status,
                "API_ERROR",
                "INTERNAL_SERVER_ERROR",
                "an unexpected error occurred",
            ),
        }
    }

    fn gone(&self) -> ApiError {
        error(
            410,
            "INVALID_REQUEST",
            "ENDPOINT_RETIRED",
            "this endpoint has been retired",
        )
    }
}

/// Every Plaid path the sandbox serves.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let routes: [(&str, Handler); 10] = [
        ("/link/token/create", link_token_create),
        ("/sandbox/public_token/create", sandbox_public_token_create),
        ("/item/public_token/exchange", public_token_exchange),
        ("/accounts/get", accounts_get),
        ("/investments/holdings/get", holdings_get),
        ("/investments/transactions/get", transactions_get),
        ("/item/get", item_get),
        ("/item/remove", item_remove),
        ("/investments/refresh", investments_refresh),
        ("/sandbox/item/reset_login", sandbox_reset_login),
    ];
    let mut router = Router::new();
    for (path, handler) in routes {
        router = router.route(
            path,
            post(move |State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes| async move {
                respond(&shared, &headers, &body, handler)
            }),
        );
    }
    router
        .fallback(|| async { error(404, "INVALID_REQUEST", "NOT_FOUND", "unknown endpoint") })
        .with_state(shared)
}

/// Parses the body, checks the credentials, runs `handler` and stamps a request_id on its answer.
fn respond(shared: &Shared, headers: &HeaderMap, body: &[u8], handler: Handler) -> Response {
    let outcome = parse_body(body).and_then(|request| {
        check_credentials(shared, headers, &request)?;
        handler(&mut lock(&shared.state), &request)
    });
    match outcome {
        Ok(mut answer) => {
            answer["request_id"] = Value::String(request_id());
            axum::Json(answer).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let parsed: Value = serde_json::from_slice(body).map_err(|_| {
        error(
            400,
            "INVALID_REQUEST",
            "INVALID_BODY",
            "body could not be parsed as JSON",
        )
    })?;
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err(error(
            400,
            "INVALID_REQUEST",
            "INVALID_BODY",
            "body must be a JSON object",
        ))
    }
}

fn check_credentials(
    shared: &Shared,
    headers: &HeaderMap,
    request: &Value,
) -> Result<(), ApiError> {
    let credential = |field: &str, header: &str| {
        request[field].as_str().map(str::to_owned).or_else(|| {
            headers
                .get(header)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
    };
    let client_id = credential("client_id", "PLAID-CLIENT-ID");
    let secret = credential("secret", "PLAID-SECRET");
    let absent: Vec<&str> = [("client_id", &client_id), ("secret", &secret)]
        .iter()
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    if !absent.is_empty() {
        return Err(missing(&absent));
    }
    if client_id.as_deref() != Some(shared.client_id.as_str())
        || secret.as_deref() != Some(shared.secret.as_str())
    {
        return Err(error(
            400,
            "INVALID_INPUT",
            "INVALID_API_KEYS",
            "invalid client_id or secret provided",
        ));
    }
    Ok(())
}

fn required_text<'a>(request: &'a Value, field: &'static str) -> Result<&'a str, ApiError> {
    request[field]
        .as_str()
        .filter(|text| !text.is_empty())
        .ok_or_else(|| missing(&[field]))
}

/// The Item behind the request's access_token; `usable` also refuses an Item needing a new login.
fn item<'a>(
    state: &'a mut PlaidState,
    request: &Value,
    usable: bool,
) -> Result<&'a mut Item, ApiError> {
    let token = required_text(request, "access_token")?;
    if !token.starts_with("access-") {
        return Err(error(
            400,
            "INVALID_INPUT",
            "INVALID_ACCESS_TOKEN",
            "provided access token is in an invalid format. expected format: access-<environment>-<identifier>",
        ));
    }
    let item = state
        .items
        .get_mut(token)
        .ok_or_else(|| error(400, "ITEM_ERROR", "ITEM_NOT_FOUND", "the Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user"))?;
    if usable && item.login_required {
        let mut refusal = ApiError::new(400, login_required_body());
        refusal.body["request_id"] = Value::String(request_id());
        return Err(refusal);
    }
    Ok(item)
}

fn link_token_create(_: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let mut absent = Vec::new();
    for field in ["client_name", "language"] {
        if request[field].as_str().is_none_or(str::is_empty) {
            absent.push(field);
        }
    }
    if request["country_codes"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        absent.push("country_codes");
    }
    if request["user"]["client_user_id"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        absent.push("user.client_user_id");
    }
    if !absent.is_empty() {
        return Err(missing(&absent));
    }
    if request["client_name"]
        .as_str()
        .is_some_and(|name| name.chars().count() > 30)
    {
        return Err(invalid_field("client_name must be at most 30 characters"));
    }
    let expiration = (Utc::now() + Duration::hours(4))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    Ok(
        json!({"link_token": format!("link-sandbox-{}", uuid::Uuid::new_v4()), "expiration": expiration}),
    )
}

fn sandbox_public_token_create(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let institution_id = required_text(request, "institution_id")?.to_owned();
    if request["initial_products"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        return Err(missing(&["initial_products"]));
    }
    let public_token = format!("public-sandbox-{}", uuid::Uuid::new_v4());
    state
        .public_tokens
        .insert(public_token.clone(), institution_id);
    Ok(json!({"public_token": public_token}))
}

fn public_token_exchange(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let public_token = required_text(request, "public_token")?;
    let institution_id = state
        .public_tokens
        .remove(public_token)
        .ok_or_else(|| error(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", "provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged"))?;
    let item = Item::generate(&institution_id, 2, 4, state.default_transactions);
    let access_token = format!("access-sandbox-{}", uuid::Uuid::new_v4());
    let item_id = item.item_id.clone();
    state.items.insert(access_token.clone(), item);
    Ok(json!({"access_token": access_token, "item_id": item_id}))
}

/// The indices of the accounts `options.account_ids` selects (all when absent).
fn selected_accounts(item: &Item, request: &Value) -> Result<Vec<usize>, ApiError> {
    let Some(wanted) = request["options"]["account_ids"].as_array() else {
        return Ok((0..item.accounts.len()).collect());
    };
    wanted
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap_or_default();
            item.accounts
                .iter()
                .position(|account| account.account_id == id)
                .ok_or_else(|| {
                    error(
                        400,
                        "INVALID_INPUT",
                        "INVALID_ACCOUNT_ID",
                        "one or more of the account IDs is invalid",
                    )
                })
        })
        .collect()
}

fn accounts_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let item = item(state, request, true)?;
    let accounts: Vec<Value> = selected_accounts(item, request)?
        .into_iter()
        .map(|index| account_json(item, index, false))
        .collect();
    Ok(json!({"accounts": accounts, "item": item_json(item)}))
}

fn holdings_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let item = item(state, request, true)?;
    let selected = selected_accounts(item, request)?;
    let holdings: Vec<Value> = item
        .holdings
        .iter()
        .filter(|holding| selected.contains(&holding.account))
        .map(|holding| holding_json(item, holding))
        .collect();
    Ok(json!({
        "accounts": selected.iter().map(|&index| account_json(item, index, true)).collect::<Vec<_>>(),
        "holdings": holdings,
        "securities": item.securities.iter().map(|security| security_json(item, security)).collect::<Vec<_>>(),
        "item": item_json(item),
        "is_investments_fallback_item": false
    }))
}

fn date_field(request: &Value, field: &'static str) -> Result<NaiveDate, ApiError> {
    let text = required_text(request, field)?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| invalid_field(&format!("{field} must be a date in YYYY-MM-DD format")))
}

fn page_option(request: &Value, field: &str, default: u64) -> Result<u64, ApiError> {
    match &request["options"][field] {
        Value::Null => Ok(default),
        value => value.as_u64().ok_or_else(|| {
            invalid_field(&format!("options.{field} must be a non-negative integer"))
        }),
    }
}

fn transactions_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let start = date_field(request, "start_date")?;
    let end = date_field(request, "end_date")?;
    if start > end {
        return Err(invalid_field("start_date must be on or before end_date"));
    }
    let count = page_option(request, "count", 100)?;
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(invalid_field("options.count must be between 1 and 500"));
    }
    let offset = page_option(request, "offset", 0)?;
    let item = item(state, request, true)?;
    let in_range = item.spread().between(start, end);
    let total = in_range.end - in_range.start;
    let first = in_range.start.saturating_add(offset).min(in_range.end);
    let last = first.saturating_add(count).min(in_range.end);
    let transactions: Vec<Value> = (first..last)
        .map(|index| transaction_json(item, index))
        .collect();
    Ok(json!({
        "item": item_json(item),
        "accounts": (0..item.accounts.len()).map(|index| account_json(item, index, true)).collect::<Vec<_>>(),
        "securities": item.securities.iter().map(|security| security_json(item, security)).collect::<Vec<_>>(),
        "investment_transactions": transactions,
        "total_investment_transactions": total,
        "is_investments_fallback_item": false
    }))
}

fn item_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let item = item(state, request, false)?;
    let mut described = item_json(item);
    described["created_at"] = Value::String(item.created.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    described["consented_use_cases"] = json!([]);
    described["consented_data_scopes"] = json!([]);
    let updated = item.created.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    Ok(json!({
        "item": described,
        "status": {
            "investments": {"last_successful_update": updated, "last_failed_update": null},
            "transactions": {"last_successful_update": null, "last_failed_update": null},
            "last_webhook": null
        }
    }))
}

fn item_remove(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let token = item(state, request, false)?;
    let token_text = token.item_id.clone();
    state.items.retain(|_, item| item.item_id != token_text);
    Ok(json!({}))
}

fn investments_refresh(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    item(state, request, true)?;
    Ok(json!({}))
}

/// Plaid's own sandbox helper: forces the Item into ITEM_LOGIN_REQUIRED.
fn sandbox_reset_login(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    item(state, request, false)?.login_required = true;
    Ok(json!({"reset_login": true}))
}
