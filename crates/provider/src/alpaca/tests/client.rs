//! The Alpaca Broker API client against wiremock on 127.0.0.1: auth, paths, orders never placed twice,
//! errors, secrecy.
#![cfg(feature = "alpaca")]

use std::collections::HashMap;
use std::time::Duration;

use crate::ProviderError;
use crate::alpaca::{
    AlpacaClient, AlpacaClientOrderId, AlpacaConfig, AlpacaEnvironment, AlpacaOrderQuery,
    AlpacaOrderRequest, AlpacaOrderSide, AlpacaOrderStatusFilter, AlpacaOrderType,
    AlpacaTimeInForce, BrokerAccountId,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;
use wiremock::matchers::{body_json, body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::tests::support::{LogCapture, dec, fixture};

const KEY: &str = "broker-key-id";
const SECRET: &str = "broker-secret-do-not-leak";
/// base64("broker-key-id:broker-secret-do-not-leak")
const BASIC: &str = "Basic YnJva2VyLWtleS1pZDpicm9rZXItc2VjcmV0LWRvLW5vdC1sZWFr";
const ACCOUNT: &str = "3dcb795c-3ccc-402a-abb9-07e26a1b1326";

fn config(server: &MockServer) -> AlpacaConfig {
    AlpacaConfig::new(KEY, SecretString::from(SECRET), AlpacaEnvironment::Sandbox)
        .with_base_url(Url::parse(&server.uri()).unwrap())
}

fn client(server: &MockServer) -> AlpacaClient {
    AlpacaClient::new(config(server)).unwrap()
}

fn account() -> BrokerAccountId {
    BrokerAccountId::parse(ACCOUNT).unwrap()
}

fn orders_path() -> String {
    format!("/v1/trading/accounts/{ACCOUNT}/orders")
}

fn by_client_order_id_path() -> String {
    format!("/v1/trading/accounts/{ACCOUNT}/orders:by_client_order_id")
}

fn limit_order(client_order_id: &str) -> AlpacaOrderRequest {
    AlpacaOrderRequest {
        symbol: "AAPL".into(),
        side: AlpacaOrderSide::Buy,
        order_type: AlpacaOrderType::Limit {
            limit_price: dec("150"),
        },
        time_in_force: AlpacaTimeInForce::GoodTillCanceled,
        quantity: crate::alpaca::AlpacaOrderQuantity::Units(dec("2")),
        extended_hours: false,
        client_order_id: Some(AlpacaClientOrderId::parse(client_order_id).unwrap()),
    }
}

#[test]
fn basic_auth_constant_matches_the_credentials() {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"));
    assert_eq!(BASIC, format!("Basic {encoded}"));
}

#[tokio::test]
async fn account_reads_use_basic_auth_and_the_broker_paths() {
    let server = MockServer::start().await;
    for (endpoint, name) in [
        (format!("/v1/accounts/{ACCOUNT}"), "account"),
        (
            format!("/v1/trading/accounts/{ACCOUNT}/account"),
            "trading_account",
        ),
        (
            format!("/v1/trading/accounts/{ACCOUNT}/positions"),
            "positions",
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(endpoint))
            .and(header("authorization", BASIC))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", name)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let alpaca = client(&server);

    let details = alpaca.account(&account()).await.unwrap();
    let balances = alpaca.trading_account(&account()).await.unwrap();
    let positions = alpaca.positions(&account()).await.unwrap();

    assert_eq!(details.status, "ACTIVE");
    assert_eq!(balances.buying_power, dec("103556.8572572922"));
    assert_eq!(positions[0].symbol, "AAPL");
    assert_eq!(positions[0].qty, dec("4"));
}

#[tokio::test]
async fn orders_are_listed_with_their_filters_and_raw_json() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(orders_path()))
        .and(query_param("status", "all"))
        .and(query_param("limit", "100"))
        .and(query_param("symbols", "AAPL,ETH/USD"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "orders")))
        .expect(1)
        .mount(&server)
        .await;
    let query = AlpacaOrderQuery {
        status: AlpacaOrderStatusFilter::All,
        limit: Some(100),
        symbols: vec!["AAPL".into(), "ETH/USD".into()],
        ..AlpacaOrderQuery::default()
    };

    let orders = client(&server).orders(&account(), &query).await.unwrap();

    assert_eq!(orders.len(), 3);
    assert_eq!(orders[1].order.symbol, "ETH/USD");
    assert_eq!(orders[1].raw["qty"], json!("0.02"));
}

#[tokio::test]
async fn an_order_is_fetched_by_id_and_by_client_order_id() {
    let server = MockServer::start().await;
    let order_id = "7b08df51-c1ac-453c-99f9-323a5f075f0d";
    Mock::given(method("GET"))
        .and(path(format!("{}/{order_id}", orders_path())))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .and(query_param(
            "client_order_id",
            "5680c4bc-9ac1-4a12-a44c-df427ba53032",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;
    let alpaca = client(&server);

    let by_id = alpaca
        .order(&account(), Uuid::parse_str(order_id).unwrap())
        .await
        .unwrap();
    let coid = AlpacaClientOrderId::parse("5680c4bc-9ac1-4a12-a44c-df427ba53032").unwrap();
    let by_client_id = alpaca
        .order_by_client_order_id(&account(), &coid)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(by_id.order.id, by_client_id.order.id);
    assert_eq!(by_id.order.limit_price, Some(dec("150")));
}

#[tokio::test]
async fn an_unknown_client_order_id_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": 40410000, "message": "order not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let found = client(&server)
        .order_by_client_order_id(&account(), &AlpacaClientOrderId::parse("nope").unwrap())
        .await
        .unwrap();

    assert!(found.is_none());
}

#[tokio::test]
async fn submitting_sends_the_order_with_decimal_strings_and_our_client_order_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .and(header("authorization", BASIC))
        .and(body_json(json!({
            "symbol": "AAPL",
            "qty": "2",
            "side": "buy",
            "type": "limit",
            "time_in_force": "gtc",
            "limit_price": "150",
            "client_order_id": "5680c4bc-9ac1-4a12-a44c-df427ba53032",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;

    let placed = client(&server)
        .submit_order(
            &account(),
            &limit_order("5680c4bc-9ac1-4a12-a44c-df427ba53032"),
        )
        .await
        .unwrap();

    assert_eq!(placed.order.status.as_deref(), Some("accepted"));
    assert_eq!(placed.raw, fixture("alpaca", "order_equity"));
}

#[tokio::test]
async fn an_order_without_a_client_order_id_gets_a_uuid() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .submit_order(
            &account(),
            &AlpacaOrderRequest::market("AAPL", AlpacaOrderSide::Buy, dec("0.5")),
        )
        .await
        .unwrap();

    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    let generated = sent["client_order_id"]
        .as_str()
        .expect("a client_order_id is always sent");
    assert!(Uuid::parse_str(generated).is_ok(), "{generated} is a UUID");
    assert_eq!(sent["qty"], json!("0.5"));
    assert_eq!(sent["type"], json!("market"));
    assert_eq!(sent["time_in_force"], json!("day"));
}

#[tokio::test]
async fn a_submit_that_times_out_returns_the_order_alpaca_already_has_without_posting_again() {
    let server = MockServer::start().await;
    let coid = "5680c4bc-9ac1-4a12-a44c-df427ba53032";
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("alpaca", "order_equity"))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .and(query_param("client_order_id", coid))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;
    let alpaca =
        AlpacaClient::new(config(&server).with_timeout(Duration::from_millis(300))).unwrap();

    let placed = alpaca
        .submit_order(&account(), &limit_order(coid))
        .await
        .unwrap();

    assert_eq!(placed.order.client_order_id.as_deref(), Some(coid));
    assert_eq!(
        placed.order.id.to_string(),
        "7b08df51-c1ac-453c-99f9-323a5f075f0d"
    );
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1, "the order was posted exactly once");
}

#[tokio::test]
async fn a_submit_that_failed_with_5xx_and_left_no_order_is_sent_again_with_the_same_id() {
    let server = MockServer::start().await;
    let coid = "retry-me-1";
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .and(body_partial_json(json!({"client_order_id": coid})))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "order not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .and(body_partial_json(json!({"client_order_id": coid})))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;

    let placed = client(&server)
        .submit_order(&account(), &limit_order(coid))
        .await
        .unwrap();

    assert_eq!(placed.order.status.as_deref(), Some("accepted"));
}

#[tokio::test]
async fn a_duplicate_id_rejection_after_an_unclear_attempt_returns_the_order_that_went_through() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(
                json!({"code": 40010001, "message": "client_order_id must be unique"}),
            ),
        )
        .mount(&server)
        .await;
    // Alpaca had not finished recording the first attempt when we first asked; it had by the second time.
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "order not found"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .mount(&server)
        .await;

    let placed = client(&server)
        .submit_order(
            &account(),
            &limit_order("5680c4bc-9ac1-4a12-a44c-df427ba53032"),
        )
        .await
        .unwrap();

    assert_eq!(
        placed.order.id.to_string(),
        "7b08df51-c1ac-453c-99f9-323a5f075f0d"
    );
}

fn reused_id_refusal() -> ResponseTemplate {
    // The body Alpaca sends for a reused id (alpaca-py#260); the spec documents only `'422': Some
    // parameters are not valid` for createOrderForAccount.
    ResponseTemplate::new(422)
        .set_body_json(json!({"code": 40010001, "message": "client_order_id must be unique"}))
}

#[tokio::test]
async fn a_first_attempt_refused_for_a_reused_client_order_id_returns_the_order_alpaca_holds() {
    // A caller's retry after a crash: the first POST of this process is refused because an earlier process's
    // went through. The refusal means "it exists", so the existing order is the answer, not REJECTED.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(reused_id_refusal())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .and(query_param(
            "client_order_id",
            "5680c4bc-9ac1-4a12-a44c-df427ba53032",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;

    let placed = client(&server)
        .submit_order(
            &account(),
            &limit_order("5680c4bc-9ac1-4a12-a44c-df427ba53032"),
        )
        .await
        .unwrap();

    assert_eq!(
        placed.order.id.to_string(),
        "7b08df51-c1ac-453c-99f9-323a5f075f0d"
    );
}

#[tokio::test]
async fn a_reused_client_order_id_held_by_another_order_is_refused_naming_the_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(reused_id_refusal())
        .expect(1)
        .mount(&server)
        .await;
    let mut other = fixture("alpaca", "order_equity");
    other["symbol"] = json!("MSFT");
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(other))
        .mount(&server)
        .await;

    let error = client(&server)
        .submit_order(&account(), &limit_order("reused-elsewhere"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::InvalidInput {
                field: "client_order_id",
                ..
            }
        ),
        "got {error:?}"
    );
}

#[tokio::test]
async fn a_reused_client_order_id_that_cannot_be_looked_up_is_an_unknown_outcome_not_a_rejection() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(reused_id_refusal())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "unauthorized"})))
        .mount(&server)
        .await;

    let error = client(&server)
        .submit_order(&account(), &limit_order("lost-1"))
        .await
        .unwrap_err();

    let ProviderError::OutcomeUnknown {
        client_order_id, ..
    } = &error
    else {
        panic!("got {error:?}")
    };
    assert_eq!(client_order_id, "lost-1");
}

#[tokio::test]
async fn another_422_is_still_a_rejection_without_a_lookup() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(
                json!({"code": 42210000, "message": "invalid crypto time_in_force"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(0)
        .mount(&server)
        .await;

    let error = client(&server)
        .submit_order(&account(), &limit_order("bad-tif"))
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::Rejected(_)), "got {error:?}");
}

#[tokio::test]
async fn when_the_lookup_also_fails_the_order_is_not_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"message": "internal error"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id_path()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "unauthorized"})))
        .mount(&server)
        .await;

    let error = client(&server)
        .submit_order(&account(), &limit_order("unclear-1"))
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::Upstream(_)), "got {error:?}");
}

#[tokio::test]
async fn a_rejected_order_is_a_typed_error_and_is_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({
                    "code": 40310000,
                    "message": "insufficient buying power",
                    "buying_power": "176531.28",
                }))
                .insert_header("X-Request-ID", "alpaca-req-7"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .submit_order(&account(), &limit_order("poor-1"))
        .await
        .unwrap_err();

    let ProviderError::Rejected(details) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(details.status, 403);
    assert_eq!(details.code.as_deref(), Some("40310000"));
    assert_eq!(details.message, "insufficient buying power");
    assert_eq!(details.request_id.as_deref(), Some("alpaca-req-7"));
}

#[tokio::test]
async fn a_plain_text_error_body_becomes_the_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(orders_path()))
        .respond_with(ResponseTemplate::new(422).set_body_string("qty must be > 0"))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .submit_order(&account(), &limit_order("text-1"))
        .await
        .unwrap_err();

    let ProviderError::Rejected(details) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(details.status, 422);
    assert_eq!(details.code, None);
    assert_eq!(details.message, "qty must be > 0");
}

#[tokio::test]
async fn bad_credentials_are_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "unauthorized"})))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).positions(&account()).await.unwrap_err();

    assert!(
        matches!(error, ProviderError::Unauthorized(_)),
        "got {error:?}"
    );
}

#[tokio::test]
async fn cancelling_sends_a_delete_and_reports_a_not_cancelable_order() {
    let server = MockServer::start().await;
    let order_id = Uuid::new_v4();
    Mock::given(method("DELETE"))
        .and(path(format!("{}/{order_id}", orders_path())))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{}/{order_id}", orders_path())))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"code": 42210000, "message": "order is not cancelable"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let alpaca = client(&server);

    alpaca.cancel_order(&account(), order_id).await.unwrap();
    let error = alpaca.cancel_order(&account(), order_id).await.unwrap_err();

    let ProviderError::Rejected(details) = error else {
        panic!("got {error:?}")
    };
    assert_eq!(details.message, "order is not cancelable");
}

#[tokio::test]
async fn rate_limited_reads_wait_and_retry() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_string("too many"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "positions")))
        .expect(1)
        .mount(&server)
        .await;

    let positions = client(&server).positions(&account()).await.unwrap();

    assert_eq!(positions.len(), 1);
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

#[test]
fn config_defaults_to_the_sandbox_and_names_missing_variables() {
    let config = AlpacaConfig::from_lookup(lookup(&[
        ("ALPACA_BROKER_API_KEY", "k"),
        ("ALPACA_BROKER_API_SECRET", "s"),
    ]))
    .unwrap();
    assert_eq!(
        config.base_url().as_str(),
        "https://broker-api.sandbox.alpaca.markets/"
    );

    let missing = AlpacaConfig::from_lookup(lookup(&[("ALPACA_BROKER_API_KEY", "k")])).unwrap_err();
    assert!(missing.to_string().contains("ALPACA_BROKER_API_SECRET"));

    let malformed = AlpacaConfig::from_lookup(lookup(&[
        ("ALPACA_BROKER_API_KEY", "k"),
        ("ALPACA_BROKER_API_SECRET", "s"),
        ("ALPACA_BROKER_BASE_URL", "not a url"),
    ]))
    .unwrap_err();
    assert!(malformed.to_string().contains("ALPACA_BROKER_BASE_URL"));
}

#[test]
fn client_order_ids_longer_than_alpaca_allows_are_refused() {
    assert!(AlpacaClientOrderId::parse("x".repeat(128)).is_ok());
    assert!(AlpacaClientOrderId::parse("x".repeat(129)).is_err());
    assert!(AlpacaClientOrderId::parse("").is_err());
}

#[tokio::test]
async fn the_secret_never_appears_in_debug_output_or_captured_logs() {
    let (logs, _guard) = LogCapture::start();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "unauthorized"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .mount(&server)
        .await;
    let alpaca = client(&server);

    let error = alpaca.account(&account()).await.unwrap_err();
    let placed = alpaca
        .submit_order(&account(), &limit_order("logs-1"))
        .await
        .unwrap();

    let captured = logs.text();
    assert!(
        captured.contains("createOrderForAccount"),
        "spans name the operation: {captured}"
    );
    for text in [
        format!("{alpaca:?}"),
        format!("{:?}", alpaca.config()),
        format!("{error:?}"),
        error.to_string(),
        format!("{placed:?}"),
        captured,
    ] {
        assert!(!text.contains(SECRET), "the secret leaked: {text}");
        assert!(
            !text.contains(&BASIC[6..]),
            "the encoded credentials leaked: {text}"
        );
    }
}

/// Orders as the spec's `getAllOrdersForAccount` pages them: newest first by submission time, `until`
/// exclusive, at most `limit`.
struct PagedOrders(Vec<Value>);

impl wiremock::Respond for PagedOrders {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let params: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let at = |name: &str| {
            params
                .get(name)
                .map(|text| chrono::DateTime::parse_from_rfc3339(text).unwrap())
        };
        let (after, until) = (at("after"), at("until"));
        let limit: usize = params["limit"].parse().unwrap();
        assert_eq!(params["direction"], "desc");
        let mut orders: Vec<&Value> = self
            .0
            .iter()
            .filter(|order| {
                let submitted =
                    chrono::DateTime::parse_from_rfc3339(order["submitted_at"].as_str().unwrap())
                        .unwrap();
                after.is_none_or(|after| submitted > after)
                    && until.is_none_or(|until| submitted < until)
            })
            .collect();
        orders.sort_by(|a, b| b["submitted_at"].as_str().cmp(&a["submitted_at"].as_str()));
        orders.truncate(limit);
        ResponseTemplate::new(200).set_body_json(orders)
    }
}

#[tokio::test]
async fn orders_sharing_a_submission_instant_across_pages_are_each_listed_once() {
    let server = MockServer::start().await;
    let template = fixture("alpaca", "orders")[0].clone();
    // Three orders share one instant, more than a page of two holds; one is older, one newer.
    let instants = [
        "2024-12-10T16:15:53.684952903Z",
        "2024-12-10T16:15:53.684952902Z",
        "2024-12-10T16:15:53.684952902Z",
        "2024-12-10T16:15:53.684952902Z",
        "2024-12-10T16:15:53.684952901Z",
    ];
    let orders: Vec<Value> = instants
        .iter()
        .map(|instant| {
            let mut order = template.clone();
            order["id"] = json!(Uuid::new_v4());
            order["submitted_at"] = json!(instant);
            order
        })
        .collect();
    Mock::given(method("GET"))
        .and(path(orders_path()))
        .respond_with(PagedOrders(orders.clone()))
        .mount(&server)
        .await;
    let query = AlpacaOrderQuery {
        status: AlpacaOrderStatusFilter::All,
        limit: Some(2),
        ..AlpacaOrderQuery::default()
    };

    let listed = client(&server).orders(&account(), &query).await.unwrap();

    let mut ids: Vec<String> = listed
        .iter()
        .map(|order| order.order.id.to_string())
        .collect();
    let mut expected: Vec<String> = orders
        .iter()
        .map(|order| order["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
}
