//! Money and quantities as [`Decimal`], one newtype per `NUMERIC(precision, scale)` column shape. The rounding
//! and overflow rules are documented on the crate (section "Numbers"), where readers of the API see them.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, excerpt};

/// Whether a column admits negative values.
#[derive(Clone, Copy)]
enum Sign {
    NonNegative,
    Any,
}

/// Rounds `value` to `scale` as PostgreSQL does, then checks that it fits `NUMERIC(precision, scale)` and `sign`.
fn fit(
    field: &'static str,
    value: Decimal,
    precision: u32,
    scale: u32,
    sign: Sign,
) -> Result<Decimal, DomainError> {
    let mut rounded = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() {
        rounded = Decimal::ZERO; // drops a negative zero's sign
    }
    if matches!(sign, Sign::NonNegative) && rounded.is_sign_negative() {
        return Err(DomainError::Negative { field, value });
    }
    let integer_digits = precision - scale;
    let limit = Decimal::from_i128_with_scale(10_i128.pow(integer_digits), 0);
    if rounded.abs() >= limit {
        return Err(DomainError::NumericOverflow {
            field,
            value: rounded,
            precision,
            scale,
        });
    }
    rounded.rescale(scale); // pads only: the value already has at most `scale` decimals
    Ok(rounded)
}

/// Checks that `value` has at most `scale` digits after the point (trailing zeros do not count), then fits it like
/// [`fit`]: what a caller asks for is kept exactly or refused, never rounded.
fn fit_exact(
    field: &'static str,
    value: Decimal,
    precision: u32,
    scale: u32,
    sign: Sign,
) -> Result<Decimal, DomainError> {
    if value.normalize().scale() > scale {
        return Err(DomainError::ExcessScale {
            field,
            value,
            precision,
            scale,
        });
    }
    fit(field, value, precision, scale, sign)
}

/// Reads decimal text as providers send it: plain (`"12.50"`) or scientific (`"1.5E-7"`).
fn parse_decimal(field: &'static str, text: &str) -> Result<Decimal, DomainError> {
    let trimmed = text.trim();
    Decimal::from_str_exact(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .map_err(|_| DomainError::InvalidDecimal {
            field,
            value: excerpt(text),
        })
}

macro_rules! decimal_column {
    (
        $(#[$doc:meta])*
        $name:ident, numeric($precision:literal, $scale:literal), $sign:ident, field = $field:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "Decimal", into = "Decimal")]
        pub struct $name(Decimal);

        impl $name {
            /// The column's precision: significant digits in all.
            pub const PRECISION: u32 = $precision;
            /// The column's scale: digits after the point.
            pub const SCALE: u32 = $scale;
            /// The field name errors use when the caller names none (see [`Self::new_for`]).
            pub const FIELD: &'static str = $field;
            /// Zero, at the column's scale.
            pub const ZERO: Self = Self(Decimal::from_parts(0, 0, 0, false, $scale));

            /// Rounds `value` to the column's scale, as PostgreSQL does, and checks that it fits: for a figure
            /// Tributary computes itself (a sum, a quotient, price × quantity). A number someone else gives
            /// (a provider, a caller) goes through [`Self::exact`] instead, which never rounds (see
            /// [the crate's Numbers section](crate#numbers)).
            ///
            /// # Errors
            /// [`DomainError::NumericOverflow`] or [`DomainError::Negative`], naming [`Self::FIELD`].
            pub fn new(value: Decimal) -> Result<Self, DomainError> {
                Self::new_for($field, value)
            }

            /// Like [`Self::new`], naming `field` in the error (e.g. `"limit_price"` for a [`Price`]).
            ///
            /// # Errors
            /// [`DomainError::NumericOverflow`] or [`DomainError::Negative`], naming `field`.
            pub fn new_for(field: &'static str, value: Decimal) -> Result<Self, DomainError> {
                fit(field, value, $precision, $scale, Sign::$sign).map(Self)
            }

            /// Parses decimal text (plain or scientific notation), then checks it like [`Self::new`].
            ///
            /// # Errors
            /// [`DomainError::InvalidDecimal`] for text that is not a number, else as [`Self::new`].
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                Self::parse_for($field, text)
            }

            /// Like [`Self::parse`], naming `field` in the error.
            ///
            /// # Errors
            /// As [`Self::parse`], naming `field`.
            pub fn parse_for(field: &'static str, text: &str) -> Result<Self, DomainError> {
                Self::new_for(field, parse_decimal(field, text)?)
            }

            /// Like [`Self::new`], but a value with more decimals than the column keeps is refused instead of
            /// rounded: for a number someone else gives, a provider's figure or what a caller asks for (an
            /// order's size or price), where rounding would store or send something else than was given.
            ///
            /// # Errors
            /// [`DomainError::ExcessScale`], else as [`Self::new`], naming [`Self::FIELD`].
            pub fn exact(value: Decimal) -> Result<Self, DomainError> {
                Self::exact_for($field, value)
            }

            /// Like [`Self::exact`], naming `field` in the error.
            ///
            /// # Errors
            /// As [`Self::exact`], naming `field`.
            pub fn exact_for(field: &'static str, value: Decimal) -> Result<Self, DomainError> {
                fit_exact(field, value, $precision, $scale, Sign::$sign).map(Self)
            }

            /// Parses decimal text, then checks it like [`Self::exact`].
            ///
            /// # Errors
            /// [`DomainError::InvalidDecimal`] for text that is not a number, else as [`Self::exact`].
            pub fn parse_exact(text: &str) -> Result<Self, DomainError> {
                Self::parse_exact_for($field, text)
            }

            /// Like [`Self::parse_exact`], naming `field` in the error.
            ///
            /// # Errors
            /// As [`Self::parse_exact`], naming `field`.
            pub fn parse_exact_for(field: &'static str, text: &str) -> Result<Self, DomainError> {
                Self::exact_for(field, parse_decimal(field, text)?)
            }

            /// The value, at the column's scale.
            pub const fn get(self) -> Decimal {
                self.0
            }

            /// Whether the value is zero.
            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl TryFrom<Decimal> for $name {
            type Error = DomainError;

            fn try_from(value: Decimal) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for Decimal {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

decimal_column!(
    /// A number of shares, contracts or coins in an order: `units` and `filled_units`, `NUMERIC(24,10)`
    /// (migration 0017), never negative (the schema's CHECK). Ten decimals keep Alpaca's crypto quantities
    /// (up to 9) exactly; fourteen integer digits are more than any order's size.
    Units, numeric(24, 10), NonNegative, field = "units"
);
decimal_column!(
    /// A price per unit in an order: `limit_price`, `stop_price`, `average_fill_price`, `NUMERIC(24,10)`
    /// (migration 0017), so a sub-cent crypto price keeps its digits. Negative values are accepted, as the
    /// schema does: multi-leg option orders quote a net credit as a negative limit price.
    Price, numeric(24, 10), Any, field = "price"
);
decimal_column!(
    /// A dollar amount to trade instead of a number of units: `notional_value`, `NUMERIC(15,2)`, never negative
    /// (the side is the order's action, not the sign). Alpaca's `notional` "can take up to 2 decimal points"
    /// (alpaca-broker-api.yaml, `CreateOrderRequest.notional`), and every order example in Alpaca's and
    /// SnapTrade's specs is whole dollars (`notional: '500'`, `NotionalValue` `example: 100.00`).
    Notional, numeric(15, 2), NonNegative, field = "notional_value"
);
decimal_column!(
    /// A holding's quantity: `total_quantity`, `NUMERIC(28,10)` (migration 0017), never negative (the schema's
    /// CHECK). Ten decimals keep Alpaca's crypto quantities (up to 9) exactly.
    Quantity, numeric(28, 10), NonNegative, field = "total_quantity"
);
decimal_column!(
    /// A non-negative amount of money on a holding: `total_market_value` and `total_cost_basis`,
    /// `NUMERIC(28,10)` (migration 0017) with `>= 0` CHECKs. Ten decimals keep money in a cryptocurrency to the
    /// satoshi (Plaid quotes holdings in `unofficial_currency_code`s such as BTC) and Alpaca's balances as its
    /// spec's example sends them (`equity: '28059.3882330664'`).
    Amount, numeric(28, 10), NonNegative, field = "amount"
);
decimal_column!(
    /// An amount of money that may be negative: `unrealized_gain_loss`, `day_change_value`, `NUMERIC(28,10)`
    /// (migration 0017).
    SignedAmount, numeric(28, 10), Any, field = "signed_amount"
);
decimal_column!(
    /// A cost per unit on a holding: `average_cost_basis`, `NUMERIC(28,10)` (migration 0017). Never negative: it
    /// is the total cost basis (which the schema keeps `>= 0`) divided by the quantity.
    UnitCost, numeric(28, 10), NonNegative, field = "average_cost_basis"
);
decimal_column!(
    /// A percentage, `12.5` meaning 12.5 %: `unrealized_gain_loss_percent`, `day_change_percent`,
    /// `NUMERIC(26,4)` (migration 0016): wide enough for any gain over any cost basis of a cent or more that the
    /// money columns can hold (below 10^18 over at least 0.01 is below 10^22 %).
    Percent, numeric(26, 4), Any, field = "percent"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn a_value_within_the_column_is_kept_at_the_column_scale() {
        let units = Units::new(d("1.5")).unwrap();
        assert_eq!(units.get(), d("1.5"));
        assert_eq!(units.to_string(), "1.5000000000");
        assert_eq!(Amount::new(d("1.5")).unwrap().to_string(), "1.5000000000");
    }

    #[test]
    fn a_computed_value_with_excess_scale_is_rounded_half_away_from_zero_like_postgres() {
        assert_eq!(
            Units::new(d("0.00000000005")).unwrap().get(),
            d("0.0000000001")
        );
        assert_eq!(Units::new(d("0.000000000049")).unwrap().get(), d("0"));
        assert_eq!(
            Price::new(d("-1.00000000005")).unwrap().get(),
            d("-1.0000000001")
        );
        assert_eq!(
            Amount::new(d("10.00000000005")).unwrap().get(),
            d("10.0000000001")
        );
        assert_eq!(Notional::new(d("10.125")).unwrap().get(), d("10.13"));
    }

    #[test]
    fn the_largest_value_the_column_holds_is_accepted() {
        assert_eq!(
            Units::new(d("99999999999999.9999999999")).unwrap().get(),
            d("99999999999999.9999999999")
        );
        assert!(Notional::new(d("9999999999999.99")).is_ok());
        assert!(Quantity::new(d("999999999999999999.9999999999")).is_ok());
        assert!(UnitCost::new(d("999999999999999999.9999999999")).is_ok());
        assert!(Amount::new(d("999999999999999999.9999999999")).is_ok());
        assert!(Percent::new(d("-9999999999999999999999.9999")).is_ok());
    }

    #[test]
    fn one_integer_digit_too_many_is_refused_naming_the_field() {
        let error = Units::new(d("100000000000000")).unwrap_err();
        assert_eq!(
            error,
            DomainError::NumericOverflow {
                field: "units",
                value: d("100000000000000"),
                precision: 24,
                scale: 10
            }
        );
        assert_eq!(
            error.to_string(),
            "units: 100000000000000 does not fit NUMERIC(24,10) (at most 14 integer digits)"
        );
        assert!(matches!(
            Notional::new(d("10000000000000")),
            Err(DomainError::NumericOverflow { .. })
        ));
        assert!(matches!(
            Percent::new(d("-10000000000000000000000")),
            Err(DomainError::NumericOverflow { .. })
        ));
    }

    #[test]
    fn rounding_that_carries_into_a_new_integer_digit_overflows_as_in_postgres() {
        assert!(matches!(
            Units::new(d("99999999999999.99999999995")),
            Err(DomainError::NumericOverflow { field: "units", .. })
        ));
    }

    #[test]
    fn a_negative_quantity_is_refused_naming_the_field() {
        assert_eq!(
            Units::new_for("filled_units", d("-1")).unwrap_err(),
            DomainError::Negative {
                field: "filled_units",
                value: d("-1")
            }
        );
        assert!(matches!(
            Quantity::new(d("-0.01")),
            Err(DomainError::Negative {
                field: "total_quantity",
                ..
            })
        ));
        assert!(matches!(
            Amount::new(d("-5")),
            Err(DomainError::Negative { .. })
        ));
        assert!(matches!(
            Notional::new(d("-5")),
            Err(DomainError::Negative { .. })
        ));
        assert!(matches!(
            UnitCost::new(d("-5")),
            Err(DomainError::Negative { .. })
        ));
    }

    #[test]
    fn a_negative_value_that_rounds_to_zero_is_zero() {
        let units = Units::new(d("-0.00000000001")).unwrap();
        assert!(units.is_zero());
        assert!(!units.get().is_sign_negative());
    }

    #[test]
    fn signed_columns_accept_negative_values() {
        assert_eq!(Price::new(d("-0.35")).unwrap().get(), d("-0.35"));
        assert_eq!(SignedAmount::new(d("-1234.5")).unwrap().get(), d("-1234.5"));
    }

    #[test]
    fn decimal_text_parses_in_plain_and_scientific_notation() {
        assert_eq!(Price::parse(" 187.25 ").unwrap().get(), d("187.25"));
        assert_eq!(Price::parse("1.5E-3").unwrap().get(), d("0.0015"));
        assert_eq!(
            Quantity::parse_exact("1.23456789E-1").unwrap().get(),
            d("0.123456789")
        );
    }

    #[test]
    fn text_that_is_not_a_number_is_refused_naming_the_field() {
        assert_eq!(
            Price::parse_for("limit_price", "12,50").unwrap_err(),
            DomainError::InvalidDecimal {
                field: "limit_price",
                value: "12,50".into()
            }
        );
        assert!(matches!(
            Units::parse("NaN"),
            Err(DomainError::InvalidDecimal { .. })
        ));
    }

    #[test]
    fn numbers_serialize_as_exact_decimal_text_and_deserialize_checked() {
        let value = Notional::new(d("100.1")).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"100.10\"");
        assert_eq!(
            serde_json::from_str::<Notional>("\"100.10\"").unwrap(),
            value
        );
        assert_eq!(serde_json::from_str::<Notional>("100.1").unwrap(), value);
        let error = serde_json::from_str::<Units>("\"-3\"").unwrap_err();
        assert!(
            error.to_string().contains("units: -3 is negative"),
            "{error}"
        );
    }

    #[test]
    fn an_exact_value_with_too_many_decimals_is_refused_naming_field_value_and_scale() {
        let error = Units::exact_for("units", d("0.00000000001")).unwrap_err();
        assert_eq!(
            error,
            DomainError::ExcessScale {
                field: "units",
                value: d("0.00000000001"),
                precision: 24,
                scale: 10
            }
        );
        assert_eq!(
            error.to_string(),
            "units: 0.00000000001 has more than the 10 decimal places NUMERIC(24,10) keeps"
        );
        assert!(matches!(
            Notional::parse_exact("10.125"),
            Err(DomainError::ExcessScale {
                field: "notional_value",
                scale: 2,
                ..
            })
        ));
        assert!(matches!(
            Price::parse_exact_for("limit_price", "187.12345678901"),
            Err(DomainError::ExcessScale {
                field: "limit_price",
                ..
            })
        ));
    }

    #[test]
    fn an_exact_value_keeps_trailing_zeros_and_the_column_scale() {
        assert_eq!(
            Units::parse_exact("1.500000000000000").unwrap().get(),
            d("1.5000000000")
        );
        assert_eq!(Notional::exact(d("10.10")).unwrap().to_string(), "10.10");
        assert!(matches!(
            Units::exact(d("100000000000000")),
            Err(DomainError::NumericOverflow { .. })
        ));
        assert!(matches!(
            Units::parse_exact("-1"),
            Err(DomainError::Negative { .. })
        ));
    }

    #[test]
    fn alpacas_nine_decimal_crypto_quantity_is_kept_to_the_last_digit() {
        let quantity = Quantity::parse_exact_for("qty", "0.123456789").unwrap();
        assert_eq!(quantity.get(), d("0.123456789"));
        assert_eq!(quantity.to_string(), "0.1234567890");
        let units = Units::parse_exact_for("filled_qty", "0.000000001").unwrap();
        assert_eq!(units.get(), d("0.000000001"));
    }

    #[test]
    fn money_past_the_cent_is_kept_to_the_last_digit() {
        // plaid-openapi.yml, /investments/holdings/get's example: `institution_value: 4437.35905`.
        assert_eq!(
            Amount::parse_exact_for("institution_value", "16.6665")
                .unwrap()
                .get(),
            d("16.6665")
        );
        assert_eq!(
            SignedAmount::parse_exact("4437.35905").unwrap().to_string(),
            "4437.3590500000"
        );
        // A value quoted in BTC, to the satoshi; Alpaca's trading account example's `equity`.
        assert!(Amount::parse_exact("0.00000001").is_ok());
        assert!(SignedAmount::parse_exact("28059.3882330664").is_ok());
    }

    #[test]
    fn a_provider_number_past_even_the_widened_columns_is_refused_naming_the_field() {
        assert!(matches!(
            Quantity::parse_exact_for("qty", "0.12345678901"),
            Err(DomainError::ExcessScale {
                field: "qty",
                scale: 10,
                ..
            })
        ));
        assert!(matches!(
            Amount::parse_exact_for("institution_value", "16.66666666665"),
            Err(DomainError::ExcessScale {
                field: "institution_value",
                scale: 10,
                ..
            })
        ));
    }

    /// Decimals of up to `max_integer` in magnitude with up to `max_scale` (at most 12) decimals, either sign.
    fn decimal_with_scale(max_integer: i64, max_scale: u32) -> impl Strategy<Value = Decimal> {
        (
            0..=max_integer,
            0..=max_scale,
            0_i64..1_000_000_000_000,
            any::<bool>(),
        )
            .prop_map(|(integer, scale, fraction, negative)| {
                let magnitude =
                    Decimal::from(integer) + Decimal::new(fraction, 12).trunc_with_scale(scale);
                if negative { -magnitude } else { magnitude }
            })
    }

    proptest! {
        #[test]
        fn every_accepted_value_fits_its_column(value in decimal_with_scale(200_000_000_000_000, 12)) {
            match Units::new(value) {
                Ok(units) => {
                    prop_assert!(units.get() >= Decimal::ZERO);
                    prop_assert!(units.get() < d("100000000000000"));
                    prop_assert_eq!(units.get().scale(), 10);
                    prop_assert!((units.get() - value).abs() <= d("0.00000000005"));
                }
                Err(DomainError::Negative { .. }) => prop_assert!(value < Decimal::ZERO),
                Err(DomainError::NumericOverflow { .. }) => {
                    prop_assert!(value.abs() >= d("99999999999999.99999999995"))
                }
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
        }

        #[test]
        fn a_value_already_at_the_column_scale_is_kept_exactly(value in decimal_with_scale(99_999_999_999_999, 10)) {
            let price = Price::new(value).unwrap();
            prop_assert_eq!(price.get(), value);
            prop_assert_eq!(Price::exact(value).unwrap(), price);
            prop_assert_eq!(price.to_string().parse::<Price>().unwrap(), price);
        }

        #[test]
        fn an_exact_value_is_kept_to_the_last_digit_or_refused_never_rounded(
            value in decimal_with_scale(999_999_999_999_999_999, 12)
        ) {
            match Quantity::exact(value) {
                Ok(quantity) => prop_assert_eq!(quantity.get(), value),
                Err(DomainError::ExcessScale { field, scale, .. }) => {
                    prop_assert_eq!(field, "total_quantity");
                    prop_assert_eq!(scale, 10);
                    prop_assert!(value.normalize().scale() > 10);
                }
                Err(DomainError::Negative { .. }) => prop_assert!(value < Decimal::ZERO),
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
        }

        #[test]
        fn accepting_is_idempotent(value in decimal_with_scale(999_999_999_999_999_999, 12)) {
            if let Ok(quantity) = Quantity::new(value) {
                prop_assert_eq!(Quantity::new(quantity.get()).unwrap(), quantity);
                let json = serde_json::to_string(&quantity).unwrap();
                prop_assert_eq!(serde_json::from_str::<Quantity>(&json).unwrap(), quantity);
            }
        }
    }
}
