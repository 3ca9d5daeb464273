//! Investment transactions and their sync position on PostgreSQL.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use tributary_domain::{
    AccountId, Currency, InvestmentTransaction, NewInvestmentTransaction, Provider,
    ProviderTransactionId, RawRecord, SecurityId, SignedAmount, Symbol, TransactionDescription,
    TransactionId, TransactionSubtype, TransactionType, UserId,
};

use super::row::Columns;
use super::{PgQuery, PgStore, commit};
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

/// The batch as arrays, one per column, read in step in the select list as holdings' are ($1 user, $2 account,
/// $3 provider, $4 on the columns): the start of [`INSERT_NEW`] and [`UPSERT`], which bind the same arguments.
macro_rules! incoming {
    () => {
        "with incoming as (
  select unnest($4::uuid[]) as id, unnest($5::text[]) as provider_transaction_id,
         unnest($6::date[]) as trade_date, unnest($7::date[]) as settlement_date,
         unnest($8::text[]) as transaction_type, unnest($9::text[]) as subtype, unnest($10::text[]) as symbol,
         unnest($11::text[]) as security_id, unnest($12::numeric[]) as quantity, unnest($13::numeric[]) as price,
         unnest($14::numeric[]) as amount, unnest($15::numeric[]) as fees, unnest($16::text[]) as currency,
         unnest($17::text[]) as description, unnest($18::jsonb[]) as raw_provider_data
)"
    };
}

/// The columns a batch writes, as the insert's target list and as its select list from `incoming`.
macro_rules! insert_columns {
    () => {
        "insert into public.investment_transactions as t
    (id, user_id, account_id, provider, provider_transaction_id, trade_date, settlement_date, transaction_type,
     subtype, symbol, security_id, quantity, price, amount, fees, currency, description, raw_provider_data)
  select id, $1::uuid, $2::uuid, $3::text, provider_transaction_id, trade_date, settlement_date, transaction_type,
         subtype, symbol, security_id, quantity, price, amount, fees, currency, description, raw_provider_data"
    };
}

/// A batch's first statement: inserts the rows not stored yet, skips the others; answers how many it inserted.
///
/// Each row's key is checked by the unique key's index itself (the ON CONFLICT arbiter, which no plan routes
/// elsewhere), so a new row costs what COPY pays for it plus that one probe, and a stored row is skipped without
/// being read, locked or written. A first sync's pages are all new: this is their only statement, and storing a
/// history page by page costs the same for its last page as for its first. Any lookup of stored rows by key
/// would be the planner's to route, and its estimate of one account's rows assumes users and accounts are
/// independent (typically "one row"), which made it hash every stored row of the account for each page (a
/// history of 100,000 in pages of 500 took 2.4 to 12 times one COPY of it) or, given a lookup per row, scan the
/// account through another index for each row.
const INSERT_NEW: &str = concat!(
    incoming!(),
    ", inserted as (
  ",
    insert_columns!(),
    "
  from incoming
  on conflict (user_id, account_id, provider_transaction_id) do nothing
  returning 1
)
select count(*) from inserted"
);

/// A batch's second statement, run only when [`INSERT_NEW`] skipped stored rows (a re-sync, an overlapping
/// page, a revision): inserts or updates the batch, keyed as the table is.
///
/// `matched` looks each row up once: a row identical to the stored one goes no further, so an unchanged
/// re-sync neither rewrites nor locks anything (ON CONFLICT … WHERE would skip it too, but only after locking
/// it, which writes the tuple and WAL). The lookup is a lateral subquery with `limit 1`, which PostgreSQL
/// cannot flatten into a join that reads the account's stored rows for each batch, and it names the trade date
/// too: whichever index the planner picks (see [`INSERT_NEW`] on its estimate), it reads at most the account's
/// rows of one day per row. A revision that moved the trade date is not matched and goes on to ON CONFLICT,
/// which finds it by key and rewrites it (it changed). A revision naming another currency than the stored
/// row's is refused by the table's trigger (migration 0024), which aborts the statement: nothing of the batch
/// is written. Rows inserted are told from rows updated by `xmax`, which is 0 on a tuple a transaction has only
/// inserted.
const UPSERT: &str = concat!(
    incoming!(),
    ", matched as (
  select k.*, ",
    data_of!("t"),
    " is not distinct from ",
    data_of!("k"),
    " as unchanged
  from incoming k
  left join lateral (
    select s.trade_date, s.settlement_date, s.transaction_type, s.subtype, s.symbol, s.security_id, s.quantity,
           s.price, s.amount, s.fees, s.currency, s.description, s.raw_provider_data
    from public.investment_transactions s
    where s.user_id = $1 and s.account_id = $2 and s.provider_transaction_id = k.provider_transaction_id
      and s.trade_date = k.trade_date
    limit 1
  ) t on true
), written as (
  ",
    insert_columns!(),
    "
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

/// The columns [`read_transaction`] reads, and the table.
macro_rules! select_from {
    () => {
        "
select id, user_id, account_id, provider, provider_transaction_id, trade_date, settlement_date, transaction_type,
       subtype, symbol, security_id, quantity, price, amount, fees, currency, description, raw_provider_data,
       created_at, updated_at
from public.investment_transactions"
    };
}

/// One account's transactions within the days given ($3, $4; NULL: no bound), newest first.
///
/// One statement per shape, each condition a bound of `idx_investment_transactions_account_date`: sqlx prepares
/// statements, and after five runs PostgreSQL may keep a generic plan, which cannot use `($3 is null or …)` as an
/// index bound. A single statement for both shapes read every stored row of the user in every call and sorted
/// them (50 ms per account of 1,200 among 60,000 in the sync benchmark).
const SELECT_IN_ACCOUNT: &str = concat!(
    select_from!(),
    "
where user_id = $1 and account_id = $2
  and trade_date >= coalesce($3::date, '-infinity'::date) and trade_date <= coalesce($4::date, 'infinity'::date)
order by trade_date desc, provider_transaction_id collate \"C\"
limit $5"
);

/// Every account's transactions within the days given ($2, $3), newest first, as [`SELECT_IN_ACCOUNT`] on
/// `idx_investment_transactions_user_date`.
const SELECT_ALL: &str = concat!(
    select_from!(),
    "
where user_id = $1
  and trade_date >= coalesce($2::date, '-infinity'::date) and trade_date <= coalesce($3::date, 'infinity'::date)
order by trade_date desc, account_id, provider_transaction_id collate \"C\"
limit $4"
);

/// The account (if the user's) and how far its transactions were synced.
const SYNCED_THROUGH: &str = "
select s.synced_through
from public.user_investment_accounts a
left join public.investment_transaction_sync s on s.user_id = a.user_id and s.account_id = a.id
where a.user_id = $1 and a.id = $2";

/// The account's contributions per currency: no row when the account is not the user's, one row of nulls when it
/// has none.
const NET_CONTRIBUTIONS: &str = "
select c.currency, c.net
from public.user_investment_accounts a
left join lateral (
    select t.currency, sum(t.amount) as net
    from public.investment_transactions t
    where t.user_id = a.user_id and t.account_id = a.id and t.transaction_type = any($3)
    group by t.currency
) c on true
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
        let select = match query.account {
            Some(account) => sqlx::query(SELECT_IN_ACCOUNT)
                .bind(user.into_uuid())
                .bind(account.into_uuid()),
            None => sqlx::query(SELECT_ALL).bind(user.into_uuid()),
        }
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

    async fn net_contributions(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<BTreeMap<Currency, Decimal>, RepoError> {
        let types: Vec<String> = TransactionType::CONTRIBUTIONS
            .iter()
            .map(ToString::to_string)
            .collect();
        let query = sqlx::query(NET_CONTRIBUTIONS)
            .bind(user.into_uuid())
            .bind(account.into_uuid())
            .bind(types);
        let rows = self
            .read_rows(user, query, |row| {
                let columns = Columns(row);
                let currency: Option<String> = columns.get("currency")?;
                let net: Option<Decimal> = columns.get("net")?;
                match (currency, net) {
                    (Some(currency), Some(net)) => Ok(Some((
                        Currency::parse(&currency).map_err(RepoError::from)?,
                        net,
                    ))),
                    _ => Ok(None),
                }
            })
            .await?;
        if rows.is_empty() {
            return Err(RepoError::NotFound { entity: "account" });
        }
        Ok(rows.into_iter().flatten().collect())
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

/// The batch as [`INSERT_NEW`], then, if it skipped stored rows, as [`UPSERT`]: what they wrote. A revision in
/// another currency is [`RepoError::InvalidData`] (`currency`), from the table's trigger; the caller's
/// transaction then ends uncommitted, so nothing of the batch is written.
async fn upsert(
    conn: &mut PgConnection,
    user: UserId,
    account: AccountId,
    provider: Provider,
    transactions: &[NewInvestmentTransaction],
) -> Result<TransactionsWritten, RepoError> {
    let batch = Batch::of(transactions);
    let count = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
    let new: i64 = batch
        .bind(sqlx::query(INSERT_NEW), user, account, provider)
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?
        .try_get(0)
        .map_err(classify)?;
    let new = count(new);
    if new == transactions.len() {
        return Ok(TransactionsWritten {
            inserted: new,
            updated: 0,
            unchanged: 0,
        });
    }
    // The rows just inserted are found unchanged by the lookup, like every other stored row sent as it is.
    let row = batch
        .bind(sqlx::query(UPSERT), user, account, provider)
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?;
    let inserted = count(row.try_get("inserted").map_err(classify)?) + new;
    let updated = count(row.try_get("updated").map_err(classify)?);
    Ok(TransactionsWritten {
        inserted,
        updated,
        unchanged: transactions.len().saturating_sub(inserted + updated),
    })
}

/// A batch's columns, one array each, in the order `incoming!` reads them.
struct Batch<'a> {
    ids: Vec<uuid::Uuid>,
    provider_transaction_ids: Vec<&'a str>,
    trade_dates: Vec<NaiveDate>,
    settlement_dates: Vec<Option<NaiveDate>>,
    types: Vec<&'a str>,
    subtypes: Vec<Option<&'a str>>,
    symbols: Vec<Option<&'a str>>,
    security_ids: Vec<Option<&'a str>>,
    quantities: Vec<Option<Decimal>>,
    prices: Vec<Option<Decimal>>,
    amounts: Vec<Decimal>,
    fees: Vec<Option<Decimal>>,
    currencies: Vec<&'a str>,
    descriptions: Vec<Option<&'a str>>,
    raw: Vec<Json<&'a RawRecord>>,
}

impl<'a> Batch<'a> {
    fn of(transactions: &'a [NewInvestmentTransaction]) -> Self {
        fn each<'a, T>(
            transactions: &'a [NewInvestmentTransaction],
            f: impl Fn(&'a NewInvestmentTransaction) -> T,
        ) -> Vec<T> {
            transactions.iter().map(f).collect()
        }
        Self {
            // Time-ordered, as holdings' ids: a history lands at the right edge of the primary key's index.
            ids: each(transactions, |_| {
                TransactionId::generate_ordered().into_uuid()
            }),
            provider_transaction_ids: each(transactions, |t| t.provider_transaction_id.as_str()),
            trade_dates: each(transactions, |t| t.trade_date),
            settlement_dates: each(transactions, |t| t.settlement_date),
            types: each(transactions, |t| t.transaction_type.as_str()),
            subtypes: each(transactions, |t| {
                t.subtype.as_ref().map(TransactionSubtype::as_str)
            }),
            symbols: each(transactions, |t| t.symbol.as_ref().map(Symbol::as_str)),
            security_ids: each(transactions, |t| {
                t.security_id.as_ref().map(SecurityId::as_str)
            }),
            quantities: each(transactions, |t| t.quantity),
            prices: each(transactions, |t| t.price),
            amounts: each(transactions, |t| t.amount.get()),
            fees: each(transactions, |t| t.fees.map(SignedAmount::get)),
            currencies: each(transactions, |t| t.currency.as_str()),
            descriptions: each(transactions, |t| {
                t.description.as_ref().map(TransactionDescription::as_str)
            }),
            raw: each(transactions, |t| Json(&t.raw)),
        }
    }

    /// `query` with the batch's arguments: $1 user, $2 account, $3 provider, then the arrays.
    fn bind<'q>(
        &self,
        query: PgQuery<'q>,
        user: UserId,
        account: AccountId,
        provider: Provider,
    ) -> PgQuery<'q> {
        query
            .bind(user.into_uuid())
            .bind(account.into_uuid())
            .bind(provider.as_str())
            .bind(&self.ids)
            .bind(&self.provider_transaction_ids)
            .bind(&self.trade_dates)
            .bind(&self.settlement_dates)
            .bind(&self.types)
            .bind(&self.subtypes)
            .bind(&self.symbols)
            .bind(&self.security_ids)
            .bind(&self.quantities)
            .bind(&self.prices)
            .bind(&self.amounts)
            .bind(&self.fees)
            .bind(&self.currencies)
            .bind(&self.descriptions)
            .bind(&self.raw)
    }
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
