//! Plaid's paths: every call is a POST with `client_id`/`secret` in the JSON body (or the
//! `PLAID-CLIENT-ID`/`PLAID-SECRET` headers), answered with JSON carrying a `request_id`.
//!
//! Every behaviour cites the line of `plaid-openapi.yml` (API version 2020-09-14) it follows; where the spec is
//! silent, the sandbox is the strictest plausible Plaid and the comment says so, quoting Plaid's error docs
//! (plaid.com/docs/errors) when they name the error code.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::state::{
    Item, account_json, holding_json, item_json, login_required_body, random_id, security_json,
    transaction_json,
};
use super::vocabulary::{COUNTRY_CODES, CREDIT_PRODUCTS, LANGUAGES, PRODUCTS, REMOVE_REASONS};
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
static ENDPOINTS: [Endpoint; 10] = [
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
        handler: transactions_get,
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
    if usable && item.login_required {
        let mut refusal = ApiError::new(400, login_required_body());
        refusal.body["request_id"] = Value::String(request_id());
        return Err(refusal);
    }
    Ok(item)
}

/// `/link/token/create` (`LinkTokenCreateRequest`).
fn link_token_create(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    // `required: [client_name, language, country_codes]`, each `minLength: 1`/`minItems: 1`; `user` with
    // `LinkTokenCreateRequestUser.required: [client_user_id]` ("One of either the `user_id` or the `user` field is
    // required": the sandbox serves no /user/create, so a `user_id` can never be one it issued — refused below).
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
    for field in ["user_id", "user_token"] {
        if request.get(field).is_some() {
            return Err(invalid_field(&format!(
                "{field} must come from /user/create, which issued none"
            )));
        }
    }
    // `client_name`: "Maximum length of 30 characters. If a value longer than 30 characters is provided, Link will
    // display "This Application" instead." The sandbox refuses it instead: stricter than Plaid, kept so a name
    // Link would not show is caught in tests.
    if request["client_name"]
        .as_str()
        .is_some_and(|name| name.chars().count() > 30)
    {
        return Err(invalid_field("client_name must be at most 30 characters"));
    }
    // `language`: "Supported languages are: …" (the list in LANGUAGES).
    if !request["language"]
        .as_str()
        .is_some_and(|language| LANGUAGES.contains(&language))
    {
        return Err(invalid_field("language is not a supported language"));
    }
    // `country_codes.items: CountryCode` (an enum).
    listed_strings(request, "country_codes", COUNTRY_CODES)?;
    // `products.items: Products`; "`balance` is *not* a valid value".
    let products = listed_strings(request, "products", PRODUCTS)?;
    if products
        .as_deref()
        .is_some_and(|products| products.contains(&"balance"))
    {
        return Err(invalid_field(
            "products: balance is not a valid value; it is initialized with any other product",
        ));
    }
    // `webhook`: `format: url`.
    if let Some(webhook) = optional_text(request, "webhook", false)?
        && !is_url(webhook)
    {
        return Err(invalid_field("webhook must be a URL"));
    }
    // `LinkTokenCreateRequestRedirectUri`: "The `redirect_uri` should not contain any query parameters."
    if let Some(redirect) = optional_text(request, "redirect_uri", false)?
        && (!is_url(redirect) || redirect.contains('?'))
    {
        return Err(invalid_field(
            "redirect_uri must be a URL without query parameters",
        ));
    }
    // Update mode (`access_token`: "used when updating … an existing `access_token`") needs an Item this server
    // issued; `products` "If launching Link in update mode, should be omitted (unless … a credit product …); at
    // least one `product` is required otherwise."
    let update_mode = request.get("access_token").is_some();
    if update_mode {
        item(state, request, false)?;
        if products
            .iter()
            .flatten()
            .any(|product| !CREDIT_PRODUCTS.contains(product))
        {
            return Err(invalid_field(
                "products must be omitted in update mode, except credit products",
            ));
        }
    } else if products.is_none() {
        return Err(missing(&["products"]));
    }
    // `LinkTokenCreateResponse.expiration` (`format: date-time`): a token for a new Item "expires after 4 hours,
    // and a `link_token` created for an existing Item (… update mode) expires after 30 minutes".
    let lifetime = if update_mode {
        Duration::minutes(30)
    } else {
        Duration::hours(4)
    };
    let expiration = (now(state) + lifetime)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    Ok(
        json!({"link_token": format!("link-sandbox-{}", uuid::Uuid::new_v4()), "expiration": expiration}),
    )
}

/// The sandbox's clock: now, moved by [`super::PlaidSandbox::advance_clock`].
fn now(state: &PlaidState) -> DateTime<Utc> {
    Utc::now() + state.clock_offset
}

/// `/sandbox/public_token/create` (`SandboxPublicTokenCreateRequest`).
fn sandbox_public_token_create(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    // `required: [institution_id, initial_products]`; the institution is "an arbitrary institution ID".
    let institution_id = required_text(request, "institution_id")?.to_owned();
    // `initial_products`: "This array may not be empty" (`minItems: 1`), `items: Products`.
    if listed_strings(request, "initial_products", PRODUCTS)?.is_none() {
        return Err(missing(&["initial_products"]));
    }
    // `user_token`/`user_id` name a user from /user/create, which the sandbox does not serve.
    for field in ["user_id", "user_token"] {
        if request.get(field).is_some() {
            return Err(invalid_field(&format!(
                "{field} must come from /user/create, which issued none"
            )));
        }
    }
    // `options`: "If specified, must not be `null`"; `options.webhook`: `format: url`.
    let options = Value::Object(options(request)?.clone());
    if let Some(webhook) = optional_text(&options, "webhook", false)?
        && !is_url(webhook)
    {
        return Err(invalid_field("options.webhook must be a URL"));
    }
    let public_token = format!("public-sandbox-{}", uuid::Uuid::new_v4());
    let created = now(state);
    state
        .public_tokens
        .insert(public_token.clone(), (institution_id, created));
    Ok(json!({"public_token": public_token}))
}

/// `/item/public_token/exchange`: "A `public_token` is one-time use and expires after 30 minutes." An unknown,
/// used or expired token is `INVALID_PUBLIC_TOKEN` (400 `INVALID_INPUT`, Plaid's errors docs).
fn public_token_exchange(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let public_token = required_text(request, "public_token")?;
    let expired = |created: DateTime<Utc>| {
        now(state) - created > Duration::minutes(PUBLIC_TOKEN_LIFETIME_MINUTES)
    };
    let found = state.public_tokens.get(public_token).cloned();
    let institution_id = match found {
        Some((_, created)) if expired(created) => {
            state.public_tokens.remove(public_token);
            return Err(error(
                400,
                "INVALID_INPUT",
                "INVALID_PUBLIC_TOKEN",
                "provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged",
            ));
        }
        Some((institution_id, _)) => institution_id,
        None => {
            return Err(error(
                400,
                "INVALID_INPUT",
                "INVALID_PUBLIC_TOKEN",
                "could not find matching public token; public tokens are one-time use",
            ));
        }
    };
    state.public_tokens.remove(public_token);
    let item = Item::generate(&institution_id, 2, 4, state.default_transactions);
    let access_token = format!("access-sandbox-{}", uuid::Uuid::new_v4());
    let item_id = item.item_id.clone();
    state.items.insert(access_token.clone(), item);
    Ok(json!({"access_token": access_token, "item_id": item_id}))
}

/// The indices of the accounts `options.account_ids` selects (all when absent).
///
/// `account_ids` is `type: array`, `items: type: string` (an empty array is refused: the spec is silent, and
/// selecting nothing is never meant); an id not of this Item is `INVALID_ACCOUNT_ID`
/// (`InvestmentHoldingsGetRequestOptions.account_ids`: "An error will be returned if a provided `account_id` is
/// not associated with the Item"; 400 `INVALID_INPUT` in Plaid's errors docs).
fn selected_accounts(item: &Item, options: &Map<String, Value>) -> Result<Vec<usize>, ApiError> {
    let wanted = match options.get("account_ids") {
        None => return Ok((0..item.accounts.len()).collect()),
        Some(Value::Array(wanted)) if !wanted.is_empty() => wanted,
        Some(_) => {
            return Err(invalid_field(
                "options.account_ids must be a non-empty array of account ids",
            ));
        }
    };
    let mut selected = wanted
        .iter()
        .map(|id| {
            let id = id
                .as_str()
                .ok_or_else(|| invalid_field("options.account_ids must hold strings"))?;
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
        .collect::<Result<Vec<_>, _>>()?;
    selected.sort_unstable();
    selected.dedup();
    Ok(selected)
}

/// `/accounts/get`: `AccountsGetResponse.required: [accounts, item, request_id]`.
fn accounts_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let options = options(request)?.clone();
    let item = item(state, request, true)?;
    let accounts: Vec<Value> = selected_accounts(item, &options)?
        .into_iter()
        .map(|index| account_json(item, index, false))
        .collect();
    Ok(json!({"accounts": accounts, "item": item_json(item)}))
}

/// `/investments/holdings/get`: `InvestmentsHoldingsGetResponse.required: [accounts, holdings, securities, item,
/// request_id]`; `securities`: "Objects describing the securities held in the accounts" — those the returned
/// holdings refer to.
fn holdings_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let options = options(request)?.clone();
    let item = item(state, request, true)?;
    let selected = selected_accounts(item, &options)?;
    let held: Vec<_> = item
        .holdings
        .iter()
        .filter(|holding| selected.contains(&holding.account))
        .collect();
    let mut security_indices: Vec<usize> = held.iter().map(|holding| holding.security).collect();
    security_indices.sort_unstable();
    security_indices.dedup();
    Ok(json!({
        "accounts": selected.iter().map(|&index| account_json(item, index, true)).collect::<Vec<_>>(),
        "holdings": held.iter().map(|holding| holding_json(item, holding)).collect::<Vec<_>>(),
        "securities": security_indices.iter().map(|&index| security_json(item, &item.securities[index])).collect::<Vec<_>>(),
        "item": item_json(item),
        "is_investments_fallback_item": false
    }))
}

/// `start_date`/`end_date`: `type: string`, `format: date`, "Dates should be formatted as YYYY-MM-DD" — exactly
/// that (RFC 3339 full-date: four-digit year, two-digit month and day); anything else is `INVALID_FIELD`.
fn date_field(request: &Value, field: &'static str) -> Result<NaiveDate, ApiError> {
    let text = required_text(request, field)?;
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(at, byte)| match at {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| invalid_field(&format!("{field} must be a date in YYYY-MM-DD format")))
}

/// An integer option with its spec bounds: absent is the default; `null`, a fraction, a negative number or a
/// value out of `minimum..=maximum` is `INVALID_FIELD` (the options are `type: integer`, not nullable).
fn page_option(
    options: &Map<String, Value>,
    field: &str,
    default: u64,
    bounds: std::ops::RangeInclusive<u64>,
) -> Result<u64, ApiError> {
    let value = match options.get(field) {
        None => return Ok(default),
        Some(value) => value.as_u64(),
    };
    value.filter(|value| bounds.contains(value)).ok_or_else(|| {
        invalid_field(&format!(
            "options.{field} must be an integer from {} to {}",
            bounds.start(),
            bounds.end()
        ))
    })
}

/// How many of the indices in `range` belong to the `selected` accounts, when index `i` belongs to account
/// `i % accounts`.
fn matching_below(range_start: u64, end: u64, accounts: u64, selected: &[u64]) -> u64 {
    let below = |limit: u64, residue: u64| (limit + accounts - 1 - residue) / accounts;
    selected
        .iter()
        .map(|&residue| below(end, residue) - below(range_start, residue))
        .sum()
}

/// `/investments/transactions/get` (`InvestmentsTransactionsGetRequest`).
fn transactions_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    // `required: [access_token, start_date, end_date]`, both `format: date`; a range that ends before it starts
    // is refused (spec silent: the strictest plausible).
    let start = date_field(request, "start_date")?;
    let end = date_field(request, "end_date")?;
    if start > end {
        return Err(invalid_field("start_date must be on or before end_date"));
    }
    // `InvestmentsTransactionsGetRequestOptions`: "If provided, must be non-`null`"; `count` `default: 100`,
    // `minimum: 1`, `maximum: 500`; `offset` `default: 0`, `minimum: 0`; `async_update` `type: boolean`.
    let options = options(request)?.clone();
    let count = page_option(&options, "count", 100, 1..=MAX_COUNT)?;
    let offset = page_option(&options, "offset", 0, 0..=u64::MAX)?;
    if options
        .get("async_update")
        .is_some_and(|value| !value.is_boolean())
    {
        return Err(invalid_field("options.async_update must be a boolean"));
    }
    let item = item(state, request, true)?;
    // `options.account_ids`: "An array of `account_ids` to retrieve for the Item"; `accounts`: "The accounts for
    // which transaction history is being fetched"; `total_investment_transactions`: "The total number of
    // transactions available within the date range specified" — of those accounts.
    let selected = selected_accounts(item, &options)?;
    let accounts = item.accounts.len() as u64;
    let residues: Vec<u64> = selected.iter().map(|&index| index as u64).collect();
    let in_range = item.spread().between(start, end);
    let (total, transactions) = if accounts == 0 {
        (0, Vec::new())
    } else {
        let total = matching_below(in_range.start, in_range.end, accounts, &residues);
        // The first index whose rank among the matches is `offset`, by bisection.
        let (mut low, mut high) = (in_range.start, in_range.end);
        while low < high {
            let middle = low + (high - low) / 2;
            if matching_below(in_range.start, middle + 1, accounts, &residues) > offset {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        let page: Vec<u64> = (low..in_range.end)
            .filter(|index| residues.contains(&(index % accounts)))
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .collect();
        (total, page)
    };
    // `securities`: "All securities for which there is a corresponding transaction being fetched".
    let mut security_indices: Vec<usize> = transactions
        .iter()
        .map(|&index| (index % item.securities.len() as u64) as usize)
        .collect();
    security_indices.sort_unstable();
    security_indices.dedup();
    Ok(json!({
        "item": item_json(item),
        "accounts": selected.iter().map(|&index| account_json(item, index, true)).collect::<Vec<_>>(),
        "securities": security_indices.iter().map(|&index| security_json(item, &item.securities[index])).collect::<Vec<_>>(),
        "investment_transactions": transactions.iter().map(|&index| transaction_json(item, index)).collect::<Vec<_>>(),
        "total_investment_transactions": total,
        "is_investments_fallback_item": false
    }))
}

/// `/item/get`: `ItemGetResponse.required: [item, request_id]`; `item` is `ItemWithConsentFields` (with
/// `created_at`, `format: date-time`), `status` is `ItemStatusNullable`. The Item's `error` is non-null while it
/// needs a login (`PlaidError`: "An Item with a non-`null` error object will only be part of an API response
/// when calling `/item/get`").
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

/// `/item/remove`: "Once removed, the `access_token` … is no longer valid". `reason_code` is
/// `ItemRemoveReasonCode` (nullable enum), `reason_note` nullable with `maxLength: 512`; a refused request
/// removes nothing.
fn item_remove(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    if let Some(reason) = optional_text(request, "reason_code", true)?
        && !REMOVE_REASONS.contains(&reason)
    {
        return Err(invalid_field("reason_code is not an ItemRemoveReasonCode"));
    }
    if optional_text(request, "reason_note", true)?.is_some_and(|note| note.chars().count() > 512) {
        return Err(invalid_field("reason_note must be at most 512 characters"));
    }
    let item_id = item(state, request, false)?.item_id.clone();
    let tokens: Vec<String> = state
        .items
        .iter()
        .filter(|(_, item)| item.item_id == item_id)
        .map(|(token, _)| token.clone())
        .collect();
    for token in tokens {
        state.items.remove(&token);
        state.removed_tokens.insert(token);
    }
    Ok(json!({}))
}

/// `/investments/refresh` (`InvestmentsRefreshRequest.required: [access_token]`); an Item needing a login cannot
/// be refreshed.
fn investments_refresh(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    item(state, request, true)?;
    Ok(json!({}))
}

/// Plaid's own sandbox helper: forces the Item into ITEM_LOGIN_REQUIRED (`SandboxItemResetLoginResponse.required:
/// [reset_login, request_id]`).
fn sandbox_reset_login(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    item(state, request, false)?.login_required = true;
    Ok(json!({"reset_login": true}))
}
