//! Closed vocabularies: the values a schema CHECK constraint admits, spelled exactly as the column stores them.
//!
//! Unlike the providers' vocabularies ([`crate::order`]), these are closed on purpose: the database refuses any
//! other value, so a new one needs a migration and a new variant together, and parsing is exact (no aliases).

/// Display, FromStr, Serialize and Deserialize for a vocabulary type through its `as_str` and `parse`, so the
/// text form, the JSON form and the column are one spelling.
macro_rules! text_traits {
    ($name:ident) => {
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
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use text_traits;

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

        crate::vocabulary::text_traits!($name);
    };
}

pub(crate) use closed_vocabulary;

/// The matching key of a provider's spelling: lowercase letters and digits only, so `StopLimit`, `stop_limit`
/// and `STOP-LIMIT` are one value.
pub(crate) fn spelling_key(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Declares an open enum for a provider's vocabulary: known values (matched on [`spelling_key`], so case and
/// separators do not matter, plus aliases given as keys) and `Other(String)` keeping anything else as received.
/// `as_str` gives the spelling the schema stores; parsing fails only on text no column can hold (empty, NUL).
macro_rules! open_vocabulary {
    (
        $(#[$doc:meta])*
        $name:ident, field = $field:literal {
            $( $(#[$vdoc:meta])* $variant:ident => $text:literal $([$($alias:literal),+ $(,)?])? ),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )+
            /// A value this crate does not know yet, kept as the provider sent it (trimmed). [`Self::parse`]
            /// never produces it for a known spelling; build values through `parse`, not by hand.
            Other(String),
        }

        impl $name {
            /// The field name used in errors and in the schema.
            pub const FIELD: &'static str = $field;

            /// Every known value (not `Other`), in declaration order.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling the schema stores: the canonical one for known values, the received one for `Other`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }

            /// Reads a provider's spelling, ignoring case and separators (`_`, `-`, spaces); an unknown value
            /// becomes `Other` instead of an error, because brokerages add values without notice.
            ///
            /// # Errors
            /// [`crate::DomainError::InvalidText`] naming the field, only for text no column can hold:
            /// empty, containing NUL or control characters, or over [`crate::MAX_TEXT_BYTES`].
            pub fn parse(text: &str) -> Result<Self, crate::DomainError> {
                let trimmed = crate::text::check($field, text, crate::text::Controls::Refused, crate::MAX_TEXT_BYTES)?;
                let key = crate::vocabulary::spelling_key(&trimmed);
                $(
                    if key == crate::vocabulary::spelling_key($text) $($(|| key == $alias)+)? {
                        return Ok(Self::$variant);
                    }
                )+
                Ok(Self::Other(trimmed))
            }

            /// Whether this is a value the crate knows (not `Other`).
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        crate::vocabulary::text_traits!($name);
    };
}

pub(crate) use open_vocabulary;
