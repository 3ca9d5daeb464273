//! Removal as the specs answer it, the second time included: a Plaid Item (`/item/remove`), a SnapTrade connection
//! (`deleteConnection`, and the older spec's `removeBrokerageAuthorization`), a SnapTrade user (`deleteUser`).

use reqwest::Method;
use serde_json::{Value, json};
use tributary_sandbox::{Sandbox, SeedConnection, SeedItem};

use crate::support::{call, json};

/// plaid-openapi.yml, `/item/remove`: 200 with `ItemRemoveResponse` (`request_id`); "Once removed, the
/// `access_token` … is no longer valid": the second removal is Plaid's `ITEM_NOT_FOUND` (an `ITEM_ERROR`), which a
/// caller finishing an interrupted removal takes as done.
#[tokio::test]
async fn a_plaid_item_removed_twice_is_item_not_found_the_second_time() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.plaid();
    let item = server.seed_item(SeedItem::default());
    let remove = || async {
        reqwest::Client::new()
            .post(format!("{}/item/remove", server.base_url()))
            .header("Plaid-Version", "2020-09-14")
            .json(&json!({
                "client_id": server.client_id(),
                "secret": server.secret(),
                "access_token": item.access_token,
            }))
            .send()
            .await
            .expect("answer")
    };
    let removed = json(remove().await, 200).await;
    assert!(removed["request_id"].is_string(), "{removed}");
    assert_eq!(server.item_count(), 0);
    let again = json(remove().await, 400).await;
    assert_eq!(again["error_type"], "ITEM_ERROR", "{again}");
    assert_eq!(again["error_code"], "ITEM_NOT_FOUND", "{again}");
    assert!(again["request_id"].is_string(), "{again}");
}

/// snaptrade-openapi.yaml, `Connections_deleteConnection`: 200 with `DeleteConnectionConfirmation` (checked against
/// the spec's schema), then "404: Not Found" (the spec gives that answer no schema; SnapTrade's code 1011, as
/// `404FailedRequestResponse` shows) for the connection that is gone.
#[tokio::test]
async fn a_connection_deleted_twice_is_not_found_the_second_time() {
    let spec = tributary_spec::Spec::load("snaptrade-openapi.yaml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let connection = server.seed_connection(&user.user_id, SeedConnection::new(2, 1));
    let path = format!("/connection/{}", connection.authorization_id);
    let deleted = json(
        call(server, Method::DELETE, &path, Some(&user), "", None).await,
        200,
    )
    .await;
    spec.validate_response("delete", "/connection/{connectionId}", 200, &deleted)
        .unwrap();
    assert!(server.authorizations(&user.user_id).is_empty());
    let again = json(
        call(server, Method::DELETE, &path, Some(&user), "", None).await,
        404,
    )
    .await;
    assert_eq!(again["code"], "1011", "{again}");
}

/// snaptrade-openapi-legacy-2026-08-07.yaml, `Connections_removeBrokerageAuthorization`: "This endpoint is
/// synchronous, a 204 response indicates that the data has been successfully deleted", with no body; "404: Not
/// Found" for one gone already, and for another user's connection (which stays).
#[tokio::test]
async fn the_older_specs_authorization_removal_answers_204_then_404() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let (alice, bob) = (server.seed_user("alice"), server.seed_user("bob"));
    let connection = server.seed_connection(&alice.user_id, SeedConnection::new(1, 1));
    let path = format!("/authorizations/{}", connection.authorization_id);
    let stranger = call(server, Method::DELETE, &path, Some(&bob), "", None).await;
    assert_eq!(stranger.status(), 404);
    assert_eq!(server.authorizations(&alice.user_id).len(), 1);

    let removed = call(server, Method::DELETE, &path, Some(&alice), "", None).await;
    assert_eq!(removed.status(), 204);
    assert!(removed.bytes().await.unwrap().is_empty());
    assert!(server.authorizations(&alice.user_id).is_empty());
    let again = call(server, Method::DELETE, &path, Some(&alice), "", None).await;
    assert_eq!(again.status(), 404);
}

/// snaptrade-openapi.yaml, `Authentication_deleteSnapTradeUser`: 200 with `DeleteUserResponse` (`status` "is always
/// `deleted`"), then "404: Not Found" for the user gone; the deleted user's secret opens nothing (401, code 1083).
#[tokio::test]
async fn a_user_deleted_twice_is_not_found_the_second_time_and_their_secret_opens_nothing() {
    let spec = tributary_spec::Spec::load("snaptrade-openapi.yaml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let connection = server.seed_connection(&user.user_id, SeedConnection::new(1, 1));
    let query = format!("userId={}", user.user_id);
    let delete = || {
        call(
            server,
            Method::DELETE,
            "/snapTrade/deleteUser",
            None,
            &query,
            None,
        )
    };
    let deleted: Value = json(delete().await, 200).await;
    spec.validate_response("delete", "/snapTrade/deleteUser", 200, &deleted)
        .unwrap();
    assert_eq!(deleted["status"], "deleted");
    let again = json(delete().await, 404).await;
    spec.validate_response("delete", "/snapTrade/deleteUser", 404, &again)
        .unwrap();

    let path = format!("/connection/{}", connection.authorization_id);
    let refused = json(
        call(server, Method::DELETE, &path, Some(&user), "", None).await,
        401,
    )
    .await;
    assert_eq!(refused["code"], "1083", "{refused}");
}

/// snaptrade-openapi.yaml, `SnapTradeLoginUserRequestBody.reconnect`: "The UUID of the brokerage connection to be
/// reconnected": a connection of the calling user. One of another user's, or one deleted, is "404: Not Found" and
/// gives no portal link.
#[tokio::test]
async fn a_reconnect_naming_another_users_or_a_deleted_connection_is_not_found() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let (alice, bob) = (server.seed_user("alice"), server.seed_user("bob"));
    let connection = server.seed_connection(&alice.user_id, SeedConnection::new(1, 1));
    let login = |user| {
        call(
            server,
            Method::POST,
            "/snapTrade/login",
            Some(user),
            "",
            Some(json!({"reconnect": connection.authorization_id})),
        )
    };
    let stolen = json(login(&bob).await, 404).await;
    assert!(stolen.get("redirectURI").is_none(), "{stolen}");
    json(login(&alice).await, 200).await;

    let path = format!("/connection/{}", connection.authorization_id);
    json(
        call(server, Method::DELETE, &path, Some(&alice), "", None).await,
        200,
    )
    .await;
    json(login(&alice).await, 404).await;
}
