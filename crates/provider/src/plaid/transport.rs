//! One Plaid HTTP exchange: send, time, classify the outcome, decide whether it may be repeated.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use tracing::Instrument;

/// What came back from one attempt that was not a 2xx body.
#[derive(Debug)]
pub(super) enum Failure {
    /// No response: connection refused or reset, DNS, TLS, or the timeout ran out.
    Transport(reqwest::Error),
    /// A response with a non-success status.
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
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

    /// How long the server asked us to wait, if it did.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            Self::Transport(_) => None,
        }
    }
}

/// POSTs `body` to `url` with Plaid's headers inside a span naming the endpoint, status and latency.
pub(super) async fn post(
    http: &reqwest::Client,
    url: &str,
    endpoint: &'static str,
    version: &'static str,
    body: Vec<u8>,
) -> Result<Vec<u8>, Failure> {
    let span = tracing::info_span!(
        "provider_call",
        provider = "plaid",
        endpoint,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let recorder = span.clone();
    async move {
        let started = Instant::now();
        let result = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("Plaid-Version", version)
            .body(body)
            .send()
            .await;
        recorder.record("latency_ms", started.elapsed().as_millis() as u64);
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(
                    timeout = error.is_timeout(),
                    connect = error.is_connect(),
                    "plaid request failed"
                );
                return Err(Failure::Transport(error.without_url()));
            }
        };
        let status = response.status();
        recorder.record("status", status.as_u16());
        let retry_after = retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|error| Failure::Transport(error.without_url()))?;
        if status.is_success() {
            tracing::debug!("plaid call succeeded");
            Ok(bytes.to_vec())
        } else {
            tracing::info!("plaid call returned an error status");
            Err(Failure::Status {
                status,
                retry_after,
                body: bytes.to_vec(),
            })
        }
    }
    .instrument(span)
    .await
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// Exponential backoff with full jitter, capped, for reads that failed transiently.
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
    /// The wait before attempt `attempt + 1`: the server's `Retry-After` if it gave one (capped), otherwise a
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
