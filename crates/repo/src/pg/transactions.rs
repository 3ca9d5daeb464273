//! Investment transactions and their sync position on PostgreSQL.

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use tributary_domain::{
    AccountId, Currency, InvestmentTransaction, NewInvestmentTransaction, Provider,
    ProviderTransactionId, RawRecord, SecurityId, SignedAmount, Symbol, TransactionDescription,
    TransactionId, TransactionSubtype, TransactionType, UserId,
};

use super::row::Columns;
use super::{PgStore, commit};
use crate::error::classify;
use crate::history::check_transactions;
use crate::{RepoError, TransactionQuery, TransactionRepository, TransactionsWritten};

/// The account's provider, if the account is the user's.
const ACCOUNT_PROVIDER: &str =
    "select provider from public.user_investment_accounts where user_id = $1 and id = $2";

/// A transaction's data columns as a row value, for comparing the stored row (`t`) with the proposed one.
#[rustfmt::skip]
macro_rules! data_of {
    ($t:literal) => {
        concat!(
            "(", $t, ".trade_date, ", $t, ".settlement_date, ", $t, ".transaction_type, ", $t, ".subtype, ",
            $t, ".symbol, ", $t, ".security_id, ", $t, ".quantity, ", $t, ".price, ", $t, ".amount, ",
            $t, ".fees, ", $t, ".currency, ", $t, ".description, ", $t, ".raw_provider_data)"
        )
    };
}

/// One statement per batch of one account ($1 user, $2 account, $3 provider; the rest one array per column,
/// read in step in the select list as holdings' are).
///
/// `matched` looks each row up by its key once: a row identical to the stored one goes no further, so an
/// unchanged re-sync neither rewrites nor locks anything (ON CONFLICT … WHERE would skip it too, but only after
/// locking it, which writes the tuple and WAL). A revision naming another currency than the stored row's is
/// refused by the table's trigger (migration 0024), which aborts the statement: nothing of the batch is written.
/// Rows inserted are told from rows updated by `xmax`, which is 0 on a tuple a transaction has only inserted.
const UPSERT: &str = concat!(
    "with incoming as (
  select unnest($4::uuid[]) as id, unnest($5::text[]) as provider_transaction_id,
         unnest($6::date[]) as trade_date, unnest($7::date[]) as settlement_date,
         unnest($8::text[]) as transaction_type, unnest($9::text[]) as subtype, unnest($10::text[]) as symbol,
         unnest($11::text[]) as security_id, unnest($12::numeric[]) as quantity, unnest($13::numeric[]) as price,
         unnest($14::numeric[]) as amount, unnest($15::numeric[]) as fees, unnest($16::text[]) as currency,
         unnest($17::text[]) as description, unnest($18::jsonb[]) as raw_provider_data
), matched as (
  select k.*, ",
    data_of!("t"),
    " is not distinct from ",
    data_of!("k"),
    " as unchanged
  from incoming k
  left join public.investment_transactions t
    on t.user_id = $1 and t.account_id = $2 and t.provider_transaction_id = k.provider_transaction_id
), written as (
  insert into public.investment_transactions as t
    (id, user_id, account_id, provider, provider_transaction_id, trade_date, settlement_date, transaction_type,
     subtype, symbol, security_id, quantity, price, amount, fees, currency, description, raw_provider_data)
  select id, $1::uuid, $2::uuid, $3::text, provider_transaction_id, trade_date, settlement_date, transaction_type,
         subtype, symbol, security_id, quantity, price, amount, fees, currency, description, raw_provider_data
  from matched
  where unchanged is not true
  on conflict (user_id, account_id, provider_transaction_id) do update set
    trade_date = excluded.trade_date, settlement_date = excluded.settlement_date,
    transaction_type = excluded.transaction_type, subtype = excluded.subtype, symbol = excluded.symbol,
    security_id = excluded.security_id, quantity = excluded.quantity, price = excluded.price,
    amount = excluded.amount, fees = excluded.fees, currency = excluded.currency,
    description = excluded.description, raw_provider_data = excluded.raw_provider_data
  where ",
    data_of!("t"),
    " is distinct from ",
    data_of!("excluded"),
    "
  returning (t.xmax = 0) as inserted
)
select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated
from written"
);

const REMOVE: &str = "
delete from public.investment_transactions
where user_id = $1 and account_id = $2 and provider_transaction_id = any($3::text[])";

const SELECT: &str = "
select id, user_id, account_id, provider, provider_transaction_id, trade_date, settlement_date, transaction_type,
       subtype, symbol, security_id, quantity, price, amount, fees, currency, description, raw_provider_data,
       created_at, updated_at
from public.investment_transactions
where user_id = $1 and ($2::uuid is null or account_id = $2) and ($3::date is null or trade_date >= $3)
  and ($4::date is null or trade_date <= $4)
order by trade_date desc, account_id, provider_transaction_id collate \"C\"
limit $5";

/// The account (if the user's) and how far its transactions were synced.
const SYNCED_THROUGH: &str = "
select s.synced_through
from public.user_investment_accounts a
left join public.investment_transaction_sync s on s.user_id = a.user_id and s.account_id = a.id
where a.user_id = $1 and a.id = $2";

/// Moves the position forward only; no row returned when it stays.
const ADVANCE: &str = "
insert into public.investment_transaction_sync as s (user_id, account_id, synced_through)
values ($1, $2, $3)
on conflict (user_id, account_id) do update set synced_through = excluded.synced_through
where s.synced_through < excluded.synced_through
returning 1";

#[async_trait]
impl TransactionRepository for PgStore {
    async fn upsert_transactions(
        &self,
        user: UserId,
        account: AccountId,
        transactions: &[NewInvestmentTransaction],
    ) -> Result<TransactionsWritten, RepoError> {
        check_transactions(user, account, transactions)?;
        let mut tx = self.begin(user).await?;
        let provider = account_provider(&mut tx, user, account).await?;
        if let Some(other) = transactions.iter().find(|t| t.provider != provider) {
            return Err(RepoError::invalid(
                "provider",
                format!("a {} transaction for a {provider} account", other.provider),
            ));
        }
        if transactions.is_empty() {
            commit(tx).await?;
            return Ok(TransactionsWritten::default());
        }
        let written = upsert(&mut tx, user, account, provider, transactions).await?;
        commit(tx).await?;
        Ok(written)
    }

    async fn remove_transactions(
        &self,
        user: UserId,
        account: AccountId,
        provider_transaction_ids: &[ProviderTransactionId],
    ) -> Result<usize, RepoError> {
        let mut tx = self.begin(user).await?;
        account_provider(&mut tx, user, account).await?;
        let ids: Vec<&str> = provider_transaction_ids
            .iter()
            .map(ProviderTransactionId::as_str)
            .collect();
        let removed = sqlx::query(REMOVE)
            .bind(user.into_uuid())
            .bind(account.into_uuid())
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(classify)?
            .rows_affected();
        commit(tx).await?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    async fn list_transactions(
        &self,
        user: UserId,
        query: &TransactionQuery,
    ) -> Result<Vec<InvestmentTransaction>, RepoError> {
        query.check()?;
        let select = sqlx::query(SELECT)
            .bind(user.into_uuid())
            .bind(query.account.map(AccountId::into_uuid))
            .bind(query.from)
            .bind(query.to)
            .bind(i64::from(query.limit));
        self.read_rows(user, select, read_transaction).await
    }

    async fn transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<Option<NaiveDate>, RepoError> {
        let query = sqlx::query(SYNCED_THROUGH)
            .bind(user.into_uuid())
            .bind(account.into_uuid());
        self.read_row(
            user,
            query,
            |row| Columns(row).get("synced_through"),
            "account",
        )
        .await
    }

    async fn advance_transactions_synced_through(
        &self,
        user: UserId,
        account: AccountId,
        through: NaiveDate,
    ) -> Result<bool, RepoError> {
        let mut tx = self.begin(user).await?;
        account_provider(&mut tx, user, account).await?;
        let moved = sqlx::query(ADVANCE)
            .bind(user.into_uuid())
            .bind(account.into_uuid())
            .bind(through)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
            .is_some();
        commit(tx).await?;
        Ok(moved)
    }
}

/// The provider of the user's account; [`RepoError::NotFound`] (`"account"`) when it is not the user's (the
/// foreign key on (account_id, user_id) would refuse the write too, as a missing `user`).
async fn account_provider(
    conn: &mut PgConnection,
    user: UserId,
    account: AccountId,
) -> Result<Provider, RepoError> {
    let provider: Option<String> = sqlx::query_scalar(ACCOUNT_PROVIDER)
        .bind(user.into_uuid())
        .bind(account.into_uuid())
        .fetch_optional(conn)
        .await
        .map_err(classify)?;
    let provider = provider.ok_or(RepoError::NotFound { entity: "account" })?;
    Provider::parse(&provider).map_err(RepoError::from)
}

/// The batch as [`UPSERT`]: what it wrote. A revision in another currency is [`RepoError::InvalidData`]
/// (`currency`), from the table's trigger, and the statement wrote nothing.
async fn upsert(
    conn: &mut PgConnection,
    user: UserId,
    account: AccountId,
    provider: Provider,
    transactions: &[NewInvestmentTransaction],
) -> Result<TransactionsWritten, RepoError> {
    let column = |f: fn(&NewInvestmentTransaction) -> Option<&str>| {
        transactions.iter().map(f).collect::<Vec<_>>()
    };
    let decimal = |f: fn(&NewInvestmentTransaction) -> Option<Decimal>| {
        transactions.iter().map(f).collect::<Vec<_>>()
    };
    let ids: Vec<_> = transactions
        .iter()
        .map(|_| TransactionId::generate_ordered().into_uuid())
        .collect();
    let (inserted, updated): (i64, i64) = sqlx::query_as(UPSERT)
        .bind(user.into_uuid())
        .bind(account.into_uuid())
        .bind(provider.as_str())
        .bind(&ids)
        .bind(column(|t| Some(t.provider_transaction_id.as_str())))
        .bind(
            transactions
                .iter()
                .map(|t| t.trade_date)
                .collect::<Vec<_>>(),
        )
        .bind(
            transactions
                .iter()
                .map(|t| t.settlement_date)
                .collect::<Vec<_>>(),
        )
        .bind(column(|t| Some(t.transaction_type.as_str())))
        .bind(column(|t| {
            t.subtype.as_ref().map(TransactionSubtype::as_str)
        }))
        .bind(column(|t| t.symbol.as_ref().map(Symbol::as_str)))
        .bind(column(|t| t.security_id.as_ref().map(SecurityId::as_str)))
        .bind(decimal(|t| t.quantity))
        .bind(decimal(|t| t.price))
        .bind(decimal(|t| Some(t.amount.get())))
        .bind(decimal(|t| t.fees.map(SignedAmount::get)))
        .bind(column(|t| Some(t.currency.as_str())))
        .bind(column(|t| {
            t.description.as_ref().map(TransactionDescription::as_str)
        }))
        .bind(
            transactions
                .iter()
                .map(|t| Json(&t.raw))
                .collect::<Vec<_>>(),
        )
        .fetch_one(conn)
        .await
        .map_err(classify)?;
    let count = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
    let (inserted, updated) = (count(inserted), count(updated));
    Ok(TransactionsWritten {
        inserted,
        updated,
        unchanged: transactions.len().saturating_sub(inserted + updated),
    })
}

fn read_transaction(row: &PgRow) -> Result<InvestmentTransaction, RepoError> {
    let c = Columns(row);
    Ok(InvestmentTransaction {
        id: c.id("id")?,
        transaction: NewInvestmentTransaction {
            user_id: c.id("user_id")?,
            account_id: c.id("account_id")?,
            provider: c.parse("provider", Provider::parse)?,
            provider_transaction_id: c
                .parse("provider_transaction_id", ProviderTransactionId::parse)?,
            trade_date: c.get("trade_date")?,
            settlement_date: c.get("settlement_date")?,
            transaction_type: c.parse("transaction_type", TransactionType::parse)?,
            subtype: c.parse_opt("subtype", TransactionSubtype::parse)?,
            symbol: c.parse_opt("symbol", Symbol::parse)?,
            security_id: c.parse_opt("security_id", SecurityId::parse)?,
            quantity: c.get("quantity")?,
            price: c.get("price")?,
            amount: c
                .opt_decimal("amount", SignedAmount::exact_for)?
                .ok_or_else(|| RepoError::invalid("amount", "is NULL"))?,
            fees: c.opt_decimal("fees", SignedAmount::exact_for)?,
            currency: c.parse("currency", Currency::parse)?,
            description: c.parse_opt("description", TransactionDescription::parse)?,
            raw: RawRecord::parse(c.get("raw_provider_data")?)
                .map_err(|error| RepoError::invalid("raw_provider_data", error.to_string()))?,
        },
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}
