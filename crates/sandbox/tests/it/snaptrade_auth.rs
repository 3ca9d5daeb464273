//! The SnapTrade sandbox checks signatures, clientId, timestamps and user secrets as SnapTrade does.

use crate::support::{auth_query, call, call_with_key, json, now, send_raw};
use reqwest::Method;
use serde_json::json;
use tributary_sandbox::Sandbox;
use tributary_sandbox::snaptrade::signature::{canonical_json, sign_text, signature};

#[test]
fn test_vector_a_from_the_typescript_sdk_verifies() {
    let canonical = canonical_json(
        &json!({"content": null, "path": "/accounts", "query": "timestamp=1700000000"}),
    );
    assert_eq!(
        canonical,
        r#"{"content":null,"path":"/accounts","query":"timestamp=1700000000"}"#
    );
    assert_eq!(
        sign_text("consumer_key", &canonical),
        "3VkE1AkN6sr1yxWbl8JA7v9O9MFXfMFDVgzhC9GhptU="
    );
    assert_eq!(
        signature("consumer_key", "/accounts", "timestamp=1700000000", None),
        "3VkE1AkN6sr1yxWbl8JA7v9O9MFXfMFDVgzhC9GhptU="
    );
}

#[test]
fn test_vector_b_with_a_body_verifies() {
    let body = json!({"userId": "edge-user"});
    assert_eq!(
        signature(
            "snaptrade%20key%20with%20spaces",
            "/api/v1/accounts",
            "foo=bar",
            Some(&body)
        ),
        "PsA/IdYSyOLLDgBauwvqzsnIUmgIzt9NtsvZSOsBFcM="
    );
}

#[test]
fn an_empty_object_body_signs_as_null() {
    let empty = json!({});
    assert_eq!(
        signature("k", "/accounts", "q=1", Some(&empty)),
        signature("k", "/accounts", "q=1", None)
    );
}

#[tokio::test]
async fn a_correctly_signed_call_succeeds() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let accounts = json(
        call(server, Method::GET, "/accounts", Some(&user), "", None).await,
        200,
    )
    .await;
    assert_eq!(accounts, json!([]));
}

#[tokio::test]
async fn a_wrongly_signed_call_gets_snaptrades_401_body() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let response = call_with_key(
        server,
        "not-the-key",
        Method::GET,
        "/accounts",
        Some(&user),
        "",
        None,
    )
    .await;
    let body = json(response, 401).await;
    assert_eq!(
        body,
        json!({"detail": "Unable to verify signature sent", "status_code": 401, "code": "1076"})
    );
}

#[tokio::test]
async fn a_body_changed_after_signing_is_refused() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let query = auth_query(server.client_id(), now(), None);
    let path = "/snapTrade/registerUser";
    let signed = signature(
        server.consumer_key(),
        path,
        &query,
        Some(&json!({"userId": "bob"})),
    );
    let tampered = Some(json!({"userId": "mallory"}).to_string());
    let response = send_raw(server, Method::POST, path, &query, &signed, tampered).await;
    assert_eq!(json(response, 401).await["code"], "1076");
    assert!(server.users().is_empty());
}

#[tokio::test]
async fn a_stale_timestamp_is_refused() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let query = auth_query(server.client_id(), now() - 3600, None);
    let signed = signature(server.consumer_key(), "/snapTrade/listUsers", &query, None);
    let response = send_raw(
        server,
        Method::GET,
        "/snapTrade/listUsers",
        &query,
        &signed,
        None,
    )
    .await;
    assert_eq!(json(response, 401).await["code"], "1076");
}

#[tokio::test]
async fn an_unknown_client_id_is_refused() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let query = auth_query("SOMEONE-ELSE", now(), None);
    let signed = signature(server.consumer_key(), "/snapTrade/listUsers", &query, None);
    let response = send_raw(
        server,
        Method::GET,
        "/snapTrade/listUsers",
        &query,
        &signed,
        None,
    )
    .await;
    assert_eq!(
        json(response, 401).await["detail"],
        "Invalid clientId provided"
    );
}

#[tokio::test]
async fn a_wrong_user_secret_is_refused_with_code_1083() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let mut user = server.seed_user("alice");
    user.user_secret = "guess".to_owned();
    let body = json(
        call(server, Method::GET, "/accounts", Some(&user), "", None).await,
        401,
    )
    .await;
    assert_eq!(body["code"], "1083");
}

#[tokio::test]
async fn register_reset_and_delete_user_round_trip() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let registered = call(
        server,
        Method::POST,
        "/snapTrade/registerUser",
        None,
        "",
        Some(json!({"userId": "carol"})),
    )
    .await;
    let registered = json(registered, 200).await;
    assert_eq!(registered["userId"], "carol");
    let secret = registered["userSecret"]
        .as_str()
        .expect("a secret")
        .to_owned();

    let again = call(
        server,
        Method::POST,
        "/snapTrade/registerUser",
        None,
        "",
        Some(json!({"userId": "carol"})),
    )
    .await;
    assert_eq!(json(again, 400).await["code"], "1010");

    let reset_body = json!({"userId": "carol", "userSecret": secret});
    let reset = json(
        call(
            server,
            Method::POST,
            "/snapTrade/resetUserSecret",
            None,
            "",
            Some(reset_body),
        )
        .await,
        200,
    )
    .await;
    assert_ne!(reset["userSecret"], secret);

    let deleted = json(
        call(
            server,
            Method::DELETE,
            "/snapTrade/deleteUser",
            None,
            "userId=carol",
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(deleted["status"], "deleted");
    assert!(server.users().is_empty());
}

#[tokio::test]
async fn the_status_endpoint_needs_no_signature() {
    let sandbox = Sandbox::start().await;
    let body = reqwest::get(format!("{}/", sandbox.snaptrade_base_url()))
        .await
        .expect("answer");
    assert_eq!(json(body, 200).await["online"], true);
}

#[tokio::test]
async fn the_legacy_api_v1_prefix_is_signed_with_the_prefix_and_marked_deprecated() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let response = call(
        server,
        Method::GET,
        "/api/v1/accounts",
        Some(&user),
        "",
        None,
    )
    .await;
    assert_eq!(response.headers()["deprecation"], "@1781222400");
    assert_eq!(json(response, 200).await, json!([]));
    let query = auth_query(server.client_id(), now(), Some(&user));
    let signed_without_prefix = signature(server.consumer_key(), "/accounts", &query, None);
    let response = send_raw(
        server,
        Method::GET,
        "/api/v1/accounts",
        &query,
        &signed_without_prefix,
        None,
    )
    .await;
    assert_eq!(json(response, 401).await["code"], "1076");
}

#[tokio::test]
async fn a_number_must_be_signed_as_python_rewrites_it() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let query = auth_query(server.client_id(), now(), Some(&user));
    let body = r#"{"limit":1.50,"substring":"AAPL"}"#;
    let as_sent = format!(r#"{{"content":{body},"path":"/symbols","query":"{query}"}}"#);
    let as_python = as_sent.replace("1.50", "1.5");
    for (signed_text, status) in [(as_sent, 401), (as_python, 200)] {
        let signed = sign_text(server.consumer_key(), &signed_text);
        let response = send_raw(
            server,
            Method::POST,
            "/symbols",
            &query,
            &signed,
            Some(body.to_owned()),
        )
        .await;
        json(response, status).await;
    }
}
