//! A SnapTrade order answer kept rather than fetched, read into domain rows through `parse_orders` and
//! `parse_order` exactly as `Trading::list_orders` and `Trading::place_order` read it.
#![cfg(feature = "snaptrade")]

use tributary_domain::{AccountId, ProviderAccountId, UserId};
use tributary_provider::ProviderError;
use tributary_provider::capability::AccountRef;
use tributary_provider::snaptrade::{parse_order, parse_orders};

use crate::support::fixture_text;

fn account() -> AccountRef {
    AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse("917c8734-8470-4a3e-a18f-57c3f2ee6631")
            .unwrap(),
    }
}

#[test]
fn the_specs_order_list_becomes_rows_of_the_account_each_one_kept_or_left_out_with_why() {
    let account = account();
    let body = fixture_text("snaptrade", "orders");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();

    let rows = parse_orders(&account, body.as_bytes()).unwrap();

    assert_eq!(rows.items.len() + rows.left_out.len(), listed.len());
    assert!(!rows.items.is_empty(), "{:?}", rows.left_out);
    for row in &rows.items {
        assert_eq!(row.user_id, account.user_id);
        assert_eq!(row.account_id, account.account_id);
    }
    let first = listed[0]["brokerage_order_id"].as_str().unwrap();
    assert!(
        rows.items
            .iter()
            .map(|row| row.brokerage_order_id.as_str())
            .chain(
                rows.left_out
                    .iter()
                    .filter_map(|out| out.provider_id.as_deref())
            )
            .any(|id| id == first)
    );
}

#[test]
fn the_specs_placed_order_becomes_one_row() {
    let account = account();
    let body = fixture_text("snaptrade", "place_order");

    let row = parse_order(&account, body.as_bytes()).unwrap();

    assert_eq!(row.account_id, account.account_id);
}

#[test]
fn a_body_that_is_not_an_order_list_is_a_decode_error_keeping_the_body() {
    let error = parse_orders(&account(), b"{\"orders\": []}").unwrap_err();

    assert!(matches!(error, ProviderError::Decode { .. }), "{error:?}");
}
