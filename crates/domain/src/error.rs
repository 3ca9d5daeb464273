//! The crate's one error type.

use rust_decimal::Decimal;

/// Why a value cannot become a domain type. Every variant names the field (or environment variable) at fault,
/// so a caller can report it without knowing where the value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The text is not a UUID.
    #[error("{field}: {value:?} is not a valid UUID")]
    InvalidUuid {
        /// The field that was being parsed, e.g. `"user_id"`.
        field: &'static str,
        /// The offending input, cut to 64 characters.
        value: String,
    },
    /// A text value the column cannot hold or the domain does not accept.
    #[error("{field}: {problem}")]
    InvalidText {
        /// The field that was being parsed, e.g. `"institution_name"`.
        field: &'static str,
        /// What is wrong with it.
        problem: TextProblem,
    },
    /// A string outside a closed vocabulary (a schema CHECK constraint).
    #[error("{field}: {value:?} is not one of {}", expected.join(", "))]
    UnknownValue {
        /// The field that was being parsed, e.g. `"provider"`.
        field: &'static str,
        /// The offending input, cut to 64 characters.
        value: String,
        /// The accepted spellings.
        expected: &'static [&'static str],
    },
    /// The number has more integer digits than the column's `NUMERIC(precision, scale)` allows.
    #[error("{field}: {value} does not fit NUMERIC({precision},{scale}) (at most {} integer digits)", precision - scale)]
    NumericOverflow {
        /// The field that was being checked, e.g. `"limit_price"`.
        field: &'static str,
        /// The value after rounding to the column's scale.
        value: Decimal,
        /// The column's precision (total significant digits).
        precision: u32,
        /// The column's scale (digits after the point).
        scale: u32,
    },
    /// A number with more digits after the point than the column keeps, where rounding it would change what
    /// someone else gave (a provider's figure, an order's size or price): refused instead of rounded.
    #[error(
        "{field}: {value} has more than the {scale} decimal places NUMERIC({precision},{scale}) keeps"
    )]
    ExcessScale {
        /// The field that was being checked, e.g. `"units"`.
        field: &'static str,
        /// The value as given.
        value: Decimal,
        /// The column's precision (total significant digits).
        precision: u32,
        /// The column's scale (digits after the point).
        scale: u32,
    },
    /// Zero or a negative number where only a positive one means anything (an order's size or price).
    #[error("{field}: {value} must be greater than zero")]
    NotPositive {
        /// The field that was being checked, e.g. `"limit_price"`.
        field: &'static str,
        /// The offending value.
        value: Decimal,
    },
    /// A negative number where the schema or the meaning forbids one.
    #[error("{field}: {value} is negative, and must be zero or more")]
    Negative {
        /// The field that was being checked, e.g. `"units"`.
        field: &'static str,
        /// The offending value.
        value: Decimal,
    },
    /// Text that is not a decimal number.
    #[error("{field}: {value:?} is not a decimal number")]
    InvalidDecimal {
        /// The field that was being parsed.
        field: &'static str,
        /// The offending input, cut to 64 characters.
        value: String,
    },
    /// A feature-flag environment variable that is set to something other than a boolean.
    #[error("{variable}={value:?} is not a boolean: use true/false, 1/0, yes/no or on/off")]
    InvalidFlag {
        /// The environment variable, e.g. `"FF_BROKERAGE_MODE"`.
        variable: &'static str,
        /// What it was set to, cut to 64 characters.
        value: String,
    },
    /// A value that breaks a rule involving the field (or a combination of fields).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault, e.g. `"accounts_count"`.
        field: &'static str,
        /// The rule it breaks.
        reason: String,
    },
}

/// What is wrong with a text value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextProblem {
    /// Empty, or only whitespace.
    #[error("must not be empty")]
    Empty,
    /// Longer than the limit, in bytes of UTF-8.
    #[error("is {actual} bytes long, more than the {max} allowed")]
    TooLong {
        /// The limit.
        max: usize,
        /// The input's length.
        actual: usize,
    },
    /// Contains a NUL character, which PostgreSQL `text` cannot store.
    #[error("contains a NUL character, which PostgreSQL text cannot store")]
    ContainsNul,
    /// Contains a control character (line break, tab...) where the value is an identifier.
    #[error("contains a control character")]
    ContainsControl,
    /// Not a currency code (2 to 12 letters or digits, such as `USD` or `BTC`).
    #[error("is not a currency code (2 to 12 letters or digits, such as USD or BTC)")]
    NotACurrencyCode,
}

/// Cuts user input to 64 characters for an error message: enough to recognise, never a whole payload.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}
