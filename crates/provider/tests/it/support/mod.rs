//! Test support shared by the integration tests: the spec-example fixtures, exact decimals, hostile JSON
//! for the property tests, and an Alpaca client on wiremock.

#![allow(dead_code)] // each feature set uses its own part of this module

use std::str::FromStr;

/// The text of `tests/fixtures/{provider}/{name}.json`, an example taken from the provider's spec.
pub fn fixture_text(provider: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/{provider}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The fixture parsed as JSON, to serve from wiremock or to alter first.
pub fn fixture(provider: &str, name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture_text(provider, name)).expect("fixtures are JSON")
}

/// A decimal from its exact text.
pub fn dec(text: &str) -> rust_decimal::Decimal {
    rust_decimal::Decimal::from_str(text).expect("a decimal literal")
}

#[cfg(feature = "alpaca")]
pub mod alpaca;
pub mod hostile_json;
