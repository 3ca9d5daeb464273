//! Tributary's domain types: the values the repository layer stores and the provider clients produce.
//!
//! Every type here is valid by construction. Ids are newtypes over [`uuid::Uuid`]; provider ids that are not UUIDs
//! are trimmed, non-empty text; money and quantities are [`rust_decimal::Decimal`] checked against their column's
//! `NUMERIC(precision, scale)` before any SQL runs; vocabularies the schema constrains ([`Provider`],
//! [`ConnectionStatus`]...) round-trip exactly the strings it stores. Bad input is a [`DomainError`] naming the
//! field.
//!
//! ```
//! use tributary_domain::{DomainError, Provider, Units, UserId};
//!
//! let user = UserId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8")?;
//! assert_eq!(user.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
//!
//! assert_eq!("snaptrade".parse::<Provider>()?, Provider::SnapTrade);
//!
//! // DECIMAL(15,6): rounded like PostgreSQL, refused when the integer part does not fit.
//! assert_eq!(Units::parse("2.50000049")?.to_string(), "2.500000");
//! let too_big = Units::parse_for("filled_units", "1000000000").unwrap_err();
//! assert!(matches!(too_big, DomainError::NumericOverflow { field: "filled_units", .. }));
//! # Ok::<(), DomainError>(())
//! ```

mod account;
mod connection;
mod error;
mod holding;
mod id;
mod numeric;
mod order;
mod provider;
mod snaptrade_user;
mod text;
mod vocabulary;

pub use account::{InvestmentAccount, NewInvestmentAccount, SyncStatus};
pub use connection::{
    BrokerageConnection, ConnectionStatus, ConnectionType, NewBrokerageConnection,
};
pub use error::{DomainError, TextProblem};
pub use holding::{
    AccountContribution, Holding, HoldingFigures, InstitutionTotals, NewHolding, OptionContract,
    OptionRight, SecurityType, institution_breakdown,
};
pub use id::{
    AccountId, AuthorizationId, ConnectionId, HoldingId, OrderId, SnapTradeUserRowId,
    UniversalSymbolId, UserId,
};
pub use numeric::{Amount, Notional, Percent, Price, Quantity, SignedAmount, UnitCost, Units};
pub use order::{NewOrder, Order, OrderAction, OrderStatus, OrderType, TimeInForce};
pub use provider::{AccountMode, Provider};
pub use secrecy::{ExposeSecret, SecretString};
pub use snaptrade_user::{NewSnapTradeUser, SnapTradeUser, SnapTradeUserSecret};
pub use text::{
    AccountName, AccountSubtype, AccountType, BrokerageName, BrokerageOrderId, BrokerageSlug,
    ClientOrderId, InstitutionId, InstitutionName, MAX_MESSAGE_BYTES, MAX_TEXT_BYTES,
    ProviderAccountId, ProviderItemId, SecurityId, SecurityName, SnapTradeUserId, StatusMessage,
    Symbol,
};
