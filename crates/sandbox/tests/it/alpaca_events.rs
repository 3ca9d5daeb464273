//! The Alpaca sandbox's trade event stream (`GET /v2/events/trades`): events shaped as `TradeUpdateEventV2`
//! with ULID ids, history after `since_id` up to `until_id`, the spec's query rules, and the knobs.

use serde_json::{Value, json};
use tributary_sandbox::{AlpacaSandbox, MarketFill, Sandbox};
use tributary_spec::Spec;

fn events_url(server: &AlpacaSandbox, query: &str) -> String {
    format!("{}/v2/events/trades{query}", server.base_url())
}

async fn get(server: &AlpacaSandbox, query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(events_url(server, query))
        .basic_auth(server.key_id(), Some(server.secret()))
        .send()
        .await
        .expect("answer")
}

/// Places a market order (left `accepted`) and fills it: two events.
async fn order_and_fill(server: &AlpacaSandbox) {
    server.set_market_fill(MarketFill::OnStep);
    let placed = reqwest::Client::new()
        .post(format!(
            "{}/v1/trading/accounts/{}/orders",
            server.base_url(),
            server.default_account_id()
        ))
        .basic_auth(server.key_id(), Some(server.secret()))
        .json(&json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(placed.status(), 200);
    assert_eq!(server.step(), 1);
}

fn data_lines(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).expect("each event is JSON"))
        .collect()
}

#[tokio::test]
async fn order_changes_are_events_with_increasing_ulids_shaped_as_the_spec_says() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    order_and_fill(server).await;
    let events = server.trade_events();
    let kinds: Vec<_> = events
        .iter()
        .map(|event| event["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["accepted", "fill"]);
    let ids: Vec<_> = events
        .iter()
        .map(|event| event["event_id"].as_str().unwrap())
        .collect();
    assert!(ids[0] < ids[1], "{ids:?}");
    assert!(ids.iter().all(|id| id.len() == 26));
    let spec = Spec::load("alpaca-broker-api.yaml");
    for event in &events {
        if let Err(violation) = spec.validate_schema("TradeUpdateEventV2", event) {
            panic!("{violation}");
        }
    }
    assert_eq!(events[1]["order"]["status"], "filled");
    assert_eq!(events[1]["qty"], "1");
}

#[tokio::test]
async fn history_is_streamed_after_since_id_and_the_stream_ends_at_until_id() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    order_and_fill(server).await;
    order_and_fill(server).await;
    let ids: Vec<String> = server
        .trade_events()
        .iter()
        .map(|event| event["event_id"].as_str().unwrap().to_owned())
        .collect();
    // "if `until` or `until_id` reached stream will end (status 200)": the body ends, so it can be read whole.
    let response = get(server, &format!("?since_id={}&until_id={}", ids[0], ids[2])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let sent: Vec<_> = data_lines(&response.text().await.unwrap())
        .iter()
        .map(|event| event["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        sent,
        ids[1..=2],
        "after since_id, up to and including until_id"
    );
}

#[tokio::test]
async fn the_specs_query_rules_are_enforced() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let id = "01G112NTT0XAXKDZK3AABK68TH";
    for query in [
        format!("?since=2024-01-01&since_id={id}"),
        "?until=2024-01-01".to_owned(),
        format!("?until_id={id}"),
        "?since_id=not-a-ulid".to_owned(),
        "?since=01/01/2024".to_owned(),
    ] {
        assert_eq!(get(server, &query).await.status(), 400, "{query}");
    }
    let anonymous = reqwest::get(events_url(server, "")).await.expect("answer");
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn the_knobs_drop_a_connection_mid_stream_and_send_a_malformed_event() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    order_and_fill(server).await;
    let malformed = server.send_malformed_trade_event(server.default_account_id());
    let first = server.trade_events()[0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.drop_trade_events_after(1);
    let response = get(server, &format!("?since_id={first}")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.text().await.is_err(),
        "the connection breaks off after one event"
    );
    // The next connection is whole, and the malformed event has an id and a place in the stream.
    let response = get(server, &format!("?since_id={first}&until_id={malformed}")).await;
    let events = data_lines(&response.text().await.unwrap());
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["event_id"], malformed.as_str());
    assert_eq!(events[1]["order"]["qty"], "a lot");
}
