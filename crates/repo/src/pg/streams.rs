//! Event stream positions on PostgreSQL (`event_stream_positions`, backend only, migration 0020), and the
//! accounts an event names.

use async_trait::async_trait;
use tributary_domain::{InvestmentAccount, Provider, ProviderAccountId, UserId};

use super::accounts::{SELECT_BY_PROVIDER_ID, read_account};
use super::{PgStore, commit};
use crate::error::classify;
use crate::{EventStreamRepository, RepoError, StreamEventId, StreamName};

const POSITION: &str =
    "select last_event_id from public.event_stream_positions where stream_name = $1";

/// One statement: the first event inserts the row; a later one moves it only forward, in byte order (`collate
/// "C"`, as ULIDs sort and as Rust compares strings). A row comes back only when the position moved. On a
/// concurrent move the second statement waits for the first's transaction, then re-checks the condition.
const ADVANCE: &str = "
insert into public.event_stream_positions as p (stream_name, last_event_id) values ($1, $2)
on conflict (stream_name) do update set last_event_id = excluded.last_event_id, updated_at = now()
where p.last_event_id collate \"C\" < excluded.last_event_id collate \"C\"
returning p.last_event_id";

impl PgStore {
    fn service_only(&self, what: &str) -> Result<(), RepoError> {
        match self.acting_as() {
            Some(user) => Err(RepoError::forbidden(format!(
                "{what} is a service operation; a store scoped to user {user} cannot run it"
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl EventStreamRepository for PgStore {
    async fn stream_position(
        &self,
        stream: &StreamName,
    ) -> Result<Option<StreamEventId>, RepoError> {
        self.service_only("reading a stream position")?;
        let id: Option<String> = sqlx::query_scalar(POSITION)
            .bind(stream.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        id.map(|id| StreamEventId::parse(&id)).transpose()
    }

    async fn advance_stream(
        &self,
        user: Option<UserId>,
        stream: &StreamName,
        event: &StreamEventId,
    ) -> Result<bool, RepoError> {
        self.service_only("moving a stream position")?;
        let query = sqlx::query(ADVANCE)
            .bind(stream.as_str())
            .bind(event.as_str());
        let moved = match user {
            // In the unit of writes of `user`'s lock when this store is bound to it.
            Some(user) => {
                let mut tx = self.begin(user).await?;
                let moved = query.fetch_optional(&mut *tx).await.map_err(classify)?;
                commit(tx).await?;
                moved
            }
            None => query.fetch_optional(&self.pool).await.map_err(classify)?,
        };
        Ok(moved.is_some())
    }

    async fn accounts_by_provider_id(
        &self,
        provider: Provider,
        provider_account_id: &ProviderAccountId,
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        self.service_only("finding the owners of a provider account")?;
        let rows = sqlx::query(SELECT_BY_PROVIDER_ID)
            .bind(provider.as_str())
            .bind(provider_account_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter().map(read_account).collect()
    }
}
