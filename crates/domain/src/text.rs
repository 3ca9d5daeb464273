//! Validated text: provider ids that are not UUIDs, symbols and names.
//!
//! The schema stores these as unbounded `text`, so the limits here come from PostgreSQL itself: `text` cannot hold
//! a NUL character, and a b-tree index entry cannot exceed about 2.7 kB, which an over-long value in an indexed
//! column (`provider_account_id`, `brokerage_order_id`, `symbol`, `institution_name`...) would hit at insert time.
//! [`MAX_TEXT_BYTES`] stays well under that, so such a value is refused here, before any SQL runs.
//! Surrounding whitespace is trimmed: providers pad values, and `" AAPL"` and `"AAPL"` must not become two rows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, TextProblem};

/// The longest text value accepted, in bytes of UTF-8: half of the ~2 704-byte b-tree entry limit, leaving room
/// for the other columns of a composite unique key such as `(provider, provider_account_id, user_id)`.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Whether control characters (line breaks, tabs...) are refused, as they are in identifiers.
#[derive(Clone, Copy)]
pub(crate) enum Controls {
    Refused,
    Allowed,
}

/// Trims `raw` and checks it: not empty, no NUL, at most `max` bytes, and no control characters if refused.
/// Errors name `field`.
pub(crate) fn check(
    field: &'static str,
    raw: &str,
    controls: Controls,
    max: usize,
) -> Result<String, DomainError> {
    let invalid = |problem| DomainError::InvalidText { field, problem };
    if raw.contains('\0') {
        return Err(invalid(TextProblem::ContainsNul));
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(TextProblem::Empty));
    }
    if trimmed.len() > max {
        return Err(invalid(TextProblem::TooLong {
            max,
            actual: trimmed.len(),
        }));
    }
    if matches!(controls, Controls::Refused) && trimmed.chars().any(char::is_control) {
        return Err(invalid(TextProblem::ContainsControl));
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $controls:expr) => {
        text_newtype!($(#[$doc])* $name, $field, $controls, max = MAX_TEXT_BYTES);
    };
    ($(#[$doc:meta])* $name:ident, $field:literal, $controls:expr, max = $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The field name used in errors and in the schema.
            pub const FIELD: &'static str = $field;

            /// The longest value accepted, in bytes of UTF-8.
            pub const MAX_BYTES: usize = $max;

            /// Trims the text and checks it: not empty, at most [`Self::MAX_BYTES`] bytes, no NUL.
            ///
            /// # Errors
            /// [`DomainError::InvalidText`] naming the field and the problem.
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                check($field, text, $controls, $max).map(Self)
            }

            /// The text, trimmed.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = DomainError;

            fn try_from(text: &str) -> Result<Self, Self::Error> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use text_newtype;

text_newtype!(
    /// A provider's id for an account (`user_investment_accounts.provider_account_id`): Plaid's `account_id`,
    /// SnapTrade's account UUID as text, Alpaca's account id.
    ProviderAccountId,
    "provider_account_id",
    Controls::Refused
);
text_newtype!(
    /// The brokerage's id for an order (`snaptrade_orders.brokerage_order_id`).
    BrokerageOrderId,
    "brokerage_order_id",
    Controls::Refused
);
text_newtype!(
    /// Plaid's item id (`user_investment_accounts.provider_item_id`): one Plaid login, holding several accounts.
    ProviderItemId,
    "provider_item_id",
    Controls::Refused
);
text_newtype!(
    /// The id a client chooses for an order so a retried submission is not placed twice: Alpaca's
    /// `client_order_id`, which Alpaca limits to 128 characters (counted here in bytes, the stricter measure).
    ClientOrderId,
    "client_order_id",
    Controls::Refused,
    max = 128
);
text_newtype!(
    /// SnapTrade's user id (`snaptrade_users.snaptrade_user_id`), chosen by us when registering the user.
    SnapTradeUserId,
    "snaptrade_user_id",
    Controls::Refused
);
text_newtype!(
    /// A ticker or contract symbol as the provider spells it (`symbol` on holdings and orders): `AAPL`, `BRK.B`,
    /// `BTC/USD`, an OCC option symbol with its inner spaces (`AAPL  240119C00150000`). Case is kept: the
    /// provider's spelling is what its API accepts back.
    Symbol,
    "symbol",
    Controls::Refused
);
text_newtype!(
    /// An institution's display name (`user_investment_accounts.institution_name`, which the schema requires
    /// to be non-empty).
    InstitutionName,
    "institution_name",
    Controls::Allowed
);
text_newtype!(
    /// A brokerage's display name (`brokerage_name` on connections and accounts).
    BrokerageName,
    "brokerage_name",
    Controls::Allowed
);
text_newtype!(
    /// A brokerage's slug in SnapTrade's catalogue (`snaptrade_brokerage_connections.brokerage_slug`), e.g.
    /// `ALPACA`, `QUESTRADE`.
    BrokerageSlug,
    "brokerage_slug",
    Controls::Refused
);
text_newtype!(
    /// A provider's id for an institution (`user_investment_accounts.institution_id`), e.g. Plaid's `ins_3`.
    InstitutionId,
    "institution_id",
    Controls::Refused
);
text_newtype!(
    /// The kind of account as the provider names it (`user_investment_accounts.account_type`, free text in the
    /// schema): `brokerage`, `401k`, `ira`, `investment`...
    AccountType,
    "account_type",
    Controls::Refused
);

text_newtype!(
    /// An account's display name (`user_investment_accounts.account_name`).
    AccountName,
    "account_name",
    Controls::Allowed
);
text_newtype!(
    /// The provider's finer kind of account (`user_investment_accounts.account_subtype`): `roth`, `401k`...
    AccountSubtype,
    "account_subtype",
    Controls::Refused
);
text_newtype!(
    /// A provider's id for a security (`user_aggregated_holdings.security_id`), e.g. Plaid's `security_id`.
    SecurityId,
    "security_id",
    Controls::Refused
);
text_newtype!(
    /// A security's display name (`user_aggregated_holdings.security_name`).
    SecurityName,
    "security_name",
    Controls::Allowed
);

/// The longest [`StatusMessage`] kept, in bytes of UTF-8; longer messages are cut at a character boundary.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// A human-readable message from a provider or a failed sync (`status_message`, `error_message`,
/// `sync_error_message`). Unlike identifiers, a message is informative, not a key, so it is cleaned rather than
/// refused: NUL characters (which PostgreSQL `text` cannot store) are removed, whitespace trimmed, and anything over
/// [`MAX_MESSAGE_BYTES`] cut, so a provider's odd error text can never fail the write that records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StatusMessage(String);

impl StatusMessage {
    /// The field name used in errors.
    pub const FIELD: &'static str = "message";

    /// Cleans the text as described on the type.
    ///
    /// # Errors
    /// [`DomainError::InvalidText`] with [`TextProblem::Empty`] when nothing is left.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let without_nul: String = text.chars().filter(|c| *c != '\0').collect();
        let mut message = without_nul.trim();
        if message.is_empty() {
            return Err(DomainError::InvalidText {
                field: Self::FIELD,
                problem: TextProblem::Empty,
            });
        }
        if message.len() > MAX_MESSAGE_BYTES {
            let cut = (0..=MAX_MESSAGE_BYTES)
                .rev()
                .find(|i| message.is_char_boundary(*i))
                .unwrap_or(0);
            message = message[..cut].trim_end();
        }
        Ok(Self(message.to_owned()))
    }

    /// A message if the provider sent a non-blank one: `None`, `""` and `"  "` all give `None`.
    pub fn from_optional(text: Option<&str>) -> Option<Self> {
        text.and_then(|text| Self::parse(text).ok())
    }

    /// The message.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StatusMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StatusMessage {
    type Error = DomainError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<StatusMessage> for String {
    fn from(message: StatusMessage) -> Self {
        message.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(Symbol::parse("  AAPL\t").unwrap().as_str(), "AAPL");
    }

    #[test]
    fn an_empty_institution_name_is_refused_naming_the_field() {
        let error = InstitutionName::parse("").unwrap_err();
        assert_eq!(
            error,
            DomainError::InvalidText {
                field: "institution_name",
                problem: TextProblem::Empty
            }
        );
        assert_eq!(error.to_string(), "institution_name: must not be empty");
    }

    #[test]
    fn a_whitespace_only_value_counts_as_empty() {
        assert!(matches!(
            ProviderAccountId::parse(" \n "),
            Err(DomainError::InvalidText {
                problem: TextProblem::Empty,
                ..
            })
        ));
    }

    #[test]
    fn a_nul_byte_is_refused_because_postgres_text_cannot_hold_it() {
        assert_eq!(
            BrokerageOrderId::parse("abc\0def").unwrap_err(),
            DomainError::InvalidText {
                field: "brokerage_order_id",
                problem: TextProblem::ContainsNul
            }
        );
    }

    #[test]
    fn a_value_longer_than_the_index_allows_is_refused() {
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            Symbol::parse(&long).unwrap_err(),
            DomainError::InvalidText {
                field: "symbol",
                problem: TextProblem::TooLong {
                    max: MAX_TEXT_BYTES,
                    actual: MAX_TEXT_BYTES + 1
                }
            }
        );
        assert!(Symbol::parse(&"x".repeat(MAX_TEXT_BYTES)).is_ok());
    }

    #[test]
    fn length_is_counted_in_bytes_of_utf8() {
        let long = "é".repeat(MAX_TEXT_BYTES / 2 + 1);
        assert!(matches!(
            InstitutionName::parse(&long),
            Err(DomainError::InvalidText {
                problem: TextProblem::TooLong { .. },
                ..
            })
        ));
    }

    #[test]
    fn identifiers_refuse_inner_control_characters_but_names_allow_them() {
        assert!(matches!(
            ProviderItemId::parse("item\n42"),
            Err(DomainError::InvalidText {
                problem: TextProblem::ContainsControl,
                ..
            })
        ));
        assert!(InstitutionName::parse("Charles\tSchwab").is_ok());
    }

    #[test]
    fn a_client_order_id_is_held_to_alpacas_128_character_limit() {
        assert!(ClientOrderId::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            ClientOrderId::parse(&"a".repeat(129)).unwrap_err(),
            DomainError::InvalidText {
                field: "client_order_id",
                problem: TextProblem::TooLong {
                    max: 128,
                    actual: 129
                }
            }
        );
    }

    #[test]
    fn option_symbols_keep_their_inner_spaces() {
        assert_eq!(
            Symbol::parse("AAPL  240119C00150000").unwrap().as_str(),
            "AAPL  240119C00150000"
        );
    }

    #[test]
    fn deserializing_validates_like_parse() {
        assert_eq!(
            serde_json::from_str::<Symbol>("\" MSFT \"")
                .unwrap()
                .as_str(),
            "MSFT"
        );
        let error = serde_json::from_str::<InstitutionName>("\"\"").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("institution_name: must not be empty"),
            "{error}"
        );
    }

    #[test]
    fn serializing_writes_the_plain_string() {
        let id = ClientOrderId::parse("my-order-1").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"my-order-1\"");
    }

    #[test]
    fn a_status_message_drops_nul_characters_instead_of_failing() {
        assert_eq!(
            StatusMessage::parse(" bad\0 order ").unwrap().as_str(),
            "bad order"
        );
    }

    #[test]
    fn an_overlong_status_message_is_cut_at_a_character_boundary() {
        let message = StatusMessage::parse(&"é".repeat(MAX_MESSAGE_BYTES)).unwrap();
        assert!(message.as_str().len() <= MAX_MESSAGE_BYTES);
        assert!(message.as_str().chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_blank_status_message_is_no_message() {
        assert_eq!(StatusMessage::from_optional(Some("  ")), None);
        assert_eq!(StatusMessage::from_optional(None), None);
        assert!(matches!(
            StatusMessage::parse("\0"),
            Err(DomainError::InvalidText {
                field: "message",
                ..
            })
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_valid_identifier_round_trips_through_display_and_serde(text in "[A-Za-z0-9._/ -]{0,40}[A-Za-z0-9]") {
            let id = ProviderAccountId::parse(&text).unwrap();
            proptest::prop_assert_eq!(id.to_string().parse::<ProviderAccountId>().unwrap(), id.clone());
            let json = serde_json::to_string(&id).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<ProviderAccountId>(&json).unwrap(), id);
        }

        #[test]
        fn parsing_never_keeps_surrounding_whitespace(text in "\\PC{0,60}") {
            if let Ok(name) = InstitutionName::parse(&text) {
                proptest::prop_assert_eq!(name.as_str(), text.trim());
            }
        }
    }
}
