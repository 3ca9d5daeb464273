//! Client-side request budgets: every call of a client waits for its budget instead of drawing a 429.
//!
//! A client holds one [`RateLimits`] (from its config) and one set of budgets shared by all its clones, so every
//! sync of a process draws from the same budget. A budget is `governor`'s GCRA: a small burst (up to three,
//! never more than a fifth of the budget), then calls evenly spaced over what the burst leaves, less one request
//! kept in reserve for the difference between our clock and the provider's and for a request that travels faster
//! than the one before it; so no window of `per` ever sees more than `requests` of them.
//!
//! Three scopes, each optional and configured per client, because the budgets are per contract:
//! * the client: every call (SnapTrade's 250 a minute per `clientId`);
//! * an endpoint: every call to it (Plaid's per-client limits, which are per endpoint);
//! * an endpoint and a key: every call to it for one Item or account (Plaid's per-Item limits, SnapTrade's
//!   per-account limit where it is rolled out).
//!
//! The provider's own headers pause a budget: an answer carrying `X-RateLimit-Remaining: 0` (SnapTrade, Alpaca)
//! holds every later call of the client until `X-RateLimit-Reset`. The wait is bounded by the call's timeout:
//! a call that would wait longer is not sent and ends as [`ProviderError::RateBudgetWait`], never dropped.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::time::Instant;
use tributary_domain::Provider;

use crate::error::ProviderError;

/// At most `requests` requests in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBudget {
    requests: NonZeroU32,
    per: Duration,
}

impl RateBudget {
    /// `requests` in any window of `per`; `None` when `per` is zero.
    pub fn new(requests: NonZeroU32, per: Duration) -> Option<Self> {
        (!per.is_zero()).then_some(Self { requests, per })
    }

    /// `requests` a minute.
    pub const fn per_minute(requests: NonZeroU32) -> Self {
        Self {
            requests,
            per: Duration::from_secs(60),
        }
    }

    /// How many requests the window allows.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The window.
    pub fn per(&self) -> Duration {
        self.per
    }

    /// How many calls may leave at once: a few (a retry of a refused call need not wait a whole interval), never
    /// more than a fifth of the budget.
    fn burst(&self) -> NonZeroU32 {
        NonZeroU32::new((self.requests.get() / 5).clamp(1, 3)).unwrap_or(NonZeroU32::MIN)
    }

    /// The spacing between two calls after a burst: the window over the requests the burst leaves, less one
    /// kept in reserve (see the module's documentation), so a window holds at most `requests`.
    fn interval(&self) -> Duration {
        let slots = self
            .requests
            .get()
            .saturating_sub(self.burst().get() + 1)
            .max(1);
        self.per / slots
    }
}

/// A client's request budgets: none unless set (see each provider config's `rate_limits()` for its defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    client: Option<RateBudget>,
    endpoints: Vec<(&'static str, RateBudget)>,
    keyed: Vec<(&'static str, RateBudget)>,
}

impl RateLimits {
    /// No budget at all: every call is sent at once (the provider's 429s are then retried with backoff).
    pub fn none() -> Self {
        Self::default()
    }

    /// The same limits with `budget` over every call of the client.
    pub fn with_client_budget(mut self, budget: RateBudget) -> Self {
        self.client = Some(budget);
        self
    }

    /// The same limits with `budget` over every call to `endpoint` (the operation's documented name, as
    /// errors and logs show it: `/investments/holdings/get`), replacing an earlier one.
    pub fn with_endpoint_budget(mut self, endpoint: &'static str, budget: RateBudget) -> Self {
        self.endpoints.retain(|(name, _)| *name != endpoint);
        self.endpoints.push((endpoint, budget));
        self
    }

    /// The same limits with `budget` over the calls to `endpoint` for each Item or account on its own
    /// (`"*"`: every endpoint that names one), replacing an earlier one.
    pub fn with_keyed_budget(mut self, endpoint: &'static str, budget: RateBudget) -> Self {
        self.keyed.retain(|(name, _)| *name != endpoint);
        self.keyed.push((endpoint, budget));
        self
    }

    /// SnapTrade's documented budget: 250 requests a minute per `clientId` (SnapTrade's rate limiting guide,
    /// docs/ratelimiting.md: "250 requests per minute", reported in `X-RateLimit-Limit/-Remaining/-Reset`). The
    /// per-account limit (10 a minute, Personal keys only, where rolled out) is not set here: it is read from
    /// `X-RateLimit-Account-*` as it comes; set it with [`with_keyed_budget`](Self::with_keyed_budget)`("*", …)`
    /// where your contract has it.
    pub fn snaptrade() -> Self {
        Self::none().with_client_budget(RateBudget::per_minute(nonzero(250)))
    }

    /// Plaid's documented production limits (Plaid's API docs, "Rate limits", investments and Item endpoints),
    /// per Item and per client, each endpoint on its own: `/accounts/get` 15 a minute per Item and 15,000 per
    /// client; `/investments/holdings/get` 15 and 2,000; `/investments/transactions/get` 30 and 20,000;
    /// `/item/get` 15 and 5,000; `/item/remove` 30 and 2,000.
    pub fn plaid() -> Self {
        [
            ("/accounts/get", 15, 15_000),
            ("/investments/holdings/get", 15, 2_000),
            ("/investments/transactions/get", 30, 20_000),
            ("/item/get", 15, 5_000),
            ("/item/remove", 30, 2_000),
        ]
        .into_iter()
        .fold(Self::none(), |limits, (endpoint, per_item, per_client)| {
            limits
                .with_keyed_budget(endpoint, RateBudget::per_minute(nonzero(per_item)))
                .with_endpoint_budget(endpoint, RateBudget::per_minute(nonzero(per_client)))
        })
    }

    /// Alpaca's: 200 requests a minute (Alpaca's published API limit; the Broker API's own limits are set per
    /// contract and unpublished, and its answers carry `X-RateLimit-Limit/-Remaining/-Reset`, which the client
    /// reads whatever this says). Raise it to your contract's figure.
    pub fn alpaca() -> Self {
        Self::none().with_client_budget(RateBudget::per_minute(nonzero(200)))
    }

    /// The budget over every call, if any.
    pub fn client_budget(&self) -> Option<RateBudget> {
        self.client
    }

    /// The budget over every call to `endpoint`, if any.
    pub fn endpoint_budget(&self, endpoint: &str) -> Option<RateBudget> {
        self.endpoints
            .iter()
            .find(|(name, _)| *name == endpoint)
            .map(|(_, budget)| *budget)
    }

    /// The budget over each Item's or account's calls to `endpoint`, if any.
    pub fn keyed_budget(&self, endpoint: &str) -> Option<RateBudget> {
        let find = |wanted: &str| {
            self.keyed
                .iter()
                .find(|(name, _)| *name == wanted)
                .map(|(_, budget)| *budget)
        };
        find(endpoint).or_else(|| find("*"))
    }
}

/// Which budget a call draws on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Scope {
    Client,
    Endpoint(&'static str),
    /// An endpoint and a hash of the Item's or account's key (never the key itself: Plaid's is a token).
    Keyed(&'static str, u64),
}

/// One budget: the GCRA state, a queue so callers take their turns in order, and a pause the provider asked for.
#[derive(Debug)]
struct Bucket {
    /// `None` for a scope with no budget, which only carries the provider's pauses.
    gcra: Option<
        RateLimiter<
            governor::state::direct::NotKeyed,
            governor::state::InMemoryState,
            DefaultClock,
        >,
    >,
    clock: DefaultClock,
    turn: tokio::sync::Mutex<()>,
    paused_until: Mutex<Option<Instant>>,
}

impl Bucket {
    fn new(budget: Option<RateBudget>) -> Self {
        let clock = DefaultClock::default();
        // A budget's interval is at least a nanosecond (`per` is not zero, `requests` a u32); governor refuses
        // only a zero period.
        let gcra = budget
            .and_then(|budget| {
                Some(Quota::with_period(budget.interval())?.allow_burst(budget.burst()))
            })
            .map(|quota| RateLimiter::direct_with_clock(quota, clock.clone()));
        Self {
            gcra,
            clock,
            turn: tokio::sync::Mutex::new(()),
            paused_until: Mutex::new(None),
        }
    }

    fn paused_until(&self) -> Option<Instant> {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn pause_until(&self, until: Instant) {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    /// Waits for this budget's next slot, in turn with the other callers; `Err(wait)` (unsent) when the slot
    /// comes after `deadline`.
    async fn take(&self, deadline: Instant) -> Result<(), Duration> {
        let Ok(_turn) = tokio::time::timeout_at(deadline, self.turn.lock()).await else {
            return Err(deadline.saturating_duration_since(Instant::now()));
        };
        loop {
            let now = Instant::now();
            let wait = match self.paused_until().filter(|until| *until > now) {
                Some(until) => until - now,
                None => match self.gcra.as_ref().map(RateLimiter::check) {
                    None | Some(Ok(())) => return Ok(()),
                    Some(Err(not_until)) => not_until.wait_time_from(self.clock.now()),
                },
            };
            if now + wait > deadline {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// A client's budgets, shared by its clones.
#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    provider: Provider,
    limits: Arc<RateLimits>,
    buckets: Arc<Mutex<HashMap<Scope, Arc<Bucket>>>>,
}

impl Limiter {
    pub(crate) fn new(provider: Provider, limits: RateLimits) -> Self {
        Self {
            provider,
            limits: Arc::new(limits),
            buckets: Arc::default(),
        }
    }

    fn bucket(&self, scope: Scope, budget: Option<RateBudget>) -> Arc<Bucket> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            buckets
                .entry(scope)
                .or_insert_with(|| Arc::new(Bucket::new(budget))),
        )
    }

    /// The budgets a call to `endpoint` (for `key`, the Item or account it names) draws on, narrowest first.
    fn scopes(&self, endpoint: &'static str, key: Option<u64>) -> Vec<(Scope, Option<RateBudget>)> {
        let mut scopes = Vec::with_capacity(3);
        if let (Some(key), Some(budget)) = (key, self.limits.keyed_budget(endpoint)) {
            scopes.push((Scope::Keyed(endpoint, key), Some(budget)));
        }
        if let Some(budget) = self.limits.endpoint_budget(endpoint) {
            scopes.push((Scope::Endpoint(endpoint), Some(budget)));
        }
        // Always last, even with no client budget: the provider's own pause (see `observe`) is kept there.
        scopes.push((Scope::Client, self.limits.client));
        scopes
    }

    /// Waits until the call may be sent; the wait ends by `deadline` (the call's timeout from now) or the call
    /// ends, unsent, as [`ProviderError::RateBudgetWait`].
    pub(crate) async fn acquire(
        &self,
        endpoint: &'static str,
        key: Option<u64>,
        deadline: Instant,
    ) -> Result<(), ProviderError> {
        for (scope, budget) in self.scopes(endpoint, key) {
            let bucket = self.bucket(scope, budget);
            if let Err(wait) = bucket.take(deadline).await {
                tracing::warn!(
                    provider = self.provider.as_str(),
                    endpoint,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "the request budget has no room before the call's timeout; not sent"
                );
                return Err(ProviderError::RateBudgetWait {
                    provider: self.provider,
                    endpoint,
                    wait,
                });
            }
        }
        Ok(())
    }

    /// Reads the client budget's headers from an answer: `X-RateLimit-Remaining: 0` pauses every call of the
    /// client until `X-RateLimit-Reset` (seconds, or a unix time as Alpaca sends it). Without them, nothing
    /// changes: their absence "tells you nothing about your allowance" (SnapTrade's rate limiting guide).
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
        if header("x-ratelimit-remaining") != Some("0") {
            return;
        }
        let Some(wait) = header("x-ratelimit-reset")
            .and_then(|reset| crate::http::parse_rate_limit_reset(reset, crate::http::now_unix()))
        else {
            return;
        };
        tracing::info!(
            provider = self.provider.as_str(),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "the provider reports the request budget spent; holding calls until its reset"
        );
        self.bucket(Scope::Client, self.limits.client)
            .pause_until(Instant::now() + wait);
    }
}

const fn nonzero(value: u32) -> NonZeroU32 {
    match NonZeroU32::new(value) {
        Some(value) => value,
        None => NonZeroU32::MIN,
    }
}

/// The key a call's Item or account budget is kept under: a hash, so no token is held as a map key.
pub(crate) fn budget_key(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(requests: u32, per_ms: u64) -> RateBudget {
        RateBudget::new(
            NonZeroU32::new(requests).unwrap(),
            Duration::from_millis(per_ms),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn calls_leave_evenly_spaced_and_never_more_than_the_budget_in_a_window() {
        let limiter = Limiter::new(
            Provider::SnapTrade,
            RateLimits::none().with_client_budget(budget(5, 400)),
        );
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        let mut sent = Vec::new();
        for _ in 0..9 {
            limiter.acquire("x", None, deadline).await.unwrap();
            sent.push(started.elapsed());
        }
        // One every 100 ms (400 ms over 4): no 400 ms window holds more than 5.
        for window in sent.windows(6) {
            assert!(
                window[5] - window[0] >= Duration::from_millis(400),
                "{sent:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_wait_past_the_calls_timeout_is_a_typed_error_and_nothing_is_sent() {
        let limiter = Limiter::new(
            Provider::Plaid,
            RateLimits::none().with_keyed_budget("/accounts/get", budget(2, 10_000)),
        );
        let key = Some(budget_key("access-sandbox-1"));
        let deadline = Instant::now() + Duration::from_millis(200);
        limiter
            .acquire("/accounts/get", key, deadline)
            .await
            .unwrap();
        let error = limiter
            .acquire("/accounts/get", key, deadline)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ProviderError::RateBudgetWait { endpoint: "/accounts/get", wait, .. }
                if wait > Duration::from_secs(5)),
            "{error:?}"
        );
        assert!(error.is_retryable());
        // Another Item has its own budget.
        let other = Some(budget_key("access-sandbox-2"));
        limiter
            .acquire("/accounts/get", other, deadline)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn remaining_zero_holds_every_call_until_the_reset() {
        let limiter = Limiter::new(Provider::Alpaca, RateLimits::none());
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset", "1".parse().unwrap());
        limiter.observe(&headers);
        let started = Instant::now();
        let error = limiter
            .acquire("getAccount", None, started + Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ProviderError::RateBudgetWait { .. }),
            "{error:?}"
        );
        limiter
            .acquire("getAccount", None, started + Duration::from_secs(3))
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(900));
    }

    #[test]
    fn a_keyed_budget_for_every_endpoint_applies_where_none_is_named() {
        let limits = RateLimits::none()
            .with_keyed_budget("*", budget(10, 60_000))
            .with_keyed_budget("getOrders", budget(3, 60_000));
        assert_eq!(limits.keyed_budget("getOrders"), Some(budget(3, 60_000)));
        assert_eq!(limits.keyed_budget("getBalance"), Some(budget(10, 60_000)));
    }
}
