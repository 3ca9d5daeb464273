//! Aggregated holdings (`public.user_aggregated_holdings`): one row per user, symbol and currency, summed over
//! accounts.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::currency::Currency;
use crate::error::DomainError;
use crate::id::{AccountId, HoldingId, UniversalSymbolId, UserId};
use crate::numeric::{Amount, Percent, Price, Quantity, SignedAmount, UnitCost};
use crate::text::{InstitutionName, SecurityId, SecurityName, Symbol};
use crate::vocabulary::{closed_vocabulary, spelling_key};

closed_vocabulary! {
    /// The kind of security (`user_aggregated_holdings.security_type`, closed by a CHECK).
    SecurityType, field = "security_type" {
        /// A share of a company.
        Equity => "equity",
        /// A bond or other fixed income.
        Bond => "bond",
        /// An exchange-traded fund.
        Etf => "etf",
        /// A mutual fund.
        MutualFund => "mutual_fund",
        /// An option contract.
        Option => "option",
        /// Cash or a cash equivalent.
        Cash => "cash",
        /// A cryptocurrency.
        Crypto => "crypto",
        /// Anything else.
        Other => "other",
    }
}

impl SecurityType {
    /// Sorts a provider's free-text security type into the column's closed set: Plaid's `equity`, `etf`,
    /// `mutual fund`, `fixed income`, `derivative`, `cryptocurrency`; SnapTrade's type codes `cs`, `et`, `oef`,
    /// `bnd`, `crypto`; Alpaca's asset classes `us_equity`, `us_option`. Anything unrecognised is `Other`:
    /// the column cannot hold it, and the provider's text stays in `provider_metadata`.
    pub fn classify(provider_text: &str) -> Self {
        match spelling_key(provider_text).as_str() {
            "equity" | "cs" | "commonstock" | "stock" | "usequity" | "ad" | "adr" | "ps"
            | "pfd" => Self::Equity,
            "bond" | "bnd" | "fixedincome" => Self::Bond,
            "etf" | "et" => Self::Etf,
            "mutualfund" | "oef" | "cef" => Self::MutualFund,
            "option" | "derivative" | "usoption" | "opt" => Self::Option,
            "cash" | "moneymarket" | "cashequivalent" => Self::Cash,
            "crypto" | "cryptocurrency" => Self::Crypto,
            _ => Self::Other,
        }
    }
}

/// Whether an option gives the right to buy or to sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionRight {
    /// The right to buy.
    #[serde(alias = "CALL", alias = "Call")]
    Call,
    /// The right to sell.
    #[serde(alias = "PUT", alias = "Put")]
    Put,
}

/// The contract behind an option holding (`user_aggregated_holdings.option_contract`, JSONB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionContract {
    /// The underlying security's symbol.
    pub underlying_symbol: Symbol,
    /// Call or put.
    pub option_type: OptionRight,
    /// The strike price.
    pub strike_price: Price,
    /// The last day the option can be exercised.
    pub expiration_date: NaiveDate,
    /// Units of the underlying per contract (usually 100), when the provider says.
    pub multiplier: Option<Decimal>,
}

/// The `data_source` column's default.
pub const DEFAULT_DATA_SOURCE: &str = "aggregated";

/// One account's part of an aggregated holding: an element of the `account_contributions` JSONB array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountContribution {
    /// The account (`user_investment_accounts.id`).
    pub account_id: AccountId,
    /// The account's institution, for the per-institution breakdown.
    pub institution: InstitutionName,
    /// Units held in this account.
    pub quantity: Quantity,
    /// Their market value.
    pub market_value: Amount,
    /// Their cost basis.
    pub cost_basis: Amount,
}

/// One institution's total in a holding: a value of the `institution_breakdown` JSONB object, keyed by the
/// institution's name. Derived from the contributions, never set by hand, so the two columns always agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionTotals {
    /// Units held at the institution.
    pub quantity: Decimal,
    /// Their market value.
    pub market_value: Decimal,
    /// Their cost basis.
    pub cost_basis: Decimal,
    /// How many of the user's accounts there hold the symbol.
    pub account_count: u32,
}

/// Sums contributions per institution, for the `institution_breakdown` column.
pub fn institution_breakdown(
    contributions: &[AccountContribution],
) -> BTreeMap<String, InstitutionTotals> {
    let mut breakdown = BTreeMap::<String, InstitutionTotals>::new();
    for contribution in contributions {
        let totals = breakdown
            .entry(contribution.institution.as_str().to_owned())
            .or_insert(InstitutionTotals {
                quantity: Decimal::ZERO,
                market_value: Decimal::ZERO,
                cost_basis: Decimal::ZERO,
                account_count: 0,
            });
        totals.quantity += contribution.quantity.get();
        totals.market_value += contribution.market_value.get();
        totals.cost_basis += contribution.cost_basis.get();
        totals.account_count += 1;
    }
    breakdown
}

/// The money figures of a holding, each already fitting its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingFigures {
    /// `total_quantity`.
    pub total_quantity: Quantity,
    /// `total_market_value`.
    pub total_market_value: Amount,
    /// `total_cost_basis`.
    pub total_cost_basis: Amount,
    /// `average_cost_basis`.
    pub average_cost_basis: UnitCost,
    /// `unrealized_gain_loss`.
    pub unrealized_gain_loss: SignedAmount,
    /// `unrealized_gain_loss_percent`.
    pub unrealized_gain_loss_percent: Percent,
    /// `day_change_value`.
    pub day_change_value: SignedAmount,
    /// `day_change_percent`.
    pub day_change_percent: Percent,
}

impl HoldingFigures {
    /// All zero: the columns' defaults.
    pub const ZERO: Self = Self {
        total_quantity: Quantity::ZERO,
        total_market_value: Amount::ZERO,
        total_cost_basis: Amount::ZERO,
        average_cost_basis: UnitCost::ZERO,
        unrealized_gain_loss: SignedAmount::ZERO,
        unrealized_gain_loss_percent: Percent::ZERO,
        day_change_value: SignedAmount::ZERO,
        day_change_percent: Percent::ZERO,
    };

    /// The figures that follow from a quantity, a market value and a cost basis: the average cost, and the
    /// unrealized gain or loss in money and in percent of the cost (zero when there is no cost).
    ///
    /// These are Tributary's arithmetic, not a provider's numbers, so they are rounded to their columns as
    /// PostgreSQL would round them (see [the crate's Numbers section](crate#numbers)). The gain always fits
    /// its column, and so does its percent over a cost basis of one cent or more (the percent's column holds
    /// any gain the money columns can: Plaid's own example, a cost basis of 0.01 valued at 110, is a gain of
    /// 1,099,900 %). Over a cost basis of a fraction of a cent, which the money columns keep since migration
    /// 0017, a large gain's percent can pass its column.
    ///
    /// # Errors
    /// [`DomainError::NumericOverflow`] naming `average_cost_basis` when the cost per unit does not fit its
    /// column (a large cost basis over a minute quantity), or `unrealized_gain_loss_percent` when the percent
    /// does not (a large gain over a cost basis of a fraction of a cent). Either leaves the holding out of a
    /// sync, reported, rather than rounded or clamped into its row.
    pub fn derive(
        quantity: Quantity,
        market_value: Amount,
        cost_basis: Amount,
    ) -> Result<Self, DomainError> {
        let cost = cost_basis.get();
        let gain = market_value.get() - cost;
        // Cannot pass what a `Decimal` holds (about 7.9 × 10^28): a cost below 10^18 over at least 10^-10 units
        // is below 10^28.
        let average_cost = if quantity.is_zero() {
            Decimal::ZERO
        } else {
            cost / quantity.get()
        };
        // A gain below 10^18 over a cost of 10^-10 passes what a `Decimal` holds: checked, and refused like a
        // percent past its column.
        let gain_percent = if cost.is_zero() {
            Decimal::ZERO
        } else {
            gain.checked_div(cost)
                .and_then(|ratio| ratio.checked_mul(Decimal::ONE_HUNDRED))
                .ok_or(DomainError::NumericOverflow {
                    field: "unrealized_gain_loss_percent",
                    value: Decimal::MAX,
                    precision: Percent::PRECISION,
                    scale: Percent::SCALE,
                })?
        };
        Ok(Self {
            total_quantity: quantity,
            total_market_value: market_value,
            total_cost_basis: cost_basis,
            average_cost_basis: UnitCost::new_for("average_cost_basis", average_cost)?,
            unrealized_gain_loss: SignedAmount::new_for("unrealized_gain_loss", gain)?,
            unrealized_gain_loss_percent: Percent::new_for(
                "unrealized_gain_loss_percent",
                gain_percent,
            )?,
            day_change_value: SignedAmount::ZERO,
            day_change_percent: Percent::ZERO,
        })
    }
}

/// An aggregated holding as stored: a row of `public.user_aggregated_holdings`. NULL numeric columns are read as
/// their default, zero; NULL JSONB columns as empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holding {
    /// The row's id.
    pub id: HoldingId,
    /// The owner.
    pub user_id: UserId,
    /// The symbol; unique per user.
    pub symbol: Symbol,
    /// The provider's id for the security.
    pub security_id: Option<SecurityId>,
    /// The security's name.
    pub security_name: Option<SecurityName>,
    /// The kind of security.
    pub security_type: Option<SecurityType>,
    /// The currency every money figure of the row is in; `None` when the provider named none. Part of the key:
    /// a symbol held in two currencies is two rows, never one sum.
    pub currency: Option<Currency>,
    /// Quantities and money.
    #[serde(flatten)]
    pub figures: HoldingFigures,
    /// Each account's part.
    pub account_contributions: Vec<AccountContribution>,
    /// Totals per institution, as stored.
    pub institution_breakdown: BTreeMap<String, InstitutionTotals>,
    /// How many accounts hold the symbol (at least 1).
    pub account_count: u32,
    /// When the row last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When the prices were current.
    pub price_as_of: Option<DateTime<Utc>>,
    /// Where the row came from (`aggregated` by default).
    pub data_source: Option<String>,
    /// Provider-specific details that have no column.
    pub provider_metadata: serde_json::Map<String, serde_json::Value>,
    /// SnapTrade's id for the symbol.
    pub universal_symbol_id: Option<UniversalSymbolId>,
    /// The option contract, for option holdings.
    pub option_contract: Option<OptionContract>,
}

/// A holding to write in a user's holdings replacement, keyed by `(user_id, symbol, currency)`. `institution_breakdown` and
/// `account_count` are derived from the contributions (see [`NewHolding::institution_breakdown`],
/// [`NewHolding::account_count`]), so they cannot disagree with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewHolding {
    /// The owner.
    pub user_id: UserId,
    /// The symbol.
    pub symbol: Symbol,
    /// The provider's id for the security.
    pub security_id: Option<SecurityId>,
    /// The security's name.
    pub security_name: Option<SecurityName>,
    /// The kind of security.
    pub security_type: Option<SecurityType>,
    /// The currency every money figure is in; `None` when the provider named none (see [`Holding::currency`]).
    pub currency: Option<Currency>,
    /// Quantities and money.
    #[serde(flatten)]
    pub figures: HoldingFigures,
    /// Each account's part.
    pub account_contributions: Vec<AccountContribution>,
    /// When the prices were current.
    pub price_as_of: Option<DateTime<Utc>>,
    /// Where the row came from; `None` keeps the column's default, `aggregated`.
    pub data_source: Option<String>,
    /// Provider-specific details that have no column.
    pub provider_metadata: serde_json::Map<String, serde_json::Value>,
    /// SnapTrade's id for the symbol.
    pub universal_symbol_id: Option<UniversalSymbolId>,
    /// The option contract, for option holdings.
    pub option_contract: Option<OptionContract>,
}

impl NewHolding {
    /// A holding of `symbol` with the given figures and nothing else (no currency named: see
    /// [`Self::in_currency`]).
    pub fn new(user_id: UserId, symbol: Symbol, figures: HoldingFigures) -> Self {
        Self {
            user_id,
            symbol,
            security_id: None,
            security_name: None,
            security_type: None,
            currency: None,
            figures,
            account_contributions: Vec::new(),
            price_as_of: None,
            data_source: None,
            provider_metadata: serde_json::Map::new(),
            universal_symbol_id: None,
            option_contract: None,
        }
    }

    /// The same holding, its figures in `currency`.
    #[must_use]
    pub fn in_currency(self, currency: Currency) -> Self {
        Self {
            currency: Some(currency),
            ..self
        }
    }

    /// The `account_count` column: the number of distinct contributing accounts, and at least 1 as the schema's
    /// CHECK requires (a holding comes from some account even when no per-account breakdown is known).
    pub fn account_count(&self) -> u32 {
        let mut accounts: Vec<_> = self
            .account_contributions
            .iter()
            .map(|c| c.account_id)
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        u32::try_from(accounts.len()).unwrap_or(u32::MAX).max(1)
    }

    /// The `institution_breakdown` column, summed from the contributions.
    pub fn institution_breakdown(&self) -> BTreeMap<String, InstitutionTotals> {
        institution_breakdown(&self.account_contributions)
    }

    /// The row this draft becomes when written with id `id` at `now`: `account_count` and
    /// `institution_breakdown` derived from the contributions, `data_source` defaulting to `aggregated`.
    pub fn into_stored(self, id: HoldingId, now: DateTime<Utc>) -> Holding {
        Holding {
            id,
            account_count: self.account_count(),
            institution_breakdown: self.institution_breakdown(),
            user_id: self.user_id,
            symbol: self.symbol,
            security_id: self.security_id,
            security_name: self.security_name,
            security_type: self.security_type,
            currency: self.currency,
            figures: self.figures,
            account_contributions: self.account_contributions,
            updated_at: Some(now),
            price_as_of: self.price_as_of,
            data_source: Some(
                self.data_source
                    .unwrap_or_else(|| DEFAULT_DATA_SOURCE.to_owned()),
            ),
            provider_metadata: self.provider_metadata,
            universal_symbol_id: self.universal_symbol_id,
            option_contract: self.option_contract,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn contribution(
        institution: &str,
        quantity: &str,
        value: &str,
        cost: &str,
    ) -> AccountContribution {
        AccountContribution {
            account_id: AccountId::generate(),
            institution: InstitutionName::parse(institution).unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
            market_value: Amount::parse(value).unwrap(),
            cost_basis: Amount::parse(cost).unwrap(),
        }
    }

    #[test]
    fn security_types_round_trip_the_schema_strings() {
        let stored: Vec<_> = SecurityType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            stored,
            [
                "equity",
                "bond",
                "etf",
                "mutual_fund",
                "option",
                "cash",
                "crypto",
                "other"
            ]
        );
        for kind in SecurityType::ALL {
            assert_eq!(SecurityType::parse(kind.as_str()).unwrap(), *kind);
        }
    }

    #[test]
    fn provider_security_types_are_sorted_into_the_closed_set() {
        assert_eq!(
            SecurityType::classify("mutual fund"),
            SecurityType::MutualFund
        );
        assert_eq!(SecurityType::classify("fixed income"), SecurityType::Bond);
        assert_eq!(SecurityType::classify("cs"), SecurityType::Equity);
        assert_eq!(SecurityType::classify("us_option"), SecurityType::Option);
        assert_eq!(
            SecurityType::classify("cryptocurrency"),
            SecurityType::Crypto
        );
        assert_eq!(SecurityType::classify("warrant"), SecurityType::Other);
    }

    #[test]
    fn derived_figures_compute_average_cost_and_gain() {
        let figures = HoldingFigures::derive(
            Quantity::parse("4").unwrap(),
            Amount::parse("600").unwrap(),
            Amount::parse("500").unwrap(),
        )
        .unwrap();
        assert_eq!(figures.average_cost_basis.get(), d("125"));
        assert_eq!(figures.unrealized_gain_loss.get(), d("100"));
        assert_eq!(figures.unrealized_gain_loss_percent.get(), d("20"));
    }

    #[test]
    fn derived_figures_of_an_empty_position_are_zero_not_a_division_error() {
        let figures = HoldingFigures::derive(Quantity::ZERO, Amount::ZERO, Amount::ZERO).unwrap();
        assert_eq!(figures, HoldingFigures::ZERO);
    }

    #[test]
    fn plaids_own_example_holding_a_gain_of_a_million_percent_derives_exactly() {
        // /investments/holdings/get's example in plaid-openapi.yml: cost_basis 0.01, institution_value 110.
        let figures = HoldingFigures::derive(
            Quantity::parse("0.01").unwrap(),
            Amount::parse("110").unwrap(),
            Amount::parse("0.01").unwrap(),
        )
        .unwrap();
        assert_eq!(figures.unrealized_gain_loss_percent.get(), d("1099900"));
    }

    #[test]
    fn the_largest_gain_over_the_smallest_cost_basis_fits_the_percent_column() {
        let figures = HoldingFigures::derive(
            Quantity::parse("1").unwrap(),
            Amount::parse("999999999999999999.9999999999").unwrap(),
            Amount::parse("0.01").unwrap(),
        )
        .unwrap();
        assert_eq!(
            figures.unrealized_gain_loss_percent.get(),
            d("9999999999999999999900")
        );
    }

    #[test]
    fn a_percent_past_its_column_over_a_fraction_of_a_cent_is_refused_naming_it() {
        for (value, cost) in [
            ("100000000000000000", "0.0001"),
            // 10^28 % and more: past what a `Decimal` holds, refused the same way rather than a panic.
            ("999999999999999999", "0.0000000001"),
        ] {
            let error = HoldingFigures::derive(
                Quantity::parse("1").unwrap(),
                Amount::parse(value).unwrap(),
                Amount::parse(cost).unwrap(),
            )
            .unwrap_err();
            assert!(
                matches!(
                    error,
                    DomainError::NumericOverflow {
                        field: "unrealized_gain_loss_percent",
                        ..
                    }
                ),
                "{value} over {cost}: {error}"
            );
        }
    }

    #[test]
    fn a_cost_per_unit_the_column_cannot_hold_is_refused_naming_it() {
        // 10^8 over 10^-10 units is 10^18, one digit past the column.
        let error = HoldingFigures::derive(
            Quantity::parse("0.0000000001").unwrap(),
            Amount::parse("100000000").unwrap(),
            Amount::parse("100000000").unwrap(),
        )
        .unwrap_err();
        assert!(matches!(
            error,
            DomainError::NumericOverflow {
                field: "average_cost_basis",
                ..
            }
        ));
        // The largest cost over the fewest units stays within what a `Decimal` holds: refused, not a panic.
        assert!(matches!(
            HoldingFigures::derive(
                Quantity::parse("0.0000000001").unwrap(),
                Amount::parse("999999999999999999.9999999999").unwrap(),
                Amount::parse("999999999999999999.9999999999").unwrap(),
            ),
            Err(DomainError::NumericOverflow {
                field: "average_cost_basis",
                ..
            })
        ));
    }

    #[test]
    fn institution_breakdown_sums_contributions_per_institution() {
        let mut holding = NewHolding::new(
            UserId::generate(),
            Symbol::parse("VTI").unwrap(),
            HoldingFigures::ZERO,
        );
        holding.account_contributions = vec![
            contribution("Vanguard", "2", "500", "400"),
            contribution("Vanguard", "1", "250", "240"),
            contribution("Fidelity", "3", "750", "700"),
        ];
        let breakdown = holding.institution_breakdown();
        assert_eq!(breakdown["Vanguard"].quantity, d("3"));
        assert_eq!(breakdown["Vanguard"].market_value, d("750"));
        assert_eq!(breakdown["Vanguard"].account_count, 2);
        assert_eq!(breakdown["Fidelity"].cost_basis, d("700"));
        assert_eq!(holding.account_count(), 3);
    }

    #[test]
    fn a_stored_holding_carries_the_derived_columns_and_the_default_source() {
        let mut draft = NewHolding::new(
            UserId::generate(),
            Symbol::parse("VTI").unwrap(),
            HoldingFigures::ZERO,
        );
        draft.account_contributions = vec![contribution("Vanguard", "2", "500", "400")];
        let now = Utc::now();
        let stored = draft.clone().into_stored(HoldingId::generate(), now);
        assert_eq!(stored.account_count, 1);
        assert_eq!(stored.institution_breakdown, draft.institution_breakdown());
        assert_eq!(stored.data_source.as_deref(), Some(DEFAULT_DATA_SOURCE));
        assert_eq!(stored.updated_at, Some(now));
        assert_eq!(stored.account_contributions, draft.account_contributions);
    }

    #[test]
    fn a_holding_without_contributions_still_counts_one_account() {
        let holding = NewHolding::new(
            UserId::generate(),
            Symbol::parse("AAPL").unwrap(),
            HoldingFigures::ZERO,
        );
        assert_eq!(holding.account_count(), 1);
    }

    #[test]
    fn two_contributions_from_one_account_count_it_once() {
        let mut holding = NewHolding::new(
            UserId::generate(),
            Symbol::parse("AAPL").unwrap(),
            HoldingFigures::ZERO,
        );
        let first = contribution("Schwab", "1", "1", "1");
        let second = AccountContribution {
            account_id: first.account_id,
            ..contribution("Schwab", "2", "2", "2")
        };
        holding.account_contributions = vec![first, second];
        assert_eq!(holding.account_count(), 1);
    }

    #[test]
    fn contributions_serialize_as_the_jsonb_array_and_read_back() {
        let contributions = vec![contribution("Vanguard", "2.5", "500.10", "400")];
        let json = serde_json::to_value(&contributions).unwrap();
        assert_eq!(json[0]["quantity"], "2.5000000000");
        assert_eq!(json[0]["institution"], "Vanguard");
        assert_eq!(
            serde_json::from_value::<Vec<AccountContribution>>(json).unwrap(),
            contributions
        );
    }

    #[test]
    fn a_contribution_with_a_negative_quantity_cannot_be_read() {
        let json = serde_json::json!([{
            "account_id": AccountId::generate(), "institution": "Vanguard",
            "quantity": "-1", "market_value": "1", "cost_basis": "1"
        }]);
        let error = serde_json::from_value::<Vec<AccountContribution>>(json).unwrap_err();
        assert!(error.to_string().contains("negative"), "{error}");
    }

    #[test]
    fn option_contracts_accept_either_case_for_call_and_put() {
        let json = serde_json::json!({
            "underlying_symbol": "AAPL", "option_type": "CALL", "strike_price": "150",
            "expiration_date": "2024-01-19", "multiplier": "100"
        });
        let contract: OptionContract = serde_json::from_value(json).unwrap();
        assert_eq!(contract.option_type, OptionRight::Call);
        assert_eq!(
            serde_json::to_value(&contract).unwrap()["option_type"],
            "call"
        );
    }

    #[test]
    fn a_holding_reads_json_numbers_as_exact_decimals() {
        let holding = NewHolding::new(
            UserId::generate(),
            Symbol::parse("AAPL").unwrap(),
            HoldingFigures::ZERO,
        );
        let mut json = serde_json::to_value(&holding).unwrap();
        json["total_quantity"] = serde_json::from_str("0.1").unwrap();
        json["day_change_percent"] = serde_json::from_str("-1.23456").unwrap();
        let read: NewHolding = serde_json::from_value(json).unwrap();
        assert_eq!(read.figures.total_quantity.get(), d("0.1"));
        assert_eq!(read.figures.day_change_percent.get(), d("-1.2346"));
    }

    #[test]
    fn a_holding_serializes_its_figures_flat_like_the_columns() {
        let holding = NewHolding::new(
            UserId::generate(),
            Symbol::parse("AAPL").unwrap(),
            HoldingFigures::ZERO,
        );
        let json = serde_json::to_value(&holding).unwrap();
        assert_eq!(json["total_quantity"], "0.0000000000");
        assert_eq!(serde_json::from_value::<NewHolding>(json).unwrap(), holding);
    }
}
