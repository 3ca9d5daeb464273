//! Tributary's provider clients: SnapTrade, Plaid and the Alpaca Broker API over their real HTTP APIs, each
//! behind a Cargo feature, turning the providers' payloads into `tributary-domain` types, and the router
//! that picks which provider serves a user or executes an order.
//!
//! Every failure is one [`ProviderError`], sorted by what a caller can do about it (reconnect, wait, fix the
//! request). Secrets (API secrets, access tokens, user secrets) live in `secrecy::SecretString` and never
//! appear in `Debug` output, error messages or log lines.
//!
//! ```no_run
//! # #[cfg(feature = "plaid")]
//! # async fn run() -> Result<(), tributary_provider::ProviderError> {
//! use tributary_provider::plaid::{PlaidClient, PlaidConfig};
//!
//! // PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV (or PLAID_BASE_URL); a missing one is named in the error.
//! let plaid = PlaidClient::new(PlaidConfig::from_env()?)?;
//! let item = plaid.exchange_public_token("public-sandbox-…").await?;
//! let holdings = plaid.holdings(&item.access_token).await?;
//! println!("{} holdings", holdings.holdings.len());
//! # Ok(()) }
//! ```

pub mod capability;
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod config;
mod error;
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod http;
pub mod router;

/// The Alpaca Broker API client: accounts, positions and orders that are never placed twice.
#[cfg(feature = "alpaca")]
pub mod alpaca;
/// The Plaid Investments client: Link, Items, accounts, holdings and paginated investment transactions.
#[cfg(feature = "plaid")]
pub mod plaid;

pub use error::{ErrorDetail, ProviderError};
pub use router::ProviderRouter;
