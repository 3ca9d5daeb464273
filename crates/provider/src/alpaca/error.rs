//! Alpaca's error responses sorted into what a caller can do about them.
//!
//! Alpaca's bodies are `{"code": 40310000, "message": "…"}` with `code` sometimes missing and extra fields
//! common, or plain text (the spec types some 403/422 bodies as strings). Its codes are overloaded
//! (40310000 covers buying power, minimum notional and suspensions), so the HTTP status decides the kind
//! and the code and message ride along.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use super::transport::Failure;
use super::wire::AlpacaErrorBody;

/// How much of an unreadable body an error keeps.
const RAW_BODY_LIMIT: usize = 2048;

/// Turns a failed attempt into the crate's error.
pub(super) fn into_provider_error(endpoint: &'static str, failure: Failure) -> AlpacaError {
    match failure {
        Failure::Transport(error) if error.is_timeout() => AlpacaError::Timeout {
            endpoint: endpoint.into(),
        },
        Failure::Transport(error) => AlpacaError::Transport {
            endpoint: endpoint.into(),
            message: error.to_string(),
        },
        Failure::Status {
            status,
            retry_after,
            request_id,
            body,
        } => {
            let details = details(status, request_id, &body);
            match status {
                StatusCode::UNAUTHORIZED => AlpacaError::Unauthorized(details),
                StatusCode::NOT_FOUND => AlpacaError::NotFound(details),
                StatusCode::TOO_MANY_REQUESTS => AlpacaError::RateLimited {
                    details,
                    retry_after,
                },
                status if status.is_server_error() => AlpacaError::Upstream(details),
                _ => AlpacaError::Rejected(details),
            }
        }
    }
}

/// The code and message from a JSON error body, or the text itself when it is not JSON.
fn details(status: StatusCode, request_id: Option<String>, body: &[u8]) -> ApiErrorDetails {
    let (code, message) = match serde_json::from_slice::<AlpacaErrorBody>(body) {
        Ok(error) => (error.code.map(|code| code.to_string()), error.message),
        Err(_) => match serde_json::from_slice::<String>(body) {
            Ok(text) => (None, text),
            Err(_) => (None, raw_text(body)),
        },
    };
    let message = if message.trim().is_empty() {
        status.to_string()
    } else {
        message
    };
    ApiErrorDetails {
        status: status.as_u16(),
        code,
        message,
        request_id,
    }
}

/// A 2xx body that does not match the documented shape.
pub(super) fn decode_error(
    endpoint: &'static str,
    error: &serde_json::Error,
    body: &[u8],
) -> AlpacaError {
    AlpacaError::Decode {
        endpoint: endpoint.into(),
        message: error.to_string(),
        raw_body: raw_text(body),
    }
}

/// reqwest could not build its client (the TLS backend failed to load).
pub(super) fn client_build_error(error: reqwest::Error) -> AlpacaError {
    AlpacaError::Transport {
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

/// An error from the API, with everything Alpaca said about it.
///
/// Never carries a secret: Alpaca's error bodies do not echo credentials or tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErrorDetails {
    /// The HTTP status.
    pub status: u16,
    /// Alpaca's error code, when it sent one.
    pub code: Option<String>,
    /// Alpaca's message.
    pub message: String,
    /// Alpaca's id for the failed request, for its support.
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

/// Everything that can go wrong talking to Alpaca, sorted by what a caller can do about it.
///
/// This is the module's stand-in for the crate-wide `ProviderError`, which had not landed when this client
/// was written; every variant maps one-to-one onto it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlpacaError {
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
    #[error("Alpaca refused the credentials: {0}")]
    Unauthorized(ApiErrorDetails),
    /// The object does not exist.
    #[error("Alpaca has no such object: {0}")]
    NotFound(ApiErrorDetails),
    /// Too many requests; wait `retry_after` when Alpaca said how long.
    #[error("Alpaca rate limit: {details}")]
    RateLimited {
        /// What Alpaca said.
        details: ApiErrorDetails,
        /// How long Alpaca asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Alpaca failed (5xx); trying later may work.
    #[error("Alpaca failed: {0}")]
    Upstream(ApiErrorDetails),
    /// Alpaca refused the request as it was (4xx).
    #[error("Alpaca rejected the request: {0}")]
    Rejected(ApiErrorDetails),
    /// No answer within the timeout.
    #[error("Alpaca did not answer {endpoint} in time")]
    Timeout {
        /// The operation.
        endpoint: String,
    },
    /// The connection failed before an answer arrived.
    #[error("could not reach Alpaca for {endpoint}: {message}")]
    Transport {
        /// The operation.
        endpoint: String,
        /// The transport's description (never the URL's query or a header).
        message: String,
    },
    /// The answer did not have the documented shape.
    #[error("Alpaca's answer to {endpoint} did not parse: {message}")]
    Decode {
        /// The operation.
        endpoint: String,
        /// What did not match.
        message: String,
        /// The body as received (cut to 2 KiB; withheld where it would carry a token).
        raw_body: String,
    },
}

impl AlpacaError {
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
