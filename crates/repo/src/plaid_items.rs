//! Plaid Items (`plaid_items`, migration 0019): each Item a user linked, its access token sealed at rest, and its
//! health as Plaid last reported it.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tributary_domain::{
    ConnectionStatus, InstitutionId, InstitutionName, ProviderItemId, StatusMessage, UserId,
};
use uuid::Uuid;

use crate::RepoError;

/// An Item's health (`plaid_items.status`): an open vocabulary, so a state Plaid adds later is data, not a crash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlaidItemStatus {
    /// Working: the last call with its token succeeded.
    Healthy,
    /// The user must log in again through Link's update mode (Plaid's `ITEM_LOGIN_REQUIRED`).
    LoginRequired,
    /// Consent expires soon; the Item still works (`PENDING_EXPIRATION`).
    PendingExpiration,
    /// The institution will disconnect the Item soon; it still works (`PENDING_DISCONNECT`).
    PendingDisconnect,
    /// The user took back their consent (`USER_PERMISSION_REVOKED`, `ACCESS_NOT_GRANTED`).
    Revoked,
    /// A state this crate does not know, by its stored name (lowercase letters, digits and `_`).
    Other(String),
}

impl PlaidItemStatus {
    /// The column's text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Healthy => "healthy",
            Self::LoginRequired => "login_required",
            Self::PendingExpiration => "pending_expiration",
            Self::PendingDisconnect => "pending_disconnect",
            Self::Revoked => "revoked",
            Self::Other(name) => name,
        }
    }

    /// The status stored as `text`.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"status"`) for text the column's check refuses: empty, longer than 64
    /// characters, or other than lowercase ASCII letters, digits and `_` starting with a letter.
    pub fn parse(text: &str) -> Result<Self, RepoError> {
        Ok(match text {
            "healthy" => Self::Healthy,
            "login_required" => Self::LoginRequired,
            "pending_expiration" => Self::PendingExpiration,
            "pending_disconnect" => Self::PendingDisconnect,
            "revoked" => Self::Revoked,
            other => {
                let valid = (1..=64).contains(&other.len())
                    && other.starts_with(|c: char| c.is_ascii_lowercase())
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !valid {
                    return Err(RepoError::invalid(
                        "status",
                        "an Item status is lowercase letters, digits and '_', at most 64",
                    ));
                }
                Self::Other(other.to_owned())
            }
        })
    }

    /// Whether the user must go through Link's update mode for the Item to work (again or for longer).
    pub fn needs_repair(&self) -> bool {
        !matches!(self, Self::Healthy)
    }

    /// The health its accounts show (`user_investment_accounts.connection_status`): `active` while Plaid still
    /// answers (healthy, or pending an expiry or disconnection), `disabled` when the user must act before
    /// anything syncs again, `error` for a state this crate does not know.
    pub fn connection_status(&self) -> ConnectionStatus {
        match self {
            Self::Healthy | Self::PendingExpiration | Self::PendingDisconnect => {
                ConnectionStatus::Active
            }
            Self::LoginRequired | Self::Revoked => ConnectionStatus::Disabled,
            Self::Other(_) => ConnectionStatus::Error,
        }
    }
}

impl fmt::Display for PlaidItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Item to store: what linking it gave. `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct NewPlaidItem {
    /// Plaid's id for the Item; unique per user.
    pub item_id: ProviderItemId,
    /// The institution's Plaid id, when known.
    pub institution_id: Option<InstitutionId>,
    /// The institution's display name, when known.
    pub institution_name: Option<InstitutionName>,
    /// The Item's access token; sealed before it is stored.
    pub access_token: SecretString,
}

/// A stored Item, its token opened. `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct PlaidItem {
    /// The row's id.
    pub id: Uuid,
    /// The owner.
    pub user_id: UserId,
    /// Plaid's id for the Item.
    pub item_id: ProviderItemId,
    /// The institution's Plaid id, when known.
    pub institution_id: Option<InstitutionId>,
    /// The institution's display name, when known.
    pub institution_name: Option<InstitutionName>,
    /// The Item's access token.
    pub access_token: SecretString,
    /// Its health.
    pub status: PlaidItemStatus,
    /// Plaid's own code for the status (`ITEM_LOGIN_REQUIRED`…), when it is not healthy.
    pub error_code: Option<String>,
    /// Plaid's message for the status, when it gave one.
    pub last_error: Option<StatusMessage>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// When its status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// When Plaid last answered a sync of the Item in full.
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// A change of an Item's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaidItemStatusChange {
    /// Plaid answered a sync in full at `at`: an Item that could not sync (login required, revoked, a state this
    /// crate does not know) is healthy again, its code and message cleared. A pending expiration or disconnection
    /// is kept: the Item still works until then, so a sync says nothing about it ([`Self::Repaired`] clears it).
    Synced {
        /// When.
        at: DateTime<Utc>,
    },
    /// The user went through Link's update mode, or Plaid said the Item works again (`LOGIN_REPAIRED`): healthy,
    /// whatever the state was, the code and message cleared; the last sync is kept.
    Repaired,
    /// Plaid reported a problem with the Item.
    Failing {
        /// The new status (not [`PlaidItemStatus::Healthy`]).
        status: PlaidItemStatus,
        /// Plaid's code (`ITEM_LOGIN_REQUIRED`…): upper-case ASCII letters, digits and `_`, at most 64.
        error_code: Option<String>,
        /// Plaid's message, if it gave one.
        message: Option<StatusMessage>,
    },
}

/// Checks an Item before it is stored: a token is non-empty text PostgreSQL can hold.
pub(crate) fn check_new_item(item: &NewPlaidItem) -> Result<(), RepoError> {
    use secrecy::ExposeSecret;
    let token = item.access_token.expose_secret();
    if token.trim().is_empty() {
        return Err(RepoError::invalid("access_token", "is empty"));
    }
    if token.contains('\0') {
        return Err(RepoError::invalid(
            "access_token",
            "contains a NUL character",
        ));
    }
    Ok(())
}

/// Checks a change before it is stored, as the columns' checks would.
pub(crate) fn check_status_change(change: &PlaidItemStatusChange) -> Result<(), RepoError> {
    if let PlaidItemStatusChange::Failing {
        status, error_code, ..
    } = change
    {
        if *status == PlaidItemStatus::Healthy {
            return Err(RepoError::invalid(
                "status",
                "a failing Item is not healthy; record a sync instead",
            ));
        }
        PlaidItemStatus::parse(status.as_str())?;
        if let Some(code) = error_code {
            let valid = (1..=64).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(RepoError::invalid(
                    "error_code",
                    "Plaid's codes are upper-case letters, digits and '_', at most 64",
                ));
            }
        }
    }
    Ok(())
}

/// Plaid Items (`plaid_items`): stored with their access token sealed (bound to owner and Item), their health
/// mirrored on their accounts' `connection_status` (the accounts with provider `plaid` and that
/// `provider_item_id`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PlaidItemRepository: Send + Sync {
    /// Stores a linked Item, or updates it (keyed by user and `item_id`): a new token replaces the old one, the
    /// institution is updated, and the status is left as it is (a sync says whether it works). Storing the same
    /// Item again rewrites nothing.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"user"`) if the user does not exist; [`RepoError::InvalidData`]
    /// (`"access_token"`) for an empty token; [`RepoError::Forbidden`] in a user-scoped store (tokens are
    /// backend-only).
    async fn upsert_plaid_item(
        &self,
        user: UserId,
        item: &NewPlaidItem,
    ) -> Result<PlaidItem, RepoError>;

    /// One of the user's Items, its token opened.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"plaid item"`); [`RepoError::Secret`] if the token does not open;
    /// [`RepoError::Forbidden`] in a user-scoped store.
    async fn get_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<PlaidItem, RepoError>;

    /// All the user's Items, by `item_id`, their tokens opened.
    ///
    /// # Errors
    /// [`RepoError::Secret`] if a token does not open; [`RepoError::Forbidden`] in a user-scoped store.
    async fn list_plaid_items(&self, user: UserId) -> Result<Vec<PlaidItem>, RepoError>;

    /// Moves an Item to another state, and its accounts' `connection_status` with it
    /// ([`PlaidItemStatus::connection_status`]), in one transaction. A change to the state it is in already
    /// rewrites nothing (a sync recorded again moves only `last_synced_at`).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"plaid item"`); [`RepoError::InvalidData`] for a change the columns refuse;
    /// [`RepoError::Forbidden`] in a user-scoped store.
    async fn set_plaid_item_status(
        &self,
        user: UserId,
        item: &ProviderItemId,
        change: PlaidItemStatusChange,
    ) -> Result<PlaidItem, RepoError>;

    /// The users who hold the Item `item` (Plaid's ids are Plaid-wide; a store holds an Item once per user, so
    /// this is usually one user, none when no user holds it), ordered by user id: whom a Plaid webhook, which names
    /// an Item and no user, concerns. A service operation across users.
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] in a user-scoped store.
    async fn plaid_item_owners(&self, item: &ProviderItemId) -> Result<Vec<UserId>, RepoError>;
}

/// The status, code, message and last sync an Item has after `change`.
pub(crate) fn apply_change(
    current: &PlaidItem,
    change: &PlaidItemStatusChange,
) -> (
    PlaidItemStatus,
    Option<String>,
    Option<StatusMessage>,
    Option<DateTime<Utc>>,
) {
    match change {
        PlaidItemStatusChange::Synced { at } => match current.status {
            PlaidItemStatus::PendingExpiration | PlaidItemStatus::PendingDisconnect => (
                current.status.clone(),
                current.error_code.clone(),
                current.last_error.clone(),
                Some(*at),
            ),
            _ => (PlaidItemStatus::Healthy, None, None, Some(*at)),
        },
        PlaidItemStatusChange::Repaired => {
            (PlaidItemStatus::Healthy, None, None, current.last_synced_at)
        }
        PlaidItemStatusChange::Failing {
            status,
            error_code,
            message,
        } => (
            status.clone(),
            error_code.clone(),
            message.clone(),
            current.last_synced_at,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_statuses_round_trip_and_unknown_ones_are_kept_by_name() {
        for text in [
            "healthy",
            "login_required",
            "pending_expiration",
            "pending_disconnect",
            "revoked",
            "new_state_2",
        ] {
            assert_eq!(PlaidItemStatus::parse(text).unwrap().as_str(), text);
        }
        assert_eq!(
            PlaidItemStatus::parse("new_state_2").unwrap(),
            PlaidItemStatus::Other("new_state_2".into())
        );
        for bad in ["", "Healthy", "2fa", "a-b", &"x".repeat(65)] {
            assert!(PlaidItemStatus::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_item_that_needs_the_user_disables_its_accounts_and_a_pending_one_keeps_them_active() {
        use PlaidItemStatus as S;
        assert_eq!(S::Healthy.connection_status(), ConnectionStatus::Active);
        assert_eq!(
            S::PendingExpiration.connection_status(),
            ConnectionStatus::Active
        );
        assert_eq!(
            S::PendingDisconnect.connection_status(),
            ConnectionStatus::Active
        );
        assert_eq!(
            S::LoginRequired.connection_status(),
            ConnectionStatus::Disabled
        );
        assert_eq!(S::Revoked.connection_status(), ConnectionStatus::Disabled);
        assert_eq!(
            S::Other("x".into()).connection_status(),
            ConnectionStatus::Error
        );
        assert!(!S::Healthy.needs_repair() && S::PendingExpiration.needs_repair());
    }

    #[test]
    fn a_stored_item_never_shows_its_token() {
        let item = NewPlaidItem {
            item_id: ProviderItemId::parse("item-1").unwrap(),
            institution_id: None,
            institution_name: None,
            access_token: SecretString::from("access-sandbox-secret-token"),
        };
        assert!(!format!("{item:?}").contains("access-sandbox-secret-token"));
    }
}
