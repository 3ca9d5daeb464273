//! SnapTrade: registering users once, the connection portal, and webhooks.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use tributary_domain::{
    AuthorizationId, ConnectionStatus, ConnectionType, InvestmentAccount, NewInvestmentAccount,
    NewSnapTradeUser, Provider, StatusMessage, UserId,
};
use tributary_provider::capability::{ConnectionPortal, PortalLink, PortalRequest};
use tributary_provider::snaptrade::webhook::verify_webhook;
use tributary_provider::snaptrade::{
    SnapTradeClient, UserCredentials, WebhookEvent, WebhookEventKind,
};
use tributary_provider::{ErrorDetail, ProviderError};
use tributary_repo::{ConnectionStatusChange, RepoError, SnapTradeUserRepository, Store};

use crate::convert::deactivated;
use crate::engine::in_one_unit;
use crate::merge::{Lot, merge};
use crate::source::{ListedAccountGate, Logins, PerAccountSource, TradingDesk};
use crate::{SyncEngine, SyncError, SyncReport};

/// The largest webhook body [`SyncEngine::handle_snaptrade_webhook`] reads: 1 MiB. SnapTrade's deliveries are
/// a few hundred bytes, so a body near this is not SnapTrade's; refusing it before it is parsed, canonicalised
/// and hashed (each proportional to its size) keeps a flood of large bodies from costing memory and CPU.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// The code on the error for a webhook body over [`MAX_WEBHOOK_BODY`] (a [`ProviderError::Rejected`] with
/// HTTP status 413, beside the verifier's codes for a forged or a stale delivery).
pub const CODE_WEBHOOK_TOO_LARGE: &str = "webhook_body_too_large";

/// The user's stored SnapTrade registration, opened, as the client's credentials.
#[derive(Debug, Default, Clone, Copy)]
pub struct RegisteredSnapTradeUser;

#[async_trait]
impl<S: SnapTradeUserRepository> Logins<S> for RegisteredSnapTradeUser {
    type Login = UserCredentials;

    async fn logins(&self, store: &S, user: UserId) -> Result<Vec<UserCredentials>, SyncError> {
        let registration = store.find_snaptrade_user(user).await?;
        Ok(registration
            .into_iter()
            .map(|row| UserCredentials::new(row.snaptrade_user_id, row.user_secret))
            .collect())
    }
}

/// The SnapTrade client and the consumer key webhooks are signed with.
#[derive(Clone)]
pub(crate) struct SnapTradeLink {
    client: Arc<SnapTradeClient>,
    consumer_key: SecretString,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// Already applied under this webhook id: acknowledged, nothing done.
    Replayed,
    /// A connection's health was recorded (`CONNECTION_BROKEN`, `CONNECTION_FIXED`).
    ConnectionUpdated {
        /// The connection.
        authorization_id: AuthorizationId,
        /// Its status now.
        status: ConnectionStatus,
    },
    /// SnapTrade deleted a connection (`CONNECTION_DELETED`): its row is deleted, and the accounts under it
    /// are deactivated, their connection marked disabled and their holdings dropped — all saved as one unit.
    /// The account rows and their orders are kept: orders are financial records.
    ConnectionRemoved {
        /// The deleted connection.
        authorization_id: AuthorizationId,
        /// How many of its accounts were active and are not any more.
        accounts_deactivated: usize,
    },
    /// The user was synced again (holdings or accounts changed at SnapTrade).
    Resynced(Box<SyncReport>),
    /// SnapTrade deleted the user (`USER_DELETED`): the registration and every SnapTrade connection are
    /// deleted, the SnapTrade accounts deactivated and their holdings dropped — all saved as one unit. The
    /// account rows and their orders are kept, as for [`Self::ConnectionRemoved`].
    UserRemoved,
    /// An account's orders were refreshed.
    OrdersRefreshed {
        /// How many orders were written.
        written: usize,
    },
    /// Acknowledged without action (an event type Tributary does not act on, or one naming nothing it
    /// holds), with why.
    Ignored {
        /// Why.
        reason: String,
    },
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Wires SnapTrade in: the client syncs accounts (each account's positions fetched concurrently) and
    /// trades on trade connections; `consumer_key` verifies its webhooks.
    pub fn with_snaptrade(
        mut self,
        client: Arc<SnapTradeClient>,
        consumer_key: SecretString,
    ) -> Self {
        self = self
            .with_source(PerAccountSource::new(
                Arc::clone(&client),
                RegisteredSnapTradeUser,
            ))
            .with_desk(TradingDesk::new(
                Arc::clone(&client),
                RegisteredSnapTradeUser,
                ListedAccountGate::new(Arc::clone(&client), RegisteredSnapTradeUser),
            ));
        self.snaptrade = Some(SnapTradeLink {
            client,
            consumer_key,
        });
        self
    }

    fn snaptrade(&self) -> Result<&SnapTradeLink, SyncError> {
        self.router.check(Provider::SnapTrade)?;
        self.snaptrade.as_ref().ok_or(SyncError::NoClient {
            provider: Provider::SnapTrade,
        })
    }

    /// The link to SnapTrade's connection portal for `user`, registering the user at SnapTrade on the first
    /// call only: later calls reuse the stored, sealed secret. `connection_type` asks for read or trade
    /// access; `reconnect` names a broken connection to repair instead of adding one.
    ///
    /// # Errors
    /// [`SyncError::Repo`] with [`RepoError::Secret`] when the stored secret cannot be opened: SnapTrade's
    /// `resetUserSecret` needs the current secret, so the user is never registered again behind the
    /// operator's back (that would orphan their connections); the provider's errors.
    pub async fn connect_snaptrade(
        &self,
        user: UserId,
        connection_type: ConnectionType,
        reconnect: Option<AuthorizationId>,
    ) -> Result<PortalLink, SyncError> {
        let _guard = self.locks.lock(user).await;
        let link = self.snaptrade()?;
        if let Some(authorization) = reconnect {
            // Only the user's own connection can be repaired.
            self.store.get_connection(user, authorization).await?;
        }
        let credentials = self.snaptrade_credentials(link, user).await?;
        let request = PortalRequest {
            broker: None,
            connection_type,
            reconnect,
            redirect_uri: None,
        };
        Ok(link.client.portal_url(&credentials, &request).await?)
    }

    /// The stored registration, or a new one stored before it is used.
    async fn snaptrade_credentials(
        &self,
        link: &SnapTradeLink,
        user: UserId,
    ) -> Result<UserCredentials, SyncError> {
        if let Some(row) = self.store.find_snaptrade_user(user).await? {
            return Ok(UserCredentials::new(row.snaptrade_user_id, row.user_secret));
        }
        let registered = ConnectionPortal::register_user(link.client.as_ref(), user).await?;
        self.store_registration(user, &registered).await?;
        Ok(registered)
    }

    async fn store_registration(
        &self,
        user: UserId,
        credentials: &UserCredentials,
    ) -> Result<(), SyncError> {
        let row = NewSnapTradeUser {
            user_id: user,
            snaptrade_user_id: credentials.user_id.clone(),
            user_secret: credentials.user_secret.clone(),
        };
        self.store.upsert_snaptrade_user(user, &row).await?;
        Ok(())
    }

    /// Rotates the user's SnapTrade secret with `resetUserSecret` (a leaked secret, a key rotation) and
    /// stores the new one sealed. The SnapTrade user, and so its connections, stay the same.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the user is not registered; the provider's.
    pub async fn rotate_snaptrade_secret(&self, user: UserId) -> Result<(), SyncError> {
        let _guard = self.locks.lock(user).await;
        let link = self.snaptrade()?;
        let row = self
            .store
            .find_snaptrade_user(user)
            .await?
            .ok_or(RepoError::NotFound {
                entity: "snaptrade user",
            })?;
        let current = UserCredentials::new(row.snaptrade_user_id, row.user_secret);
        let rotated = link.client.reset_user_secret(&current).await?;
        self.store_registration(user, &rotated).await
    }

    /// Verifies a SnapTrade webhook delivery (the `Signature` header's value and the raw body), refuses
    /// a replay of one already applied (recorded in the repository by webhook id, so a replay after a restart
    /// or to another process is refused too), and acts on it: connection health, a resync, the user's removal,
    /// an account's orders. Unknown event types are acknowledged and logged.
    ///
    /// # Errors
    /// A body over [`MAX_WEBHOOK_BODY`] is refused unread, as [`ProviderError::Rejected`] with status 413 and
    /// code [`CODE_WEBHOOK_TOO_LARGE`]. The verifier's refusal (forged, unsigned, stale, not JSON): answer
    /// 401/400 so SnapTrade retries (each error's [`ErrorDetail::status`] is the status to answer). Failures
    /// while acting are returned too (the delivery is then not marked as applied, so SnapTrade's retry applies
    /// it).
    pub async fn handle_snaptrade_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, SyncError> {
        let link = self.snaptrade()?;
        check_body_size(body)?;
        let event = verify_webhook(&link.consumer_key, signature, body)?;
        let key = webhook_key(&event);
        let user = event
            .user_id
            .as_deref()
            .and_then(|id| UserId::parse(id).ok());
        if !self
            .store
            .record_webhook(&key, &event_type(&event), user)
            .await?
        {
            return Ok(WebhookOutcome::Replayed);
        }
        let outcome = self.apply_webhook(&event).await;
        if outcome.is_err()
            && let Err(error) = self.store.forget_webhook(&key).await
        {
            tracing::warn!(%error, "a failed webhook delivery stays recorded; SnapTrade's retry will be acknowledged as a replay");
        }
        outcome
    }

    async fn apply_webhook(&self, event: &WebhookEvent) -> Result<WebhookOutcome, SyncError> {
        let Some(user) = event
            .user_id
            .as_deref()
            .and_then(|id| UserId::parse(id).ok())
        else {
            return Ok(ignored(event, "names no Tributary user"));
        };
        let authorization = event
            .brokerage_authorization_id
            .as_deref()
            .and_then(|id| AuthorizationId::parse(id).ok());
        match (&event.kind, authorization) {
            (WebhookEventKind::ConnectionBroken, Some(authorization)) => {
                let message = StatusMessage::from_optional(Some(
                    "SnapTrade reported the connection broken; reconnect it",
                ));
                let change = ConnectionStatusChange::Disabled {
                    at: event.event_timestamp,
                    message,
                };
                self.connection_changed(user, authorization, change).await
            }
            (WebhookEventKind::ConnectionFixed, Some(authorization)) => {
                self.connection_changed(user, authorization, ConnectionStatusChange::Active)
                    .await
            }
            (WebhookEventKind::ConnectionDeleted, Some(authorization)) => {
                self.connection_deleted(user, authorization).await
            }
            (
                WebhookEventKind::AccountHoldingsUpdated
                | WebhookEventKind::NewAccountAvailable
                | WebhookEventKind::ConnectionAdded,
                _,
            ) => {
                // Holdings are replaced per user as a whole, so an account's update is a sync of its user.
                Ok(WebhookOutcome::Resynced(Box::new(
                    self.sync_user(user).await?,
                )))
            }
            (WebhookEventKind::UserDeleted, _) => self.user_deleted(user).await,
            (WebhookEventKind::TradeUpdate, _) => self.trade_updated(user, event).await,
            (kind, _) => {
                tracing::info!(event = ?kind, "SnapTrade webhook acknowledged without action");
                Ok(ignored(event, "is not acted on"))
            }
        }
    }

    /// SnapTrade deleted a connection: its row is deleted, the accounts under it deactivated (their
    /// connection marked disabled) and their holdings dropped, as one unit with the user held.
    async fn connection_deleted(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<WebhookOutcome, SyncError> {
        let held = self.hold(user).await?;
        let writes = held.engine.remove_connection(user, authorization);
        let result = in_one_unit(&held.lock, writes).await;
        held.finish(result).await
    }

    /// SnapTrade deleted the user: their registration and every SnapTrade connection are deleted, their
    /// SnapTrade accounts deactivated and those accounts' holdings dropped, as one unit with the user held.
    async fn user_deleted(&self, user: UserId) -> Result<WebhookOutcome, SyncError> {
        let held = self.hold(user).await?;
        let result = in_one_unit(&held.lock, held.engine.forget_snaptrade(user)).await;
        held.finish(result).await
    }

    /// Deletes the connection and retires its accounts. (The caller holds the user, inside a unit.)
    async fn remove_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<WebhookOutcome, SyncError> {
        let stored = match self.store.delete_connection(user, authorization).await {
            Ok(_) => true,
            Err(RepoError::NotFound { .. }) => false,
            Err(error) => return Err(error.into()),
        };
        let accounts_deactivated = self
            .retire_accounts(user, |account| {
                account.snaptrade_authorization_id == Some(authorization)
            })
            .await?;
        if !stored && accounts_deactivated == 0 {
            return Ok(WebhookOutcome::Ignored {
                reason: format!("connection {authorization} is not stored"),
            });
        }
        Ok(WebhookOutcome::ConnectionRemoved {
            authorization_id: authorization,
            accounts_deactivated,
        })
    }

    /// What is left of a user SnapTrade deleted: no registration, no connections, SnapTrade accounts inactive,
    /// and holdings made of the other providers' accounts only. (The caller holds the user, inside a unit.)
    async fn forget_snaptrade(&self, user: UserId) -> Result<WebhookOutcome, SyncError> {
        match self.store.delete_snaptrade_user(user).await {
            Ok(()) | Err(RepoError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        for connection in self.store.list_connections(user).await? {
            self.store
                .delete_connection(user, connection.authorization_id)
                .await?;
        }
        self.retire_accounts(user, |account| account.provider == Provider::SnapTrade)
            .await?;
        Ok(WebhookOutcome::UserRemoved)
    }

    /// Deactivates the accounts `retired` picks, marks their connection disabled, and rebuilds the holdings
    /// from the other accounts' contributions; returns how many accounts were active before.
    ///
    /// The account rows are kept, never deleted: `snaptrade_orders.account_id` cascades on delete, and an
    /// account's orders are financial records that must outlive its connection. (The caller holds the user.)
    async fn retire_accounts(
        &self,
        user: UserId,
        retired: impl Fn(&InvestmentAccount) -> bool,
    ) -> Result<usize, SyncError> {
        let (gone, kept): (Vec<_>, Vec<_>) = self
            .store
            .list_accounts(user)
            .await?
            .into_iter()
            .partition(|account| retired(account));
        if gone.is_empty() {
            return Ok(0);
        }
        let was_active = gone.iter().filter(|account| account.is_active).count();
        let rows: Vec<_> = gone
            .iter()
            .map(|account| NewInvestmentAccount {
                connection_status: ConnectionStatus::Disabled,
                ..deactivated(account)
            })
            .collect();
        self.store.upsert_accounts(user, &rows).await?;
        let kept: Vec<_> = kept.iter().map(|account| account.id).collect();
        let mut lots = Vec::new();
        for holding in self.store.list_holdings(user).await? {
            lots.extend(Lot::carried_from(&holding, &kept));
        }
        self.store
            .replace_holdings(user, &merge(user, lots)?)
            .await?;
        Ok(was_active)
    }

    async fn connection_changed(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<WebhookOutcome, SyncError> {
        let _guard = self.locks.lock(user).await;
        match self
            .store
            .set_connection_status(user, authorization, change)
            .await
        {
            Ok(row) => Ok(WebhookOutcome::ConnectionUpdated {
                authorization_id: row.authorization_id,
                status: row.status,
            }),
            Err(RepoError::NotFound { .. }) => Ok(WebhookOutcome::Ignored {
                reason: format!("connection {authorization} is not stored"),
            }),
            Err(error) => Err(error.into()),
        }
    }

    async fn trade_updated(
        &self,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<WebhookOutcome, SyncError> {
        let _guard = self.locks.lock(user).await;
        let accounts = self.store.list_accounts(user).await?;
        let account = accounts.iter().find(|a| {
            a.provider == Provider::SnapTrade
                && Some(a.provider_account_id.as_str()) == event.account_id.as_deref()
        });
        match account {
            Some(account) => Ok(WebhookOutcome::OrdersRefreshed {
                written: self.account_orders_refreshed(account).await?,
            }),
            None => Ok(ignored(event, "names no stored SnapTrade account")),
        }
    }
}

/// Refuses a body over [`MAX_WEBHOOK_BODY`], saying how large it is and what the limit is.
fn check_body_size(body: &[u8]) -> Result<(), ProviderError> {
    if body.len() <= MAX_WEBHOOK_BODY {
        return Ok(());
    }
    let message = format!(
        "the webhook body is {} bytes, over the {MAX_WEBHOOK_BODY}-byte limit (MAX_WEBHOOK_BODY)",
        body.len()
    );
    Err(ProviderError::Rejected(
        ErrorDetail::new(Provider::SnapTrade, 413, message).with_code(CODE_WEBHOOK_TOO_LARGE),
    ))
}

/// The delivery's identity: its webhook id, else what makes the event itself unique.
fn webhook_key(event: &WebhookEvent) -> String {
    match &event.webhook_id {
        Some(id) => format!("id:{id}"),
        None => format!(
            "event:{}:{}:{}",
            event_type(event),
            event.user_id.as_deref().unwrap_or("-"),
            event.event_timestamp.to_rfc3339()
        ),
    }
}

/// The event's type as SnapTrade sent it.
fn event_type(event: &WebhookEvent) -> String {
    event
        .raw
        .get("eventType")
        .and_then(serde_json::Value::as_str)
        .filter(|kind| !kind.trim().is_empty())
        .map_or_else(|| format!("{:?}", event.kind), str::to_owned)
}

fn ignored(event: &WebhookEvent, why: &str) -> WebhookOutcome {
    tracing::info!(event = ?event.kind, why, "SnapTrade webhook acknowledged without action");
    WebhookOutcome::Ignored {
        reason: format!("{:?} {why}", event.kind),
    }
}
