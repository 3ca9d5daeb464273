//! The webhook inbox in memory: each delivery recorded once, kept until applied, purged when old.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::Provider;

use super::MemoryStore;
use crate::repository::{check_webhook_delivery, webhook_error_text};
use crate::{
    NewWebhookDelivery, RepoError, WebhookDelivery, WebhookKey, WebhookRepository, WebhookStatus,
};

#[async_trait]
impl WebhookRepository for MemoryStore {
    async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError> {
        check_webhook_delivery(delivery)?;
        let mut state = self.lock();
        if state.webhooks.contains_key(&delivery.key) {
            return Ok(false);
        }
        let user_id = delivery.user.filter(|user| state.users.contains(user));
        let at = state.clock.stamp();
        state.webhooks.insert(
            delivery.key.clone(),
            WebhookDelivery {
                key: delivery.key.clone(),
                event_type: delivery.event_type.clone(),
                user_id,
                payload: delivery.payload.clone(),
                hint_only: delivery.hint_only,
                status: WebhookStatus::Received,
                attempts: 0,
                last_error: None,
                received_at: at,
                updated_at: at,
                applied_at: None,
            },
        );
        Ok(true)
    }

    async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError> {
        Ok(self.lock().webhooks.get(key).cloned())
    }

    async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let delivery = state
            .webhooks
            .get_mut(key)
            .ok_or(RepoError::NotFound { entity: "webhook" })?;
        delivery.status = WebhookStatus::Applied;
        delivery.attempts += 1;
        delivery.last_error = None;
        delivery.applied_at = Some(at);
        delivery.updated_at = at;
        Ok(())
    }

    async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let delivery = state
            .webhooks
            .get_mut(key)
            .ok_or(RepoError::NotFound { entity: "webhook" })?;
        delivery.attempts += 1;
        delivery.updated_at = at;
        if delivery.status != WebhookStatus::Applied {
            delivery.status = WebhookStatus::Failed;
            delivery.last_error = Some(webhook_error_text(error));
        }
        Ok(())
    }

    async fn pending_webhooks(
        &self,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, RepoError> {
        let state = self.lock();
        let mut pending: Vec<_> = state
            .webhooks
            .values()
            .filter(|delivery| {
                delivery.key.provider == provider && delivery.status != WebhookStatus::Applied
            })
            .cloned()
            .collect();
        pending.sort_by(|a, b| {
            (a.received_at, &a.key.snaptrade_user_id, &a.key.webhook_id).cmp(&(
                b.received_at,
                &b.key.snaptrade_user_id,
                &b.key.webhook_id,
            ))
        });
        pending.truncate(limit);
        Ok(pending)
    }

    async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError> {
        let mut state = self.lock();
        let before = state.webhooks.len();
        state.webhooks.retain(|_, delivery| {
            delivery.status != WebhookStatus::Applied
                || delivery.applied_at.is_none_or(|at| at >= applied_before)
        });
        Ok(before - state.webhooks.len())
    }
}
