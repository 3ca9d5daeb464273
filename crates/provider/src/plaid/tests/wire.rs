//! Plaid's spec examples parse into the wire types, numbers keep their exact decimal text.
#![cfg(feature = "plaid")]

use crate::plaid::wire::{
    AccountsGetResponse, InvestmentTransactionsGetResponse, InvestmentsHoldingsGetResponse,
    ItemGetResponse, ItemPublicTokenExchangeResponse, LinkTokenCreateResponse, RequestIdResponse,
};
use secrecy::ExposeSecret;

use crate::tests::support::{dec, fixture_text};

#[test]
fn link_token_example_parses() {
    let response: LinkTokenCreateResponse =
        serde_json::from_str(&fixture_text("plaid", "link_token_create")).unwrap();
    assert_eq!(
        response.link_token,
        "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176"
    );
    assert_eq!(
        response.expiration.to_rfc3339(),
        "2020-03-27T12:56:34+00:00"
    );
    assert_eq!(response.request_id, "XQVgFigpGHXkb0b");
}

#[test]
fn exchanged_access_token_parses_as_a_secret_that_debug_hides() {
    let response: ItemPublicTokenExchangeResponse =
        serde_json::from_str(&fixture_text("plaid", "item_public_token_exchange")).unwrap();
    let token = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6";
    assert_eq!(response.access_token.expose_secret(), token);
    assert_eq!(response.item_id, "M5eVJqLnv3tbzdngLDp9FL5OlDNxlNhlE55op");
    assert!(!format!("{response:?}").contains(token));
}

#[test]
fn accounts_example_parses_with_exact_balances() {
    let response: AccountsGetResponse =
        serde_json::from_str(&fixture_text("plaid", "accounts_get")).unwrap();
    assert_eq!(response.accounts.len(), 3);
    let k401 = &response.accounts[1];
    assert_eq!(k401.account_id, "6PdjjRP6LmugpBy5NgQvUqpRXMWxzktg3rwrk");
    assert_eq!(k401.account_type, "investment");
    assert_eq!(k401.subtype.as_deref(), Some("401k"));
    assert_eq!(k401.balances.current, Some(dec("23631.9805")));
    assert_eq!(k401.balances.available, None);
    assert_eq!(
        response.accounts[0].holder_category.as_deref(),
        Some("personal")
    );
    assert_eq!(
        response.item.institution_name.as_deref(),
        Some("Royal Bank of Plaid")
    );
    assert!(response.item.error.is_none());
}

#[test]
fn holdings_example_parses_holdings_securities_and_option_contracts() {
    let response: InvestmentsHoldingsGetResponse =
        serde_json::from_str(&fixture_text("plaid", "investments_holdings_get")).unwrap();
    assert!(!response.holdings.is_empty());
    assert!(!response.securities.is_empty());
    let tiny_price = response
        .holdings
        .iter()
        .find(|h| h.institution_price == dec("0.177494362"))
        .expect("the example's 0.177494362 price survives exactly");
    assert_eq!(tiny_price.quantity, dec("25000"));
    let option = response
        .securities
        .iter()
        .find_map(|s| s.option_contract.as_ref())
        .expect("the example has an option security");
    assert_eq!(option.contract_type, "call");
    assert_eq!(option.strike_price, dec("355"));
    assert_eq!(option.underlying_security_ticker, "NFLX");
}

#[test]
fn transactions_example_parses_with_total_and_exact_quantities() {
    let response: InvestmentTransactionsGetResponse =
        serde_json::from_str(&fixture_text("plaid", "investments_transactions_get")).unwrap();
    assert_eq!(response.total_investment_transactions, 3);
    assert_eq!(response.investment_transactions.len(), 3);
    let sell = response.investment_transactions[1].item.as_ref().unwrap();
    assert_eq!(sell.transaction_type, "sell");
    assert_eq!(sell.quantity, dec("-47.74104242992852"));
    assert_eq!(sell.amount, dec("-1289.01"));
    assert_eq!(sell.fees, Some(dec("7.99")));
    assert!(sell.transaction_datetime.is_some());
    let dividend = response.investment_transactions[0].item.as_ref().unwrap();
    assert_eq!(dividend.subtype, "dividend");
    assert_eq!(dividend.date.to_string(), "2020-05-29");
}

#[test]
fn item_get_example_parses_status_and_consent() {
    let response: ItemGetResponse =
        serde_json::from_str(&fixture_text("plaid", "item_get")).unwrap();
    assert_eq!(
        response.item.item_id,
        "Ed6bjNrDLJfGvZWwnkQlfxwoNz54B5C97ejBr"
    );
    assert!(response.item.created_at.is_some());
    let status = response.status.expect("the example has a status");
    assert!(
        status
            .transactions
            .unwrap()
            .last_successful_update
            .is_some()
    );
}

#[test]
fn item_remove_example_parses() {
    let response: RequestIdResponse =
        serde_json::from_str(&fixture_text("plaid", "item_remove")).unwrap();
    assert_eq!(response.request_id, "m8MDnv9okwxFNBV");
}

#[test]
fn numbers_with_more_digits_than_a_float_holds_are_read_exactly() {
    // 0.1000000000000000000000000001 is 0.1 as an f64; reading through f64 would lose the tail.
    let body = fixture_text("plaid", "investments_holdings_get").replacen(
        "\"quantity\": 0.01",
        "\"quantity\": 0.1000000000000000000000000001",
        1,
    );
    let response: InvestmentsHoldingsGetResponse = serde_json::from_str(&body).unwrap();
    assert!(
        response
            .holdings
            .iter()
            .any(|h| h.quantity == dec("0.1000000000000000000000000001"))
    );
}

#[test]
fn a_security_with_null_type_and_unknown_fields_still_parses() {
    let body =
        r#"{"security_id": "s1", "type": null, "brand_new_field": {"x": 1}, "close_price": 1.5}"#;
    let security: crate::plaid::wire::Security = serde_json::from_str(body).unwrap();
    assert_eq!(security.security_type, None);
    assert_eq!(security.close_price, Some(dec("1.5")));
}
