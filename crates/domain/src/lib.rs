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
//! // NUMERIC(24,10): a provider's number is kept to the last digit or refused, never rounded.
//! assert_eq!(Units::parse_exact("0.123456789")?.to_string(), "0.1234567890");
//! let past_the_column = Units::parse_exact_for("filled_qty", "0.12345678901").unwrap_err();
//! assert!(matches!(past_the_column, DomainError::ExcessScale { field: "filled_qty", .. }));
//! let too_big = Units::parse_for("filled_units", "100000000000000").unwrap_err();
//! assert!(matches!(too_big, DomainError::NumericOverflow { field: "filled_units", .. }));
//! # Ok::<(), DomainError>(())
//! ```
//!
//! # Numbers
//!
//! Each decimal type is one column shape, and a value that exists fits its column:
//!
//! | type | columns | shape |
//! |---|---|---|
//! | [`Quantity`] | `total_quantity` | `NUMERIC(28,10)`, `>= 0` |
//! | [`UnitCost`] | `average_cost_basis` | `NUMERIC(28,10)`, `>= 0` |
//! | [`Amount`] | `total_market_value`, `total_cost_basis` | `NUMERIC(28,10)`, `>= 0` |
//! | [`SignedAmount`] | `unrealized_gain_loss`, `day_change_value` | `NUMERIC(28,10)` |
//! | [`Percent`] | `unrealized_gain_loss_percent`, `day_change_percent` | `NUMERIC(26,4)` |
//! | [`Units`] | `units`, `filled_units` | `NUMERIC(24,10)`, `>= 0` |
//! | [`Price`] | `limit_price`, `stop_price`, `average_fill_price` | `NUMERIC(24,10)` |
//! | [`Notional`] | `notional_value` | `NUMERIC(15,2)`, `>= 0` |
//!
//! The columns are wide enough for what providers send (migration 0017): ten decimals for quantities, prices
//! and money (Alpaca's crypto quantities have up to 9, money in BTC has 8, Alpaca's balances 10), as many
//! integer digits as before. Each shape holds at most 28 significant digits, what a [`rust_decimal::Decimal`]
//! holds.
//!
//! * **Someone else's number is never rounded.** What a provider sends and what a caller asks for (an order's
//!   size and prices) is built with the `exact` constructors (`Quantity::exact_for`, `Units::parse_exact`…),
//!   which keep it to the last digit or refuse it with [`DomainError::ExcessScale`] when it has more decimals
//!   than even these columns keep. The provider clients then leave that one position, order or transaction
//!   out of their answer and report it with the field and the reason; the others are kept.
//! * **A figure Tributary computes is rounded as PostgreSQL would store it**, half away from zero, to the
//!   column's scale: an average cost (cost basis ÷ quantity), a percentage, a market value worked out as
//!   price × quantity. That is arithmetic, not anyone's number; PostgreSQL would round the same way when it
//!   stores a `numeric` into `NUMERIC(p, s)`, so the value in memory is the value the database returns. The
//!   `new` constructors (`Amount::new_for`, `Percent::new`…) do this.
//! * **Too many integer digits is always an error** ([`DomainError::NumericOverflow`]): PostgreSQL would refuse
//!   the row, and silently capping money is never right. For a computed figure the check runs after
//!   rounding, as PostgreSQL's does (`999.9999995` rounds up to `1000.000000`).
//! * **Negative values are an error** ([`DomainError::Negative`]) for the types whose column has a `>= 0` CHECK
//!   or whose meaning has no negative (a notional amount, an average cost). A computed value that only rounds
//!   to zero is zero.
//! * Every value carries its column's scale (`1.5` is `1.5000000000` as [`Units`]), as PostgreSQL returns it,
//!   so an in-memory store and PostgreSQL agree even on the text form.
//! * In JSON (JSONB columns, wire types) they are exact decimal strings (`"1.5000000000"`); reading accepts
//!   strings and numbers, and checks them like the `new` constructors (what is read back is what was written).
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
//! separators are ignored, and an unknown value is kept as `Other(String)` instead of failing. So is
//! [`TransactionType`], one vocabulary for the three providers' transactions, each provider's spelling an alias
//! of the shared value where it means the same.
//!
//! # History
//!
//! [`NewInvestmentTransaction`] is a provider's transaction as stored, its quantity and price exact whatever
//! their digits, its money signed as cash into the account; [`NewValuePoint`] is a day's value of an account or
//! of the user's total, in one currency.

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
mod transaction;
mod vocabulary;

pub use account::{InvestmentAccount, NewInvestmentAccount, SyncStatus};
pub use connection::{
    BrokerageConnection, ConnectionStatus, ConnectionType, NewBrokerageConnection,
};
pub use currency::{Currency, CurrencyTotals, totals_by_currency};
pub use error::{DomainError, TextProblem};
pub use flags::{FeatureFlags, FeatureFlagsBuilder, ProviderFlag};
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
pub use provider::{AccountMode, Provider, ProviderSet, TradingAccess};
pub use secrecy::{ExposeSecret, SecretString};
pub use snaptrade_user::{NewSnapTradeUser, SnapTradeUser, SnapTradeUserSecret};
pub use text::{
    AccountName, AccountSubtype, AccountType, BrokerageName, BrokerageOrderId, BrokerageSlug,
    ClientOrderId, InstitutionId, InstitutionName, MAX_MESSAGE_BYTES, MAX_TEXT_BYTES,
    ProviderAccountId, ProviderItemId, SecurityId, SecurityName, SnapTradeUserId, StatusMessage,
    Symbol,
};
pub use transaction::{
    InvestmentTransaction, NewInvestmentTransaction, NewValuePoint, ProviderTransactionId,
    RawRecord, TransactionDescription, TransactionId, TransactionSubtype, TransactionType,
    ValuePoint,
};
