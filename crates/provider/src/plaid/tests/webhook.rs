//! Plaid webhook verification, written as the attacks on it: forged and foreign signatures, `alg: none`,
//! HS256 keyed with the public key, a body changed after signing, stale and future tokens, unknown and
//! expired keys, an unreachable key endpoint, a replay, an oversized body. Deliveries are signed by
//! `tributary-sandbox` as Plaid signs them, and the verifier fetches keys from the sandbox's
//! `/webhook_verification_key/get`. The spec's own webhook examples are the event data.
#![cfg(feature = "plaid")]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary_domain::Provider;
use tributary_sandbox::plaid::{PlaidWebhookSigner, body_sha256};
use tributary_sandbox::{Sandbox, SeedItem};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::ProviderError;
use crate::WebhookError;
use crate::plaid::webhook::{MAX_CLOCK_SKEW, MAX_TOKEN_AGE};
use crate::plaid::{
    PlaidClient, PlaidConfig, PlaidEnvironment, PlaidWebhookEnvironment, PlaidWebhookError,
    PlaidWebhookKind, PlaidWebhookVerifier,
};

const KEY_PATH: &str = "/webhook_verification_key/get";

fn verifier(sandbox: &Sandbox) -> PlaidWebhookVerifier {
    let config = PlaidConfig::new(
        sandbox.plaid().client_id(),
        SecretString::from(sandbox.plaid().secret()),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&sandbox.plaid_base_url()).unwrap())
    .with_timeout(Duration::from_millis(500));
    PlaidWebhookVerifier::new(PlaidClient::new(config).unwrap())
}

/// `HoldingsDefaultUpdateWebhook`'s `x-examples.example-1`, verbatim.
fn holdings_update() -> Value {
    json!({
        "webhook_type": "HOLDINGS",
        "webhook_code": "DEFAULT_UPDATE",
        "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
        "user_id": "usr_9nSp2KuZ2x4JDw",
        "error": null,
        "new_holdings": 19,
        "updated_holdings": 0,
        "environment": "production"
    })
}

fn refusal(failure: PlaidWebhookError) -> WebhookError {
    match failure {
        PlaidWebhookError::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn key_lookups(sandbox: &Sandbox) -> usize {
    sandbox.plaid().log().count("POST", KEY_PATH)
}

/// A JWT of the caller's own making: `header` and `claims` as given, and `signature` as the third part.
fn hand_made_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

#[tokio::test]
async fn a_delivery_signed_by_plaids_key_is_verified_and_read() {
    let sandbox = Sandbox::start().await;
    let delivery = sandbox.plaid().sign_webhook(&holdings_update());

    let event = verifier(&sandbox)
        .verify(Some(&delivery.verification), delivery.body.as_bytes())
        .await
        .unwrap();

    assert_eq!(event.kind, PlaidWebhookKind::HoldingsDefaultUpdate);
    assert_eq!(
        event.item_id.as_deref(),
        Some("wz666MBjYWTp2PDzzggYhM6oWWmBb")
    );
    assert_eq!(event.user_id.as_deref(), Some("usr_9nSp2KuZ2x4JDw"));
    assert_eq!(event.environment, PlaidWebhookEnvironment::Production);
    assert!(event.error.is_none());
    assert_eq!(event.raw["new_holdings"], json!(19));
}

#[tokio::test]
async fn keys_are_cached_by_kid_so_a_second_delivery_looks_nothing_up() {
    let sandbox = Sandbox::start().await;
    let verifier = verifier(&sandbox);
    for _ in 0..3 {
        let delivery = sandbox.plaid().sign_webhook(&holdings_update());
        verifier
            .verify(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(key_lookups(&sandbox), 1);
}

#[tokio::test]
async fn a_forged_signature_is_refused_with_401() {
    let sandbox = Sandbox::start().await;
    let delivery = sandbox.plaid().sign_webhook(&holdings_update());
    let mut parts: Vec<String> = delivery
        .verification
        .split('.')
        .map(str::to_owned)
        .collect();
    // 64 bytes, the length of an ES256 signature (r ‖ s), none of them Plaid's.
    parts[2] = URL_SAFE_NO_PAD.encode([7u8; 64]);
    let forged = parts.join(".");

    let refused = refusal(
        verifier(&sandbox)
            .verify(Some(&forged), delivery.body.as_bytes())
            .await
            .unwrap_err(),
    );

    assert_eq!(
        refused,
        WebhookError::BadSignature {
            provider: Provider::Plaid
        }
    );
    assert_eq!(refused.http_status(), 401);
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_plaids_kid_is_refused() {
    let sandbox = Sandbox::start().await;
    let impostor = PlaidWebhookSigner::generate_with_kid(sandbox.plaid().webhook_key_id());
    let delivery = impostor.sign(&holdings_update());

    let refused = refusal(
        verifier(&sandbox)
            .verify(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap_err(),
    );

    assert!(
        matches!(refused, WebhookError::BadSignature { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn alg_none_is_refused_before_any_key_is_looked_up() {
    let sandbox = Sandbox::start().await;
    let body = holdings_update().to_string();
    let token = hand_made_token(
        &json!({"alg": "none", "kid": sandbox.plaid().webhook_key_id(), "typ": "JWT"}),
        &json!({"iat": Utc::now().timestamp(), "request_body_sha256": body_sha256(body.as_bytes())}),
        "",
    );

    let refused = refusal(
        verifier(&sandbox)
            .verify(Some(&token), body.as_bytes())
            .await
            .unwrap_err(),
    );

    assert_eq!(
        refused,
        WebhookError::UnsupportedAlgorithm {
            provider: Provider::Plaid,
            alg: "none".into()
        }
    );
    assert_eq!(refused.http_status(), 401);
    assert_eq!(key_lookups(&sandbox), 0);
}

#[tokio::test]
async fn hs256_keyed_with_plaids_public_key_is_refused() {
    let sandbox = Sandbox::start().await;
    let verifier = verifier(&sandbox);
    // The attacker fetches Plaid's public JWK (anyone can) and uses it as an HMAC secret, hoping the verifier
    // hands the same bytes to HS256.
    let warm = sandbox.plaid().sign_webhook(&holdings_update());
    verifier
        .verify(Some(&warm.verification), warm.body.as_bytes())
        .await
        .unwrap();
    let public = verifier
        .client()
        .webhook_verification_key(&sandbox.plaid().webhook_key_id())
        .await
        .unwrap();
    let body = holdings_update().to_string();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(public.kid.clone());
    let claims =
        json!({"iat": Utc::now().timestamp(), "request_body_sha256": body_sha256(body.as_bytes())});
    let secrets: [Vec<u8>; 2] = [
        serde_json::to_vec(&public).unwrap(),
        [public.x.as_bytes(), public.y.as_bytes()].concat(),
    ];
    for secret in secrets {
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();

        let refused = refusal(
            verifier
                .verify(Some(&token), body.as_bytes())
                .await
                .unwrap_err(),
        );

        assert_eq!(
            refused,
            WebhookError::UnsupportedAlgorithm {
                provider: Provider::Plaid,
                alg: "HS256".into()
            }
        );
    }
}

#[tokio::test]
async fn a_body_changed_after_signing_is_refused() {
    let sandbox = Sandbox::start().await;
    let delivery = sandbox.plaid().sign_webhook(&holdings_update());
    let changed = delivery
        .body
        .replace("wz666MBjYWTp2PDzzggYhM6oWWmBb", "someone-elses-item");

    let refused = refusal(
        verifier(&sandbox)
            .verify(Some(&delivery.verification), changed.as_bytes())
            .await
            .unwrap_err(),
    );

    assert!(
        matches!(refused, WebhookError::BadSignature { .. }),
        "{refused:?}"
    );
    // Whitespace is a change too: the hash covers the raw bytes, not the parsed JSON.
    let spaced = format!("{} ", delivery.body);
    let refused = verifier(&sandbox)
        .verify(Some(&delivery.verification), spaced.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(refused.http_status(), 401);
}

#[tokio::test]
async fn a_token_issued_six_minutes_ago_is_stale() {
    let sandbox = Sandbox::start().await;
    let issued = Utc::now() - chrono::Duration::minutes(6);
    let delivery = sandbox.plaid().sign_webhook_at(&holdings_update(), issued);

    let refused = refusal(
        verifier(&sandbox)
            .verify(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap_err(),
    );

    match refused {
        WebhookError::Stale {
            distance, max_age, ..
        } => {
            assert!(distance >= Duration::from_secs(360), "{distance:?}");
            assert_eq!(max_age, MAX_TOKEN_AGE);
        }
        other => panic!("expected Stale, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_at_the_age_limit_passes_and_one_second_more_does_not() {
    let sandbox = Sandbox::start().await;
    let verifier = verifier(&sandbox);
    let issued = Utc::now();
    let delivery = sandbox.plaid().sign_webhook_at(&holdings_update(), issued);
    let limit = chrono::Duration::from_std(MAX_TOKEN_AGE).unwrap();
    let at = |now| verifier.verify_at(Some(&delivery.verification), delivery.body.as_bytes(), now);

    assert!(at(issued + limit).await.is_ok());
    let late = at(issued + limit + chrono::Duration::seconds(1))
        .await
        .unwrap_err();
    assert_eq!(late.http_status(), 400);
}

#[tokio::test]
async fn a_token_from_the_future_beyond_the_skew_is_refused() {
    let sandbox = Sandbox::start().await;
    let skew = chrono::Duration::from_std(MAX_CLOCK_SKEW).unwrap();
    let verifier = verifier(&sandbox);
    let within = sandbox.plaid().sign_webhook_at(
        &holdings_update(),
        Utc::now() + skew - chrono::Duration::seconds(5),
    );
    let beyond = sandbox.plaid().sign_webhook_at(
        &holdings_update(),
        Utc::now() + skew + chrono::Duration::seconds(60),
    );

    assert!(
        verifier
            .verify(Some(&within.verification), within.body.as_bytes())
            .await
            .is_ok()
    );
    let refused = refusal(
        verifier
            .verify(Some(&beyond.verification), beyond.body.as_bytes())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(refused, WebhookError::Stale { max_age, .. } if max_age == MAX_CLOCK_SKEW),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_kid_plaid_does_not_know_is_looked_up_then_refused() {
    let sandbox = Sandbox::start().await;
    let stranger = PlaidWebhookSigner::generate_with_kid("not-a-plaid-key");
    let delivery = stranger.sign(&holdings_update());
    let verifier = verifier(&sandbox);

    let refused = refusal(
        verifier
            .verify(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap_err(),
    );

    assert_eq!(
        refused,
        WebhookError::UnknownKey {
            provider: Provider::Plaid,
            kid: "not-a-plaid-key".into()
        }
    );
    assert_eq!(refused.http_status(), 401);
    assert_eq!(
        key_lookups(&sandbox),
        1,
        "the unknown kid was asked for once"
    );
    // Not remembered as known: the next delivery naming it asks again, and is refused again.
    let again = verifier
        .verify(Some(&delivery.verification), delivery.body.as_bytes())
        .await
        .unwrap_err();
    assert!(again.is_refusal());
    assert_eq!(key_lookups(&sandbox), 2);
}

#[tokio::test]
async fn a_rotated_key_is_learned_on_a_miss_and_the_retired_one_refused() {
    let sandbox = Sandbox::start().await;
    let verifier = verifier(&sandbox);
    let before = sandbox.plaid().sign_webhook(&holdings_update());
    verifier
        .verify(Some(&before.verification), before.body.as_bytes())
        .await
        .unwrap();

    let new_kid = sandbox.plaid().rotate_webhook_key();
    let after = sandbox.plaid().sign_webhook(&holdings_update());
    verifier
        .verify(Some(&after.verification), after.body.as_bytes())
        .await
        .unwrap();

    // The miss on the new kid refreshed the cached one, which Plaid now reports expired.
    let refused = refusal(
        verifier
            .verify(Some(&before.verification), before.body.as_bytes())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(refused, WebhookError::ExpiredKey { .. }),
        "{refused:?}"
    );
    assert_eq!(refused.http_status(), 401);
    let signed_with = jsonwebtoken::decode_header(&after.verification)
        .unwrap()
        .kid;
    assert_eq!(signed_with, Some(new_kid));
}

#[tokio::test]
async fn a_key_served_with_expired_at_is_refused_by_a_fresh_verifier() {
    let sandbox = Sandbox::start().await;
    let old = sandbox.plaid().sign_webhook(&holdings_update());
    sandbox.plaid().rotate_webhook_key();

    let refused = refusal(
        verifier(&sandbox)
            .verify(Some(&old.verification), old.body.as_bytes())
            .await
            .unwrap_err(),
    );

    assert!(
        matches!(refused, WebhookError::ExpiredKey { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_key_endpoint_that_is_down_leaves_the_delivery_unverified_not_refused() {
    let sandbox = Sandbox::start().await;
    let delivery = sandbox.plaid().sign_webhook(&holdings_update());
    // Every attempt of the (retried) key lookup fails.
    sandbox.plaid().knobs().server_error_next(10, 503);

    let failure = verifier(&sandbox)
        .verify(Some(&delivery.verification), delivery.body.as_bytes())
        .await
        .unwrap_err();

    assert!(!failure.is_refusal(), "{failure:?}");
    assert_eq!(failure.http_status(), 503);
    assert!(
        matches!(
            failure,
            PlaidWebhookError::KeyUnavailable(ProviderError::Upstream(_))
        ),
        "{failure:?}"
    );
}

#[tokio::test]
async fn a_key_endpoint_that_cannot_be_reached_is_a_provider_error() {
    // A port nothing listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let config = PlaidConfig::new(
        "client",
        SecretString::from("secret"),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&format!("http://{address}")).unwrap())
    .with_timeout(Duration::from_millis(300));
    let verifier = PlaidWebhookVerifier::new(PlaidClient::new(config).unwrap());
    let delivery = PlaidWebhookSigner::generate().sign(&holdings_update());

    let failure = verifier
        .verify(Some(&delivery.verification), delivery.body.as_bytes())
        .await
        .unwrap_err();

    assert!(
        matches!(
            failure,
            PlaidWebhookError::KeyUnavailable(
                ProviderError::Transport { .. } | ProviderError::Timeout { .. }
            )
        ),
        "{failure:?}"
    );
    assert_eq!(failure.http_status(), 503);
}

#[tokio::test]
async fn a_replayed_capture_within_five_minutes_passes_verification() {
    // Verification proves origin and freshness only; the inbox de-duplicates (module docs).
    let sandbox = Sandbox::start().await;
    let verifier = verifier(&sandbox);
    let captured = sandbox.plaid().sign_webhook(&holdings_update());

    for _ in 0..2 {
        let event = verifier
            .verify(Some(&captured.verification), captured.body.as_bytes())
            .await
            .unwrap();
        assert_eq!(event.kind, PlaidWebhookKind::HoldingsDefaultUpdate);
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_unread_with_413() {
    let sandbox = Sandbox::start().await;
    let mut payload = holdings_update();
    payload["padding"] = json!("x".repeat(2048));
    let delivery = sandbox.plaid().sign_webhook(&payload);
    let verifier = verifier(&sandbox).with_max_body_bytes(1024);

    let refused = refusal(
        verifier
            .verify(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap_err(),
    );

    assert!(
        matches!(refused, WebhookError::TooLarge { limit: 1024, .. }),
        "{refused:?}"
    );
    assert_eq!(refused.http_status(), 413);
    assert_eq!(key_lookups(&sandbox), 0);
}

#[tokio::test]
async fn a_delivery_without_the_header_or_with_garbage_in_it_is_refused() {
    let sandbox = Sandbox::start().await;
    let verifier = verifier(&sandbox);
    let body = holdings_update().to_string();

    let missing = refusal(verifier.verify(None, body.as_bytes()).await.unwrap_err());
    assert_eq!(
        missing,
        WebhookError::MissingSignature {
            provider: Provider::Plaid,
            header: "Plaid-Verification"
        }
    );
    for garbage in ["", "not-a-jwt", "a.b", "a.b.c.d", "!!!.e30.e30"] {
        let refused = verifier
            .verify(Some(garbage), body.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(refused.http_status(), 401, "{garbage}");
    }
    assert_eq!(key_lookups(&sandbox), 0);
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_plaid_event_is_malformed() {
    let sandbox = Sandbox::start().await;
    let delivery = sandbox
        .plaid()
        .sign_webhook(&json!({"webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE"}));

    let refused = refusal(
        verifier(&sandbox)
            .verify(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap_err(),
    );

    assert!(
        matches!(&refused, WebhookError::Malformed { reason, .. } if reason.contains("environment")),
        "{refused:?}"
    );
    assert_eq!(refused.http_status(), 400);
}

#[tokio::test]
async fn the_key_endpoint_serves_the_jwk_shape_the_spec_gives() {
    let sandbox = Sandbox::start().await;
    let key = verifier(&sandbox)
        .client()
        .webhook_verification_key(&sandbox.plaid().webhook_key_id())
        .await
        .unwrap();
    assert_eq!(
        (
            key.alg.as_str(),
            key.crv.as_str(),
            key.kty.as_str(),
            key.use_.as_str()
        ),
        ("ES256", "P-256", "EC", "sig")
    );
    assert_eq!(key.kid, sandbox.plaid().webhook_key_id());
    assert_eq!(key.expired_at, None);
}

#[tokio::test]
async fn the_spec_example_key_answer_reads_as_a_verification_key() {
    // `/webhook_verification_key/get`'s example-1, verbatim.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(KEY_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "key": {
                "alg": "ES256",
                "created_at": 1560466150,
                "crv": "P-256",
                "expired_at": null,
                "kid": "bfbd5111-8e33-4643-8ced-b2e642a72f3c",
                "kty": "EC",
                "use": "sig",
                "x": "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ",
                "y": "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys"
            },
            "request_id": "RZ6Omi1bzzwDaLo"
        })))
        .mount(&server)
        .await;
    let config = PlaidConfig::new(
        "client",
        SecretString::from("secret"),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap());
    let key = PlaidClient::new(config)
        .unwrap()
        .webhook_verification_key("bfbd5111-8e33-4643-8ced-b2e642a72f3c")
        .await
        .unwrap();
    assert_eq!(key.created_at, 1_560_466_150);
    assert_eq!(key.x, "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ");
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["key_id"], "bfbd5111-8e33-4643-8ced-b2e642a72f3c");
}

#[tokio::test]
async fn a_replay_has_the_same_delivery_identity_and_another_event_or_token_does_not() {
    let sandbox = Sandbox::start().await;
    let verifier = verifier(&sandbox);
    let identity = |signed: &tributary_sandbox::plaid::SignedPlaidWebhook| {
        let verifier = &verifier;
        let signed = signed.clone();
        async move {
            verifier
                .verify(Some(&signed.verification), signed.body.as_bytes())
                .await
                .unwrap()
                .signed
                .expect("a verified delivery says what its signature bound")
        }
    };
    let issued = Utc::now() - chrono::Duration::seconds(10);
    let captured = sandbox.plaid().sign_webhook_at(&holdings_update(), issued);
    let first = identity(&captured).await;
    assert_eq!(
        first,
        identity(&captured).await,
        "a replay is the same delivery"
    );
    assert_eq!(first.issued_at.timestamp(), issued.timestamp());
    assert_eq!(first.body_sha256, body_sha256(captured.body.as_bytes()));
    assert_eq!(
        first.delivery_id(),
        format!("iat:{}:sha256:{}", issued.timestamp(), first.body_sha256)
    );

    let mut other_event = holdings_update();
    other_event["new_holdings"] = json!(20);
    let other = identity(&sandbox.plaid().sign_webhook_at(&other_event, issued)).await;
    assert_ne!(
        other.delivery_id(),
        first.delivery_id(),
        "another body, another delivery"
    );
    let resigned = identity(
        &sandbox
            .plaid()
            .sign_webhook_at(&holdings_update(), issued + chrono::Duration::seconds(1)),
    )
    .await;
    assert_ne!(
        resigned.delivery_id(),
        first.delivery_id(),
        "the same event signed again is another delivery (Plaid's retry)"
    );
    let read_back = crate::plaid::PlaidWebhook::from_payload(holdings_update()).unwrap();
    assert_eq!(
        read_back.signed, None,
        "a payload read back was not verified here"
    );
}

#[tokio::test]
async fn update_item_webhook_moves_the_items_webhook_and_null_removes_it() {
    let sandbox = Sandbox::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/plaid/new"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 1, 1));
    let client = verifier(&sandbox).client().clone();
    let token = crate::plaid::AccessToken::new(SecretString::from(item.access_token.clone()));
    let url = Url::parse(&format!("{}/plaid/new", receiver.uri())).unwrap();

    let now = client
        .update_item_webhook(&token, Some(&url))
        .await
        .unwrap();
    assert_eq!(now.as_deref(), Some(url.as_str()));
    let fired = sandbox.plaid().fired_webhooks();
    let acknowledged = fired
        .last()
        .expect("the new URL is sent an acknowledgement");
    assert_eq!(acknowledged.url, url.as_str());
    let event = verifier(&sandbox)
        .verify(
            Some(&acknowledged.delivery.verification),
            acknowledged.delivery.body.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(event.kind, PlaidWebhookKind::ItemWebhookUpdateAcknowledged);
    assert_eq!(event.item_id.as_deref(), Some(item.item_id.as_str()));

    assert_eq!(
        client.update_item_webhook(&token, None).await.unwrap(),
        None
    );
    assert_eq!(sandbox.plaid().fired_webhooks().len(), fired.len());
    let unknown = crate::plaid::AccessToken::new(SecretString::from("access-sandbox-nope"));
    let refused = client
        .update_item_webhook(&unknown, Some(&url))
        .await
        .unwrap_err();
    assert_eq!(
        refused.detail().and_then(|detail| detail.code.as_deref()),
        Some("INVALID_ACCESS_TOKEN"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fire_webhook_delivers_a_signed_webhook_to_the_items_url_that_verifies() {
    let sandbox = Sandbox::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/plaid/webhook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let item = sandbox.plaid().seed_item(SeedItem::new(1, 2, 3));
    assert!(
        sandbox
            .plaid()
            .set_item_webhook(&item.item_id, &format!("{}/plaid/webhook", receiver.uri()))
    );
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/item/fire_webhook",
            sandbox.plaid_base_url()
        ))
        .header("Plaid-Version", "2020-09-14")
        .json(&json!({
            "client_id": sandbox.plaid().client_id(),
            "secret": sandbox.plaid().secret(),
            "access_token": item.access_token,
            "webhook_type": "HOLDINGS",
            "webhook_code": "DEFAULT_UPDATE",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["webhook_fired"], json!(true));

    let mut received = Vec::new();
    for _ in 0..100 {
        received = receiver.received_requests().await.unwrap();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = received.first().expect("the sandbox delivered the webhook");
    let header = delivery
        .headers
        .get("plaid-verification")
        .and_then(|value| value.to_str().ok());
    let event = verifier(&sandbox)
        .verify(header, &delivery.body)
        .await
        .unwrap();

    assert_eq!(event.kind, PlaidWebhookKind::HoldingsDefaultUpdate);
    assert_eq!(event.item_id.as_deref(), Some(item.item_id.as_str()));
    assert_eq!(event.environment, PlaidWebhookEnvironment::Sandbox);
    assert_eq!(event.raw["new_holdings"], json!(2));
    assert_eq!(sandbox.plaid().fired_webhooks().len(), 1);
}

#[tokio::test]
async fn the_verifiers_debug_line_shows_no_secret() {
    let sandbox = Sandbox::start().await;
    let line = format!("{:?}", verifier(&sandbox));
    assert!(line.starts_with("PlaidWebhookVerifier"), "{line}");
    assert!(!line.contains(sandbox.plaid().secret()), "{line}");
}
