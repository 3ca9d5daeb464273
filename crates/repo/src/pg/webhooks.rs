//! Applied webhook deliveries on PostgreSQL (`snaptrade_webhook_events`, backend only).

use async_trait::async_trait;
use tributary_domain::UserId;

use super::PgStore;
use crate::error::classify;
use crate::repository::check_webhook_text;
use crate::{RepoError, WebhookRepository};

/// One statement: the first delivery inserts its row, a replay finds the key taken and inserts nothing. The
/// user is kept only when it exists (an event may name a user this database does not hold).
const RECORD: &str = "
insert into public.snaptrade_webhook_events (webhook_id, event_type, user_id)
select $1, $2, (select u.id from auth.users u where u.id = $3)
on conflict (webhook_id) do nothing";

const FORGET: &str = "delete from public.snaptrade_webhook_events where webhook_id = $1";

#[async_trait]
impl WebhookRepository for PgStore {
    async fn record_webhook(
        &self,
        webhook_id: &str,
        event_type: &str,
        user: Option<UserId>,
    ) -> Result<bool, RepoError> {
        check_webhook_text("webhook_id", webhook_id)?;
        check_webhook_text("event_type", event_type)?;
        let inserted = sqlx::query(RECORD)
            .bind(webhook_id)
            .bind(event_type)
            .bind(user.map(UserId::into_uuid))
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn forget_webhook(&self, webhook_id: &str) -> Result<(), RepoError> {
        sqlx::query(FORGET)
            .bind(webhook_id)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(classify)
    }
}
