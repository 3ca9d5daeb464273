//! SnapTrade brokerage connections: what a connection may do and whether it works.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{AuthorizationId, ConnectionId, UserId};
use crate::text::{BrokerageName, BrokerageSlug, StatusMessage};
use crate::vocabulary::closed_vocabulary;

closed_vocabulary! {
    /// What a connection may do (`connection_type` on connections and accounts).
    ConnectionType, field = "connection_type" {
        /// Data only: balances, holdings, orders history.
        Read => "read",
        /// Data and order execution.
        Trade => "trade",
    }
}

impl ConnectionType {
    /// Whether orders may be placed through a connection of this type.
    pub const fn can_trade(self) -> bool {
        matches!(self, Self::Trade)
    }
}

closed_vocabulary! {
    /// A connection's health (`snaptrade_brokerage_connections.status`,
    /// `user_investment_accounts.connection_status`).
    ConnectionStatus, field = "connection_status" {
        /// Working.
        Active => "active",
        /// The brokerage login stopped working (SnapTrade's `CONNECTION_BROKEN`); the user must reconnect.
        Disabled => "disabled",
        /// The last sync failed; `error_message` says why.
        Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainError;

    #[test]
    fn connection_types_round_trip_the_schema_strings() {
        assert_eq!(
            ConnectionType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
            ["read", "trade"]
        );
        for kind in ConnectionType::ALL {
            assert_eq!(kind.as_str().parse::<ConnectionType>().unwrap(), *kind);
        }
    }

    #[test]
    fn only_trade_connections_can_trade() {
        assert!(ConnectionType::Trade.can_trade());
        assert!(!ConnectionType::Read.can_trade());
    }

    #[test]
    fn connection_statuses_round_trip_the_schema_strings() {
        let stored: Vec<_> = ConnectionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(stored, ["active", "disabled", "error"]);
        for status in ConnectionStatus::ALL {
            let json = serde_json::to_string(status).unwrap();
            assert_eq!(
                serde_json::from_str::<ConnectionStatus>(&json).unwrap(),
                *status
            );
        }
    }

    #[test]
    fn an_unknown_connection_status_is_refused_naming_the_field() {
        assert!(matches!(
            ConnectionStatus::parse("broken"),
            Err(DomainError::UnknownValue {
                field: "connection_status",
                ..
            })
        ));
    }
}

/// A SnapTrade brokerage connection as stored: a row of `public.snaptrade_brokerage_connections`.
/// A NULL `accounts_count` is read as 0, the column's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerageConnection {
    /// The row's id.
    pub id: ConnectionId,
    /// The owner.
    pub user_id: UserId,
    /// SnapTrade's authorization id; unique.
    pub authorization_id: AuthorizationId,
    /// The brokerage's slug in SnapTrade's catalogue.
    pub brokerage_slug: BrokerageSlug,
    /// The brokerage's display name.
    pub brokerage_name: BrokerageName,
    /// What the connection may do.
    pub connection_type: ConnectionType,
    /// Whether it works.
    pub status: ConnectionStatus,
    /// When SnapTrade reported it disabled.
    pub disabled_date: Option<DateTime<Utc>>,
    /// Why it is disabled or failing.
    pub error_message: Option<StatusMessage>,
    /// How many accounts it gives access to. `u16` fits the `int` column and its `>= 0` CHECK by construction.
    pub accounts_count: u16,
    /// When it last synced.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (set by a trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A connection to insert or update, keyed by `authorization_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBrokerageConnection {
    /// The owner.
    pub user_id: UserId,
    /// SnapTrade's authorization id.
    pub authorization_id: AuthorizationId,
    /// The brokerage's slug.
    pub brokerage_slug: BrokerageSlug,
    /// The brokerage's display name.
    pub brokerage_name: BrokerageName,
    /// What the connection may do.
    pub connection_type: ConnectionType,
    /// Whether it works.
    pub status: ConnectionStatus,
    /// When SnapTrade reported it disabled.
    pub disabled_date: Option<DateTime<Utc>>,
    /// Why it is disabled or failing.
    pub error_message: Option<StatusMessage>,
    /// How many accounts it gives access to.
    pub accounts_count: u16,
    /// When it last synced.
    pub last_synced_at: Option<DateTime<Utc>>,
}

impl NewBrokerageConnection {
    /// A working connection with no accounts counted yet and no sync.
    pub fn new(
        user_id: UserId,
        authorization_id: AuthorizationId,
        brokerage_slug: BrokerageSlug,
        brokerage_name: BrokerageName,
        connection_type: ConnectionType,
    ) -> Self {
        Self {
            user_id,
            authorization_id,
            brokerage_slug,
            brokerage_name,
            connection_type,
            status: ConnectionStatus::Active,
            disabled_date: None,
            error_message: None,
            accounts_count: 0,
            last_synced_at: None,
        }
    }

    /// The same connection marked disabled since `at` (SnapTrade's `CONNECTION_BROKEN`): the user must
    /// reconnect before it syncs or trades again.
    pub fn disabled(self, at: DateTime<Utc>, message: Option<StatusMessage>) -> Self {
        Self {
            status: ConnectionStatus::Disabled,
            disabled_date: Some(at),
            error_message: message,
            ..self
        }
    }

    /// The same connection marked failing, with the reason.
    pub fn failed(self, message: StatusMessage) -> Self {
        Self {
            status: ConnectionStatus::Error,
            error_message: Some(message),
            ..self
        }
    }

    /// The same connection marked working again: the disabled date and error are cleared.
    pub fn reactivated(self) -> Self {
        Self {
            status: ConnectionStatus::Active,
            disabled_date: None,
            error_message: None,
            ..self
        }
    }

    /// The row this draft becomes when first inserted with id `id` at `now`.
    pub fn into_stored(self, id: ConnectionId, now: DateTime<Utc>) -> BrokerageConnection {
        BrokerageConnection {
            id,
            user_id: self.user_id,
            authorization_id: self.authorization_id,
            brokerage_slug: self.brokerage_slug,
            brokerage_name: self.brokerage_name,
            connection_type: self.connection_type,
            status: self.status,
            disabled_date: self.disabled_date,
            error_message: self.error_message,
            accounts_count: self.accounts_count,
            last_synced_at: self.last_synced_at,
            created_at: Some(now),
            updated_at: Some(now),
        }
    }
}

#[cfg(test)]
mod connection_tests {
    use super::*;

    fn connection() -> NewBrokerageConnection {
        NewBrokerageConnection::new(
            UserId::generate(),
            AuthorizationId::generate(),
            BrokerageSlug::parse("QUESTRADE").unwrap(),
            BrokerageName::parse("Questrade").unwrap(),
            ConnectionType::Trade,
        )
    }

    #[test]
    fn a_new_connection_is_active_with_no_accounts() {
        let connection = connection();
        assert_eq!(connection.status, ConnectionStatus::Active);
        assert_eq!(connection.accounts_count, 0);
        assert_eq!(connection.disabled_date, None);
    }

    #[test]
    fn disabling_records_when_and_why_and_reactivating_clears_both() {
        let at = Utc::now();
        let message = StatusMessage::parse("login expired").unwrap();
        let disabled = connection().disabled(at, Some(message.clone()));
        assert_eq!(disabled.status, ConnectionStatus::Disabled);
        assert_eq!(disabled.disabled_date, Some(at));
        assert_eq!(disabled.error_message, Some(message));
        let active = disabled.reactivated();
        assert_eq!(
            (active.status, active.disabled_date, active.error_message),
            (ConnectionStatus::Active, None, None)
        );
    }

    #[test]
    fn a_failed_connection_keeps_its_reason() {
        let failed = connection().failed(StatusMessage::parse("brokerage timeout").unwrap());
        assert_eq!(failed.status, ConnectionStatus::Error);
        assert_eq!(failed.error_message.unwrap().as_str(), "brokerage timeout");
    }

    #[test]
    fn a_connection_serializes_with_schema_spellings() {
        let json = serde_json::to_value(connection()).unwrap();
        assert_eq!(json["connection_type"], "trade");
        assert_eq!(json["status"], "active");
    }
}
