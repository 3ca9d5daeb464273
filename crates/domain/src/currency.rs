//! Currencies, and totals that never add two of them together.
//!
//! Every money figure on a holding is in the holding's [`Currency`]: the one the provider prices it in (an ISO
//! 4217 code such as `USD`, or a code outside ISO 4217 such as Plaid's `unofficial_currency_code` `BTC`). A
//! holding whose provider named no currency has none (`None`): its figures are kept, in a bucket of their own,
//! never assumed to be dollars.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, TextProblem};
use crate::holding::Holding;

/// A currency code: 2 to 12 ASCII letters or digits, kept in upper case (`USD`, `CAD`, `BTC`, `USDC`).
///
/// ISO 4217 codes are three letters; providers also report codes outside it for crypto-assets (Plaid's
/// `unofficial_currency_code`, SnapTrade's currency codes), which are longer or contain digits. Anything else
/// (a symbol such as `$`, a name such as `US Dollar`) is refused rather than guessed at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// The field name used in errors and in the schema.
    pub const FIELD: &'static str = "currency";

    /// The longest code accepted.
    pub const MAX_LEN: usize = 12;

    /// Trims `text`, upper-cases it and checks it is a currency code.
    ///
    /// # Errors
    /// [`DomainError::InvalidText`] naming `currency` and what is wrong.
    ///
    /// # Examples
    /// ```
    /// use tributary_domain::Currency;
    ///
    /// assert_eq!(Currency::parse(" usd ")?.as_str(), "USD");
    /// assert_eq!(Currency::parse("BTC")?, Currency::parse("btc")?);
    /// assert!(Currency::parse("US Dollar").is_err());
    /// # Ok::<(), tributary_domain::DomainError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let code = text.trim();
        let invalid = |problem| DomainError::InvalidText {
            field: Self::FIELD,
            problem,
        };
        if code.is_empty() {
            return Err(invalid(TextProblem::Empty));
        }
        let well_formed = (2..=Self::MAX_LEN).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_alphanumeric());
        if !well_formed {
            return Err(invalid(TextProblem::NotACurrencyCode));
        }
        Ok(Self(code.to_ascii_uppercase()))
    }

    /// US dollars.
    pub fn usd() -> Self {
        Self("USD".to_owned())
    }

    /// The code, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Currency {
    type Err = DomainError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

/// What a user holds in one currency: the sums of their holdings' figures in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CurrencyTotals {
    /// The sum of `total_market_value`.
    pub market_value: Decimal,
    /// The sum of `total_cost_basis`.
    pub cost_basis: Decimal,
    /// The sum of `unrealized_gain_loss`.
    pub unrealized_gain_loss: Decimal,
    /// How many holdings are in the currency.
    pub holdings: u32,
}

/// Sums `holdings` per currency; holdings whose provider named no currency are summed under `None`. Two
/// currencies are never added together: converting between them needs a rate and a moment, which is the
/// caller's choice to make. The same sums as the `public.v_portfolio_totals` view.
///
/// # Examples
/// ```
/// use tributary_domain::{Currency, totals_by_currency};
///
/// let totals = totals_by_currency(&[]);
/// assert!(totals.get(&Some(Currency::usd())).is_none());
/// ```
pub fn totals_by_currency(holdings: &[Holding]) -> BTreeMap<Option<Currency>, CurrencyTotals> {
    let mut totals = BTreeMap::<Option<Currency>, CurrencyTotals>::new();
    for holding in holdings {
        let sums = totals.entry(holding.currency.clone()).or_default();
        sums.market_value += holding.figures.total_market_value.get();
        sums.cost_basis += holding.figures.total_cost_basis.get();
        sums.unrealized_gain_loss += holding.figures.unrealized_gain_loss.get();
        sums.holdings += 1;
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_and_unofficial_codes_are_accepted_in_upper_case() {
        for (text, code) in [
            ("USD", "USD"),
            ("cad", "CAD"),
            (" BTC ", "BTC"),
            ("USDC", "USDC"),
        ] {
            assert_eq!(Currency::parse(text).unwrap().as_str(), code);
        }
    }

    #[test]
    fn what_is_not_a_code_is_refused_naming_the_field() {
        for text in ["", "$", "US Dollar", "U", "ABCDEFGHIJKLM", "US-D"] {
            let error = Currency::parse(text).unwrap_err();
            assert!(
                matches!(
                    error,
                    DomainError::InvalidText {
                        field: "currency",
                        ..
                    }
                ),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn a_currency_reads_and_writes_as_its_code() {
        let usd: Currency = serde_json::from_str("\"usd\"").unwrap();
        assert_eq!(serde_json::to_string(&usd).unwrap(), "\"USD\"");
        assert!(serde_json::from_str::<Currency>("\"$\"").is_err());
    }
}
