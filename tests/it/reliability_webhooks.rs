//! SnapTrade webhooks that go wrong, seen from the engine and the store: a forged signature, a stale or
//! future timestamp (a hint to resync, not a command), a delivery whose application fails (kept and retried),
//! a redelivery past the freshness window, a replayed deletion SnapTrade contradicts, a replayed or duplicated
//! delivery, an unknown event type, a 10 MiB body (anything over
//! `MAX_WEBHOOK_BODY`, 1 MiB, is refused before it is read), bytes that are not UTF-8. Each is refused with a
//! typed error or acknowledged with a `WebhookOutcome` saying why; none changes a row it should not, none is applied twice, none panics. Every case runs on `MemoryStore` and on
//! `PgStore` (a fresh migrated database), with the sandbox providers wired as the examples wire them.
//!
//! The verifier's own checks (signature, age, shape) are unit-tested in
//! `crates/provider/tests/snaptrade_webhook.rs`; here the point is what the engine does with the delivery.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tributary::domain::{
    AuthorizationId, BrokerageConnection, ConnectionStatus, ConnectionType, FeatureFlags, Holding,
    InvestmentAccount, Order, UserId,
};
use tributary::provider::WebhookError;
use tributary::provider::capability::ConnectionPortal;
use tributary::provider::snaptrade::UserCredentials;
use tributary::provider::snaptrade::signing::{canonical_json, sign};
use tributary::provider::snaptrade::webhook::verify_webhook;
use tributary::repo::{Keyring, MemoryStore, PgStore, SecretKey, Store};
use tributary::sync::{
    MAX_WEBHOOK_BODY, SyncEngine, SyncError, WebhookOutcome, webhook_http_status,
};
use tributary_sandbox::Sandbox;

use crate::support::{self, Providers};

/// Every provider switched on.
const ALL_ON: FeatureFlags = FeatureFlags::all_on();

/// How long any one delivery may take before the test calls it a hang (debug build, 2 cores, 10 MiB).
const NO_HANG: Duration = Duration::from_secs(60);

/// A user with a SnapTrade trade connection, synced once, and the engine that receives their webhooks.
struct Hooked<S> {
    providers: Providers,
    engine: SyncEngine<S>,
    user: UserId,
    authorization: AuthorizationId,
}

/// Every row the user has in the tables a webhook may touch.
#[derive(Debug, Clone, PartialEq)]
struct Rows {
    connections: Vec<BrokerageConnection>,
    accounts: Vec<InvestmentAccount>,
    holdings: Vec<Holding>,
    orders: Vec<Order>,
    registered_at_snaptrade: bool,
}

impl<S: Store + 'static> Hooked<S> {
    async fn start(store: S, user: UserId) -> Self {
        let providers = Providers::on_sandbox(Sandbox::start().await);
        let engine = providers.engine(store, ALL_ON);
        let linked = providers
            .connect_snaptrade(&engine, user, ConnectionType::Trade)
            .await
            .unwrap();
        assert_eq!(linked, support::Linked::Done);
        let report = engine.sync_user(user).await.unwrap();
        assert!(!report.has_failures(), "{:?}", report.failures());
        let connections = engine.store().list_connections(user).await.unwrap();
        let authorization = connections[0].authorization_id;
        Self {
            providers,
            engine,
            user,
            authorization,
        }
    }

    fn sandbox(&self) -> &Sandbox {
        self.providers.sandbox.as_ref().expect("on the sandbox")
    }

    async fn rows(&self) -> Rows {
        let store = self.engine.store();
        Rows {
            connections: store.list_connections(self.user).await.unwrap(),
            accounts: store.list_accounts(self.user).await.unwrap(),
            holdings: store.list_holdings(self.user).await.unwrap(),
            orders: store.list_orders(self.user, None).await.unwrap(),
            registered_at_snaptrade: store
                .find_snaptrade_user(self.user)
                .await
                .unwrap()
                .is_some(),
        }
    }

    async fn connection_status(&self) -> ConnectionStatus {
        let store = self.engine.store();
        let connection = store
            .get_connection(self.user, self.authorization)
            .await
            .unwrap();
        connection.status
    }

    /// An event about the user's connection, stamped now, as SnapTrade sends it.
    fn event(&self, event_type: &str, webhook_id: &str) -> Value {
        json!({
            "webhookId": webhook_id,
            "clientId": self.sandbox().snaptrade().client_id(),
            "eventTimestamp": Utc::now().to_rfc3339(),
            "userId": self.user.to_string(),
            "eventType": event_type,
            "brokerageAuthorizationId": self.authorization.to_string(),
        })
    }

    /// Delivers raw bytes under a `Signature` header, failing the test on a hang.
    async fn deliver_raw(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, SyncError> {
        tokio::time::timeout(
            NO_HANG,
            self.engine.snaptrade().handle_webhook(signature, body),
        )
        .await
        .expect("the handler answers instead of hanging")
    }

    /// Delivers `payload` signed with the consumer key, as SnapTrade does.
    async fn deliver(&self, payload: &Value) -> Result<WebhookOutcome, SyncError> {
        let (body, signature) = self.providers.signed_webhook(payload);
        self.deliver_raw(Some(&signature), &body).await
    }

    /// How many times SnapTrade was asked for the user's connections (a sync does, a deletion's check does).
    fn authorization_lists(&self) -> usize {
        self.sandbox()
            .snaptrade()
            .log()
            .count("GET", "/authorizations")
    }

    /// The user's SnapTrade login, as stored.
    async fn login(&self) -> UserCredentials {
        let row = self
            .engine
            .store()
            .find_snaptrade_user(self.user)
            .await
            .unwrap()
            .expect("registered");
        UserCredentials::new(row.snaptrade_user_id, row.user_secret)
    }

    /// Deletes the user's connection at SnapTrade, as the user would in SnapTrade's own app.
    async fn delete_connection_at_snaptrade(&self) {
        let login = self.login().await;
        self.providers
            .snaptrade
            .client
            .remove_connection(&login, &self.authorization)
            .await
            .unwrap();
    }

    /// How many requests the SnapTrade sandbox has answered so far.
    fn snaptrade_requests(&self) -> usize {
        self.sandbox().snaptrade().log().all().len()
    }
}

/// A signature made with some other key than the consumer key: well-formed, and wrong.
fn forged_signature(payload: &Value) -> String {
    let attacker = SecretString::from("an-attackers-guess-at-the-consumer-key");
    sign(&attacker, &canonical_json(payload))
}

fn assert_refused_as_forged(refused: &SyncError) {
    let SyncError::Webhook(
        refusal @ (WebhookError::BadSignature { .. } | WebhookError::MissingSignature { .. }),
    ) = refused
    else {
        panic!("a forged or unsigned delivery is refused for its signature, got {refused:?}");
    };
    assert_eq!(refusal.http_status(), 401);
    assert_eq!(
        webhook_http_status(&Err(SyncError::Webhook(refusal.clone()))),
        401
    );
}

async fn a_forged_or_unsigned_delivery_is_refused_and_does_not_burn_its_webhook_id<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    let before = hooked.rows().await;
    let broken = hooked.event("CONNECTION_BROKEN", "hook-forged");
    let body = serde_json::to_vec(&broken).unwrap();

    let forged = hooked
        .deliver_raw(Some(&forged_signature(&broken)), &body)
        .await
        .unwrap_err();
    let unsigned = hooked.deliver_raw(None, &body).await.unwrap_err();
    let garbage = hooked
        .deliver_raw(Some("not base64 at all \u{1F4A5}"), &body)
        .await
        .unwrap_err();

    for refused in [&forged, &unsigned, &garbage] {
        assert_refused_as_forged(refused);
    }
    assert!(
        matches!(
            unsigned,
            SyncError::Webhook(WebhookError::MissingSignature { .. })
        ),
        "{unsigned}"
    );
    assert!(
        unsigned
            .to_string()
            .contains("the Signature header is missing"),
        "{unsigned}"
    );
    assert_eq!(hooked.rows().await, before, "a refused delivery wrote");
    // The forgeries did not mark the id as seen: SnapTrade's genuine delivery with it is still applied.
    let genuine = hooked.deliver(&broken).await.unwrap();
    assert_eq!(
        genuine,
        WebhookOutcome::ConnectionUpdated {
            authorization_id: hooked.authorization,
            status: ConnectionStatus::Disabled,
        }
    );
}

async fn a_signed_stale_unknown_delivery_resyncs_the_user_it_names_instead_of_obeying_it<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    for (offset, id) in [
        (-301, "hook-past"),
        (301, "hook-future"),
        (-86_400, "hook-old"),
    ] {
        let mut event = hooked.event("CONNECTION_BROKEN", id);
        let at = Utc::now() + chrono::Duration::seconds(offset);
        event["eventTimestamp"] = json!(at.to_rfc3339());
        let listed = hooked.authorization_lists();

        let result = hooked.deliver(&event).await;

        assert_eq!(webhook_http_status(&result), 200, "{result:?}");
        let outcome = result.unwrap();
        assert!(
            matches!(&outcome, WebhookOutcome::Resynced(report) if !report.has_failures()),
            "a stale signed delivery is a hint to resync, got {outcome:?}"
        );
        assert!(
            hooked.authorization_lists() > listed,
            "the resync asked SnapTrade"
        );
        assert_eq!(
            hooked.connection_status().await,
            ConnectionStatus::Active,
            "the stale command itself was not obeyed"
        );
        assert_eq!(
            hooked.deliver(&event).await.unwrap(),
            WebhookOutcome::Replayed,
            "recorded once, it is not resynced again"
        );
    }
}

async fn a_replayed_holdings_update_resyncs_once_and_is_then_acknowledged_as_a_replay<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    let update = hooked.event("ACCOUNT_HOLDINGS_UPDATED", "hook-holdings");
    let first = hooked.deliver(&update).await.unwrap();
    assert!(
        matches!(&first, WebhookOutcome::Resynced(report) if !report.has_failures()),
        "{first:?}"
    );
    let after_first = hooked.rows().await;
    let requests = hooked.snaptrade_requests();

    let replay = hooked.deliver(&update).await.unwrap();

    assert_eq!(replay, WebhookOutcome::Replayed);
    assert_eq!(hooked.snaptrade_requests(), requests, "the replay resynced");
    assert_eq!(hooked.rows().await, after_first, "the replay wrote");
}

async fn duplicate_deliveries_arriving_together_are_applied_once<S: Store + 'static>(
    hooked: Hooked<S>,
) {
    let hooked = Arc::new(hooked);
    let broken = hooked.event("CONNECTION_BROKEN", "hook-together");
    let mut deliveries = JoinSet::new();
    for _ in 0..8 {
        let (hooked, broken) = (Arc::clone(&hooked), broken.clone());
        deliveries.spawn(async move { hooked.deliver(&broken).await });
    }
    let outcomes = deliveries.join_all().await;

    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(WebhookOutcome::ConnectionUpdated { .. })))
        .count();
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(WebhookOutcome::Replayed)))
        .count();
    assert_eq!((applied, replayed), (1, 7), "{outcomes:?}");
    assert_eq!(hooked.connection_status().await, ConnectionStatus::Disabled);

    // Fixed since: the duplicate, delivered again, must not break the connection a second time.
    let fixed = hooked.event("CONNECTION_FIXED", "hook-fixed");
    hooked.deliver(&fixed).await.unwrap();
    let before = hooked.rows().await;
    assert_eq!(
        hooked.deliver(&broken).await.unwrap(),
        WebhookOutcome::Replayed
    );
    assert_eq!(hooked.rows().await, before);
    assert_eq!(hooked.connection_status().await, ConnectionStatus::Active);
}

async fn an_unknown_event_type_is_acknowledged_with_its_reason_and_changes_nothing<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    let before = hooked.rows().await;
    let requests = hooked.snaptrade_requests();
    let unknown = hooked.event("PORTFOLIO_REBALANCED_BY_ROBOT", "hook-unknown");

    let outcome = hooked.deliver(&unknown).await.unwrap();

    let WebhookOutcome::Ignored { reason } = &outcome else {
        panic!("an unknown event is acknowledged as ignored, got {outcome:?}");
    };
    assert!(reason.contains("PORTFOLIO_REBALANCED_BY_ROBOT"), "{reason}");
    assert!(reason.contains("not acted on"), "{reason}");
    assert_eq!(hooked.rows().await, before);
    assert_eq!(hooked.snaptrade_requests(), requests);
    assert_eq!(
        hooked.deliver(&unknown).await.unwrap(),
        WebhookOutcome::Replayed
    );
}

/// `event` with `details` padded by `bytes` characters, where SnapTrade puts per-event data.
fn padded(mut event: Value, bytes: usize) -> Value {
    event["details"] = json!({ "padding": "x".repeat(bytes) });
    event
}

/// `event` padded so that its JSON body is exactly `body_len` bytes.
fn padded_to(event: Value, body_len: usize) -> Value {
    let unpadded = serde_json::to_vec(&padded(event.clone(), 0)).unwrap().len();
    padded(event, body_len - unpadded)
}

/// A payload padded to just over 10 MiB.
fn ten_mebibytes(event: Value) -> Value {
    padded(event, 10 * 1024 * 1024)
}

/// Checks `refused` is the size refusal: 413, its code, the limit named, the body not repeated.
fn assert_refused_as_too_large(refused: &SyncError) {
    let SyncError::Webhook(refusal @ WebhookError::TooLarge { limit, .. }) = refused else {
        panic!("an oversized delivery is TooLarge, got {refused:?}");
    };
    assert_eq!(*limit, MAX_WEBHOOK_BODY);
    assert_eq!(refusal.http_status(), 413, "{refusal}");
    assert!(
        refusal
            .to_string()
            .contains(&format!("over the {MAX_WEBHOOK_BODY}-byte limit")),
        "{refusal}"
    );
    assert!(
        refused.to_string().len() < 1024,
        "the error repeats the body: {} bytes",
        refused.to_string().len()
    );
}

async fn a_ten_mebibyte_body_is_refused_unread_whether_forged_or_signed_and_burns_no_webhook_id<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    let before = hooked.rows().await;
    let requests = hooked.snaptrade_requests();
    let broken = hooked.event("CONNECTION_BROKEN", "hook-huge");
    let huge = ten_mebibytes(broken.clone());
    let forged_body = serde_json::to_vec(&huge).unwrap();
    let (signed_body, signature) = hooked.providers.signed_webhook(&huge);
    assert!(signed_body.len() > 10 * 1024 * 1024);

    let forged = hooked
        .deliver_raw(Some(&forged_signature(&huge)), &forged_body)
        .await
        .unwrap_err();
    let signed = hooked
        .deliver_raw(Some(&signature), &signed_body)
        .await
        .unwrap_err();

    for refused in [&forged, &signed] {
        assert_refused_as_too_large(refused);
    }
    assert_eq!(hooked.rows().await, before, "an oversized delivery wrote");
    assert_eq!(hooked.connection_status().await, ConnectionStatus::Active);
    assert_eq!(hooked.snaptrade_requests(), requests);
    // Refused unread, it claimed nothing: the same event at its real size is applied under the same id.
    assert_eq!(
        hooked.deliver(&broken).await.unwrap(),
        WebhookOutcome::ConnectionUpdated {
            authorization_id: hooked.authorization,
            status: ConnectionStatus::Disabled,
        }
    );
}

async fn a_signed_body_at_the_one_mebibyte_limit_is_applied_and_one_byte_more_is_refused<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    let over = padded_to(
        hooked.event("CONNECTION_BROKEN", "hook-over"),
        MAX_WEBHOOK_BODY + 1,
    );
    let (over_body, over_signature) = hooked.providers.signed_webhook(&over);
    assert_eq!(over_body.len(), MAX_WEBHOOK_BODY + 1);
    let before = hooked.rows().await;

    let refused = hooked
        .deliver_raw(Some(&over_signature), &over_body)
        .await
        .unwrap_err();

    assert_refused_as_too_large(&refused);
    assert_eq!(hooked.rows().await, before);

    let largest = padded_to(
        hooked.event("CONNECTION_BROKEN", "hook-largest"),
        MAX_WEBHOOK_BODY,
    );
    let (body, signature) = hooked.providers.signed_webhook(&largest);
    assert_eq!(body.len(), MAX_WEBHOOK_BODY);
    let applied = hooked.deliver_raw(Some(&signature), &body).await.unwrap();
    assert_eq!(
        applied,
        WebhookOutcome::ConnectionUpdated {
            authorization_id: hooked.authorization,
            status: ConnectionStatus::Disabled,
        }
    );
    let stored = hooked
        .engine
        .store()
        .get_connection(hooked.user, hooked.authorization)
        .await
        .unwrap();
    let message = stored.error_message.expect("a broken connection says why");
    assert!(message.as_str().len() < 1024, "the padding was stored");
    let after = hooked.rows().await;
    assert_eq!(
        hooked.deliver_raw(Some(&signature), &body).await.unwrap(),
        WebhookOutcome::Replayed
    );
    assert_eq!(hooked.rows().await, after);
}

async fn bytes_that_are_not_utf8_are_refused_as_invalid_data_and_change_nothing<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    let before = hooked.rows().await;
    let event = hooked.event("CONNECTION_BROKEN", "hook-bytes");
    let (body, signature) = hooked.providers.signed_webhook(&event);
    let text = String::from_utf8(body).unwrap();
    let inside_a_string = text
        .replacen("CONNECTION_BROKEN", "CONNECTION_\u{FFFF}BROKEN", 1)
        .into_bytes()
        .into_iter()
        // U+FFFF is EF BF BF in UTF-8; FF FE is never valid UTF-8.
        .flat_map(|b| if b == 0xBF { vec![0xFF, 0xFE] } else { vec![b] })
        .collect::<Vec<u8>>();
    let bodies: [(&str, Vec<u8>); 3] = [
        ("bytes 0xFF 0xFE inside a JSON string", inside_a_string),
        ("a truncated multi-byte sequence", {
            let mut bytes = text.clone().into_bytes();
            bytes.insert(1, 0xC3);
            bytes
        }),
        ("no JSON at all", vec![0xFF, 0xFE, 0x00, 0x80, 0xC0, 0xAF]),
    ];

    for (what, body) in &bodies {
        assert!(std::str::from_utf8(body).is_err(), "{what} is not UTF-8");
        let refused = hooked
            .deliver_raw(Some(&signature), body)
            .await
            .unwrap_err();
        let SyncError::Webhook(WebhookError::Malformed { reason, .. }) = &refused else {
            panic!("{what}: refused as malformed, got {refused:?}");
        };
        assert!(reason.contains("not JSON"), "{what}: {reason}");
    }
    assert_eq!(hooked.rows().await, before);
    // The same event, intact, is then applied: the malformed copies claimed nothing.
    assert!(matches!(
        hooked.deliver(&event).await.unwrap(),
        WebhookOutcome::ConnectionUpdated { .. }
    ));
}

async fn a_delivery_whose_application_fails_stays_recorded_and_is_retried_and_applied_once<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    hooked.delete_connection_at_snaptrade().await;
    let deleted = hooked.event("CONNECTION_DELETED", "hook-fails-first");
    // SnapTrade's authorization list fails while the deletion is being confirmed: our failure, not the sender's.
    hooked
        .sandbox()
        .snaptrade()
        .knobs()
        .retire_path("/authorizations");
    let before = hooked.rows().await;

    let first = hooked.deliver(&deleted).await;

    assert_eq!(
        webhook_http_status(&first),
        200,
        "recorded, so acknowledged: {first:?}"
    );
    assert!(
        matches!(first, Ok(WebhookOutcome::Deferred { .. })),
        "{first:?}"
    );
    assert_eq!(hooked.rows().await, before, "nothing applied yet");
    let retried_too_soon = hooked.engine.snaptrade().retry_webhooks(10).await.unwrap();
    assert!(
        matches!(
            retried_too_soon.as_slice(),
            [(_, WebhookOutcome::Deferred { .. })]
        ),
        "{retried_too_soon:?}"
    );
    assert_eq!(hooked.rows().await, before);

    hooked.sandbox().snaptrade().knobs().reset();
    let retried = hooked.engine.snaptrade().retry_webhooks(10).await.unwrap();

    assert!(
        matches!(
            retried.as_slice(),
            [(_, WebhookOutcome::ConnectionRemoved { authorization_id, accounts_deactivated })]
                if *authorization_id == hooked.authorization && *accounts_deactivated > 0
        ),
        "{retried:?}"
    );
    assert!(hooked.rows().await.connections.is_empty());
    let after = hooked.rows().await;
    assert!(
        hooked
            .engine
            .snaptrade()
            .retry_webhooks(10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        hooked.deliver(&deleted).await.unwrap(),
        WebhookOutcome::Replayed,
        "SnapTrade's own retry of it is acknowledged, not applied again"
    );
    assert_eq!(hooked.rows().await, after);
}

async fn a_delivery_redelivered_after_the_freshness_window_is_acknowledged_and_not_applied_twice<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    // SnapTrade's retry carries the first delivery's eventTimestamp, so what matters is that it comes past the
    // 300 s window (SnapTrade's own retries start after 30 minutes): stamped 295 s ago, delivered at once, then
    // again once the stamp is more than 300 s old.
    let mut broken = hooked.event("CONNECTION_BROKEN", "hook-retried-later");
    let stamped = Utc::now() - chrono::Duration::seconds(295);
    broken["eventTimestamp"] = json!(stamped.to_rfc3339());
    let first = hooked.deliver(&broken).await.unwrap();
    assert!(
        matches!(first, WebhookOutcome::ConnectionUpdated { .. }),
        "{first:?}"
    );
    hooked
        .deliver(&hooked.event("CONNECTION_FIXED", "hook-fixed-meanwhile"))
        .await
        .unwrap();
    let wait = (stamped + chrono::Duration::seconds(302) - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let (body, signature) = hooked.providers.signed_webhook(&broken);
    let strict = verify_webhook(
        &SecretString::from(hooked.sandbox().snaptrade().consumer_key()),
        Some(&signature),
        &body,
    );
    assert!(
        strict.is_err(),
        "the redelivery is past the freshness window"
    );
    let before = hooked.rows().await;
    let requests = hooked.snaptrade_requests();

    let redelivered = hooked.deliver(&broken).await;

    assert_eq!(webhook_http_status(&redelivered), 200);
    assert_eq!(redelivered.unwrap(), WebhookOutcome::Replayed);
    assert_eq!(hooked.rows().await, before, "applied twice");
    assert_eq!(hooked.connection_status().await, ConnectionStatus::Active);
    assert_eq!(
        hooked.snaptrade_requests(),
        requests,
        "a recognised redelivery called SnapTrade"
    );
}

async fn a_replayed_deletion_capture_deletes_nothing_while_snaptrade_still_has_it<
    S: Store + 'static,
>(
    hooked: Hooked<S>,
) {
    let before = hooked.rows().await;
    for (event_type, id) in [
        ("CONNECTION_DELETED", "hook-captured-connection"),
        ("USER_DELETED", "hook-captured-user"),
    ] {
        let listed = hooked.authorization_lists();

        let outcome = hooked.deliver(&hooked.event(event_type, id)).await.unwrap();

        assert!(
            matches!(&outcome, WebhookOutcome::Resynced(report) if !report.has_failures()),
            "{event_type}: SnapTrade still has it, so the user is resynced, got {outcome:?}"
        );
        assert!(
            hooked.authorization_lists() > listed,
            "{event_type}: SnapTrade was asked"
        );
        let now = hooked.rows().await;
        assert_eq!(
            now.connections.len(),
            before.connections.len(),
            "{event_type}"
        );
        assert_eq!(
            now.connections
                .iter()
                .map(|c| c.authorization_id)
                .collect::<Vec<_>>(),
            before
                .connections
                .iter()
                .map(|c| c.authorization_id)
                .collect::<Vec<_>>()
        );
        assert!(now.accounts.iter().all(|a| a.is_active), "{event_type}");
        assert_eq!(now.accounts.len(), before.accounts.len());
        assert_eq!(now.holdings.len(), before.holdings.len(), "{event_type}");
        assert!(now.registered_at_snaptrade, "{event_type}");
    }
}

async fn a_confirmed_user_deletion_removes_the_registration_and_connections<S: Store + 'static>(
    hooked: Hooked<S>,
) {
    let login = hooked.login().await;
    hooked
        .providers
        .snaptrade
        .client
        .delete_user(&login.user_id)
        .await
        .unwrap();

    let outcome = hooked
        .deliver(&hooked.event("USER_DELETED", "hook-user-gone"))
        .await
        .unwrap();

    assert_eq!(outcome, WebhookOutcome::UserRemoved);
    let rows = hooked.rows().await;
    assert!(!rows.registered_at_snaptrade);
    assert!(rows.connections.is_empty());
    assert!(rows.accounts.iter().all(|a| !a.is_active));
}

async fn purging_removes_only_applied_records_older_than_the_cutoff<S: Store + 'static>(
    hooked: Hooked<S>,
) {
    let broken = hooked.event("CONNECTION_BROKEN", "hook-to-purge");
    hooked.deliver(&broken).await.unwrap();
    hooked.delete_connection_at_snaptrade().await;
    hooked
        .sandbox()
        .snaptrade()
        .knobs()
        .retire_path("/authorizations");
    let pending = hooked.event("CONNECTION_DELETED", "hook-still-pending");
    assert!(matches!(
        hooked.deliver(&pending).await.unwrap(),
        WebhookOutcome::Deferred { .. }
    ));
    hooked.sandbox().snaptrade().knobs().reset();

    let before_cutoff = Utc::now() - chrono::Duration::hours(1);
    assert_eq!(
        hooked
            .engine
            .snaptrade()
            .purge_webhook_records(before_cutoff)
            .await
            .unwrap(),
        0
    );
    let purged = hooked
        .engine
        .snaptrade()
        .purge_webhook_records(Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();

    assert_eq!(purged, 1, "only the applied record");
    let retried = hooked.engine.snaptrade().retry_webhooks(10).await.unwrap();
    assert!(
        matches!(
            retried.as_slice(),
            [(_, WebhookOutcome::ConnectionRemoved { .. })]
        ),
        "the pending one was kept and is still applied: {retried:?}"
    );
}

async fn on_memory() -> Hooked<MemoryStore> {
    let store = MemoryStore::new();
    let user = store.create_user();
    Hooked::start(store, user).await
}

async fn on_postgres(pool: PgPool) -> Hooked<PgStore> {
    let user = tributary_testdb::create_auth_user(&pool)
        .await
        .expect("a user in auth.users");
    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
    Hooked::start(store, UserId::new(user)).await
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::on_memory().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
                async fn $case(pool: sqlx::PgPool) {
                    super::$case(super::on_postgres(pool).await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_forged_or_unsigned_delivery_is_refused_and_does_not_burn_its_webhook_id,
    a_signed_stale_unknown_delivery_resyncs_the_user_it_names_instead_of_obeying_it,
    a_delivery_whose_application_fails_stays_recorded_and_is_retried_and_applied_once,
    a_delivery_redelivered_after_the_freshness_window_is_acknowledged_and_not_applied_twice,
    a_replayed_deletion_capture_deletes_nothing_while_snaptrade_still_has_it,
    a_confirmed_user_deletion_removes_the_registration_and_connections,
    purging_removes_only_applied_records_older_than_the_cutoff,
    a_replayed_holdings_update_resyncs_once_and_is_then_acknowledged_as_a_replay,
    duplicate_deliveries_arriving_together_are_applied_once,
    an_unknown_event_type_is_acknowledged_with_its_reason_and_changes_nothing,
    a_ten_mebibyte_body_is_refused_unread_whether_forged_or_signed_and_burns_no_webhook_id,
    a_signed_body_at_the_one_mebibyte_limit_is_applied_and_one_byte_more_is_refused,
    bytes_that_are_not_utf8_are_refused_as_invalid_data_and_change_nothing,
);

/// The backend's own role receives webhooks: as `service_role` (no superuser, no privilege on `auth.users`), a
/// delivery is recorded, applied, found again, retried and purged. The first version's record statement read
/// `auth.users` and failed here with "permission denied for table users".
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_webhook_is_recorded_and_applied_as_service_role(pool: PgPool) {
    let user = tributary_testdb::create_auth_user(&pool)
        .await
        .expect("a user in auth.users");
    let as_service_role = sqlx::postgres::PgPoolOptions::new()
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("set role service_role")
                    .execute(conn)
                    .await
                    .map(drop)
            })
        })
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let role: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&as_service_role)
        .await
        .unwrap();
    assert_eq!(role, "service_role");
    let store = PgStore::new(as_service_role, Keyring::new(SecretKey::generate()));
    let hooked = Hooked::start(store, UserId::new(user)).await;
    let broken = hooked.event("CONNECTION_BROKEN", "hook-service-role");

    let outcome = hooked.deliver(&broken).await.unwrap();

    assert_eq!(
        outcome,
        WebhookOutcome::ConnectionUpdated {
            authorization_id: hooked.authorization,
            status: ConnectionStatus::Disabled,
        }
    );
    assert_eq!(
        hooked.deliver(&broken).await.unwrap(),
        WebhookOutcome::Replayed
    );
    assert!(
        hooked
            .engine
            .snaptrade()
            .retry_webhooks(10)
            .await
            .unwrap()
            .is_empty()
    );
    let purged = hooked
        .engine
        .snaptrade()
        .purge_webhook_records(Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(purged, 1);
}
