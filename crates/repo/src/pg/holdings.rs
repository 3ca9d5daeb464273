//! Aggregated holdings on PostgreSQL.

use async_trait::async_trait;
use rust_decimal::Decimal;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Encode, PgConnection, Postgres, Type};
use tributary_domain::{
    Amount, Holding, HoldingFigures, HoldingId, NewHolding, Percent, Quantity, SecurityId,
    SecurityName, SecurityType, SignedAmount, Symbol, UnitCost, UserId,
};

use super::row::Columns;
use super::{PgStore, commit};
use crate::batch::check_holdings;
use crate::error::classify;
use crate::{HoldingRepository, HoldingsReplaced, RepoError};

/// The batch as rows to write (`$2`… bound by [`batch_arguments`]), for [`UPSERT`] and [`REPLACE`].
///
/// New rows get time-ordered ids from the application (`$22`, used only when the row is inserted): the column's
/// default, `gen_random_uuid()`, scatters a batch's inserts over the whole primary-key index, which cost a
/// quarter of a bulk write's time per row (docs/benchmarks.md).
///
/// `incoming` is the batch cast to the columns' types (so `1.5` and `1.50000000` compare equal, as they are
/// stored). `changed` leaves out every row already stored exactly so before the insert sees it: ON CONFLICT
/// DO UPDATE … WHERE would skip those too, but only after locking each one, and a row lock writes the tuple
/// and WAL, which makes a re-sync where nothing changed cost a commit flush and a dirty page per row. The
/// WHERE on the update stays for rows another transaction changed in between.
macro_rules! changed_rows {
    () => {
        "incoming as (
  select id, symbol, security_id, security_name, security_type, total_quantity::numeric(20, 8) as total_quantity,
         total_market_value::numeric(20, 2) as total_market_value,
         total_cost_basis::numeric(20, 2) as total_cost_basis,
         average_cost_basis::numeric(20, 8) as average_cost_basis,
         unrealized_gain_loss::numeric(20, 2) as unrealized_gain_loss,
         unrealized_gain_loss_percent::numeric(10, 4) as unrealized_gain_loss_percent,
         day_change_value::numeric(20, 2) as day_change_value,
         day_change_percent::numeric(10, 4) as day_change_percent, account_contributions,
         institution_breakdown, account_count, price_as_of, coalesce(data_source, 'aggregated') as data_source,
         provider_metadata, universal_symbol_id, option_contract
  from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::numeric[], $8::numeric[],
              $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[], $14::jsonb[],
              $15::jsonb[], $16::int[], $17::timestamptz[], $18::text[], $19::jsonb[], $20::uuid[], $21::jsonb[],
              $22::uuid[])
    as k(symbol, security_id, security_name, security_type, total_quantity, total_market_value,
         total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent,
         day_change_value, day_change_percent, account_contributions, institution_breakdown, account_count,
         price_as_of, data_source, provider_metadata, universal_symbol_id, option_contract, id)
), changed as (
  select k.* from incoming k
  where not exists (
    select from public.user_aggregated_holdings s
    where s.user_id = $1 and s.symbol = k.symbol
      and (s.security_id, s.security_name, s.security_type, s.total_quantity, s.total_market_value,
           s.total_cost_basis, s.average_cost_basis, s.unrealized_gain_loss, s.unrealized_gain_loss_percent,
           s.day_change_value, s.day_change_percent, s.account_contributions, s.institution_breakdown,
           s.account_count, s.price_as_of, s.data_source, s.provider_metadata, s.universal_symbol_id,
           s.option_contract)
        is not distinct from
          (k.security_id, k.security_name, k.security_type, k.total_quantity, k.total_market_value,
           k.total_cost_basis, k.average_cost_basis, k.unrealized_gain_loss, k.unrealized_gain_loss_percent,
           k.day_change_value, k.day_change_percent, k.account_contributions, k.institution_breakdown,
           k.account_count, k.price_as_of, k.data_source, k.provider_metadata, k.universal_symbol_id,
           k.option_contract))
)"
    };
}

macro_rules! insert_changed {
    () => {
        "insert into public.user_aggregated_holdings as h
  (id, user_id, symbol, security_id, security_name, security_type, total_quantity, total_market_value,
   total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent, day_change_value,
   day_change_percent, account_contributions, institution_breakdown, account_count, price_as_of, data_source,
   provider_metadata, universal_symbol_id, option_contract)
select id, $1::uuid, symbol, security_id, security_name, security_type, total_quantity, total_market_value,
       total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent,
       day_change_value, day_change_percent, account_contributions, institution_breakdown, account_count,
       price_as_of, data_source, provider_metadata, universal_symbol_id, option_contract
from changed
on conflict (user_id, symbol) do update set
  security_id = excluded.security_id, security_name = excluded.security_name,
  security_type = excluded.security_type, total_quantity = excluded.total_quantity,
  total_market_value = excluded.total_market_value, total_cost_basis = excluded.total_cost_basis,
  average_cost_basis = excluded.average_cost_basis, unrealized_gain_loss = excluded.unrealized_gain_loss,
  unrealized_gain_loss_percent = excluded.unrealized_gain_loss_percent,
  day_change_value = excluded.day_change_value, day_change_percent = excluded.day_change_percent,
  account_contributions = excluded.account_contributions, institution_breakdown = excluded.institution_breakdown,
  account_count = excluded.account_count, price_as_of = excluded.price_as_of, data_source = excluded.data_source,
  provider_metadata = excluded.provider_metadata, universal_symbol_id = excluded.universal_symbol_id,
  option_contract = excluded.option_contract
where (h.security_id, h.security_name, h.security_type, h.total_quantity, h.total_market_value,
       h.total_cost_basis, h.average_cost_basis, h.unrealized_gain_loss, h.unrealized_gain_loss_percent,
       h.day_change_value, h.day_change_percent, h.account_contributions, h.institution_breakdown,
       h.account_count, h.price_as_of, h.data_source, h.provider_metadata, h.universal_symbol_id,
       h.option_contract)
  is distinct from
      (excluded.security_id, excluded.security_name, excluded.security_type, excluded.total_quantity,
       excluded.total_market_value, excluded.total_cost_basis, excluded.average_cost_basis,
       excluded.unrealized_gain_loss, excluded.unrealized_gain_loss_percent, excluded.day_change_value,
       excluded.day_change_percent, excluded.account_contributions, excluded.institution_breakdown,
       excluded.account_count, excluded.price_as_of, excluded.data_source, excluded.provider_metadata,
       excluded.universal_symbol_id, excluded.option_contract)"
    };
}

/// One statement per batch; identical rows are not rewritten, so `rows_affected` counts real changes.
const UPSERT: &str = concat!("with ", changed_rows!(), "\n", insert_changed!());

/// [`UPSERT`] with the removal of every symbol the batch does not name, in one statement (one round trip; the
/// two touch disjoint rows, so sharing a snapshot changes nothing). Run after [`LOCK_USER`], in its transaction.
const REPLACE: &str = concat!(
    "with removed as (
  delete from public.user_aggregated_holdings where user_id = $1 and symbol <> all($2::text[]) returning 1
), ",
    changed_rows!(),
    ", written as (\n",
    insert_changed!(),
    "\nreturning 1)
select (select count(*) from removed) as removed, (select count(*) from written) as written"
);

/// Two replacements of one user's holdings at once would interleave their deletes and upserts; this lock,
/// held until commit, makes the second wait for the first.
const LOCK_USER: &str =
    "select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1::text, 0))";

const SELECT: &str = "
select id, user_id, symbol, security_id, security_name, security_type, total_quantity, total_market_value,
       total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent, day_change_value,
       day_change_percent, account_contributions, institution_breakdown, account_count, updated_at, price_as_of,
       data_source, provider_metadata, universal_symbol_id, option_contract
from public.user_aggregated_holdings
where user_id = $1 and ($2::text is null or symbol = $2)
order by symbol collate \"C\"";

#[async_trait]
impl HoldingRepository for PgStore {
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError> {
        check_holdings(user, holdings)?;
        let mut tx = self.begin(user).await?;
        let written = upsert(&mut tx, user, holdings).await?;
        commit(tx).await?;
        Ok(written)
    }

    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError> {
        check_holdings(user, holdings)?;
        let mut tx = self.begin(user).await?;
        sqlx::query(LOCK_USER)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let replaced = replace(&mut tx, user, holdings).await?;
        commit(tx).await?;
        Ok(replaced)
    }

    async fn get_holding(&self, user: UserId, symbol: &Symbol) -> Result<Holding, RepoError> {
        let query = sqlx::query(SELECT)
            .bind(user.into_uuid())
            .bind(symbol.as_str());
        self.read_row(user, query, read_holding, "holding").await
    }

    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError> {
        let query = sqlx::query(SELECT)
            .bind(user.into_uuid())
            .bind(None::<&str>);
        self.read_rows(user, query, read_holding).await
    }
}

/// The batch as one statement; returns the rows inserted or changed.
async fn upsert(
    conn: &mut PgConnection,
    user: UserId,
    holdings: &[NewHolding],
) -> Result<usize, RepoError> {
    if holdings.is_empty() {
        return Ok(0);
    }
    let written = sqlx::query_with(UPSERT, batch_arguments(user, holdings)?)
        .execute(conn)
        .await
        .map_err(classify)?
        .rows_affected();
    Ok(usize::try_from(written).unwrap_or(usize::MAX))
}

/// The user's holdings become the batch, in one statement: symbols it does not name are removed, the rest
/// upserted. The caller holds [`LOCK_USER`].
async fn replace(
    conn: &mut PgConnection,
    user: UserId,
    holdings: &[NewHolding],
) -> Result<HoldingsReplaced, RepoError> {
    let (removed, written): (i64, i64) =
        sqlx::query_as_with(REPLACE, batch_arguments(user, holdings)?)
            .fetch_one(conn)
            .await
            .map_err(classify)?;
    Ok(HoldingsReplaced {
        written: usize::try_from(written).unwrap_or(usize::MAX),
        removed: usize::try_from(removed).unwrap_or(usize::MAX),
    })
}

/// How one text column of a batch reads a holding.
type TextColumn = for<'h> fn(&'h NewHolding) -> Option<&'h str>;
/// How one money or quantity column of a batch reads a holding's figures.
type FigureColumn = fn(&HoldingFigures) -> Decimal;

/// `$1`, the user, and the batch column by column as arrays, `$2`…`$22` in the order `changed_rows!` reads
/// them.
fn batch_arguments(user: UserId, holdings: &[NewHolding]) -> Result<PgArguments, RepoError> {
    let figure = |f: FigureColumn| holdings.iter().map(|h| f(&h.figures)).collect::<Vec<_>>();
    let text = |f: TextColumn| holdings.iter().map(f).collect::<Vec<_>>();
    let mut contributions = Vec::with_capacity(holdings.len());
    let mut breakdowns = Vec::with_capacity(holdings.len());
    let mut contracts = Vec::with_capacity(holdings.len());
    let mut account_counts = Vec::with_capacity(holdings.len());
    for holding in holdings {
        contributions.push(to_json(
            "account_contributions",
            &holding.account_contributions,
        )?);
        breakdowns.push(to_json(
            "institution_breakdown",
            &holding.institution_breakdown(),
        )?);
        contracts.push(
            holding
                .option_contract
                .as_ref()
                .map(|contract| to_json("option_contract", contract))
                .transpose()?,
        );
        account_counts.push(
            i32::try_from(holding.account_count())
                .map_err(|_| RepoError::invalid("account_count", "out of range"))?,
        );
    }
    let mut args = PgArguments::default();
    add(&mut args, "user_id", user.into_uuid())?;
    let texts: [(&str, TextColumn); 4] = [
        ("symbol", |h| Some(h.symbol.as_str())),
        ("security_id", |h| {
            h.security_id.as_ref().map(|v| v.as_str())
        }),
        ("security_name", |h| {
            h.security_name.as_ref().map(|v| v.as_str())
        }),
        ("security_type", |h| h.security_type.map(|t| t.as_str())),
    ];
    for (field, value) in texts {
        add(&mut args, field, text(value))?;
    }
    let figures: [(&str, FigureColumn); 8] = [
        ("total_quantity", |f| f.total_quantity.get()),
        ("total_market_value", |f| f.total_market_value.get()),
        ("total_cost_basis", |f| f.total_cost_basis.get()),
        ("average_cost_basis", |f| f.average_cost_basis.get()),
        ("unrealized_gain_loss", |f| f.unrealized_gain_loss.get()),
        ("unrealized_gain_loss_percent", |f| {
            f.unrealized_gain_loss_percent.get()
        }),
        ("day_change_value", |f| f.day_change_value.get()),
        ("day_change_percent", |f| f.day_change_percent.get()),
    ];
    for (field, value) in figures {
        add(&mut args, field, figure(value))?;
    }
    add(&mut args, "account_contributions", contributions)?;
    add(&mut args, "institution_breakdown", breakdowns)?;
    add(&mut args, "account_count", account_counts)?;
    add(
        &mut args,
        "price_as_of",
        holdings.iter().map(|h| h.price_as_of).collect::<Vec<_>>(),
    )?;
    add(&mut args, "data_source", text(|h| h.data_source.as_deref()))?;
    let metadata = holdings
        .iter()
        .map(|h| serde_json::Value::Object(h.provider_metadata.clone()));
    add(&mut args, "provider_metadata", metadata.collect::<Vec<_>>())?;
    let symbol_ids = holdings
        .iter()
        .map(|h| h.universal_symbol_id.map(|id| id.into_uuid()));
    add(
        &mut args,
        "universal_symbol_id",
        symbol_ids.collect::<Vec<_>>(),
    )?;
    add(&mut args, "option_contract", contracts)?;
    let ids = holdings
        .iter()
        .map(|_| HoldingId::generate_ordered().into_uuid());
    add(&mut args, "id", ids.collect::<Vec<_>>())?;
    Ok(args)
}

fn add<'t, T: Encode<'t, Postgres> + Type<Postgres>>(
    args: &mut PgArguments,
    field: &'static str,
    value: T,
) -> Result<(), RepoError> {
    args.add(value)
        .map_err(|error| RepoError::invalid(field, error.to_string()))
}

fn to_json(
    field: &'static str,
    value: &impl serde::Serialize,
) -> Result<serde_json::Value, RepoError> {
    serde_json::to_value(value).map_err(|error| RepoError::invalid(field, error.to_string()))
}

fn read_holding(row: &PgRow) -> Result<Holding, RepoError> {
    let c = Columns(row);
    let account_count = c.get::<Option<i32>>("account_count")?.unwrap_or(1);
    Ok(Holding {
        id: c.id("id")?,
        user_id: c.id("user_id")?,
        symbol: c.parse("symbol", Symbol::parse)?,
        security_id: c.parse_opt("security_id", SecurityId::parse)?,
        security_name: c.parse_opt("security_name", SecurityName::parse)?,
        security_type: c.parse_opt("security_type", SecurityType::parse)?,
        figures: HoldingFigures {
            total_quantity: c.decimal_or_zero("total_quantity", Quantity::new_for)?,
            total_market_value: c.decimal_or_zero("total_market_value", Amount::new_for)?,
            total_cost_basis: c.decimal_or_zero("total_cost_basis", Amount::new_for)?,
            average_cost_basis: c.decimal_or_zero("average_cost_basis", UnitCost::new_for)?,
            unrealized_gain_loss: c
                .decimal_or_zero("unrealized_gain_loss", SignedAmount::new_for)?,
            unrealized_gain_loss_percent: c
                .decimal_or_zero("unrealized_gain_loss_percent", Percent::new_for)?,
            day_change_value: c.decimal_or_zero("day_change_value", SignedAmount::new_for)?,
            day_change_percent: c.decimal_or_zero("day_change_percent", Percent::new_for)?,
        },
        account_contributions: c.json_or("account_contributions", Vec::new)?,
        institution_breakdown: c.json_or("institution_breakdown", Default::default)?,
        account_count: u32::try_from(account_count).map_err(|_| {
            RepoError::invalid("account_count", format!("{account_count} is out of range"))
        })?,
        updated_at: c.get("updated_at")?,
        price_as_of: c.get("price_as_of")?,
        data_source: c.get("data_source")?,
        provider_metadata: c.json_or("provider_metadata", serde_json::Map::new)?,
        universal_symbol_id: c.opt_id("universal_symbol_id")?,
        option_contract: c.opt_json("option_contract")?,
    })
}
