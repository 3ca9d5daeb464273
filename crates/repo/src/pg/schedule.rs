//! The sync schedule on PostgreSQL (`user_sync_schedule`, migration 0023, kept by triggers).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::UserId;

use super::PgStore;
use super::row::Columns;
use crate::error::classify;
use crate::{DueUser, RepoError, SyncScheduleRepository};

/// One range scan of `idx_user_sync_schedule_due` (partial on `syncable`, ordered by the last sync with never as
/// `-infinity`, then user id): the never-synced, then the oldest, stopping at `$1` or after `limit` rows.
pub(crate) const DUE: &str = "
select user_id, last_synced_at from public.user_sync_schedule
where syncable and coalesce(last_synced_at, '-infinity'::timestamptz) < $1
order by coalesce(last_synced_at, '-infinity'::timestamptz), user_id
limit $2";

#[async_trait]
impl SyncScheduleRepository for PgStore {
    async fn users_due_for_sync(
        &self,
        older_than: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueUser>, RepoError> {
        if let Some(user) = self.acting_as() {
            return Err(RepoError::forbidden(format!(
                "listing the users due for a sync is a service operation; a store scoped to user {user} cannot \
                 run it"
            )));
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(DUE)
            .bind(older_than)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let c = Columns(row);
                let user: UserId = c.id("user_id")?;
                Ok(DueUser::new(user, c.get("last_synced_at")?))
            })
            .collect()
    }
}
