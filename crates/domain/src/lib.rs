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
//!
//! # Numbers
//!
//! Each decimal type ([`Units`], [`Price`], [`Notional`], [`Quantity`], [`Amount`], [`SignedAmount`],
//! [`UnitCost`], [`Percent`]) is one column shape, and a value that exists fits its column:
//!
//! * **Excess scale is rounded**, half away from zero, to the column's scale — exactly what PostgreSQL does when
//!   it stores a `numeric` into `NUMERIC(p, s)`. Providers send more decimals than the columns keep (Alpaca
//!   quantities have 9, SnapTrade prices arrive as long floats); refusing them would fail whole syncs over digits
//!   the database would drop anyway, and rounding here means the value in memory is the value the database
//!   returns. The result carries the column's scale (`1.5` becomes `1.500000` in a `NUMERIC(15,6)`), as
//!   PostgreSQL returns it, so an in-memory store and PostgreSQL agree even on the text form.
//! * **What a caller asks for is never rounded.** An order's size and prices are built with the `exact`
//!   constructors (`Units::parse_exact`, `Price::exact_for`…), which refuse more decimals than the column keeps
//!   with [`DomainError::ExcessScale`]: rounding them would send an order other than the one asked for.
//! * **Too many integer digits is always an error** ([`DomainError::NumericOverflow`]): PostgreSQL would refuse
//!   the row, and silently capping money is never right. The check runs after rounding, as PostgreSQL's does
//!   (`999.9999995` rounds up to `1000.000000`).
//! * **Negative values are an error** ([`DomainError::Negative`]) for the types whose column has a `>= 0` CHECK
//!   or whose meaning has no negative (a notional amount, an average cost). A value that only rounds to zero is
//!   zero.
//! * In JSON (JSONB columns, wire types) they are exact decimal strings (`"1.500000"`); reading accepts strings
//!   and numbers, and checks them like the constructors.
//!
//! # Text
//!
//! Identifiers and names are trimmed and refused when empty, when they contain NUL (which PostgreSQL `text`
//! cannot store) or when longer than [`MAX_TEXT_BYTES`] (under PostgreSQL's b-tree entry limit, since most of
//! these columns are indexed). Messages ([`StatusMessage`]) are cleaned instead of refused.
//!
//! # Vocabularies
//!
//! Values a schema CHECK closes ([`Provider`], [`AccountMode`], [`ConnectionType`], [`ConnectionStatus`],
//! [`SyncStatus`], [`SecurityType`], [`PortfolioMode`]) parse only from their exact stored spelling. Providers'
//! order vocabularies ([`OrderStatus`], [`OrderAction`], [`OrderType`], [`TimeInForce`]) are open: case and
//! separators are ignored, and an unknown value is kept as `Other(String)` instead of failing.

mod account;
mod connection;
mod currency;
mod error;
mod flags;
mod holding;
mod id;
mod numeric;
mod order;
mod portfolio;
mod provider;
mod snaptrade_user;
mod text;
mod vocabulary;

pub use account::{InvestmentAccount, NewInvestmentAccount, SyncStatus};
pub use connection::{
    BrokerageConnection, ConnectionStatus, ConnectionType, NewBrokerageConnection,
};
pub use currency::{Currency, CurrencyTotals, totals_by_currency};
pub use error::{DomainError, TextProblem};
pub use flags::FeatureFlags;
pub use holding::{
    AccountContribution, DEFAULT_DATA_SOURCE, Holding, HoldingFigures, InstitutionTotals,
    NewHolding, OptionContract, OptionRight, SecurityType, institution_breakdown,
};
pub use id::{
    AccountId, AuthorizationId, ConnectionId, HoldingId, OrderId, SnapTradeUserRowId,
    UniversalSymbolId, UserId,
};
pub use numeric::{Amount, Notional, Percent, Price, Quantity, SignedAmount, UnitCost, Units};
pub use order::{NewOrder, Order, OrderAction, OrderStatus, OrderType, TimeInForce};
pub use portfolio::PortfolioMode;
pub use provider::{AccountMode, Provider};
pub use secrecy::{ExposeSecret, SecretString};
pub use snaptrade_user::{NewSnapTradeUser, SnapTradeUser, SnapTradeUserSecret};
pub use text::{
    AccountName, AccountSubtype, AccountType, BrokerageName, BrokerageOrderId, BrokerageSlug,
    ClientOrderId, InstitutionId, InstitutionName, MAX_MESSAGE_BYTES, MAX_TEXT_BYTES,
    ProviderAccountId, ProviderItemId, SecurityId, SecurityName, SnapTradeUserId, StatusMessage,
    Symbol,
};
