//! The Plaid sandbox's webhooks: its verification key endpoint and `/sandbox/item/fire_webhook`, checked
//! against `plaid-openapi.yml`, and the delivery it sends, verified with the key it serves.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post as route_post;
use serde_json::{Value, json};
use tributary_sandbox::Sandbox;
use tributary_sandbox::plaid::body_sha256;
use tributary_spec::Spec;

use super::{post, refused};
use crate::support::json;

/// Each delivery received: its `Plaid-Verification` header and its body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A receiver on 127.0.0.1 that keeps each delivery's `Plaid-Verification` header and body.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/webhooks/plaid",
            route_post(
                |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let header = headers
                        .get("plaid-verification")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    received.lock().unwrap().push((header, body.to_vec()));
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/plaid", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// An Item linked through `/sandbox/public_token/create` with `options.webhook`, then exchanged.
async fn item_with_webhook(sandbox: &Sandbox, webhook: &str) -> Value {
    let server = sandbox.plaid();
    let created = json(
        post(
            server,
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["investments"],
                   "options": {"webhook": webhook}}),
        )
        .await,
        200,
    )
    .await;
    let exchanged = json(
        post(
            server,
            "/item/public_token/exchange",
            json!({"public_token": created["public_token"]}),
        )
        .await,
        200,
    )
    .await;
    exchanged["access_token"].clone()
}

#[tokio::test]
async fn the_verification_key_answer_satisfies_the_spec_and_an_unknown_kid_is_refused() {
    let spec = Spec::load("plaid-openapi.yml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let path = "/webhook_verification_key/get";

    let answer = json(
        post(server, path, json!({"key_id": server.webhook_key_id()})).await,
        200,
    )
    .await;
    spec.validate_response("post", path, 200, &answer)
        .unwrap_or_else(|error| panic!("{error}\n{answer}"));
    assert_eq!(answer["key"]["kid"], json!(server.webhook_key_id()));
    assert_eq!(answer["key"]["expired_at"], Value::Null);

    let (error_type, error_code) = refused(server, path, json!({"key_id": "no-such-key"})).await;
    assert_eq!(
        (error_type.as_str(), error_code.as_str()),
        ("INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID")
    );
}

#[tokio::test]
async fn a_rotated_key_is_still_served_with_its_expiry() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let old = server.webhook_key_id();
    let new = server.rotate_webhook_key();
    assert_ne!(old, new);

    let answer = json(
        post(
            server,
            "/webhook_verification_key/get",
            json!({"key_id": old}),
        )
        .await,
        200,
    )
    .await;
    assert!(answer["key"]["expired_at"].is_i64(), "{answer}");
}

#[tokio::test]
async fn fire_webhook_posts_a_delivery_signed_with_the_served_key_to_the_items_webhook() {
    let spec = Spec::load("plaid-openapi.yml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let (url, received) = receiver().await;
    let token = item_with_webhook(&sandbox, &url).await;

    let request = json!({"access_token": token, "webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE"});
    let answer = json(
        post(server, "/sandbox/item/fire_webhook", request).await,
        200,
    )
    .await;
    spec.validate_response("post", "/sandbox/item/fire_webhook", 200, &answer)
        .unwrap_or_else(|error| panic!("{error}\n{answer}"));
    assert_eq!(answer["webhook_fired"], json!(true));

    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries = received.lock().unwrap().clone();
        if !deliveries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (token, body) = deliveries.first().expect("the webhook was delivered");
    let payload: Value = serde_json::from_slice(body).unwrap();
    spec.validate_schema("HoldingsDefaultUpdateWebhook", &payload)
        .unwrap_or_else(|error| panic!("{error}\n{payload}"));
    assert_eq!(payload["environment"], "sandbox");

    // Verified with the JWK the sandbox serves, as a receiver would.
    let key = json(
        post(
            server,
            "/webhook_verification_key/get",
            json!({"key_id": server.webhook_key_id()}),
        )
        .await,
        200,
    )
    .await;
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        key["key"]["x"].as_str().unwrap(),
        key["key"]["y"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["request_body_sha256"], json!(body_sha256(body)));
    let age = chrono::Utc::now().timestamp() - claims["iat"].as_i64().unwrap();
    assert!((0..60).contains(&age), "iat is {age}s old");
    assert_eq!(server.fired_webhooks().len(), 1);
}

#[tokio::test]
async fn fire_webhook_shapes_each_item_code_as_the_spec_does() {
    let spec = Spec::load("plaid-openapi.yml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let token = item_with_webhook(&sandbox, "http://127.0.0.1:9/unreachable").await;
    let cases = [
        ("NEW_ACCOUNTS_AVAILABLE", "NewAccountsAvailableWebhook"),
        ("LOGIN_REPAIRED", "ItemLoginRepairedWebhook"),
        ("PENDING_DISCONNECT", "PendingDisconnectWebhook"),
        ("USER_PERMISSION_REVOKED", "UserPermissionRevokedWebhook"),
        ("USER_ACCOUNT_REVOKED", "UserAccountRevokedWebhook"),
    ];
    for (code, schema) in cases {
        json(
            post(
                server,
                "/sandbox/item/fire_webhook",
                json!({"access_token": token, "webhook_code": code}),
            )
            .await,
            200,
        )
        .await;
        let fired = server.fired_webhooks().pop().unwrap();
        let payload: Value = serde_json::from_str(&fired.delivery.body).unwrap();
        assert_eq!(payload["webhook_code"], code);
        spec.validate_schema(schema, &payload)
            .unwrap_or_else(|error| panic!("{code}: {error}\n{payload}"));
    }
}

#[tokio::test]
async fn fire_webhook_refuses_what_plaid_refuses() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let with_hook = item_with_webhook(&sandbox, "http://127.0.0.1:9/unreachable").await;
    let seeded = server.seed_item(tributary_sandbox::SeedItem::default());

    let no_hook = refused(
        server,
        "/sandbox/item/fire_webhook",
        json!({"access_token": seeded.access_token, "webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE"}),
    )
    .await;
    assert_eq!(no_hook.1, "SANDBOX_WEBHOOK_INVALID");
    let other_product = refused(
        server,
        "/sandbox/item/fire_webhook",
        json!({"access_token": with_hook, "webhook_type": "AUTH", "webhook_code": "DEFAULT_UPDATE"}),
    )
    .await;
    assert_eq!(other_product.1, "SANDBOX_PRODUCT_NOT_ENABLED");
    let unknown_code = refused(
        server,
        "/sandbox/item/fire_webhook",
        json!({"access_token": with_hook, "webhook_code": "SOMETHING_ELSE"}),
    )
    .await;
    assert_eq!(unknown_code.1, "INVALID_FIELD");
    assert!(server.fired_webhooks().is_empty());
    assert!(server.set_item_webhook(&seeded.item_id, "http://127.0.0.1:9/unreachable"));
    assert!(!server.set_item_webhook("no-such-item", "http://127.0.0.1:9/unreachable"));
}

#[tokio::test]
async fn item_webhook_update_moves_the_webhook_and_acknowledges_it_at_the_new_url() {
    let spec = Spec::load("plaid-openapi.yml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let token = item_with_webhook(&sandbox, "http://127.0.0.1:9/old").await;
    let (url, received) = receiver().await;

    let answer = json(
        post(
            server,
            "/item/webhook/update",
            json!({"access_token": token, "webhook": url}),
        )
        .await,
        200,
    )
    .await;
    spec.validate_response("post", "/item/webhook/update", 200, &answer)
        .unwrap_or_else(|error| panic!("{error}\n{answer}"));
    assert_eq!(answer["item"]["webhook"], json!(url));

    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries = received.lock().unwrap().clone();
        if !deliveries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, body) = deliveries
        .first()
        .expect("the new URL was sent the acknowledgement");
    let payload: Value = serde_json::from_slice(body).unwrap();
    spec.validate_schema("WebhookUpdateAcknowledgedWebhook", &payload)
        .unwrap_or_else(|error| panic!("{error}\n{payload}"));
    assert_eq!(payload["new_webhook_url"], json!(url));
    assert_eq!(server.fired_webhooks().last().unwrap().url, url);

    // Later webhooks go to the new URL.
    json(
        post(
            server,
            "/sandbox/item/fire_webhook",
            json!({"access_token": token, "webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(server.fired_webhooks().last().unwrap().url, url);

    // `null` removes it: nothing is acknowledged, and there is nowhere left to fire to.
    let fired = server.fired_webhooks().len();
    let removed = json(
        post(
            server,
            "/item/webhook/update",
            json!({"access_token": token, "webhook": null}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(removed["item"]["webhook"], json!(""));
    assert_eq!(server.fired_webhooks().len(), fired);
    let nowhere = refused(
        server,
        "/sandbox/item/fire_webhook",
        json!({"access_token": token, "webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE"}),
    )
    .await;
    assert_eq!(nowhere.1, "SANDBOX_WEBHOOK_INVALID");
    let not_a_url = refused(
        server,
        "/item/webhook/update",
        json!({"access_token": token, "webhook": "not a url"}),
    )
    .await;
    assert_eq!(not_a_url.1, "INVALID_FIELD");
}

#[tokio::test]
async fn reset_login_fires_an_item_error_webhook_carrying_item_login_required() {
    let spec = Spec::load("plaid-openapi.yml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let token = item_with_webhook(&sandbox, "http://127.0.0.1:9/unreachable").await;
    json(
        post(
            server,
            "/sandbox/item/reset_login",
            json!({"access_token": token}),
        )
        .await,
        200,
    )
    .await;
    let fired = server
        .fired_webhooks()
        .pop()
        .expect("the Item's webhook was fired");
    let payload: Value = serde_json::from_str(&fired.delivery.body).unwrap();
    spec.validate_schema("ItemErrorWebhook", &payload)
        .unwrap_or_else(|error| panic!("{error}\n{payload}"));
    assert_eq!(
        (
            payload["webhook_type"].as_str(),
            payload["webhook_code"].as_str()
        ),
        (Some("ITEM"), Some("ERROR"))
    );
    assert_eq!(payload["error"]["error_code"], "ITEM_LOGIN_REQUIRED");

    // An Item without a webhook URL is reset all the same, and nothing is fired.
    let seeded = server.seed_item(tributary_sandbox::SeedItem::default());
    let before = server.fired_webhooks().len();
    json(
        post(
            server,
            "/sandbox/item/reset_login",
            json!({"access_token": seeded.access_token}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(server.fired_webhooks().len(), before);
}
