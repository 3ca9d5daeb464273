//! Plaid as an `Aggregation` provider: the spec examples as domain types, against wiremock on 127.0.0.1.
#![cfg(feature = "plaid")]

mod spec;

use std::str::FromStr;

use crate::capability::{Aggregation, PositionSide, TransactionPage};
use crate::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
use chrono::NaiveDate;
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary_domain::TransactionType;
use tributary_domain::{ConnectionStatus, ConnectionType, OptionRight, Provider, SecurityType};
use url::Url;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::tests::support::{dec, fixture};

async fn serving(endpoint: &str, body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> PlaidClient {
    let config = PlaidConfig::new(
        "client-id",
        SecretString::from("secret"),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&server.uri()).unwrap());
    PlaidClient::new(config).unwrap()
}

fn token() -> AccessToken {
    AccessToken::new(SecretString::from("access-sandbox-token"))
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::from_str(text).unwrap()
}

/// Plaid's own `/investments/transactions/get` example, read as one page of 2024.
async fn the_examples_transactions_page() -> TransactionPage {
    let server = serving(
        "/investments/transactions/get",
        fixture("plaid", "investments_transactions_get"),
    )
    .await;
    client(&server)
        .transactions(&token(), date("2024-01-01"), date("2024-12-31"), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn only_the_items_investment_accounts_are_aggregated_with_exact_balances() {
    let server = serving("/accounts/get", fixture("plaid", "accounts_get")).await;

    let accounts = Aggregation::accounts(&client(&server), &token())
        .await
        .unwrap();

    assert_eq!(
        accounts.len(),
        1,
        "the checking and loan accounts are left out"
    );
    let account = &accounts[0];
    assert_eq!(account.provider, Provider::Plaid);
    assert_eq!(
        account.provider_account_id.as_str(),
        "6PdjjRP6LmugpBy5NgQvUqpRXMWxzktg3rwrk"
    );
    assert_eq!(account.account_type.as_str(), "investment");
    assert_eq!(
        account
            .account_subtype
            .as_ref()
            .map(|subtype| subtype.as_str()),
        Some("401k")
    );
    assert_eq!(
        account.institution.as_ref().map(|name| name.as_str()),
        Some("Royal Bank of Plaid")
    );
    assert_eq!(
        account.total_value.map(|value| value.get()),
        Some(dec("23631.9805")),
        "kept as Plaid sent it, past the cent"
    );
}

#[tokio::test]
async fn holdings_become_positions_keyed_by_ticker_or_security_id() {
    let server = serving(
        "/investments/holdings/get",
        fixture("plaid", "investments_holdings_get"),
    )
    .await;

    let positions = client(&server).positions(&token()).await.unwrap().items;

    assert_eq!(positions.len(), 9);
    let achn = positions
        .iter()
        .find(|position| position.symbol.as_str() == "ACHN")
        .unwrap();
    assert_eq!(achn.side, PositionSide::Long);
    assert_eq!(achn.quantity.get(), dec("1"));
    assert_eq!(achn.market_value.unwrap().get(), dec("2.11"));
    assert_eq!(achn.cost_basis.unwrap().get(), dec("1.5"));
    assert_eq!(achn.security_type, Some(SecurityType::Equity));
    let fund = positions
        .iter()
        .find(|position| position.symbol.as_str() == "DBLTX")
        .unwrap();
    assert_eq!(fund.security_type, Some(SecurityType::MutualFund));
    assert_eq!(fund.provider_security_type.as_deref(), Some("mutual fund"));
    assert!(
        positions
            .iter()
            .any(|position| position.symbol.as_str() == "Lxe4yz4XQEtwb2YArO7RFMpPDvPxy7FALRyea"),
        "the bond without a ticker keeps Plaid's security id as its symbol"
    );
}

#[tokio::test]
async fn an_option_holding_carries_its_contract() {
    let server = serving(
        "/investments/holdings/get",
        fixture("plaid", "investments_holdings_get"),
    )
    .await;

    let positions = client(&server).positions(&token()).await.unwrap().items;

    let option = positions
        .iter()
        .find(|position| position.symbol.as_str() == "NFLX180201C00355000")
        .unwrap();
    assert_eq!(option.security_type, Some(SecurityType::Option));
    let contract = option.option_contract.as_ref().unwrap();
    assert_eq!(contract.underlying_symbol.as_str(), "NFLX");
    assert_eq!(contract.option_type, OptionRight::Call);
    assert_eq!(contract.strike_price.get(), dec("355"));
    assert_eq!(contract.expiration_date, date("2018-02-01"));
}

#[tokio::test]
async fn a_negative_holding_is_a_short_position_with_positive_amounts() {
    let mut body = fixture("plaid", "investments_holdings_get");
    body["holdings"][1]["quantity"] = json!(-3);
    body["holdings"][1]["institution_value"] = json!(-6.33);
    let server = serving("/investments/holdings/get", body).await;

    let positions = client(&server).positions(&token()).await.unwrap().items;

    let short = positions
        .iter()
        .find(|position| position.side == PositionSide::Short)
        .unwrap();
    assert_eq!(short.quantity.get(), dec("3"));
    assert_eq!(short.market_value.unwrap().get(), dec("6.33"));
}

#[tokio::test]
async fn a_holding_whose_quantity_the_column_cannot_hold_is_left_out_naming_the_field_and_the_rest_kept()
 {
    let mut body = fixture("plaid", "investments_holdings_get");
    let all = body["holdings"].as_array().unwrap().len();
    body["holdings"][2]["quantity"] = json!(1e18);
    let odd_security = body["holdings"][2]["security_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = serving("/investments/holdings/get", body).await;

    let listing = client(&server).positions(&token()).await.unwrap();

    assert_eq!(listing.items.len(), all - 1, "every other holding is kept");
    let [left_out] = listing.left_out.as_slice() else {
        panic!("one holding left out: {:?}", listing.left_out)
    };
    assert_eq!(left_out.provider, Provider::Plaid);
    assert_eq!(left_out.item, "holding");
    assert_eq!(left_out.provider_id.as_deref(), Some(odd_security.as_str()));
    assert_eq!(left_out.field, "holdings[2].quantity");
    assert!(left_out.reason.contains("NUMERIC(28,10)"), "{left_out}");
}

#[tokio::test]
async fn one_transaction_that_cannot_be_represented_is_left_out_and_the_page_kept() {
    let mut body = fixture("plaid", "investments_transactions_get");
    let all = body["investment_transactions"].as_array().unwrap().len();
    // An amount past the money column's 18 integer digits: an amount, unlike a quantity, is money, held to it.
    body["investment_transactions"][1]["amount"] = json!(1e19);
    let odd = body["investment_transactions"][1]["investment_transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = serving("/investments/transactions/get", body).await;

    let page = client(&server)
        .transactions(&token(), date("2024-01-01"), date("2024-12-31"), None)
        .await
        .unwrap();

    assert_eq!(
        page.transactions.len(),
        all - 1,
        "the rest of the page is kept"
    );
    let [left_out] = page.left_out.as_slice() else {
        panic!("one transaction left out: {:?}", page.left_out)
    };
    assert_eq!(left_out.item, "transaction");
    assert_eq!(left_out.provider_id.as_deref(), Some(odd.as_str()));
    assert_eq!(left_out.field, "investment_transactions[1].amount");
    assert_eq!(
        page.next, None,
        "the offset moved past the left-out one too"
    );
}

/// Plaid's own transactions example sells `47.74104242992852` units and buys `0.7388014749727547` (a double's
/// digits, 14 and 16 decimals): both are kept to the last digit, neither rounded nor left out, and signed
/// as Plaid signs them (units out negative).
#[tokio::test]
async fn the_examples_quantities_are_kept_to_the_last_digit() {
    let page = the_examples_transactions_page().await;

    assert_eq!(page.left_out, []);
    let quantities: Vec<_> = page.transactions.iter().map(|t| t.quantity).collect();
    assert_eq!(
        quantities,
        [
            None,
            Some(dec("-47.74104242992852")),
            Some(dec("0.7388014749727547"))
        ]
    );
}

/// A holding worth a value past the cent keeps it to the last digit (the spec's own holdings example has
/// `institution_value: 4437.35905`); one past the money column's ten decimals is left out naming the field.
#[tokio::test]
async fn a_holdings_value_is_kept_to_the_last_digit_or_the_holding_left_out_never_rounded() {
    let mut body = fixture("plaid", "investments_holdings_get");
    body["holdings"][1]["institution_value"] = json!(16.6665);
    body["holdings"][2]["institution_value"] = json!(20.84000000001);
    let kept = body["holdings"][1]["security_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = serving("/investments/holdings/get", body).await;

    let listing = client(&server).positions(&token()).await.unwrap();

    let position = listing
        .items
        .iter()
        .find(|position| position.security_id.as_ref().map(|id| id.as_str()) == Some(kept.as_str()))
        .unwrap();
    assert_eq!(position.market_value.unwrap().get(), dec("16.6665"));
    let [left_out] = listing.left_out.as_slice() else {
        panic!("one holding left out: {:?}", listing.left_out)
    };
    assert_eq!(left_out.field, "holdings[2].institution_value");
    assert!(
        left_out.reason.contains("more than the 10 decimal places"),
        "{left_out}"
    );
}

#[tokio::test]
async fn transactions_are_typed_and_signed_as_stored_from_the_specs_example() {
    let page = the_examples_transactions_page().await;

    assert_eq!(
        page.next, None,
        "the example's three transactions are all there is"
    );
    assert_eq!(page.left_out, []);
    let kinds: Vec<_> = page
        .transactions
        .iter()
        .map(|t| t.transaction_type.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            TransactionType::Dividend,
            TransactionType::Sell,
            TransactionType::Buy
        ],
        "a `cash` transaction whose subtype is `dividend` is a dividend"
    );
    let sell = &page.transactions[1];
    assert_eq!(
        sell.quantity,
        Some(dec("-47.74104242992852")),
        "units out of the account"
    );
    assert_eq!(
        sell.amount.get(),
        dec("1289.01"),
        "Plaid's credit is cash into the account"
    );
    assert_eq!(sell.fees.map(|fees| fees.get()), Some(dec("7.99")));
    assert_eq!(sell.currency.as_str(), "USD");
    assert_eq!(
        sell.raw.as_map().get("investment_transaction_id"),
        Some(&serde_json::json!(sell.provider_transaction_id.as_str())),
        "the record is Plaid's JSON as received"
    );
    assert_eq!(page.transactions[0].quantity, None, "cash moves no units");
}

#[tokio::test]
async fn transaction_pages_follow_the_cursor_until_the_total() {
    let server = MockServer::start().await;
    let mut first = fixture("plaid", "investments_transactions_get");
    first["total_investment_transactions"] = json!(5);
    let mut second = fixture("plaid", "investments_transactions_get");
    second["total_investment_transactions"] = json!(5);
    second["investment_transactions"]
        .as_array_mut()
        .unwrap()
        .truncate(2);
    for (offset, body) in [(0, first), (3, second)] {
        Mock::given(method("POST"))
            .and(path("/investments/transactions/get"))
            .and(body_partial_json(json!({"options": {"offset": offset}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let plaid = client(&server);
    let (from, to) = (date("2024-01-01"), date("2024-12-31"));

    let page = plaid.transactions(&token(), from, to, None).await.unwrap();
    assert_eq!(page.transactions.len(), 3);
    let next = page.next.expect("two more transactions");
    let last = plaid
        .transactions(&token(), from, to, Some(next))
        .await
        .unwrap();

    assert_eq!(last.transactions.len(), 2);
    assert_eq!(last.next, None);
}

#[tokio::test]
async fn an_item_that_needs_the_user_is_a_disabled_read_connection() {
    let mut body = fixture("plaid", "item_get");
    body["item"]["error"] = json!({
        "error_type": "ITEM_ERROR",
        "error_code": "ITEM_LOGIN_REQUIRED",
        "error_message": "the login details of this item have changed",
        "display_message": null,
        "request_id": "req-1",
    });
    let server = serving("/item/get", body).await;

    let connections = client(&server).connections(&token()).await.unwrap();

    assert_eq!(connections.len(), 1);
    let connection = &connections[0];
    assert_eq!(connection.connection_type, ConnectionType::Read);
    assert_eq!(connection.status, ConnectionStatus::Disabled);
    assert_eq!(
        connection.status_reason.as_deref(),
        Some("the login details of this item have changed")
    );
}

#[tokio::test]
async fn a_healthy_item_is_an_active_connection() {
    let server = serving("/item/get", fixture("plaid", "item_get")).await;

    let connections = client(&server).connections(&token()).await.unwrap();

    assert_eq!(connections[0].status, ConnectionStatus::Active);
    assert_eq!(connections[0].status_reason, None);
}
