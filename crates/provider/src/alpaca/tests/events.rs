//! The trade event stream against wiremock on 127.0.0.1: the spec's own example read, malformed events refused
//! one by one, resumption from an id, refusals of the connection.
#![cfg(feature = "alpaca")]

use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::ProviderError;
use crate::alpaca::{
    AlpacaClient, AlpacaConfig, AlpacaEnvironment, TradeEventId, TradeEventKind, TradeStreamItem,
};
use crate::capability::AccountRef;
use tributary_domain::{AccountId, OrderStatus, ProviderAccountId, UserId};

const ACCOUNT: &str = "529248ad-c4cc-4a50-bea4-6bfd2953f83a";
const FIRST: &str = "01G112NTT0XAXKDZK3AABK68TH";
const SECOND: &str = "01G112NTT0XAXKDZK3AABK68TJ";
const THIRD: &str = "01G112NTT0XAXKDZK3AABK68TK";

fn client(server: &MockServer) -> AlpacaClient {
    let config = AlpacaConfig::new(
        "key",
        SecretString::from("secret"),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap());
    AlpacaClient::new(config).unwrap()
}

/// The spec's `TradeUpdateEventV2New` example (alpaca-broker-api.yaml), with `event_id` and `event` as given.
fn spec_event(event_id: &str, event: &str, status: &str) -> Value {
    let order = json!({
        "asset_class": "us_equity", "asset_id": "a4778bc8-fad1-47b7-87fe-d5cde10d43f4",
        "cancel_requested_at": null, "canceled_at": null,
        "client_order_id": "6d873193-dac6-4f72-8e13-c57853a9339d", "commission": "1",
        "created_at": "2022-04-19T10:12:30.57117938-04:00", "expired_at": null,
        "expires_at": "2022-04-19T21:00:00Z", "extended_hours": false, "failed_at": null,
        "filled_at": null, "filled_avg_price": null, "filled_qty": "0", "hwm": null,
        "id": "edada91a-8b55-4916-a153-8c7a9817e708", "legs": null, "limit_price": "700",
        "notional": null, "order_class": "", "order_type": "limit", "position_intent": "buy_to_open",
        "qty": "4", "replaced_at": null, "replaced_by": null, "replaces": null, "side": "buy",
        "status": status, "stop_price": null,
        "submitted_at": "2022-04-19T10:12:30.403135025-04:00", "symbol": "TSLA",
        "time_in_force": "day", "trail_percent": null, "trail_price": null, "type": "limit",
        "updated_at": "2022-04-19T10:12:30.609783218-04:00"
    });
    let mut event = json!({
        "account_id": ACCOUNT,
        "at": "2022-04-19T14:12:30.656741Z",
        "event": event,
        "event_id": event_id,
        "execution_id": "7e544af3-3104-4e1a-8cbc-dab2624949ff",
        "previous_execution_id": "aeb60660-412f-4537-8d1f-1101b3fc8f64",
        "timestamp": "2022-04-19T14:12:30.602193534Z"
    });
    event["order"] = order;
    event
}

fn sse(events: &[String]) -> ResponseTemplate {
    let body: String = events
        .iter()
        .map(|data| format!("data: {data}\n\n"))
        .collect();
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_string(format!(": connected\n\n{body}"))
}

async fn items(
    client: &AlpacaClient,
    since: Option<&str>,
) -> Vec<Result<TradeStreamItem, ProviderError>> {
    let since = since.map(|id| TradeEventId::parse(id).unwrap());
    client
        .trade_events(since.as_ref())
        .await
        .unwrap()
        .collect()
        .await
}

#[tokio::test]
async fn the_specs_trade_event_reads_as_an_order_update_of_its_account() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/events/trades"))
        .and(header("accept", "text/event-stream"))
        .and(header("authorization", "Basic a2V5OnNlY3JldA=="))
        .respond_with(sse(&[spec_event(FIRST, "new", "new").to_string()]))
        .expect(1)
        .mount(&server)
        .await;
    let items = items(&client(&server), None).await;
    let [Ok(TradeStreamItem::Event(event))] = items.as_slice() else {
        panic!("{items:?}");
    };
    assert_eq!(event.id.as_str(), FIRST);
    assert_eq!(event.kind, TradeEventKind::New);
    assert_eq!(event.account.as_str(), ACCOUNT);
    assert_eq!(
        event.order_id.as_str(),
        "edada91a-8b55-4916-a153-8c7a9817e708"
    );
    let account = AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse(ACCOUNT).unwrap(),
    };
    let rows = event.order_rows(&account).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, OrderStatus::parse("new").unwrap());
    assert_eq!(rows[0].user_id, account.user_id);
    assert_eq!(rows[0].account_id, account.account_id);
    assert!(rows[0].raw_order_data.is_some());
}

#[tokio::test]
async fn an_event_is_never_converted_for_another_account_than_its_own() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/events/trades"))
        .respond_with(sse(&[spec_event(FIRST, "new", "new").to_string()]))
        .mount(&server)
        .await;
    let items = items(&client(&server), None).await;
    let Some(Ok(TradeStreamItem::Event(event))) = items.first() else {
        panic!("{items:?}");
    };
    let elsewhere = AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse("3dcb795c-3ccc-402a-abb9-07e26a1b1326")
            .unwrap(),
    };
    assert!(matches!(
        event.order_rows(&elsewhere),
        Err(ProviderError::InvalidInput {
            field: "account",
            ..
        })
    ));
}

#[tokio::test]
async fn malformed_events_are_refused_one_by_one_and_the_stream_goes_on() {
    let server = MockServer::start().await;
    let mut bad_order = spec_event(SECOND, "fill", "filled");
    bad_order["order"]["qty"] = json!("not a number");
    let mut no_account = spec_event(THIRD, "fill", "filled");
    no_account.as_object_mut().unwrap().remove("account_id");
    Mock::given(path("/v2/events/trades"))
        .respond_with(sse(&[
            "{not json".to_owned(),
            bad_order.to_string(),
            no_account.to_string(),
            spec_event("01G112NTT0XAXKDZK3AABK68TM", "canceled", "canceled").to_string(),
        ]))
        .mount(&server)
        .await;
    let items = items(&client(&server), None).await;
    assert_eq!(items.len(), 4, "{items:?}");
    let refused: Vec<_> = items[..3]
        .iter()
        .map(|item| match item {
            Ok(TradeStreamItem::Refused(refused)) => (
                refused.id.as_ref().map(|id| id.as_str().to_owned()),
                refused.field.clone(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        refused,
        [
            (None, "*".to_owned()),
            // The order's own reader names no field for a number that is not one (as for listed orders).
            (Some(SECOND.to_owned()), "order.*".to_owned()),
            (Some(THIRD.to_owned()), "account_id".to_owned()),
        ]
    );
    assert!(
        matches!(&items[3], Ok(TradeStreamItem::Event(event)) if event.kind == TradeEventKind::Canceled)
    );
}

#[tokio::test]
async fn the_stream_resumes_after_an_id_and_skips_events_at_or_before_it() {
    let server = MockServer::start().await;
    // A server that resends from its start: the client still hands out only what follows the id.
    Mock::given(path("/v2/events/trades"))
        .and(query_param("since_id", SECOND))
        .respond_with(sse(&[
            spec_event(FIRST, "new", "new").to_string(),
            spec_event(SECOND, "partial_fill", "partially_filled").to_string(),
            spec_event(THIRD, "fill", "filled").to_string(),
        ]))
        .expect(1)
        .mount(&server)
        .await;
    let items = items(&client(&server), Some(SECOND)).await;
    let ids: Vec<_> = items
        .iter()
        .map(|item| match item {
            Ok(TradeStreamItem::Event(event)) => event.id.as_str().to_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [THIRD]);
}

#[tokio::test]
async fn a_refused_connection_is_the_calls_error() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/events/trades"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"code": 40310000, "message": "forbidden"})),
        )
        .mount(&server)
        .await;
    let error = client(&server).trade_events(None).await.err().unwrap();
    assert!(!matches!(error, ProviderError::Decode { .. }), "{error:?}");
    assert!(error.to_string().contains("forbidden"), "{error}");
}

#[tokio::test]
async fn an_event_larger_than_the_response_cap_ends_the_stream() {
    let server = MockServer::start().await;
    let huge = "x".repeat(64);
    Mock::given(path("/v2/events/trades"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(format!("data: {huge}")),
        )
        .mount(&server)
        .await;
    let config = AlpacaConfig::new(
        "key",
        SecretString::from("secret"),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap())
    .with_max_response_bytes(32);
    let client = AlpacaClient::new(config).unwrap();
    let items: Vec<_> = client.trade_events(None).await.unwrap().collect().await;
    assert!(
        matches!(
            items.as_slice(),
            [Err(ProviderError::ResponseTooLarge { limit: 32, .. })]
        ),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_slow_reader_comment_ends_the_stream_after_the_events_before_it() {
    let server = MockServer::start().await;
    // alpaca-broker-api.yaml, `subscribeToTradeV2SSE`: "The server sends a comment when the client is not
    // consuming messages fast enough. Example: `: you are reading too slowly, dropped 10000 messages`".
    let body = format!(
        "data: {}\n\n: you are reading too slowly, dropped 10000 messages\n\ndata: {}\n\n",
        spec_event(FIRST, "new", "new"),
        spec_event(THIRD, "fill", "filled"),
    );
    Mock::given(path("/v2/events/trades"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    let items = items(&client(&server), None).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(matches!(&items[0], Ok(TradeStreamItem::Event(event)) if event.id.as_str() == FIRST));
    assert!(
        matches!(&items[1], Err(ProviderError::Transport { message, .. }) if message.contains("dropped 10000")),
        "{items:?}"
    );
}

#[tokio::test]
async fn other_comments_are_ignored() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/events/trades"))
        .respond_with(sse(&[spec_event(FIRST, "new", "new").to_string()]))
        .mount(&server)
        .await;
    // `sse` opens with `: connected`.
    let items = items(&client(&server), None).await;
    assert!(
        matches!(items.as_slice(), [Ok(TradeStreamItem::Event(_))]),
        "{items:?}"
    );
}
