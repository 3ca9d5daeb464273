//! Ending SnapTrade things on request: one connection disconnected, or the SnapTrade user deleted.

use tributary_domain::{AuthorizationId, UserId};
use tributary_provider::ProviderError;
use tributary_provider::capability::ConnectionPortal;
use tributary_provider::snaptrade::UserCredentials;
use tributary_repo::{RepoError, Store, UserLock};

use super::{CODE_UNKNOWN_USER, SnapTrade, WebhookOutcome};
use crate::SyncError;
use crate::engine::in_one_unit;
use crate::lifecycle::ProviderRemoval;

/// What [`SnapTrade::disconnect`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapTradeDisconnected {
    /// The connection.
    pub authorization_id: AuthorizationId,
    /// SnapTrade's answer to deleting the connection; [`ProviderRemoval::AlreadyGone`] without asking when the
    /// connection was deleted here already (by an earlier call, or SnapTrade's `CONNECTION_DELETED`), and
    /// [`ProviderRemoval::NothingStored`] when the user has no SnapTrade registration left to ask with.
    pub at_snaptrade: ProviderRemoval,
    /// How many of its accounts were active and are not any more.
    pub accounts_retired: usize,
}

/// Whether SnapTrade's error says the thing asked about is gone: 404 (`404FailedRequestResponse`, "The requested
/// resource does not exist", code 1011), or 401 code 1083 for a user it no longer knows (whose connections went
/// with it).
fn gone(error: &ProviderError) -> bool {
    match error {
        ProviderError::NotFound(_) => true,
        ProviderError::Unauthorized(detail) => detail.code.as_deref() == Some(CODE_UNKNOWN_USER),
        _ => false,
    }
}

impl<S: Store + 'static> SnapTrade<'_, S> {
    /// Disconnects one of `user`'s connections on request: SnapTrade's `DELETE /connection/{connectionId}`
    /// (`Connections_deleteConnection`, which "will also remove the accounts and holdings data associated with
    /// the connection from SnapTrade"), then locally as SnapTrade's `CONNECTION_DELETED` webhook does, in one
    /// unit of writes: the connection row deleted, its accounts retired (kept with their orders, inactive, shown
    /// disabled) and the holdings rebuilt without them. The webhook that follows finds nothing left to do.
    ///
    /// Idempotent and resumable: SnapTrade answering that the connection (or the user) is gone counts as done, so
    /// a call cut short after SnapTrade was told is finished by the same call; one made after the connection was
    /// deleted here finds its retired accounts and answers [`ProviderRemoval::AlreadyGone`].
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"connection"`) when `user` has no such connection, stored or retired (another
    /// user's never is one, and nothing is sent to SnapTrade then); the router's refusal;
    /// [`SyncError::NoClient`]; SnapTrade's other errors (nothing changed here); the store's.
    pub async fn disconnect(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<SnapTradeDisconnected, SyncError> {
        self.client()?;
        let held = self.engine.hold(user).await?;
        let result = SnapTrade {
            engine: &held.engine,
        }
        .disconnect_held(&held.lock, user, authorization)
        .await;
        held.finish(result).await
    }

    /// [`Self::disconnect`], with the user held.
    async fn disconnect_held(
        &self,
        lock: &UserLock,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<SnapTradeDisconnected, SyncError> {
        let client = self.client()?;
        let at_snaptrade = match self.engine.store.get_connection(user, authorization).await {
            Ok(_) => match self.engine.store.find_snaptrade_user(user).await? {
                Some(row) => {
                    let login = UserCredentials::new(row.snaptrade_user_id, row.user_secret);
                    match client.remove_connection(&login, &authorization).await {
                        Ok(()) => ProviderRemoval::Removed,
                        Err(error) if gone(&error) => ProviderRemoval::AlreadyGone,
                        Err(error) => return Err(error.into()),
                    }
                }
                None => ProviderRemoval::NothingStored,
            },
            Err(RepoError::NotFound { .. }) => {
                let accounts = self.engine.store.list_accounts(user).await?;
                let retired = accounts
                    .iter()
                    .any(|account| account.snaptrade_authorization_id == Some(authorization));
                if !retired {
                    return Err(RepoError::NotFound {
                        entity: "connection",
                    }
                    .into());
                }
                ProviderRemoval::AlreadyGone
            }
            Err(error) => return Err(error.into()),
        };
        let removed = in_one_unit(lock, self.remove_connection(user, authorization)).await?;
        let accounts_retired = match removed {
            WebhookOutcome::ConnectionRemoved {
                accounts_deactivated,
                ..
            } => accounts_deactivated,
            _ => 0,
        };
        Ok(SnapTradeDisconnected {
            authorization_id: authorization,
            at_snaptrade,
            accounts_retired,
        })
    }

    /// Whether this engine can reach SnapTrade: the router allows it and it is wired in.
    pub(crate) fn reachable(&self) -> Result<(), SyncError> {
        self.client().map(drop)
    }

    /// The SnapTrade user deleted at SnapTrade (`Authentication_deleteSnapTradeUser`: "Deletes a registered user
    /// and all associated data"), or gone already; nothing is changed here. A user never registered has nothing
    /// there.
    ///
    /// # Errors
    /// The router's refusal or [`SyncError::NoClient`] when a registration is stored but SnapTrade cannot be
    /// reached from this engine; SnapTrade's other errors; the store's.
    pub(crate) async fn user_deleted_at_snaptrade(
        &self,
        user: UserId,
    ) -> Result<ProviderRemoval, SyncError> {
        let Some(row) = self.engine.store.find_snaptrade_user(user).await? else {
            return Ok(ProviderRemoval::NothingStored);
        };
        let client = self.client()?;
        match client.delete_user(&row.snaptrade_user_id).await {
            Ok(()) => Ok(ProviderRemoval::Removed),
            Err(error) if gone(&error) => Ok(ProviderRemoval::AlreadyGone),
            Err(error) => Err(error.into()),
        }
    }
}
