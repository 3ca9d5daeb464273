//! Test knobs shared by the three servers: added latency (everywhere or on one path), injected
//! 429/5xx/malformed answers, one path's answers replaced by a given body, retired endpoints, answers lost or
//! delayed after the request was handled (an order placed, its answer never seen), and the log of every request
//! received.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::reply::ApiError;

/// Locks a mutex, recovering the data if a panicking test thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When market orders fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MarketFill {
    /// A market order is EXECUTED as soon as it is placed.
    #[default]
    Immediate,
    /// A market order waits (SnapTrade PENDING, Alpaca `accepted`) until the test calls `step()`.
    OnStep,
}

/// How an answer is lost after the request was handled (see [`Knobs::lose_answer_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostAnswer {
    /// The connection closes before the answer is whole (hyper drops it when the body fails, usually before
    /// even the status line is flushed): the client sees no answer or a cut one, as when a proxy or the
    /// network drops it.
    ConnectionClosed,
    /// The handler's answer is replaced by this 5xx in the provider's error format.
    ServerError(u16),
}

/// One request as the sandbox received it, with the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// HTTP method, upper case (`"GET"`, `"POST"`…).
    pub method: String,
    /// The path as sent, without the query.
    pub path: String,
    /// The raw query string as sent (no leading `?`), if any.
    pub query: Option<String>,
    /// The request body as text (lossy UTF-8); empty when there was none.
    pub body: String,
    /// The status the sandbox answered.
    pub status: u16,
    /// When the request arrived (before any added latency).
    pub received_at: DateTime<Utc>,
}

/// Everything the sandbox received, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl RequestLog {
    /// Every request received so far.
    pub fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.entries).clone()
    }

    /// How many requests had this method and a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.entries)
            .iter()
            .filter(|entry| {
                entry.method.eq_ignore_ascii_case(method) && entry.path.starts_with(path_prefix)
            })
            .count()
    }

    /// Forgets every recorded request.
    pub fn clear(&self) {
        lock(&self.entries).clear();
    }

    fn push(&self, entry: RecordedRequest) {
        lock(&self.entries).push(entry);
    }
}

#[derive(Debug, Default)]
struct Faults {
    latency: Duration,
    rate_limited_calls: u32,
    retry_after_secs: u64,
    server_error_calls: u32,
    server_error_status: u16,
    malformed_calls: u32,
    retired: Vec<String>,
    path_latencies: Vec<(String, Duration)>,
    path_bodies: Vec<(String, String)>,
    after_handler: Vec<AfterHandler>,
    budget: Option<Budget>,
}

/// A request budget the server enforces, counted over a sliding window: the strictest reading of "N requests
/// a minute" (SnapTrade's guide says "rolling"; Plaid and Alpaca say "per minute" and no more), so a client kept
/// inside it is inside any fixed-window reading too.
#[derive(Debug)]
struct Budget {
    requests: u32,
    per: Duration,
    /// When each request the budget let through arrived, oldest first, none older than `per`.
    arrivals: std::collections::VecDeque<std::time::Instant>,
    refused: u32,
}

impl Budget {
    /// Lets one request through, or says how long until the oldest one leaves the window.
    fn admit(&mut self, now: std::time::Instant) -> Result<(), Duration> {
        while self
            .arrivals
            .front()
            .is_some_and(|oldest| now.duration_since(*oldest) >= self.per)
        {
            self.arrivals.pop_front();
        }
        if self.arrivals.len() < self.requests as usize {
            self.arrivals.push_back(now);
            return Ok(());
        }
        self.refused += 1;
        let oldest = self.arrivals.front().copied().unwrap_or(now);
        Err(self.per.saturating_sub(now.duration_since(oldest)))
    }
}

/// A fault applied once the handler has run and succeeded: its effects (an order placed) are kept, its
/// answer is lost or late.
#[derive(Debug)]
struct AfterHandler {
    method: String,
    patterns: Vec<String>,
    calls: u32,
    effect: AfterEffect,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum AfterEffect {
    Lose(LostAnswer),
    Delay(Duration),
}

/// Whether `pattern` (a route template or an exact path) names this request.
fn names(pattern: &str, template: Option<&str>, path: &str) -> bool {
    pattern == path || Some(pattern) == template
}

/// The injected faults of one provider's server. Counted faults are used up one per request, on any
/// path, in this order: rate limit, server error, then (for a request that would succeed) malformed body.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    faults: Arc<Mutex<Faults>>,
}

impl Knobs {
    /// Waits `latency` before answering every request (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.faults).latency = latency;
    }

    /// The next `calls` requests answer 429 in the provider's format, asking to retry after
    /// `retry_after_secs` seconds (SnapTrade: `Retry-After` and `X-RateLimit-Reset` in seconds;
    /// Alpaca: `X-RateLimit-Reset` as a unix time; Plaid: a `RATE_LIMIT_EXCEEDED` body).
    pub fn rate_limit_next(&self, calls: u32, retry_after_secs: u64) {
        let mut faults = lock(&self.faults);
        faults.rate_limited_calls = calls;
        faults.retry_after_secs = retry_after_secs;
    }

    /// Enforces a request budget from now on: at most `requests` in any window of `per` (a sliding window,
    /// every path counted), as the providers document theirs (SnapTrade: 250 a minute per client, its guide's
    /// "rolling" window; Plaid: per Item and per client, each endpoint; Alpaca: per minute, `X-RateLimit-*`).
    /// A request over it answers the provider's 429 ([`rate_limit_next`](Self::rate_limit_next)'s answer), asking
    /// to retry when the oldest request leaves the window. Set it low (`10` per second) and tests run fast.
    pub fn enforce_budget(&self, requests: u32, per: Duration) {
        lock(&self.faults).budget = Some(Budget {
            requests,
            per,
            arrivals: std::collections::VecDeque::new(),
            refused: 0,
        });
    }

    /// How many requests the enforced budget refused with a 429 so far.
    pub fn budget_refusals(&self) -> u32 {
        lock(&self.faults)
            .budget
            .as_ref()
            .map_or(0, |budget| budget.refused)
    }

    /// The next `calls` requests answer `status` (a 5xx) with the provider's error body.
    pub fn server_error_next(&self, calls: u32, status: u16) {
        let mut faults = lock(&self.faults);
        faults.server_error_calls = calls;
        faults.server_error_status = status;
    }

    /// The next `calls` requests that would succeed answer 200 with a truncated, unparsable JSON body.
    pub fn malformed_next(&self, calls: u32) {
        lock(&self.faults).malformed_calls = calls;
    }

    /// Requests to `pattern` answer 410 Gone from now on: SnapTrade's observed body for retired
    /// endpoints; Plaid and Alpaca document no 410, so theirs is their usual error shape with a
    /// sandbox code (`ENDPOINT_RETIRED`, `41010000`). `pattern` is either a route template as the
    /// sandbox declares it (`"/accounts/{accountId}/balances"`) or an exact path.
    pub fn retire_path(&self, pattern: &str) {
        lock(&self.faults).retired.push(pattern.to_owned());
    }

    /// Waits `latency` before answering requests to `pattern` (a route template or an exact path, as in
    /// [`retire_path`](Self::retire_path)), on top of [`set_latency`](Self::set_latency): one account's
    /// positions can be slow while the others answer at once. The last setting for a pattern wins.
    pub fn set_path_latency(&self, pattern: &str, latency: Duration) {
        let mut faults = lock(&self.faults);
        faults.path_latencies.retain(|(known, _)| known != pattern);
        faults.path_latencies.push((pattern.to_owned(), latency));
    }

    /// Answers to `pattern` (a route template or an exact path) that would succeed are a 200 with `body`
    /// instead, from now on: JSON missing a required field, a field of the wrong type, or text that is not
    /// JSON at all, for one endpoint while the others answer as usual. The last setting for a pattern wins.
    pub fn replace_body(&self, pattern: &str, body: impl Into<String>) {
        let mut faults = lock(&self.faults);
        faults.path_bodies.retain(|(known, _)| known != pattern);
        faults.path_bodies.push((pattern.to_owned(), body.into()));
    }

    /// The next `calls` requests with `method` to `pattern` (a route template or an exact path, as in
    /// [`retire_path`](Self::retire_path)) are handled (an order is placed, the state changes), and then their
    /// successful answer is lost as `how` says. A request the handler refuses is answered as usual and does not
    /// use up a call. Use it for "the provider placed the order but the answer never arrived".
    pub fn lose_answer_next(&self, method: &str, pattern: &str, calls: u32, how: LostAnswer) {
        self.after_handler(method, &[pattern], calls, AfterEffect::Lose(how));
    }

    /// The next `calls` requests with `method` to `pattern` are handled at once (the order exists from then
    /// on), and their successful answer is sent only after `delay`: longer than the client's timeout, the
    /// client gives up on an order that was placed. The request is in the [`RequestLog`] before the wait.
    pub fn delay_answer_next(&self, method: &str, pattern: &str, calls: u32, delay: Duration) {
        self.after_handler(method, &[pattern], calls, AfterEffect::Delay(delay));
    }

    /// One after-handler fault for requests to any of `patterns`, sharing its `calls`.
    pub(crate) fn after_handler(
        &self,
        method: &str,
        patterns: &[&str],
        calls: u32,
        effect: AfterEffect,
    ) {
        lock(&self.faults).after_handler.push(AfterHandler {
            method: method.to_ascii_uppercase(),
            patterns: patterns
                .iter()
                .map(|pattern| (*pattern).to_owned())
                .collect(),
            calls,
            effect,
        });
    }

    /// Uses up one call of the first after-handler fault naming this request, if any.
    fn take_after_handler(
        &self,
        method: &str,
        template: Option<&str>,
        path: &str,
    ) -> Option<AfterEffect> {
        let mut faults = lock(&self.faults);
        let fault = faults.after_handler.iter_mut().find(|fault| {
            fault.calls > 0
                && fault.method.eq_ignore_ascii_case(method)
                && fault
                    .patterns
                    .iter()
                    .any(|pattern| names(pattern, template, path))
        })?;
        fault.calls -= 1;
        Some(fault.effect)
    }

    /// Removes every fault and the added latency.
    pub fn reset(&self) {
        *lock(&self.faults) = Faults::default();
    }

    /// The added latency of a request: everyone's, plus its path's.
    fn latency(&self, template: Option<&str>, path: &str) -> Duration {
        let faults = lock(&self.faults);
        let for_path = faults
            .path_latencies
            .iter()
            .filter(|(pattern, _)| names(pattern, template, path))
            .map(|(_, latency)| *latency)
            .max()
            .unwrap_or_default();
        faults.latency + for_path
    }

    /// The body that replaces a successful answer to this request, if one was set.
    fn replaced_body(&self, template: Option<&str>, path: &str) -> Option<String> {
        lock(&self.faults)
            .path_bodies
            .iter()
            .find(|(pattern, _)| names(pattern, template, path))
            .map(|(_, body)| body.clone())
    }

    fn take_fault(&self, template: Option<&str>, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        if let Some(budget) = faults.budget.as_mut()
            && let Err(wait) = budget.admit(std::time::Instant::now())
        {
            // Whole seconds, rounded up, as the providers' headers count them.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Some(Fault::RateLimited(secs.max(1)));
        }
        if faults.rate_limited_calls > 0 {
            faults.rate_limited_calls -= 1;
            return Some(Fault::RateLimited(faults.retry_after_secs));
        }
        if faults.server_error_calls > 0 {
            faults.server_error_calls -= 1;
            return Some(Fault::ServerError(faults.server_error_status));
        }
        let retired = faults
            .retired
            .iter()
            .any(|pattern| names(pattern, template, path));
        retired.then_some(Fault::Retired)
    }

    fn take_malformed(&self) -> bool {
        let mut faults = lock(&self.faults);
        let malformed = faults.malformed_calls > 0;
        if malformed {
            faults.malformed_calls -= 1;
        }
        malformed
    }
}

enum Fault {
    RateLimited(u64),
    ServerError(u16),
    Retired,
}

/// How one provider words the faults the knobs inject.
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The 429 answer asking to retry after `retry_after_secs`.
    fn rate_limited(&self, retry_after_secs: u64) -> ApiError;
    /// A 5xx answer with `status`.
    fn server_error(&self, status: u16) -> ApiError;
    /// The 410 answer of a retired endpoint.
    fn gone(&self) -> ApiError;
}

/// What the fault middleware needs: the knobs, the log and the provider's wording.
#[derive(Clone)]
pub(crate) struct Instruments {
    pub(crate) knobs: Knobs,
    pub(crate) log: RequestLog,
    pub(crate) dialect: Arc<dyn Dialect>,
}

impl std::fmt::Debug for Instruments {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Instruments")
            .field("knobs", &self.knobs)
            .finish_non_exhaustive()
    }
}

impl Instruments {
    pub(crate) fn new(dialect: impl Dialect) -> Self {
        Self {
            knobs: Knobs::default(),
            log: RequestLog::default(),
            dialect: Arc::new(dialect),
        }
    }
}

/// Outermost middleware of every server: records the request, waits the added latency, answers an
/// injected fault instead of the handler when one is due, and garbles a successful body on demand.
pub(crate) async fn instrument(
    State(instruments): State<Instruments>,
    request: Request,
    next: Next,
) -> Response {
    let received_at = Utc::now();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut entry = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: 0,
        received_at,
    };
    let latency = instruments.knobs.latency(template.as_deref(), &entry.path);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match instruments
        .knobs
        .take_fault(template.as_deref(), &entry.path)
    {
        Some(Fault::RateLimited(secs)) => instruments.dialect.rate_limited(secs).into_response(),
        Some(Fault::ServerError(status)) => {
            instruments.dialect.server_error(status).into_response()
        }
        Some(Fault::Retired) => instruments.dialect.gone().into_response(),
        None => {
            let response = next.run(Request::from_parts(parts, Body::from(body))).await;
            if !response.status().is_success() {
                response
            } else if let Some(effect) = instruments.knobs.take_after_handler(
                &entry.method,
                template.as_deref(),
                &entry.path,
            ) {
                match effect {
                    AfterEffect::Lose(LostAnswer::ConnectionClosed) => broken_off(response),
                    AfterEffect::Lose(LostAnswer::ServerError(status)) => {
                        instruments.dialect.server_error(status).into_response()
                    }
                    AfterEffect::Delay(delay) => {
                        // Logged before the wait: a client that gives up drops this future mid-sleep.
                        entry.status = response.status().as_u16();
                        instruments.log.push(entry);
                        tokio::time::sleep(delay).await;
                        return response;
                    }
                }
            } else if let Some(body) = instruments
                .knobs
                .replaced_body(template.as_deref(), &entry.path)
            {
                json_body(body)
            } else if instruments.knobs.take_malformed() {
                malformed()
            } else {
                response
            }
        }
    };
    entry.status = response.status().as_u16();
    instruments.log.push(entry);
    response
}

/// `response`'s status and headers with a body that fails at once: hyper closes the connection mid-answer.
fn broken_off(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let failing = futures_util::stream::once(futures_util::future::ready(Err::<Bytes, _>(
        std::io::Error::other("the sandbox lost this answer"),
    )));
    Response::from_parts(parts, Body::from_stream(failing))
}

/// A 200 whose JSON is cut off mid-way, as a dropped proxy connection would leave it.
fn malformed() -> Response {
    json_body(Bytes::from_static(b"{\"results\": [{\"id\": "))
}

/// A 200 declared as JSON with exactly `body`, whatever it holds.
fn json_body(body: impl Into<Bytes>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}
