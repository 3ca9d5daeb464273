//! Property tests of SnapTrade webhook verification and parsing: arbitrary bytes, arbitrary signed JSON,
//! hostile text in every field. Each ends in a typed event or a typed refusal, never a panic; nothing
//! unsigned gets through, and what is signed is kept exactly.
#![cfg(feature = "snaptrade")]

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use tributary_provider::WebhookError;
use tributary_provider::snaptrade::signing::{canonical_json, sign};
use tributary_provider::snaptrade::webhook::verify_webhook_at;
use tributary_provider::snaptrade::{WebhookEventKind, parse_timestamp};

use crate::support::hostile_json::{any_json, hostile_text, mebibyte, not_a_uuid};

const CONSUMER_KEY: &str = "consumer-key-do-not-leak";

fn key() -> SecretString {
    SecretString::from(CONSUMER_KEY)
}

fn now() -> DateTime<Utc> {
    parse_timestamp("2026-11-25T06:00:00Z").unwrap()
}

fn signed(payload: &Value) -> (String, Vec<u8>) {
    (
        sign(&key(), &canonical_json(payload)),
        serde_json::to_vec(payload).unwrap(),
    )
}

/// A fresh event of `event_type` with `extra` fields added.
fn event(event_type: &str, extra: Map<String, Value>) -> Value {
    let mut payload = json!({
        "webhookId": "06fe1fd7-fc50-43a7-b564-8a2c5f3bab44",
        "clientId": "TRIBUTARY",
        "eventTimestamp": (now() - Duration::seconds(5)).to_rfc3339(),
        "userId": "user-1",
        "eventType": event_type,
    });
    payload.as_object_mut().unwrap().extend(extra);
    payload
}

/// A refusal of a body that was read: unreadable (400), unsigned or forged (401), stale (400). Never 413: these
/// bodies are under any size limit, and the verifier does not check sizes.
fn is_refusal(error: &WebhookError) -> bool {
    matches!(error.http_status(), 400 | 401)
}

fn hostile_fields() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(hostile_text(), any_json(), 0..4)
        .prop_map(|fields| fields.into_iter().collect())
}

proptest! {
    // Failures are saved beside this file (tests/it/properties_webhook.proptest-regressions, committed) and replayed
    // first on every run: proptest's default looks for lib.rs, which an integration test does not have.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::with_cases(64)
    })]

    #[test]
    fn arbitrary_bytes_under_any_signature_are_refused_with_a_typed_error(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        signature in prop::option::of(hostile_text()),
    ) {
        let error = verify_webhook_at(&key(), signature.as_deref(), &body, now()).unwrap_err();
        prop_assert!(is_refusal(&error), "{error:?}");
    }

    #[test]
    fn arbitrary_json_under_a_forged_signature_is_never_accepted(
        payload in any_json(),
        signature in hostile_text(),
    ) {
        let body = serde_json::to_vec(&payload).unwrap();
        let error = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap_err();
        prop_assert!(is_refusal(&error), "{error:?}");
    }

    #[test]
    fn any_signed_json_is_read_or_refused_with_a_typed_error(payload in any_json()) {
        let (signature, body) = signed(&payload);
        match verify_webhook_at(&key(), Some(&signature), &body, now()) {
            Ok(event) => prop_assert!(event.raw.get("webhookSecret").is_none()),
            Err(error) => prop_assert!(is_refusal(&error), "{error:?}"),
        }
    }

    #[test]
    fn a_signed_event_keeps_any_event_type_and_extra_fields_exactly(
        event_type in hostile_text().prop_filter("SnapTrade never sends an empty type", |text| !text.is_empty()),
        extra in hostile_fields(),
    ) {
        let payload = event(&event_type, extra.clone());
        let (signature, body) = signed(&payload);

        let read = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap();

        prop_assert_eq!(read.kind, WebhookEventKind::parse(&event_type, None));
        for (name, value) in &extra {
            if !["webhookSecret", "eventType", "eventTimestamp"].contains(&name.as_str()) {
                prop_assert_eq!(read.raw.get(name), Some(value));
            }
        }
    }

    #[test]
    fn a_signed_event_whose_ids_are_not_uuids_keeps_them_as_text(
        ids in prop::collection::vec(prop_oneof![not_a_uuid(), hostile_text()], 4),
    ) {
        let names = ["webhookId", "userId", "accountId", "brokerageAuthorizationId"];
        let extra = names
            .iter()
            .zip(&ids)
            .map(|(name, id)| ((*name).to_owned(), Value::String(id.clone())))
            .collect();
        let (signature, body) = signed(&event("ACCOUNT_HOLDINGS_UPDATED", extra));

        let read = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap();

        // Ids stay text here: the engine decides what an id that names nobody means.
        let kept = |id: &String| (!id.is_empty()).then(|| id.clone());
        prop_assert_eq!(read.webhook_id, kept(&ids[0]));
        prop_assert_eq!(read.user_id, kept(&ids[1]));
        prop_assert_eq!(read.account_id, kept(&ids[2]));
        prop_assert_eq!(read.brokerage_authorization_id, kept(&ids[3]));
    }

    #[test]
    fn any_event_timestamp_text_is_read_or_refused_never_a_panic(timestamp in hostile_text()) {
        let mut payload = event("ACCOUNT_HOLDINGS_UPDATED", Map::new());
        payload["eventTimestamp"] = Value::String(timestamp.clone());
        let (signature, body) = signed(&payload);

        match verify_webhook_at(&key(), Some(&signature), &body, now()) {
            Ok(read) => prop_assert_eq!(Some(read.event_timestamp), parse_timestamp(&timestamp)),
            Err(error) => prop_assert!(is_refusal(&error), "{error:?}"),
        }
    }
}

#[test]
fn a_signed_event_carrying_a_mebibyte_nul_bytes_and_emoji_is_read_intact() {
    let hostile = format!("{}\0📈🚀", mebibyte());
    let mut extra = Map::new();
    extra.insert("details".to_owned(), json!({ "note": hostile }));
    extra.insert("accountId".to_owned(), json!("acc\0📈"));
    let (signature, body) = signed(&event("TRADE_UPDATE", extra));

    let read = verify_webhook_at(&key(), Some(&signature), &body, now()).unwrap();

    assert_eq!(read.kind, WebhookEventKind::parse("TRADE_UPDATE", None));
    assert_eq!(read.details.unwrap()["note"], hostile);
    assert_eq!(read.account_id.as_deref(), Some("acc\0📈"));
}

#[test]
fn a_mebibyte_signature_header_is_refused_as_forged() {
    let (_, body) = signed(&event("TRADE_UPDATE", Map::new()));

    let error = verify_webhook_at(&key(), Some(&mebibyte()), &body, now()).unwrap_err();

    assert!(
        matches!(error, WebhookError::BadSignature { .. }),
        "{error:?}"
    );
}
