//! The HTTP exchange every client shares: one configured `reqwest` client per provider, one timed and traced
//! `send`, the failures it can end in, and backoff for the calls that may be repeated.
//!
//! A client builds each request (URL, auth, body) itself and hands it to [`send`] or, for an idempotent
//! call, to [`HttpClient::send_idempotent`]. What comes back is the 2xx body or a [`Failure`]; the client reads its own
//! provider's error bodies from [`StatusFailure`] and falls back on [`ProviderError::from_status`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use tracing::Instrument;
use tributary_domain::Provider;

use crate::error::{ErrorDetail, ProviderError, body_excerpt};
use crate::limit::{Limiter, RateLimits};

/// How long establishing a connection may take; the whole request has its own, per-provider timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection is kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Every request says who sent it.
const USER_AGENT: &str = concat!("tributary/", env!("CARGO_PKG_VERSION"));
/// A `X-RateLimit-Reset` at or above this is a unix time (Alpaca); below, seconds to wait (SnapTrade).
const UNIX_TIME_THRESHOLD: u64 = 1_000_000_000;

/// The provider's HTTP client: `reqwest` (rustls, connect and request timeouts, pooled connections reused across
/// calls, **no redirects followed**) and the cap on a response body. Build one per client and clone it; clones
/// share the pool.
///
/// Redirects are never followed: Plaid's secret and access token travel in the body, SnapTrade's signature in a
/// header, Alpaca's key in `Authorization`; a 3xx from a compromised or misconfigured host must not carry them
/// elsewhere, so it ends the call as [`ProviderError::Redirected`]. A body is read chunk by chunk and refused as
/// [`ProviderError::ResponseTooLarge`] as soon as it passes the cap, whatever `Content-Length` claims.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
    max_response_bytes: usize,
    /// The call's timeout, which also bounds its wait for budget.
    request_timeout: Duration,
    /// The client's request budgets, shared by its clones.
    limiter: Limiter,
}

impl HttpClient {
    /// The client for `provider`, whose base URL is `base_url` (set by `variable`): refused unless it is
    /// `https` or points at loopback.
    pub(crate) fn new(
        provider: Provider,
        variable: &'static str,
        base_url: &url::Url,
        request_timeout: Duration,
        max_response_bytes: usize,
        limits: RateLimits,
    ) -> Result<Self, ProviderError> {
        crate::config::require_secure_url(variable, base_url)?;
        let inner = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(request_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(60))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|error| ProviderError::Transport {
                provider,
                endpoint: "client",
                message: error.without_url().to_string(),
            })?;
        Ok(Self {
            inner,
            max_response_bytes,
            request_timeout,
            limiter: Limiter::new(provider, limits),
        })
    }

    /// A request to `url`; send it with [`send`](Self::send) or [`send_idempotent`](Self::send_idempotent).
    #[cfg(any(feature = "snaptrade", feature = "alpaca"))]
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
    ) -> RequestBuilder {
        self.inner.request(method, url)
    }

    /// A POST to `url`.
    #[cfg(feature = "plaid")]
    pub(crate) fn post(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.inner.post(url)
    }

    /// Sends one request once its budget allows (see [`crate::limit`]): see [`send`].
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        request: RequestBuilder,
    ) -> Result<Reply, Failure> {
        self.within_budget(endpoint).await?;
        let sent = send(endpoint, request, self.max_response_bytes).await;
        self.observe(&sent);
        sent
    }

    /// Sends an idempotent request, building it afresh for each attempt and repeating it after transient
    /// failures (429, 5xx, no answer) with `backoff`'s waits; each attempt waits for its budget first.
    ///
    /// Only for calls that change nothing when repeated (reads, cancels, deletes by id). A write that creates
    /// something (a user, an order) must go through [`send`](Self::send) once, and resolve an unclear outcome
    /// itself.
    pub(crate) async fn send_idempotent(
        &self,
        backoff: &Backoff,
        endpoint: Endpoint,
        mut request: impl FnMut() -> RequestBuilder,
    ) -> Result<Reply, Failure> {
        let mut attempt = 1;
        loop {
            self.within_budget(endpoint).await?;
            let sent = send(endpoint, request(), self.max_response_bytes).await;
            self.observe(&sent);
            match sent {
                Err(failure) if failure.is_transient() && attempt < backoff.max_attempts => {
                    let Some(wait) = backoff.delay(attempt, failure.retry_after()) else {
                        return Err(failure);
                    };
                    tracing::info!(
                        provider = endpoint.provider.as_str(),
                        endpoint = endpoint.name,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "transient failure, sending the call again"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// Waits for the call's budgets, at most the call's timeout.
    async fn within_budget(&self, endpoint: Endpoint) -> Result<(), Failure> {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        self.limiter
            .acquire(endpoint.name, endpoint.key, deadline)
            .await
            .map_err(Failure::OverBudget)
    }

    /// Lets the budgets read an answer's rate-limit headers.
    fn observe(&self, sent: &Result<Reply, Failure>) {
        match sent {
            Ok(reply) => self.limiter.observe(&reply.headers),
            Err(Failure::Status(failure)) => self.limiter.observe(&failure.headers),
            Err(_) => {}
        }
    }
}

/// Which call is being made: the provider and the operation's name.
///
/// The name is what logs and errors show, so it is the documented operation (`getAccount`,
/// `/accounts/get`), never the URL: paths carry account ids and queries carry user ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Who is called.
    pub provider: Provider,
    /// The operation.
    pub name: &'static str,
    /// The Item or account whose own budget the call draws on, hashed ([`crate::limit::budget_key`]).
    pub key: Option<u64>,
}

impl Endpoint {
    /// An endpoint of `provider` named `name`.
    pub(crate) const fn new(provider: Provider, name: &'static str) -> Self {
        Self {
            provider,
            name,
            key: None,
        }
    }

    /// The same endpoint, called for the Item or account `key` (its budget is kept apart from the others').
    #[allow(dead_code)] // used by the clients with per-Item or per-account budgets
    pub(crate) fn for_key(mut self, key: &str) -> Self {
        self.key = Some(crate::limit::budget_key(key));
        self
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status (200, 201, 204…).
    #[allow(dead_code)] // read by clients that tell 200 from 204
    pub status: StatusCode,
    /// The provider's request id header, when it sent one.
    #[allow(dead_code)] // read by clients that report it on success
    pub request_id: Option<String>,
    /// The response headers (SnapTrade reports its per-account budget in them).
    #[allow(dead_code)] // read by clients that track a budget
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// A non-2xx answer, with what the client needs to read the provider's error body.
#[derive(Debug)]
pub(crate) struct StatusFailure {
    /// The status.
    pub status: StatusCode,
    /// How long the provider asked us to wait (`Retry-After`; on a 429 also `X-RateLimit-Reset`).
    pub retry_after: Option<Duration>,
    /// The `X-Request-ID` header.
    pub request_id: Option<String>,
    /// The body as received.
    pub body: Vec<u8>,
    /// The rate-limit headers of the answer (`X-RateLimit-*`), for the client's budgets.
    pub headers: HeaderMap,
}

impl StatusFailure {
    /// The error this status means when the body names nothing more precise, with `code` and `message`
    /// as read from the body (the start of the body itself when there is no message).
    pub(crate) fn into_error(
        self,
        provider: Provider,
        code: Option<String>,
        message: Option<String>,
    ) -> ProviderError {
        let message = message
            .filter(|message| !message.trim().is_empty())
            .unwrap_or_else(|| self.body_or_reason());
        let mut detail = ErrorDetail::new(provider, self.status.as_u16(), message)
            .with_request_id(self.request_id);
        detail.code = code;
        ProviderError::from_status(detail, self.retry_after)
    }

    /// The body as text, or the status's reason phrase when the body is empty.
    pub(crate) fn body_or_reason(&self) -> String {
        let text = body_excerpt(&self.body);
        if text.trim().is_empty() {
            self.status.to_string()
        } else {
            text
        }
    }
}

/// How an attempt ended when it did not end in a 2xx.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer: connection refused or reset, DNS, TLS, or the timeout ran out.
    Transport(reqwest::Error),
    /// An answer with a non-success status.
    Status(StatusFailure),
    /// A redirect (3xx), which is never followed.
    Redirected(StatusCode),
    /// A body larger than the cap; reading stopped there.
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// Not sent: the client's request budget had no room before the call's timeout.
    OverBudget(ProviderError),
}

impl Failure {
    /// Whether an idempotent call that failed this way may simply be sent again: 429, 5xx, no answer, or
    /// an answer cut off mid-body.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Transport(error) => {
                error.is_connect() || error.is_timeout() || error.is_request() || error.is_body()
            }
            Self::Status(failure) => {
                failure.status == StatusCode::TOO_MANY_REQUESTS || failure.status.is_server_error()
            }
            Self::Redirected(_) | Self::TooLarge { .. } | Self::OverBudget(_) => false,
        }
    }

    /// Whether the request surely never reached the provider's handling: we could not connect, or it was
    /// refused for rate limiting. A timeout, a reset mid-response or a 5xx may hide a request that was
    /// processed, so a write is only resent after checking.
    #[allow(dead_code)] // used by clients with non-idempotent writes that can be looked up
    pub(crate) fn surely_not_processed(&self) -> bool {
        match self {
            Self::Transport(error) => error.is_connect(),
            Self::Status(failure) => failure.status == StatusCode::TOO_MANY_REQUESTS,
            Self::OverBudget(_) => true,
            Self::Redirected(_) | Self::TooLarge { .. } => false,
        }
    }

    /// How long the provider asked us to wait, if it did.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status(failure) => failure.retry_after,
            Self::Transport(_)
            | Self::Redirected(_)
            | Self::TooLarge { .. }
            | Self::OverBudget(_) => None,
        }
    }

    /// The crate's error for this failure: transport failures become [`ProviderError::Timeout`] or
    /// [`ProviderError::Transport`]; a status goes to `read_status`, which reads the provider's error body.
    pub(crate) fn into_error(
        self,
        endpoint: Endpoint,
        read_status: impl FnOnce(StatusFailure) -> ProviderError,
    ) -> ProviderError {
        match self {
            Self::Transport(error) => transport_error(endpoint, &error),
            Self::Status(failure) => read_status(failure),
            Self::Redirected(status) => ProviderError::Redirected {
                provider: endpoint.provider,
                endpoint: endpoint.name,
                status: status.as_u16(),
            },
            Self::TooLarge { limit } => ProviderError::ResponseTooLarge {
                provider: endpoint.provider,
                endpoint: endpoint.name,
                limit,
            },
            Self::OverBudget(error) => error,
        }
    }
}

/// A transport failure as the crate's error; reqwest's message never includes the URL here.
pub(crate) fn transport_error(endpoint: Endpoint, error: &reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout {
            provider: endpoint.provider,
            endpoint: endpoint.name,
        }
    } else {
        ProviderError::Transport {
            provider: endpoint.provider,
            endpoint: endpoint.name,
            message: describe_transport_error(error),
        }
    }
}

/// reqwest's message and its causes, without the URL (its query can carry user ids).
fn describe_transport_error(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the response body broke off".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Sends one request inside a `provider_call` span recording provider, endpoint, status and latency.
///
/// Only those four fields are logged: never the URL, a header or a body, which is where credentials,
/// tokens and user secrets travel.
/// A redirect is a [`Failure::Redirected`] (the client follows none), and a body past `max_body` bytes a
/// [`Failure::TooLarge`], read no further.
async fn send(
    endpoint: Endpoint,
    request: RequestBuilder,
    max_body: usize,
) -> Result<Reply, Failure> {
    let span = tracing::info_span!(
        "provider_call",
        provider = endpoint.provider.as_str(),
        endpoint = endpoint.name,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let recorder = span.clone();
    async move {
        let started = Instant::now();
        let result = request.send().await;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                recorder.record("latency_ms", elapsed_ms(started));
                tracing::warn!(
                    timeout = error.is_timeout(),
                    connect = error.is_connect(),
                    "provider call got no answer"
                );
                return Err(Failure::Transport(error.without_url()));
            }
        };
        let status = response.status();
        recorder.record("status", status.as_u16());
        if status.is_redirection() {
            recorder.record("latency_ms", elapsed_ms(started));
            tracing::warn!("provider call answered a redirect, which is not followed");
            return Err(Failure::Redirected(status));
        }
        let retry_after = retry_after(status, response.headers());
        let request_id = request_id(response.headers());
        let headers = response.headers().clone();
        let body = read_capped(response, max_body).await;
        recorder.record("latency_ms", elapsed_ms(started));
        let body = body.inspect_err(|failure| {
            if let Failure::TooLarge { limit } = failure {
                tracing::warn!(limit, "provider answer is larger than allowed");
            }
        })?;
        if status.is_success() {
            tracing::debug!("provider call succeeded");
            Ok(Reply {
                status,
                request_id,
                headers,
                body,
            })
        } else {
            tracing::info!("provider call returned an error status");
            Err(Failure::Status(StatusFailure {
                status,
                retry_after,
                request_id,
                body,
                headers,
            }))
        }
    }
    .instrument(span)
    .await
}

/// The body, read chunk by chunk and abandoned as soon as it passes `max_body` bytes. A `Content-Length` above
/// the cap ends it before any chunk is read; one below it is not trusted, the bytes are counted.
async fn read_capped(mut response: reqwest::Response, max_body: usize) -> Result<Vec<u8>, Failure> {
    let too_large = Failure::TooLarge { limit: max_body };
    if response
        .content_length()
        .is_some_and(|length| length > max_body as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| Failure::Transport(error.without_url()))?
    {
        if body.len().saturating_add(chunk.len()) > max_body {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// How long the provider asked us to wait: `Retry-After` (seconds or an HTTP date) on any status, and on a
/// 429 without it, the reset of the budget that ran out. SnapTrade reports two budgets (its API description,
/// "Rate limiting"): the customer's in `X-RateLimit-Remaining`/`-Reset` and the account's in
/// `X-RateLimit-Account-Remaining`/`-Reset`; "`X-RateLimit-Account-Remaining: 0` means the account-level one.
/// Wait for the corresponding `*-Reset` value". When none says it is at zero, `X-RateLimit-Reset` (Alpaca
/// sends a unix time, SnapTrade seconds). The reset headers are ignored on other statuses: Alpaca sends them
/// on every answer, and a 500 is no reason to wait a minute.
pub(crate) fn retry_after(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(value) = header(RETRY_AFTER.as_str()) {
        return parse_retry_after(value, now_unix());
    }
    if status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let spent = [
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("x-ratelimit-account-remaining", "x-ratelimit-account-reset"),
    ]
    .into_iter()
    .filter(|(remaining, _)| header(remaining).is_some_and(|left| left == "0"))
    .filter_map(|(_, reset)| parse_rate_limit_reset(header(reset)?, now_unix()))
    .max();
    spent.or_else(|| parse_rate_limit_reset(header("x-ratelimit-reset")?, now_unix()))
}

/// An account budget's state from SnapTrade's `X-RateLimit-Account-Remaining` and `X-RateLimit-Account-Reset`
/// (seconds): `Some(wait)` when nothing is left until the reset, `Some(ZERO)` when some is left, `None` when
/// the headers are absent or unreadable ("header absence tells you nothing about your allowance").
#[cfg(feature = "snaptrade")]
pub(crate) fn account_budget_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let remaining: u64 = header("x-ratelimit-account-remaining")?.parse().ok()?;
    if remaining > 0 {
        return Some(Duration::ZERO);
    }
    parse_rate_limit_reset(header("x-ratelimit-account-reset")?, now_unix())
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0)
}

/// `Retry-After: 7` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
fn parse_retry_after(value: &str, now: u64) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value)
        .ok()?
        .timestamp();
    let at = u64::try_from(at).ok()?;
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// `X-RateLimit-Reset`: a unix time when it is that large, otherwise seconds; a fraction is rounded up.
pub(crate) fn parse_rate_limit_reset(value: &str, now: u64) -> Option<Duration> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let mut seconds = whole.parse::<u64>().ok()?;
    if !fraction.is_empty() {
        if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        if fraction.bytes().any(|byte| byte != b'0') {
            seconds = seconds.saturating_add(1);
        }
    }
    if seconds >= UNIX_TIME_THRESHOLD {
        Some(Duration::from_secs(seconds.saturating_sub(now)))
    } else {
        Some(Duration::from_secs(seconds))
    }
}

/// Capped exponential backoff with full jitter, for transient failures of idempotent calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// How many attempts in all, the first included.
    pub max_attempts: u32,
    base: Duration,
    cap: Duration,
}

impl Default for Backoff {
    /// Three attempts, waits up to 250 ms then 500 ms, never more than 10 s.
    fn default() -> Self {
        Self::new(3, Duration::from_millis(250), Duration::from_secs(10))
    }
}

impl Backoff {
    /// `max_attempts` in all, the n-th wait drawn from `0..=min(cap, base × 2^(n-1))`.
    pub(crate) const fn new(max_attempts: u32, base: Duration, cap: Duration) -> Self {
        Self {
            max_attempts,
            base,
            cap,
        }
    }

    /// The wait after attempt `attempt` failed: the provider's own hint if it gave one, otherwise a random
    /// wait up to `base × 2^(attempt-1)` (capped), so many clients backing off do not retry in step.
    ///
    /// `None` when the provider asked for a longer wait than the cap: retrying sooner would only be refused
    /// again, so the call ends and its [`ProviderError::RateLimited`] carries the wait for the caller to
    /// schedule.
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(wait) if wait > self.cap => None,
            Some(wait) => Some(wait),
            None => Some(self.ceiling(attempt).mul_f64(rand::random::<f64>())),
        }
    }

    /// The longest wait after attempt `attempt` when the provider gave no hint.
    fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn retry_after_in_seconds_is_read() {
        assert_eq!(parse_retry_after("7", NOW), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_as_an_http_date_is_the_time_left_until_then() {
        // 2023-11-14T22:13:20Z is NOW; thirty seconds later:
        let date = "Tue, 14 Nov 2023 22:13:50 GMT";
        assert_eq!(parse_retry_after(date, NOW), Some(Duration::from_secs(30)));
    }

    #[test]
    fn retry_after_in_the_past_means_no_wait() {
        let date = "Tue, 14 Nov 2023 22:00:00 GMT";
        assert_eq!(parse_retry_after(date, NOW), Some(Duration::ZERO));
    }

    #[test]
    fn garbage_retry_after_is_no_hint() {
        assert_eq!(parse_retry_after("soon", NOW), None);
    }

    #[test]
    fn a_rate_limit_reset_as_unix_time_is_the_time_left() {
        let reset = (NOW + 12).to_string();
        assert_eq!(
            parse_rate_limit_reset(&reset, NOW),
            Some(Duration::from_secs(12))
        );
    }

    #[test]
    fn a_small_rate_limit_reset_is_seconds_to_wait() {
        assert_eq!(
            parse_rate_limit_reset("7", NOW),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_rate_limit_reset("6.2", NOW),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_rate_limit_reset("-1", NOW), None);
    }

    #[test]
    fn the_reset_header_counts_only_on_a_429() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("5"));
        assert_eq!(
            retry_after(StatusCode::TOO_MANY_REQUESTS, &headers),
            Some(Duration::from_secs(5))
        );
        assert_eq!(retry_after(StatusCode::BAD_GATEWAY, &headers), None);
    }

    #[test]
    fn retry_after_wins_over_the_reset_header() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("50"));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(
            retry_after(StatusCode::TOO_MANY_REQUESTS, &headers),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn backoff_grows_exponentially_up_to_its_cap() {
        let backoff = Backoff::new(10, Duration::from_millis(100), Duration::from_secs(1));
        let ceilings: Vec<_> = (1..=6).map(|attempt| backoff.ceiling(attempt)).collect();
        let millis: Vec<u128> = ceilings.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn backoff_waits_are_jittered_below_the_ceiling() {
        let backoff = Backoff::new(10, Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<_> = (0..50).map(|_| backoff.delay(3, None).unwrap()).collect();
        assert!(waits.iter().all(|wait| *wait <= Duration::from_millis(400)));
        assert!(
            waits.iter().any(|wait| *wait != waits[0]),
            "fifty identical waits are not jitter"
        );
    }

    #[test]
    fn a_providers_hint_is_honoured_exactly() {
        let backoff = Backoff::new(3, Duration::from_millis(100), Duration::from_secs(10));
        assert_eq!(
            backoff.delay(1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_hint_longer_than_the_cap_ends_the_retries_instead_of_retrying_early() {
        let backoff = Backoff::new(3, Duration::from_millis(100), Duration::from_secs(10));
        assert_eq!(backoff.delay(1, Some(Duration::from_secs(60))), None);
    }

    #[test]
    fn a_huge_attempt_number_does_not_overflow() {
        let backoff = Backoff::default();
        assert!(backoff.ceiling(u32::MAX) <= Duration::from_secs(10));
    }
}
