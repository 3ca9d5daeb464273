//! Removals on PostgreSQL: an Item, or every row of a user, each in one transaction (the lock's unit of writes
//! when the store is bound to the user's lock).

use async_trait::async_trait;
use tributary_domain::{ProviderItemId, UserId};

use super::{PgStore, commit};
use crate::error::classify;
use crate::{RemovalRepository, RepoError, UserRowsDeleted};

const DELETE_ITEM: &str = "delete from public.plaid_items where user_id = $1 and item_id = $2";

/// Orders first: `snaptrade_orders.account_id` cascades from the accounts, so they are deleted (and counted) by
/// their own statement before the accounts go. The onboarding row says whether it held an Alpaca account link.
const DELETE_ORDERS: &str = "delete from public.snaptrade_orders where user_id = $1";
/// The history goes explicitly too: the accounts' cascade would take the transactions and per-account values, but
/// not the user's totals, which reference the user alone.
const DELETE_TRANSACTIONS: &str = "delete from public.investment_transactions where user_id = $1";
const DELETE_TRANSACTION_SYNC: &str =
    "delete from public.investment_transaction_sync where user_id = $1";
const DELETE_VALUE_POINTS: &str = "delete from public.portfolio_value_history where user_id = $1";
const DELETE_HOLDINGS: &str = "delete from public.user_aggregated_holdings where user_id = $1";
const DELETE_ACCOUNTS: &str = "delete from public.user_investment_accounts where user_id = $1";
const DELETE_CONNECTIONS: &str =
    "delete from public.snaptrade_brokerage_connections where user_id = $1";
const DELETE_ITEMS: &str = "delete from public.plaid_items where user_id = $1";
const DELETE_SNAPTRADE_USER: &str = "delete from public.snaptrade_users where user_id = $1";
const DELETE_ONBOARDING: &str = "
with gone as (delete from public.user_onboarding where user_id = $1 returning alpaca_account_id)
select count(*) filter (where alpaca_account_id is not null) from gone";

#[async_trait]
impl RemovalRepository for PgStore {
    async fn delete_plaid_item(
        &self,
        user: UserId,
        item: &ProviderItemId,
    ) -> Result<(), RepoError> {
        self.service_only_removal()?;
        let mut tx = self.begin(user).await?;
        let deleted = sqlx::query(DELETE_ITEM)
            .bind(user.into_uuid())
            .bind(item.as_str())
            .execute(&mut *tx)
            .await
            .map_err(classify)?
            .rows_affected();
        commit(tx).await?;
        if deleted == 0 {
            return Err(RepoError::NotFound {
                entity: "plaid item",
            });
        }
        Ok(())
    }

    async fn delete_user_rows(&self, user: UserId) -> Result<UserRowsDeleted, RepoError> {
        self.service_only_removal()?;
        let mut tx = self.begin(user).await?;
        let user_id = user.into_uuid();
        let orders = deleted(
            sqlx::query(DELETE_ORDERS)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let transactions = deleted(
            sqlx::query(DELETE_TRANSACTIONS)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        deleted(
            sqlx::query(DELETE_TRANSACTION_SYNC)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let value_points = deleted(
            sqlx::query(DELETE_VALUE_POINTS)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let holdings = deleted(
            sqlx::query(DELETE_HOLDINGS)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let accounts = deleted(
            sqlx::query(DELETE_ACCOUNTS)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let connections = deleted(
            sqlx::query(DELETE_CONNECTIONS)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let plaid_items = deleted(
            sqlx::query(DELETE_ITEMS)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let snaptrade_users = deleted(
            sqlx::query(DELETE_SNAPTRADE_USER)
                .bind(user_id)
                .execute(&mut *tx)
                .await,
        )?;
        let linked: i64 = sqlx::query_scalar(DELETE_ONBOARDING)
            .bind(user.into_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        commit(tx).await?;
        Ok(UserRowsDeleted {
            accounts,
            orders,
            holdings,
            connections,
            plaid_items,
            transactions,
            value_points,
            snaptrade_user: snaptrade_users > 0,
            alpaca_account_link: linked > 0,
        })
    }
}

/// How many rows a delete took.
fn deleted(done: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> Result<usize, RepoError> {
    let rows = done.map_err(classify)?.rows_affected();
    Ok(usize::try_from(rows).unwrap_or(usize::MAX))
}

impl PgStore {
    /// Removals are backend operations: a user-scoped store refuses them before any SQL runs (the database would
    /// too: the API roles hold no delete privilege on these tables).
    fn service_only_removal(&self) -> Result<(), RepoError> {
        match self.acting_as() {
            Some(user) => Err(RepoError::forbidden(format!(
                "removing rows is a service operation; a store scoped to user {user} cannot run it"
            ))),
            None => Ok(()),
        }
    }
}
