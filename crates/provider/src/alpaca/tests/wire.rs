//! The Broker API spec examples parse into the wire types; decimal strings become exact decimals.
#![cfg(feature = "alpaca")]

mod spec;

use crate::alpaca::wire::{Account, AlpacaErrorBody, Order, Position, TradeAccount};
use rust_decimal::Decimal;

use crate::tests::support::{dec, fixture_text};

#[test]
fn account_example_parses_without_keeping_kyc_data() {
    let account: Account = serde_json::from_str(&fixture_text("alpaca", "account")).unwrap();
    assert_eq!(
        account.id.to_string(),
        "3dcb795c-3ccc-402a-abb9-07e26a1b1326"
    );
    assert_eq!(account.status, "ACTIVE");
    assert_eq!(account.last_equity, Some(dec("40645.13")));
    assert!(!format!("{account:?}").contains("Elbakyan"));
}

#[test]
fn trading_account_example_parses_balances_exactly() {
    let account: TradeAccount =
        serde_json::from_str(&fixture_text("alpaca", "trading_account")).unwrap();
    assert_eq!(account.cash, dec("24861.91"));
    assert_eq!(account.buying_power, dec("103556.8572572922"));
    assert_eq!(account.equity, dec("28059.3882330664"));
    assert_eq!(account.multiplier, Some(dec("2")));
    assert!(!account.trading_blocked);
}

#[test]
fn positions_example_parses() {
    let positions: Vec<Position> =
        serde_json::from_str(&fixture_text("alpaca", "positions")).unwrap();
    let aapl = &positions[0];
    assert_eq!(aapl.symbol, "AAPL");
    assert_eq!(aapl.qty, dec("4"));
    assert_eq!(aapl.avg_entry_price, dec("172.08"));
    assert_eq!(aapl.change_today, Some(dec("0.0189483657034581")));
    assert_eq!(aapl.side, "long");
}

#[test]
fn equity_crypto_and_option_order_examples_parse() {
    let orders: Vec<Order> = serde_json::from_str(&fixture_text("alpaca", "orders")).unwrap();
    let [equity, crypto, option] = orders.as_slice() else {
        panic!("three examples")
    };
    assert_eq!(
        equity.id.to_string(),
        "7b08df51-c1ac-453c-99f9-323a5f075f0d"
    );
    assert_eq!(
        equity.client_order_id.as_deref(),
        Some("5680c4bc-9ac1-4a12-a44c-df427ba53032")
    );
    assert_eq!(equity.limit_price, Some(dec("150")));
    assert_eq!(equity.qty, Some(dec("2")));
    // `order_class: ""` (the spec's example) reads as absent.
    assert_eq!(equity.order_class, None);
    assert_eq!(equity.status.as_deref(), Some("accepted"));
    assert_eq!(crypto.symbol, "ETH/USD");
    assert_eq!(crypto.qty, Some(dec("0.02")));
    assert_eq!(crypto.status.as_deref(), Some("pending_new"));
    assert_eq!(option.asset_class.as_deref(), Some("us_option"));
    assert_eq!(option.filled_qty, Some(Decimal::ZERO));
}

#[test]
fn an_unknown_order_status_is_kept_not_rejected() {
    let body =
        fixture_text("alpaca", "order_equity").replace("\"accepted\"", "\"brand_new_status\"");
    let order: Order = serde_json::from_str(&body).unwrap();
    assert_eq!(order.status.as_deref(), Some("brand_new_status"));
}

#[test]
fn error_bodies_parse_with_and_without_code_and_with_extra_fields() {
    let with_code: AlpacaErrorBody = serde_json::from_str(
        r#"{"code":40310000,"message":"insufficient buying power","buying_power":"176531.28"}"#,
    )
    .unwrap();
    assert_eq!(with_code.code, Some(40310000));
    let without_code: AlpacaErrorBody =
        serde_json::from_str(r#"{"message": "unauthorized"}"#).unwrap();
    assert_eq!(without_code.code, None);
    assert_eq!(without_code.message, "unauthorized");
}
