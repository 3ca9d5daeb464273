//! Plaid's webhooks through the durable inbox: verified, recorded before they are acknowledged, applied to the
//! Item's owner with the user held, retried when applying failed.

use serde_json::Value;
use tributary_domain::{Provider, ProviderItemId, StatusMessage, UserId};
use tributary_provider::WebhookError;
use tributary_provider::plaid::{
    PlaidEnvironment, PlaidWebhook, PlaidWebhookEnvironment, PlaidWebhookError, PlaidWebhookKind,
};
use tributary_repo::{
    NewWebhookDelivery, PlaidItemStatus, PlaidItemStatusChange, RepoError, Store, UserLock,
    WebhookKey, WebhookStatus,
};

use super::{Plaid, item_status_for_code};
use crate::history::HistoryScope;
use crate::{HistoryReport, SyncError, SyncReport};

/// What became of a Plaid webhook delivery that was recorded (answer 2xx: [`crate::webhook_http_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaidWebhookOutcome {
    /// Recorded and applied before: acknowledged, not applied again.
    Replayed,
    /// `HOLDINGS` / `DEFAULT_UPDATE`: the Item's owner was synced.
    Resynced {
        /// The Item's owner.
        user: UserId,
        /// The sync.
        report: Box<SyncReport>,
    },
    /// `INVESTMENTS_TRANSACTIONS` / `DEFAULT_UPDATE` or `HISTORICAL_UPDATE`: the Item's transaction history was
    /// synced for its owner.
    HistorySynced {
        /// The Item's owner.
        user: UserId,
        /// The Item.
        item_id: ProviderItemId,
        /// What the history sync did.
        history: Vec<HistoryReport>,
    },
    /// An `ITEM` webhook moved the Item's status (and its accounts' `connection_status` with it).
    ItemStatusChanged {
        /// The Item's owner.
        user: UserId,
        /// The Item.
        item_id: ProviderItemId,
        /// Its status now.
        status: PlaidItemStatus,
    },
    /// Acknowledged without action, with why (a webhook update acknowledged, an error code that says nothing of the Item's health, a webhook
    /// Tributary does not act on).
    Acknowledged {
        /// Why nothing was done.
        reason: String,
    },
    /// The webhook names an Item no user of this store holds: acknowledged, nothing written but the delivery's
    /// record.
    UnknownItem {
        /// The Item id as sent.
        item_id: String,
    },
    /// Sent from another Plaid environment than the client's (`environment`): its Item is none this deployment
    /// reaches, so nothing is written but the delivery's record.
    OtherEnvironment {
        /// The environment as sent.
        environment: String,
    },
    /// The Item is held by several users of this store: what the webhook did for each, by user id.
    PerOwner(Vec<PlaidWebhookOutcome>),
    /// Recorded, but applying it failed: it stays recorded (answer 2xx all the same) and
    /// [`Plaid::retry_webhooks`] applies it later.
    Deferred {
        /// Why applying it failed.
        reason: String,
    },
}

impl<S: Store + 'static> Plaid<'_, S> {
    /// Receives a Plaid webhook delivery (the `Plaid-Verification` header's value and the raw body) through the
    /// durable inbox it shares with SnapTrade: verified by the plugin's [`PlaidWebhookVerifier`] (whose key cache
    /// lives as long as the engine), recorded before anything else, then applied from that record to the Item's
    /// owner with the user held across processes. Answer with [`crate::webhook_http_status`]: `Ok` means
    /// recorded (2xx), whatever became of applying it.
    ///
    /// Plaid sends no webhook id: a delivery is known by what its signature binds, the token's `iat` and the
    /// body's SHA-256, so Plaid's retry of a delivery is recorded as what it is (a new token) and a captured
    /// delivery replayed within the token's five minutes is [`PlaidWebhookOutcome::Replayed`].
    ///
    /// * `HOLDINGS` / `DEFAULT_UPDATE`: the Item's owner is synced ([`PlaidWebhookOutcome::Resynced`]).
    /// * `ITEM` / `ERROR`: the Item's status from the error's code ([`item_status_for_code`]);
    ///   `PENDING_EXPIRATION`, `PENDING_DISCONNECT`, `USER_PERMISSION_REVOKED`: that status; `LOGIN_REPAIRED`:
    ///   healthy again. The Item's accounts show it in `connection_status`.
    /// * `INVESTMENTS_TRANSACTIONS` / `DEFAULT_UPDATE` or `HISTORICAL_UPDATE`: the Item's transaction history is
    ///   synced for its owner ([`PlaidWebhookOutcome::HistorySynced`]).
    /// * `WEBHOOK_UPDATE_ACKNOWLEDGED` and everything else: acknowledged.
    /// * An Item no user holds: [`PlaidWebhookOutcome::UnknownItem`]; a webhook from another Plaid environment
    ///   than the client's: [`PlaidWebhookOutcome::OtherEnvironment`]. Either is recorded as applied and writes
    ///   nothing else.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use secrecy::{ExposeSecret, SecretString};
    /// # use tributary_provider::plaid::{PlaidConfig, PlaidEnvironment};
    /// # use tributary_sandbox::Sandbox;
    /// # let sandbox = Sandbox::start().await;
    /// # let config = PlaidConfig::new(sandbox.plaid().client_id(), SecretString::from(sandbox.plaid().secret()),
    /// #     PlaidEnvironment::Sandbox).with_base_url(sandbox.plaid_base_url().parse::<url::Url>()?);
    /// use std::sync::Arc;
    /// use serde_json::json;
    /// use tributary_domain::FeatureFlags;
    /// use tributary_provider::plaid::PlaidClient;
    /// use tributary_provider::router::ProviderRouter;
    /// use tributary_repo::MemoryStore;
    /// use tributary_sync::source::GivenLogins;
    /// use tributary_sync::{PlaidWebhookOutcome, SyncEngine, webhook_status};
    ///
    /// let client = Arc::new(PlaidClient::new(config)?);
    /// let store = Arc::new(MemoryStore::new());
    /// let user = store.create_user();
    /// let engine = SyncEngine::new(store, ProviderRouter::new(FeatureFlags::all_on()))
    ///     .with_plaid(Arc::clone(&client), Arc::new(GivenLogins::new()));
    /// let public_token = client.create_sandbox_public_token("ins_109508", &["investments".to_owned()]).await?;
    /// let linked = engine.plaid().link(user, public_token.expose_secret()).await?;
    ///
    /// // What Plaid POSTs: a body, and its JWT in the `Plaid-Verification` header (signed here by the sandbox).
    /// let delivery = sandbox.plaid().sign_webhook(&json!({
    ///     "webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE", "item_id": linked.item_id.as_str(),
    ///     "error": null, "new_holdings": 19, "updated_holdings": 0, "environment": "sandbox",
    /// }));
    /// let result = engine.plaid().handle_webhook(Some(&delivery.verification), delivery.body.as_bytes()).await;
    /// assert_eq!(webhook_status(&result), 200);
    /// assert!(matches!(result?, PlaidWebhookOutcome::Resynced { .. }));
    ///
    /// // The same delivery again is acknowledged and not applied twice; an unsigned one is answered 401.
    /// let again = engine.plaid().handle_webhook(Some(&delivery.verification), delivery.body.as_bytes()).await;
    /// assert_eq!(again?, PlaidWebhookOutcome::Replayed);
    /// let unsigned = engine.plaid().handle_webhook(None, delivery.body.as_bytes()).await;
    /// assert_eq!(webhook_status(&unsigned), 401);
    /// # Ok(()) }
    /// ```
    ///
    /// [`PlaidWebhookVerifier`]: tributary_provider::plaid::PlaidWebhookVerifier
    ///
    /// # Errors
    /// [`SyncError::Webhook`] for a refused delivery, with the status to answer: a body over
    /// [`tributary_provider::MAX_WEBHOOK_BODY`] (413), a missing or forged signature (401), a stale token or a body that is
    /// not a Plaid event (400). [`SyncError::Provider`] when Plaid's verification key could not be fetched, and
    /// [`SyncError::Repo`] when the delivery could not be recorded: not acknowledged, answer 5xx so Plaid
    /// delivers it again.
    pub async fn handle_webhook(
        &self,
        verification: Option<&str>,
        body: &[u8],
    ) -> Result<PlaidWebhookOutcome, SyncError> {
        let plugin = self.plugin()?;
        let event = plugin
            .verifier
            .verify(verification, body)
            .await
            .map_err(|failure| match failure {
                PlaidWebhookError::Refused(refusal) => SyncError::Webhook(refusal),
                PlaidWebhookError::KeyUnavailable(error) => SyncError::Provider(error),
                // A failure the verifier may add later: refused as unverifiable, never taken for genuine.
                other => SyncError::Webhook(WebhookError::Malformed {
                    provider: Provider::Plaid,
                    reason: other.to_string(),
                }),
            })?;
        let Some(signed) = &event.signed else {
            return Err(SyncError::Webhook(WebhookError::Malformed {
                provider: Provider::Plaid,
                reason: "the verifier bound no delivery".to_owned(),
            }));
        };
        let key = WebhookKey::plaid(signed.delivery_id());
        let owners = self.owners(&event).await?;
        let delivery = NewWebhookDelivery {
            key: key.clone(),
            event_type: event_type(&event),
            user: match owners.as_slice() {
                [owner] => Some(*owner),
                _ => None,
            },
            payload: event.raw.clone(),
            hint_only: false,
        };
        if !self.engine.store.record_webhook(&delivery).await? {
            let applied = self
                .engine
                .store
                .find_webhook(&key)
                .await?
                .is_none_or(|stored| stored.status == WebhookStatus::Applied);
            if applied {
                return Ok(PlaidWebhookOutcome::Replayed);
            }
        }
        Ok(self.apply_recorded(&key, &event).await)
    }

    /// Applies up to `limit` of Plaid's recorded deliveries that are not applied yet (failed, or left half-way by
    /// a process that stopped), oldest first, each as [`Self::handle_webhook`] would have; returns each one's key
    /// and outcome. SnapTrade's are retried by its own `retry_webhooks`: each provider's retry reads its own
    /// deliveries, so an engine wired with one provider never touches the other's.
    ///
    /// # Errors
    /// [`SyncError::Repo`] when the pending deliveries cannot be read; a delivery that fails again is
    /// [`PlaidWebhookOutcome::Deferred`] in the list, not an error.
    pub async fn retry_webhooks(
        &self,
        limit: usize,
    ) -> Result<Vec<(WebhookKey, PlaidWebhookOutcome)>, SyncError> {
        self.plugin()?;
        let mut outcomes = Vec::new();
        for delivery in self
            .engine
            .store
            .pending_webhooks(Provider::Plaid, limit)
            .await?
        {
            let outcome = match PlaidWebhook::from_payload(delivery.payload.clone()) {
                Ok(event) => self.apply_recorded(&delivery.key, &event).await,
                Err(error) => self.deferred(&delivery.key, &error.into()).await,
            };
            outcomes.push((delivery.key, outcome));
        }
        Ok(outcomes)
    }

    /// The users holding the Item the event names (none for an event naming no Item, or an id no Item has).
    async fn owners(&self, event: &PlaidWebhook) -> Result<Vec<UserId>, SyncError> {
        let Some(item) = item_of(event) else {
            return Ok(Vec::new());
        };
        Ok(self.engine.store.plaid_item_owners(&item).await?)
    }

    /// Applies a recorded delivery to each owner of its Item, each held in turn, and records how that went.
    async fn apply_recorded(&self, key: &WebhookKey, event: &PlaidWebhook) -> PlaidWebhookOutcome {
        match self.applied(key, event).await {
            Ok(outcome) => outcome,
            Err(error) => self.deferred(key, &error).await,
        }
    }

    async fn applied(
        &self,
        key: &WebhookKey,
        event: &PlaidWebhook,
    ) -> Result<PlaidWebhookOutcome, SyncError> {
        if let Some(environment) = self.foreign_environment(event)? {
            tracing::warn!(%environment, "a Plaid webhook from another environment: acknowledged, nothing written");
            self.engine.store.mark_webhook_applied(key).await?;
            return Ok(PlaidWebhookOutcome::OtherEnvironment { environment });
        }
        let owners = self.owners(event).await?;
        if owners.is_empty() {
            self.engine.store.mark_webhook_applied(key).await?;
            return Ok(match &event.item_id {
                Some(item_id) => {
                    tracing::info!(kind = ?event.kind, "a Plaid webhook for an Item no user holds: acknowledged as unknown");
                    PlaidWebhookOutcome::UnknownItem {
                        item_id: item_id.clone(),
                    }
                }
                None => acknowledged(event, "names no Item"),
            });
        }
        let mut outcomes = Vec::with_capacity(owners.len());
        for user in owners {
            let held = self.engine.hold(user).await?;
            let result = Plaid {
                engine: &held.engine,
            }
            .apply_held(&held.lock, user, key, event)
            .await;
            let outcome = held.finish(result).await?;
            if outcome == PlaidWebhookOutcome::Replayed {
                return Ok(outcome);
            }
            outcomes.push(outcome);
        }
        self.engine.store.mark_webhook_applied(key).await?;
        Ok(if outcomes.len() == 1 {
            outcomes.remove(0)
        } else {
            PlaidWebhookOutcome::PerOwner(outcomes)
        })
    }

    /// The event's environment when it is not the client's (`WebhookEnvironmentValues`: "The Plaid environment
    /// the webhook was sent from"); `None` when it is, or when the client's environment is not known (a base
    /// URL given without `PLAID_ENV`).
    fn foreign_environment(&self, event: &PlaidWebhook) -> Result<Option<String>, SyncError> {
        let Some(ours) = self.plugin()?.client.config().environment() else {
            return Ok(None);
        };
        let same = matches!(
            (&event.environment, ours),
            (PlaidWebhookEnvironment::Sandbox, PlaidEnvironment::Sandbox)
                | (
                    PlaidWebhookEnvironment::Production,
                    PlaidEnvironment::Production
                )
        );
        Ok((!same).then(|| match &event.environment {
            PlaidWebhookEnvironment::Sandbox => "sandbox".to_owned(),
            PlaidWebhookEnvironment::Production => "production".to_owned(),
            PlaidWebhookEnvironment::Other(other) => other.clone(),
            other => format!("{other:?}"),
        }))
    }

    /// Records a failed application for a retry, and says so.
    async fn deferred(&self, key: &WebhookKey, error: &SyncError) -> PlaidWebhookOutcome {
        PlaidWebhookOutcome::Deferred {
            reason: crate::inbox::record_deferral(self.engine.store.as_ref(), key, error).await,
        }
    }

    /// The delivery applied for one owner, the user held: checked again under the lock (another task or process
    /// may have applied it meanwhile), then applied. The caller marks it applied once every owner's is done.
    async fn apply_held(
        &self,
        lock: &UserLock,
        user: UserId,
        key: &WebhookKey,
        event: &PlaidWebhook,
    ) -> Result<PlaidWebhookOutcome, SyncError> {
        let stored = self.engine.store.find_webhook(key).await?;
        if stored.is_none_or(|stored| stored.status == WebhookStatus::Applied) {
            return Ok(PlaidWebhookOutcome::Replayed);
        }
        let Some(item) = item_of(event) else {
            return Ok(acknowledged(event, "names no Item"));
        };
        match &event.kind {
            PlaidWebhookKind::HoldingsDefaultUpdate => Ok(PlaidWebhookOutcome::Resynced {
                user,
                report: Box::new(self.engine.sync_held(user, lock).await?),
            }),
            // `InvestmentsDefaultUpdateWebhook` ("Fired when new transactions have been detected on an
            // investment account") and `InvestmentsHistoricalUpdateWebhook` ("Fired after an asynchronous
            // extraction on an investments account") carry the `item_id` and counts, not the transactions: the
            // Item's history is fetched again over its window.
            PlaidWebhookKind::InvestmentsTransactionsDefaultUpdate
            | PlaidWebhookKind::InvestmentsTransactionsHistoricalUpdate => {
                let history = self
                    .engine
                    .sync_histories(user, &[Provider::Plaid], &HistoryScope::Item(item.clone()))
                    .await?;
                Ok(PlaidWebhookOutcome::HistorySynced {
                    user,
                    item_id: item,
                    history,
                })
            }
            PlaidWebhookKind::ItemError => {
                let Some(detail) = event.error.as_ref().and_then(|error| error.detail()) else {
                    return Ok(acknowledged(event, "carries no error"));
                };
                let code = detail.code.as_deref().unwrap_or_default();
                let Some(status) = item_status_for_code(code) else {
                    return Ok(acknowledged(
                        event,
                        &format!("carries {code:?}, which says nothing of the Item's health"),
                    ));
                };
                let change = PlaidItemStatusChange::Failing {
                    status,
                    error_code: Some(code.to_owned()),
                    message: StatusMessage::from_optional(Some(&detail.message)),
                };
                self.status_changed(user, item, change).await
            }
            PlaidWebhookKind::ItemLoginRequired => {
                let change = failing(PlaidItemStatus::LoginRequired, "ITEM_LOGIN_REQUIRED", event);
                self.status_changed(user, item, change).await
            }
            PlaidWebhookKind::ItemPendingExpiration => {
                let change = failing(
                    PlaidItemStatus::PendingExpiration,
                    "PENDING_EXPIRATION",
                    event,
                );
                self.status_changed(user, item, change).await
            }
            PlaidWebhookKind::ItemPendingDisconnect => {
                let change = failing(
                    PlaidItemStatus::PendingDisconnect,
                    "PENDING_DISCONNECT",
                    event,
                );
                self.status_changed(user, item, change).await
            }
            PlaidWebhookKind::ItemUserPermissionRevoked => {
                let change = failing(PlaidItemStatus::Revoked, "USER_PERMISSION_REVOKED", event);
                self.status_changed(user, item, change).await
            }
            PlaidWebhookKind::ItemLoginRepaired => {
                self.status_changed(user, item, PlaidItemStatusChange::Repaired)
                    .await
            }
            PlaidWebhookKind::ItemWebhookUpdateAcknowledged => Ok(acknowledged(
                event,
                "confirms the Item's new webhook URL; nothing to change",
            )),
            _ => Ok(acknowledged(event, "is not acted on")),
        }
    }

    async fn status_changed(
        &self,
        user: UserId,
        item: ProviderItemId,
        change: PlaidItemStatusChange,
    ) -> Result<PlaidWebhookOutcome, SyncError> {
        match self
            .engine
            .store
            .set_plaid_item_status(user, &item, change)
            .await
        {
            Ok(stored) => Ok(PlaidWebhookOutcome::ItemStatusChanged {
                user,
                item_id: stored.item_id,
                status: stored.status,
            }),
            // Removed between the lookup and now: the Item is no longer held.
            Err(RepoError::NotFound { .. }) => Ok(PlaidWebhookOutcome::UnknownItem {
                item_id: item.as_str().to_owned(),
            }),
            Err(error) => Err(error.into()),
        }
    }
}

/// The Item an event names, when its id is one an Item can have.
fn item_of(event: &PlaidWebhook) -> Option<ProviderItemId> {
    event
        .item_id
        .as_deref()
        .and_then(|id| ProviderItemId::parse(id).ok())
}

/// The change an `ITEM` status webhook makes: its status, its code, and what Plaid said of it (the event's
/// error message, else the time it names).
fn failing(status: PlaidItemStatus, code: &str, event: &PlaidWebhook) -> PlaidItemStatusChange {
    let said = event
        .error
        .as_ref()
        .and_then(|error| error.detail())
        .map(|detail| detail.message.clone())
        .or_else(|| {
            let at = |field: &str| event.raw.get(field).and_then(Value::as_str);
            at("consent_expiration_time")
                .map(|time| format!("Plaid: the user's consent expires at {time}; send them through Link's update mode"))
                .or_else(|| {
                    at("disconnect_time").map(|time| {
                        format!("Plaid: the institution disconnects the Item at {time}; send the user through Link's update mode")
                    })
                })
        });
    PlaidItemStatusChange::Failing {
        status,
        error_code: Some(code.to_owned()),
        message: StatusMessage::from_optional(said.as_deref()),
    }
}

/// The event's type as recorded: `webhook_type:webhook_code` as Plaid sent them.
fn event_type(event: &PlaidWebhook) -> String {
    let text = |field: &str| {
        event
            .raw
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .trim()
            .to_owned()
    };
    format!("{}:{}", text("webhook_type"), text("webhook_code"))
}

fn acknowledged(event: &PlaidWebhook, why: &str) -> PlaidWebhookOutcome {
    tracing::info!(kind = ?event.kind, why, "Plaid webhook acknowledged without action");
    PlaidWebhookOutcome::Acknowledged {
        reason: format!("{} {why}", event_type(event)),
    }
}
