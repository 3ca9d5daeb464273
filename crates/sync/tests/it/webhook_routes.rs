//! The `axum` webhook routes, called over HTTP as a provider calls them, on both stores: what each kind of
//! delivery is answered, and that a refused one leaves nothing behind.
#![cfg(all(
    feature = "axum",
    feature = "snaptrade",
    feature = "plaid",
    feature = "alpaca"
))]

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::PgPool;
use tributary_domain::{ConnectionType, FeatureFlags, UserId};
use tributary_provider::MAX_WEBHOOK_BODY;
use tributary_provider::plaid::PlaidClient;
use tributary_provider::router::ProviderRouter;
use tributary_provider::snaptrade::SnapTradeClient;
use tributary_repo::{Keyring, MemoryStore, PgStore, SecretKey, Store, WebhookKey};
use tributary_sandbox::Sandbox;
use tributary_sync::SyncEngine;
use tributary_sync::routes::webhook_routes;

use crate::support::World;

/// The engine of a [`World`] behind the routes, served on 127.0.0.1 as a service would mount them.
struct Mounted<S> {
    engine: Arc<SyncEngine<S>>,
    sandbox: Sandbox,
    snaptrade: Arc<SnapTradeClient>,
    plaid: Arc<PlaidClient>,
    user: UserId,
    address: SocketAddr,
    http: reqwest::Client,
}

impl<S: Store + 'static> Mounted<S> {
    async fn serve(world: World<S>) -> Self {
        let World {
            sandbox,
            engine,
            user,
            snaptrade,
            plaid,
            ..
        } = world;
        Self::serve_engine(engine, sandbox, (snaptrade, plaid), user).await
    }

    async fn serve_engine(
        engine: SyncEngine<S>,
        sandbox: Sandbox,
        (snaptrade, plaid): (Arc<SnapTradeClient>, Arc<PlaidClient>),
        user: UserId,
    ) -> Self {
        let engine = Arc::new(engine);
        let app = axum::Router::new().nest("/webhooks", webhook_routes(Arc::clone(&engine)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            engine,
            sandbox,
            snaptrade,
            plaid,
            user,
            address,
            http: reqwest::Client::new(),
        }
    }

    fn snaptrade_url(&self) -> String {
        format!("http://{}/webhooks/snaptrade", self.address)
    }

    /// Posts `body` to the SnapTrade route with `signature`; the status and the answer's JSON.
    async fn post_snaptrade(&self, signature: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut request = self.http.post(self.snaptrade_url()).body(body);
        if let Some(signature) = signature {
            request = request.header("Signature", signature);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }

    /// Posts `body` to the SnapTrade route in 64 KiB chunks with no Content-Length (HTTP/1.1 chunked transfer
    /// encoding, written by hand as reqwest sends no stream here); the status line's code.
    async fn post_chunked(&self, body: &[u8]) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let mut stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        let head = format!(
            "POST /webhooks/snaptrade HTTP/1.1\r\nHost: {}\r\nSignature: c2ln\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            self.address
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for chunk in body.chunks(64 * 1024) {
            let sent = async {
                stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                stream.write_all(chunk).await?;
                stream.write_all(b"\r\n").await
            };
            // The server may answer and close before every chunk is written.
            if sent.await.is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        let status_line = answer.lines().next().unwrap_or_default();
        status_line.split(' ').nth(1).unwrap().parse().unwrap()
    }

    /// A delivery of `event_type` for the user, signed as SnapTrade signs it.
    async fn deliver(&self, event_type: &str, webhook_id: &str) -> (u16, Value) {
        let signed = self
            .snaptrade
            .sign_webhook(&self.event(event_type, webhook_id));
        self.post_snaptrade(Some(&signed.signature), signed.body.into_bytes())
            .await
    }

    fn event(&self, event_type: &str, webhook_id: &str) -> Value {
        json!({
            "webhookId": webhook_id,
            "clientId": self.sandbox.snaptrade().client_id(),
            "eventTimestamp": chrono::Utc::now().to_rfc3339(),
            "userId": self.user.to_string(),
            "eventType": event_type,
        })
    }

    /// Links a Plaid Item through the engine, as Plaid Link would; its id.
    async fn link_plaid(&self) -> String {
        let public_token = self
            .plaid
            .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
            .await
            .unwrap();
        let linked = self
            .engine
            .plaid()
            .link(
                self.user,
                secrecy::ExposeSecret::expose_secret(&public_token),
            )
            .await
            .unwrap();
        linked.item_id.as_str().to_owned()
    }

    /// Posts a Plaid delivery of `body`, signed by the sandbox's key as issued at `issued_at`.
    async fn post_plaid(
        &self,
        body: &Value,
        issued_at: chrono::DateTime<chrono::Utc>,
    ) -> (u16, Value) {
        let signed = self.sandbox.plaid().sign_webhook_at(body, issued_at);
        let answer = self
            .http
            .post(format!("http://{}/webhooks/plaid", self.address))
            .header("Plaid-Verification", signed.verification)
            .body(signed.body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }

    async fn recorded(&self, webhook_id: &str) -> bool {
        let key = WebhookKey::snaptrade(self.user.to_string(), format!("id:{webhook_id}"));
        self.engine
            .store()
            .find_webhook(&key)
            .await
            .unwrap()
            .is_some()
    }

    async fn connect(&self) {
        let link = self
            .engine
            .snaptrade()
            .connect(self.user, ConnectionType::Trade, None)
            .await
            .unwrap();
        assert!(reqwest::get(&link.url).await.unwrap().status().is_success());
    }
}

async fn a_signed_delivery_is_answered_200_once_applied_and_200_replayed_after<
    S: Store + 'static,
>(
    mounted: Mounted<S>,
) {
    mounted.connect().await;
    let (status, answer) = mounted.deliver("ACCOUNT_HOLDINGS_UPDATED", "w-1").await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
    let (status, answer) = mounted.deliver("ACCOUNT_HOLDINGS_UPDATED", "w-1").await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("replayed")),
        "{answer}"
    );
    assert!(
        !mounted
            .engine
            .store()
            .list_holdings(mounted.user)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_forged_or_unsigned_delivery_is_answered_401_and_nothing_is_recorded<
    S: Store + 'static,
>(
    mounted: Mounted<S>,
) {
    let body = serde_json::to_vec(&mounted.event("USER_DELETED", "w-forged")).unwrap();
    let (status, answer) = mounted.post_snaptrade(Some("Zm9yZ2Vk"), body.clone()).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (401, Some("refused")),
        "{answer}"
    );
    let (status, answer) = mounted.post_snaptrade(None, body).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("Signature"),
        "the answer names the missing header: {answer}"
    );
    assert!(!mounted.recorded("w-forged").await);
}

async fn a_signed_body_that_is_no_snaptrade_event_is_answered_400<S: Store + 'static>(
    mounted: Mounted<S>,
) {
    let signed = mounted
        .snaptrade
        .sign_webhook(&json!(["not", "an", "event"]));
    let (status, answer) = mounted
        .post_snaptrade(Some(&signed.signature), signed.body.into_bytes())
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (400, Some("refused")),
        "{answer}"
    );
}

async fn a_body_over_the_limit_is_answered_413_declared_or_streamed<S: Store + 'static>(
    mounted: Mounted<S>,
) {
    let oversized = vec![b' '; MAX_WEBHOOK_BODY + 1];
    let (status, answer) = mounted
        .post_snaptrade(Some("c2ln"), oversized.clone())
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (413, Some("refused")),
        "{answer}"
    );

    // The same bytes streamed in chunks with no Content-Length: refused once the chunks pass the limit.
    assert_eq!(mounted.post_chunked(&oversized).await, 413);
}

async fn a_provider_failing_the_follow_up_sync_is_never_answered_as_a_bad_delivery<
    S: Store + 'static,
>(
    mounted: Mounted<S>,
) {
    mounted.connect().await;
    mounted
        .sandbox
        .snaptrade()
        .knobs()
        .server_error_next(1_000, 500);
    let (status, answer) = mounted
        .deliver("ACCOUNT_HOLDINGS_UPDATED", "w-outage")
        .await;
    assert_eq!(status, 200, "a delivery recorded is acknowledged: {answer}");
    // SnapTrade's outage is the sync's failure, reported and retried at the next sync; the delivery itself
    // was good and is applied.
    assert_eq!(answer["outcome"].as_str(), Some("applied"), "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("failed"),
        "the answer says the sync failed in part: {answer}"
    );
    assert!(mounted.recorded("w-outage").await);
}

async fn a_snaptrade_delivery_for_a_user_never_registered_is_answered_200_unknown<
    S: Store + 'static,
>(
    mounted: Mounted<S>,
) {
    let (status, answer) = mounted
        .deliver("ACCOUNT_HOLDINGS_UPDATED", "w-unknown")
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("unknown")),
        "{answer}"
    );
    assert!(
        mounted
            .engine
            .store()
            .list_holdings(mounted.user)
            .await
            .unwrap()
            .is_empty()
    );
}

/// plaid-openapi.yml `HoldingsDefaultUpdateWebhook`, for `item`, sent from the sandbox.
fn holdings_update(item: &str) -> Value {
    json!({
        "webhook_type": "HOLDINGS",
        "webhook_code": "DEFAULT_UPDATE",
        "item_id": item,
        "error": null,
        "new_holdings": 1,
        "updated_holdings": 0,
        "environment": "sandbox",
    })
}

async fn a_plaid_delivery_is_answered_200_applied_then_replayed_and_an_unknown_item_200_unknown<
    S: Store + 'static,
>(
    mounted: Mounted<S>,
) {
    let item = mounted.link_plaid().await;
    let now = chrono::Utc::now();
    let (status, answer) = mounted.post_plaid(&holdings_update(&item), now).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("applied")),
        "{answer}"
    );
    let (status, answer) = mounted.post_plaid(&holdings_update(&item), now).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("replayed")),
        "{answer}"
    );
    let (status, answer) = mounted
        .post_plaid(&holdings_update("item-no-one-holds"), now)
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("unknown")),
        "{answer}"
    );
}

async fn a_plaid_delivery_unsigned_is_401_and_stale_is_400<S: Store + 'static>(
    mounted: Mounted<S>,
) {
    let item = mounted.link_plaid().await;
    let url = format!("http://{}/webhooks/plaid", mounted.address);
    let unsigned = mounted
        .http
        .post(&url)
        .body(holdings_update(&item).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let six_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(6);
    let (status, answer) = mounted
        .post_plaid(&holdings_update(&item), six_minutes_ago)
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (400, Some("refused")),
        "{answer}"
    );
}

async fn plaids_verification_key_unavailable_is_answered_503<S: Store + 'static>(
    mounted: Mounted<S>,
) {
    let item = mounted.link_plaid().await;
    mounted
        .sandbox
        .plaid()
        .knobs()
        .server_error_next(1_000, 500);
    let (status, answer) = mounted
        .post_plaid(&holdings_update(&item), chrono::Utc::now())
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (503, Some("not_recorded")),
        "{answer}"
    );
}

/// A delivery the engine cannot record yet (its store unreachable, SnapTrade switched off) is answered 503, so
/// SnapTrade delivers it again rather than taking it as delivered.
async fn assert_answered_503_and_not_recorded<S: Store + 'static>(mounted: &Mounted<S>, id: &str) {
    let (status, answer) = mounted.deliver("ACCOUNT_HOLDINGS_UPDATED", id).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (503, Some("not_recorded")),
        "{answer}"
    );
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        !detail.contains("pool") && !detail.contains("database"),
        "no store error's text in the answer: {detail}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_database_that_cannot_record_the_delivery_is_answered_503(superuser: PgPool) {
    let pool = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR)
        .await
        .unwrap();
    let user = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let mounted = Mounted::serve(World::start(store, user).await).await;
    pool.close().await;
    assert_answered_503_and_not_recorded(&mounted, "w-db-down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mock_store_failing_to_record_is_answered_503() {
    let mut store = tributary_repo::MockStore::new();
    store.expect_record_webhook().returning(|_| {
        Err(tributary_repo::RepoError::Unavailable {
            reason: "injected".to_owned(),
        })
    });
    let world = World::start(MemoryStore::new(), UserId::new(uuid::Uuid::new_v4())).await;
    let engine = SyncEngine::new(Arc::new(store), ProviderRouter::new(FeatureFlags::all_on()))
        .with_snaptrade(Arc::clone(&world.snaptrade));
    let mounted = Mounted::serve_engine(
        engine,
        world.sandbox,
        (world.snaptrade, world.plaid),
        world.user,
    )
    .await;
    assert_answered_503_and_not_recorded(&mounted, "w-injected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_for_a_provider_switched_off_is_answered_503_and_not_recorded() {
    let store = MemoryStore::new();
    let user = store.create_user();
    let world = World::start(MemoryStore::new(), user).await;
    let engine = SyncEngine::new(
        Arc::new(store),
        ProviderRouter::new(FeatureFlags::builder().build()),
    )
    .with_snaptrade(Arc::clone(&world.snaptrade));
    let mounted =
        Mounted::serve_engine(engine, world.sandbox, (world.snaptrade, world.plaid), user).await;
    assert_answered_503_and_not_recorded(&mounted, "w-off").await;
    assert!(!mounted.recorded("w-off").await);
}

macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod on_memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = MemoryStore::new();
                    let user = store.create_user();
                    super::$case(Mounted::serve(World::start(store, user).await).await).await;
                }
            )*
        }
        mod on_postgres {
            use super::*;
            $(
                #[sqlx::test(migrations = false)]
                async fn $case(superuser: PgPool) {
                    let pool = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR)
                        .await
                        .unwrap();
                    let user = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
                    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
                    super::$case(Mounted::serve(World::start(store, user).await).await).await;
                }
            )*
        }
    };
}

both_stores!(
    a_signed_delivery_is_answered_200_once_applied_and_200_replayed_after,
    a_forged_or_unsigned_delivery_is_answered_401_and_nothing_is_recorded,
    a_signed_body_that_is_no_snaptrade_event_is_answered_400,
    a_body_over_the_limit_is_answered_413_declared_or_streamed,
    a_provider_failing_the_follow_up_sync_is_never_answered_as_a_bad_delivery,
    a_snaptrade_delivery_for_a_user_never_registered_is_answered_200_unknown,
    a_plaid_delivery_is_answered_200_applied_then_replayed_and_an_unknown_item_200_unknown,
    a_plaid_delivery_unsigned_is_401_and_stale_is_400,
    plaids_verification_key_unavailable_is_answered_503,
);
