//! SnapTrade webhooks that go wrong, seen from the engine and the store: a forged signature, a stale or
//! future timestamp, a replayed or duplicated delivery, an unknown event type, a 10 MiB body (anything over
//! `MAX_WEBHOOK_BODY`, 1 MiB, is refused before it is read), bytes that are not UTF-8. Each is refused with a
//! typed error or acknowledged with a `WebhookOutcome` saying why; none changes a row it should not, none is applied twice, none panics. Every case runs on `MemoryStore` and on
//! `PgStore` (a fresh migrated database), with the sandbox providers wired as the examples wire them.
//!
//! The verifier's own checks (signature, age, shape) are unit-tested in
//! `crates/provider/tests/snaptrade_webhook.rs`; here the point is what the engine does with the delivery.

#[path = "../examples/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use support::Providers;
use tokio::task::JoinSet;
use tributary::domain::{
    AuthorizationId, BrokerageConnection, ConnectionStatus, ConnectionType, FeatureFlags, Holding,
    InvestmentAccount, Order, UserId,
};
use tributary::provider::ProviderError;
use tributary::provider::snaptrade::signing::{canonical_json, sign};
use tributary::provider::snaptrade::webhook::{CODE_BAD_SIGNATURE, CODE_STALE_EVENT};
use tributary::repo::{Keyring, MemoryStore, PgStore, SecretKey, Store};
use tributary::sync::{
    CODE_WEBHOOK_TOO_LARGE, MAX_WEBHOOK_BODY, SyncEngine, SyncError, WebhookOutcome,
};
use tributary_sandbox::Sandbox;

tributary_testdb::require_database!();

/// Every provider switched on.
const ALL_ON: FeatureFlags = FeatureFlags::new(true, true, true, true);

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
            self.engine.handle_snaptrade_webhook(signature, body),
        )
        .await
        .expect("the handler answers instead of hanging")
    }

    /// Delivers `payload` signed with the consumer key, as SnapTrade does.
    async fn deliver(&self, payload: &Value) -> Result<WebhookOutcome, SyncError> {
        let (body, signature) = self.providers.signed_webhook(payload);
        self.deliver_raw(Some(&signature), &body).await
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
    let SyncError::Provider(ProviderError::Unauthorized(detail)) = refused else {
        panic!("a forged delivery is Unauthorized, got {refused:?}");
    };
    assert_eq!(detail.code.as_deref(), Some(CODE_BAD_SIGNATURE), "{detail}");
    assert_eq!(detail.status, 401);
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
    assert!(unsigned.to_string().contains("missing"), "{unsigned}");
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

async fn a_delivery_stamped_more_than_five_minutes_away_is_refused_as_stale<S: Store + 'static>(
    hooked: Hooked<S>,
) {
    let before = hooked.rows().await;
    let requests = hooked.snaptrade_requests();
    for (offset, id) in [
        (-301, "hook-past"),
        (301, "hook-future"),
        (-86_400, "hook-old"),
    ] {
        let mut event = hooked.event("CONNECTION_BROKEN", id);
        let at = Utc::now() + chrono::Duration::seconds(offset);
        event["eventTimestamp"] = json!(at.to_rfc3339());

        let refused = hooked.deliver(&event).await.unwrap_err();

        let SyncError::Provider(ProviderError::Rejected(detail)) = &refused else {
            panic!("a stale delivery is Rejected, got {refused:?}");
        };
        assert_eq!(detail.code.as_deref(), Some(CODE_STALE_EVENT), "{detail}");
        assert!(detail.message.contains("more than 300s"), "{detail}");
    }
    assert_eq!(hooked.rows().await, before, "a stale delivery wrote");
    assert_eq!(hooked.connection_status().await, ConnectionStatus::Active);
    assert_eq!(
        hooked.snaptrade_requests(),
        requests,
        "a stale delivery called SnapTrade"
    );
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
    let SyncError::Provider(ProviderError::Rejected(detail)) = refused else {
        panic!("an oversized delivery is Rejected, got {refused:?}");
    };
    assert_eq!(detail.status, 413, "{detail}");
    assert_eq!(
        detail.code.as_deref(),
        Some(CODE_WEBHOOK_TOO_LARGE),
        "{detail}"
    );
    assert!(
        detail
            .message
            .contains(&format!("over the {MAX_WEBHOOK_BODY}-byte limit")),
        "{detail}"
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
        let SyncError::Provider(ProviderError::InvalidData { field, reason, .. }) = &refused else {
            panic!("{what}: refused as InvalidData, got {refused:?}");
        };
        assert_eq!(field, "webhook body", "{what}");
        assert!(reason.contains("not JSON"), "{what}: {reason}");
    }
    assert_eq!(hooked.rows().await, before);
    // The same event, intact, is then applied: the malformed copies claimed nothing.
    assert!(matches!(
        hooked.deliver(&event).await.unwrap(),
        WebhookOutcome::ConnectionUpdated { .. }
    ));
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
    a_delivery_stamped_more_than_five_minutes_away_is_refused_as_stale,
    a_replayed_holdings_update_resyncs_once_and_is_then_acknowledged_as_a_replay,
    duplicate_deliveries_arriving_together_are_applied_once,
    an_unknown_event_type_is_acknowledged_with_its_reason_and_changes_nothing,
    a_ten_mebibyte_body_is_refused_unread_whether_forged_or_signed_and_burns_no_webhook_id,
    a_signed_body_at_the_one_mebibyte_limit_is_applied_and_one_byte_more_is_refused,
    bytes_that_are_not_utf8_are_refused_as_invalid_data_and_change_nothing,
);
