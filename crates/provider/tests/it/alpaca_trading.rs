//! Alpaca as a `Trading` and `BrokerageAccounts` provider: domain orders in, domain rows out, against
//! wiremock on 127.0.0.1.
#![cfg(feature = "alpaca")]

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tributary_domain::{
    BrokerageOrderId, ClientOrderId, OrderAction, OrderStatus, OrderType, Price, Provider,
    ProviderAccountId, Symbol, TimeInForce, Units,
};
use tributary_provider::ProviderError;
use tributary_provider::capability::{
    BrokerageAccounts, OrderRequest, OrderScope, OrderSize, PositionSide, Trading,
};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{dec, fixture};

use crate::support::alpaca::{ACCOUNT, account, client};

fn limit_buy(units: &str, limit: &str) -> OrderRequest {
    OrderRequest::limit(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse(units).unwrap()),
        Price::parse(limit).unwrap(),
    )
    .unwrap()
    .with_time_in_force(TimeInForce::GoodTillCanceled)
}

async fn mock(server: &MockServer, verb: &str, route: &str, body: Value) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_domain_order_is_sent_in_alpacas_words_and_comes_back_as_the_row_to_record() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/trading/accounts/{ACCOUNT}/orders")))
        .and(body_json(json!({
            "symbol": "AAPL", "qty": "2", "side": "buy", "type": "limit", "time_in_force": "gtc",
            "limit_price": "150", "client_order_id": "tributary-1",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;
    let account = account();
    let order =
        limit_buy("2", "150").with_client_order_id(ClientOrderId::parse("tributary-1").unwrap());

    let row = client(&server)
        .place_order(&(), &account, &order)
        .await
        .unwrap();

    assert_eq!(row.user_id, account.user_id);
    assert_eq!(row.account_id, account.account_id);
    assert_eq!(
        row.brokerage_order_id.as_str(),
        "7b08df51-c1ac-453c-99f9-323a5f075f0d"
    );
    assert_eq!(row.action, OrderAction::Buy);
    assert_eq!(row.order_type, OrderType::Limit);
    assert_eq!(row.time_in_force, Some(TimeInForce::GoodTillCanceled));
    assert_eq!(row.status, OrderStatus::Accepted);
    assert_eq!(row.units.map(Units::get), Some(dec("2")));
    assert_eq!(row.limit_price.map(Price::get), Some(dec("150")));
    assert_eq!(row.filled_units.map(Units::get), Some(Decimal::ZERO));
    assert_eq!(
        row.raw_order_data.as_ref().unwrap()["client_order_id"],
        "5680c4bc-9ac1-4a12-a44c-df427ba53032"
    );
}

#[tokio::test]
async fn an_order_alpaca_cannot_express_is_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    // A trailing stop cannot be built through `OrderRequest`'s constructors; the conversion's refusal of
    // one is the unit test `alpaca::convert::tests::a_trailing_stop_is_refused_naming_the_order_type`.
    let option_open = OrderRequest::market(
        Symbol::parse("AAPL").unwrap(),
        OrderAction::BuyToOpen,
        OrderSize::Units(Units::parse("1").unwrap()),
    )
    .expect("an order for a positive size");

    for (order, field) in [(option_open, "action")] {
        let error = client(&server)
            .place_order(&(), &account(), &order)
            .await
            .unwrap_err();
        let ProviderError::InvalidInput { field: named, .. } = error else {
            panic!("got {error:?}")
        };
        assert_eq!(named, field);
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn orders_are_listed_by_scope_and_keep_unknown_statuses() {
    let server = MockServer::start().await;
    let mut order = fixture("alpaca", "order_equity");
    order["status"] = json!("held_for_review");
    Mock::given(method("GET"))
        .and(path(format!("/v1/trading/accounts/{ACCOUNT}/orders")))
        .and(query_param("status", "closed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([order])))
        .expect(1)
        .mount(&server)
        .await;

    let rows = client(&server)
        .list_orders(&(), &account(), OrderScope::Closed)
        .await
        .unwrap()
        .items;

    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status.as_str(), "held_for_review");
    assert!(!rows[0].status.is_known());
}

#[tokio::test]
async fn cancelling_by_a_brokerage_order_id_that_is_not_alpacas_is_refused() {
    let server = MockServer::start().await;

    let error = Trading::cancel_order(
        &client(&server),
        &(),
        &account(),
        &BrokerageOrderId::parse("not-a-uuid").unwrap(),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(
            error,
            ProviderError::InvalidInput {
                field: "brokerage_order_id",
                ..
            }
        ),
        "got {error:?}"
    );
}

#[tokio::test]
async fn cancelling_sends_the_delete_for_that_order() {
    let server = MockServer::start().await;
    let order_id = "7b08df51-c1ac-453c-99f9-323a5f075f0d";
    Mock::given(method("DELETE"))
        .and(path(format!(
            "/v1/trading/accounts/{ACCOUNT}/orders/{order_id}"
        )))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    Trading::cancel_order(
        &client(&server),
        &(),
        &account(),
        &BrokerageOrderId::parse(order_id).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_impact_of_a_limit_buy_is_its_value_against_buying_power() {
    let server = MockServer::start().await;
    let route = format!("/v1/trading/accounts/{ACCOUNT}/account");
    mock(&server, "GET", &route, fixture("alpaca", "trading_account")).await;

    let impact = client(&server)
        .order_impact(&(), &account(), &limit_buy("2", "150"))
        .await
        .unwrap();

    assert_eq!(impact.estimated_value.unwrap().get(), dec("300.00"));
    assert_eq!(impact.buying_power.unwrap().get(), dec("103556.8572572922"));
    assert_eq!(
        impact.remaining_buying_power.unwrap().get(),
        dec("103256.8572572922")
    );
    assert!(impact.warnings.is_empty(), "{:?}", impact.warnings);
}

#[tokio::test]
async fn an_order_beyond_buying_power_or_on_a_blocked_account_is_warned_about() {
    let server = MockServer::start().await;
    let mut balances = fixture("alpaca", "trading_account");
    balances["trading_blocked"] = json!(true);
    let route = format!("/v1/trading/accounts/{ACCOUNT}/account");
    mock(&server, "GET", &route, balances).await;

    let impact = client(&server)
        .order_impact(&(), &account(), &limit_buy("1000", "150"))
        .await
        .unwrap();

    assert!(
        impact
            .remaining_buying_power
            .unwrap()
            .get()
            .is_sign_negative()
    );
    assert_eq!(
        impact.warnings,
        [
            "trading is blocked on the account",
            "the order exceeds the account's buying power"
        ]
    );
}

#[tokio::test]
async fn the_brokerage_account_and_its_positions_are_domain_values() {
    let server = MockServer::start().await;
    mock(
        &server,
        "GET",
        &format!("/v1/accounts/{ACCOUNT}"),
        fixture("alpaca", "account"),
    )
    .await;
    mock(
        &server,
        "GET",
        &format!("/v1/trading/accounts/{ACCOUNT}/account"),
        fixture("alpaca", "trading_account"),
    )
    .await;
    let mut positions = fixture("alpaca", "positions");
    let mut short = positions[0].clone();
    short["symbol"] = json!("TSLA");
    short["side"] = json!("short");
    short["qty"] = json!("-3");
    short["market_value"] = json!("-540.30");
    positions.as_array_mut().unwrap().push(short);
    mock(
        &server,
        "GET",
        &format!("/v1/trading/accounts/{ACCOUNT}/positions"),
        positions,
    )
    .await;
    let alpaca = client(&server);
    let id = ProviderAccountId::parse(ACCOUNT).unwrap();

    let info = alpaca.brokerage_account(&(), &id).await.unwrap();
    let positions = alpaca.account_positions(&(), &id).await.unwrap().items;

    assert_eq!(info.provider, Provider::Alpaca);
    assert_eq!(info.account_type.as_str(), "trading");
    assert_eq!(info.total_value.unwrap().get(), dec("28059.3882330664"));
    assert_eq!(info.cash.unwrap().get(), dec("24861.91"));
    assert_eq!(positions.len(), 2);
    assert_eq!(positions[0].side, PositionSide::Long);
    assert_eq!(positions[0].quantity.get(), dec("4"));
    assert_eq!(positions[1].side, PositionSide::Short);
    assert_eq!(positions[1].quantity.get(), dec("3"));
    assert_eq!(positions[1].market_value.unwrap().get(), dec("540.30"));
}

fn by_client_order_id() -> String {
    format!("/v1/trading/accounts/{ACCOUNT}/orders:by_client_order_id")
}

#[tokio::test]
async fn find_order_returns_the_order_alpaca_holds_under_the_client_order_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id()))
        .and(query_param("client_order_id", "tributary-7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("alpaca", "order_equity")))
        .expect(1)
        .mount(&server)
        .await;
    let account = account();

    let found = client(&server)
        .find_order(&(), &account, &ClientOrderId::parse("tributary-7").unwrap())
        .await
        .unwrap()
        .expect("the order Alpaca holds");

    assert_eq!(found.account_id, account.account_id);
    assert_eq!(
        found.brokerage_order_id.as_str(),
        "7b08df51-c1ac-453c-99f9-323a5f075f0d"
    );
}

#[tokio::test]
async fn find_order_reads_alpacas_404_as_proof_the_order_is_absent() {
    // Spec: getOrderByClientOrderIdForAccount answers `'404': $ref NotFound` ("Resource does not exist.").
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id()))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": 40410000, "message": "order not found"})),
        )
        .mount(&server)
        .await;

    let found = client(&server)
        .find_order(
            &(),
            &account(),
            &ClientOrderId::parse("never-sent").unwrap(),
        )
        .await
        .unwrap();

    assert_eq!(found, None);
}

#[tokio::test]
async fn find_order_that_gets_no_clear_answer_is_an_error_never_absence() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_client_order_id()))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "forbidden"})))
        .mount(&server)
        .await;

    let outcome = client(&server)
        .find_order(&(), &account(), &ClientOrderId::parse("unclear").unwrap())
        .await;

    assert!(
        matches!(outcome, Err(ProviderError::Rejected(_))),
        "got {outcome:?}"
    );
}
