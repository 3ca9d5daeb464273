//! SnapTrade users (`public.snaptrade_users`) and their secret.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{DomainError, TextProblem};
use crate::id::{SnapTradeUserRowId, UserId};
use crate::text::SnapTradeUserId;

/// The secret SnapTrade returns when a user is registered; with the user id it signs every call made for that
/// user. It is never `Serialize`, and `Debug`/`Display` print `[REDACTED]`: read it with
/// [`ExposeSecret::expose_secret`] only where a request or a sealed column value is built.
#[derive(Clone)]
pub struct SnapTradeUserSecret(SecretString);

impl SnapTradeUserSecret {
    /// The field name used in errors.
    pub const FIELD: &'static str = "snaptrade_user_secret";

    /// Wraps a secret, refusing an empty or blank one (SnapTrade never issues those, and sealing one would hide
    /// a bug). The secret is not trimmed: it is opaque and used byte for byte.
    ///
    /// # Errors
    /// [`DomainError::InvalidText`] with [`TextProblem::Empty`], naming the field but never the value.
    pub fn new(secret: SecretString) -> Result<Self, DomainError> {
        if secret.expose_secret().trim().is_empty() {
            return Err(DomainError::InvalidText {
                field: Self::FIELD,
                problem: TextProblem::Empty,
            });
        }
        Ok(Self(secret))
    }
}

impl ExposeSecret<str> for SnapTradeUserSecret {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SnapTradeUserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SnapTradeUserSecret([REDACTED])")
    }
}

impl fmt::Display for SnapTradeUserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A SnapTrade user as stored: a row of `public.snaptrade_users`, with its secret already opened (the column
/// holds it sealed). Not `Serialize`: it holds a secret.
#[derive(Debug, Clone)]
pub struct SnapTradeUser {
    /// The row's id.
    pub id: SnapTradeUserRowId,
    /// The Tributary user; one SnapTrade user each.
    pub user_id: UserId,
    /// SnapTrade's user id; unique.
    pub snaptrade_user_id: SnapTradeUserId,
    /// SnapTrade's user secret.
    pub user_secret: SnapTradeUserSecret,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (set by a trigger).
    pub updated_at: Option<DateTime<Utc>>,
    /// When the user's data last synced.
    pub last_sync_at: Option<DateTime<Utc>>,
}

impl fmt::Display for SnapTradeUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SnapTrade user {} of user {}",
            self.snaptrade_user_id, self.user_id
        )
    }
}

/// A SnapTrade user to insert or update (keyed by `user_id`), e.g. after registering or rotating the secret.
#[derive(Debug, Clone)]
pub struct NewSnapTradeUser {
    /// The Tributary user.
    pub user_id: UserId,
    /// SnapTrade's user id.
    pub snaptrade_user_id: SnapTradeUserId,
    /// SnapTrade's user secret, sealed by the repository before it is stored.
    pub user_secret: SnapTradeUserSecret,
}

impl fmt::Display for NewSnapTradeUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SnapTrade user {} of user {}",
            self.snaptrade_user_id, self.user_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "adf2aa34-8219-40f7-a6b3-60156985cc61-very-secret";

    fn secret() -> SnapTradeUserSecret {
        SnapTradeUserSecret::new(SecretString::from(SECRET)).unwrap()
    }

    fn user() -> SnapTradeUser {
        SnapTradeUser {
            id: SnapTradeUserRowId::generate(),
            user_id: UserId::generate(),
            snaptrade_user_id: SnapTradeUserId::parse("tributary-user-1").unwrap(),
            user_secret: secret(),
            created_at: Some(Utc::now()),
            updated_at: None,
            last_sync_at: None,
        }
    }

    #[test]
    fn the_secret_is_never_shown_by_debug_or_display() {
        let user = user();
        let new_user = NewSnapTradeUser {
            user_id: user.user_id,
            snaptrade_user_id: user.snaptrade_user_id.clone(),
            user_secret: secret(),
        };
        let renderings = [
            format!("{:?}", user),
            format!("{:#?}", user),
            user.to_string(),
            format!("{:?}", new_user),
            format!("{:#?}", new_user),
            new_user.to_string(),
            format!("{:?}", secret()),
            secret().to_string(),
        ];
        for rendering in renderings {
            assert!(!rendering.contains(SECRET), "{rendering}");
            assert!(!rendering.contains("very-secret"), "{rendering}");
        }
        assert!(format!("{user:?}").contains("[REDACTED]"));
    }

    #[test]
    fn the_secret_is_available_where_a_request_is_signed() {
        assert_eq!(user().user_secret.expose_secret(), SECRET);
    }

    #[test]
    fn the_secret_is_used_byte_for_byte() {
        let padded = SnapTradeUserSecret::new(SecretString::from(" s3cret ")).unwrap();
        assert_eq!(padded.expose_secret(), " s3cret ");
    }

    #[test]
    fn a_blank_secret_is_refused_without_echoing_it() {
        let error = SnapTradeUserSecret::new(SecretString::from("   ")).unwrap_err();
        assert_eq!(
            error,
            DomainError::InvalidText {
                field: "snaptrade_user_secret",
                problem: TextProblem::Empty
            }
        );
    }
}
