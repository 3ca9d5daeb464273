//! Plaid's paths: every call is a POST with `client_id`/`secret` in the JSON body (or the
//! `PLAID-CLIENT-ID`/`PLAID-SECRET` headers), answered with JSON carrying a `request_id`.
//!
//! Every behaviour cites the line of `plaid-openapi.yml` (API version 2020-09-14) it follows; where the spec is
//! silent, the sandbox is the strictest plausible Plaid and the comment says so, quoting Plaid's error docs
//! (plaid.com/docs/errors) when they name the error code.

mod accounts;
mod investments;
mod item;
mod link;
mod revisions;
mod webhook;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use self::accounts::accounts_get;
use self::investments::{holdings_get, investments_refresh};
use self::item::{item_get, item_remove, sandbox_reset_login};
use self::link::{link_token_create, public_token_exchange, sandbox_public_token_create};
pub use self::webhook::FiredWebhook;
use self::webhook::{item_webhook_update, sandbox_item_fire_webhook, webhook_verification_key_get};
use super::state::{Item, item_error_body, random_id};
use crate::knobs::{Dialect, lock};
use crate::reply::ApiError;

/// Plaid's largest page of investment transactions.
const MAX_COUNT: u64 = 500;

/// The Plaid world.
#[derive(Debug)]
pub(crate) struct PlaidState {
    /// access_token → Item.
    pub(crate) items: HashMap<String, Item>,
    /// public_token → (institution id, when it was created), waiting to be exchanged.
    pub(crate) public_tokens: HashMap<String, (String, DateTime<Utc>)>,
    /// Access tokens of Items removed through /item/remove.
    pub(crate) removed_tokens: HashSet<String>,
    /// How far [`super::PlaidSandbox::advance_clock`] moved the sandbox's clock.
    pub(crate) clock_offset: Duration,
    /// How many transactions Items created through Link get.
    pub(crate) default_transactions: u64,
    /// The keys webhooks are signed with, served by /webhook_verification_key/get.
    pub(crate) webhook_keys: crate::plaid::webhook::WebhookKeys,
    /// item_id → the Item's webhook URL.
    pub(crate) item_webhooks: HashMap<String, String>,
    /// public_token → the webhook URL its Item will have (`options.webhook` of /sandbox/public_token/create).
    pub(crate) pending_webhooks: HashMap<String, String>,
    /// Every delivery /sandbox/item/fire_webhook sent, in order.
    pub(crate) fired_webhooks: Vec<FiredWebhook>,
    /// Revised, withdrawn and failing transactions (test knobs).
    pub(crate) revisions: revisions::Revisions,
}

/// The state and the credentials the handlers check.
pub(crate) struct Shared {
    pub(crate) state: Mutex<PlaidState>,
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

type Handler = fn(&mut PlaidState, &Value) -> Result<Value, ApiError>;

/// The API version the sandbox speaks: plaid-openapi.yml `info.version: 2020-09-14_1.697.4` describes no other.
const PLAID_VERSION: &str = "2020-09-14";

/// How long a public token can be exchanged: `/item/public_token/exchange` "The `public_token` is ephemeral and
/// expires after 30 minutes."
const PUBLIC_TOKEN_LIFETIME_MINUTES: i64 = 30;

/// One path: its handler and the fields its request schema lists (`properties`), top level and nested.
struct Endpoint {
    path: &'static str,
    handler: Handler,
    fields: &'static [&'static str],
    nested: &'static [(&'static str, &'static [&'static str])],
}

/// `AccountsGetRequest`, `InvestmentsHoldingsGetRequest` and the other requests that name only an Item.
const ACCESS_TOKEN_ONLY: &[&str] = &["client_id", "secret", "access_token"];

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

/// Every Plaid path the sandbox serves, with the `properties` of its request schema in plaid-openapi.yml.
static ENDPOINTS: [Endpoint; 13] = [
    Endpoint {
        path: "/link/token/create",
        handler: link_token_create,
        // `LinkTokenCreateRequest.properties`; `user` is `LinkTokenCreateRequestUser.properties`.
        fields: &[
            "client_id",
            "secret",
            "client_name",
            "language",
            "country_codes",
            "user",
            "user_id",
            "products",
            "required_if_supported_products",
            "optional_products",
            "additional_consented_products",
            "webhook",
            "access_token",
            "access_tokens",
            "link_customization_name",
            "appearance_mode",
            "redirect_uri",
            "android_package_name",
            "institution_data",
            "card_switch",
            "account_filters",
            "eu_config",
            "institution_id",
            "payment_configuration",
            "payment_initiation",
            "employment",
            "income_verification",
            "base_report",
            "credit_partner_insights",
            "cra_options",
            "consumer_report_permissible_purpose",
            "auth",
            "transfer",
            "update",
            "identity_verification",
            "statements",
            "third_party_user_token",
            "investments",
            "investments_auth",
            "hosted_link",
            "transactions",
            "cashflow_report",
            "cra_enabled",
            "identity",
            "financekit_supported",
            "enable_multi_item_link",
            "user_token",
        ],
        nested: &[(
            "user",
            &[
                "client_user_id",
                "legal_name",
                "name",
                "phone_number",
                "phone_number_verified_time",
                "email_address",
                "email_address_verified_time",
                "ssn",
                "date_of_birth",
                "address",
                "id_number",
            ],
        )],
    },
    Endpoint {
        path: "/sandbox/public_token/create",
        handler: sandbox_public_token_create,
        // `SandboxPublicTokenCreateRequest.properties`, `SandboxPublicTokenCreateRequestOptions.properties`.
        fields: &[
            "client_id",
            "secret",
            "institution_id",
            "initial_products",
            "options",
            "user_token",
            "user_id",
        ],
        nested: &[(
            "options",
            &[
                "webhook",
                "override_username",
                "override_password",
                "transactions",
                "statements",
                "income_verification",
            ],
        )],
    },
    Endpoint {
        path: "/item/public_token/exchange",
        handler: public_token_exchange,
        // `ItemPublicTokenExchangeRequest.properties`.
        fields: &["client_id", "secret", "public_token"],
        nested: &[],
    },
    Endpoint {
        path: "/accounts/get",
        handler: accounts_get,
        // `AccountsGetRequest.properties`, `AccountsGetRequestOptions.properties`.
        fields: &["client_id", "secret", "access_token", "options"],
        nested: &[("options", &["account_ids"])],
    },
    Endpoint {
        path: "/investments/holdings/get",
        handler: holdings_get,
        // `InvestmentsHoldingsGetRequest.properties`, `InvestmentHoldingsGetRequestOptions.properties`.
        fields: &["client_id", "secret", "access_token", "options"],
        nested: &[("options", &["account_ids"])],
    },
    Endpoint {
        path: "/investments/transactions/get",
        handler: revisions::transactions_get,
        // `InvestmentsTransactionsGetRequest.properties`, `InvestmentsTransactionsGetRequestOptions.properties`.
        fields: &[
            "client_id",
            "secret",
            "access_token",
            "start_date",
            "end_date",
            "options",
        ],
        nested: &[(
            "options",
            &["account_ids", "count", "offset", "async_update"],
        )],
    },
    Endpoint {
        path: "/item/get",
        handler: item_get,
        // `ItemGetRequest.properties`.
        fields: ACCESS_TOKEN_ONLY,
        nested: &[],
    },
    Endpoint {
        path: "/item/remove",
        handler: item_remove,
        // `ItemRemoveRequest.properties`.
        fields: &[
            "client_id",
            "secret",
            "access_token",
            "reason_code",
            "reason_note",
        ],
        nested: &[],
    },
    Endpoint {
        path: "/item/webhook/update",
        handler: item_webhook_update,
        // `ItemWebhookUpdateRequest.properties`.
        fields: &["client_id", "secret", "access_token", "webhook"],
        nested: &[],
    },
    Endpoint {
        path: "/investments/refresh",
        handler: investments_refresh,
        // `InvestmentsRefreshRequest.properties`.
        fields: ACCESS_TOKEN_ONLY,
        nested: &[],
    },
    Endpoint {
        path: "/sandbox/item/reset_login",
        handler: sandbox_reset_login,
        // `SandboxItemResetLoginRequest.properties`.
        fields: ACCESS_TOKEN_ONLY,
        nested: &[],
    },
    Endpoint {
        path: "/webhook_verification_key/get",
        handler: webhook_verification_key_get,
        // `WebhookVerificationKeyGetRequest.properties`.
        fields: &["client_id", "secret", "key_id"],
        nested: &[],
    },
    Endpoint {
        path: "/sandbox/item/fire_webhook",
        handler: sandbox_item_fire_webhook,
        // `SandboxItemFireWebhookRequest.properties`.
        fields: &[
            "client_id",
            "secret",
            "access_token",
            "webhook_type",
            "webhook_code",
        ],
        nested: &[],
    },
];

/// Every Plaid path the sandbox serves.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for endpoint in &ENDPOINTS {
        router = router.route(
            endpoint.path,
            post(move |State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes| async move {
                respond(&shared, &headers, &body, endpoint)
            }),
        );
    }
    router
        .fallback(|| async { error(404, "INVALID_REQUEST", "NOT_FOUND", "unknown endpoint") })
        .with_state(shared)
}

/// Checks the body, the version header, the credentials and the fields, runs the handler and stamps a
/// request_id on its answer.
fn respond(shared: &Shared, headers: &HeaderMap, body: &[u8], endpoint: &Endpoint) -> Response {
    let outcome = parse_body(headers, body).and_then(|request| {
        check_version(headers)?;
        check_credentials(shared, headers, &request)?;
        check_known_fields(endpoint, &request)?;
        (endpoint.handler)(&mut lock(&shared.state), &request)
    });
    match outcome {
        Ok(mut answer) => {
            answer["request_id"] = Value::String(request_id());
            axum::Json(answer).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Every `requestBody` in plaid-openapi.yml has only `content: application/json`. Plaid's `INVALID_BODY` (errors
/// docs): "The request content-type was not of type application/json" or "The JSON request body was
/// malformed" — "body could not be parsed as JSON". A body that is JSON but no object is refused the same way.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let json_content = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json_content {
        return Err(error(
            400,
            "INVALID_REQUEST",
            "INVALID_BODY",
            "content-type must be application/json",
        ));
    }
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

/// plaid-openapi.yml top-level `security` requires `plaidVersion` (header `Plaid-Version`) together with the
/// keys, and `info.version` describes 2020-09-14 only. Real Plaid falls back to the dashboard's version when the
/// header is absent; the sandbox answers only the shapes of 2020-09-14, so it refuses a request that does not pin
/// it (spec silent on the code: Plaid's `INVALID_HEADERS`, "missing a required header", the strictest plausible).
fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("Plaid-Version").map(|value| value.to_str()) {
        Some(Ok(PLAID_VERSION)) => Ok(()),
        Some(_) => Err(error(
            400,
            "INVALID_REQUEST",
            "INVALID_HEADERS",
            "Plaid-Version must be 2020-09-14, the only API version this server speaks",
        )),
        None => Err(error(
            400,
            "INVALID_REQUEST",
            "INVALID_HEADERS",
            "the Plaid-Version header is required",
        )),
    }
}

/// `APIClientID`/`APISecret`: "The `client_id` is required and may be provided either in the `PLAID-CLIENT-ID`
/// header or as part of a request body" (likewise the `secret`). Absent → `MISSING_FIELDS`; wrong →
/// `INVALID_API_KEYS` (400 `INVALID_INPUT`, Plaid's errors docs; the spec names no code).
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

/// A field the request schema's `properties` do not list is refused: Plaid answers `UNKNOWN_FIELDS` ("the
/// following fields are not recognized by this endpoint: user.email", 400 `INVALID_REQUEST`). The spec does not
/// say so itself (request schemas carry no `additionalProperties: false`); Plaid's answer is the strictest.
fn check_known_fields(endpoint: &Endpoint, request: &Value) -> Result<(), ApiError> {
    let mut unknown: Vec<String> = Vec::new();
    let object = request.as_object().into_iter().flatten();
    unknown.extend(
        object
            .filter(|(name, _)| !endpoint.fields.contains(&name.as_str()))
            .map(|(name, _)| name.clone()),
    );
    for (parent, fields) in endpoint.nested {
        if let Some(inner) = request[*parent].as_object() {
            unknown.extend(
                inner
                    .keys()
                    .filter(|name| !fields.contains(&name.as_str()))
                    .map(|name| format!("{parent}.{name}")),
            );
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(error(
        400,
        "INVALID_REQUEST",
        "UNKNOWN_FIELDS",
        &format!(
            "the following fields are not recognized by this endpoint: {}",
            unknown.join(", ")
        ),
    ))
}

/// A required string: absent or `null` is `MISSING_FIELDS` (as is an empty string, which no required Plaid
/// field accepts); any other JSON type is `INVALID_FIELD` (the schemas say `type: string`).
fn required_text<'a>(request: &'a Value, field: &'static str) -> Result<&'a str, ApiError> {
    match request.get(field) {
        None | Some(Value::Null) => Err(missing(&[field])),
        Some(Value::String(text)) if text.is_empty() => Err(missing(&[field])),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(invalid_field(&format!("{field} must be a string"))),
    }
}

/// An optional string: absent is `None`; `null` only where the schema says `nullable: true`; another type is
/// `INVALID_FIELD`.
fn optional_text<'a>(
    object: &'a Value,
    field: &str,
    nullable: bool,
) -> Result<Option<&'a str>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid_field(&format!("{field} must be a string"))),
    }
}

/// `format: url` fields (`LinkTokenCreateRequest.webhook`, `SandboxPublicTokenCreateRequestOptions.webhook`): an
/// absolute http(s) URL with a host. The spec gives no grammar; this is the strictest plausible reading.
fn is_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !text.chars().any(char::is_whitespace)
    })
}

/// An array of strings from a list (`Products`, `CountryCode`): absent, `null` (where nullable) or empty is
/// `None`; anything else must be an array of listed strings, else `INVALID_FIELD`.
fn listed_strings<'a>(
    request: &'a Value,
    field: &str,
    allowed: &[&str],
) -> Result<Option<Vec<&'a str>>, ApiError> {
    let items = match request.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if items.is_empty() => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid_field(&format!("{field} must be an array"))),
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .filter(|text| allowed.contains(text))
                .ok_or_else(|| invalid_field(&format!("{field} holds an unknown value: {item}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The request's `options` object: `InvestmentsTransactionsGetRequestOptions` "If provided, must be non-`null`",
/// `InvestmentHoldingsGetRequestOptions` "If provided, must not be `null`",
/// `SandboxPublicTokenCreateRequestOptions` "If specified, must not be `null`" (`AccountsGetRequestOptions` says
/// nothing; it is held to the same rule, the strictest plausible). Absent is an empty object.
fn options(request: &Value) -> Result<&Map<String, Value>, ApiError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match request.get("options") {
        None => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(options)) => Ok(options),
        Some(_) => Err(invalid_field(
            "options must be an object when provided, not null",
        )),
    }
}

/// The Item behind the request's access_token; `usable` also refuses an Item needing a new login.
///
/// Plaid's `INVALID_ACCESS_TOKEN` (400 `INVALID_INPUT`, errors docs): "Access tokens are in the format:
/// access-<environment>-<identifier>", raised when the token "is invalid or pertains to a different API
/// environment" ("could not find matching access token"); this server is the sandbox environment, so only
/// `access-sandbox-…` tokens it issued are matched. A token whose Item was removed gets `ITEM_NOT_FOUND`
/// (`/item/remove`: "Once removed, the `access_token` … is no longer valid"; the errors docs: "has been
/// previously removed via /item/remove").
fn item<'a>(
    state: &'a mut PlaidState,
    request: &Value,
    usable: bool,
) -> Result<&'a mut Item, ApiError> {
    let token = required_text(request, "access_token")?;
    if token
        .strip_prefix("access-sandbox-")
        .is_none_or(str::is_empty)
    {
        return Err(error(
            400,
            "INVALID_INPUT",
            "INVALID_ACCESS_TOKEN",
            "provided access token is in an invalid format. expected format: access-<environment>-<identifier>",
        ));
    }
    if state.removed_tokens.contains(token) {
        return Err(error(
            400,
            "ITEM_ERROR",
            "ITEM_NOT_FOUND",
            "the Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user",
        ));
    }
    let item = state.items.get_mut(token).ok_or_else(|| {
        error(
            400,
            "INVALID_INPUT",
            "INVALID_ACCESS_TOKEN",
            "could not find matching access token",
        )
    })?;
    // `PlaidError`: "An Item with a non-`null` error object will only be part of an API response when calling
    // `/item/get` to view Item status. Otherwise … an error code will be returned instead."
    if usable && let Some(body) = item_error_body(item) {
        let mut refusal = ApiError::new(400, body);
        refusal.body["request_id"] = Value::String(request_id());
        return Err(refusal);
    }
    Ok(item)
}

/// The sandbox's clock: now, moved by [`super::PlaidSandbox::advance_clock`].
fn now(state: &PlaidState) -> DateTime<Utc> {
    Utc::now() + state.clock_offset
}
