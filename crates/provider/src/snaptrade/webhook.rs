//! SnapTrade webhooks: proving a delivery came from SnapTrade, refusing replays, and reading the event.
//!
//! SnapTrade signs the *parsed* payload, not the bytes on the wire: the `Signature` header is
//! base64(HMAC-SHA256(consumer key, canonical JSON of the payload)), the same canonical form requests are
//! signed with. The comparison is constant-time (`hmac`'s `verify_slice`), and an event whose
//! `eventTimestamp` is more than [`MAX_EVENT_AGE`] away from now is refused, as SnapTrade's docs advise,
//! so a captured delivery cannot be replayed later.
//!
//! A refused delivery is a [`WebhookError`] naming what was wrong (no signature, a wrong one, a stale event, a
//! body that is not an event), with [`WebhookError::http_status`] the status to answer (401/400, and 413 for a
//! body the receiver refused unread). SnapTrade retries a refused delivery. [`verify_webhook_signature`] checks
//! everything but the age, for a receiver that treats a signed but stale delivery as a hint to resync instead
//! of refusing it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value};
use tributary_domain::Provider;

use super::convert::parse_timestamp;
use super::signing::{canonical_json, verify};
use crate::inbound::WebhookError;

/// How far an event's timestamp may be from now (either way) before it is refused.
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(300);
/// A verified webhook event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// What happened.
    pub kind: WebhookEventKind,
    /// SnapTrade's id for the delivery (`webhookId`, spelled `webookId` in the spec).
    pub webhook_id: Option<String>,
    /// The partner client id.
    pub client_id: Option<String>,
    /// The SnapTrade user concerned.
    pub user_id: Option<String>,
    /// When SnapTrade emitted it.
    pub event_timestamp: DateTime<Utc>,
    /// The brokerage authorization (connection) concerned (`brokerageAuthorizationId`, or `connectionId`
    /// for OAuth apps).
    pub brokerage_authorization_id: Option<String>,
    /// The account concerned.
    pub account_id: Option<String>,
    /// The brokerage concerned.
    pub brokerage_id: Option<String>,
    /// Per-event details (`ACCOUNT_HOLDINGS_UPDATED`'s sync results, `TRADE_UPDATE`'s orders).
    pub details: Option<Value>,
    /// The payload as received, without the deprecated `webhookSecret`.
    pub raw: Value,
}

/// The event types SnapTrade documents. Open: a type this crate does not know is kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookEventKind {
    /// `USER_REGISTERED`.
    UserRegistered,
    /// `USER_DELETED`: the asynchronous deletion finished.
    UserDeleted,
    /// `CONNECTION_ATTEMPTED`, with how the attempt ended.
    ConnectionAttempted(ConnectionAttemptResult),
    /// `CONNECTION_ADDED`.
    ConnectionAdded,
    /// `CONNECTION_DELETED`: the asynchronous deletion finished.
    ConnectionDeleted,
    /// `CONNECTION_BROKEN`: the user must reconnect through the portal.
    ConnectionBroken,
    /// `CONNECTION_FIXED`.
    ConnectionFixed,
    /// `CONNECTION_UPDATED`.
    ConnectionUpdated,
    /// `CONNECTION_FAILED`.
    ConnectionFailed,
    /// `NEW_ACCOUNT_AVAILABLE`.
    NewAccountAvailable,
    /// `ACCOUNT_TRANSACTIONS_INITIAL_UPDATE`.
    AccountTransactionsInitialUpdate,
    /// `ACCOUNT_TRANSACTIONS_UPDATED`.
    AccountTransactionsUpdated,
    /// `ACCOUNT_REMOVED`.
    AccountRemoved,
    /// `ACCOUNT_HOLDINGS_UPDATED`.
    AccountHoldingsUpdated,
    /// `TRADE_DETECTION`.
    TradeDetection,
    /// `TRADE_UPDATE` (beta).
    TradeUpdate,
    /// Any other type, as sent.
    Other(String),
}

impl WebhookEventKind {
    /// The kind for an `eventType`; `result` is `connectionAttemptedResult`.
    pub fn parse(event_type: &str, result: Option<&str>) -> Self {
        match event_type.trim() {
            "USER_REGISTERED" => Self::UserRegistered,
            "USER_DELETED" => Self::UserDeleted,
            "CONNECTION_ATTEMPTED" => {
                Self::ConnectionAttempted(ConnectionAttemptResult::parse(result.unwrap_or("")))
            }
            "CONNECTION_ADDED" => Self::ConnectionAdded,
            "CONNECTION_DELETED" => Self::ConnectionDeleted,
            "CONNECTION_BROKEN" => Self::ConnectionBroken,
            "CONNECTION_FIXED" => Self::ConnectionFixed,
            "CONNECTION_UPDATED" => Self::ConnectionUpdated,
            "CONNECTION_FAILED" => Self::ConnectionFailed,
            "NEW_ACCOUNT_AVAILABLE" => Self::NewAccountAvailable,
            "ACCOUNT_TRANSACTIONS_INITIAL_UPDATE" => Self::AccountTransactionsInitialUpdate,
            "ACCOUNT_TRANSACTIONS_UPDATED" => Self::AccountTransactionsUpdated,
            "ACCOUNT_REMOVED" => Self::AccountRemoved,
            "ACCOUNT_HOLDINGS_UPDATED" => Self::AccountHoldingsUpdated,
            "TRADE_DETECTION" => Self::TradeDetection,
            "TRADE_UPDATE" => Self::TradeUpdate,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// How a connection attempt ended (`connectionAttemptedResult`). Open like every SnapTrade vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionAttemptResult {
    /// `SUCCESS`.
    Success,
    /// `AUTH_EXPIRED`.
    AuthExpired,
    /// `INVALID_AUTH_CODE`.
    InvalidAuthCode,
    /// `AUTH_NOT_IN_PROGRESS`.
    AuthNotInProgress,
    /// `DIFFERENT_ACCOUNT`: the user signed in to another account than the one being reconnected.
    DifferentAccount,
    /// `UNCAUGHT_ERROR`.
    UncaughtError,
    /// `INVALID_CREDENTIALS`.
    InvalidCredentials,
    /// `INVALID_MFA_CODE`.
    InvalidMfaCode,
    /// `NO_DATA`.
    NoData,
    /// Any other result, as sent (empty when SnapTrade sent none).
    Other(String),
}

impl ConnectionAttemptResult {
    /// The result for SnapTrade's text.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "SUCCESS" => Self::Success,
            "AUTH_EXPIRED" => Self::AuthExpired,
            "INVALID_AUTH_CODE" => Self::InvalidAuthCode,
            "AUTH_NOT_IN_PROGRESS" => Self::AuthNotInProgress,
            "DIFFERENT_ACCOUNT" => Self::DifferentAccount,
            "UNCAUGHT_ERROR" => Self::UncaughtError,
            "INVALID_CREDENTIALS" => Self::InvalidCredentials,
            "INVALID_MFA_CODE" => Self::InvalidMfaCode,
            "NO_DATA" => Self::NoData,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl WebhookEvent {
    /// Reads an event from a payload verified before (the payload a receiver recorded, to apply it later). The
    /// deprecated `webhookSecret` is dropped here too.
    ///
    /// # Errors
    /// [`WebhookError::Malformed`] as for a delivery that is not a JSON object with an `eventType` and a
    /// readable `eventTimestamp`.
    pub fn from_payload(payload: Value) -> Result<Self, WebhookError> {
        match payload {
            Value::Object(fields) => read_event(fields),
            _ => Err(malformed("is not a JSON object".to_owned())),
        }
    }

    /// Whether the event's timestamp is within [`MAX_EVENT_AGE`] of `now` (either way).
    pub fn is_fresh_at(&self, now: DateTime<Utc>) -> bool {
        check_age(self.event_timestamp, now).is_ok()
    }
}

/// Checks a delivery's `Signature` header against `body`, then reads it, whatever its age: for a receiver that
/// treats a signed but stale delivery as a hint (a resync) rather than refusing it. [`verify_webhook`] refuses
/// stale ones too.
///
/// # Errors
/// As [`verify_webhook`], without the stale refusal.
pub fn verify_webhook_signature(
    consumer_key: &SecretString,
    signature: Option<&str>,
    body: &[u8],
) -> Result<WebhookEvent, WebhookError> {
    let payload: Value = serde_json::from_slice(body)
        .map_err(|error| malformed(format!("is not JSON ({error})")))?;
    let Value::Object(fields) = payload else {
        return Err(malformed("is not a JSON object".to_owned()));
    };
    let payload = Value::Object(fields);
    let signature = signature.ok_or(WebhookError::MissingSignature {
        provider: Provider::SnapTrade,
        header: "Signature",
    })?;
    if !verify(consumer_key, &canonical_json(&payload), signature) {
        return Err(WebhookError::BadSignature {
            provider: Provider::SnapTrade,
        });
    }
    WebhookEvent::from_payload(payload)
}

/// Checks a delivery's `Signature` header against `body` and its age against the clock, then reads it.
///
/// # Errors
/// [`WebhookError::MissingSignature`] or [`WebhookError::BadSignature`] for a missing or wrong signature,
/// [`WebhookError::Stale`] for an event older (or newer) than [`MAX_EVENT_AGE`], and
/// [`WebhookError::Malformed`] for anything that is not a SnapTrade event; each knows the HTTP status to
/// answer.
///
/// ```
/// use secrecy::SecretString;
/// use tributary_provider::snaptrade::signing::{canonical_json, sign};
/// use tributary_provider::snaptrade::webhook::verify_webhook;
/// use tributary_provider::snaptrade::WebhookEventKind;
///
/// // SNAPTRADE_CONSUMER_KEY: SnapTrade signs each delivery with it.
/// let consumer_key = SecretString::from("consumer-key");
/// let body = serde_json::json!({
///     "eventType": "ACCOUNT_HOLDINGS_UPDATED",
///     "eventTimestamp": chrono::Utc::now().to_rfc3339(),
///     "userId": "user-1",
///     "accountId": "917c8734-8470-4a3e-a18f-57c3f2ee6631",
/// });
/// // What SnapTrade sends: the body, and the signature of its canonical form in the `Signature` header.
/// let signature = sign(&consumer_key, &canonical_json(&body));
/// let bytes = serde_json::to_vec(&body).unwrap();
///
/// let event = verify_webhook(&consumer_key, Some(&signature), &bytes).unwrap();
/// assert_eq!(event.kind, WebhookEventKind::AccountHoldingsUpdated);
///
/// // A forged delivery is refused, and the refusal says what to answer.
/// let forged = verify_webhook(&consumer_key, Some("Zm9yZ2Vk"), &bytes).unwrap_err();
/// assert_eq!(forged.http_status(), 401);
/// ```
pub fn verify_webhook(
    consumer_key: &SecretString,
    signature: Option<&str>,
    body: &[u8],
) -> Result<WebhookEvent, WebhookError> {
    verify_webhook_at(consumer_key, signature, body, Utc::now())
}

/// [`verify_webhook`] with the current time given (tests pin it).
pub fn verify_webhook_at(
    consumer_key: &SecretString,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookEvent, WebhookError> {
    let event = verify_webhook_signature(consumer_key, signature, body)?;
    check_age(event.event_timestamp, now)?;
    Ok(event)
}

fn read_event(mut fields: Map<String, Value>) -> Result<WebhookEvent, WebhookError> {
    // The deprecated shared secret must not travel further than this function.
    fields.remove("webhookSecret");
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    let event_type = text("eventType").ok_or_else(|| malformed("has no eventType".to_owned()))?;
    let timestamp =
        text("eventTimestamp").ok_or_else(|| malformed("has no eventTimestamp".to_owned()))?;
    let event_timestamp = parse_timestamp(&timestamp)
        .ok_or_else(|| malformed(format!("has an unreadable eventTimestamp `{timestamp}`")))?;
    Ok(WebhookEvent {
        kind: WebhookEventKind::parse(&event_type, text("connectionAttemptedResult").as_deref()),
        webhook_id: text("webhookId").or_else(|| text("webookId")),
        client_id: text("clientId"),
        user_id: text("userId"),
        event_timestamp,
        brokerage_authorization_id: text("brokerageAuthorizationId")
            .or_else(|| text("connectionId")),
        account_id: text("accountId"),
        brokerage_id: text("brokerageId"),
        details: fields.get("details").cloned(),
        raw: Value::Object(fields),
    })
}

fn check_age(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), WebhookError> {
    let distance = (now - at).abs().to_std().unwrap_or(Duration::MAX);
    if distance > MAX_EVENT_AGE {
        return Err(WebhookError::Stale {
            provider: Provider::SnapTrade,
            distance,
            max_age: MAX_EVENT_AGE,
        });
    }
    Ok(())
}

fn malformed(reason: String) -> WebhookError {
    WebhookError::Malformed {
        provider: Provider::SnapTrade,
        reason,
    }
}
