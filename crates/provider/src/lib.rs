//! Tributary's provider clients: SnapTrade, Plaid and the Alpaca Broker API over their real HTTP APIs, each
//! behind a Cargo feature (`snaptrade`, `plaid`, `alpaca`, all on by default, and `full`), turning the
//! providers' payloads into `tributary-domain` types, and the router that picks which provider serves a user
//! or executes an order.
//!
//! - [`capability`]: what a provider can do, as traits in domain types ([`capability::Aggregation`],
//!   [`capability::Trading`], [`capability::BrokerageAccounts`], [`capability::ConnectionPortal`]).
//! - [`router`]: [`ProviderRouter`] decides from the feature flags, the user's accounts and the compiled
//!   features; a provider switched off or compiled out is a typed [`RoutingRefusal`], never a panic.
//! - One module per provider: its client and its config (`from_env()` and a plain constructor for tests).
//!   The provider's JSON (its private `wire` structs) and the raw calls that return it stay inside the
//!   module; what comes out is the capabilities' domain types and the few methods of the client's own that
//!   no capability covers (Plaid's Link tokens, SnapTrade's user deletion and secret rotation, Alpaca's list
//!   of accounts).
//!
//! Every failure of a call is one [`ProviderError`], sorted by what a caller can do about it (reconnect, wait, fix the
//! request). Calls that may be repeated are retried with capped, jittered backoff honouring `Retry-After`;
//! writes are never retried blindly. Each call is one `provider_call` tracing span (provider, endpoint,
//! status, latency). Secrets (API secrets, access tokens, user secrets) live in `secrecy::SecretString` and
//! never appear in `Debug` output, error messages or log lines.
//!
//! ```
//! use tributary_domain::{FeatureFlags, Provider};
//! use tributary_provider::{ProviderRouter, RoutingRefusal};
//!
//! // FF_BROKERAGE_MODE off, aggregation with Plaid and SnapTrade on: the defaults.
//! let router = ProviderRouter::new(FeatureFlags::default());
//! assert_eq!(router.check(Provider::Alpaca), Err(RoutingRefusal::Disabled(Provider::Alpaca)));
//! ```
//!
//! ```no_run
//! # #[cfg(feature = "plaid")]
//! # async fn run() -> Result<(), tributary_provider::ProviderError> {
//! use tributary_provider::capability::Aggregation;
//! use tributary_provider::plaid::{PlaidClient, PlaidConfig};
//!
//! // PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV (or PLAID_BASE_URL); a missing one is named in the error.
//! let plaid = PlaidClient::new(PlaidConfig::from_env()?)?;
//! let item = plaid.exchange_public_token("public-sandbox-…").await?;
//! let holdings = plaid.positions(&item.access_token).await?;
//! for position in &holdings.items {
//!     println!("{} {} ({:?})", position.quantity, position.symbol, position.security_type);
//! }
//! for left_out in &holdings.left_out {
//!     println!("left out: {left_out}"); // a holding Plaid sent that cannot be represented, and why
//! }
//! # Ok(()) }
//! ```

// Each provider's JSON (its `wire` module) and its raw calls are private: the public surface is domain
// types. A private type reachable through a public signature would be a leak, and this lint names it.
#![warn(unnameable_types)]

pub mod capability;
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod config;
mod error;
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod http;
mod inbound;
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod limit;
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod recorded;
pub mod router;
#[cfg(all(
    test,
    any(feature = "snaptrade", feature = "plaid", feature = "alpaca")
))]
mod tests;

/// The Alpaca Broker API client: accounts, positions and orders that are never placed twice.
#[cfg(feature = "alpaca")]
pub mod alpaca;
/// The Plaid Investments client: Link, Items, accounts, holdings and paginated investment transactions.
#[cfg(feature = "plaid")]
pub mod plaid;
/// The SnapTrade client: signed requests, connection portal, accounts, positions, orders and webhooks.
#[cfg(feature = "snaptrade")]
pub mod snaptrade;

pub use error::{ErrorDetail, ProviderError};
pub use inbound::{MAX_WEBHOOK_BODY, WebhookError};
#[cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
pub use limit::{RateBudget, RateLimits};
pub use router::{ProviderRouter, RoutingRefusal};
