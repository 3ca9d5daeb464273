//! Plaid's error bodies sorted into [`ProviderError`] variants.
//!
//! Plaid asks clients to act on `error_type`/`error_code` rather than the HTTP status; the status is only
//! the fallback for a body that names nothing we know, or for a body that is not Plaid's error object at
//! all (a proxy's HTML page, an empty 502).

use reqwest::StatusCode;
use tributary_domain::Provider;

use super::wire::PlaidErrorBody;
use crate::error::{ErrorDetail, ProviderError};
use crate::http::StatusFailure;

/// What a Plaid error means for the caller, decided from `error_code`, then `error_type`, then status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlaidErrorKind {
    /// The user must log in again through Link update mode (`ITEM_LOGIN_REQUIRED` and friends).
    LoginRequired,
    /// The data is still being extracted (`PRODUCT_NOT_READY`); try again later or wait for the webhook.
    NotReady,
    /// Too many requests (`RATE_LIMIT_EXCEEDED` type, whatever the per-endpoint code).
    RateLimited,
    /// Our credentials or the access token are not accepted.
    Unauthorized,
    /// The Item or another object does not exist (any more).
    NotFound,
    /// Plaid or the institution failed (`API_ERROR`, `INSTITUTION_ERROR`, 5xx).
    Upstream,
    /// Anything else: a request we got wrong or a product the institution lacks.
    Rejected,
}

impl PlaidErrorKind {
    fn classify(status: StatusCode, body: &PlaidErrorBody) -> Self {
        if needs_user(&body.error_code) {
            return Self::LoginRequired;
        }
        match body.error_code.as_str() {
            "PRODUCT_NOT_READY" => return Self::NotReady,
            "INVALID_ACCESS_TOKEN"
            | "INVALID_API_KEYS"
            | "INVALID_SECRET"
            | "INVALID_CLIENT_ID"
            | "UNAUTHORIZED_ENVIRONMENT" => return Self::Unauthorized,
            "ITEM_NOT_FOUND" => return Self::NotFound,
            "INTERNAL_SERVER_ERROR" | "PLANNED_MAINTENANCE" => return Self::Upstream,
            _ => {}
        }
        match body.error_type.as_str() {
            "RATE_LIMIT_EXCEEDED" => Self::RateLimited,
            "API_ERROR" | "INSTITUTION_ERROR" => Self::Upstream,
            _ if status == StatusCode::TOO_MANY_REQUESTS => Self::RateLimited,
            _ if status.is_server_error() => Self::Upstream,
            _ if status == StatusCode::UNAUTHORIZED => Self::Unauthorized,
            _ => Self::Rejected,
        }
    }
}

/// Whether an Item error code means the user must go through Link update mode again.
pub(super) fn needs_user(error_code: &str) -> bool {
    matches!(
        error_code,
        "ITEM_LOGIN_REQUIRED"
            | "PENDING_EXPIRATION"
            | "PENDING_DISCONNECT"
            | "ACCESS_NOT_GRANTED"
            | "USER_PERMISSION_REVOKED"
            | "ITEM_LOCKED"
            | "INVALID_CREDENTIALS"
            | "INVALID_MFA"
    )
}

/// A non-2xx answer from Plaid as the crate's error, read from Plaid's error object when there is one.
pub(super) fn status_error(endpoint: &'static str, failure: StatusFailure) -> ProviderError {
    match serde_json::from_slice::<PlaidErrorBody>(&failure.body) {
        Ok(body) => from_plaid_error(failure, body),
        Err(_) => unreadable_error(endpoint, failure),
    }
}

fn from_plaid_error(failure: StatusFailure, body: PlaidErrorBody) -> ProviderError {
    let kind = PlaidErrorKind::classify(failure.status, &body);
    let message = body
        .display_message
        .or(body.error_message)
        .unwrap_or_else(|| body.error_code.clone());
    let detail = ErrorDetail::new(Provider::Plaid, failure.status.as_u16(), message)
        .with_code(body.error_code)
        .with_request_id(body.request_id.or(failure.request_id));
    match kind {
        PlaidErrorKind::LoginRequired => ProviderError::LoginRequired(detail),
        PlaidErrorKind::NotReady => ProviderError::NotReady(detail),
        PlaidErrorKind::RateLimited => ProviderError::RateLimited {
            detail,
            retry_after: failure.retry_after,
        },
        PlaidErrorKind::Unauthorized => ProviderError::Unauthorized(detail),
        PlaidErrorKind::NotFound => ProviderError::NotFound(detail),
        PlaidErrorKind::Upstream => ProviderError::Upstream(detail),
        PlaidErrorKind::Rejected => ProviderError::Rejected(detail),
    }
}

/// A non-2xx answer whose body is not Plaid's error object: 429, 401 and 5xx still say what happened;
/// anything else is a body we cannot read.
fn unreadable_error(endpoint: &'static str, failure: StatusFailure) -> ProviderError {
    let status = failure.status;
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::UNAUTHORIZED
        || status.is_server_error()
    {
        return failure.into_error(Provider::Plaid, None, None);
    }
    ProviderError::Decode {
        provider: Provider::Plaid,
        endpoint,
        message: format!("HTTP {status} with a body that is not a Plaid error"),
        raw_body: failure.body_or_reason(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error_type: &str, error_code: &str) -> PlaidErrorBody {
        PlaidErrorBody {
            error_type: error_type.into(),
            error_code: error_code.into(),
            error_code_reason: None,
            error_message: None,
            display_message: None,
            request_id: None,
            status: None,
            suggested_action: None,
        }
    }

    #[test]
    fn codes_decide_before_types_and_status() {
        let bad = StatusCode::BAD_REQUEST;
        let cases = [
            (
                "ITEM_ERROR",
                "ITEM_LOGIN_REQUIRED",
                PlaidErrorKind::LoginRequired,
            ),
            ("ITEM_ERROR", "PRODUCT_NOT_READY", PlaidErrorKind::NotReady),
            (
                "RATE_LIMIT_EXCEEDED",
                "ACCOUNTS_LIMIT",
                PlaidErrorKind::RateLimited,
            ),
            (
                "API_ERROR",
                "INTERNAL_SERVER_ERROR",
                PlaidErrorKind::Upstream,
            ),
            (
                "INVALID_INPUT",
                "INVALID_ACCESS_TOKEN",
                PlaidErrorKind::Unauthorized,
            ),
            (
                "ITEM_ERROR",
                "PRODUCTS_NOT_SUPPORTED",
                PlaidErrorKind::Rejected,
            ),
        ];
        for (error_type, code, kind) in cases {
            assert_eq!(
                PlaidErrorKind::classify(bad, &body(error_type, code)),
                kind,
                "{code}"
            );
        }
    }

    #[test]
    fn an_unknown_code_falls_back_to_the_status() {
        let unknown = body("SOME_NEW_TYPE", "SOME_NEW_CODE");
        assert_eq!(
            PlaidErrorKind::classify(StatusCode::BAD_GATEWAY, &unknown),
            PlaidErrorKind::Upstream
        );
        assert_eq!(
            PlaidErrorKind::classify(StatusCode::TOO_MANY_REQUESTS, &unknown),
            PlaidErrorKind::RateLimited
        );
        assert_eq!(
            PlaidErrorKind::classify(StatusCode::BAD_REQUEST, &unknown),
            PlaidErrorKind::Rejected
        );
    }
}
