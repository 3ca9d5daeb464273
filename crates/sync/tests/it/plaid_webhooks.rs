//! Plaid's webhooks through the engine's durable inbox, on both stores, delivered signed as the sandbox signs
//! them (its key served by `/webhook_verification_key/get`): each kind does what it says, with the spec's own
//! example bodies; a replay is not applied twice; forged, stale, oversized and malformed deliveries are refused
//! and write nothing; an Item no user holds is acknowledged as unknown; a failure while applying leaves the
//! delivery pending and a retry applies it. And SnapTrade's side of the same inbox: a delivery naming a user this
//! store does not know is acknowledged as unknown and writes nothing.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tributary_domain::{ConnectionStatus, ConnectionType, Provider, ProviderItemId, UserId};
use tributary_provider::WebhookError;
use tributary_repo::{
    Keyring, MemoryStore, PgStore, PlaidItemStatus, SecretKey, Store, WebhookKey, WebhookStatus,
};
use tributary_sandbox::plaid::{PlaidWebhookSigner, SignedPlaidWebhook, body_sha256};
use tributary_spec::Spec;
use tributary_sync::{
    MAX_WEBHOOK_BODY, Outcome, PlaidWebhookOutcome, SyncError, WebhookOutcome, webhook_status,
};

use crate::seams::counting::CountingStore;
use crate::support::{World, webhook};

/// plaid-openapi.yml's `/sandbox/public_token/create` example institution.
const INSTITUTION: &str = "ins_109508";

/// A world with a linked Item, the spec, and a clock for the deliveries: each is signed a second later than the
/// one before (Plaid's delivery identity is the token's `iat` and the body's hash, so two deliveries of the same
/// body must be two tokens).
struct Hooks<S> {
    world: World<S>,
    spec: Spec,
    item: ProviderItemId,
    signed: AtomicI64,
}

impl<S: Store + 'static> Hooks<S> {
    async fn start(world: World<S>) -> Self {
        let public_token = world
            .plaid
            .create_sandbox_public_token(INSTITUTION, &["investments".to_owned()])
            .await
            .unwrap();
        let linked = world
            .engine
            .plaid()
            .link(
                world.user,
                secrecy::ExposeSecret::expose_secret(&public_token),
            )
            .await
            .unwrap();
        Self {
            world,
            spec: Spec::load("plaid-openapi.yml"),
            item: linked.item_id,
            signed: AtomicI64::new(-120),
        }
    }

    fn store(&self) -> &S {
        self.world.store()
    }

    /// The schema's `x-examples.example-1`, verbatim.
    fn verbatim(&self, schema: &str) -> Value {
        self.spec.schema(schema)["x-examples"]["example-1"].clone()
    }

    /// The schema's example, naming this world's Item, sent from the sandbox (the examples say `production`).
    fn example(&self, schema: &str) -> Value {
        let mut body = self.verbatim(schema);
        assert!(body.is_object(), "{schema} has an example");
        body["item_id"] = json!(self.item.as_str());
        body["environment"] = json!("sandbox");
        body
    }

    /// `body` signed as Plaid signs it, a second after the previous delivery.
    fn sign(&self, body: &Value) -> SignedPlaidWebhook {
        self.sign_keyed(body).0
    }

    /// `body` signed, and the inbox key of that delivery: the token's `iat` and the body's SHA-256.
    fn sign_keyed(&self, body: &Value) -> (SignedPlaidWebhook, WebhookKey) {
        let at = Utc::now() + Duration::seconds(self.signed.fetch_add(1, Ordering::SeqCst));
        let signed = self.world.sandbox.plaid().sign_webhook_at(body, at);
        let key = WebhookKey::plaid(format!(
            "iat:{}:sha256:{}",
            at.timestamp(),
            body_sha256(signed.body.as_bytes())
        ));
        (signed, key)
    }

    async fn deliver(&self, body: &Value) -> Result<PlaidWebhookOutcome, SyncError> {
        let signed = self.sign(body);
        self.receive(Some(&signed.verification), signed.body.as_bytes())
            .await
    }

    async fn receive(
        &self,
        verification: Option<&str>,
        body: &[u8],
    ) -> Result<PlaidWebhookOutcome, SyncError> {
        self.world
            .engine
            .plaid()
            .handle_webhook(verification, body)
            .await
    }

    async fn status(&self) -> PlaidItemStatus {
        self.store()
            .get_plaid_item(self.world.user, &self.item)
            .await
            .unwrap()
            .status
    }

    async fn health(&self) -> Vec<ConnectionStatus> {
        self.store()
            .list_accounts(self.world.user)
            .await
            .unwrap()
            .into_iter()
            .filter(|account| account.provider == Provider::Plaid)
            .map(|account| account.connection_status)
            .collect()
    }

    fn changed_to(&self, status: PlaidItemStatus) -> PlaidWebhookOutcome {
        PlaidWebhookOutcome::ItemStatusChanged {
            user: self.world.user,
            item_id: self.item.clone(),
            status,
        }
    }

    fn holdings_calls(&self) -> usize {
        self.world
            .sandbox
            .plaid()
            .log()
            .count("POST", "/investments/holdings/get")
    }

    async fn pending(&self) -> Vec<tributary_repo::WebhookDelivery> {
        self.store()
            .pending_webhooks(Provider::Plaid, 10)
            .await
            .unwrap()
    }
}

fn acknowledged(outcome: &PlaidWebhookOutcome) -> bool {
    matches!(outcome, PlaidWebhookOutcome::Acknowledged { .. })
}

async fn each_plaid_webhook_kind_does_what_it_says<S: Store + 'static>(world: World<S>) {
    let hooks = Hooks::start(world).await;
    const ACTIVE: [ConnectionStatus; 2] = [ConnectionStatus::Active, ConnectionStatus::Active];
    const DISABLED: [ConnectionStatus; 2] =
        [ConnectionStatus::Disabled, ConnectionStatus::Disabled];
    assert_eq!(hooks.health().await, ACTIVE);

    // `ItemErrorWebhook`: login required arrives as ITEM / ERROR carrying ITEM_LOGIN_REQUIRED.
    let error = hooks.example("ItemErrorWebhook");
    assert_eq!(
        hooks.deliver(&error).await.unwrap(),
        hooks.changed_to(PlaidItemStatus::LoginRequired)
    );
    let stored = hooks
        .store()
        .get_plaid_item(hooks.world.user, &hooks.item)
        .await
        .unwrap();
    assert_eq!(stored.error_code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
    assert!(
        stored.last_error.as_ref().is_some_and(|message| message
            .as_str()
            .contains("OAuth connection to this institution")),
        "{:?}",
        stored.last_error
    );
    assert_eq!(hooks.health().await, DISABLED);

    // `ItemLoginRepairedWebhook`: healthy again, whatever it was.
    let repaired = hooks.example("ItemLoginRepairedWebhook");
    assert_eq!(
        hooks.deliver(&repaired).await.unwrap(),
        hooks.changed_to(PlaidItemStatus::Healthy)
    );
    assert_eq!(hooks.health().await, ACTIVE);

    // `PendingExpirationWebhook` and `PendingDisconnectWebhook`: the Item still works until then.
    assert_eq!(
        hooks
            .deliver(&hooks.example("PendingExpirationWebhook"))
            .await
            .unwrap(),
        hooks.changed_to(PlaidItemStatus::PendingExpiration)
    );
    let expiring = hooks
        .store()
        .get_plaid_item(hooks.world.user, &hooks.item)
        .await
        .unwrap();
    assert_eq!(expiring.error_code.as_deref(), Some("PENDING_EXPIRATION"));
    assert!(
        expiring
            .last_error
            .as_ref()
            .is_some_and(|message| message.as_str().contains("2020-01-15T13:25:17.766Z")),
        "{:?}",
        expiring.last_error
    );
    assert_eq!(hooks.health().await, ACTIVE);
    assert_eq!(
        hooks
            .deliver(&hooks.example("PendingDisconnectWebhook"))
            .await
            .unwrap(),
        hooks.changed_to(PlaidItemStatus::PendingDisconnect)
    );
    assert_eq!(hooks.health().await, ACTIVE);

    // `UserPermissionRevokedWebhook`: revoked, nothing syncs until the user grants it again.
    assert_eq!(
        hooks
            .deliver(&hooks.example("UserPermissionRevokedWebhook"))
            .await
            .unwrap(),
        hooks.changed_to(PlaidItemStatus::Revoked)
    );
    assert_eq!(hooks.health().await, DISABLED);
    hooks.deliver(&repaired).await.unwrap();
    assert_eq!(hooks.status().await, PlaidItemStatus::Healthy);

    // `ITEM` / `LOGIN_REQUIRED` is no code of the spec's (a required login is `ITEM` / `ERROR`); a delivery
    // using it all the same is read as what it says.
    let login_required = json!({"webhook_type": "ITEM", "webhook_code": "LOGIN_REQUIRED",
                                "item_id": hooks.item.as_str(), "environment": "sandbox"});
    assert_eq!(
        hooks.deliver(&login_required).await.unwrap(),
        hooks.changed_to(PlaidItemStatus::LoginRequired)
    );
    hooks.deliver(&repaired).await.unwrap();

    // `INVESTMENTS_TRANSACTIONS` updates: the Item's transaction history is synced (`history.rs` follows what
    // they change).
    for schema in [
        "InvestmentsDefaultUpdateWebhook",
        "InvestmentsHistoricalUpdateWebhook",
    ] {
        let outcome = hooks.deliver(&hooks.example(schema)).await.unwrap();
        assert!(
            matches!(&outcome, PlaidWebhookOutcome::HistorySynced { item_id, history, .. }
                if item_id == &hooks.item && history.iter().all(|h| h.outcome == Outcome::Synced)),
            "{schema}: {outcome:?}"
        );
    }

    // Acknowledged without action, the Item left as it is.
    for schema in [
        "WebhookUpdateAcknowledgedWebhook",
        "NewAccountsAvailableWebhook",
    ] {
        let outcome = hooks.deliver(&hooks.example(schema)).await.unwrap();
        assert!(acknowledged(&outcome), "{schema}: {outcome:?}");
    }
    let mut unrelated = error.clone();
    unrelated["error"]["error_code"] = json!("INTERNAL_SERVER_ERROR");
    unrelated["error"]["error_type"] = json!("API_ERROR");
    let outcome = hooks.deliver(&unrelated).await.unwrap();
    assert!(
        matches!(&outcome, PlaidWebhookOutcome::Acknowledged { reason } if reason.contains("INTERNAL_SERVER_ERROR")),
        "an error that says nothing of the Item's health leaves it: {outcome:?}"
    );
    assert_eq!(hooks.status().await, PlaidItemStatus::Healthy);
    assert_eq!(hooks.health().await, ACTIVE);

    // `HoldingsDefaultUpdateWebhook`: the Item's owner is synced.
    let calls = hooks.holdings_calls();
    let outcome = hooks
        .deliver(&hooks.example("HoldingsDefaultUpdateWebhook"))
        .await
        .unwrap();
    let PlaidWebhookOutcome::Resynced { user, report } = outcome else {
        panic!("expected a sync, got {outcome:?}");
    };
    assert_eq!(user, hooks.world.user);
    let plaid = report
        .providers
        .iter()
        .find(|p| p.provider == Provider::Plaid)
        .unwrap();
    assert_eq!(plaid.outcome, Outcome::Synced);
    assert_eq!(hooks.holdings_calls(), calls + 1, "Plaid was asked again");
    assert!(hooks.pending().await.is_empty(), "every delivery applied");
}

/// The spec's examples as they are (sent from `production`, for an Item this world never linked): recorded and
/// acknowledged, nothing else written. With the sandbox as their environment they still name no Item held here.
async fn the_spec_examples_verbatim_are_acknowledged_and_change_nothing<S: Store + 'static>(
    world: World<S>,
) {
    let hooks = Hooks::start(world).await;
    let calls = hooks.holdings_calls();
    for schema in ["ItemErrorWebhook", "HoldingsDefaultUpdateWebhook"] {
        let verbatim = hooks.verbatim(schema);
        assert_eq!(
            hooks.deliver(&verbatim).await.unwrap(),
            PlaidWebhookOutcome::OtherEnvironment {
                environment: "production".to_owned()
            },
            "{schema}"
        );
        let mut sandbox = verbatim.clone();
        sandbox["environment"] = json!("sandbox");
        assert_eq!(
            hooks.deliver(&sandbox).await.unwrap(),
            PlaidWebhookOutcome::UnknownItem {
                item_id: "wz666MBjYWTp2PDzzggYhM6oWWmBb".to_owned()
            },
            "{schema}"
        );
    }
    // Sent from another environment, even for the Item held here: its status is not this environment's.
    let mut other = hooks.example("ItemErrorWebhook");
    other["environment"] = json!("production");
    assert!(matches!(
        hooks.deliver(&other).await.unwrap(),
        PlaidWebhookOutcome::OtherEnvironment { .. }
    ));
    assert_eq!(hooks.status().await, PlaidItemStatus::Healthy);
    assert_eq!(hooks.holdings_calls(), calls, "nothing was synced");
    assert!(
        hooks.pending().await.is_empty(),
        "each was recorded applied"
    );
}

async fn a_replayed_plaid_delivery_is_not_applied_twice<S: Store + 'static>(world: World<S>) {
    let hooks = Hooks::start(world).await;
    let (captured, key) = hooks.sign_keyed(&hooks.example("ItemErrorWebhook"));
    let first = hooks
        .receive(Some(&captured.verification), captured.body.as_bytes())
        .await;
    assert_eq!(webhook_status(&first), 200);
    assert_eq!(
        first.unwrap(),
        hooks.changed_to(PlaidItemStatus::LoginRequired)
    );

    // Repaired in between: a replay of the error must not break the Item again.
    hooks
        .deliver(&hooks.example("ItemLoginRepairedWebhook"))
        .await
        .unwrap();
    let replay = hooks
        .receive(Some(&captured.verification), captured.body.as_bytes())
        .await
        .unwrap();
    assert_eq!(replay, PlaidWebhookOutcome::Replayed);
    assert_eq!(hooks.status().await, PlaidItemStatus::Healthy);

    let recorded = hooks.store().find_webhook(&key).await.unwrap().unwrap();
    assert_eq!(
        (
            recorded.status,
            recorded.attempts,
            recorded.user_id,
            recorded.event_type.as_str()
        ),
        (
            WebhookStatus::Applied,
            1,
            Some(hooks.world.user),
            "ITEM:ERROR"
        )
    );
    assert!(
        hooks
            .world
            .engine
            .plaid()
            .retry_webhooks(10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn forged_stale_oversized_and_malformed_plaid_deliveries_are_refused_and_write_nothing<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let hooks = Hooks::start(world).await;
    let error = hooks.example("ItemErrorWebhook");
    let refusal = |result: Result<PlaidWebhookOutcome, SyncError>, status: u16| {
        assert_eq!(webhook_status(&result), status, "{result:?}");
        match result {
            Err(SyncError::Webhook(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };

    // Signed by a key Plaid never served, under Plaid's own kid.
    let forger =
        PlaidWebhookSigner::generate_with_kid(hooks.world.sandbox.plaid().webhook_key_id());
    let forged = forger.sign(&error);
    assert!(matches!(
        refusal(
            hooks
                .receive(Some(&forged.verification), forged.body.as_bytes())
                .await,
            401
        ),
        WebhookError::BadSignature { .. }
    ));
    // A genuine token over another body.
    let genuine = hooks.sign(&hooks.example("ItemLoginRepairedWebhook"));
    assert!(matches!(
        refusal(
            hooks
                .receive(Some(&genuine.verification), forged.body.as_bytes())
                .await,
            401
        ),
        WebhookError::BadSignature { .. }
    ));
    assert!(matches!(
        refusal(hooks.receive(None, forged.body.as_bytes()).await, 401),
        WebhookError::MissingSignature { .. }
    ));
    let stale = hooks
        .world
        .sandbox
        .plaid()
        .sign_webhook_at(&error, Utc::now() - Duration::minutes(6));
    assert!(matches!(
        refusal(
            hooks
                .receive(Some(&stale.verification), stale.body.as_bytes())
                .await,
            400
        ),
        WebhookError::Stale { .. }
    ));
    let mut huge = error.clone();
    huge["padding"] = json!("x".repeat(MAX_WEBHOOK_BODY));
    let oversized = hooks.sign(&huge);
    assert!(matches!(
        refusal(
            hooks
                .receive(Some(&oversized.verification), oversized.body.as_bytes())
                .await,
            413
        ),
        WebhookError::TooLarge { .. }
    ));
    let not_plaid = hooks.sign(&json!({"hello": "world"}));
    assert!(matches!(
        refusal(
            hooks
                .receive(Some(&not_plaid.verification), not_plaid.body.as_bytes())
                .await,
            400
        ),
        WebhookError::Malformed { .. }
    ));

    // Plaid's key endpoint failing is ours to retry, not a refusal: 503, nothing recorded.
    hooks.world.sandbox.plaid().rotate_webhook_key();
    hooks
        .world
        .sandbox
        .plaid()
        .knobs()
        .server_error_next(50, 503);
    let unverifiable = hooks.sign(&error);
    let result = hooks
        .receive(
            Some(&unverifiable.verification),
            unverifiable.body.as_bytes(),
        )
        .await;
    assert_eq!(webhook_status(&result), 503, "{result:?}");
    assert!(matches!(result, Err(SyncError::Provider(_))), "{result:?}");

    assert_eq!(hooks.status().await, PlaidItemStatus::Healthy);
    assert!(hooks.pending().await.is_empty());
    hooks.world.sandbox.plaid().knobs().reset();
    assert_eq!(
        hooks
            .receive(
                Some(&unverifiable.verification),
                unverifiable.body.as_bytes()
            )
            .await
            .unwrap(),
        hooks.changed_to(PlaidItemStatus::LoginRequired),
        "delivered again once the key can be fetched, it is applied"
    );
}

/// The attack: a genuine delivery for an Item no user here holds (another customer's, another deployment's).
/// It is recorded and acknowledged as unknown; no user's rows change and Plaid is not asked for anything.
async fn a_delivery_for_an_item_no_user_holds_is_acknowledged_as_unknown<S: Store + 'static>(
    world: World<S>,
) {
    let hooks = Hooks::start(world).await;
    let user = hooks.world.user;
    let accounts = hooks.store().list_accounts(user).await.unwrap();
    let holdings = hooks.store().list_holdings(user).await.unwrap();
    let calls = hooks.holdings_calls();
    for schema in ["HoldingsDefaultUpdateWebhook", "ItemErrorWebhook"] {
        let mut body = hooks.example(schema);
        body["item_id"] = json!("item-nobody-holds");
        let (signed, key) = hooks.sign_keyed(&body);
        let outcome = hooks
            .receive(Some(&signed.verification), signed.body.as_bytes())
            .await;
        assert_eq!(webhook_status(&outcome), 200);
        assert_eq!(
            outcome.unwrap(),
            PlaidWebhookOutcome::UnknownItem {
                item_id: "item-nobody-holds".to_owned()
            }
        );
        let recorded = hooks.store().find_webhook(&key).await.unwrap().unwrap();
        assert_eq!(
            (recorded.status, recorded.user_id),
            (WebhookStatus::Applied, None)
        );
    }
    assert_eq!(hooks.store().list_accounts(user).await.unwrap(), accounts);
    assert_eq!(hooks.store().list_holdings(user).await.unwrap(), holdings);
    assert_eq!(hooks.status().await, PlaidItemStatus::Healthy);
    assert_eq!(hooks.holdings_calls(), calls);
}

async fn a_plaid_delivery_whose_application_fails_stays_pending_and_a_retry_applies_it<
    S: Store + Clone + 'static,
>(
    world: World<CountingStore<S>>,
) {
    let hooks = Hooks::start(world).await;
    hooks.store().set_item_status_unavailable(true);
    let error = hooks.sign(&hooks.example("ItemErrorWebhook"));

    let first = hooks
        .receive(Some(&error.verification), error.body.as_bytes())
        .await;
    assert_eq!(
        webhook_status(&first),
        200,
        "recorded, so acknowledged: {first:?}"
    );
    assert!(
        matches!(&first, Ok(PlaidWebhookOutcome::Deferred { reason }) if reason.contains("go away")),
        "{first:?}"
    );
    assert_eq!(hooks.status().await, PlaidItemStatus::Healthy);
    let pending = hooks.pending().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].status, pending[0].attempts),
        (WebhookStatus::Failed, 1)
    );
    assert!(
        hooks
            .world
            .engine
            .snaptrade()
            .retry_webhooks(10)
            .await
            .unwrap()
            .is_empty(),
        "SnapTrade's retry reads SnapTrade's deliveries only"
    );
    let too_soon = hooks.world.engine.plaid().retry_webhooks(10).await.unwrap();
    assert!(
        matches!(
            too_soon.as_slice(),
            [(_, PlaidWebhookOutcome::Deferred { .. })]
        ),
        "{too_soon:?}"
    );

    hooks.store().set_item_status_unavailable(false);
    let retried = hooks.world.engine.plaid().retry_webhooks(10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].0, pending[0].key);
    assert_eq!(
        retried[0].1,
        hooks.changed_to(PlaidItemStatus::LoginRequired)
    );
    assert_eq!(hooks.status().await, PlaidItemStatus::LoginRequired);
    assert!(hooks.pending().await.is_empty());
    assert_eq!(
        hooks
            .receive(Some(&error.verification), error.body.as_bytes())
            .await
            .unwrap(),
        PlaidWebhookOutcome::Replayed,
        "Plaid's own redelivery of it is acknowledged, not applied again"
    );
}

/// The attack on SnapTrade's side: a delivery signed for a user id this store does not hold (made up, or a
/// Tributary user never registered at SnapTrade) is acknowledged as unknown and recorded; nothing is synced,
/// deleted or asked of SnapTrade.
async fn a_snaptrade_delivery_for_a_user_the_store_does_not_know_writes_nothing<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let stranger = UserId::generate();
    let calls = || world.sandbox.snaptrade().log().all().len();
    let before = calls();
    for (user, event_type) in [
        (stranger, "ACCOUNT_HOLDINGS_UPDATED"),
        (stranger, "USER_DELETED"),
        (world.user, "ACCOUNT_HOLDINGS_UPDATED"),
        (world.user, "CONNECTION_DELETED"),
    ] {
        let event = webhook(
            user,
            event_type,
            &uuid::Uuid::new_v4().to_string(),
            &format!("hook-unknown-{event_type}-{user}"),
        );
        let outcome = world.deliver(&event).await.unwrap();
        assert_eq!(
            outcome,
            WebhookOutcome::UnknownUser {
                snaptrade_user_id: user.to_string()
            },
            "{event_type}"
        );
    }
    assert_eq!(calls(), before, "SnapTrade was asked nothing");
    let store = world.store();
    assert!(store.list_accounts(world.user).await.unwrap().is_empty());
    assert!(store.list_holdings(world.user).await.unwrap().is_empty());
    assert!(
        store
            .pending_webhooks(Provider::SnapTrade, 10)
            .await
            .unwrap()
            .is_empty(),
        "recorded as applied"
    );

    // Registered, the same user's deliveries are acted on.
    world.connect_snaptrade(ConnectionType::Trade).await;
    let event = webhook(
        world.user,
        "ACCOUNT_HOLDINGS_UPDATED",
        &uuid::Uuid::new_v4().to_string(),
        "hook-known",
    );
    assert!(matches!(
        world.deliver(&event).await.unwrap(),
        WebhookOutcome::Resynced(_)
    ));
}

/// An Item the store holds for two users (Plaid's ids are Plaid-wide; a store keys Items by user): the webhook
/// is applied to each holder, each held in turn, and recorded once.
async fn a_webhook_for_an_item_two_users_hold_is_applied_to_each<S: Store + 'static>(
    world: World<S>,
    other: UserId,
) {
    let hooks = Hooks::start(world).await;
    let stored = hooks
        .store()
        .get_plaid_item(hooks.world.user, &hooks.item)
        .await
        .unwrap();
    hooks
        .store()
        .upsert_plaid_item(
            other,
            &tributary_repo::NewPlaidItem {
                item_id: hooks.item.clone(),
                institution_id: None,
                institution_name: None,
                access_token: stored.access_token.clone(),
            },
        )
        .await
        .unwrap();
    let mut holders = vec![hooks.world.user, other];
    holders.sort_by_key(|user| user.into_uuid());

    let outcome = hooks
        .deliver(&hooks.example("ItemErrorWebhook"))
        .await
        .unwrap();
    let expected: Vec<_> = holders
        .iter()
        .map(|user| PlaidWebhookOutcome::ItemStatusChanged {
            user: *user,
            item_id: hooks.item.clone(),
            status: PlaidItemStatus::LoginRequired,
        })
        .collect();
    assert_eq!(outcome, PlaidWebhookOutcome::PerOwner(expected));
    for user in holders {
        let item = hooks
            .store()
            .get_plaid_item(user, &hooks.item)
            .await
            .unwrap();
        assert_eq!(item.status, PlaidItemStatus::LoginRequired);
    }
    assert!(hooks.pending().await.is_empty());
}

macro_rules! scenarios {
    ($runner:ident) => {
        $runner!(each_plaid_webhook_kind_does_what_it_says);
        $runner!(the_spec_examples_verbatim_are_acknowledged_and_change_nothing);
        $runner!(a_replayed_plaid_delivery_is_not_applied_twice);
        $runner!(
            forged_stale_oversized_and_malformed_plaid_deliveries_are_refused_and_write_nothing
        );
        $runner!(a_delivery_for_an_item_no_user_holds_is_acknowledged_as_unknown);
        $runner!(a_snaptrade_delivery_for_a_user_the_store_does_not_know_writes_nothing);
    };
}

mod memory {
    use super::*;

    fn store_and_user() -> (MemoryStore, UserId) {
        let store = MemoryStore::new();
        let user = store.create_user();
        (store, user)
    }

    macro_rules! on_memory {
        ($name:ident) => {
            #[tokio::test]
            async fn $name() {
                let (store, user) = store_and_user();
                super::$name(World::start(store, user).await).await;
            }
        };
    }

    scenarios!(on_memory);

    #[tokio::test]
    async fn a_webhook_for_an_item_two_users_hold_is_applied_to_each() {
        let (store, user) = store_and_user();
        let other = store.create_user();
        super::a_webhook_for_an_item_two_users_hold_is_applied_to_each(
            World::start(store, user).await,
            other,
        )
        .await;
    }

    #[tokio::test]
    async fn a_plaid_delivery_whose_application_fails_stays_pending_and_a_retry_applies_it() {
        let (store, user) = store_and_user();
        let world = World::start(CountingStore::new(store), user).await;
        super::a_plaid_delivery_whose_application_fails_stays_pending_and_a_retry_applies_it(world)
            .await;
    }
}

mod postgres {
    use super::*;

    async fn backend(superuser: &PgPool) -> PgPool {
        tributary_testdb::backend_pool(superuser, &tributary_repo::MIGRATOR)
            .await
            .expect("the backend role's pool")
    }

    fn store(pool: &PgPool) -> PgStore {
        PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()))
    }

    async fn user(pool: &PgPool) -> UserId {
        UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
    }

    macro_rules! on_postgres {
        ($name:ident) => {
            #[sqlx::test(migrations = false)]
            async fn $name(superuser: PgPool) {
                let pool = backend(&superuser).await;
                super::$name(World::start(store(&pool), user(&pool).await).await).await;
            }
        };
    }

    scenarios!(on_postgres);

    #[sqlx::test(migrations = false)]
    async fn a_webhook_for_an_item_two_users_hold_is_applied_to_each(superuser: PgPool) {
        let pool = backend(&superuser).await;
        let other = user(&pool).await;
        let world = World::start(store(&pool), user(&pool).await).await;
        super::a_webhook_for_an_item_two_users_hold_is_applied_to_each(world, other).await;
    }

    #[sqlx::test(migrations = false)]
    async fn a_plaid_delivery_whose_application_fails_stays_pending_and_a_retry_applies_it(
        superuser: PgPool,
    ) {
        let pool = backend(&superuser).await;
        let world = World::start(CountingStore::new(store(&pool)), user(&pool).await).await;
        super::a_plaid_delivery_whose_application_fails_stays_pending_and_a_retry_applies_it(world)
            .await;
    }
}
