//! The portfolio's value history on PostgreSQL.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use tributary_domain::{
    AccountId, Amount, Currency, NewValuePoint, SignedAmount, UserId, ValuePoint,
};

use super::row::Columns;
use super::{PgStore, commit};
use crate::error::classify;
use crate::history::{check_value_points, check_value_range};
use crate::{RepoError, ValueHistoryRepository};

const OWNED_ACCOUNTS: &str = "
select count(*) from public.user_investment_accounts where user_id = $1 and id = any($2::uuid[])";

/// One statement per batch; a point identical to its row is not rewritten. The key (`nulls not distinct`, so the
/// total's NULL account is one row a day and currency) includes the user, so the conflicting row is the user's.
const UPSERT: &str = "
insert into public.portfolio_value_history as p
  (user_id, account_id, day, currency, market_value, cost_basis, cash, net_contributions)
select $1::uuid, unnest($2::uuid[]), unnest($3::date[]), unnest($4::text[]), unnest($5::numeric[]),
       unnest($6::numeric[]), unnest($7::numeric[]), unnest($8::numeric[])
on conflict (user_id, account_id, day, currency) do update set
  market_value = excluded.market_value, cost_basis = excluded.cost_basis, cash = excluded.cash,
  net_contributions = excluded.net_contributions
where (p.market_value, p.cost_basis, p.cash, p.net_contributions)
  is distinct from (excluded.market_value, excluded.cost_basis, excluded.cash, excluded.net_contributions)";

const SELECT: &str = "
select user_id, account_id, day, currency, market_value, cost_basis, cash, net_contributions, updated_at
from public.portfolio_value_history
where user_id = $1 and day between $2 and $3
order by day, account_id nulls first, currency collate \"C\"";

#[async_trait]
impl ValueHistoryRepository for PgStore {
    async fn upsert_value_points(
        &self,
        user: UserId,
        points: &[NewValuePoint],
    ) -> Result<usize, RepoError> {
        check_value_points(user, points)?;
        let accounts: HashSet<_> = points
            .iter()
            .filter_map(|p| p.account_id.map(AccountId::into_uuid))
            .collect();
        let accounts: Vec<_> = accounts.into_iter().collect();
        let mut tx = self.begin(user).await?;
        let owned: i64 = sqlx::query_scalar(OWNED_ACCOUNTS)
            .bind(user.into_uuid())
            .bind(&accounts)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        if usize::try_from(owned).ok() != Some(accounts.len()) {
            return Err(RepoError::NotFound { entity: "account" });
        }
        if points.is_empty() {
            commit(tx).await?;
            return Ok(0);
        }
        let decimal =
            |f: fn(&NewValuePoint) -> Option<Decimal>| points.iter().map(f).collect::<Vec<_>>();
        let written = sqlx::query(UPSERT)
            .bind(user.into_uuid())
            .bind(
                points
                    .iter()
                    .map(|p| p.account_id.map(AccountId::into_uuid))
                    .collect::<Vec<_>>(),
            )
            .bind(points.iter().map(|p| p.day).collect::<Vec<_>>())
            .bind(
                points
                    .iter()
                    .map(|p| p.currency.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(decimal(|p| Some(p.market_value.get())))
            .bind(decimal(|p| p.cost_basis.map(Amount::get)))
            .bind(decimal(|p| p.cash.map(SignedAmount::get)))
            .bind(decimal(|p| p.net_contributions.map(SignedAmount::get)))
            .execute(&mut *tx)
            .await
            .map_err(classify)?
            .rows_affected();
        commit(tx).await?;
        Ok(usize::try_from(written).unwrap_or(usize::MAX))
    }

    async fn value_history(
        &self,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ValuePoint>, RepoError> {
        check_value_range(from, to)?;
        let query = sqlx::query(SELECT)
            .bind(user.into_uuid())
            .bind(from)
            .bind(to);
        self.read_rows(user, query, read_point).await
    }
}

fn read_point(row: &PgRow) -> Result<ValuePoint, RepoError> {
    let c = Columns(row);
    Ok(ValuePoint {
        point: NewValuePoint {
            user_id: c.id("user_id")?,
            account_id: c.opt_id("account_id")?,
            day: c.get("day")?,
            currency: c.parse("currency", Currency::parse)?,
            market_value: c
                .opt_decimal("market_value", SignedAmount::exact_for)?
                .ok_or_else(|| RepoError::invalid("market_value", "is NULL"))?,
            cost_basis: c.opt_decimal("cost_basis", Amount::exact_for)?,
            cash: c.opt_decimal("cash", SignedAmount::exact_for)?,
            net_contributions: c.opt_decimal("net_contributions", SignedAmount::exact_for)?,
        },
        recorded_at: c.get("updated_at")?,
    })
}
