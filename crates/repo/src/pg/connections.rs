//! Brokerage connections on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use tributary_domain::{
    AuthorizationId, BrokerageConnection, BrokerageName, BrokerageSlug, ConnectionStatus,
    ConnectionType, NewBrokerageConnection, StatusMessage, UserId,
};

use super::row::Columns;
use super::{PgStore, commit};
use crate::batch::check_connections;
use crate::error::classify;
use crate::{ConnectionRepository, ConnectionStatusChange, RepoError};

/// The key a connection is stored under: SnapTrade's authorization id, scoped by user (migration 0013), so
/// another user's row with the same id is another row and never blocks or takes this one.
const AUTHORIZATION_KEY: &str = "snaptrade_brokerage_connections_user_id_authorization_id_key";

/// One statement per batch; identical rows are not rewritten.
const UPSERT: &str = "
insert into public.snaptrade_brokerage_connections as c
  (user_id, authorization_id, brokerage_slug, brokerage_name, connection_type, status, disabled_date,
   error_message, accounts_count, last_synced_at)
select $1::uuid, * from unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
                         $8::text[], $9::int[], $10::timestamptz[])
on conflict (user_id, authorization_id) do update set
  brokerage_slug = excluded.brokerage_slug, brokerage_name = excluded.brokerage_name,
  connection_type = excluded.connection_type, status = excluded.status, disabled_date = excluded.disabled_date,
  error_message = excluded.error_message, accounts_count = excluded.accounts_count,
  last_synced_at = excluded.last_synced_at
where (c.brokerage_slug, c.brokerage_name, c.connection_type, c.status, c.disabled_date, c.error_message,
       c.accounts_count, c.last_synced_at)
  is distinct from
      (excluded.brokerage_slug, excluded.brokerage_name, excluded.connection_type, excluded.status,
       excluded.disabled_date, excluded.error_message, excluded.accounts_count, excluded.last_synced_at)";

const SELECT_BATCH: &str = "
select c.id, c.user_id, c.authorization_id, c.brokerage_slug, c.brokerage_name, c.connection_type, c.status,
       c.disabled_date, c.error_message, c.accounts_count, c.last_synced_at, c.created_at, c.updated_at
from unnest($2::uuid[]) with ordinality as k(authorization_id, position)
join public.snaptrade_brokerage_connections c on c.user_id = $1 and c.authorization_id = k.authorization_id
order by k.position";

const SELECT_ONE: &str = "
select c.id, c.user_id, c.authorization_id, c.brokerage_slug, c.brokerage_name, c.connection_type, c.status,
       c.disabled_date, c.error_message, c.accounts_count, c.last_synced_at, c.created_at, c.updated_at
from public.snaptrade_brokerage_connections c where c.user_id = $1 and c.authorization_id = $2";

const SELECT_ALL: &str = "
select c.id, c.user_id, c.authorization_id, c.brokerage_slug, c.brokerage_name, c.connection_type, c.status,
       c.disabled_date, c.error_message, c.accounts_count, c.last_synced_at, c.created_at, c.updated_at
from public.snaptrade_brokerage_connections c where c.user_id = $1 order by c.authorization_id";

/// `$3` is the new status; the disabled date is set, kept or cleared by the status (see
/// [`ConnectionStatusChange`]); identical values are not rewritten.
const SET_STATUS: &str = "
update public.snaptrade_brokerage_connections c
set status = $3, disabled_date = $4, error_message = $5
where c.user_id = $1 and c.authorization_id = $2
  and (c.status, c.disabled_date, c.error_message) is distinct from ($3, $4, $5)";

/// The connection's health on its accounts (`user_investment_accounts` naming the authorization), so an account
/// shows, and the router reads, the state of the connection it trades through.
const MIRROR_ON_ACCOUNTS: &str = "
update public.user_investment_accounts set connection_status = $3
where user_id = $1 and snaptrade_authorization_id = $2 and connection_status is distinct from $3";

/// Scoped by user: another user's row with the same authorization id is never deleted.
const DELETE: &str = "
delete from public.snaptrade_brokerage_connections c where c.user_id = $1 and c.authorization_id = $2
returning c.id, c.user_id, c.authorization_id, c.brokerage_slug, c.brokerage_name, c.connection_type, c.status,
          c.disabled_date, c.error_message, c.accounts_count, c.last_synced_at, c.created_at, c.updated_at";

#[async_trait]
impl ConnectionRepository for PgStore {
    async fn upsert_connections(
        &self,
        user: UserId,
        connections: &[NewBrokerageConnection],
    ) -> Result<Vec<BrokerageConnection>, RepoError> {
        check_connections(user, connections)?;
        let authorizations: Vec<_> = connections
            .iter()
            .map(|c| c.authorization_id.into_uuid())
            .collect();
        let mut tx = self.begin(user).await?;
        sqlx::query(UPSERT)
            .bind(user.into_uuid())
            .bind(&authorizations)
            .bind(
                connections
                    .iter()
                    .map(|c| c.brokerage_slug.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                connections
                    .iter()
                    .map(|c| c.brokerage_name.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                connections
                    .iter()
                    .map(|c| c.connection_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                connections
                    .iter()
                    .map(|c| c.status.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                connections
                    .iter()
                    .map(|c| c.disabled_date)
                    .collect::<Vec<_>>(),
            )
            .bind(
                connections
                    .iter()
                    .map(|c| c.error_message.as_ref().map(|m| m.as_str()))
                    .collect::<Vec<_>>(),
            )
            .bind(
                connections
                    .iter()
                    .map(|c| i32::from(c.accounts_count))
                    .collect::<Vec<_>>(),
            )
            .bind(
                connections
                    .iter()
                    .map(|c| c.last_synced_at)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let rows = sqlx::query(SELECT_BATCH)
            .bind(user.into_uuid())
            .bind(&authorizations)
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        // Every row of the batch is read back under its key; fewer rows than sent (a row removed or kept out by
        // something else in the database) is a conflict on the key, and dropping the transaction undoes the batch.
        if rows.len() != connections.len() {
            return Err(RepoError::Conflict {
                constraint: AUTHORIZATION_KEY.to_owned(),
            });
        }
        let stored = rows
            .iter()
            .map(read_connection)
            .collect::<Result<Vec<_>, _>>()?;
        commit(tx).await?;
        Ok(stored)
    }

    async fn get_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        let query = sqlx::query(SELECT_ONE)
            .bind(user.into_uuid())
            .bind(authorization.into_uuid());
        self.read_row(user, query, read_connection, "connection")
            .await
    }

    async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError> {
        let query = sqlx::query(SELECT_ALL).bind(user.into_uuid());
        self.read_rows(user, query, read_connection).await
    }

    async fn set_connection_status(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<BrokerageConnection, RepoError> {
        let mut tx = self.begin(user).await?;
        let current = fetch_one(&mut tx, user, authorization).await?;
        let (status, disabled_date, message) = change.apply_to(&current);
        sqlx::query(SET_STATUS)
            .bind(user.into_uuid())
            .bind(authorization.into_uuid())
            .bind(status.as_str())
            .bind(disabled_date)
            .bind(message.as_ref().map(|m| m.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let connection = fetch_one(&mut tx, user, authorization).await?;
        sqlx::query(MIRROR_ON_ACCOUNTS)
            .bind(user.into_uuid())
            .bind(authorization.into_uuid())
            .bind(connection.status.as_str())
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        commit(tx).await?;
        Ok(connection)
    }

    async fn delete_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError> {
        let mut tx = self.begin(user).await?;
        let row = sqlx::query(DELETE)
            .bind(user.into_uuid())
            .bind(authorization.into_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        let deleted = row.as_ref().map(read_connection).transpose()?;
        // Committed even when nothing matched: a miss is an answer, not a failed write of a unit.
        commit(tx).await?;
        deleted.ok_or(RepoError::NotFound {
            entity: "connection",
        })
    }
}

async fn fetch_one(
    tx: &mut sqlx::PgConnection,
    user: UserId,
    authorization: AuthorizationId,
) -> Result<BrokerageConnection, RepoError> {
    let row = sqlx::query(SELECT_ONE)
        .bind(user.into_uuid())
        .bind(authorization.into_uuid())
        .fetch_optional(tx)
        .await
        .map_err(classify)?
        .ok_or(RepoError::NotFound {
            entity: "connection",
        })?;
    read_connection(&row)
}

fn read_connection(row: &PgRow) -> Result<BrokerageConnection, RepoError> {
    let c = Columns(row);
    let accounts_count = c.get::<Option<i32>>("accounts_count")?.unwrap_or(0);
    Ok(BrokerageConnection {
        id: c.id("id")?,
        user_id: c.id("user_id")?,
        authorization_id: c.id("authorization_id")?,
        brokerage_slug: c.parse("brokerage_slug", BrokerageSlug::parse)?,
        brokerage_name: c.parse("brokerage_name", BrokerageName::parse)?,
        connection_type: c.parse("connection_type", ConnectionType::parse)?,
        status: c.parse("status", ConnectionStatus::parse)?,
        disabled_date: c.get("disabled_date")?,
        error_message: c
            .get::<Option<String>>("error_message")?
            .and_then(|text| StatusMessage::from_optional(Some(&text))),
        accounts_count: u16::try_from(accounts_count).map_err(|_| {
            RepoError::invalid(
                "accounts_count",
                format!("{accounts_count} is out of range"),
            )
        })?,
        last_synced_at: c.get("last_synced_at")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}
