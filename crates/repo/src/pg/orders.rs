//! Orders on PostgreSQL.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tributary_domain::{
    AccountId, BrokerageOrderId, ClientOrderId, NewOrder, Notional, Order, OrderAction, OrderId,
    OrderStatus, OrderType, Price, StatusMessage, Symbol, TimeInForce, Units, UserId,
};

use super::row::Columns;
use super::{PgQuery, PgStore, commit};
use crate::batch::check_orders;
use crate::error::classify;
use crate::{OrderRepository, RepoError};

const OWNED_ACCOUNTS: &str = "
select count(*) from public.user_investment_accounts where user_id = $1 and id = any($2::uuid[])";

/// The key an order is stored under: the brokerage's order id, scoped by user and account (migration 0013).
const ORDER_KEY: &str = "snaptrade_orders_user_id_account_id_brokerage_order_id_key";

/// One statement per batch; identical rows are not rewritten. The key includes the user, so the conflicting row
/// is always the user's own.
const UPSERT: &str = "
insert into public.snaptrade_orders as o
  (user_id, account_id, brokerage_order_id, symbol, universal_symbol_id, action, order_type, time_in_force, units,
   notional_value, limit_price, stop_price, filled_units, average_fill_price, status, status_message, placed_at,
   filled_at, cancelled_at, raw_order_data, client_order_id)
select $1::uuid, * from unnest($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[],
                         $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[],
                         $14::numeric[], $15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[],
                         $19::timestamptz[], $20::jsonb[], $21::text[])
on conflict (user_id, account_id, brokerage_order_id) do update set
  symbol = excluded.symbol, universal_symbol_id = excluded.universal_symbol_id, action = excluded.action,
  order_type = excluded.order_type, time_in_force = excluded.time_in_force, units = excluded.units,
  notional_value = excluded.notional_value, limit_price = excluded.limit_price, stop_price = excluded.stop_price,
  filled_units = excluded.filled_units, average_fill_price = excluded.average_fill_price,
  status = excluded.status, status_message = excluded.status_message, placed_at = excluded.placed_at,
  filled_at = excluded.filled_at, cancelled_at = excluded.cancelled_at, raw_order_data = excluded.raw_order_data,
  client_order_id = coalesce(excluded.client_order_id, o.client_order_id)
where (o.symbol, o.universal_symbol_id, o.action, o.order_type, o.time_in_force, o.units, o.notional_value,
       o.limit_price, o.stop_price, o.filled_units, o.average_fill_price, o.status, o.status_message,
       o.placed_at, o.filled_at, o.cancelled_at, o.raw_order_data, o.client_order_id)
  is distinct from
      (excluded.symbol, excluded.universal_symbol_id, excluded.action, excluded.order_type,
       excluded.time_in_force, excluded.units, excluded.notional_value, excluded.limit_price,
       excluded.stop_price, excluded.filled_units, excluded.average_fill_price, excluded.status,
       excluded.status_message, excluded.placed_at, excluded.filled_at, excluded.cancelled_at,
       excluded.raw_order_data, coalesce(excluded.client_order_id, o.client_order_id))";

const SELECT_BATCH: &str = "
select o.id, o.user_id, o.account_id, o.brokerage_order_id, o.symbol, o.universal_symbol_id, o.action,
       o.order_type, o.time_in_force, o.units, o.notional_value, o.limit_price, o.stop_price, o.filled_units,
       o.average_fill_price, o.status, o.status_message, o.placed_at, o.filled_at, o.cancelled_at, o.updated_at,
       o.raw_order_data, o.client_order_id
from unnest($2::text[], $3::uuid[]) with ordinality as k(brokerage_order_id, account_id, position)
join public.snaptrade_orders o
  on o.user_id = $1 and o.brokerage_order_id = k.brokerage_order_id and o.account_id = k.account_id
order by k.position";

/// The order columns [`read_order`] reads, from `snaptrade_orders o`, and the order they are listed in.
macro_rules! select_orders {
    ($where:literal) => {
        concat!(
            "
select o.id, o.user_id, o.account_id, o.brokerage_order_id, o.symbol, o.universal_symbol_id, o.action,
       o.order_type, o.time_in_force, o.units, o.notional_value, o.limit_price, o.stop_price, o.filled_units,
       o.average_fill_price, o.status, o.status_message, o.placed_at, o.filled_at, o.cancelled_at, o.updated_at,
       o.raw_order_data, o.client_order_id
from public.snaptrade_orders o
where o.user_id = $1",
            $where,
            "
order by o.placed_at desc, o.brokerage_order_id collate \"C\", o.account_id"
        )
    };
}

// One statement per shape, each condition an index bound: sqlx prepares statements and PostgreSQL may keep a
// generic plan after five runs, which cannot use `($2 is null or o.id = $2)` as one and reads every order of the
// user instead (see the transactions' SELECT_IN_ACCOUNT).
const SELECT_ALL: &str = select_orders!("");
const SELECT_ONE: &str = select_orders!(" and o.id = $2");
const SELECT_IN_ACCOUNT: &str = select_orders!(" and o.account_id = $2");
const SELECT_BY_CLIENT_ORDER_ID: &str = select_orders!(" and o.client_order_id = $2");

/// The recorded order, locked until the confirmation commits; its account.
const LOCK_ORDER: &str =
    "select account_id from public.snaptrade_orders where user_id = $1 and id = $2 for update";

/// Another row already holding the provider's id in the recorded order's account.
const EXISTING: &str = "
select id from public.snaptrade_orders
where user_id = $1 and account_id = $2 and brokerage_order_id = $3 and id <> $4";

const REMOVE: &str = "delete from public.snaptrade_orders where user_id = $1 and id = $2";

/// Gives the recorded order the provider's id (unchanged when it already has it).
const REKEY: &str = "
update public.snaptrade_orders set brokerage_order_id = $3
where user_id = $1 and id = $2 and brokerage_order_id is distinct from $3";

const SET_STATUS: &str = "
update public.snaptrade_orders o set status = $3, status_message = $4
where o.user_id = $1 and o.id = $2 and (o.status, o.status_message) is distinct from ($3, $4)";

#[async_trait]
impl OrderRepository for PgStore {
    async fn upsert_orders(
        &self,
        user: UserId,
        orders: &[NewOrder],
    ) -> Result<Vec<Order>, RepoError> {
        check_orders(user, orders)?;
        let mut tx = self.begin(user).await?;
        ensure_accounts_owned(&mut tx, user, orders).await?;
        let stored = write_orders(&mut tx, user, orders).await?;
        commit(tx).await?;
        Ok(stored)
    }

    async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError> {
        let query = select_one(user, order);
        self.read_row(user, query, read_order, "order").await
    }

    async fn list_orders(
        &self,
        user: UserId,
        account: Option<AccountId>,
    ) -> Result<Vec<Order>, RepoError> {
        let query = select_listed(user, account);
        self.read_rows(user, query, read_order).await
    }

    async fn find_order_by_client_order_id(
        &self,
        user: UserId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, RepoError> {
        let query = select_by_client_order_id(user, client_order_id);
        Ok(self
            .read_rows(user, query, read_order)
            .await?
            .into_iter()
            .next())
    }

    async fn confirm_order(
        &self,
        user: UserId,
        order: OrderId,
        placed: &NewOrder,
    ) -> Result<Order, RepoError> {
        check_orders(user, std::slice::from_ref(placed))?;
        let mut tx = self.begin(user).await?;
        let account: Option<uuid::Uuid> = sqlx::query_scalar(LOCK_ORDER)
            .bind(user.into_uuid())
            .bind(order.into_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        let account = account.ok_or(RepoError::NotFound { entity: "order" })?;
        if account != placed.account_id.into_uuid() {
            return Err(RepoError::invalid(
                "account_id",
                "the provider's order names another account than the recorded one",
            ));
        }
        let existing: Option<uuid::Uuid> = sqlx::query_scalar(EXISTING)
            .bind(user.into_uuid())
            .bind(account)
            .bind(placed.brokerage_order_id.as_str())
            .bind(order.into_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        // The provider's order stored already (a retry of a confirmed order) is the order: the recorded row
        // folds into it. Otherwise the recorded row takes the provider's id.
        let statement = match existing {
            Some(_) => sqlx::query(REMOVE)
                .bind(user.into_uuid())
                .bind(order.into_uuid()),
            None => sqlx::query(REKEY)
                .bind(user.into_uuid())
                .bind(order.into_uuid())
                .bind(placed.brokerage_order_id.as_str()),
        };
        statement.execute(&mut *tx).await.map_err(classify)?;
        let confirmed = write_orders(&mut tx, user, std::slice::from_ref(placed))
            .await?
            .pop()
            .ok_or_else(|| RepoError::Conflict {
                constraint: ORDER_KEY.to_owned(),
            })?;
        commit(tx).await?;
        Ok(confirmed)
    }

    async fn update_order_status(
        &self,
        user: UserId,
        order: OrderId,
        status: OrderStatus,
        message: Option<StatusMessage>,
    ) -> Result<Order, RepoError> {
        let mut tx = self.begin(user).await?;
        sqlx::query(SET_STATUS)
            .bind(user.into_uuid())
            .bind(order.into_uuid())
            .bind(status.as_str())
            .bind(message.as_ref().map(StatusMessage::as_str))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let rows = select_one(user, order)
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        let updated = rows.first().map(read_order).transpose()?;
        commit(tx).await?;
        updated.ok_or(RepoError::NotFound { entity: "order" })
    }
}

/// Upserts the batch in one statement and reads it back as stored, in the order given (the caller has checked
/// the batch and its accounts). Fewer rows read back than sent (a row kept out or removed by something else in
/// the database) is [`RepoError::Conflict`] on the order key; the caller's transaction is then dropped, undoing
/// the batch.
async fn write_orders(
    conn: &mut PgConnection,
    user: UserId,
    orders: &[NewOrder],
) -> Result<Vec<Order>, RepoError> {
    let order_ids: Vec<&str> = orders
        .iter()
        .map(|o| o.brokerage_order_id.as_str())
        .collect();
    let account_ids: Vec<_> = orders.iter().map(|o| o.account_id.into_uuid()).collect();
    let decimal = |f: fn(&NewOrder) -> Option<rust_decimal::Decimal>| {
        orders.iter().map(f).collect::<Vec<_>>()
    };
    sqlx::query(UPSERT)
        .bind(user.into_uuid())
        .bind(&account_ids)
        .bind(&order_ids)
        .bind(orders.iter().map(|o| o.symbol.as_str()).collect::<Vec<_>>())
        .bind(
            orders
                .iter()
                .map(|o| o.universal_symbol_id.map(|id| id.into_uuid()))
                .collect::<Vec<_>>(),
        )
        .bind(orders.iter().map(|o| o.action.as_str()).collect::<Vec<_>>())
        .bind(
            orders
                .iter()
                .map(|o| o.order_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            orders
                .iter()
                .map(|o| o.time_in_force.as_ref().map(|t| t.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(decimal(|o| o.units.map(Units::get)))
        .bind(decimal(|o| o.notional_value.map(Notional::get)))
        .bind(decimal(|o| o.limit_price.map(Price::get)))
        .bind(decimal(|o| o.stop_price.map(Price::get)))
        .bind(decimal(|o| o.filled_units.map(Units::get)))
        .bind(decimal(|o| o.average_fill_price.map(Price::get)))
        .bind(orders.iter().map(|o| o.status.as_str()).collect::<Vec<_>>())
        .bind(
            orders
                .iter()
                .map(|o| o.status_message.as_ref().map(|m| m.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(orders.iter().map(|o| o.placed_at).collect::<Vec<_>>())
        .bind(orders.iter().map(|o| o.filled_at).collect::<Vec<_>>())
        .bind(orders.iter().map(|o| o.cancelled_at).collect::<Vec<_>>())
        .bind(
            orders
                .iter()
                .map(|o| o.raw_order_data.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            orders
                .iter()
                .map(|o| o.client_order_id.as_ref().map(ClientOrderId::as_str))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(classify)?;
    let rows = sqlx::query(SELECT_BATCH)
        .bind(user.into_uuid())
        .bind(&order_ids)
        .bind(&account_ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(classify)?;
    if rows.len() != orders.len() {
        return Err(RepoError::Conflict {
            constraint: ORDER_KEY.to_owned(),
        });
    }
    rows.iter().map(read_order).collect()
}

/// Every account the batch names must be the user's. The foreign key on (account_id, user_id) refuses another
/// user's account too; asking first answers [`RepoError::NotFound`] for it, as for a missing one.
async fn ensure_accounts_owned(
    conn: &mut PgConnection,
    user: UserId,
    orders: &[NewOrder],
) -> Result<(), RepoError> {
    let accounts: HashSet<_> = orders.iter().map(|o| o.account_id.into_uuid()).collect();
    let accounts: Vec<_> = accounts.into_iter().collect();
    let owned: i64 = sqlx::query_scalar(OWNED_ACCOUNTS)
        .bind(user.into_uuid())
        .bind(&accounts)
        .fetch_one(conn)
        .await
        .map_err(classify)?;
    if usize::try_from(owned).ok() != Some(accounts.len()) {
        return Err(RepoError::NotFound { entity: "account" });
    }
    Ok(())
}

/// The user's order `order`.
fn select_one(user: UserId, order: OrderId) -> PgQuery<'static> {
    sqlx::query(SELECT_ONE)
        .bind(user.into_uuid())
        .bind(order.into_uuid())
}

/// The user's orders: all of them, or one account's.
fn select_listed(user: UserId, account: Option<AccountId>) -> PgQuery<'static> {
    match account {
        Some(account) => sqlx::query(SELECT_IN_ACCOUNT)
            .bind(user.into_uuid())
            .bind(account.into_uuid()),
        None => sqlx::query(SELECT_ALL).bind(user.into_uuid()),
    }
}

/// The user's order placed with `client_order_id`.
fn select_by_client_order_id(user: UserId, client_order_id: &ClientOrderId) -> PgQuery<'static> {
    sqlx::query(SELECT_BY_CLIENT_ORDER_ID)
        .bind(user.into_uuid())
        .bind(client_order_id.as_str().to_owned())
}

fn read_order(row: &PgRow) -> Result<Order, RepoError> {
    let c = Columns(row);
    Ok(Order {
        id: c.id("id")?,
        user_id: c.id("user_id")?,
        account_id: c.id("account_id")?,
        brokerage_order_id: c.parse("brokerage_order_id", BrokerageOrderId::parse)?,
        symbol: c.parse("symbol", Symbol::parse)?,
        universal_symbol_id: c.opt_id("universal_symbol_id")?,
        action: c.parse("action", OrderAction::parse)?,
        order_type: c.parse("order_type", OrderType::parse)?,
        time_in_force: c.parse_opt("time_in_force", TimeInForce::parse)?,
        units: c.opt_decimal("units", Units::new_for)?,
        notional_value: c.opt_decimal("notional_value", Notional::new_for)?,
        limit_price: c.opt_decimal("limit_price", Price::new_for)?,
        stop_price: c.opt_decimal("stop_price", Price::new_for)?,
        filled_units: c.opt_decimal("filled_units", Units::new_for)?,
        average_fill_price: c.opt_decimal("average_fill_price", Price::new_for)?,
        status: c.parse("status", OrderStatus::parse)?,
        status_message: c
            .get::<Option<String>>("status_message")?
            .and_then(|text| StatusMessage::from_optional(Some(&text))),
        placed_at: c.get("placed_at")?,
        filled_at: c.get("filled_at")?,
        cancelled_at: c.get("cancelled_at")?,
        updated_at: c.get("updated_at")?,
        raw_order_data: c.get("raw_order_data")?,
        client_order_id: c.parse_opt("client_order_id", ClientOrderId::parse)?,
    })
}
