//! SnapTrade connections in memory, keyed by user and authorization id (migration 0013).

use async_trait::async_trait;
use tributary_domain::{
    AuthorizationId, BrokerageConnection, ConnectionId, NewBrokerageConnection, UserId,
};

use super::{MemoryStore, sorted_by, write_if_changed};
use crate::batch::check_connections;
use crate::{ConnectionRepository, ConnectionStatusChange, RepoError};

#[async_trait]
impl ConnectionRepository for MemoryStore {
    async fn upsert_connections(
        &self,
        user: UserId,
        connections: &[NewBrokerageConnection],
    ) -> Result<Vec<BrokerageConnection>, RepoError> {
        check_connections(user, connections)?;
        let mut state = self.lock();
        if connections.is_empty() {
            return Ok(Vec::new());
        }
        state.ensure_user(user)?;
        let at = state.clock.stamp();
        let mut stored = Vec::with_capacity(connections.len());
        for new in connections {
            let connection = match state.connections.get_mut(&(user, new.authorization_id)) {
                Some(current) => {
                    let updated = BrokerageConnection {
                        created_at: current.created_at,
                        updated_at: current.updated_at,
                        ..new.clone().into_stored(current.id, at)
                    };
                    write_if_changed(current, updated, |c| c.updated_at = Some(at));
                    current.clone()
                }
                None => {
                    let created = new.clone().into_stored(ConnectionId::generate(), at);
                    state
                        .connections
                        .insert((user, new.authorization_id), created.clone());
                    created
                }
            };
            stored.push(connection);
        }
        Ok(stored)
    }

    async fn get_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.lock()
            .connections
            .get(&(user, authorization))
            .cloned()
            .ok_or(RepoError::NotFound {
                entity: "connection",
            })
    }

    async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError> {
        let connections = self
            .lock()
            .connections
            .values()
            .filter(|c| c.user_id == user)
            .cloned()
            .collect();
        Ok(sorted_by(connections, |c| c.authorization_id))
    }

    async fn set_connection_status(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<BrokerageConnection, RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let current =
            state
                .connections
                .get_mut(&(user, authorization))
                .ok_or(RepoError::NotFound {
                    entity: "connection",
                })?;
        let (status, disabled_date, error_message) = change.apply_to(current);
        let updated = BrokerageConnection {
            status,
            disabled_date,
            error_message,
            ..current.clone()
        };
        write_if_changed(current, updated, |c| c.updated_at = Some(at));
        let stored = current.clone();
        // The connection's health on its accounts, as PostgreSQL's statement does.
        let at = state.clock.stamp();
        for account in state.accounts.values_mut() {
            let under = account.user_id == user
                && account.snaptrade_authorization_id == Some(authorization);
            if under && account.connection_status != stored.status {
                account.connection_status = stored.status;
                account.updated_at = Some(at);
            }
        }
        Ok(stored)
    }

    async fn delete_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        self.lock()
            .connections
            .remove(&(user, authorization))
            .ok_or(RepoError::NotFound {
                entity: "connection",
            })
    }
}
