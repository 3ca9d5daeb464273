//! The test knobs: latency, injected 429/5xx/malformed answers, retired endpoints and the request log.

use std::time::{Duration, Instant};

use crate::support::{call, json};
use reqwest::Method;
use serde_json::json;
use tributary_sandbox::{Sandbox, SeedConnection, SeedItem};

#[tokio::test]
async fn latency_delays_every_answer() {
    let sandbox = Sandbox::start().await;
    sandbox
        .snaptrade()
        .knobs()
        .set_latency(Duration::from_millis(150));
    let started = Instant::now();
    json(
        call(
            sandbox.snaptrade(),
            Method::GET,
            "/snapTrade/listUsers",
            None,
            "",
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn rate_limited_calls_carry_snaptrades_headers_then_recover() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    server.knobs().rate_limit_next(2, 7);
    for _ in 0..2 {
        let response = call(server, Method::GET, "/snapTrade/listUsers", None, "", None).await;
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.headers()["x-ratelimit-reset"], "7");
        let body = json(response, 429).await;
        assert_eq!(
            body["detail"],
            "Request was throttled. Expected available in 7 seconds."
        );
    }
    json(
        call(server, Method::GET, "/snapTrade/listUsers", None, "", None).await,
        200,
    )
    .await;
    let statuses: Vec<u16> = server
        .log()
        .all()
        .iter()
        .map(|entry| entry.status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 200]);
}

#[tokio::test]
async fn server_errors_use_each_providers_body() {
    let sandbox = Sandbox::start().await;
    sandbox.snaptrade().knobs().server_error_next(1, 503);
    let response = call(
        sandbox.snaptrade(),
        Method::GET,
        "/snapTrade/listUsers",
        None,
        "",
        None,
    )
    .await;
    assert_eq!(json(response, 503).await["code"], "3002");

    let plaid = sandbox.plaid();
    plaid.knobs().server_error_next(1, 500);
    let body = json!({"client_id": plaid.client_id(), "secret": plaid.secret(), "access_token": "access-sandbox-x"});
    let response = reqwest::Client::new()
        .post(format!("{}/item/get", plaid.base_url()))
        .header("Plaid-Version", "2020-09-14")
        .json(&body)
        .send()
        .await
        .expect("answer");
    let error = json(response, 500).await;
    assert_eq!(
        (error["error_type"].as_str(), error["error_code"].as_str()),
        (Some("API_ERROR"), Some("INTERNAL_SERVER_ERROR"))
    );
}

#[tokio::test]
async fn a_malformed_body_is_a_200_that_is_not_json() {
    let sandbox = Sandbox::start().await;
    let plaid = sandbox.plaid();
    let item = plaid.seed_item(SeedItem::default());
    plaid.knobs().malformed_next(1);
    let body = json!({"client_id": plaid.client_id(), "secret": plaid.secret(), "access_token": item.access_token});
    let response = reqwest::Client::new()
        .post(format!("{}/item/get", plaid.base_url()))
        .header("Plaid-Version", "2020-09-14")
        .json(&body)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
}

#[tokio::test]
async fn a_retired_route_answers_410_by_template() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    server
        .knobs()
        .retire_path("/accounts/{account_id}/balances");
    let response = call(
        server,
        Method::GET,
        &format!("/accounts/{account}/balances"),
        Some(&user),
        "",
        None,
    )
    .await;
    json(response, 410).await;
    let response = call(
        server,
        Method::GET,
        &format!("/accounts/{account}/positions/all"),
        Some(&user),
        "",
        None,
    )
    .await;
    json(response, 200).await;
}

#[tokio::test]
async fn the_request_log_counts_calls_by_method_and_path() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    json(
        call(server, Method::GET, "/accounts", Some(&user), "", None).await,
        200,
    )
    .await;
    json(
        call(server, Method::GET, "/accounts", Some(&user), "", None).await,
        200,
    )
    .await;
    assert_eq!(server.log().count("GET", "/accounts"), 2);
    assert_eq!(server.log().count("POST", "/trade"), 0);
    let entry = &server.log().all()[0];
    assert!(
        entry
            .query
            .as_deref()
            .is_some_and(|query| query.contains("userId=alice"))
    );
    server.log().clear();
    assert!(server.log().all().is_empty());
}

#[tokio::test]
async fn reset_turns_every_fault_off() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    server.knobs().rate_limit_next(5, 1);
    server.knobs().reset();
    json(
        call(server, Method::GET, "/snapTrade/listUsers", None, "", None).await,
        200,
    )
    .await;
}

#[tokio::test]
async fn a_path_latency_delays_only_the_requests_to_that_path() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let accounts = server
        .seed_connection(&user.user_id, SeedConnection::new(2, 1))
        .account_ids;
    let slow = format!("/accounts/{}/positions/all", accounts[0]);
    let quick = format!("/accounts/{}/positions/all", accounts[1]);
    server
        .knobs()
        .set_path_latency(&slow, Duration::from_millis(300));

    let started = Instant::now();
    json(
        call(server, Method::GET, &quick, Some(&user), "", None).await,
        200,
    )
    .await;
    assert!(started.elapsed() < Duration::from_millis(300));
    let started = Instant::now();
    json(
        call(server, Method::GET, &slow, Some(&user), "", None).await,
        200,
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    server.knobs().reset();
    let started = Instant::now();
    json(
        call(server, Method::GET, &slow, Some(&user), "", None).await,
        200,
    )
    .await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_replaced_body_is_what_that_path_answers_and_the_others_answer_as_usual() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let accounts = server
        .seed_connection(&user.user_id, SeedConnection::new(2, 1))
        .account_ids;
    let garbled = format!("/accounts/{}/positions/all", accounts[0]);
    server.knobs().replace_body(&garbled, r#"{"results": 7}"#);

    let response = call(server, Method::GET, &garbled, Some(&user), "", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "declared as JSON like the real answer"
    );
    assert_eq!(response.text().await.expect("body"), r#"{"results": 7}"#);
    let other = format!("/accounts/{}/positions/all", accounts[1]);
    let body = json(
        call(server, Method::GET, &other, Some(&user), "", None).await,
        200,
    )
    .await;
    assert!(body["results"].is_array(), "{body}");

    // A failing request keeps its own answer: only what would have succeeded is replaced.
    let stranger = call(server, Method::GET, &garbled, None, "", None).await;
    assert_ne!(stranger.status(), 200);
}

fn alpaca_order(sandbox: &Sandbox, body: serde_json::Value) -> reqwest::RequestBuilder {
    let alpaca = sandbox.alpaca();
    reqwest::Client::new()
        .post(format!(
            "{}/v1/trading/accounts/{}/orders",
            alpaca.base_url(),
            alpaca.default_account_id()
        ))
        .basic_auth(alpaca.key_id(), Some(alpaca.secret()))
        .json(&body)
}

#[tokio::test]
async fn a_lost_answer_breaks_off_after_the_order_is_placed_and_a_refused_request_uses_up_nothing()
{
    let sandbox = Sandbox::start().await;
    let account = sandbox.alpaca().default_account_id();
    sandbox
        .alpaca()
        .lose_order_answers(1, tributary_sandbox::LostAnswer::ConnectionClosed);

    // Refused by the handler (no qty): answered as usual, the lost answer still pending.
    let refused = alpaca_order(
        &sandbox,
        json!({"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(refused.status(), 422);

    let order = json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"});
    // The connection closes before the answer is whole: no status at all, or a body cut short.
    let broken = match alpaca_order(&sandbox, order.clone()).send().await {
        Ok(response) => response.bytes().await.map(drop),
        Err(error) => Err(error),
    };
    assert!(broken.is_err(), "the answer is lost");
    assert_eq!(sandbox.alpaca().order_count(account), 1);

    let whole = alpaca_order(&sandbox, order).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert!(whole.json::<serde_json::Value>().await.is_ok());
    assert_eq!(sandbox.alpaca().order_count(account), 2);
}

#[tokio::test]
async fn a_late_answer_comes_after_the_delay_but_the_order_exists_at_once() {
    let sandbox = Sandbox::start().await;
    let account = sandbox.alpaca().default_account_id();
    sandbox
        .alpaca()
        .delay_order_answers(1, Duration::from_secs(30));
    let order = json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"});

    let gave_up = alpaca_order(&sandbox, order)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();

    assert!(gave_up.is_timeout());
    assert_eq!(sandbox.alpaca().order_count(account), 1);
    assert_eq!(
        sandbox
            .alpaca()
            .log()
            .count("POST", &format!("/v1/trading/accounts/{account}/orders")),
        1
    );
}
