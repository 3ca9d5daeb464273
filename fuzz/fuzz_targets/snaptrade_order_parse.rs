//! SnapTrade order JSON (`getUserAccountOrders`, `placeForceOrder` answers) on arbitrary bytes, read as the
//! client reads it, through the crate's public entry points `snaptrade::parse_orders` and
//! `snaptrade::parse_order`: the lenient wire structs, then the conversion into order rows, whose every field
//! goes through the domain's checked constructors (ids, symbol, vocabularies, units, prices, timestamps).
//! Each ends in rows, rows left out with why, or a typed error, never a panic.
//!
//! The property test `properties_payloads::snaptrade::any_orders_answer_becomes_order_rows_or_a_typed_error`
//! (`crates/provider/tests/it/`) drives the same conversion end to end over HTTP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_domain::{AccountId, ProviderAccountId, UserId};
use tributary_provider::capability::AccountRef;
use tributary_provider::snaptrade::{parse_order, parse_orders};

/// The account the rows are recorded against: fixed, so every run reads the same bytes the same way.
fn account() -> AccountRef {
    AccountRef {
        user_id: UserId::parse("0b3ebefb-ed47-43df-8d8f-729a4420b5cf").expect("a UUID"),
        account_id: AccountId::parse("3dcb795c-3ccc-402a-abb9-07e26a1b1326").expect("a UUID"),
        provider_account_id: ProviderAccountId::parse("917c8734-8470-4a3e-a18f-57c3f2ee6631")
            .expect("an account id"),
    }
}

fuzz_target!(|data: &[u8]| {
    let account = account();
    if let Ok(listing) = parse_orders(&account, data) {
        for row in &listing.items {
            let _ = format!("{row:?}");
        }
        for left_out in &listing.left_out {
            let _ = left_out.to_string();
        }
    }
    if let Ok(row) = parse_order(&account, data) {
        let _ = format!("{row:?}");
    }
});
