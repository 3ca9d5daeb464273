//! Tributary's provider clients.

/// The Alpaca Broker API client: accounts, positions and orders that are never placed twice.
#[cfg(feature = "alpaca")]
pub mod alpaca;
/// The Plaid Investments client: Link, Items, accounts, holdings and paginated investment transactions.
#[cfg(feature = "plaid")]
pub mod plaid;
