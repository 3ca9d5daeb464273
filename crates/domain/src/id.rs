//! Row ids: one newtype per table over [`uuid::Uuid`], so an order id can never be passed where an account id is
//! expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, excerpt};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The field name used in errors and in the schema.
            pub const FIELD: &'static str = $field;

            /// Wraps a UUID that is already known to be this kind of id (e.g. read from its column).
            pub const fn new(id: Uuid) -> Self {
                Self(id)
            }

            /// A fresh random (v4) id, for rows the application creates.
            pub fn generate() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the textual form of a UUID (hyphenated, simple, braced or URN).
            ///
            /// # Errors
            /// [`DomainError::InvalidUuid`] naming the field when the text is not a UUID.
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                Uuid::parse_str(text.trim()).map(Self).map_err(|_| DomainError::InvalidUuid {
                    field: $field,
                    value: excerpt(text),
                })
            }

            /// The underlying UUID, for binding to a query.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The underlying UUID by value.
            pub const fn into_uuid(self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

pub(crate) use uuid_id;

uuid_id!(
    /// A Supabase user: `auth.users.id`, and `user_id` in every table.
    UserId,
    "user_id"
);
uuid_id!(
    /// An investment account: `user_investment_accounts.id` (and `snaptrade_orders.account_id`).
    AccountId,
    "account_id"
);
uuid_id!(
    /// A SnapTrade brokerage authorization (a connection to one brokerage login):
    /// `snaptrade_brokerage_connections.authorization_id`, `user_investment_accounts.snaptrade_authorization_id`.
    AuthorizationId,
    "authorization_id"
);
uuid_id!(
    /// An order row: `snaptrade_orders.id`. The brokerage's own id is a [`crate::BrokerageOrderId`].
    OrderId,
    "order_id"
);
uuid_id!(
    /// SnapTrade's universal symbol id: `universal_symbol_id` on holdings and orders.
    UniversalSymbolId,
    "universal_symbol_id"
);
uuid_id!(
    /// An aggregated holding row: `user_aggregated_holdings.id`.
    HoldingId,
    "holding_id"
);

impl HoldingId {
    /// A fresh time-ordered (v7) id. Holdings are written in bulk: ids that grow with time land at the right
    /// edge of the primary key's index, where random ones would touch a different page for every row.
    pub fn generate_ordered() -> Self {
        Self(Uuid::now_v7())
    }
}

uuid_id!(
    /// A brokerage connection row: `snaptrade_brokerage_connections.id` (not the authorization id).
    ConnectionId,
    "connection_id"
);
uuid_id!(
    /// A SnapTrade user registry row: `snaptrade_users.id`.
    SnapTradeUserRowId,
    "snaptrade_user_row_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";

    #[test]
    fn a_hyphenated_uuid_parses_and_displays_unchanged() {
        let id = AccountId::parse(TEXT).unwrap();
        assert_eq!(id.to_string(), TEXT);
        assert_eq!(id.as_uuid(), &Uuid::parse_str(TEXT).unwrap());
    }

    #[test]
    fn surrounding_whitespace_is_ignored_when_parsing() {
        assert_eq!(
            UserId::parse(&format!("  {TEXT}\n")).unwrap().to_string(),
            TEXT
        );
    }

    #[test]
    fn text_that_is_not_a_uuid_is_refused_naming_the_field() {
        let error = OrderId::parse("order-42").unwrap_err();
        assert_eq!(
            error,
            DomainError::InvalidUuid {
                field: "order_id",
                value: "order-42".into()
            }
        );
        assert!(error.to_string().starts_with("order_id:"), "{error}");
    }

    #[test]
    fn an_empty_string_is_not_a_uuid() {
        assert!(matches!(
            UserId::parse(""),
            Err(DomainError::InvalidUuid {
                field: "user_id",
                ..
            })
        ));
    }

    #[test]
    fn ids_serialize_as_a_bare_uuid_string() {
        let id = UniversalSymbolId::parse(TEXT).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{TEXT}\""));
        assert_eq!(
            serde_json::from_str::<UniversalSymbolId>(&json).unwrap(),
            id
        );
    }

    #[test]
    fn from_str_agrees_with_parse() {
        assert_eq!(
            TEXT.parse::<ConnectionId>().unwrap(),
            ConnectionId::parse(TEXT).unwrap()
        );
    }

    #[test]
    fn generated_ids_are_distinct() {
        assert_ne!(HoldingId::generate(), HoldingId::generate());
    }

    #[test]
    fn ordered_holding_ids_grow_with_time() {
        let earlier = HoldingId::generate_ordered();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = HoldingId::generate_ordered();
        assert_eq!(earlier.as_uuid().get_version_num(), 7);
        assert!(earlier < later, "{earlier} sorts before {later}");
    }

    proptest::proptest! {
        #[test]
        fn every_uuid_round_trips_through_its_text(bytes in proptest::prelude::any::<u128>()) {
            let id = AuthorizationId::new(Uuid::from_u128(bytes));
            proptest::prop_assert_eq!(AuthorizationId::parse(&id.to_string()).unwrap(), id);
        }
    }
}
