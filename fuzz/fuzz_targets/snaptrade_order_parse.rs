//! SnapTrade order JSON (`getUserAccountOrders`, `placeForceOrder` answers) on arbitrary bytes: the
//! lenient wire structs read it or refuse it, never panic, and every field a record carries goes through
//! the domain's checked constructors the order conversion uses (ids, symbol, vocabularies, units, prices,
//! timestamps), which answer a value or a `DomainError`, never a panic.
//!
//! The conversion itself (`snaptrade::convert::order_row`) is crate-private; the property test
//! `properties_payloads::snaptrade::any_orders_answer_becomes_order_rows_or_a_typed_error` drives it
//! end to end over HTTP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tributary_domain::{
    BrokerageOrderId, OrderAction, OrderStatus, OrderType, Price, Symbol, TimeInForce, Units,
    UniversalSymbolId,
};
use tributary_provider::snaptrade::parse_timestamp;
use tributary_provider::snaptrade::wire::{OrderFields, OrderRecord};

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = serde_json::from_slice::<Vec<OrderRecord>>(data) {
        records.iter().for_each(check_fields);
    }
    if let Ok(record) = serde_json::from_slice::<OrderRecord>(data) {
        check_fields(&record);
    }
});

fn check_fields(record: &OrderRecord) {
    let fields: &OrderFields = &record.fields;
    let _ = format!("{record:?}");
    if let Some(id) = &fields.brokerage_order_id {
        let _ = BrokerageOrderId::parse(id);
    }
    let equity = fields
        .universal_symbol
        .iter()
        .flat_map(|symbol| [&symbol.symbol, &symbol.raw_symbol]);
    let option = fields.option_symbol.iter().map(|option| &option.ticker);
    for symbol in equity.chain(option).flatten() {
        let _ = Symbol::parse(symbol);
    }
    if let Some(id) = fields
        .universal_symbol
        .as_ref()
        .and_then(|s| s.id.as_deref())
    {
        let _ = UniversalSymbolId::parse(id);
    }
    if let Some(action) = &fields.action {
        let _ = OrderAction::parse(action);
    }
    if let Some(status) = &fields.status {
        let _ = OrderStatus::parse(status);
    }
    if let Some(order_type) = &fields.order_type {
        let _ = OrderType::parse(order_type);
    }
    if let Some(time_in_force) = &fields.time_in_force {
        let _ = TimeInForce::parse(time_in_force);
    }
    for units in [fields.total_quantity, fields.filled_quantity]
        .into_iter()
        .flatten()
    {
        let _ = Units::new_for("units", units);
    }
    for price in [
        fields.limit_price,
        fields.stop_price,
        fields.execution_price,
    ]
    .into_iter()
    .flatten()
    {
        let _ = Price::new_for("price", price);
    }
    for time in [
        &fields.time_placed,
        &fields.time_updated,
        &fields.time_executed,
    ]
    .into_iter()
    .flatten()
    {
        let _ = parse_timestamp(time);
    }
}
