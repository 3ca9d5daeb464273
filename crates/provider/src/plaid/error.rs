//! Plaid's error bodies sorted into what a caller can do about them.
//!
//! Plaid asks clients to act on `error_type`/`error_code` rather than the HTTP status; the status is only
//! the fallback for a body that names nothing we know.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use super::transport::Failure;
use super::wire::PlaidErrorBody;

/// How much of an unreadable body an error keeps: enough to see what came back, not a whole page.
const RAW_BODY_LIMIT: usize = 2048;

/// What a Plaid error means for the caller, decided from `error_code`, then `error_type`, then status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlaidErrorKind {
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
    pub(crate) fn classify(status: StatusCode, body: &PlaidErrorBody) -> Self {
        match body.error_code.as_str() {
            "ITEM_LOGIN_REQUIRED"
            | "PENDING_EXPIRATION"
            | "PENDING_DISCONNECT"
            | "ACCESS_NOT_GRANTED"
            | "USER_PERMISSION_REVOKED"
            | "ITEM_LOCKED"
            | "INVALID_CREDENTIALS"
            | "INVALID_MFA" => {
                return Self::LoginRequired;
            }
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

/// Turns a failed attempt into the crate's error, reading Plaid's error body when there is one.
pub(super) fn into_provider_error(endpoint: &'static str, failure: Failure) -> PlaidError {
    match failure {
        Failure::Transport(error) if error.is_timeout() => PlaidError::Timeout {
            endpoint: endpoint.into(),
        },
        Failure::Transport(error) => PlaidError::Transport {
            endpoint: endpoint.into(),
            message: error.to_string(),
        },
        Failure::Status {
            status,
            retry_after,
            body,
        } => match serde_json::from_slice::<PlaidErrorBody>(&body) {
            Ok(plaid) => from_plaid_error(status, retry_after, plaid),
            Err(_) => unreadable_error(endpoint, status, retry_after, &body),
        },
    }
}

fn from_plaid_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: PlaidErrorBody,
) -> PlaidError {
    let kind = PlaidErrorKind::classify(status, &body);
    let details = ApiErrorDetails {
        status: status.as_u16(),
        message: body
            .display_message
            .clone()
            .or(body.error_message.clone())
            .unwrap_or_else(|| body.error_code.clone()),
        code: Some(body.error_code),
        request_id: body.request_id,
    };
    match kind {
        PlaidErrorKind::LoginRequired => PlaidError::ConnectionDisabled(details),
        PlaidErrorKind::NotReady => PlaidError::NotReady(details),
        PlaidErrorKind::RateLimited => PlaidError::RateLimited {
            details,
            retry_after,
        },
        PlaidErrorKind::Unauthorized => PlaidError::Unauthorized(details),
        PlaidErrorKind::NotFound => PlaidError::NotFound(details),
        PlaidErrorKind::Upstream => PlaidError::Upstream(details),
        PlaidErrorKind::Rejected => PlaidError::Rejected(details),
    }
}

/// A non-2xx response whose body is not Plaid's error object (a proxy's HTML page, an empty 502…).
fn unreadable_error(
    endpoint: &'static str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> PlaidError {
    let details = ApiErrorDetails {
        status: status.as_u16(),
        code: None,
        message: raw_text(body),
        request_id: None,
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS => PlaidError::RateLimited {
            details,
            retry_after,
        },
        StatusCode::UNAUTHORIZED => PlaidError::Unauthorized(details),
        status if status.is_server_error() => PlaidError::Upstream(details),
        _ => PlaidError::Decode {
            endpoint: endpoint.into(),
            message: format!("HTTP {status} with a body that is not a Plaid error"),
            raw_body: raw_text(body),
        },
    }
}

/// A 2xx body that does not match the documented shape.
///
/// The raw body is kept for diagnosis, except where a successful body carries an access token.
pub(super) fn decode_error(
    endpoint: &'static str,
    error: &serde_json::Error,
    body: &[u8],
) -> PlaidError {
    let raw_body = if endpoint == super::PUBLIC_TOKEN_EXCHANGE.path {
        "[withheld: this response carries an access token]".to_owned()
    } else {
        raw_text(body)
    };
    PlaidError::Decode {
        endpoint: endpoint.into(),
        message: error.to_string(),
        raw_body,
    }
}

/// reqwest could not build its client (the TLS backend failed to load).
pub(super) fn client_build_error(error: reqwest::Error) -> PlaidError {
    PlaidError::Transport {
        endpoint: "client".into(),
        message: error.to_string(),
    }
}

fn raw_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(RAW_BODY_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// An error from the API, with everything Plaid said about it.
///
/// Never carries a secret: Plaid's error bodies do not echo credentials or tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErrorDetails {
    /// The HTTP status.
    pub status: u16,
    /// Plaid's error code, when it sent one.
    pub code: Option<String>,
    /// Plaid's message.
    pub message: String,
    /// Plaid's id for the failed request, for its support.
    pub request_id: Option<String>,
}

impl fmt::Display for ApiErrorDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(request_id) = &self.request_id {
            write!(f, " (request id {request_id})")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to Plaid, sorted by what a caller can do about it.
///
/// This is the module's stand-in for the crate-wide `ProviderError`, which had not landed when this client
/// was written; every variant maps one-to-one onto it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaidError {
    /// A configuration variable is missing or malformed.
    #[error("{variable} {reason}")]
    Config {
        /// The variable's name.
        variable: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value given to the client cannot be sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// What the value is.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Our credentials (or the token used) are not accepted.
    #[error("Plaid refused the credentials: {0}")]
    Unauthorized(ApiErrorDetails),
    /// The user must sign in again through Link update mode (`ITEM_LOGIN_REQUIRED` and kin).
    #[error("the Plaid connection needs the user to sign in again: {0}")]
    ConnectionDisabled(ApiErrorDetails),
    /// Plaid is still extracting the data (`PRODUCT_NOT_READY`); try later or wait for the webhook.
    #[error("Plaid's data is not ready yet: {0}")]
    NotReady(ApiErrorDetails),
    /// The object does not exist.
    #[error("Plaid has no such object: {0}")]
    NotFound(ApiErrorDetails),
    /// Too many requests; wait `retry_after` when Plaid said how long.
    #[error("Plaid rate limit: {details}")]
    RateLimited {
        /// What Plaid said.
        details: ApiErrorDetails,
        /// How long Plaid asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Plaid failed (5xx); trying later may work.
    #[error("Plaid failed: {0}")]
    Upstream(ApiErrorDetails),
    /// Plaid refused the request as it was (4xx).
    #[error("Plaid rejected the request: {0}")]
    Rejected(ApiErrorDetails),
    /// No answer within the timeout.
    #[error("Plaid did not answer {endpoint} in time")]
    Timeout {
        /// The operation.
        endpoint: String,
    },
    /// The connection failed before an answer arrived.
    #[error("could not reach Plaid for {endpoint}: {message}")]
    Transport {
        /// The operation.
        endpoint: String,
        /// The transport's description (never the URL's query or a header).
        message: String,
    },
    /// The answer did not have the documented shape.
    #[error("Plaid's answer to {endpoint} did not parse: {message}")]
    Decode {
        /// The operation.
        endpoint: String,
        /// What did not match.
        message: String,
        /// The body as received (cut to 2 KiB; withheld where it would carry a token).
        raw_body: String,
    },
}

impl PlaidError {
    pub(crate) fn config(variable: &str, reason: &str) -> Self {
        Self::Config {
            variable: variable.into(),
            reason: reason.into(),
        }
    }

    #[allow(dead_code)]
    pub(crate) fn invalid_input(field: &str, reason: &str) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
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
