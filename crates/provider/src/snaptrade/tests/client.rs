//! The SnapTrade client against wiremock on 127.0.0.1: signed requests on the wire, every error shape,
//! retries only where safe, lenient parsing of the spec's examples, and no secret anywhere.
#![cfg(feature = "snaptrade")]

pub(super) mod spec;

use std::time::Duration;

use crate::ProviderError;
use crate::capability::{
    AccountRef, Aggregation, OrderRequest, OrderScope, OrderSize, PositionSide,
    ProviderConnectionId, Trading,
};
use crate::snaptrade::{
    OrderQuery, OrderState, SnapTradeClient, SnapTradeConfig, UserCredentials, signing,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary_domain::{
    AccountId, AuthorizationId, BrokerageOrderId, ConnectionStatus, ConnectionType, OrderAction,
    OrderStatus, OrderType, ProviderAccountId, SecurityType, SnapTradeUserId, SnapTradeUserSecret,
    Symbol, TimeInForce, Units, UserId,
};
use url::Url;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use crate::tests::support::{LogCapture, assert_no_secret, dec, fixture, fixture_text};

const CLIENT_ID: &str = "TRIBUTARY-TEST";
const CONSUMER_KEY: &str = "consumer-key-do-not-leak";
const USER_SECRET: &str = "user-secret-do-not-leak";
const ACCOUNT: &str = "917c8734-8470-4a3e-a18f-57c3f2ee6631";

fn client(server: &MockServer) -> SnapTradeClient {
    let config = SnapTradeConfig::new(CLIENT_ID, SecretString::from(CONSUMER_KEY))
        .unwrap()
        .with_base_url(Url::parse(&server.uri()).unwrap());
    SnapTradeClient::new(config)
        .unwrap()
        .with_retries(3, Duration::from_millis(1))
}

fn user() -> UserCredentials {
    UserCredentials::new(
        SnapTradeUserId::parse("user-1").unwrap(),
        SnapTradeUserSecret::new(SecretString::from(USER_SECRET)).unwrap(),
    )
}

fn account() -> ProviderAccountId {
    ProviderAccountId::parse(ACCOUNT).unwrap()
}

fn account_ref() -> AccountRef {
    AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: account(),
    }
}

fn raw_fixture(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture_text("snaptrade", name), "application/json")
}

/// Matches a request whose `Signature` is the consumer key's HMAC over its own path, query and body.
struct SignedWithConsumerKey;

impl Match for SignedWithConsumerKey {
    fn matches(&self, request: &Request) -> bool {
        let body: Option<Value> =
            (!request.body.is_empty()).then(|| serde_json::from_slice(&request.body).unwrap());
        let expected = signing::request_signature(
            &SecretString::from(CONSUMER_KEY),
            request.url.path(),
            request.url.query().unwrap_or(""),
            body.as_ref(),
        );
        request
            .headers
            .get("Signature")
            .is_some_and(|signature| signature.to_str().unwrap() == expected)
    }
}

fn snaptrade_error(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(body)
        .insert_header("X-Request-ID", "req-snap-1")
}

#[tokio::test]
async fn a_user_scoped_read_is_signed_and_carries_client_timestamp_and_user_in_the_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/accounts"))
        .and(query_param("clientId", CLIENT_ID))
        .and(query_param("userId", "user-1"))
        .and(query_param("userSecret", USER_SECRET))
        .and(SignedWithConsumerKey)
        .respond_with(raw_fixture("accounts"))
        .expect(1)
        .mount(&server)
        .await;

    let accounts = client(&server).list_user_accounts(&user()).await.unwrap();

    assert_eq!(accounts[0].id.as_deref(), Some(ACCOUNT));
    let request = &server.received_requests().await.unwrap()[0];
    let query = request.url.query().unwrap();
    assert!(
        query.starts_with("clientId=TRIBUTARY-TEST&timestamp="),
        "{query}"
    );
    let timestamp: i64 = request
        .url
        .query_pairs()
        .find(|(name, _)| name == "timestamp")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
}

#[tokio::test]
async fn a_body_is_signed_as_sent_and_decimals_go_out_as_python_writes_them() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/trade/place"))
        .and(SignedWithConsumerKey)
        .respond_with(raw_fixture("place_order"))
        .expect(1)
        .mount(&server)
        .await;
    let order = OrderRequest::limit(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("0.5").unwrap()),
        tributary_domain::Price::parse("150.50").unwrap(),
    )
    .unwrap();

    Trading::place_order(&client(&server), &user(), &account_ref(), &order)
        .await
        .unwrap();

    let request = &server.received_requests().await.unwrap()[0];
    let sent = String::from_utf8(request.body.clone()).unwrap();
    assert!(sent.contains(r#""price":150.5"#), "{sent}");
    assert!(sent.contains(r#""units":0.5"#), "{sent}");
    let body: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(body["symbol"], "AAPL");
    assert_eq!(body["order_type"], "Limit");
    assert!(uuid::Uuid::parse_str(body["client_order_id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn a_base_url_with_the_legacy_prefix_is_kept_and_signed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/authorizations"))
        .and(SignedWithConsumerKey)
        .respond_with(raw_fixture("authorizations"))
        .expect(1)
        .mount(&server)
        .await;
    let config = SnapTradeConfig::new(CLIENT_ID, SecretString::from(CONSUMER_KEY))
        .unwrap()
        .with_base_url(Url::parse(&format!("{}/api/v1", server.uri())).unwrap());
    let client = SnapTradeClient::new(config).unwrap();

    let connections = client.list_brokerage_authorizations(&user()).await.unwrap();

    assert_eq!(connections.len(), 1);
}

#[tokio::test]
async fn delete_user_sends_the_user_id_without_a_secret() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/snapTrade/deleteUser"))
        .and(query_param("userId", "user-1"))
        .and(SignedWithConsumerKey)
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"status": "deleted", "detail": "queued", "userId": "user-1"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;

    let deleted = client(&server)
        .delete_snaptrade_user(&SnapTradeUserId::parse("user-1").unwrap())
        .await
        .unwrap();

    assert_eq!(deleted.status.as_deref(), Some("deleted"));
    let request = &server.received_requests().await.unwrap()[0];
    assert!(!request.url.query().unwrap().contains("userSecret"));
}

async fn error_for(response: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/authorizations"))
        .respond_with(response)
        .mount(&server)
        .await;
    let client = client(&server).with_retries(1, Duration::from_millis(1));
    client
        .list_brokerage_authorizations(&user())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_bad_signature_in_either_body_shape_is_unauthorized_with_code_and_request_id() {
    for body in [
        json!({"detail": "Unable to verify signature sent", "code": 1076, "status_code": 401}),
        json!({"default_detail": "Unable to verify signature sent", "default_code": "1076"}),
    ] {
        let error = error_for(snaptrade_error(401, body)).await;
        let ProviderError::Unauthorized(detail) = error else {
            panic!("expected Unauthorized, got {error:?}");
        };
        assert_eq!(detail.status, 401);
        assert_eq!(detail.code.as_deref(), Some("1076"));
        assert_eq!(detail.message, "Unable to verify signature sent");
        assert_eq!(detail.request_id.as_deref(), Some("req-snap-1"));
    }
}

#[tokio::test]
async fn code_1076_is_unauthorized_even_under_another_status() {
    let error = error_for(snaptrade_error(
        403,
        json!({"detail": "Unable to verify signature sent", "code": "1076"}),
    ))
    .await;
    assert!(matches!(error, ProviderError::Unauthorized(_)), "{error:?}");
}

#[tokio::test]
async fn a_disabled_connection_is_connection_disabled() {
    let error = error_for(snaptrade_error(
        402,
        json!({"detail": "Unable to sync with brokerage account because the connection is disabled.", "code": "3003", "status_code": 402}),
    ))
    .await;
    let ProviderError::ConnectionDisabled(detail) = error else {
        panic!("expected ConnectionDisabled, got {error:?}");
    };
    assert_eq!(detail.code.as_deref(), Some("3003"));
}

#[tokio::test]
async fn a_retired_endpoint_is_gone() {
    let error = error_for(snaptrade_error(
        410,
        json!({"detail": "This endpoint is no longer available for your account."}),
    ))
    .await;
    assert!(matches!(error, ProviderError::Gone(_)), "{error:?}");
}

#[tokio::test]
async fn holdings_still_being_gathered_are_not_ready() {
    let error = error_for(snaptrade_error(
        425,
        json!({"detail": "Holdings are still being populated", "code": 3012}),
    ))
    .await;
    assert!(matches!(error, ProviderError::NotReady(_)), "{error:?}");
}

#[tokio::test]
async fn throttling_is_rate_limited_with_the_reset_wait() {
    let error = error_for(
        snaptrade_error(
            429,
            json!({"detail": "Request was throttled. Expected available in 7 seconds.", "status_code": 429, "code": "0000"}),
        )
        .insert_header("X-RateLimit-Reset", "7"),
    )
    .await;
    let ProviderError::RateLimited {
        detail,
        retry_after,
    } = error
    else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
    assert_eq!(detail.code.as_deref(), Some("0000"));
}

#[tokio::test]
async fn a_server_failure_is_upstream_and_not_implemented_keeps_its_error_text() {
    let error = error_for(snaptrade_error(
        500,
        json!({"detail": "Unexpected error", "code": 1000}),
    ))
    .await;
    assert!(matches!(error, ProviderError::Upstream(_)), "{error:?}");

    let error = error_for(snaptrade_error(
        501,
        json!({"error": "Not implemented for this brokerage"}),
    ))
    .await;
    let ProviderError::Upstream(detail) = error else {
        panic!("expected Upstream, got {error:?}");
    };
    assert_eq!(detail.message, "Not implemented for this brokerage");
}

#[tokio::test]
async fn a_missing_resource_in_the_default_shape_is_not_found() {
    let error = error_for(snaptrade_error(
        404,
        json!({"default_detail": "The requested resource does not exist.", "default_code": "1011"}),
    ))
    .await;
    let ProviderError::NotFound(detail) = error else {
        panic!("expected NotFound, got {error:?}");
    };
    assert_eq!(detail.code.as_deref(), Some("1011"));
}

#[tokio::test]
async fn an_error_body_in_no_documented_shape_keeps_its_text_and_its_status_kind() {
    let error =
        error_for(ResponseTemplate::new(502).set_body_raw("<html>Bad gateway</html>", "text/html"))
            .await;
    let ProviderError::Upstream(detail) = error else {
        panic!("expected Upstream, got {error:?}");
    };
    assert!(detail.message.contains("Bad gateway"));
}

#[tokio::test]
async fn a_success_body_that_does_not_parse_is_decode_with_the_raw_body() {
    let error =
        error_for(ResponseTemplate::new(200).set_body_raw("[{\"id\": 12", "application/json"))
            .await;
    let ProviderError::Decode {
        endpoint, raw_body, ..
    } = error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(endpoint, "listBrokerageAuthorizations");
    assert_eq!(raw_body, "[{\"id\": 12");
}

#[tokio::test]
async fn a_read_is_retried_after_a_server_failure() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/balances")))
        .respond_with(snaptrade_error(
            503,
            json!({"detail": "Brokerage unavailable", "code": 3002}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/balances")))
        .respond_with(raw_fixture("balances"))
        .mount(&server)
        .await;

    let balances = client(&server)
        .account_balances(&user(), &account())
        .await
        .unwrap();

    assert_eq!(balances[0].cash, Some(dec("300.71")));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_order_is_not_sent_again_after_a_server_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/trade/place"))
        .respond_with(snaptrade_error(
            500,
            json!({"detail": "Unexpected error", "code": 1000}),
        ))
        .mount(&server)
        .await;
    let order = OrderRequest::market(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("1").unwrap()),
    )
    .expect("an order for a positive size");

    let error = Trading::place_order(&client(&server), &user(), &account_ref(), &order)
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::Upstream(_)), "{error:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn register_user_is_sent_again_only_after_a_refusal_that_surely_did_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/snapTrade/registerUser"))
        .respond_with(snaptrade_error(
            429,
            json!({"detail": "throttled", "code": "0000"}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/snapTrade/registerUser"))
        .and(SignedWithConsumerKey)
        .respond_with(raw_fixture("register_user"))
        .mount(&server)
        .await;

    let user = client(&server)
        .register_snaptrade_user(&SnapTradeUserId::parse("snaptrade-user-123").unwrap())
        .await
        .unwrap();

    assert_eq!(user.user_id.as_str(), "snaptrade-user-123");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body, json!({"userId": "snaptrade-user-123"}));
}

#[tokio::test]
async fn register_user_is_not_repeated_after_a_server_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/snapTrade/registerUser"))
        .respond_with(snaptrade_error(500, json!({"detail": "Unexpected error"})))
        .mount(&server)
        .await;

    let error = client(&server)
        .register_snaptrade_user(&SnapTradeUserId::parse("user-1").unwrap())
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::Upstream(_)));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_specs_connections_and_accounts_become_domain_values() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/authorizations"))
        .respond_with(raw_fixture("authorizations"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/accounts"))
        .respond_with(raw_fixture("accounts"))
        .mount(&server)
        .await;
    let client = client(&server);

    let connections = Aggregation::connections(&client, &user()).await.unwrap();
    let accounts = Aggregation::accounts(&client, &user()).await.unwrap();

    let connection = &connections[0];
    assert_eq!(
        connection.provider_connection_id,
        ProviderConnectionId::Authorization(
            AuthorizationId::parse("87b24961-b51e-4db8-9226-f198f6518a89").unwrap()
        )
    );
    assert_eq!(connection.connection_type, ConnectionType::Trade);
    assert_eq!(connection.status, ConnectionStatus::Active);
    assert_eq!(
        connection.institution.as_ref().unwrap().as_str(),
        "Robinhood"
    );
    let account = &accounts[0];
    assert_eq!(account.provider_account_id.as_str(), ACCOUNT);
    assert_eq!(
        account.name.as_ref().unwrap().as_str(),
        "Robinhood Individual"
    );
    assert_eq!(account.account_subtype.as_ref().unwrap().as_str(), "Margin");
    assert_eq!(account.total_value.unwrap().get(), dec("15363.23"));
    assert_eq!(account.currency.as_ref().map(|c| c.as_str()), Some("USD"));
}

#[tokio::test]
async fn a_disabled_connection_is_reported_disabled_with_a_reason() {
    let server = MockServer::start().await;
    let mut authorizations = fixture("snaptrade", "authorizations");
    authorizations[0]["disabled"] = json!(true);
    Mock::given(method("GET"))
        .and(path("/authorizations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(authorizations))
        .mount(&server)
        .await;

    let connections = Aggregation::connections(&client(&server), &user())
        .await
        .unwrap();

    assert_eq!(connections[0].status, ConnectionStatus::Disabled);
    assert!(
        connections[0]
            .status_reason
            .as_ref()
            .unwrap()
            .contains("reconnect")
    );
}

#[tokio::test]
async fn stock_and_short_option_positions_come_from_positions_all() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/positions/all")))
        .respond_with(raw_fixture("positions_all"))
        .mount(&server)
        .await;

    let positions = crate::capability::BrokerageAccounts::account_positions(
        &client(&server),
        &user(),
        &account(),
    )
    .await
    .unwrap()
    .items;

    let stock = &positions[0];
    assert_eq!(stock.symbol.as_str(), "AAPL");
    assert_eq!(stock.quantity.get(), dec("10.5"));
    assert_eq!(stock.price.unwrap().get(), dec("123.45"));
    assert_eq!(stock.security_type, Some(SecurityType::Equity));
    assert_eq!(stock.side, PositionSide::Long);
    let option = &positions[1];
    assert_eq!(option.side, PositionSide::Short);
    assert_eq!(option.quantity.get(), dec("2"));
    assert_eq!(option.security_type, Some(SecurityType::Option));
    let contract = option.option_contract.as_ref().unwrap();
    assert_eq!(contract.underlying_symbol.as_str(), "AAPL");
    assert_eq!(contract.strike_price.get(), dec("240"));
    assert_eq!(contract.expiration_date.to_string(), "2026-12-18");
    // 2 contracts × 100 shares × 3.15
    assert_eq!(option.market_value.unwrap().get(), dec("630"));
}

#[tokio::test]
async fn orders_are_listed_with_state_and_days_and_keep_their_raw_json() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/orders")))
        .and(query_param("state", "open"))
        .and(query_param("days", "7"))
        .respond_with(raw_fixture("orders"))
        .expect(1)
        .mount(&server)
        .await;

    let records = client(&server)
        .account_orders(
            &user(),
            &account(),
            OrderQuery {
                state: OrderState::Open,
                days: Some(7),
            },
        )
        .await
        .unwrap();

    assert_eq!(records[0].fields.total_quantity, Some(dec("100")));
    assert_eq!(records[0].raw["brokerage_group_order_id"], "1234567890");
}

#[tokio::test]
async fn an_order_record_becomes_an_order_row_with_an_unknown_status_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/orders")))
        .respond_with(raw_fixture("orders"))
        .mount(&server)
        .await;

    let rows = Trading::list_orders(
        &client(&server),
        &user(),
        &account_ref(),
        crate::capability::OrderScope::All,
    )
    .await
    .unwrap()
    .items;

    let row = &rows[0];
    assert_eq!(
        row.brokerage_order_id.as_str(),
        "66a033fa-da74-4fcf-b527-feefdec9257e"
    );
    assert_eq!(row.symbol.as_str(), "VAB.TO");
    assert_eq!(row.status, OrderStatus::parse("NONE").unwrap());
    assert!(!row.status.is_known());
    assert_eq!(row.units.unwrap().get(), dec("100"));
    assert_eq!(row.filled_units.unwrap().get(), dec("80"));
    assert_eq!(row.average_fill_price.unwrap().get(), dec("12.34"));
    assert_eq!(
        row.placed_at.to_rfc3339(),
        "2024-07-30T22:51:49.746270+00:00"
    );
    assert_eq!(
        row.raw_order_data.as_ref().unwrap()["universal_symbol"]["figi_code"],
        "BBG000B9XRY4"
    );
}

#[tokio::test]
async fn a_days_window_beyond_ninety_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let error = client(&server)
        .account_orders(
            &user(),
            &account(),
            OrderQuery {
                state: OrderState::All,
                days: Some(91),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        ProviderError::InvalidInput { field: "days", .. }
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn order_impact_finds_the_universal_symbol_and_reports_value_fees_and_trade_id() {
    let server = MockServer::start().await;
    let mut symbols = fixture("snaptrade", "symbols");
    symbols[0]["symbol"] = json!("MVGP.U.TO");
    Mock::given(method("POST"))
        .and(path(format!("/accounts/{ACCOUNT}/symbols")))
        .respond_with(ResponseTemplate::new(200).set_body_json(symbols.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/trade/impact"))
        .and(SignedWithConsumerKey)
        .respond_with(raw_fixture("order_impact"))
        .mount(&server)
        .await;
    let order = OrderRequest::market(
        Symbol::parse("MVGP.U.TO").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("10.5").unwrap()),
    )
    .expect("an order for a positive size");

    let impact = Trading::order_impact(&client(&server), &user(), &account_ref(), &order)
        .await
        .unwrap();

    assert_eq!(
        impact.trade_id.as_deref(),
        Some("139e307a-82f7-4402-b39e-4da7baa87758")
    );
    // 10.5 × 31.33 = 328.965, within the money column's ten decimals
    assert_eq!(impact.estimated_value.unwrap().get(), dec("328.965"));
    assert_eq!(impact.estimated_fees.unwrap().get(), dec("8.52"));
    assert_eq!(impact.remaining_buying_power.unwrap().get(), dec("1.11"));
    let requests = server.received_requests().await.unwrap();
    let form: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(form["universal_symbol_id"], symbols[0]["id"]);
    assert_eq!(form["action"], "BUY");
    assert_eq!(form["order_type"], "Market");
    assert_eq!(form["time_in_force"], "Day");
}

#[tokio::test]
async fn cancel_posts_the_brokerage_order_id_to_the_trading_cancel_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/accounts/{ACCOUNT}/trading/cancel")))
        .and(SignedWithConsumerKey)
        .respond_with(raw_fixture("cancel_order"))
        .expect(1)
        .mount(&server)
        .await;

    Trading::cancel_order(
        &client(&server),
        &user(),
        &account_ref(),
        &BrokerageOrderId::parse("66a033fa-da74-4fcf-b527-feefdec9257e").unwrap(),
    )
    .await
    .unwrap();

    let request = &server.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"brokerage_order_id": "66a033fa-da74-4fcf-b527-feefdec9257e"})
    );
}

#[tokio::test]
async fn the_portal_link_asks_for_broker_trade_access_and_reconnect() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/snapTrade/login"))
        .and(SignedWithConsumerKey)
        .respond_with(raw_fixture("login"))
        .expect(1)
        .mount(&server)
        .await;
    let reconnect = AuthorizationId::parse("87b24961-b51e-4db8-9226-f198f6518a89").unwrap();
    let request = crate::capability::PortalRequest {
        broker: Some(tributary_domain::BrokerageSlug::parse("ROBINHOOD").unwrap()),
        connection_type: ConnectionType::Trade,
        reconnect: Some(reconnect),
        redirect_uri: None,
    };

    let link = crate::capability::ConnectionPortal::portal_url(&client(&server), &user(), &request)
        .await
        .unwrap();

    assert!(
        link.url
            .starts_with("https://app.snaptrade.com/snapTrade/redeemToken?token=")
    );
    assert_eq!(
        link.session_id.as_deref(),
        Some("cf371bb4-a475-4f17-ab94-d0fee699960d")
    );
    assert!(link.expires_at.unwrap() > chrono::Utc::now());
    let sent = &server.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body,
        json!({"broker": "ROBINHOOD", "connectionType": "trade", "reconnect": reconnect.to_string()})
    );
}

#[tokio::test]
async fn activities_page_through_each_account_behind_one_cursor() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/accounts"))
        .respond_with(raw_fixture("accounts"))
        .mount(&server)
        .await;
    let mut page = fixture("snaptrade", "activities");
    page["pagination"] = json!({"offset": 0, "limit": 1000, "total": 2});
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/activities")))
        .and(query_param("offset", "0"))
        .and(query_param("startDate", "2024-01-01"))
        .and(query_param("endDate", "2024-12-31"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page.clone()))
        .mount(&server)
        .await;
    page["pagination"] = json!({"offset": 1, "limit": 1000, "total": 2});
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/activities")))
        .and(query_param("offset", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&server)
        .await;
    let client = client(&server);
    let from = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();

    let first = Aggregation::transactions(&client, &user(), from, to, None)
        .await
        .unwrap();
    let second = Aggregation::transactions(&client, &user(), from, to, first.next.clone())
        .await
        .unwrap();

    let buy = &first.transactions[0];
    assert_eq!(buy.transaction_type, tributary_domain::TransactionType::Buy);
    assert_eq!(
        buy.amount.get(),
        dec("-263.82"),
        "the spec's example buy carries a positive amount; a buy's cash goes out"
    );
    assert_eq!(buy.quantity, Some(dec("5.2")));
    assert_eq!(buy.trade_date.to_string(), "2024-03-22");
    assert_eq!(
        buy.subtype.as_ref().map(|s| s.as_str()),
        Some("BUY_TO_OPEN")
    );
    assert!(first.next.is_some());
    assert_eq!(second.next, None);
}

#[tokio::test]
async fn no_secret_reaches_debug_errors_or_logs() {
    let (logs, _guard) = LogCapture::start();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/accounts"))
        .respond_with(snaptrade_error(
            401,
            json!({"detail": "Invalid userID or userSecret provided", "code": "1083"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/snapTrade/resetUserSecret"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!(r#"{{"userId": "user-1", "userSecret": "{USER_SECRET}""#),
            "application/json",
        ))
        .mount(&server)
        .await;
    let client = client(&server);

    let read_error = client.list_user_accounts(&user()).await.unwrap_err();
    let reset_error = client.reset_user_secret(&user()).await.unwrap_err();
    let unreachable = SnapTradeClient::new(
        SnapTradeConfig::new(CLIENT_ID, SecretString::from(CONSUMER_KEY))
            .unwrap()
            .with_base_url(Url::parse("http://127.0.0.1:9").unwrap()),
    )
    .unwrap()
    .with_retries(1, Duration::from_millis(1));
    let transport_error = unreachable.list_user_accounts(&user()).await.unwrap_err();

    assert!(matches!(read_error, ProviderError::Unauthorized(_)));
    assert!(matches!(reset_error, ProviderError::Decode { .. }));
    assert_no_secret(
        &[("user secret", USER_SECRET), ("consumer key", CONSUMER_KEY)],
        &[
            format!("{:?}", user()),
            format!("{:?}", client),
            format!("{read_error:?} {read_error}"),
            format!("{reset_error:?} {reset_error}"),
            format!("{transport_error:?} {transport_error}"),
            logs.text(),
        ],
    );
}

#[tokio::test]
async fn an_order_with_number_prices_and_no_order_type_is_told_by_its_prices() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/orders")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"[{"brokerage_order_id": 991, "status": "PARTIAL", "action": "SELL",
                 "universal_symbol": {"symbol": "SHOP.TO"}, "total_quantity": 3,
                 "filled_quantity": "1.5", "limit_price": 101.25, "stop_price": 100,
                 "order_type": null, "time_in_force": "MOO",
                 "time_placed": "2026-06-03T14:00:00Z"}]"#,
            "application/json",
        ))
        .mount(&server)
        .await;

    let rows = Trading::list_orders(
        &client(&server),
        &user(),
        &account_ref(),
        crate::capability::OrderScope::All,
    )
    .await
    .unwrap()
    .items;

    let row = &rows[0];
    assert_eq!(row.brokerage_order_id.as_str(), "991");
    assert_eq!(row.order_type, OrderType::StopLimit);
    assert_eq!(row.status, OrderStatus::PartiallyFilled);
    assert_eq!(row.action, OrderAction::Sell);
    assert_eq!(row.time_in_force, Some(TimeInForce::AtTheOpen));
    assert_eq!(row.limit_price.unwrap().get(), dec("101.25"));
    assert_eq!(row.stop_price.unwrap().get(), dec("100"));
    assert_eq!(row.filled_units.unwrap().get(), dec("1.5"));
}

#[tokio::test]
async fn a_position_without_units_is_left_out_with_its_id_and_field_and_the_rest_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/positions/all")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                {"instrument": {"kind": "stock", "symbol": "MSFT", "id": "1ef3a5d3-4a9b-40b2-b8d1-cc35f74d6324"}, "units": "3", "price": "400"},
                {"instrument": {"kind": "stock", "symbol": "AAPL", "id": "899e2697-1d38-4c07-91ee-c16a2b1ce5c9"}},
                {"instrument": {"kind": "stock", "raw_symbol": "VAB"}, "units": "-1"},
            ],
            "data_freshness": {"as_of": "2026-06-02T14:30:00+00:00"}
        })))
        .mount(&server)
        .await;

    let listing = crate::capability::BrokerageAccounts::account_positions(
        &client(&server),
        &user(),
        &account(),
    )
    .await
    .unwrap();

    let symbols: Vec<&str> = listing.items.iter().map(|p| p.symbol.as_str()).collect();
    assert_eq!(symbols, ["MSFT", "VAB"]);
    let [left_out] = listing.left_out.as_slice() else {
        panic!("expected one left out, got {:?}", listing.left_out);
    };
    assert_eq!(left_out.item, "position");
    assert_eq!(
        left_out.provider_id.as_deref(),
        Some("899e2697-1d38-4c07-91ee-c16a2b1ce5c9")
    );
    assert_eq!(left_out.field, "positions[1].units");
    assert_eq!(left_out.reason, "is missing");
}

#[tokio::test]
async fn an_order_without_a_symbol_is_left_out_with_its_brokerage_order_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/orders")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"brokerage_order_id": "66844", "status": "EXECUTED", "action": "BUY",
             "universal_symbol": {"symbol": "AAPL"}, "time_placed": "2024-07-30T22:51:49.746270Z"},
            {"brokerage_order_id": "66845", "status": "EXECUTED", "action": "BUY",
             "time_placed": "2024-07-30T22:51:49.746270Z"},
        ])))
        .mount(&server)
        .await;

    let listing = Trading::list_orders(&client(&server), &user(), &account_ref(), OrderScope::All)
        .await
        .unwrap();

    assert_eq!(listing.items.len(), 1);
    assert_eq!(listing.left_out.len(), 1);
    assert_eq!(listing.left_out[0].provider_id.as_deref(), Some("66845"));
    assert_eq!(
        listing.left_out[0].field,
        "orders[1].universal_symbol.symbol"
    );
}

/// SnapTrade's figures are kept to the last digit: a crypto position's 9-decimal units and a price of 10
/// decimals are read as sent, while a price with one decimal more than the column keeps leaves its position
/// out naming the field, never rounded. The market value is units × price worked out here, so it is rounded to
/// the money column as PostgreSQL would.
#[tokio::test]
async fn a_positions_figures_are_kept_to_the_last_digit_or_the_position_left_out_never_rounded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/positions/all")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                {"instrument": {"kind": "crypto", "symbol": "BTC", "id": "1ef3a5d3-4a9b-40b2-b8d1-cc35f74d6324"},
                 "units": "0.123456789", "price": 64123.1234567891, "cost_basis": 7000.00000001},
                {"instrument": {"kind": "crypto", "symbol": "SHIB", "id": "899e2697-1d38-4c07-91ee-c16a2b1ce5c9"},
                 "units": "1000000", "price": 0.00001234567891},
            ],
            "data_freshness": {"as_of": "2026-06-02T14:30:00+00:00"}
        })))
        .mount(&server)
        .await;

    let listing = crate::capability::BrokerageAccounts::account_positions(
        &client(&server),
        &user(),
        &account(),
    )
    .await
    .unwrap();

    let [btc] = listing.items.as_slice() else {
        panic!("expected one position, got {:?}", listing.items);
    };
    assert_eq!(btc.quantity.get(), dec("0.123456789"));
    assert_eq!(btc.price.unwrap().get(), dec("64123.1234567891"));
    assert_eq!(btc.cost_basis.unwrap().get(), dec("7000.00000001"));
    // 0.123456789 × 64123.1234567891 = 7916.4349226257625361999, to ten decimals.
    assert_eq!(btc.market_value.unwrap().get(), dec("7916.4349226258"));
    let [left_out] = listing.left_out.as_slice() else {
        panic!("expected one left out, got {:?}", listing.left_out);
    };
    assert_eq!(
        left_out.provider_id.as_deref(),
        Some("899e2697-1d38-4c07-91ee-c16a2b1ce5c9")
    );
    assert_eq!(left_out.field, "positions[1].price");
    assert!(
        left_out.reason.contains("more than the 10 decimal places"),
        "{left_out}"
    );
}

#[tokio::test]
async fn an_order_whose_units_have_more_decimals_than_the_column_is_left_out_never_rounded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/orders")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"brokerage_order_id": "66844", "status": "EXECUTED", "action": "BUY",
             "universal_symbol": {"symbol": "BTC"}, "time_placed": "2024-07-30T22:51:49.746270Z",
             "total_quantity": "0.123456789", "filled_quantity": "0.123456789",
             "execution_price": "64123.1234567891"},
            {"brokerage_order_id": "66845", "status": "EXECUTED", "action": "BUY",
             "universal_symbol": {"symbol": "BTC"}, "time_placed": "2024-07-30T22:51:49.746270Z",
             "total_quantity": "0.12345678901"},
        ])))
        .mount(&server)
        .await;

    let listing = Trading::list_orders(&client(&server), &user(), &account_ref(), OrderScope::All)
        .await
        .unwrap();

    let [kept] = listing.items.as_slice() else {
        panic!("expected one order, got {:?}", listing.items);
    };
    assert_eq!(kept.units.unwrap().get(), dec("0.123456789"));
    assert_eq!(kept.filled_units.unwrap().get(), dec("0.123456789"));
    assert_eq!(
        kept.average_fill_price.unwrap().get(),
        dec("64123.1234567891")
    );
    assert_eq!(listing.left_out.len(), 1);
    assert_eq!(listing.left_out[0].provider_id.as_deref(), Some("66845"));
    assert_eq!(listing.left_out[0].field, "orders[1].total_quantity");
}

#[tokio::test]
async fn find_order_is_always_an_unknown_outcome_and_asks_snaptrade_nothing() {
    // snaptrade-openapi.yaml, ClientOrderID: SnapTrade "does not enforce uniqueness server-side", and
    // AccountOrderRecord carries no client_order_id: nothing SnapTrade answers can prove an order placed or
    // absent by our id, so the caller must not send it again.
    let server = MockServer::start().await;
    let id =
        tributary_domain::ClientOrderId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap();

    let outcome = Trading::find_order(&client(&server), &user(), &account_ref(), &id).await;

    let Err(ProviderError::OutcomeUnknown {
        provider,
        client_order_id,
        ..
    }) = &outcome
    else {
        panic!("got {outcome:?}")
    };
    assert_eq!(*provider, tributary_domain::Provider::SnapTrade);
    assert_eq!(client_order_id, id.as_str());
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// `fixtures/snaptrade/<name>.json` with `edit` applied to its first element.
fn edited_fixture(name: &str, edit: impl FnOnce(&mut Value)) -> ResponseTemplate {
    let mut body = fixture("snaptrade", name);
    edit(&mut body[0]);
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn connection_ids_are_the_listed_authorizations_that_carry_a_readable_id() {
    let mut listed = fixture("snaptrade", "authorizations");
    let first = listed[0].clone();
    let mut without_id = first.clone();
    without_id.as_object_mut().unwrap().remove("id");
    let mut unreadable = first.clone();
    unreadable["id"] = json!("not-a-uuid");
    listed = json!([first, without_id, unreadable]);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/authorizations"))
        .and(SignedWithConsumerKey)
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .expect(1)
        .mount(&server)
        .await;

    let ids = client(&server).connection_ids(&user()).await.unwrap();

    assert_eq!(
        ids,
        [AuthorizationId::parse("87b24961-b51e-4db8-9226-f198f6518a89").unwrap()]
    );
}

#[tokio::test]
async fn data_freshness_mode_is_read_as_the_sdks_object_and_as_the_specs_string() {
    // snaptrade-python-sdk 13.0.49's BrokerageAuthorizationDataFreshnessMode: {institution, snaptrade}, each
    // `realtime` or `delayed`; specs/snaptrade-openapi.yaml's BrokerageAuthorization: a string.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/authorizations"))
        .respond_with(edited_fixture("authorizations", |authorization| {
            authorization["data_freshness_mode"] =
                json!({"institution": "realtime", "snaptrade": "delayed"});
        }))
        .mount(&server)
        .await;
    // The spec's own example, with the string, answered by another server.
    let older_server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/authorizations"))
        .respond_with(raw_fixture("authorizations"))
        .mount(&older_server)
        .await;
    let client = client(&server);

    let newer = client.list_brokerage_authorizations(&user()).await.unwrap();
    let mode = newer[0].data_freshness_mode.as_ref().unwrap();
    assert_eq!(mode.institution.as_deref(), Some("realtime"));
    assert_eq!(mode.snaptrade.as_deref(), Some("delayed"));
    assert!(mode.is_delayed());
    let connections = Aggregation::connections(&client, &user()).await.unwrap();
    assert_eq!(connections.len(), 1);

    let older = self::client(&older_server)
        .list_brokerage_authorizations(&user())
        .await
        .unwrap();
    let older = older
        .into_iter()
        .find(|found| found.id.as_deref() == Some("87b24961-b51e-4db8-9226-f198f6518a89"))
        .unwrap();
    let mode = older.data_freshness_mode.unwrap();
    assert_eq!(mode.institution, None);
    assert_eq!(mode.snaptrade.as_deref(), Some("realtime"));
    assert!(!mode.is_delayed());
}

#[tokio::test]
async fn opening_and_funding_dates_are_read_as_date_times_bare_dates_or_null() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/accounts"))
        .respond_with(edited_fixture("accounts", |account| {
            account["opening_date"] = json!("2021-01-01");
            account["funding_date"] = json!(null);
        }))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}")))
        .respond_with(
            raw_fixture("accounts").set_body_json(fixture("snaptrade", "accounts")[0].clone()),
        )
        .mount(&server)
        .await;
    let client = client(&server);

    let bare = client.list_user_accounts(&user()).await.unwrap();
    assert_eq!(
        bare[0].opening_date.unwrap().to_rfc3339(),
        "2021-01-01T00:00:00+00:00"
    );
    assert_eq!(bare[0].funding_date, None);
    assert_eq!(
        Aggregation::accounts(&client, &user()).await.unwrap().len(),
        1
    );

    let spec_shape = client.account_details(&user(), &account()).await.unwrap();
    assert_eq!(
        spec_shape.opening_date.unwrap().to_rfc3339(),
        "2024-07-20T09:30:00+00:00"
    );
    assert_eq!(
        spec_shape.funding_date.unwrap().to_rfc3339(),
        "2024-07-25T12:00:00+00:00"
    );
}

/// SnapTrade's account-level limit (snaptrade-python-sdk 13.0.49's API description, "Rate limiting"): 10
/// requests a minute per account, reported in `X-RateLimit-Account-Limit`, `-Remaining` and `-Reset` (seconds);
/// "On a 429 … `X-RateLimit-Account-Remaining: 0` means the account-level one. Wait for the corresponding
/// `*-Reset` value".
fn account_budget(response: ResponseTemplate, remaining: u32, reset_secs: u32) -> ResponseTemplate {
    response
        .insert_header("X-RateLimit-Account-Limit", "10")
        .insert_header(
            "X-RateLimit-Account-Remaining",
            remaining.to_string().as_str(),
        )
        .insert_header("X-RateLimit-Account-Reset", reset_secs.to_string().as_str())
}

#[tokio::test]
async fn a_429_from_the_account_limit_waits_for_the_accounts_reset() {
    let server = MockServer::start().await;
    let throttled = snaptrade_error(
        429,
        json!({"detail": "Request was throttled.", "status_code": 429, "code": "0000"}),
    )
    .insert_header("X-RateLimit-Limit", "250")
    .insert_header("X-RateLimit-Remaining", "200")
    .insert_header("X-RateLimit-Reset", "3");
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/balances")))
        .respond_with(account_budget(throttled, 0, 42))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);

    let error = client
        .account_balances(&user(), &account())
        .await
        .unwrap_err();

    let ProviderError::RateLimited { retry_after, .. } = error else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert_eq!(retry_after, Some(Duration::from_secs(42)));
}

#[tokio::test]
async fn an_exhausted_account_budget_holds_that_accounts_next_call_but_not_another_accounts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{ACCOUNT}/balances")))
        .respond_with(account_budget(raw_fixture("balances"), 0, 30))
        .expect(1)
        .mount(&server)
        .await;
    let other = "0f4e3a36-2c1d-4c7b-9a55-7f3a3b4b1c2d";
    Mock::given(method("GET"))
        .and(path(format!("/accounts/{other}/balances")))
        .respond_with(account_budget(raw_fixture("balances"), 9, 60))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let other = ProviderAccountId::parse(other).unwrap();

    client.account_balances(&user(), &account()).await.unwrap();
    let held = client
        .account_budget_wait(&account())
        .expect("the account's budget is spent");
    assert!(held > Duration::from_secs(25) && held <= Duration::from_secs(30));
    // A clone shares the budget, as it shares the connection pool.
    let error = client
        .clone()
        .account_balances(&user(), &account())
        .await
        .unwrap_err();
    let ProviderError::RateLimited { retry_after, .. } = error else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert!(retry_after.is_some_and(|wait| wait > Duration::from_secs(25)));
    client.account_balances(&user(), &other).await.unwrap();
    client.account_balances(&user(), &other).await.unwrap();
}
