//! Ready routes for the providers' webhooks, for a service built on [axum](https://docs.rs/axum) (feature
//! `axum`).
//!
//! [`webhook_routes`] answers `POST /snaptrade` and `POST /plaid` (each provider that is compiled in); nest it
//! under the path the providers are told to call. Each route reads the raw body up to [`MAX_WEBHOOK_BODY`]
//! (a longer one is refused unread, 413), hands it with its signature header to the engine's durable inbox
//! (`engine.snaptrade().handle_webhook`, `engine.plaid().handle_webhook`), and answers with the status that
//! makes the provider do the right thing:
//!
//! | the delivery | status | the provider then |
//! |---|---|---|
//! | recorded: applied, replayed, ignored, naming a user or Item the store does not hold (`unknown`), or deferred because applying it failed (a provider error during the follow-up sync included) | 200 | stops; a deferred delivery is applied by the engine's retry, not by a redelivery |
//! | forged, unsigned, or signed with a key the provider does not have | 401 | retries, and is refused again |
//! | stale or not one of the provider's events | 400 | retries, and is refused again |
//! | over [`MAX_WEBHOOK_BODY`] | 413 | retries, and is refused again |
//! | not recorded (the store failed, the provider is switched off, Plaid's verification key unavailable) | 503 | delivers it again later |
//!
//! The answer's body is a small JSON object, `{"outcome": "...", "detail": "..."}`, for the provider's delivery
//! logs; it never carries a secret or a store error's text (those go to the service's `tracing` subscriber).
//!
//! ```
//! # #[cfg(feature = "snaptrade")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use secrecy::SecretString;
//! # use tributary_provider::snaptrade::SnapTradeConfig;
//! # use tributary_sandbox::Sandbox;
//! # let sandbox = Sandbox::start().await;
//! # let config = SnapTradeConfig::new(sandbox.snaptrade().client_id(),
//! #     SecretString::from(sandbox.snaptrade().consumer_key()))?
//! #     .with_base_url(sandbox.snaptrade_base_url().parse::<url::Url>()?);
//! use std::sync::Arc;
//! use tributary_domain::FeatureFlags;
//! use tributary_provider::router::ProviderRouter;
//! use tributary_provider::snaptrade::SnapTradeClient;
//! use tributary_repo::MemoryStore;
//! use tributary_sync::SyncEngine;
//! use tributary_sync::routes::webhook_routes;
//!
//! let engine = SyncEngine::new(Arc::new(MemoryStore::new()), ProviderRouter::new(FeatureFlags::all_on()))
//!     .with_snaptrade(Arc::new(SnapTradeClient::new(config)?));
//! // SnapTrade is told to call https://<service>/webhooks/snaptrade.
//! let app = axum::Router::new().nest("/webhooks", webhook_routes(Arc::new(engine)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! // A delivery with no signature is refused, and SnapTrade is told so.
//! let answer = reqwest::Client::new()
//!     .post(format!("http://{address}/webhooks/snaptrade"))
//!     .body(r#"{"eventType":"ACCOUNT_HOLDINGS_UPDATED"}"#)
//!     .send()
//!     .await?;
//! assert_eq!(answer.status(), 401);
//! # Ok(()) }
//! # #[cfg(not(feature = "snaptrade"))]
//! # fn main() {}
//! ```

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use tributary_domain::Provider;
use tributary_provider::{MAX_WEBHOOK_BODY, WebhookError};
use tributary_repo::Store;

use crate::{SyncEngine, SyncError};

/// The routes for every compiled-in provider's webhooks, on `engine`: `POST /snaptrade` (the `Signature`
/// header) and `POST /plaid` (the `Plaid-Verification` header). See the [module](self) for what each answers.
pub fn webhook_routes<S: Store + 'static>(engine: Arc<SyncEngine<S>>) -> Router {
    let routes = Router::new();
    #[cfg(feature = "snaptrade")]
    let routes = routes.route("/snaptrade", axum::routing::post(snaptrade_delivery::<S>));
    #[cfg(feature = "plaid")]
    let routes = routes.route("/plaid", axum::routing::post(plaid_delivery::<S>));
    routes.with_state(engine)
}

/// A SnapTrade delivery, through [`crate::snaptrade::SnapTrade::handle_webhook`].
#[cfg(feature = "snaptrade")]
async fn snaptrade_delivery<S: Store + 'static>(
    State(engine): State<Arc<SyncEngine<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let provider = Provider::SnapTrade;
    let result = match read_capped(provider, &headers, body).await {
        Ok(body) => {
            let signature = text_header(&headers, "Signature");
            engine.snaptrade().handle_webhook(signature, &body).await
        }
        Err(refusal) => Err(refusal.into()),
    };
    answer(provider, result.map(|outcome| snaptrade_answer(&outcome)))
}

/// What a SnapTrade outcome tells the provider's delivery log.
#[cfg(feature = "snaptrade")]
fn snaptrade_answer(outcome: &crate::WebhookOutcome) -> Answer {
    use crate::WebhookOutcome as Outcome;
    match outcome {
        Outcome::Replayed => Answer::new("replayed", None),
        Outcome::ConnectionUpdated { status, .. } => {
            Answer::new("applied", Some(format!("connection {}", status.as_str())))
        }
        Outcome::ConnectionRemoved { .. } => {
            Answer::new("applied", Some("connection removed".into()))
        }
        Outcome::Resynced(report) if report.has_failures() => Answer::new(
            "applied",
            Some(format!(
                "user synced; {} parts failed and are tried again at the next sync",
                report.failures().len()
            )),
        ),
        Outcome::Resynced(_) => Answer::new("applied", Some("user synced".into())),
        Outcome::UserRemoved => Answer::new("applied", Some("user removed".into())),
        Outcome::HistorySynced(history) => Answer::new("applied", Some(history_line(history))),
        Outcome::OrdersRefreshed { written } => {
            Answer::new("applied", Some(format!("{written} orders refreshed")))
        }
        Outcome::Ignored { reason } => Answer::new("ignored", Some(reason.clone())),
        Outcome::UnknownUser { .. } => Answer::new(
            "unknown",
            Some("names a user this service does not hold".into()),
        ),
        Outcome::Deferred { .. } => deferred(),
    }
}

/// A Plaid delivery, through [`crate::plaid::Plaid::handle_webhook`].
#[cfg(feature = "plaid")]
async fn plaid_delivery<S: Store + 'static>(
    State(engine): State<Arc<SyncEngine<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let provider = Provider::Plaid;
    let result = match read_capped(provider, &headers, body).await {
        Ok(body) => {
            let verification = text_header(&headers, "Plaid-Verification");
            engine.plaid().handle_webhook(verification, &body).await
        }
        Err(refusal) => Err(refusal.into()),
    };
    answer(provider, result.map(|outcome| plaid_answer(&outcome)))
}

/// What a Plaid outcome tells the provider's delivery log.
#[cfg(feature = "plaid")]
fn plaid_answer(outcome: &crate::plaid::PlaidWebhookOutcome) -> Answer {
    use crate::plaid::PlaidWebhookOutcome as Outcome;
    match outcome {
        Outcome::Replayed => Answer::new("replayed", None),
        Outcome::Resynced { report, .. } if report.has_failures() => Answer::new(
            "applied",
            Some(format!(
                "Item synced; {} parts failed and are tried again at the next sync",
                report.failures().len()
            )),
        ),
        Outcome::Resynced { .. } => Answer::new("applied", Some("Item synced".into())),
        Outcome::ItemStatusChanged { status, .. } => {
            Answer::new("applied", Some(format!("Item {}", status.as_str())))
        }
        Outcome::HistorySynced { history, .. } => {
            Answer::new("applied", Some(history_line(history)))
        }
        Outcome::Acknowledged { reason } => Answer::new("ignored", Some(reason.clone())),
        Outcome::UnknownItem { .. } => Answer::new(
            "unknown",
            Some("names an Item this service does not hold".into()),
        ),
        Outcome::OtherEnvironment { environment } => Answer::new(
            "ignored",
            Some(format!(
                "sent from Plaid's {environment} environment, not this one's"
            )),
        ),
        Outcome::PerOwner(outcomes) => {
            let each: Vec<_> = outcomes.iter().map(plaid_answer).collect();
            let outcome = if each.iter().any(|answer| answer.outcome == "deferred") {
                "deferred"
            } else {
                "applied"
            };
            Answer::new(
                outcome,
                Some(format!("applied for {} holders of the Item", each.len())),
            )
        }
        Outcome::Deferred { .. } => deferred(),
    }
}

/// What a history sync tells a provider's delivery log: how many accounts, and whether any stopped midway.
#[cfg(any(feature = "snaptrade", feature = "plaid"))]
fn history_line(history: &[crate::HistoryReport]) -> String {
    let accounts: Vec<_> = history.iter().flat_map(|h| &h.accounts).collect();
    let unfinished = accounts.iter().filter(|a| a.outcome.is_failed()).count();
    if unfinished == 0 {
        format!("transactions of {} accounts synced", accounts.len())
    } else {
        format!(
            "transactions of {} accounts synced; {unfinished} stopped midway and are finished at the next sync",
            accounts.len()
        )
    }
}

fn deferred() -> Answer {
    Answer::new(
        "deferred",
        Some("recorded; applying it failed and is retried".into()),
    )
}

/// The answer's body: what became of the delivery, for the provider's delivery log.
#[derive(Debug, Serialize)]
struct Answer {
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl Answer {
    fn new(outcome: &'static str, detail: Option<String>) -> Self {
        Self { outcome, detail }
    }
}

/// The response for what the engine did with a delivery: 200 once it is recorded, the refusal's own status,
/// or 503 when it could not be recorded (the provider delivers it again). A store's or provider's error text
/// is logged, never answered.
fn answer(provider: Provider, result: Result<Answer, SyncError>) -> Response {
    let (status, body) = match result {
        Ok(answer) => {
            tracing::info!(%provider, outcome = answer.outcome, detail = answer.detail.as_deref(), "webhook delivery recorded");
            (StatusCode::OK, answer)
        }
        Err(error) => {
            let status = StatusCode::from_u16(error.webhook_http_status())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let body = match &error {
                SyncError::Webhook(refusal) => {
                    tracing::warn!(%provider, %refusal, "webhook delivery refused");
                    Answer::new("refused", Some(refusal.to_string()))
                }
                _ => {
                    tracing::error!(%provider, %error, "webhook delivery not recorded; the provider will deliver it again");
                    Answer::new(
                        "not_recorded",
                        Some("not recorded; deliver it again".to_owned()),
                    )
                }
            };
            (status, body)
        }
    };
    (status, Json(body)).into_response()
}

/// The body, read only up to `MAX_WEBHOOK_BODY`: a declared length over it is refused before a byte is read,
/// and a body streamed without one is refused at the first chunk past it.
async fn read_capped(
    provider: Provider,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, WebhookError> {
    let too_large = |bytes: usize| WebhookError::TooLarge {
        provider,
        bytes,
        limit: MAX_WEBHOOK_BODY,
    };
    let declared = text_header(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|length| length.trim().parse::<usize>().ok());
    if let Some(length) = declared.filter(|&length| length > MAX_WEBHOOK_BODY) {
        return Err(too_large(length));
    }
    let mut read = Vec::with_capacity(declared.unwrap_or(0));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| WebhookError::Malformed {
            provider,
            reason: "could not be read to its end".to_owned(),
        })?;
        if read.len() + chunk.len() > MAX_WEBHOOK_BODY {
            return Err(too_large(read.len() + chunk.len()));
        }
        read.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(read))
}

/// A header's value as text; a value that is not visible ASCII is treated as absent (no signature scheme in use
/// produces one).
fn text_header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}
