//! SnapTrade, as the engine takes it ([`SnapTradePlugin`]: per-account sync, trading on trade connections, the
//! listed-account gate) and its own flows beside sync ([`SnapTrade`], from [`SyncEngine::snaptrade`]):
//! registering users once, the connection portal, secret rotation, and webhooks.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::{
    AuthorizationId, ConnectionStatus, ConnectionType, InvestmentAccount, NewSnapTradeUser,
    Provider, StatusMessage, UserId,
};
use tributary_provider::capability::{ConnectionPortal, PortalLink, PortalRequest};
use tributary_provider::snaptrade::{
    SnapTradeClient, UserCredentials, WebhookEvent, WebhookEventKind,
};
use tributary_provider::{ProviderError, WebhookError};
use tributary_repo::{
    ConnectionStatusChange, NewWebhookDelivery, RepoError, SnapTradeUserRepository, Store,
    UserLock, WebhookKey, WebhookStatus,
};

use crate::engine::in_one_unit;
use crate::history::{HistoryScope, HistorySource, PerAccountHistory};
use crate::source::{
    AccountSource, ListedAccountGate, Logins, OrderDesk, PerAccountSource, Snapshot, TradingDesk,
};
use crate::{HistoryReport, ProviderPlugin, SyncEngine, SyncError, SyncReport};

mod disconnect;

pub use self::disconnect::SnapTradeDisconnected;

/// The largest webhook body [`SnapTrade::handle_webhook`] reads, as every receiver's: 1 MiB.
pub use tributary_provider::MAX_WEBHOOK_BODY;

/// SnapTrade's answer (401, code 1083) for a `userId`/`userSecret` it does not know: the user is gone.
const CODE_UNKNOWN_USER: &str = "1083";

/// The status to answer a webhook delivery with, from what [`SnapTrade::handle_webhook`] returned:
/// 200 when it was recorded (applied or not: a recorded delivery is never lost), 401/400/413 when it was refused
/// (forged, malformed, too large), 503 when it could not be recorded (SnapTrade then delivers it again). The same
/// as [`crate::webhook_status`], which serves every provider's outcome.
pub fn webhook_http_status(result: &Result<WebhookOutcome, SyncError>) -> u16 {
    crate::webhook_status(result)
}

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

/// SnapTrade's [`ProviderPlugin`]: the user's stored registration as the login, each account's positions
/// fetched concurrently, trading on trade connections that SnapTrade itself lists for the user
/// ([`ListedAccountGate`]). The client owns every credential, the consumer key its webhooks are verified with
/// included.
#[derive(Debug, Clone)]
pub struct SnapTradePlugin {
    client: Arc<SnapTradeClient>,
}

impl SnapTradePlugin {
    /// The plugin for `client`.
    pub fn new(client: Arc<SnapTradeClient>) -> Self {
        Self { client }
    }

    /// The client.
    pub fn client(&self) -> &Arc<SnapTradeClient> {
        &self.client
    }
}

impl<S: Store + 'static> ProviderPlugin<S> for SnapTradePlugin {
    fn provider(&self) -> Provider {
        Provider::SnapTrade
    }

    fn source(&self) -> Option<Arc<dyn AccountSource<S>>> {
        Some(Arc::new(SnapTradeSource(PerAccountSource::new(
            Arc::clone(&self.client),
            RegisteredSnapTradeUser,
        ))))
    }

    fn desk(&self) -> Option<Arc<dyn OrderDesk<S>>> {
        Some(Arc::new(TradingDesk::new(
            Arc::clone(&self.client),
            RegisteredSnapTradeUser,
            ListedAccountGate::new(Arc::clone(&self.client), RegisteredSnapTradeUser),
        )))
    }

    /// Per account, its activities paged (`BrokerageAccounts::account_transactions`).
    fn history(&self) -> Option<Arc<dyn HistorySource<S>>> {
        Some(Arc::new(PerAccountHistory::new(
            Arc::clone(&self.client),
            RegisteredSnapTradeUser,
        )))
    }
}

/// The per-account source, which also records the registration's last sync.
struct SnapTradeSource(PerAccountSource<SnapTradeClient, RegisteredSnapTradeUser>);

#[async_trait]
impl<S: Store + 'static> AccountSource<S> for SnapTradeSource {
    fn provider(&self) -> Provider {
        Provider::SnapTrade
    }

    async fn fetch(
        &self,
        store: &S,
        user: UserId,
        permits: Arc<tokio::sync::Semaphore>,
    ) -> Result<Snapshot, SyncError> {
        self.0.fetch(store, user, permits).await
    }

    /// `snaptrade_users.last_sync_at`; a user with no registration has none to record.
    async fn synced(&self, store: &S, user: UserId, at: DateTime<Utc>) -> Result<(), SyncError>
    where
        S: Sync,
    {
        match store.record_snaptrade_sync(user, at).await {
            Ok(()) | Err(RepoError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
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
    /// An account's transactions changed (`ACCOUNT_TRANSACTIONS_INITIAL_UPDATE`, `ACCOUNT_TRANSACTIONS_UPDATED`):
    /// that account's history was synced.
    HistorySynced(Vec<HistoryReport>),
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
    /// The delivery names a user this store does not know (no such user, or none registered at SnapTrade):
    /// acknowledged and recorded as applied, nothing else written. A genuine delivery for a user deleted since,
    /// or a captured delivery re-signed for a made-up user, ends here.
    UnknownUser {
        /// The SnapTrade user id the delivery named.
        snaptrade_user_id: String,
    },
    /// Recorded, but applying it failed: it stays recorded (answer 2xx all the same) and
    /// [`SnapTrade::retry_webhooks`] applies it later.
    Deferred {
        /// Why applying it failed.
        reason: String,
    },
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Wires SnapTrade in: [`Self::with_provider`] with a [`SnapTradePlugin`]. The client owns its credentials,
    /// the consumer key its webhooks are verified with included.
    pub fn with_snaptrade(self, client: Arc<SnapTradeClient>) -> Self {
        self.with_provider(SnapTradePlugin::new(client))
    }

    /// SnapTrade's own flows on this engine: the connection portal, secret rotation, webhooks.
    pub fn snaptrade(&self) -> SnapTrade<'_, S> {
        SnapTrade { engine: self }
    }
}

/// SnapTrade's flows beside sync and orders, on the engine they feed ([`SyncEngine::snaptrade`]). Each call
/// checks that the router allows SnapTrade and that it is wired in ([`SyncError::NoClient`] otherwise).
#[derive(Debug)]
pub struct SnapTrade<'e, S> {
    engine: &'e SyncEngine<S>,
}

impl<S: Store + 'static> SnapTrade<'_, S> {
    /// The wired client, once the router allows SnapTrade.
    fn client(&self) -> Result<&Arc<SnapTradeClient>, SyncError> {
        self.engine.router.check(Provider::SnapTrade)?;
        self.engine
            .plugin::<SnapTradePlugin>()
            .map(SnapTradePlugin::client)
            .ok_or(SyncError::NoClient {
                provider: Provider::SnapTrade,
            })
    }

    /// The link to SnapTrade's connection portal for `user`, registering the user at SnapTrade on the first
    /// call only: later calls reuse the stored, sealed secret. `connection_type` asks for read or trade
    /// access; `reconnect` names a broken connection to repair instead of adding one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use secrecy::SecretString;
    /// # use tributary_provider::snaptrade::SnapTradeConfig;
    /// # use tributary_sandbox::Sandbox;
    /// # let sandbox = Sandbox::start().await;
    /// # let config = SnapTradeConfig::new(sandbox.snaptrade().client_id(),
    /// #     SecretString::from(sandbox.snaptrade().consumer_key()))?
    /// #     .with_base_url(sandbox.snaptrade_base_url().parse::<url::Url>()?);
    /// use std::sync::Arc;
    /// use tributary_domain::{ConnectionType, FeatureFlags};
    /// use tributary_provider::router::ProviderRouter;
    /// use tributary_provider::snaptrade::SnapTradeClient;
    /// use tributary_repo::MemoryStore;
    /// use tributary_sync::SyncEngine;
    ///
    /// // In a service: SnapTradeConfig::from_env()? reads SNAPTRADE_CLIENT_ID and SNAPTRADE_CONSUMER_KEY.
    /// let client = Arc::new(SnapTradeClient::new(config)?);
    /// let store = Arc::new(MemoryStore::new());
    /// let user = store.create_user();
    /// let engine = SyncEngine::new(store, ProviderRouter::new(FeatureFlags::all_on()))
    ///     .with_snaptrade(Arc::clone(&client));
    ///
    /// let link = engine.snaptrade().connect(user, ConnectionType::Trade, None).await?;
    /// // Send the user to `link.url` (it carries a one-time token: never log it); SnapTrade's portal connects a
    /// // brokerage, and the next sync brings its accounts.
    /// assert!(link.url.starts_with("http"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SyncError::Repo`] with [`RepoError::Secret`] when the stored secret cannot be opened: SnapTrade's
    /// `resetUserSecret` needs the current secret, so the user is never registered again behind the
    /// operator's back (that would orphan their connections); the provider's errors.
    pub async fn connect(
        &self,
        user: UserId,
        connection_type: ConnectionType,
        reconnect: Option<AuthorizationId>,
    ) -> Result<PortalLink, SyncError> {
        self.client()?;
        let held = self.engine.hold(user).await?;
        let result = SnapTrade {
            engine: &held.engine,
        }
        .portal_link(user, connection_type, reconnect)
        .await;
        held.finish(result).await
    }

    /// [`Self::connect`], with the user held (no transaction is open across the provider calls).
    async fn portal_link(
        &self,
        user: UserId,
        connection_type: ConnectionType,
        reconnect: Option<AuthorizationId>,
    ) -> Result<PortalLink, SyncError> {
        let client = self.client()?;
        if let Some(authorization) = reconnect {
            // Only the user's own connection can be repaired.
            self.engine
                .store
                .get_connection(user, authorization)
                .await?;
        }
        let credentials = self.snaptrade_credentials(client, user).await?;
        let request = PortalRequest {
            broker: None,
            connection_type,
            reconnect,
            redirect_uri: None,
        };
        Ok(client.portal_url(&credentials, &request).await?)
    }

    /// The stored registration, or a new one stored before it is used.
    async fn snaptrade_credentials(
        &self,
        client: &SnapTradeClient,
        user: UserId,
    ) -> Result<UserCredentials, SyncError> {
        if let Some(row) = self.engine.store.find_snaptrade_user(user).await? {
            return Ok(UserCredentials::new(row.snaptrade_user_id, row.user_secret));
        }
        let registered = ConnectionPortal::register_user(client, user).await?;
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
        self.engine.store.upsert_snaptrade_user(user, &row).await?;
        Ok(())
    }

    /// Rotates the user's SnapTrade secret with `resetUserSecret` (a leaked secret, a key rotation) and
    /// stores the new one sealed. The SnapTrade user, and so its connections, stay the same.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the user is not registered; the provider's.
    pub async fn rotate_secret(&self, user: UserId) -> Result<(), SyncError> {
        self.client()?;
        let held = self.engine.hold(user).await?;
        let result = SnapTrade {
            engine: &held.engine,
        }
        .rotated_secret(user)
        .await;
        held.finish(result).await
    }

    /// [`Self::rotate_secret`], with the user held.
    async fn rotated_secret(&self, user: UserId) -> Result<(), SyncError> {
        let client = self.client()?;
        let row =
            self.engine
                .store
                .find_snaptrade_user(user)
                .await?
                .ok_or(RepoError::NotFound {
                    entity: "snaptrade user",
                })?;
        let current = UserCredentials::new(row.snaptrade_user_id, row.user_secret);
        let rotated = client.reset_user_secret(&current).await?;
        self.store_registration(user, &rotated).await
    }

    /// Receives a SnapTrade webhook delivery (the `Signature` header's value and the raw body) through a durable
    /// inbox: once its signature is verified, the delivery is recorded (repository, by SnapTrade user and webhook
    /// id) before anything else, then applied from that record with the user held across processes. Answer with
    /// [`webhook_http_status`]: `Ok` means recorded (2xx), whatever became of applying it.
    ///
    /// * A delivery recorded before (SnapTrade's retry, which comes after 30 minutes, beyond the 300 s freshness
    ///   window; a duplicate; a replay) is acknowledged as [`WebhookOutcome::Replayed`] without being applied
    ///   again, stale or not; one recorded but not applied yet is applied now.
    /// * A signed delivery that is stale and unknown (our endpoint was down when it first came) is recorded and
    ///   applied as a hint: a resync of the user it names, never the command it carries.
    /// * A destructive event (`CONNECTION_DELETED`, `USER_DELETED`) is confirmed with SnapTrade's API first (the
    ///   user's authorizations, listed with the stored registration): while SnapTrade still has the connection
    ///   or the user, nothing is deleted and the user is resynced instead, so a replayed capture deletes nothing.
    /// * A failure while applying leaves the delivery recorded as failed ([`WebhookOutcome::Deferred`]); a later
    ///   [`Self::retry_webhooks`] applies it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use secrecy::SecretString;
    /// # use tributary_provider::snaptrade::SnapTradeConfig;
    /// # use tributary_sandbox::Sandbox;
    /// # let sandbox = Sandbox::start().await;
    /// # let config = SnapTradeConfig::new(sandbox.snaptrade().client_id(),
    /// #     SecretString::from(sandbox.snaptrade().consumer_key()))?
    /// #     .with_base_url(sandbox.snaptrade_base_url().parse::<url::Url>()?);
    /// use std::sync::Arc;
    /// use tributary_domain::{ConnectionType, FeatureFlags};
    /// use tributary_provider::router::ProviderRouter;
    /// use tributary_provider::snaptrade::SnapTradeClient;
    /// use tributary_repo::MemoryStore;
    /// use tributary_sync::SyncEngine;
    ///
    /// // In a service: SnapTradeConfig::from_env()? reads SNAPTRADE_CLIENT_ID and SNAPTRADE_CONSUMER_KEY.
    /// let client = Arc::new(SnapTradeClient::new(config)?);
    /// let store = Arc::new(MemoryStore::new());
    /// let user = store.create_user();
    /// let engine = SyncEngine::new(store, ProviderRouter::new(FeatureFlags::all_on()))
    ///     .with_snaptrade(Arc::clone(&client));
    /// use serde_json::json;
    /// use tributary_sync::{WebhookOutcome, webhook_http_status};
    ///
    /// engine.snaptrade().connect(user, ConnectionType::Trade, None).await?;
    /// // What SnapTrade POSTs: a body, and its signature in the `Signature` header (signed here as SnapTrade
    /// // would, for the example).
    /// let delivery = client.sign_webhook(&json!({
    ///     "webhookId": "f4a7c3f2-4a5e-4b8b-9a36-0d6a4f3c2b1e",
    ///     "eventType": "ACCOUNT_HOLDINGS_UPDATED",
    ///     "eventTimestamp": chrono::Utc::now().to_rfc3339(),
    ///     "userId": user.to_string(),
    /// }));
    ///
    /// let result = engine.snaptrade().handle_webhook(Some(&delivery.signature), delivery.body.as_bytes()).await;
    /// assert_eq!(webhook_http_status(&result), 200);
    /// assert!(matches!(result?, WebhookOutcome::Resynced(_)));
    ///
    /// // The same delivery again is acknowledged and not applied twice; a forged one is answered 401.
    /// let again = engine.snaptrade().handle_webhook(Some(&delivery.signature), delivery.body.as_bytes()).await;
    /// assert_eq!(again?, WebhookOutcome::Replayed);
    /// let forged = engine.snaptrade().handle_webhook(Some("Zm9yZ2Vk"), delivery.body.as_bytes()).await;
    /// assert_eq!(webhook_http_status(&forged), 401);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SyncError::Webhook`] for a refused delivery, with the status to answer: a body over
    /// [`MAX_WEBHOOK_BODY`] is refused unread ([`WebhookError::TooLarge`], 413); a forged or unsigned delivery
    /// (401) or a body that is not a SnapTrade event (400). And [`SyncError::Repo`] when the delivery could not
    /// be recorded: it was not acknowledged, answer 5xx so SnapTrade delivers it again.
    pub async fn handle_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, SyncError> {
        let client = self.client()?;
        WebhookError::check_size(Provider::SnapTrade, body, MAX_WEBHOOK_BODY)?;
        let event = client.verify_webhook_signature(signature, body)?;
        let delivery = NewWebhookDelivery {
            key: webhook_key(&event),
            event_type: event_type(&event),
            user: named_user(&event),
            payload: event.raw.clone(),
            hint_only: !event.is_fresh_at(Utc::now()),
        };
        if !self.engine.store.record_webhook(&delivery).await? {
            let applied = self
                .engine
                .store
                .find_webhook(&delivery.key)
                .await?
                .is_none_or(|stored| stored.status == WebhookStatus::Applied);
            if applied {
                return Ok(WebhookOutcome::Replayed);
            }
        }
        Ok(self.apply_recorded(&delivery.key, &event).await)
    }

    /// Applies up to `limit` recorded deliveries that are not applied yet (failed, or left half-way by a process
    /// that stopped), oldest first, each as [`Self::handle_webhook`] would have; returns each one's
    /// key and outcome. Run it on a schedule: a delivery SnapTrade was answered 2xx for is applied here if its
    /// first application failed.
    ///
    /// # Errors
    /// [`SyncError::Repo`] when the pending deliveries cannot be read; a delivery that fails again is
    /// [`WebhookOutcome::Deferred`] in the list, not an error.
    pub async fn retry_webhooks(
        &self,
        limit: usize,
    ) -> Result<Vec<(WebhookKey, WebhookOutcome)>, SyncError> {
        self.client()?;
        let mut outcomes = Vec::new();
        for delivery in self
            .engine
            .store
            .pending_webhooks(Provider::SnapTrade, limit)
            .await?
        {
            let outcome = match WebhookEvent::from_payload(delivery.payload.clone()) {
                Ok(event) => self.apply_recorded(&delivery.key, &event).await,
                Err(error) => self.deferred(&delivery.key, &error.into()).await,
            };
            outcomes.push((delivery.key, outcome));
        }
        Ok(outcomes)
    }

    /// Deletes the records of deliveries applied before `older_than`, once SnapTrade can no longer redeliver
    /// them (its retries end within a day); deliveries not applied yet are kept. Returns how many were deleted.
    ///
    /// # Errors
    /// The repository's.
    pub async fn purge_webhook_records(
        &self,
        older_than: DateTime<Utc>,
    ) -> Result<usize, SyncError> {
        Ok(self.engine.store.purge_webhooks(older_than).await?)
    }

    /// Applies a recorded delivery with its user held, and records how that went.
    async fn apply_recorded(&self, key: &WebhookKey, event: &WebhookEvent) -> WebhookOutcome {
        let Some(user) = named_user(event) else {
            let outcome = ignored(event, "names no Tributary user");
            return match self.engine.store.mark_webhook_applied(key).await {
                Ok(()) => outcome,
                Err(error) => self.deferred(key, &error.into()).await,
            };
        };
        let applied = async {
            let held = self.engine.hold(user).await?;
            let result = SnapTrade {
                engine: &held.engine,
            }
            .apply_held(&held.lock, user, key, event)
            .await;
            held.finish(result).await
        };
        match applied.await {
            Ok(outcome) => outcome,
            Err(error) => self.deferred(key, &error).await,
        }
    }

    /// Records a failed application for a retry, and says so.
    async fn deferred(&self, key: &WebhookKey, error: &SyncError) -> WebhookOutcome {
        WebhookOutcome::Deferred {
            reason: crate::inbox::record_deferral(self.engine.store.as_ref(), key, error).await,
        }
    }

    /// The delivery applied, the user held: checked again under the lock (another task or process may have
    /// applied it meanwhile), applied, marked applied.
    async fn apply_held(
        &self,
        lock: &UserLock,
        user: UserId,
        key: &WebhookKey,
        event: &WebhookEvent,
    ) -> Result<WebhookOutcome, SyncError> {
        let Some(stored) = self.engine.store.find_webhook(key).await? else {
            return Ok(WebhookOutcome::Replayed);
        };
        if stored.status == WebhookStatus::Applied {
            return Ok(WebhookOutcome::Replayed);
        }
        // Tributary registers every user it serves at SnapTrade and stores the registration: a delivery naming a
        // user without one concerns no one here (never synced, never "resynced" into an empty report).
        if self.engine.store.find_snaptrade_user(user).await?.is_none() {
            tracing::info!(event = ?event.kind, "a SnapTrade webhook for a user this store does not know: acknowledged as unknown");
            self.engine.store.mark_webhook_applied(key).await?;
            return Ok(WebhookOutcome::UnknownUser {
                snaptrade_user_id: key.snaptrade_user_id.clone(),
            });
        }
        let outcome = if stored.hint_only {
            tracing::info!(event = ?event.kind, "a stale SnapTrade webhook is a hint: the user is resynced");
            WebhookOutcome::Resynced(Box::new(self.engine.sync_held(user, lock).await?))
        } else {
            self.apply_webhook(lock, user, event).await?
        };
        self.engine.store.mark_webhook_applied(key).await?;
        Ok(outcome)
    }

    /// What the event says to do, with the user held.
    async fn apply_webhook(
        &self,
        lock: &UserLock,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<WebhookOutcome, SyncError> {
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
                if self.still_at_snaptrade(user, Some(authorization)).await? {
                    return self.resynced_instead(user, lock, event).await;
                }
                in_one_unit(lock, self.remove_connection(user, authorization)).await
            }
            (
                WebhookEventKind::AccountHoldingsUpdated
                | WebhookEventKind::NewAccountAvailable
                | WebhookEventKind::ConnectionAdded,
                _,
            ) => {
                // Holdings are replaced per user as a whole, so an account's update is a sync of its user.
                Ok(WebhookOutcome::Resynced(Box::new(
                    self.engine.sync_held(user, lock).await?,
                )))
            }
            (WebhookEventKind::UserDeleted, _) => {
                if self.still_at_snaptrade(user, None).await? {
                    return self.resynced_instead(user, lock, event).await;
                }
                in_one_unit(lock, self.forget_snaptrade(user)).await
            }
            (WebhookEventKind::TradeUpdate, _) => self.trade_updated(user, event).await,
            (
                WebhookEventKind::AccountTransactionsInitialUpdate
                | WebhookEventKind::AccountTransactionsUpdated,
                _,
            ) => self.history_updated(user, event).await,
            (kind, _) => {
                tracing::info!(event = ?kind, "SnapTrade webhook acknowledged without action");
                Ok(ignored(event, "is not acted on"))
            }
        }
    }

    /// Whether SnapTrade still has the user (and, when given, the connection), asked with the user's stored
    /// registration before anything is deleted: a webhook is a hint, SnapTrade's API the truth. A user with no
    /// registration stored has nothing left at SnapTrade that Tributary could reach or protect.
    ///
    /// # Errors
    /// The provider's, other than its answer for an unknown user (401 code 1083, or 404): deleting nothing
    /// and trying again later is the safe side.
    async fn still_at_snaptrade(
        &self,
        user: UserId,
        authorization: Option<AuthorizationId>,
    ) -> Result<bool, SyncError> {
        let client = self.client()?;
        let Some(row) = self.engine.store.find_snaptrade_user(user).await? else {
            return Ok(false);
        };
        let credentials = UserCredentials::new(row.snaptrade_user_id, row.user_secret);
        match client.connection_ids(&credentials).await {
            Ok(listed) => Ok(authorization.is_none_or(|wanted| listed.contains(&wanted))),
            Err(ProviderError::Unauthorized(detail))
                if detail.code.as_deref() == Some(CODE_UNKNOWN_USER) =>
            {
                Ok(false)
            }
            Err(ProviderError::NotFound(_)) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// A destructive event SnapTrade's API contradicts: nothing is deleted, the user is resynced.
    async fn resynced_instead(
        &self,
        user: UserId,
        lock: &UserLock,
        event: &WebhookEvent,
    ) -> Result<WebhookOutcome, SyncError> {
        tracing::warn!(event = ?event.kind, "SnapTrade still has what the webhook says was deleted: nothing deleted, the user resynced");
        Ok(WebhookOutcome::Resynced(Box::new(
            self.engine.sync_held(user, lock).await?,
        )))
    }

    /// Deletes the connection and retires its accounts. (The caller holds the user, inside a unit.)
    async fn remove_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<WebhookOutcome, SyncError> {
        let stored = match self
            .engine
            .store
            .delete_connection(user, authorization)
            .await
        {
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
        match self.engine.store.delete_snaptrade_user(user).await {
            Ok(()) | Err(RepoError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        for connection in self.engine.store.list_connections(user).await? {
            self.engine
                .store
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
        self.engine.retire_accounts(user, retired).await
    }

    async fn connection_changed(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<WebhookOutcome, SyncError> {
        match self
            .engine
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

    /// The user's stored SnapTrade account the event names, if it is one: an id of another user's account (or
    /// none) finds nothing.
    async fn named_account(
        &self,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<Option<InvestmentAccount>, SyncError> {
        let accounts = self.engine.store.list_accounts(user).await?;
        Ok(accounts.into_iter().find(|a| {
            a.provider == Provider::SnapTrade
                && Some(a.provider_account_id.as_str()) == event.account_id.as_deref()
        }))
    }

    /// Syncs the history of the account the event names, when it is one of the user's stored SnapTrade accounts:
    /// a delivery naming another user's account (or none) touches nothing.
    async fn history_updated(
        &self,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<WebhookOutcome, SyncError> {
        match self.named_account(user, event).await? {
            Some(account) => {
                let scope = HistoryScope::Account(account.provider_account_id.clone());
                Ok(WebhookOutcome::HistorySynced(
                    self.engine
                        .sync_histories(user, &[Provider::SnapTrade], &scope)
                        .await?,
                ))
            }
            None => Ok(ignored(event, "names no stored SnapTrade account")),
        }
    }

    async fn trade_updated(
        &self,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<WebhookOutcome, SyncError> {
        match self.named_account(user, event).await? {
            Some(account) => Ok(WebhookOutcome::OrdersRefreshed {
                written: self.engine.account_orders_refreshed(&account).await?,
            }),
            None => Ok(ignored(event, "names no stored SnapTrade account")),
        }
    }
}

/// The Tributary user a delivery names: SnapTrade's `userId` is the Tributary user id it was registered under.
fn named_user(event: &WebhookEvent) -> Option<UserId> {
    event
        .user_id
        .as_deref()
        .and_then(|id| UserId::parse(id).ok())
}

/// The delivery's identity: the SnapTrade user it names (empty for none), and its webhook id, else what makes
/// the event itself unique.
fn webhook_key(event: &WebhookEvent) -> WebhookKey {
    WebhookKey::snaptrade(
        event.user_id.as_deref().unwrap_or_default().trim(),
        webhook_id(event),
    )
}

fn webhook_id(event: &WebhookEvent) -> String {
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
