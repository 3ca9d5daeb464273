//! Link: link tokens, the sandbox's public tokens and their exchange for an access token.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{
    PUBLIC_TOKEN_LIFETIME_MINUTES, PlaidState, error, invalid_field, is_url, item, listed_strings,
    missing, now, optional_text, options, required_text,
};
use crate::plaid::state::Item;
use crate::plaid::vocabulary::{COUNTRY_CODES, CREDIT_PRODUCTS, LANGUAGES, PRODUCTS};
use crate::reply::ApiError;

/// `/link/token/create` (`LinkTokenCreateRequest`).
pub(super) fn link_token_create(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
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

/// `/sandbox/public_token/create` (`SandboxPublicTokenCreateRequest`).
pub(super) fn sandbox_public_token_create(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
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
    // `options.webhook`: "Specify a webhook to associate with the new Item."
    if let Some(webhook) = optional_text(&options, "webhook", false)? {
        state
            .pending_webhooks
            .insert(public_token.clone(), webhook.to_owned());
    }
    let created = now(state);
    state
        .public_tokens
        .insert(public_token.clone(), (institution_id, created));
    Ok(json!({"public_token": public_token}))
}

/// `/item/public_token/exchange`: "A `public_token` is one-time use and expires after 30 minutes." An unknown,
/// used or expired token is `INVALID_PUBLIC_TOKEN` (400 `INVALID_INPUT`, Plaid's errors docs).
pub(super) fn public_token_exchange(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
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
    let webhook = state.pending_webhooks.remove(public_token);
    let item = Item::generate(&institution_id, 2, 4, state.default_transactions);
    let access_token = format!("access-sandbox-{}", uuid::Uuid::new_v4());
    let item_id = item.item_id.clone();
    if let Some(webhook) = webhook {
        state.item_webhooks.insert(item_id.clone(), webhook);
    }
    state.items.insert(access_token.clone(), item);
    Ok(json!({"access_token": access_token, "item_id": item_id}))
}
