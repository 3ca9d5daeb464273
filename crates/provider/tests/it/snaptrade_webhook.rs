//! SnapTrade webhook deliveries: signed, fresh and typed, or refused.
#![cfg(feature = "snaptrade")]

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary_domain::Provider;
use tributary_provider::WebhookError;
use tributary_provider::snaptrade::signing::{canonical_json, sign};
use tributary_provider::snaptrade::webhook::{
    ConnectionAttemptResult, MAX_EVENT_AGE, verify_webhook_at,
};
use tributary_provider::snaptrade::{WebhookEventKind, parse_timestamp};

const CONSUMER_KEY: &str = "consumer-key-do-not-leak";

fn key() -> SecretString {
    SecretString::from(CONSUMER_KEY)
}

fn now() -> DateTime<Utc> {
    parse_timestamp("2026-11-25T06:00:00Z").unwrap()
}

/// A delivery as SnapTrade sends it: keys in its own order, whitespace, and the signature over the
/// canonical form of the parsed payload.
fn delivery(payload: &Value) -> (String, Vec<u8>) {
    let signature = sign(&key(), &canonical_json(payload));
    (signature, serde_json::to_vec_pretty(payload).unwrap())
}

fn holdings_updated(at: DateTime<Utc>) -> Value {
    json!({
        "webhookId": "06fe1fd7-fc50-43a7-b564-8a2c5f3bab44",
        "clientId": "TRIBUTARY",
        "eventTimestamp": at.to_rfc3339(),
        "userId": "user-1",
        "eventType": "ACCOUNT_HOLDINGS_UPDATED",
        "accountId": "917c8734-8470-4a3e-a18f-57c3f2ee6631",
        "brokerageId": "ebf91a5b-0920-4266-9e36-f6cfe8c40946",
        "brokerageAuthorizationId": "87b24961-b51e-4db8-9226-f198f6518a89",
        "webhookSecret": "deprecated-shared-secret",
        "details": {"positions": {"success": true, "error": null}}
    })
}

#[test]
fn a_signed_fresh_delivery_is_read_into_a_typed_event() {
    let (signature, body) = delivery(&holdings_updated(now() - Duration::seconds(30)));

    let event = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap();

    assert_eq!(event.kind, WebhookEventKind::AccountHoldingsUpdated);
    assert_eq!(event.user_id.as_deref(), Some("user-1"));
    assert_eq!(
        event.brokerage_authorization_id.as_deref(),
        Some("87b24961-b51e-4db8-9226-f198f6518a89")
    );
    assert_eq!(event.details.unwrap()["positions"]["success"], true);
    assert!(event.raw.get("webhookSecret").is_none());
    assert!(!format!("{:?}", event.raw).contains("deprecated-shared-secret"));
}

#[test]
fn a_forged_signature_is_refused() {
    let (_, body) = delivery(&holdings_updated(now()));
    let forged = sign(&SecretString::from("someone-else"), "{}");

    let error = verify_webhook_at(&key(), Some(&forged), &body, now()).unwrap_err();

    assert_eq!(
        error,
        WebhookError::BadSignature {
            provider: Provider::SnapTrade
        }
    );
    assert_eq!(error.http_status(), 401);
}

#[test]
fn a_payload_changed_after_signing_is_refused() {
    let payload = holdings_updated(now());
    let (signature, _) = delivery(&payload);
    let mut tampered = payload;
    tampered["userId"] = json!("someone-else");

    let error = verify_webhook_at(
        &key(),
        Some(&signature),
        &serde_json::to_vec(&tampered).unwrap(),
        now(),
    )
    .unwrap_err();

    assert!(
        matches!(error, WebhookError::BadSignature { .. }),
        "{error:?}"
    );
}

#[test]
fn a_delivery_without_a_signature_is_refused() {
    let (_, body) = delivery(&holdings_updated(now()));
    let error = verify_webhook_at(&key(), None, &body, now()).unwrap_err();
    assert!(
        matches!(error, WebhookError::MissingSignature { .. }),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 401);
}

#[test]
fn an_event_older_than_five_minutes_is_refused_as_stale() {
    let (signature, body) = delivery(&holdings_updated(now() - Duration::seconds(301)));

    let error = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap_err();

    let WebhookError::Stale {
        distance, max_age, ..
    } = error
    else {
        panic!("expected Stale, got {error:?}");
    };
    assert_eq!(distance.as_secs(), 301);
    assert_eq!(max_age, MAX_EVENT_AGE);
    assert_eq!(error.http_status(), 400);
}

#[test]
fn snaptrades_python_timestamp_spelling_is_accepted() {
    let mut payload = holdings_updated(now());
    payload["eventTimestamp"] = json!("2026-11-25 01:00:00.217000-05:00");
    let (signature, body) = delivery(&payload);

    let event = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap();

    assert_eq!(
        event.event_timestamp.to_rfc3339(),
        "2026-11-25T06:00:00.217+00:00"
    );
}

#[test]
fn an_unknown_event_type_is_kept_as_text() {
    let mut payload = holdings_updated(now());
    payload["eventType"] = json!("ACCOUNT_BALANCE_HISTORY_UPDATED");
    let (signature, body) = delivery(&payload);

    let event = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap();

    assert_eq!(
        event.kind,
        WebhookEventKind::Other("ACCOUNT_BALANCE_HISTORY_UPDATED".to_owned())
    );
}

#[test]
fn a_connection_attempt_carries_its_result_and_the_spec_typo_id_is_read() {
    let payload = json!({
        "webookId": "06fe1fd7-fc50-43a7-b564-8a2c5f3bab44",
        "clientId": "TRIBUTARY",
        "eventTimestamp": now().to_rfc3339(),
        "userId": "user-1",
        "eventType": "CONNECTION_ATTEMPTED",
        "connectionAttemptedResult": "INVALID_MFA_CODE",
        "brokerageAuthorizationId": "87b24961-b51e-4db8-9226-f198f6518a89"
    });
    let (signature, body) = delivery(&payload);

    let event = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap();

    assert_eq!(
        event.kind,
        WebhookEventKind::ConnectionAttempted(ConnectionAttemptResult::InvalidMfaCode)
    );
    assert_eq!(
        event.webhook_id.as_deref(),
        Some("06fe1fd7-fc50-43a7-b564-8a2c5f3bab44")
    );
}

#[test]
fn every_documented_event_type_has_its_own_kind() {
    let documented = [
        "USER_REGISTERED",
        "USER_DELETED",
        "CONNECTION_ADDED",
        "CONNECTION_DELETED",
        "CONNECTION_BROKEN",
        "CONNECTION_FIXED",
        "CONNECTION_UPDATED",
        "CONNECTION_FAILED",
        "NEW_ACCOUNT_AVAILABLE",
        "ACCOUNT_TRANSACTIONS_INITIAL_UPDATE",
        "ACCOUNT_TRANSACTIONS_UPDATED",
        "ACCOUNT_REMOVED",
        "ACCOUNT_HOLDINGS_UPDATED",
        "TRADE_DETECTION",
        "TRADE_UPDATE",
    ];
    for event_type in documented {
        let kind = WebhookEventKind::parse(event_type, None);
        assert!(
            !matches!(kind, WebhookEventKind::Other(_)),
            "{event_type} fell through to Other"
        );
    }
}

#[test]
fn a_body_that_is_not_a_json_object_is_refused_as_malformed() {
    let error = verify_webhook_at(&key(), Some("x"), b"[1, 2]", now()).unwrap_err();
    assert!(
        matches!(&error, WebhookError::Malformed { reason, .. } if reason.contains("not a JSON object")),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 400);
}
