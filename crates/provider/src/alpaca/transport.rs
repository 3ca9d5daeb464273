//! One Broker API HTTP exchange: send with Basic auth, time it, classify the outcome.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use tracing::Instrument;

use super::AlpacaConfig;

/// What came back from one attempt that was not a 2xx.
#[derive(Debug)]
pub(super) enum Failure {
    /// No response: connection refused or reset, DNS, TLS, or the timeout ran out.
    Transport(reqwest::Error),
    /// A response with a non-success status.
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
        /// Alpaca's `X-Request-ID`, what its support asks for.
        request_id: Option<String>,
        body: Vec<u8>,
    },
}

impl Failure {
    /// Whether a read that failed this way can simply be sent again.
    pub(super) fn is_transient(&self) -> bool {
        match self {
            Self::Transport(error) => {
                error.is_connect() || error.is_timeout() || error.is_request()
            }
            Self::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
        }
    }

    /// Whether the request surely never reached Alpaca's order handling: we could not connect, or Alpaca
    /// refused it for rate limiting. Anything else (a timeout, a reset mid-response, a 5xx) may hide an
    /// order that was placed.
    pub(super) fn surely_not_processed(&self) -> bool {
        match self {
            Self::Transport(error) => error.is_connect(),
            Self::Status { status, .. } => *status == StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            Self::Transport(_) => None,
        }
    }
}

/// A request to send: method, path below the base URL, query and JSON body.
pub(super) struct Call<'a> {
    pub method: Method,
    /// The operation's name for logs (`createOrderForAccount`), never the URL with its ids.
    pub endpoint: &'static str,
    pub path: String,
    pub query: &'a [(&'a str, String)],
    pub body: Option<Vec<u8>>,
}

/// Sends `call` with Basic auth inside a span naming the endpoint, status and latency.
pub(super) async fn send(
    http: &reqwest::Client,
    config: &AlpacaConfig,
    call: Call<'_>,
) -> Result<Vec<u8>, Failure> {
    let span = tracing::info_span!(
        "provider_call",
        provider = "alpaca",
        endpoint = call.endpoint,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let recorder = span.clone();
    async move {
        let url = format!(
            "{}{}",
            config.base_url.as_str().trim_end_matches('/'),
            call.path
        );
        let mut request = http
            .request(call.method, url)
            .basic_auth(&config.api_key, Some(config.api_secret.expose_secret()))
            .query(call.query);
        if let Some(body) = call.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let started = Instant::now();
        let result = request.send().await;
        recorder.record("latency_ms", started.elapsed().as_millis() as u64);
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(
                    timeout = error.is_timeout(),
                    connect = error.is_connect(),
                    "alpaca request failed"
                );
                return Err(Failure::Transport(error.without_url()));
            }
        };
        let status = response.status();
        recorder.record("status", status.as_u16());
        let retry_after = retry_after(response.headers());
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|error| Failure::Transport(error.without_url()))?;
        if status.is_success() {
            tracing::debug!("alpaca call succeeded");
            Ok(bytes.to_vec())
        } else {
            tracing::info!("alpaca call returned an error status");
            Err(Failure::Status {
                status,
                retry_after,
                request_id,
                body: bytes.to_vec(),
            })
        }
    }
    .instrument(span)
    .await
}

/// `Retry-After` in seconds, or Alpaca's `X-RateLimit-Reset` (a unix time) turned into a wait.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    if let Some(seconds) = header(RETRY_AFTER.as_str()) {
        return Some(Duration::from_secs(seconds));
    }
    let reset = header("x-ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

/// Exponential backoff with full jitter, capped.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    pub max_attempts: u32,
    base: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt + 1`: the server's own hint if it gave one (capped), otherwise a
    /// random delay up to `base × 2^(attempt-1)`, so many clients backing off do not retry in step.
    pub(super) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.cap);
        }
        let ceiling = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        ceiling.mul_f64(rand::random::<f64>())
    }
}
