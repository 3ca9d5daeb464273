//! The webhook inbox on PostgreSQL (`snaptrade_webhook_events`, every provider's since migration 0021, backend
//! only).
//!
//! No statement here reads `auth.users`: `service_role` holds no privilege on it (on Supabase, nor on the shim),
//! so the first version's `(select u.id from auth.users u …)` failed as `service_role` with "permission denied
//! for table users". The user is written as named and the foreign key decides: its check runs as the owner of
//! `auth.users`, and a user who does not exist is recorded as none.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use tributary_domain::{Provider, UserId};

use super::PgStore;
use super::row::Columns;
use crate::error::classify;
use crate::repository::{check_webhook_delivery, webhook_error_text};
use crate::{
    NewWebhookDelivery, RepoError, WebhookDelivery, WebhookKey, WebhookRepository, WebhookStatus,
};

/// One statement: the first delivery inserts its row, a redelivery finds the key taken and inserts nothing.
const RECORD: &str = "
insert into public.snaptrade_webhook_events
  (provider, snaptrade_user_id, webhook_id, event_type, user_id, payload, hint_only, status)
values ($7, $1, $2, $3, $4, $5, $6, 'received')
on conflict (provider, snaptrade_user_id, webhook_id) do nothing";

const FIND: &str = "
select provider, snaptrade_user_id, webhook_id, event_type, user_id, payload, hint_only, status, attempts,
  last_error, received_at, updated_at, applied_at
from public.snaptrade_webhook_events where provider = $3 and snaptrade_user_id = $1 and webhook_id = $2";

const MARK_APPLIED: &str = "
update public.snaptrade_webhook_events
set status = 'applied', attempts = attempts + 1, last_error = null, applied_at = now(), updated_at = now()
where provider = $3 and snaptrade_user_id = $1 and webhook_id = $2";

/// An applied delivery stays applied: a failure reported late (another process applied it meanwhile) is dropped.
const MARK_FAILED: &str = "
update public.snaptrade_webhook_events
set status = case when status = 'applied' then status else 'failed' end,
  attempts = attempts + 1,
  last_error = case when status = 'applied' then last_error else $3 end,
  updated_at = now()
where provider = $4 and snaptrade_user_id = $1 and webhook_id = $2";

const PENDING: &str = "
select provider, snaptrade_user_id, webhook_id, event_type, user_id, payload, hint_only, status, attempts,
  last_error, received_at, updated_at, applied_at
from public.snaptrade_webhook_events where provider = $2 and status <> 'applied'
order by received_at, snaptrade_user_id, webhook_id limit $1";

const PURGE: &str = "
delete from public.snaptrade_webhook_events where status = 'applied' and applied_at < $1";

#[async_trait]
impl WebhookRepository for PgStore {
    async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError> {
        check_webhook_delivery(delivery)?;
        match self.insert_delivery(delivery, delivery.user).await {
            // 23503: the user named does not exist; the delivery is recorded all the same, naming no one.
            Err(error)
                if delivery.user.is_some()
                    && error.as_database_error().and_then(|e| e.code()).as_deref()
                        == Some("23503") =>
            {
                self.insert_delivery(delivery, None).await.map_err(classify)
            }
            other => other.map_err(classify),
        }
    }

    async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError> {
        let row = sqlx::query(FIND)
            .bind(&key.snaptrade_user_id)
            .bind(&key.webhook_id)
            .bind(key.provider.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(classify)?;
        row.as_ref().map(read_delivery).transpose()
    }

    async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError> {
        let changed = sqlx::query(MARK_APPLIED)
            .bind(&key.snaptrade_user_id)
            .bind(&key.webhook_id)
            .bind(key.provider.as_str())
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        found(changed)
    }

    async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError> {
        let changed = sqlx::query(MARK_FAILED)
            .bind(&key.snaptrade_user_id)
            .bind(&key.webhook_id)
            .bind(webhook_error_text(error))
            .bind(key.provider.as_str())
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        found(changed)
    }

    async fn pending_webhooks(
        &self,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, RepoError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(PENDING)
            .bind(limit)
            .bind(provider.as_str())
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        rows.iter().map(read_delivery).collect()
    }

    async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError> {
        let deleted = sqlx::query(PURGE)
            .bind(applied_before)
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }
}

impl PgStore {
    async fn insert_delivery(
        &self,
        delivery: &NewWebhookDelivery,
        user: Option<UserId>,
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(RECORD)
            .bind(&delivery.key.snaptrade_user_id)
            .bind(&delivery.key.webhook_id)
            .bind(&delivery.event_type)
            .bind(user.map(UserId::into_uuid))
            .bind(Json(&delivery.payload))
            .bind(delivery.hint_only)
            .bind(delivery.key.provider.as_str())
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }
}

fn found(changed: u64) -> Result<(), RepoError> {
    if changed == 0 {
        return Err(RepoError::NotFound { entity: "webhook" });
    }
    Ok(())
}

fn read_delivery(row: &PgRow) -> Result<WebhookDelivery, RepoError> {
    let c = Columns(row);
    let status: String = c.get("status")?;
    let attempts: i32 = c.get("attempts")?;
    let payload: Json<serde_json::Value> = c.get("payload")?;
    let user_id: Option<uuid::Uuid> = c.get("user_id")?;
    let provider: String = c.get("provider")?;
    Ok(WebhookDelivery {
        key: WebhookKey {
            provider: Provider::parse(&provider)?,
            snaptrade_user_id: c.get("snaptrade_user_id")?,
            webhook_id: c.get("webhook_id")?,
        },
        event_type: c.get("event_type")?,
        user_id: user_id.map(UserId::new),
        payload: payload.0,
        hint_only: c.get("hint_only")?,
        status: WebhookStatus::parse(&status)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| RepoError::invalid("attempts", format!("{attempts} is negative")))?,
        last_error: c.get("last_error")?,
        received_at: c.get("received_at")?,
        updated_at: c.get("updated_at")?,
        applied_at: c.get("applied_at")?,
    })
}
