//! Closed vocabularies: the values a schema CHECK constraint admits, spelled exactly as the column stores them.
//!
//! Unlike the providers' vocabularies ([`crate::order`]), these are closed on purpose: the database refuses any
//! other value, so a new one needs a migration and a new variant together, and parsing is exact (no aliases).

/// Declares a closed enum with `as_str`, `ALL`, `Display`, `FromStr` (exact spelling, typed error naming the
/// field) and serde through the same strings.
macro_rules! closed_vocabulary {
    (
        $(#[$doc:meta])*
        $name:ident, field = $field:literal {
            $( $(#[$vdoc:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vdoc])* $variant ),+
        }

        impl $name {
            /// The field name used in errors and in the schema.
            pub const FIELD: &'static str = $field;

            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling the schema stores.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the exact spelling the schema stores.
            ///
            /// # Errors
            /// [`crate::DomainError::UnknownValue`] naming the field, for any other text.
            pub fn parse(text: &str) -> Result<Self, crate::DomainError> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(crate::DomainError::UnknownValue {
                        field: $field,
                        value: crate::error::excerpt(text),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = crate::DomainError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use closed_vocabulary;
