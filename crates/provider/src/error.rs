//! The crate's error for outbound calls and their configuration, sorted by what a caller can do about a
//! failure. The router's refusals (a provider switched off, a read-only connection…) are their own enum,
//! [`crate::router::RoutingRefusal`].
//!
//! Every client turns its provider's error bodies into these variants, so the sync layer handles "the user
//! must reconnect" or "wait and try again" once, whatever the provider. Nothing here ever holds a secret:
//! provider error bodies do not echo credentials, the transport's messages carry no URL, and a body that
//! would carry a token is withheld (see [`ProviderError::decode_withheld`]).

use std::fmt;
use std::time::Duration;

use tributary_domain::Provider;

/// What a provider said about a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// Who answered.
    pub provider: Provider,
    /// The HTTP status.
    pub status: u16,
    /// The provider's own error code (`ITEM_LOGIN_REQUIRED`, `1076`, `40310000`), when it sent one.
    pub code: Option<String>,
    /// The provider's message, or the start of the body when it was not the documented error shape.
    pub message: String,
    /// The provider's id for the request (`X-Request-ID`, Plaid's `request_id`), what its support asks for.
    pub request_id: Option<String>,
}

impl ErrorDetail {
    /// A detail with a status and a message; add the code and request id with the `with_` methods.
    pub fn new(provider: Provider, status: u16, message: impl Into<String>) -> Self {
        Self {
            provider,
            status,
            code: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// The same detail with the provider's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// The same detail with the provider's request id, when there is one.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

impl fmt::Display for ErrorDetail {
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

/// Everything that can go wrong configuring a provider's client or talking to the provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A configuration variable is missing or malformed.
    #[error("{variable} {reason}")]
    Config {
        /// The environment variable's name.
        variable: &'static str,
        /// What is wrong with it (never its value).
        reason: String,
    },
    /// A value the caller gave cannot be sent to the provider.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// What the value is.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The provider sent a value that is not valid in Tributary's domain (a negative quantity, a bad id…).
    #[error("{provider} sent an invalid {field}: {reason}")]
    InvalidData {
        /// Who sent it.
        provider: Provider,
        /// Which field, as a path into the payload (`holdings[2].quantity`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Our credentials, signature or token are not accepted.
    #[error("{provider} refused the credentials: {detail}", provider = .0.provider, detail = .0)]
    Unauthorized(ErrorDetail),
    /// The brokerage connection is disabled; the user must reconnect it through the portal.
    #[error("{provider} reports the connection disabled: {detail}", provider = .0.provider, detail = .0)]
    ConnectionDisabled(ErrorDetail),
    /// The user must sign in again at the institution (Plaid's `ITEM_LOGIN_REQUIRED` and kin).
    #[error("{provider} needs the user to sign in again: {detail}", provider = .0.provider, detail = .0)]
    LoginRequired(ErrorDetail),
    /// The endpoint is retired for this account (HTTP 410); another call must be used.
    #[error("{provider} no longer offers this endpoint: {detail}", provider = .0.provider, detail = .0)]
    Gone(ErrorDetail),
    /// The data is still being gathered (HTTP 425, Plaid's `PRODUCT_NOT_READY`); try again later.
    #[error("{provider}'s data is not ready yet: {detail}", provider = .0.provider, detail = .0)]
    NotReady(ErrorDetail),
    /// The object does not exist (any more).
    #[error("{provider} has no such object: {detail}", provider = .0.provider, detail = .0)]
    NotFound(ErrorDetail),
    /// The provider refused the request as it was (a 4xx that fits no other variant).
    #[error("{provider} rejected the request: {detail}", provider = .0.provider, detail = .0)]
    Rejected(ErrorDetail),
    /// Too many requests; wait `retry_after` when the provider said how long.
    #[error("{provider} rate limit: {detail}", provider = .detail.provider)]
    RateLimited {
        /// What the provider said.
        detail: ErrorDetail,
        /// How long the provider asked us to wait (`Retry-After`, `X-RateLimit-Reset`).
        retry_after: Option<Duration>,
    },
    /// Not sent: the client's own request budget (see each config's `rate_limits`) had no room for the call
    /// before its timeout ran out. Nothing reached the provider; the budget has room again after `wait`.
    #[error(
        "{provider}'s request budget has no room for {endpoint} within its timeout (next in {wait:?}); not sent"
    )]
    RateBudgetWait {
        /// Who would have been called.
        provider: Provider,
        /// The operation's name.
        endpoint: &'static str,
        /// How long until the budget has room.
        wait: Duration,
    },
    /// The provider or the institution behind it failed (5xx); trying later may work.
    #[error("{provider} failed: {detail}", provider = .0.provider, detail = .0)]
    Upstream(ErrorDetail),
    /// A successful answer did not have the documented shape.
    #[error("{provider}'s answer to {endpoint} did not parse: {message}")]
    Decode {
        /// Who answered.
        provider: Provider,
        /// The operation's name.
        endpoint: &'static str,
        /// What did not match.
        message: String,
        /// The body as received, cut to 2 KiB; withheld where it would carry a token or secret.
        raw_body: String,
    },
    /// No answer within the timeout. The request may still have been processed.
    #[error("{provider} did not answer {endpoint} in time")]
    Timeout {
        /// Who was asked.
        provider: Provider,
        /// The operation's name.
        endpoint: &'static str,
    },
    /// The connection failed before an answer arrived.
    #[error("could not reach {provider} for {endpoint}: {message}")]
    Transport {
        /// Who was asked.
        provider: Provider,
        /// The operation's name.
        endpoint: &'static str,
        /// The transport's description (never a URL or a header).
        message: String,
    },
    /// Whether the provider holds an order cannot be told from what it answers: it may have placed it or not.
    /// The caller must not send the order again; it stays pending until a later refresh settles it.
    #[error("{provider} cannot tell whether order {client_order_id} was placed: {reason}")]
    OutcomeUnknown {
        /// Who was asked.
        provider: Provider,
        /// The order's idempotency id, as sent.
        client_order_id: String,
        /// Why it cannot be told.
        reason: String,
    },
    /// The provider answered with a redirect (3xx). Clients follow none: the request's credentials (Plaid's
    /// secret and access token in the body, SnapTrade's signature in a header) must never reach another host.
    #[error(
        "{provider} answered {endpoint} with a redirect (HTTP {status}), which is not followed"
    )]
    Redirected {
        /// Who answered.
        provider: Provider,
        /// The operation's name.
        endpoint: &'static str,
        /// The 3xx status.
        status: u16,
    },
    /// The answer's body grew past the configured cap; it was not read further.
    #[error("{provider}'s answer to {endpoint} is larger than the {limit} bytes allowed")]
    ResponseTooLarge {
        /// Who answered.
        provider: Provider,
        /// The operation's name.
        endpoint: &'static str,
        /// The cap, in bytes.
        limit: usize,
    },
    /// A base URL uses plain `http` for a host other than loopback: credentials would travel unencrypted.
    #[error(
        "{variable} must be an https URL unless it points at loopback (127.0.0.0/8, ::1, localhost); got {url}"
    )]
    InsecureUrl {
        /// The environment variable that sets the URL.
        variable: &'static str,
        /// The URL's scheme, host and port (never its user info, path or query).
        url: String,
    },
}

/// Constructors, public so implementations of the capability traits outside this crate (test doubles,
/// other providers) report failures the same way.
impl ProviderError {
    /// A configuration error naming the variable.
    pub fn config(variable: &'static str, reason: impl Into<String>) -> Self {
        Self::Config {
            variable,
            reason: reason.into(),
        }
    }

    /// A caller's value that cannot be sent.
    pub fn invalid_input(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// A provider's value that is not valid in the domain.
    pub fn invalid_data(
        provider: Provider,
        field: impl Into<String>,
        reason: impl fmt::Display,
    ) -> Self {
        Self::InvalidData {
            provider,
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// A successful body that did not parse, keeping the start of the body for diagnosis.
    pub fn decode(
        provider: Provider,
        endpoint: &'static str,
        error: &serde_json::Error,
        body: &[u8],
    ) -> Self {
        Self::Decode {
            provider,
            endpoint,
            message: error.to_string(),
            raw_body: body_excerpt(body),
        }
    }

    /// A successful body that did not parse and carries a secret (an access token, a user secret): neither
    /// the body nor serde's message (which quotes the offending value) is kept, only where parsing stopped.
    pub fn decode_withheld(
        provider: Provider,
        endpoint: &'static str,
        error: &serde_json::Error,
    ) -> Self {
        Self::Decode {
            provider,
            endpoint,
            message: format!(
                "{:?} error at line {} column {}",
                error.classify(),
                error.line(),
                error.column()
            ),
            raw_body: "[withheld: this response carries a secret]".to_owned(),
        }
    }
}

impl ProviderError {
    /// The variant an HTTP status means when the body names nothing more precise.
    ///
    /// 401 → [`Unauthorized`](Self::Unauthorized), 402 → [`ConnectionDisabled`](Self::ConnectionDisabled),
    /// 404 → [`NotFound`](Self::NotFound), 410 → [`Gone`](Self::Gone), 425 → [`NotReady`](Self::NotReady),
    /// 429 → [`RateLimited`](Self::RateLimited), 5xx → [`Upstream`](Self::Upstream), any other status →
    /// [`Rejected`](Self::Rejected).
    pub fn from_status(detail: ErrorDetail, retry_after: Option<Duration>) -> Self {
        match detail.status {
            401 => Self::Unauthorized(detail),
            402 => Self::ConnectionDisabled(detail),
            404 => Self::NotFound(detail),
            410 => Self::Gone(detail),
            425 => Self::NotReady(detail),
            429 => Self::RateLimited {
                detail,
                retry_after,
            },
            500..=599 => Self::Upstream(detail),
            _ => Self::Rejected(detail),
        }
    }

    /// Which provider the error came from, when it came from one.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Self::Unauthorized(detail)
            | Self::ConnectionDisabled(detail)
            | Self::LoginRequired(detail)
            | Self::Gone(detail)
            | Self::NotReady(detail)
            | Self::NotFound(detail)
            | Self::Rejected(detail)
            | Self::Upstream(detail)
            | Self::RateLimited { detail, .. } => Some(detail.provider),
            Self::InvalidData { provider, .. }
            | Self::Decode { provider, .. }
            | Self::Timeout { provider, .. }
            | Self::Transport { provider, .. }
            | Self::OutcomeUnknown { provider, .. }
            | Self::Redirected { provider, .. }
            | Self::RateBudgetWait { provider, .. }
            | Self::ResponseTooLarge { provider, .. } => Some(*provider),
            Self::Config { .. } | Self::InsecureUrl { .. } | Self::InvalidInput { .. } => None,
        }
    }

    /// Whether the same call may succeed later without anyone changing anything: rate limits, provider
    /// failures (5xx), data not ready yet, timeouts and dropped connections.
    ///
    /// [`OutcomeUnknown`](Self::OutcomeUnknown) is not: an order whose fate cannot be told must not be sent
    /// again blindly.
    ///
    /// ```
    /// use tributary_domain::Provider;
    /// use tributary_provider::{ErrorDetail, ProviderError};
    ///
    /// let down = ProviderError::from_status(ErrorDetail::new(Provider::Plaid, 503, "maintenance"), None);
    /// assert!(down.is_retryable());
    /// let refused = ProviderError::from_status(ErrorDetail::new(Provider::Plaid, 400, "bad field"), None);
    /// assert!(!refused.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::RateBudgetWait { .. }
                | Self::Upstream(_)
                | Self::NotReady(_)
                | Self::Timeout { .. }
                | Self::Transport { .. }
        )
    }

    /// Whether only the user can repair this, by linking the connection again (Plaid's Link update mode,
    /// SnapTrade's connection portal): the institution wants them to sign in again
    /// ([`LoginRequired`](Self::LoginRequired)), the brokerage connection is disabled
    /// ([`ConnectionDisabled`](Self::ConnectionDisabled)), or the user's own credential no longer opens
    /// anything (Plaid's `INVALID_ACCESS_TOKEN` and `ITEM_NOT_FOUND`: the Item was removed or its token
    /// revoked).
    ///
    /// Our own credentials being refused ([`Unauthorized`](Self::Unauthorized) with any other code: an API
    /// key, a secret, a signature) is not the user's to fix, and neither is an endpoint retired for the
    /// account ([`Gone`](Self::Gone)): linking again would not change either.
    ///
    /// ```
    /// use tributary_domain::Provider;
    /// use tributary_provider::{ErrorDetail, ProviderError};
    ///
    /// let expired = ErrorDetail::new(Provider::Plaid, 400, "the login details changed")
    ///     .with_code("ITEM_LOGIN_REQUIRED");
    /// assert!(ProviderError::LoginRequired(expired).needs_relink());
    ///
    /// let our_key = ErrorDetail::new(Provider::Plaid, 400, "bad secret").with_code("INVALID_SECRET");
    /// assert!(!ProviderError::Unauthorized(our_key).needs_relink());
    /// ```
    pub fn needs_relink(&self) -> bool {
        match self {
            Self::LoginRequired(_) | Self::ConnectionDisabled(_) => true,
            Self::Unauthorized(detail) | Self::NotFound(detail) => {
                names_a_dead_user_credential(detail)
            }
            _ => false,
        }
    }

    /// The HTTP status the provider answered with, when the failure was an answer (a 4xx or 5xx with its
    /// detail, or a redirect that was not followed); `None` for failures without one (a timeout, a decode
    /// error of a 2xx body, a configuration error).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tributary_domain::Provider;
    /// use tributary_provider::{ErrorDetail, ProviderError};
    ///
    /// let limited = ErrorDetail::new(Provider::Alpaca, 429, "slow down");
    /// let error = ProviderError::from_status(limited, Some(Duration::from_secs(1)));
    /// assert_eq!(error.http_status(), Some(429));
    /// let timeout = ProviderError::Timeout { provider: Provider::Alpaca, endpoint: "getAccount" };
    /// assert_eq!(timeout.http_status(), None);
    /// ```
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Redirected { status, .. } => Some(*status),
            _ => self.detail().map(|detail| detail.status),
        }
    }

    /// The provider's detail (status, code, message, request id), when the failure was an error answer.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        match self {
            Self::Unauthorized(detail)
            | Self::ConnectionDisabled(detail)
            | Self::LoginRequired(detail)
            | Self::Gone(detail)
            | Self::NotReady(detail)
            | Self::NotFound(detail)
            | Self::Rejected(detail)
            | Self::Upstream(detail)
            | Self::RateLimited { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// How long the provider asked us to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            Self::RateBudgetWait { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

/// Provider error codes that say the user's own credential no longer opens anything, so only a new link
/// helps. Plaid: `INVALID_ACCESS_TOKEN` (the access token the caller holds for the user's Item is refused)
/// and `ITEM_NOT_FOUND` (the Item was removed). Plaid's OpenAPI spec lists no error codes, so these follow
/// its error reference; SnapTrade and Alpaca name no such code: their 401s refuse our keys and signatures,
/// not a user's.
const DEAD_USER_CREDENTIAL_CODES: [(Provider, &str); 2] = [
    (Provider::Plaid, "INVALID_ACCESS_TOKEN"),
    (Provider::Plaid, "ITEM_NOT_FOUND"),
];

fn names_a_dead_user_credential(detail: &ErrorDetail) -> bool {
    detail
        .code
        .as_deref()
        .is_some_and(|code| DEAD_USER_CREDENTIAL_CODES.contains(&(detail.provider, code)))
}

/// The start of a body as text, cut to 2 KiB at a character boundary.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    /// Enough to see what came back, not a whole page.
    const RAW_BODY_LIMIT: usize = 2048;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(RAW_BODY_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(status: u16) -> ErrorDetail {
        ErrorDetail::new(Provider::SnapTrade, status, "nope")
    }

    #[test]
    fn each_status_maps_to_the_variant_a_caller_acts_on() {
        let variant = |status| match ProviderError::from_status(detail(status), None) {
            ProviderError::Unauthorized(_) => "Unauthorized",
            ProviderError::ConnectionDisabled(_) => "ConnectionDisabled",
            ProviderError::NotFound(_) => "NotFound",
            ProviderError::Gone(_) => "Gone",
            ProviderError::NotReady(_) => "NotReady",
            ProviderError::RateLimited { .. } => "RateLimited",
            ProviderError::Upstream(_) => "Upstream",
            ProviderError::Rejected(_) => "Rejected",
            other => panic!("{status} became {other:?}"),
        };
        let cases = [
            (401, "Unauthorized"),
            (402, "ConnectionDisabled"),
            (404, "NotFound"),
            (410, "Gone"),
            (425, "NotReady"),
            (429, "RateLimited"),
            (503, "Upstream"),
            (400, "Rejected"),
            (422, "Rejected"),
        ];
        for (status, expected) in cases {
            assert_eq!(variant(status), expected, "HTTP {status}");
        }
    }

    /// One error of every variant, each with the answers its classifiers must give.
    fn every_variant() -> Vec<ProviderError> {
        let plaid = |code: &str| ErrorDetail::new(Provider::Plaid, 400, "refused").with_code(code);
        vec![
            ProviderError::config("PLAID_SECRET", "is missing"),
            ProviderError::invalid_input("symbol", "is empty"),
            ProviderError::invalid_data(Provider::Alpaca, "qty", "is negative"),
            ProviderError::Unauthorized(detail(401).with_code("1076")),
            ProviderError::Unauthorized(plaid("INVALID_ACCESS_TOKEN")),
            ProviderError::ConnectionDisabled(detail(402).with_code("3003")),
            ProviderError::LoginRequired(plaid("ITEM_LOGIN_REQUIRED")),
            ProviderError::Gone(detail(410)),
            ProviderError::NotReady(detail(425)),
            ProviderError::NotFound(detail(404)),
            ProviderError::NotFound(plaid("ITEM_NOT_FOUND")),
            ProviderError::Rejected(detail(422)),
            ProviderError::RateLimited {
                detail: detail(429),
                retry_after: None,
            },
            ProviderError::Upstream(detail(503)),
            ProviderError::Decode {
                provider: Provider::SnapTrade,
                endpoint: "listUserAccounts",
                message: "expected a list".into(),
                raw_body: "{}".into(),
            },
            ProviderError::Timeout {
                provider: Provider::SnapTrade,
                endpoint: "listUserAccounts",
            },
            ProviderError::Transport {
                provider: Provider::SnapTrade,
                endpoint: "listUserAccounts",
                message: "connection reset".into(),
            },
            ProviderError::OutcomeUnknown {
                provider: Provider::Alpaca,
                client_order_id: "c-1".into(),
                reason: "no answer".into(),
            },
            ProviderError::Redirected {
                provider: Provider::Plaid,
                endpoint: "/accounts/get",
                status: 302,
            },
            ProviderError::ResponseTooLarge {
                provider: Provider::Plaid,
                endpoint: "/accounts/get",
                limit: 1024,
            },
            ProviderError::InsecureUrl {
                variable: "PLAID_BASE_URL",
                url: "http://example.com".into(),
            },
            ProviderError::RateBudgetWait {
                provider: Provider::SnapTrade,
                endpoint: "getUserHoldings",
                wait: Duration::from_secs(3),
            },
        ]
    }

    /// `(needs_relink, is_retryable, http_status)` for each variant. The match has no wildcard: a new
    /// variant does not compile until someone decides how it is classified.
    fn expected(error: &ProviderError) -> (bool, bool, Option<u16>) {
        use ProviderError as E;
        match error {
            E::Config { .. } | E::InvalidInput { .. } | E::InvalidData { .. } => {
                (false, false, None)
            }
            E::Unauthorized(d) => (
                d.code.as_deref() == Some("INVALID_ACCESS_TOKEN"),
                false,
                Some(d.status),
            ),
            E::ConnectionDisabled(d) | E::LoginRequired(d) => (true, false, Some(d.status)),
            E::Gone(d) | E::Rejected(d) => (false, false, Some(d.status)),
            E::NotFound(d) => (
                d.code.as_deref() == Some("ITEM_NOT_FOUND"),
                false,
                Some(d.status),
            ),
            E::NotReady(d) | E::Upstream(d) | E::RateLimited { detail: d, .. } => {
                (false, true, Some(d.status))
            }
            E::Decode { .. } | E::OutcomeUnknown { .. } | E::ResponseTooLarge { .. } => {
                (false, false, None)
            }
            E::Timeout { .. } | E::Transport { .. } | E::RateBudgetWait { .. } => {
                (false, true, None)
            }
            E::Redirected { status, .. } => (false, false, Some(*status)),
            E::InsecureUrl { .. } => (false, false, None),
        }
    }

    #[test]
    fn every_variant_is_classified_for_relink_retry_and_status() {
        let errors = every_variant();
        for error in &errors {
            let (relink, retryable, status) = expected(error);
            assert_eq!(error.needs_relink(), relink, "needs_relink of {error:?}");
            assert_eq!(error.is_retryable(), retryable, "is_retryable of {error:?}");
            assert_eq!(error.http_status(), status, "http_status of {error:?}");
            assert_eq!(
                error.detail().map(|d| d.status),
                error
                    .http_status()
                    .filter(|_| !matches!(error, ProviderError::Redirected { .. })),
                "detail of {error:?}"
            );
        }
        assert!(errors.iter().any(ProviderError::needs_relink));
        assert!(errors.iter().any(ProviderError::is_retryable));
    }

    #[test]
    fn only_the_users_own_credential_refused_needs_a_relink() {
        let refused = |provider, code: &str| {
            ProviderError::Unauthorized(ErrorDetail::new(provider, 401, "no").with_code(code))
        };
        assert!(refused(Provider::Plaid, "INVALID_ACCESS_TOKEN").needs_relink());
        for (provider, code) in [
            (Provider::Plaid, "INVALID_SECRET"),
            (Provider::Plaid, "INVALID_API_KEYS"),
            (Provider::SnapTrade, "1076"),
            (Provider::SnapTrade, "INVALID_ACCESS_TOKEN"),
        ] {
            assert!(!refused(provider, code).needs_relink(), "{provider} {code}");
        }
    }

    #[test]
    fn a_rate_limit_keeps_how_long_to_wait() {
        let error = ProviderError::from_status(detail(429), Some(Duration::from_secs(7)));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert!(error.is_retryable());
    }

    #[test]
    fn the_message_names_provider_status_code_and_request_id() {
        let detail = detail(401)
            .with_code("1076")
            .with_request_id(Some("req-42".into()));
        let message = ProviderError::Unauthorized(detail).to_string();
        for part in ["HTTP 401", "1076", "nope", "req-42"] {
            assert!(message.contains(part), "{part} missing from {message}");
        }
        assert!(
            message.to_lowercase().contains("snaptrade"),
            "provider missing from {message}"
        );
    }

    #[test]
    fn a_long_body_is_cut_at_a_character_boundary() {
        let body = "é".repeat(2048 + 10);
        let excerpt = body_excerpt(body.as_bytes());
        assert_eq!(excerpt.chars().count(), 2048 + 1);
        assert!(excerpt.ends_with('…'));
    }

    #[test]
    fn a_withheld_decode_error_keeps_neither_the_body_nor_the_value() {
        let body = br#"{"access_token": 12345678901}"#;
        let error = serde_json::from_slice::<std::collections::HashMap<String, String>>(body)
            .expect_err("a number is not a string");
        let withheld =
            ProviderError::decode_withheld(Provider::Plaid, "/item/public_token/exchange", &error);
        let shown = format!("{withheld} {withheld:?}");
        assert!(!shown.contains("12345678901"), "{shown}");
    }
}
