//! Investment transactions (`public.investment_transactions`) and the portfolio's value over time
//! (`public.portfolio_value_history`), migration 0024.
//!
//! A transaction is what a provider reports happened in an account: a buy, a sell, a dividend, a deposit… One
//! table holds them for every provider, keyed by the provider's own id within the user's account, so a re-sync or
//! an overlapping page never stores one twice.
//!
//! How a stored transaction signs and keeps its numbers is on [`NewInvestmentTransaction`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::MAX_TEXT_BYTES;
use crate::currency::Currency;
use crate::error::{DomainError, excerpt};
use crate::id::{AccountId, UserId, uuid_id};
use crate::numeric::{Amount, SignedAmount};
use crate::provider::Provider;
use crate::text::{Controls, SecurityId, StatusMessage, Symbol, check, text_newtype};
use crate::vocabulary::open_vocabulary;

uuid_id!(
    /// A stored transaction: `investment_transactions.id`. The provider's id is a [`ProviderTransactionId`].
    TransactionId,
    "transaction_id"
);

impl TransactionId {
    /// A fresh time-ordered (v7) id: a history is written in bulk, and ids that grow with time land at the right
    /// edge of the primary key's index (as holdings' ids do).
    pub fn generate_ordered() -> Self {
        Self(Uuid::now_v7())
    }
}

text_newtype!(
    /// A provider's id for a transaction (`investment_transactions.provider_transaction_id`): Plaid's
    /// `investment_transaction_id`, SnapTrade's activity `id`, Alpaca's activity `id`
    /// (`20220208125959696::88b5f678-…`). Unique per user and account.
    ProviderTransactionId,
    "provider_transaction_id",
    Controls::Refused
);

text_newtype!(
    /// The provider's finer kind of a transaction (`investment_transactions.subtype`), as the provider spells it:
    /// Plaid's `subtype` (`qualified dividend`, `management fee`…), SnapTrade's `option_type` (`BUY_TO_OPEN`…),
    /// Alpaca's `activity_sub_type` (`CDIV`, `FSPLIT`…).
    TransactionSubtype,
    "subtype",
    Controls::Refused
);

/// A transaction's description as the provider wrote it (`investment_transactions.description`). Informative,
/// not a key, so it is cleaned rather than refused, as a [`StatusMessage`] is: NUL characters removed, whitespace
/// trimmed, cut at [`crate::MAX_MESSAGE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TransactionDescription(String);

impl TransactionDescription {
    /// The field name used in errors and in the schema.
    pub const FIELD: &'static str = "description";

    /// Cleans the text.
    ///
    /// # Errors
    /// [`DomainError::InvalidText`] naming `description` when nothing is left.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        StatusMessage::parse(text)
            .map(|cleaned| Self(cleaned.into()))
            .map_err(|_| DomainError::InvalidText {
                field: Self::FIELD,
                problem: crate::TextProblem::Empty,
            })
    }

    /// A description if the provider sent a non-blank one.
    pub fn from_optional(text: Option<&str>) -> Option<Self> {
        text.and_then(|text| Self::parse(text).ok())
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransactionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TransactionDescription {
    type Error = DomainError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<TransactionDescription> for String {
    fn from(description: TransactionDescription) -> Self {
        description.0
    }
}

open_vocabulary! {
    /// What a transaction did (`investment_transactions.transaction_type`), in one vocabulary for every provider.
    ///
    /// Each provider's spelling parses to the shared value where it means the same; a spelling that means
    /// something else, or something finer than any shared value, is kept as the provider's own
    /// ([`Self::Other`]), and the finer kind goes to [`NewInvestmentTransaction::subtype`]. The sources:
    ///
    /// * Plaid `InvestmentTransactionType` (plaid-openapi.yml): `buy`, `sell`, `cancel`, `cash`, `fee`,
    ///   `transfer`; its `InvestmentTransactionSubtype` values (`dividend`, `deposit`, `exercise`…) name finer
    ///   kinds, read with [`Self::from_type_and_subtype`].
    /// * SnapTrade `AccountUniversalActivity.type` (snaptrade-openapi.yaml): `BUY`, `SELL`, `DIVIDEND`,
    ///   `CONTRIBUTION`, `WITHDRAWAL`, `REI`, `INTEREST`, `FEE`, `TAX`, `OPTIONEXPIRATION`, `OPTIONASSIGNMENT`,
    ///   `OPTIONEXERCISE`, `TRANSFER`, `SPLIT`, `ADJUSTMENT`; `SUBSTITUTE_DIVIDEND`, `STOCK_DIVIDEND` and
    ///   `EXTERNAL_ASSET_TRANSFER_IN`/`_OUT` stay SnapTrade's own.
    /// * Alpaca Broker API `ActivityType` (alpaca-broker-api.yaml): `DIV`, `INT`, `FEE`, `CSD`, `CSW`, `JNLC`,
    ///   `JNLS`, `ACATC`, `ACATS`, `SPLIT`, `OPEXC`, `OPASN`, `OPEXP`, `MA`, `SPIN`. `FILL` ("Order Fills
    ///   (Partial/Full)") and `OPTRD` ("Option Trade") name no direction: the activity's `side` does, so the
    ///   Alpaca mapping parses the side (`buy`, `sell`) and keeps `FILL` as the subtype. The dividend variants
    ///   (`DIVCGL`, `DIVCGS`, `DIVNRA`, `DIVROC`, `DIVTXEX`), `CGD`, `CIL`, `OPCA`, `OPCSH`, `PTC`, `REORG`,
    ///   `FOPT` and `OCT` stay Alpaca's own.
    TransactionType, field = "transaction_type" {
        /// Units bought. Plaid `buy` ("Buying an investment"), SnapTrade `BUY` ("Asset bought").
        Buy => "buy",
        /// Units sold. Plaid `sell` ("Selling an investment"), SnapTrade `SELL` ("Asset sold").
        Sell => "sell",
        /// A dividend paid in cash. SnapTrade `DIVIDEND` ("Dividend payout"), Alpaca `DIV` ("Dividend"), Plaid's
        /// subtype `dividend`.
        Dividend => "dividend" ["div"],
        /// A dividend reinvested in the security. SnapTrade `REI` ("Dividend reinvestment"), Plaid's subtype
        /// `dividend reinvestment`.
        Reinvestment => "reinvestment" ["rei", "dividendreinvestment"],
        /// Interest paid or charged. SnapTrade `INTEREST` ("Interest deposited into the account"), Alpaca `INT`
        /// ("Interest (Credit/Margin)"), Plaid's subtype `interest`.
        Interest => "interest" ["int"],
        /// A fee. Plaid `fee` ("A fee on the account"), SnapTrade `FEE` ("Fee withdrawn from the account"),
        /// Alpaca `FEE` ("REG and TAF Fees").
        Fee => "fee",
        /// A tax. SnapTrade `TAX` ("A tax related fee"), Plaid's subtype `tax`.
        Tax => "tax",
        /// Cash paid into the account. SnapTrade `CONTRIBUTION` ("Cash contribution"), Alpaca `CSD` ("Cash
        /// Disbursement (+)": the spec's own wording, whose sign says money in), Plaid's subtypes `deposit` and
        /// `contribution`.
        Deposit => "deposit" ["contribution", "csd"],
        /// Cash taken out of the account. SnapTrade `WITHDRAWAL` ("Cash withdrawal"), Alpaca `CSW` ("Cash
        /// Withdrawable"), Plaid's subtype `withdrawal`.
        Withdrawal => "withdrawal" ["csw"],
        /// Cash or units moved between accounts, not through a trade. Plaid `transfer` ("Activity which modifies
        /// a position, but not through buy/sell activity"), SnapTrade `TRANSFER` ("Transfer of asset(s) from one
        /// account to another"), Alpaca `JNLC` ("Journal Entry (Cash)"), `JNLS` ("Journal Entry (Stock)"),
        /// `ACATC` ("ACATS IN/OUT (Cash)") and `ACATS` ("ACATS IN/OUT (Securities)").
        Transfer => "transfer" ["jnlc", "jnls", "acatc", "acats"],
        /// A stock split. SnapTrade `SPLIT` ("A stock share split"), Alpaca `SPLIT` ("Stock Split"), Plaid's
        /// subtype `split`.
        Split => "split",
        /// An option exercised. SnapTrade `OPTIONEXERCISE`, Alpaca `OPEXC` ("Option Exercise"), Plaid's subtype
        /// `exercise`.
        OptionExercise => "option_exercise" ["opexc", "exercise"],
        /// An option assigned. SnapTrade `OPTIONASSIGNMENT`, Alpaca `OPASN` ("Option Assignment"), Plaid's
        /// subtype `assignment`.
        OptionAssignment => "option_assignment" ["opasn", "assignment"],
        /// An option expired. SnapTrade `OPTIONEXPIRATION`, Alpaca `OPEXP` ("Option Expiration"), Plaid's
        /// subtype `expire`.
        OptionExpiration => "option_expiration" ["opexp", "expire", "expiration"],
        /// A merger or acquisition. Alpaca `MA` ("Merger/Acquisition"), Plaid's subtype `merger`.
        Merger => "merger" ["ma", "mergeracquisition"],
        /// A spin-off. Alpaca `SPIN` ("Stock Spinoff"), Plaid's subtype `spin off`.
        SpinOff => "spin_off" ["spin", "stockspinoff"],
        /// A one-time adjustment of cash or units. SnapTrade `ADJUSTMENT` ("A one time adjustment of the
        /// account's cash balance or shares of an asset"), Plaid's subtype `adjustment`.
        Adjustment => "adjustment",
        /// A cancellation of a pending transaction. Plaid `cancel`.
        Cancel => "cancel",
        /// Cash moved for a reason the provider names only in its subtype. Plaid `cash` ("Activity that modifies
        /// a cash position").
        Cash => "cash",
    }
}

impl TransactionType {
    /// Reads a provider's type and, when the type is a coarse one, its subtype: Plaid files a dividend as type
    /// `cash` with subtype `dividend`, an option exercise as `transfer` with subtype `exercise`. A subtype that
    /// parses to a known value replaces [`Self::Cash`], [`Self::Transfer`] or a type this crate does not know;
    /// every other type is kept (a `buy` with subtype `dividend reinvestment` stays a buy: units were bought).
    ///
    /// # Errors
    /// As [`Self::parse`], for the type; a subtype no column can hold is ignored here (the subtype column
    /// refuses it on its own, see [`TransactionSubtype`]).
    ///
    /// # Examples
    /// ```
    /// use tributary_domain::TransactionType;
    ///
    /// assert_eq!(TransactionType::from_type_and_subtype("cash", Some("dividend"))?, TransactionType::Dividend);
    /// assert_eq!(TransactionType::from_type_and_subtype("transfer", Some("exercise"))?, TransactionType::OptionExercise);
    /// assert_eq!(TransactionType::from_type_and_subtype("cash", Some("pending credit"))?, TransactionType::Cash);
    /// assert_eq!(TransactionType::from_type_and_subtype("BUY", None)?, TransactionType::Buy);
    /// # Ok::<(), tributary_domain::DomainError>(())
    /// ```
    pub fn from_type_and_subtype(kind: &str, subtype: Option<&str>) -> Result<Self, DomainError> {
        let coarse = Self::parse(kind)?;
        if !matches!(coarse, Self::Cash | Self::Transfer | Self::Other(_)) {
            return Ok(coarse);
        }
        let finer = subtype
            .and_then(|text| Self::parse(text).ok())
            .filter(Self::is_known);
        Ok(finer.unwrap_or(coarse))
    }

    /// Whether the transaction moves cash across the account's boundary, for net contributions: deposits and
    /// withdrawals, and transfers (whose amount's sign says which way; a transfer of units carries no amount).
    pub fn is_contribution(&self) -> bool {
        Self::CONTRIBUTIONS.contains(self)
    }

    /// The types [`Self::is_contribution`] counts: what a store sums for net contributions.
    pub const CONTRIBUTIONS: [Self; 3] = [Self::Deposit, Self::Withdrawal, Self::Transfer];
}

/// A transaction to insert or update, keyed by `(user_id, account_id, provider_transaction_id)`. The database
/// assigns the row's id and timestamps.
///
/// # Signs
///
/// Providers sign their numbers differently; a stored transaction has one convention, so sums over providers
/// mean something:
///
/// * [`NewInvestmentTransaction::amount`] is the transaction's effect on the account's cash, in its currency:
///   **positive when cash comes in** (a sale, a deposit, a dividend), negative when it goes out (a purchase, a
///   withdrawal, a fee). SnapTrade signs `amount` this way (`AccountUniversalActivity.amount`: "transactions that
///   positively affect the account balance (like sell, deposits, dividends, etc) will have a positive amount"),
///   and Alpaca its `net_amount`; Plaid signs the other way (`InvestmentTransaction.amount`: "Positive values when
///   cash is debited, e.g. purchases of stock"), so its mapping negates it.
/// * [`NewInvestmentTransaction::quantity`] is **positive when units come into the account** and negative when
///   they leave, as Plaid signs it (`InvestmentTransaction.quantity`: "Positive for buy transactions; negative for
///   sell transactions"). Alpaca's fills carry an unsigned `qty` and a `side`, which says the sign.
///
/// # Exact figures
///
/// Quantities and prices are kept exactly as sent, whatever their digits: a transaction is a provider's record,
/// not a position a column bounds, and Plaid's own example sells `47.74104242992852` units (a double's digits).
/// They are [`Decimal`]s and their columns unconstrained `numeric`. Money (amount, fees) is a [`SignedAmount`],
/// `NUMERIC(28,10)` as every money column, taken exactly or refused (never rounded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInvestmentTransaction {
    /// The owner.
    pub user_id: UserId,
    /// The account it happened in (the owner's).
    pub account_id: AccountId,
    /// The provider that reported it: the account's provider.
    pub provider: Provider,
    /// The provider's id for it.
    pub provider_transaction_id: ProviderTransactionId,
    /// When it happened (Plaid's `date`, SnapTrade's `trade_date`, Alpaca's `date` or `transaction_time`).
    pub trade_date: NaiveDate,
    /// When it settled, where the provider says.
    pub settlement_date: Option<NaiveDate>,
    /// What it did.
    pub transaction_type: TransactionType,
    /// The provider's finer kind.
    pub subtype: Option<TransactionSubtype>,
    /// The security's symbol, when a security is involved.
    pub symbol: Option<Symbol>,
    /// The provider's id for the security (Plaid's `security_id`, SnapTrade's symbol id).
    pub security_id: Option<SecurityId>,
    /// Units moved, signed (positive into the account; see [Signs](Self#signs)), exactly as sent.
    pub quantity: Option<Decimal>,
    /// The price per unit, exactly as sent.
    pub price: Option<Decimal>,
    /// The effect on the account's cash, signed (positive in), in [`Self::currency`].
    pub amount: SignedAmount,
    /// Fees, in [`Self::currency`], where the provider reports them.
    pub fees: Option<SignedAmount>,
    /// The one currency of the amount, the price and the fees.
    pub currency: Currency,
    /// The provider's description.
    pub description: Option<TransactionDescription>,
    /// The provider's record exactly as received, for what the columns do not keep.
    pub raw: RawRecord,
}

impl NewInvestmentTransaction {
    /// A transaction with its required fields; the optional ones start empty and the raw record as `{}`.
    #[allow(clippy::too_many_arguments)] // one argument per NOT NULL column, each its own type
    pub fn new(
        user_id: UserId,
        account_id: AccountId,
        provider: Provider,
        provider_transaction_id: ProviderTransactionId,
        trade_date: NaiveDate,
        transaction_type: TransactionType,
        amount: SignedAmount,
        currency: Currency,
    ) -> Self {
        Self {
            user_id,
            account_id,
            provider,
            provider_transaction_id,
            trade_date,
            settlement_date: None,
            transaction_type,
            subtype: None,
            symbol: None,
            security_id: None,
            quantity: None,
            price: None,
            amount,
            fees: None,
            currency,
            description: None,
            raw: RawRecord::empty(),
        }
    }

    /// The row this draft becomes when first inserted with id `id` at `now`: what an in-memory store keeps, and
    /// what PostgreSQL's defaults produce.
    pub fn into_stored(self, id: TransactionId, now: DateTime<Utc>) -> InvestmentTransaction {
        InvestmentTransaction {
            id,
            created_at: now,
            updated_at: now,
            transaction: self,
        }
    }
}

/// A provider's record exactly as received (`investment_transactions.raw_provider_data`, `jsonb`): a JSON object
/// (the column's CHECK) with no NUL character in any string or key, which PostgreSQL's `jsonb` cannot store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub struct RawRecord(serde_json::Map<String, serde_json::Value>);

impl RawRecord {
    /// The field name used in errors.
    pub const FIELD: &'static str = "raw";

    /// `{}`: no record kept.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Checks that `value` is an object a `jsonb` column takes.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming `raw`, for anything but an object, or an object holding a NUL character.
    pub fn parse(value: serde_json::Value) -> Result<Self, DomainError> {
        fn has_nul(value: &serde_json::Value) -> bool {
            match value {
                serde_json::Value::String(text) => text.contains('\0'),
                serde_json::Value::Array(items) => items.iter().any(has_nul),
                serde_json::Value::Object(map) => map
                    .iter()
                    .any(|(key, value)| key.contains('\0') || has_nul(value)),
                _ => false,
            }
        }
        let invalid = |reason: &str| DomainError::Invalid {
            field: Self::FIELD,
            reason: reason.to_owned(),
        };
        let serde_json::Value::Object(map) = value else {
            return Err(invalid("the provider's record must be a JSON object"));
        };
        if map
            .iter()
            .any(|(key, value)| key.contains('\0') || has_nul(value))
        {
            return Err(invalid(
                "contains a NUL character, which PostgreSQL jsonb cannot store",
            ));
        }
        Ok(Self(map))
    }

    /// The record's fields.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

impl TryFrom<serde_json::Value> for RawRecord {
    type Error = DomainError;

    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<RawRecord> for serde_json::Value {
    fn from(record: RawRecord) -> Self {
        Self::Object(record.0)
    }
}

/// A transaction as stored: a row of `public.investment_transactions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvestmentTransaction {
    /// The row's id.
    pub id: TransactionId,
    /// Everything the provider said, as written.
    #[serde(flatten)]
    pub transaction: NewInvestmentTransaction,
    /// When the row was first stored.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (a provider's revision).
    pub updated_at: DateTime<Utc>,
}

/// A day's value of one account, or of all the user's accounts, in one currency: a row to write to
/// `public.portfolio_value_history`, keyed by `(user_id, account_id, day, currency)` (no account: the user's total).
///
/// A figure the sync could not work out is `None`, never zero: a day's cost basis unknown is not a cost basis of
/// nothing, and net contributions are known only from a transaction history that reaches back far enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewValuePoint {
    /// The owner.
    pub user_id: UserId,
    /// The account (the owner's), or `None` for the user's total over every account.
    pub account_id: Option<AccountId>,
    /// The day the value is for.
    pub day: NaiveDate,
    /// The currency of every figure. A user holding in two currencies has two points a day, never a sum.
    pub currency: Currency,
    /// What the holdings were worth (negative when short positions outweigh the rest).
    pub market_value: SignedAmount,
    /// What they cost.
    pub cost_basis: Option<Amount>,
    /// Cash held (negative when borrowed on margin).
    pub cash: Option<SignedAmount>,
    /// Deposits less withdrawals so far (see [`TransactionType::is_contribution`]).
    pub net_contributions: Option<SignedAmount>,
}

impl NewValuePoint {
    /// A point with a market value and nothing else known.
    pub fn new(
        user_id: UserId,
        account_id: Option<AccountId>,
        day: NaiveDate,
        currency: Currency,
        market_value: SignedAmount,
    ) -> Self {
        Self {
            user_id,
            account_id,
            day,
            currency,
            market_value,
            cost_basis: None,
            cash: None,
            net_contributions: None,
        }
    }

    /// The row this draft becomes when written at `now`.
    pub fn into_stored(self, now: DateTime<Utc>) -> ValuePoint {
        ValuePoint {
            point: self,
            recorded_at: now,
        }
    }
}

/// A point of the value history as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValuePoint {
    /// The figures, as written.
    #[serde(flatten)]
    pub point: NewValuePoint,
    /// When the figures were last written (a second sync on the same day rewrites the day's point).
    pub recorded_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_MESSAGE_BYTES, TextProblem};

    fn parsed(text: &str) -> TransactionType {
        TransactionType::parse(text).unwrap()
    }

    #[test]
    fn plaid_types_parse_to_the_shared_values() {
        // plaid-openapi.yml, InvestmentTransactionType: buy, sell, cancel, cash, fee, transfer.
        assert_eq!(parsed("buy"), TransactionType::Buy);
        assert_eq!(parsed("sell"), TransactionType::Sell);
        assert_eq!(parsed("cancel"), TransactionType::Cancel);
        assert_eq!(parsed("cash"), TransactionType::Cash);
        assert_eq!(parsed("fee"), TransactionType::Fee);
        assert_eq!(parsed("transfer"), TransactionType::Transfer);
    }

    #[test]
    fn plaid_subtypes_refine_a_coarse_type_and_leave_a_precise_one() {
        let read =
            |kind, subtype| TransactionType::from_type_and_subtype(kind, Some(subtype)).unwrap();
        assert_eq!(read("cash", "dividend"), TransactionType::Dividend);
        assert_eq!(read("cash", "qualified dividend"), TransactionType::Cash);
        assert_eq!(read("cash", "deposit"), TransactionType::Deposit);
        assert_eq!(read("cash", "contribution"), TransactionType::Deposit);
        assert_eq!(read("cash", "withdrawal"), TransactionType::Withdrawal);
        assert_eq!(read("cash", "interest"), TransactionType::Interest);
        assert_eq!(read("cash", "tax"), TransactionType::Tax);
        assert_eq!(
            read("transfer", "exercise"),
            TransactionType::OptionExercise
        );
        assert_eq!(
            read("transfer", "assignment"),
            TransactionType::OptionAssignment
        );
        assert_eq!(
            read("transfer", "expire"),
            TransactionType::OptionExpiration
        );
        assert_eq!(read("transfer", "split"), TransactionType::Split);
        assert_eq!(read("transfer", "merger"), TransactionType::Merger);
        assert_eq!(read("transfer", "spin off"), TransactionType::SpinOff);
        assert_eq!(read("transfer", "send"), TransactionType::Transfer);
        assert_eq!(read("fee", "management fee"), TransactionType::Fee);
        assert_eq!(read("buy", "dividend reinvestment"), TransactionType::Buy);
        assert_eq!(read("sell", "sell short"), TransactionType::Sell);
        assert_eq!(
            TransactionType::from_type_and_subtype("cash", None).unwrap(),
            TransactionType::Cash
        );
    }

    #[test]
    fn snaptrade_types_parse_to_the_shared_values_and_keep_their_own_otherwise() {
        // snaptrade-openapi.yaml, AccountUniversalActivity.type.
        for (text, kind) in [
            ("BUY", TransactionType::Buy),
            ("SELL", TransactionType::Sell),
            ("DIVIDEND", TransactionType::Dividend),
            ("CONTRIBUTION", TransactionType::Deposit),
            ("WITHDRAWAL", TransactionType::Withdrawal),
            ("REI", TransactionType::Reinvestment),
            ("INTEREST", TransactionType::Interest),
            ("FEE", TransactionType::Fee),
            ("TAX", TransactionType::Tax),
            ("OPTIONEXPIRATION", TransactionType::OptionExpiration),
            ("OPTIONASSIGNMENT", TransactionType::OptionAssignment),
            ("OPTIONEXERCISE", TransactionType::OptionExercise),
            ("TRANSFER", TransactionType::Transfer),
            ("SPLIT", TransactionType::Split),
            ("ADJUSTMENT", TransactionType::Adjustment),
        ] {
            assert_eq!(parsed(text), kind, "{text}");
        }
        for own in [
            "SUBSTITUTE_DIVIDEND",
            "STOCK_DIVIDEND",
            "EXTERNAL_ASSET_TRANSFER_IN",
            "EXTERNAL_ASSET_TRANSFER_OUT",
        ] {
            assert_eq!(parsed(own), TransactionType::Other(own.to_owned()), "{own}");
        }
    }

    #[test]
    fn alpaca_activity_types_parse_to_the_shared_values_and_keep_their_own_otherwise() {
        // alpaca-broker-api.yaml, ActivityType.
        for (text, kind) in [
            ("DIV", TransactionType::Dividend),
            ("INT", TransactionType::Interest),
            ("FEE", TransactionType::Fee),
            ("CSD", TransactionType::Deposit),
            ("CSW", TransactionType::Withdrawal),
            ("JNLC", TransactionType::Transfer),
            ("JNLS", TransactionType::Transfer),
            ("ACATC", TransactionType::Transfer),
            ("ACATS", TransactionType::Transfer),
            ("SPLIT", TransactionType::Split),
            ("OPEXC", TransactionType::OptionExercise),
            ("OPASN", TransactionType::OptionAssignment),
            ("OPEXP", TransactionType::OptionExpiration),
            ("MA", TransactionType::Merger),
            ("SPIN", TransactionType::SpinOff),
        ] {
            assert_eq!(parsed(text), kind, "{text}");
        }
        for own in [
            "FILL", "OPTRD", "DIVCGL", "DIVCGS", "DIVNRA", "DIVROC", "DIVTXEX", "CGD", "CIL",
            "OPCA", "OPCSH", "PTC", "REORG", "FOPT", "OCT",
        ] {
            assert_eq!(parsed(own), TransactionType::Other(own.to_owned()), "{own}");
        }
    }

    #[test]
    fn every_known_type_parses_back_from_its_stored_spelling() {
        for kind in TransactionType::KNOWN {
            assert_eq!(&parsed(kind.as_str()), kind);
            assert!(
                kind.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{kind}"
            );
        }
    }

    #[test]
    fn an_empty_type_is_refused_naming_the_field() {
        assert_eq!(
            TransactionType::parse(" ").unwrap_err(),
            DomainError::InvalidText {
                field: "transaction_type",
                problem: TextProblem::Empty
            }
        );
    }

    #[test]
    fn deposits_withdrawals_and_transfers_are_the_contributions() {
        let contributions: Vec<_> = TransactionType::KNOWN
            .iter()
            .filter(|kind| kind.is_contribution())
            .collect();
        assert_eq!(
            contributions,
            [
                &TransactionType::Deposit,
                &TransactionType::Withdrawal,
                &TransactionType::Transfer
            ]
        );
    }

    fn plaid_sale() -> NewInvestmentTransaction {
        // Plaid's own example (plaid-openapi.yml, /investments/transactions/get response): a sale of
        // 47.74104242992852 units at 27.53, fees 7.99, amount -1289.01 (cash credited), which is +1289.01 here.
        let id = "pK99jB9e7mtwjA435GpVuMvmWQKVbVFLWme57";
        NewInvestmentTransaction {
            quantity: Some(Decimal::from_str("-47.74104242992852").unwrap()),
            price: Some(Decimal::from_str("27.53").unwrap()),
            fees: Some(SignedAmount::parse_exact("7.99").unwrap()),
            subtype: Some(TransactionSubtype::parse("sell").unwrap()),
            security_id: Some(SecurityId::parse("JDdP7XPMklt5vwPmDN45t3KAoWAPmjtpaW7DP").unwrap()),
            description: TransactionDescription::from_optional(Some(
                "SELL Matthews Pacific Tiger Fund Insti Class",
            )),
            raw: RawRecord::parse(
                serde_json::json!({"investment_transaction_id": id, "amount": -1289.01}),
            )
            .unwrap(),
            ..NewInvestmentTransaction::new(
                UserId::generate(),
                AccountId::generate(),
                Provider::Plaid,
                ProviderTransactionId::parse(id).unwrap(),
                NaiveDate::from_ymd_opt(2020, 5, 28).unwrap(),
                TransactionType::Sell,
                SignedAmount::parse_exact("1289.01").unwrap(),
                Currency::usd(),
            )
        }
    }

    #[test]
    fn a_transaction_keeps_every_digit_of_its_quantity_through_json() {
        let sale = plaid_sale();
        let json = serde_json::to_value(&sale).unwrap();
        assert_eq!(json["quantity"], "-47.74104242992852");
        assert_eq!(json["transaction_type"], "sell");
        let back: NewInvestmentTransaction = serde_json::from_value(json).unwrap();
        assert_eq!(back, sale);
        assert_eq!(back.quantity.unwrap().to_string(), "-47.74104242992852");
    }

    #[test]
    fn a_raw_record_that_is_not_an_object_or_holds_a_nul_is_refused() {
        assert!(RawRecord::parse(serde_json::json!({"id": "x", "nested": [{"a": 1}]})).is_ok());
        for refused in [
            serde_json::json!(["not", "an", "object"]),
            serde_json::json!("text"),
            serde_json::json!({"name": "bad\u{0}text"}),
            serde_json::json!({"nested": [{"bad\u{0}key": 1}]}),
        ] {
            assert!(
                matches!(
                    RawRecord::parse(refused.clone()),
                    Err(DomainError::Invalid { field: "raw", .. })
                ),
                "{refused}"
            );
            assert!(serde_json::from_value::<RawRecord>(refused).is_err());
        }
    }

    #[test]
    fn a_description_is_cleaned_not_refused_and_a_blank_one_is_none() {
        let description = TransactionDescription::parse(" DIV\0IDEND ").unwrap();
        assert_eq!(description.as_str(), "DIVIDEND");
        assert_eq!(TransactionDescription::from_optional(Some("  ")), None);
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        assert!(TransactionDescription::parse(&long).unwrap().as_str().len() <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn a_provider_transaction_id_is_trimmed_text_without_control_characters() {
        assert_eq!(
            ProviderTransactionId::parse(
                " 20220208125959696::88b5f678-fef5-447b-af15-f21e367e6d8c "
            )
            .unwrap()
            .as_str(),
            "20220208125959696::88b5f678-fef5-447b-af15-f21e367e6d8c"
        );
        assert!(ProviderTransactionId::parse("a\nb").is_err());
        assert!(ProviderTransactionId::parse(&"x".repeat(MAX_TEXT_BYTES + 1)).is_err());
    }

    #[test]
    fn ordered_transaction_ids_are_version_7() {
        assert_eq!(
            TransactionId::generate_ordered()
                .as_uuid()
                .get_version_num(),
            7
        );
    }

    #[test]
    fn a_value_point_reads_and_writes_as_its_figures() {
        let point = NewValuePoint {
            cash: Some(SignedAmount::parse_exact("-12.5").unwrap()),
            ..NewValuePoint::new(
                UserId::generate(),
                None,
                NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
                Currency::usd(),
                SignedAmount::parse_exact("1000.25").unwrap(),
            )
        }
        .into_stored(Utc::now());
        let json = serde_json::to_value(&point).unwrap();
        assert_eq!(json["account_id"], serde_json::Value::Null);
        assert_eq!(json["currency"], "USD");
        assert_eq!(serde_json::from_value::<ValuePoint>(json).unwrap(), point);
    }
}
