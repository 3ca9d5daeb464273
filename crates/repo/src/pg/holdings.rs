//! Aggregated holdings on PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::value::RawValue;
use sha2::Sha256;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::types::Json;
use sqlx::{Arguments, Encode, PgConnection, Postgres, Type};
use tributary_domain::{
    Amount, Currency, Holding, HoldingFigures, HoldingId, NewHolding, Percent, Quantity,
    SecurityId, SecurityName, SecurityType, SignedAmount, Symbol, UnitCost, UserId,
};

use super::row::Columns;
use super::session::{StoreTx, TxKind};
use super::{PgStore, commit};
use crate::batch::check_holdings;
use crate::error::classify;
use crate::{HoldingRepository, HoldingsReplaced, RepoError};

/// A holding's data columns as a row value, for comparing the stored row (`h`) with the proposed one
/// (`excluded`): everything the repository writes but the key, the id and `content_digest`.
#[rustfmt::skip]
macro_rules! data_of {
    ($t:literal) => {
        concat!(
            "(", $t, ".security_id, ", $t, ".security_name, ", $t, ".security_type, ", $t, ".total_quantity, ",
            $t, ".total_market_value, ", $t, ".total_cost_basis, ", $t, ".average_cost_basis, ",
            $t, ".unrealized_gain_loss, ", $t, ".unrealized_gain_loss_percent, ", $t, ".day_change_value, ",
            $t, ".day_change_percent, ", $t, ".account_contributions, ", $t, ".institution_breakdown, ",
            $t, ".account_count, ", $t, ".price_as_of, ", $t, ".data_source, ", $t, ".provider_metadata, ",
            $t, ".universal_symbol_id, ", $t, ".option_contract)"
        )
    };
}

/// The batch as rows to write (`$2`… bound by [`batch_arguments`]), array by array in the select list: they
/// are read in step, row by row, without first being stored in a tuplestore as `unnest(…) as k(…)` in FROM
/// would be.
///
/// New rows get time-ordered ids from the application (`$22`, used only when the row is inserted): the column's
/// default, `gen_random_uuid()`, scatters a batch's inserts over the whole primary-key index, which cost a
/// quarter of a bulk write's time per row (docs/benchmarks.md).
macro_rules! incoming {
    () => {
        "incoming as (
  select unnest($2::text[]) as symbol, unnest($3::text[]) as security_id, unnest($4::text[]) as security_name,
         unnest($5::text[]) as security_type, unnest($6::numeric[]) as total_quantity,
         unnest($7::numeric[]) as total_market_value, unnest($8::numeric[]) as total_cost_basis,
         unnest($9::numeric[]) as average_cost_basis, unnest($10::numeric[]) as unrealized_gain_loss,
         unnest($11::numeric[]) as unrealized_gain_loss_percent, unnest($12::numeric[]) as day_change_value,
         unnest($13::numeric[]) as day_change_percent, unnest($14::jsonb[]) as account_contributions,
         unnest($15::jsonb[]) as institution_breakdown, unnest($16::int[]) as account_count,
         unnest($17::timestamptz[]) as price_as_of, unnest($18::text[]) as data_source,
         unnest($19::jsonb[]) as provider_metadata, unnest($20::uuid[]) as universal_symbol_id,
         unnest($21::jsonb[]) as option_contract, unnest($22::uuid[]) as id, unnest($23::bytea[]) as content_digest,
         unnest($24::text[]) as currency
)"
    };
}

/// `changed` leaves out every row whose stored `content_digest` is the batch row's (`$23`): the repository wrote
/// exactly this data and nobody has changed the row since (migration 0012's trigger clears the digest on any
/// other write). ON CONFLICT DO UPDATE … WHERE would skip such rows too, but only after locking each one, and a
/// row lock writes the tuple and WAL, which makes a re-sync where little changed cost a dirty page per row.
/// Rows with another digest go on to the upsert, whose WHERE compares the data itself.
macro_rules! changed_rows {
    () => {
        concat!(
            incoming!(),
            ", changed as (
  select k.* from incoming k
  where not exists (
    select from public.user_aggregated_holdings s
    where s.user_id = $1 and s.symbol = k.symbol and coalesce(s.currency, '') = coalesce(k.currency, '')
      and s.content_digest = k.content_digest)
)"
        )
    };
}

/// For a user who held nothing a moment before: every row goes to the upsert without first being looked up.
/// Only a cost saved; a row some other write added meanwhile still meets ON CONFLICT and its WHERE.
macro_rules! all_rows {
    () => {
        concat!(incoming!(), ", changed as (select * from incoming)")
    };
}

/// The upsert of `changed`. A row is updated when its data or its digest differs; `updated_at` moves only
/// when the data did (a digest written by an older key, or missing on a row written before migration 0012, is
/// refreshed without pretending the holding changed).
macro_rules! insert_changed {
    () => {
        concat!(
            "insert into public.user_aggregated_holdings as h
  (id, user_id, symbol, security_id, security_name, security_type, total_quantity, total_market_value,
   total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent, day_change_value,
   day_change_percent, account_contributions, institution_breakdown, account_count, price_as_of, data_source,
   provider_metadata, universal_symbol_id, option_contract, content_digest, currency)
select id, $1::uuid, symbol, security_id, security_name, security_type, total_quantity, total_market_value,
       total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent,
       day_change_value, day_change_percent, account_contributions, institution_breakdown, account_count,
       price_as_of, coalesce(data_source, 'aggregated'), provider_metadata, universal_symbol_id, option_contract,
       content_digest, currency
from changed
on conflict (user_id, symbol, currency) do update set
  security_id = excluded.security_id, security_name = excluded.security_name,
  security_type = excluded.security_type, total_quantity = excluded.total_quantity,
  total_market_value = excluded.total_market_value, total_cost_basis = excluded.total_cost_basis,
  average_cost_basis = excluded.average_cost_basis, unrealized_gain_loss = excluded.unrealized_gain_loss,
  unrealized_gain_loss_percent = excluded.unrealized_gain_loss_percent,
  day_change_value = excluded.day_change_value, day_change_percent = excluded.day_change_percent,
  account_contributions = excluded.account_contributions, institution_breakdown = excluded.institution_breakdown,
  account_count = excluded.account_count, price_as_of = excluded.price_as_of, data_source = excluded.data_source,
  provider_metadata = excluded.provider_metadata, universal_symbol_id = excluded.universal_symbol_id,
  option_contract = excluded.option_contract, content_digest = excluded.content_digest,
  updated_at = case when ",
            data_of!("h"),
            " is distinct from ",
            data_of!("excluded"),
            " then pg_catalog.now() else h.updated_at end
where h.content_digest is distinct from excluded.content_digest or ",
            data_of!("h"),
            " is distinct from ",
            data_of!("excluded")
        )
    };
}

/// One statement per batch; identical rows are not rewritten, so `rows_affected` counts real changes.
const UPSERT: &str = concat!("with ", changed_rows!(), "\n", insert_changed!());

/// [`UPSERT`] with the removal of every (symbol, currency) the batch does not name (`''` stands for no currency
/// there: the column's CHECK never lets a code be empty, and equality on it can be hashed), in one statement (one round trip; the
/// two touch disjoint rows, so sharing a snapshot changes nothing). Run after [`LOCK_USER`], in its transaction;
/// `$25` is the `plan_cache_mode` that [`LOCK_USER`] found, which the statement puts back.
macro_rules! replace_with {
    ($rows:expr) => {
        concat!(
            "with removed as (
  delete from public.user_aggregated_holdings h
  where h.user_id = $1
    and (h.symbol, coalesce(h.currency, '')) not in (
      select k.symbol, coalesce(k.currency, '') from unnest($2::text[], $24::text[]) as k(symbol, currency))
  returning 1
), ",
            $rows,
            ", written as (\n",
            insert_changed!(),
            "\nreturning 1)
select (select count(*) from removed) as removed, (select count(*) from written) as written,
       pg_catalog.set_config('plan_cache_mode', $25, true) as restored"
        )
    };
}

/// The replacement when the user already holds something.
const REPLACE: &str = replace_with!(changed_rows!());
/// The replacement when the user held nothing when [`already_stored`] looked.
const REPLACE_ALL: &str = replace_with!(all_rows!());

/// Two replacements of one user's holdings at once would interleave their deletes and upserts; this lock,
/// held until commit, makes the second wait for the first.
///
/// In the same round trip it has the replacement ([`REPLACE`], [`REPLACE_ALL`]) run on its generic plan, and
/// returns the setting to restore afterwards (the replacement restores it itself, so the rest of a unit of writes
/// plans as before). Left to choose, PostgreSQL planned the replacement afresh on every call: a custom plan for a
/// user with few rows looks cheaper than the generic one, which expects an average user's, but both are the same
/// plan (an index scan on the user for the delete, the unnested batch inserted), and planning the statement cost
/// about a third of a millisecond a user (docs/benchmarks.md).
const LOCK_USER: &str = "select pg_catalog.current_setting('plan_cache_mode') as previous,
       pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)
from pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1::text, 0))";

macro_rules! select_holdings {
    ($where:literal) => {
        concat!(
            "select id, user_id, symbol, currency, security_id, security_name, security_type, total_quantity,
       total_market_value, total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent,
       day_change_value, day_change_percent, account_contributions, institution_breakdown, account_count,
       updated_at, price_as_of, data_source, provider_metadata, universal_symbol_id, option_contract
from public.user_aggregated_holdings
where ",
            $where
        )
    };
}

/// One holding, by its key.
const SELECT_ONE: &str =
    select_holdings!("user_id = $1 and symbol = $2 and currency is not distinct from $3");

/// All the user's holdings, by symbol then currency (byte order; no currency first).
const SELECT_ALL: &str = select_holdings!(
    "user_id = $1 order by symbol collate \"C\", currency collate \"C\" nulls first"
);

/// What [`already_stored`] compares a replacement with.
const STORED_DIGESTS: &str = "select symbol, currency, content_digest from public.user_aggregated_holdings where user_id = $1";

#[async_trait]
impl HoldingRepository for PgStore {
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError> {
        check_holdings(user, holdings)?;
        let rows = rows(self, holdings)?;
        let mut tx = self.begin(user).await?;
        let written = upsert(&mut tx, user, &rows).await?;
        commit(tx).await?;
        Ok(written)
    }

    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError> {
        check_holdings(user, holdings)?;
        let rows = rows(self, holdings)?;
        // Most syncs find nothing changed: one short read then, and the batch never crosses the wire.
        let stored = stored_digests(self, user).await?;
        if already_stored(&stored, &rows) {
            return Ok(HoldingsReplaced::default());
        }
        let statement = if stored.is_empty() {
            REPLACE_ALL
        } else {
            REPLACE
        };
        let (mut tx, previous) = locked(self, user).await?;
        let replaced = replace(&mut tx, statement, user, &rows, previous).await?;
        commit(tx).await?;
        Ok(replaced)
    }

    async fn get_holding(
        &self,
        user: UserId,
        symbol: &Symbol,
        currency: Option<Currency>,
    ) -> Result<Holding, RepoError> {
        let query = sqlx::query(SELECT_ONE)
            .bind(user.into_uuid())
            .bind(symbol.as_str())
            .bind(currency.map(String::from));
        self.read_row(user, query, read_holding, "holding").await
    }

    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError> {
        let query = sqlx::query(SELECT_ALL).bind(user.into_uuid());
        self.read_rows(user, query, read_holding).await
    }
}

/// A transaction holding [`LOCK_USER`], and the `plan_cache_mode` to put back. A service-mode store outside the
/// user's lock sends `BEGIN` and the lock as one simple query (one round trip where two statements take two); the
/// transaction is the replacement's own, so the setting ends with it (the replacement's restore leaves it as it
/// is). The lock's key
/// is spelled out, not bound: it is the user's id, a UUID, whose text is hex digits and hyphens. Should the lock
/// fail, the error is the `BEGIN`'s and sqlx rolls the transaction back before the connection is reused.
async fn locked(store: &PgStore, user: UserId) -> Result<(StoreTx, String), RepoError> {
    if store.acting_as.is_none() && store.session_of(user).is_none() {
        let begin_and_lock = format!(
            "begin; select pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true) \
             from pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('{user}', 0))"
        );
        let tx = store
            .pool
            .begin_with(sqlx::AssertSqlSafe(begin_and_lock))
            .await
            .map_err(classify)?;
        return Ok((StoreTx(TxKind::Pooled(tx)), "force_generic_plan".to_owned()));
    }
    let mut tx = store.begin(user).await?;
    let (previous, _): (String, String) = sqlx::query_as(LOCK_USER)
        .bind(user.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
    Ok((tx, previous))
}

/// The batch as one statement; returns the rows inserted or changed.
async fn upsert(
    conn: &mut PgConnection,
    user: UserId,
    rows: &[Row<'_>],
) -> Result<usize, RepoError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let written = sqlx::query_with(UPSERT, batch_arguments(user, rows)?)
        .execute(conn)
        .await
        .map_err(classify)?
        .rows_affected();
    Ok(usize::try_from(written).unwrap_or(usize::MAX))
}

/// The user's holdings become the batch, in one statement ([`REPLACE`] or [`REPLACE_ALL`]): symbols it does
/// not name are removed, the rest upserted. The caller holds [`LOCK_USER`], which gave `plan_cache_mode`'s
/// `previous` value; the statement puts it back.
async fn replace(
    conn: &mut PgConnection,
    statement: &'static str,
    user: UserId,
    rows: &[Row<'_>],
    previous: String,
) -> Result<HoldingsReplaced, RepoError> {
    let mut args = batch_arguments(user, rows)?;
    add(&mut args, "plan_cache_mode", previous)?;
    let (removed, written, _): (i64, i64, String) = sqlx::query_as_with(statement, args)
        .fetch_one(conn)
        .await
        .map_err(classify)?;
    Ok(HoldingsReplaced {
        written: usize::try_from(written).unwrap_or(usize::MAX),
        removed: usize::try_from(removed).unwrap_or(usize::MAX),
    })
}

/// A holding as the statements write it: its JSON documents serialized once, for the statement and for the
/// digest alike, and its `content_digest` (migration 0012).
struct Row<'h> {
    holding: &'h NewHolding,
    contributions: Box<RawValue>,
    breakdown: Box<RawValue>,
    metadata: Box<RawValue>,
    contract: Option<Box<RawValue>>,
    account_count: i32,
    digest: ContentDigest,
}

/// A holding's `content_digest`: HMAC-SHA256 under the keyring's holdings key.
type ContentDigest = [u8; 32];

/// Each holding as a [`Row`], digested under the keyring's holdings key.
fn rows<'h>(store: &PgStore, holdings: &'h [NewHolding]) -> Result<Vec<Row<'h>>, RepoError> {
    let mac = store.keyring().holdings_digest_mac();
    holdings.iter().map(|holding| row(&mac, holding)).collect()
}

fn row<'h>(mac: &Hmac<Sha256>, holding: &'h NewHolding) -> Result<Row<'h>, RepoError> {
    let contract = holding
        .option_contract
        .as_ref()
        .map(|contract| raw_json("option_contract", contract))
        .transpose()?;
    let mut row = Row {
        holding,
        contributions: raw_json("account_contributions", &holding.account_contributions)?,
        breakdown: raw_json("institution_breakdown", &holding.institution_breakdown())?,
        metadata: raw_json("provider_metadata", &holding.provider_metadata)?,
        contract,
        account_count: i32::try_from(holding.account_count())
            .map_err(|_| RepoError::invalid("account_count", "out of range"))?,
        digest: ContentDigest::default(),
    };
    row.digest = content_digest(mac.clone(), &row);
    Ok(row)
}

/// Everything the row holds but its id, each field framed by its length. Figures are taken as the column stores
/// them (rounded to its scale, trailing zeros dropped), so `1.5` and `1.50` digest alike; any other difference
/// of spelling only costs a comparison of the data on the server, never a missed change.
fn content_digest(mac: Hmac<Sha256>, row: &Row<'_>) -> ContentDigest {
    let h = row.holding;
    let mut digest = Framed(mac);
    digest.field(h.user_id.into_uuid().as_bytes());
    digest.field(h.symbol.as_str().as_bytes());
    digest.optional(h.currency.as_ref().map(|c| c.as_str().as_bytes()));
    digest.optional(h.security_id.as_ref().map(|v| v.as_str().as_bytes()));
    digest.optional(h.security_name.as_ref().map(|v| v.as_str().as_bytes()));
    digest.optional(h.security_type.map(|t| t.as_str().as_bytes()));
    for (_, value, scale) in FIGURES {
        let stored = value(&h.figures)
            .round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero)
            .normalize();
        digest.field(&stored.serialize());
    }
    digest.field(row.contributions.get().as_bytes());
    digest.field(row.breakdown.get().as_bytes());
    digest.field(&row.account_count.to_le_bytes());
    let price_as_of = h.price_as_of.map(|at| at.timestamp_micros().to_le_bytes());
    digest.optional(price_as_of.as_ref().map(|micros| &micros[..]));
    digest.field(h.data_source.as_deref().unwrap_or("aggregated").as_bytes());
    digest.field(row.metadata.get().as_bytes());
    let symbol_id = h.universal_symbol_id.map(|id| id.into_uuid());
    digest.optional(symbol_id.as_ref().map(|id| &id.as_bytes()[..]));
    digest.optional(row.contract.as_ref().map(|c| c.get().as_bytes()));
    digest.0.finalize().into_bytes().into()
}

/// A MAC fed field by field, each framed by its length (or marked absent), so no two rows feed the same bytes.
struct Framed(Hmac<Sha256>);

impl Framed {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update(&[1]);
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn optional(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.field(bytes),
            None => self.0.update(&[0]),
        }
    }
}

fn raw_json(
    field: &'static str,
    value: &impl serde::Serialize,
) -> Result<Box<RawValue>, RepoError> {
    serde_json::value::to_raw_value(value)
        .map_err(|error| RepoError::invalid(field, error.to_string()))
}

/// How one text column of a batch reads a holding.
type TextColumn = for<'h> fn(&'h NewHolding) -> Option<&'h str>;
/// How one money or quantity column of a batch reads a holding's figures.
type FigureColumn = fn(&HoldingFigures) -> Decimal;

/// The money and quantity columns: name, how a holding's figures give it, and the column's scale.
const FIGURES: [(&str, FigureColumn, u32); 8] = [
    (
        "total_quantity",
        |f| f.total_quantity.get(),
        Quantity::SCALE,
    ),
    (
        "total_market_value",
        |f| f.total_market_value.get(),
        Amount::SCALE,
    ),
    (
        "total_cost_basis",
        |f| f.total_cost_basis.get(),
        Amount::SCALE,
    ),
    (
        "average_cost_basis",
        |f| f.average_cost_basis.get(),
        UnitCost::SCALE,
    ),
    (
        "unrealized_gain_loss",
        |f| f.unrealized_gain_loss.get(),
        SignedAmount::SCALE,
    ),
    (
        "unrealized_gain_loss_percent",
        |f| f.unrealized_gain_loss_percent.get(),
        Percent::SCALE,
    ),
    (
        "day_change_value",
        |f| f.day_change_value.get(),
        SignedAmount::SCALE,
    ),
    (
        "day_change_percent",
        |f| f.day_change_percent.get(),
        Percent::SCALE,
    ),
];

/// `$1`, the user, and the batch column by column as arrays, `$2`…`$24` in the order `incoming!` reads them.
fn batch_arguments(user: UserId, rows: &[Row<'_>]) -> Result<PgArguments, RepoError> {
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
        add(&mut args, field, column(rows, |r| value(r.holding)))?;
    }
    for (field, value, _) in FIGURES {
        add(
            &mut args,
            field,
            column(rows, |r| value(&r.holding.figures)),
        )?;
    }
    add(
        &mut args,
        "account_contributions",
        column(rows, |r| Json(&*r.contributions)),
    )?;
    add(
        &mut args,
        "institution_breakdown",
        column(rows, |r| Json(&*r.breakdown)),
    )?;
    add(
        &mut args,
        "account_count",
        column(rows, |r| r.account_count),
    )?;
    add(
        &mut args,
        "price_as_of",
        column(rows, |r| r.holding.price_as_of),
    )?;
    add(
        &mut args,
        "data_source",
        column(rows, |r| r.holding.data_source.as_deref()),
    )?;
    add(
        &mut args,
        "provider_metadata",
        column(rows, |r| Json(&*r.metadata)),
    )?;
    add(
        &mut args,
        "universal_symbol_id",
        column(rows, |r| {
            r.holding.universal_symbol_id.map(|id| id.into_uuid())
        }),
    )?;
    add(
        &mut args,
        "option_contract",
        column(rows, |r| r.contract.as_deref().map(Json)),
    )?;
    add(
        &mut args,
        "id",
        column(rows, |_| HoldingId::generate_ordered().into_uuid()),
    )?;
    add(&mut args, "content_digest", column(rows, |r| &r.digest[..]))?;
    add(
        &mut args,
        "currency",
        column(rows, |r| r.holding.currency.as_ref().map(Currency::as_str)),
    )?;
    Ok(args)
}

/// One column of the batch: `read` of every row.
fn column<'r, T>(rows: &'r [Row<'_>], read: impl Fn(&'r Row<'_>) -> T) -> Vec<T> {
    rows.iter().map(read).collect()
}

fn add<'t, T: Encode<'t, Postgres> + Type<Postgres>>(
    args: &mut PgArguments,
    field: &'static str,
    value: T,
) -> Result<(), RepoError> {
    args.add(value)
        .map_err(|error| RepoError::invalid(field, error.to_string()))
}

/// Each of the user's stored holdings' keys with its digest (`None` for a row not written by the repository). One
/// statement; in service mode outside a user's lock it runs alone on the pool (one round trip). Read without
/// the replacement's lock: a replacement that commits meanwhile simply comes after this one.
async fn stored_digests(store: &PgStore, user: UserId) -> Result<StoredDigests, RepoError> {
    let query = sqlx::query(STORED_DIGESTS).bind(user.into_uuid());
    let stored = store.read_rows(user, query, read_digest).await?;
    Ok(stored.into_iter().collect())
}

/// A stored holding's key, `(symbol, currency)`, as the column spells it.
type StoredKey = (String, Option<String>);
/// Each stored holding's digest, by key.
type StoredDigests = HashMap<StoredKey, Option<Vec<u8>>>;

/// Whether the stored holdings already are the batch: the same keys, each with the batch row's digest.
fn already_stored(stored: &StoredDigests, rows: &[Row<'_>]) -> bool {
    // Batch keys are distinct (check_holdings) and so are stored ones: same count, all found, same sets.
    stored.len() == rows.len()
        && rows.iter().all(|row| {
            let key = (
                row.holding.symbol.as_str().to_owned(),
                row.holding.currency.as_ref().map(|c| c.as_str().to_owned()),
            );
            stored.get(&key).and_then(Option::as_deref) == Some(&row.digest[..])
        })
}

fn read_digest(row: &PgRow) -> Result<(StoredKey, Option<Vec<u8>>), RepoError> {
    let c = Columns(row);
    Ok((
        (c.get("symbol")?, c.get("currency")?),
        c.get("content_digest")?,
    ))
}

fn read_holding(row: &PgRow) -> Result<Holding, RepoError> {
    let c = Columns(row);
    let account_count = c.get::<Option<i32>>("account_count")?.unwrap_or(1);
    Ok(Holding {
        id: c.id("id")?,
        user_id: c.id("user_id")?,
        symbol: c.parse("symbol", Symbol::parse)?,
        currency: c.parse_opt("currency", Currency::parse)?,
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
