//! SnapTrade brokerage connections: what a connection may do and whether it works.

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
