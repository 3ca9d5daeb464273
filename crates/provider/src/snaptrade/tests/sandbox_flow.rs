//! The SnapTrade client driven end to end against `tributary-sandbox`, which checks every signature the
//! way SnapTrade does: register → portal link (fetching it completes the connection) → connections →
//! accounts → positions → order → cancel, and the refusals a real user meets on the way.
#![cfg(feature = "snaptrade")]

use std::time::Duration;

use crate::ProviderError;
use crate::capability::{
    AccountRef, Aggregation, ConnectionPortal, OrderRequest, OrderScope, OrderSize, PortalRequest,
    ProviderConnectionId, Trading,
};
use crate::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use secrecy::SecretString;
use tributary_domain::{
    AccountId, BrokerageSlug, ConnectionStatus, ConnectionType, OrderAction, OrderStatus, Price,
    ProviderAccountId, Symbol, TimeInForce, Units, UserId,
};
use tributary_sandbox::{Sandbox, SeedConnection};
use url::Url;
use uuid::Uuid;

fn client(sandbox: &Sandbox) -> SnapTradeClient {
    let snaptrade = sandbox.snaptrade();
    let config = SnapTradeConfig::new(
        snaptrade.client_id(),
        SecretString::from(snaptrade.consumer_key()),
    )
    .unwrap()
    .with_base_url(Url::parse(&sandbox.snaptrade_base_url()).unwrap());
    SnapTradeClient::new(config)
        .unwrap()
        .with_retries(3, Duration::from_millis(5))
}

/// Registers a user and connects a brokerage through the portal, as the user would.
async fn connected_user(
    sandbox: &Sandbox,
    client: &SnapTradeClient,
    connection_type: ConnectionType,
) -> (UserId, UserCredentials) {
    let user_id = UserId::generate();
    let credentials = ConnectionPortal::register_user(client, user_id)
        .await
        .unwrap();
    let request = PortalRequest {
        broker: Some(BrokerageSlug::parse("ALPACA").unwrap()),
        connection_type,
        reconnect: None,
        redirect_uri: None,
    };
    let link = client.portal_url(&credentials, &request).await.unwrap();
    let portal = reqwest::get(&link.url).await.unwrap();
    assert!(portal.status().is_success(), "{}", portal.status());
    assert!(link.url.starts_with(&sandbox.snaptrade_base_url()));
    (user_id, credentials)
}

fn account_ref(user: UserId, account: &ProviderAccountId) -> AccountRef {
    AccountRef {
        user_id: user,
        account_id: AccountId::generate(),
        provider_account_id: account.clone(),
    }
}

fn limit_buy(ticker: &str, limit: &str) -> OrderRequest {
    OrderRequest::limit(
        Symbol::parse(ticker).unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("2").unwrap()),
        Price::parse(limit).unwrap(),
    )
    .unwrap()
    .with_time_in_force(TimeInForce::GoodTillCanceled)
}

#[tokio::test]
async fn register_portal_connection_accounts_positions_order_and_cancel_go_through_the_sandbox() {
    let sandbox = Sandbox::start().await;
    let client = client(&sandbox);

    let (user, credentials) = connected_user(&sandbox, &client, ConnectionType::Trade).await;

    let connections = Aggregation::connections(&client, &credentials)
        .await
        .unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].connection_type, ConnectionType::Trade);
    assert_eq!(connections[0].status, ConnectionStatus::Active);
    let ProviderConnectionId::Authorization(authorization) =
        connections[0].provider_connection_id.clone()
    else {
        panic!("a SnapTrade connection is an authorization");
    };

    let accounts = Aggregation::accounts(&client, &credentials).await.unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|account| {
        account.provider_connection_id == Some(ProviderConnectionId::Authorization(authorization))
    }));

    let positions = Aggregation::positions(&client, &credentials)
        .await
        .unwrap()
        .items;
    assert!(positions.len() >= 6, "{} positions", positions.len());
    assert!(
        positions
            .iter()
            .any(|position| position.option_contract.is_some())
    );

    let account = account_ref(user, &accounts[0].provider_account_id);
    let order = limit_buy("AAPL", "1.00");
    let placed = client
        .place_order(&credentials, &account, &order)
        .await
        .unwrap();
    assert_eq!(placed.status, OrderStatus::Accepted);
    assert_eq!(placed.symbol.as_str(), "AAPL");
    assert_eq!(
        placed.units.unwrap().get(),
        Units::parse("2").unwrap().get()
    );
    assert!(placed.raw_order_data.is_some());

    let open = client
        .list_orders(&credentials, &account, OrderScope::Open)
        .await
        .unwrap()
        .items;
    assert!(
        open.iter()
            .any(|row| row.brokerage_order_id == placed.brokerage_order_id)
    );

    Trading::cancel_order(&client, &credentials, &account, &placed.brokerage_order_id)
        .await
        .unwrap();
    let closed = client
        .list_orders(&credentials, &account, OrderScope::Closed)
        .await
        .unwrap()
        .items;
    let cancelled = closed
        .iter()
        .find(|row| row.brokerage_order_id == placed.brokerage_order_id)
        .expect("the cancelled order is listed as closed");
    assert_eq!(cancelled.status, OrderStatus::Canceled);

    ConnectionPortal::remove_connection(&client, &credentials, &authorization)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_checked_market_order_is_placed_by_its_trade_id_and_executes() {
    let sandbox = Sandbox::start().await;
    let client = client(&sandbox);
    let (user, credentials) = connected_user(&sandbox, &client, ConnectionType::Trade).await;
    let accounts = Aggregation::accounts(&client, &credentials).await.unwrap();
    let account = account_ref(user, &accounts[0].provider_account_id);
    let order = OrderRequest::market(
        Symbol::parse("MSFT").unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("1").unwrap()),
    )
    .expect("an order for a positive size");

    let impact = Trading::order_impact(&client, &credentials, &account, &order)
        .await
        .unwrap();
    let trade_id = impact.trade_id.expect("a checked trade has an id");
    let record = client
        .place_checked_trade(&credentials, &trade_id, None)
        .await
        .unwrap();

    assert_eq!(record.fields.status.as_deref(), Some("EXECUTED"));
    let again = client
        .place_checked_order(&credentials, &account, &trade_id, None)
        .await
        .unwrap_err();
    assert!(matches!(again, ProviderError::Rejected(_)), "{again:?}");
}

#[tokio::test]
async fn a_read_only_connection_refuses_to_trade() {
    let sandbox = Sandbox::start().await;
    let client = client(&sandbox);
    let (user, credentials) = connected_user(&sandbox, &client, ConnectionType::Read).await;
    let accounts = Aggregation::accounts(&client, &credentials).await.unwrap();
    let account = account_ref(user, &accounts[0].provider_account_id);

    let error = client
        .place_order(&credentials, &account, &limit_buy("AAPL", "1.00"))
        .await
        .unwrap_err();

    let ProviderError::Rejected(detail) = error else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!(detail.status, 403);
    assert_eq!(detail.code.as_deref(), Some("1141"));
}

#[tokio::test]
async fn a_broken_connection_is_reported_and_refuses_to_refresh() {
    let sandbox = Sandbox::start().await;
    let client = client(&sandbox);
    let seeded_user = sandbox.snaptrade().seed_user("seeded-user");
    let seeded = sandbox
        .snaptrade()
        .seed_connection(&seeded_user.user_id, SeedConnection::new(1, 2));
    let credentials = UserCredentials::new(
        tributary_domain::SnapTradeUserId::parse(&seeded_user.user_id).unwrap(),
        tributary_domain::SnapTradeUserSecret::new(SecretString::from(
            seeded_user.user_secret.clone(),
        ))
        .unwrap(),
    );
    assert!(
        sandbox
            .snaptrade()
            .disable_connection(seeded.authorization_id)
    );

    let connections = Aggregation::connections(&client, &credentials)
        .await
        .unwrap();
    let refresh = client
        .refresh_connection(
            &credentials,
            &tributary_domain::AuthorizationId::new(seeded.authorization_id),
        )
        .await
        .unwrap_err();

    assert_eq!(connections[0].status, ConnectionStatus::Disabled);
    assert!(
        matches!(refresh, ProviderError::ConnectionDisabled(_)),
        "{refresh:?}"
    );
    assert_eq!(
        sandbox.snaptrade().refresh_count(seeded.authorization_id),
        0
    );
}

#[tokio::test]
async fn reads_ride_out_rate_limits_and_server_errors_but_orders_are_sent_once() {
    let sandbox = Sandbox::start().await;
    let client = client(&sandbox);
    let (user, credentials) = connected_user(&sandbox, &client, ConnectionType::Trade).await;

    sandbox.snaptrade().knobs().rate_limit_next(1, 0);
    sandbox.snaptrade().knobs().server_error_next(1, 503);
    let accounts = Aggregation::accounts(&client, &credentials).await.unwrap();
    assert_eq!(accounts.len(), 2);

    let account = account_ref(user, &accounts[0].provider_account_id);
    sandbox.snaptrade().log().clear();
    sandbox.snaptrade().knobs().server_error_next(1, 500);
    let error = client
        .place_order(&credentials, &account, &limit_buy("AAPL", "1.00"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Upstream(_)), "{error:?}");
    assert_eq!(sandbox.snaptrade().log().count("POST", "/trade/place"), 1);
    let account_uuid = Uuid::parse_str(account.provider_account_id.as_str()).unwrap();
    assert!(sandbox.snaptrade().orders(account_uuid).is_empty());
}

#[tokio::test]
async fn a_body_with_non_ascii_text_is_signed_as_snaptrade_checks_it() {
    let sandbox = Sandbox::start().await;
    let client = client(&sandbox);
    let (credentials, account, _) = trading_account(&sandbox, &client).await;
    let account = &account.provider_account_id;

    let found = client
        .search_account_symbols(&credentials, account, "Société Générale")
        .await
        .unwrap();
    let apple = client
        .search_account_symbols(&credentials, account, "AAPL")
        .await
        .unwrap();

    assert!(found.is_empty());
    assert!(
        apple
            .iter()
            .any(|symbol| symbol.symbol.as_deref() == Some("AAPL"))
    );
}

/// The first account of a freshly connected trading user.
async fn trading_account(
    sandbox: &Sandbox,
    client: &SnapTradeClient,
) -> (UserCredentials, AccountRef, Uuid) {
    let (user, credentials) = connected_user(sandbox, client, ConnectionType::Trade).await;
    let accounts = Aggregation::accounts(client, &credentials).await.unwrap();
    let provider_id = accounts[0].provider_account_id.clone();
    let uuid = Uuid::parse_str(provider_id.as_str()).unwrap();
    (credentials, account_ref(user, &provider_id), uuid)
}

#[tokio::test]
async fn an_order_whose_answer_is_lost_exists_at_snaptrade_and_is_not_sent_again() {
    for how in [
        tributary_sandbox::LostAnswer::ConnectionClosed,
        tributary_sandbox::LostAnswer::ServerError(500),
    ] {
        let sandbox = Sandbox::start().await;
        let client = client(&sandbox);
        let (credentials, account, account_id) = trading_account(&sandbox, &client).await;
        sandbox.snaptrade().lose_order_answers(1, how);

        let error =
            Trading::place_order(&client, &credentials, &account, &limit_buy("AAPL", "100"))
                .await
                .unwrap_err();

        assert!(error.is_retryable(), "{how:?}: {error:?}");
        assert_eq!(sandbox.snaptrade().order_count(account_id), 1, "{how:?}");
        assert_eq!(sandbox.snaptrade().log().count("POST", "/trade/place"), 1);
    }
}

#[tokio::test]
async fn an_order_answered_after_the_timeout_exists_at_snaptrade_and_find_order_cannot_tell() {
    let sandbox = Sandbox::start().await;
    let (credentials, account, account_id) = trading_account(&sandbox, &client(&sandbox)).await;
    sandbox
        .snaptrade()
        .delay_order_answers(1, Duration::from_secs(5));
    let snaptrade = sandbox.snaptrade();
    let config = SnapTradeConfig::new(
        snaptrade.client_id(),
        SecretString::from(snaptrade.consumer_key()),
    )
    .unwrap()
    .with_base_url(Url::parse(&sandbox.snaptrade_base_url()).unwrap())
    .with_timeout(Duration::from_millis(300));
    let impatient = SnapTradeClient::new(config).unwrap();
    let id = tributary_domain::ClientOrderId::parse(&Uuid::new_v4().to_string()).unwrap();
    let order = limit_buy("AAPL", "100").with_client_order_id(id.clone());

    let error = Trading::place_order(&impatient, &credentials, &account, &order)
        .await
        .unwrap_err();
    let found = Trading::find_order(&impatient, &credentials, &account, &id).await;

    assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
    assert!(
        matches!(found, Err(ProviderError::OutcomeUnknown { .. })),
        "{found:?}"
    );
    assert_eq!(sandbox.snaptrade().order_count(account_id), 1);
    assert_eq!(
        sandbox.snaptrade().client_order_ids(account_id),
        vec![Some(id.as_str().to_owned())]
    );
}

/// `getAccountActivities` pages by `offset`/`limit` and "will return a maximum of 1000 transactions per request"
/// (specs/snaptrade-openapi.yaml, `/accounts/{accountId}/activities`), which the sandbox follows: two accounts of
/// 2,345 and 2,345 activities take three pages each, and every activity arrives once.
#[tokio::test]
async fn activities_are_paged_to_the_end_of_every_account_in_thousands() {
    let sandbox = Sandbox::start().await;
    let client = client(&sandbox);
    let user = sandbox.snaptrade().seed_user("paging-user");
    let credentials = UserCredentials::new(
        tributary_domain::SnapTradeUserId::parse(&user.user_id).unwrap(),
        tributary_domain::SnapTradeUserSecret::new(SecretString::from(user.user_secret.clone()))
            .unwrap(),
    );
    let seeded = sandbox.snaptrade().seed_connection(
        &user.user_id,
        SeedConnection::new(2, 1).with_activities(2_345),
    );
    let from = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let to = chrono::Utc::now().date_naive();

    let mut cursor = None;
    let mut pages = 0;
    let mut ids = std::collections::HashSet::new();
    loop {
        let page = Aggregation::transactions(&client, &credentials, from, to, cursor)
            .await
            .unwrap();
        pages += 1;
        assert!(page.transactions.len() <= 1_000);
        for transaction in page.transactions {
            assert!(
                ids.insert(transaction.provider_transaction_id.clone()),
                "{} arrived twice",
                transaction.provider_transaction_id
            );
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 20, "the cursor never ends");
    }

    assert_eq!(seeded.account_ids.len(), 2);
    assert_eq!(ids.len(), 2 * 2_345);
    assert_eq!(pages, 6);
}
