//! Holdings writes: the repository's batch path (`replace_holdings`, what sync uses) one user at a time against one
//! `COPY` per user of the same rows, each committed (the target), four users at a time against one `COPY` of all
//! rows, a naive per-row upsert loop for information, and an unchanged re-sync against the first write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{Connection, PgPool};
use tributary::domain::{
    AccountContribution, AccountId, Amount, Currency, HoldingFigures, HoldingId, InstitutionName,
    NewHolding, Quantity, SecurityId, SecurityName, SecurityType, Symbol, UserId,
};
use tributary::repo::{HoldingRepository, PgStore};

use crate::report::{Figure, Timed, quantile};

/// Every holdings column the repository writes, in the order of [`copy_line`]. `id` too: the repository gives
/// new rows time-ordered ids, and COPY and the per-row loop get the same kind, so all three write the same rows.
const COLUMNS: &str = "id, user_id, symbol, security_id, security_name, security_type, total_quantity, \
    total_market_value, total_cost_basis, average_cost_basis, unrealized_gain_loss, \
    unrealized_gain_loss_percent, day_change_value, day_change_percent, account_contributions, \
    institution_breakdown, account_count, price_as_of, data_source, provider_metadata, universal_symbol_id, \
    option_contract, currency";

/// What a naive client does: one autocommitted upsert per row, rewriting the row whatever it held.
const NAIVE_UPSERT: &str = "
insert into public.user_aggregated_holdings
  (user_id, symbol, security_id, security_name, security_type, total_quantity, total_market_value,
   total_cost_basis, average_cost_basis, unrealized_gain_loss, unrealized_gain_loss_percent, day_change_value,
   day_change_percent, account_contributions, institution_breakdown, account_count, price_as_of, data_source,
   provider_metadata, id, currency)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
on conflict (user_id, symbol, currency) do update set
  security_id = excluded.security_id, security_name = excluded.security_name,
  security_type = excluded.security_type, total_quantity = excluded.total_quantity,
  total_market_value = excluded.total_market_value, total_cost_basis = excluded.total_cost_basis,
  average_cost_basis = excluded.average_cost_basis, unrealized_gain_loss = excluded.unrealized_gain_loss,
  unrealized_gain_loss_percent = excluded.unrealized_gain_loss_percent,
  day_change_value = excluded.day_change_value, day_change_percent = excluded.day_change_percent,
  account_contributions = excluded.account_contributions, institution_breakdown = excluded.institution_breakdown,
  account_count = excluded.account_count, price_as_of = excluded.price_as_of, data_source = excluded.data_source,
  provider_metadata = excluded.provider_metadata";

/// Each user's holdings, as a sync would hand them to the repository.
pub struct Portfolios {
    pub by_user: Arc<Vec<(UserId, Vec<NewHolding>)>>,
}

impl Portfolios {
    /// `per_user` holdings for each of `users`, every figure different, one or two contributing accounts.
    pub fn generate(users: &[UserId], per_user: usize) -> anyhow::Result<Self> {
        let as_of: DateTime<Utc> = "2026-11-24T21:00:00Z".parse()?;
        let institutions = [
            InstitutionName::parse("Vanguard")?,
            InstitutionName::parse("Charles Schwab")?,
        ];
        let mut by_user = Vec::with_capacity(users.len());
        for (u, &user) in users.iter().enumerate() {
            let accounts = [AccountId::generate(), AccountId::generate()];
            let mut holdings = Vec::with_capacity(per_user);
            for s in 0..per_user {
                let seed = Decimal::from(u * per_user + s + 1);
                let quantity = Quantity::new(seed / Decimal::from(7))?;
                let value = Amount::new((seed * Decimal::new(1234, 2)).round_dp(2))?;
                let cost = Amount::new((seed * Decimal::new(1111, 2)).round_dp(2))?;
                let mut holding = NewHolding::new(
                    user,
                    Symbol::parse(&format!("SYM{s:04}"))?,
                    HoldingFigures::derive(quantity, value, cost)?,
                );
                holding.security_id = Some(SecurityId::parse(&format!("sec-{s}"))?);
                holding.security_name = Some(SecurityName::parse(&format!("Security number {s}"))?);
                holding.security_type = Some(if s % 5 == 0 {
                    SecurityType::Etf
                } else {
                    SecurityType::Equity
                });
                holding.price_as_of = Some(as_of);
                holding.currency = Some(Currency::usd());
                let accounts_holding = if s % 3 == 0 { 2 } else { 1 };
                for (a, account) in accounts.iter().enumerate().take(accounts_holding) {
                    let share = Decimal::from(accounts_holding as u32);
                    holding.account_contributions.push(AccountContribution {
                        account_id: *account,
                        institution: institutions[a].clone(),
                        quantity: Quantity::new(quantity.get() / share)?,
                        market_value: Amount::new(value.get() / share)?,
                        cost_basis: Amount::new(cost.get() / share)?,
                    });
                }
                holdings.push(holding);
            }
            by_user.push((user, holdings));
        }
        Ok(Self {
            by_user: Arc::new(by_user),
        })
    }

    /// The first `users` users' holdings.
    pub fn first(&self, users: usize) -> Self {
        Self {
            by_user: Arc::new(self.by_user.iter().take(users).cloned().collect()),
        }
    }

    pub fn rows(&self) -> usize {
        self.by_user.iter().map(|(_, h)| h.len()).sum()
    }
}

/// How many users the concurrent batch run writes at once: a service syncing many users runs a few syncs side
/// by side (the pool has 10 connections; the machine has few cores).
pub const WRITERS: usize = 4;

/// Each write figure is the median of this many runs, the runs alternating between the paths compared, so one
/// noisy moment on a shared machine (a flush that stalls, another build) does not decide a figure alone. The
/// per-row loop, information only and the slowest by far, runs once, over a sample of the users.
const RUNS: usize = 3;

/// The per-row loop runs over one user in this many.
const PER_ROW_SAMPLE: usize = 10;

/// Runs the holdings pairs; leaves the table holding the repository's rows (for the read benchmarks).
pub async fn run(pool: &PgPool, store: &PgStore, data: &Portfolios) -> anyhow::Result<Vec<Figure>> {
    let (rows, users) = (data.rows(), data.by_user.len());
    let (mut copies, mut copies_per_user) = (Vec::new(), Vec::new());
    let (mut side_by_sides, mut firsts) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        truncate(pool).await?;
        copies.push(copy(pool, data).await?);
        ensure!(count(pool).await? == rows, "COPY wrote every row");
        truncate(pool).await?;
        let (took, written) = batch(store, data, WRITERS).await?;
        ensure!(written == rows, "the concurrent batch path wrote every row");
        side_by_sides.push(took);
        // The pair the target compares, one right after the other; the batch path last, so the table is left
        // holding its rows for the re-sync.
        truncate(pool).await?;
        copies_per_user.push(copy_per_user(pool, data).await?);
        ensure!(count(pool).await? == rows, "COPY per user wrote every row");
        truncate(pool).await?;
        let (took, written) = batch(store, data, 1).await?;
        ensure!(
            written == rows && count(pool).await? == rows,
            "the batch path wrote every row"
        );
        firsts.push(took);
    }
    let median = |mut samples: Vec<Duration>| quantile(&mut samples, 0.5);
    let copy = Timed::new("one COPY", median(copies));
    let copy_per_user = Timed::new("one COPY per user, each committed", median(copies_per_user));
    let side_by_side = Timed::new(
        format!("batch, {WRITERS} users at a time"),
        median(side_by_sides),
    );
    let first = Timed::new("batch, one user at a time", median(firsts));
    snapshot(pool).await?;
    let (resync, rewritten) = batch(store, data, 1).await?;
    let resync = Timed::new("re-sync", resync);
    let untouched = unchanged_since_snapshot(pool).await?;
    // The per-row loop over a tenth of the users (it takes minutes over all of them), against the batch path
    // over the same users, right after it.
    let sample = data.first(users.div_ceil(PER_ROW_SAMPLE));
    truncate(pool).await?;
    let naive = Timed::new("per-row", naive(pool, &sample).await?);
    ensure!(
        count(pool).await? == sample.rows(),
        "the per-row loop wrote every row"
    );
    truncate(pool).await?;
    let (took, _) = batch(store, &sample, 1).await?;
    let sample_batch = Timed::new("batch, one user at a time", took);
    // The read benchmarks need the repository's own rows.
    truncate(pool).await?;
    batch(store, data, WRITERS).await?;
    analyze(pool).await?;
    let sizes = format!("{rows} holdings, {users} users");
    Ok(vec![
        Figure::at_most(
            format!(
                "holdings write, batch path one user at a time vs one COPY per user, each committed \
                 ({sizes}), median of {RUNS}"
            ),
            first.clone(),
            copy_per_user,
            1.3,
        ),
        Figure::at_most(
            format!(
                "holdings write, batch path ({WRITERS} syncs at once) vs one COPY ({sizes}), median of {RUNS}"
            ),
            side_by_side,
            copy.clone(),
            1.5,
        ),
        Figure::report(
            format!("holdings write, batch path one user at a time vs one COPY ({sizes})"),
            first.clone(),
            copy,
        ),
        Figure::report(
            format!(
                "holdings write, naive per-row upsert vs batch path, both one at a time ({} holdings, \
                 {} users)",
                sample.rows(),
                sample.by_user.len()
            ),
            naive,
            sample_batch,
        ),
        Figure::at_most(
            "re-sync with nothing changed vs first write",
            resync,
            first,
            0.5,
        )
        .requiring(if rewritten == 0 && untouched.is_ok() {
            Ok(())
        } else {
            Err(format!(
                "{rewritten} rows reported written; {}",
                untouched.err().unwrap_or_default()
            ))
        }),
    ])
}

/// Writes the rows once through the batch path (for the read benchmarks when the write ones are skipped).
pub async fn write_once(store: &PgStore, data: &Portfolios) -> anyhow::Result<()> {
    batch(store, data, WRITERS).await?;
    Ok(())
}

/// The batch path: one `replace_holdings` per user, as the sync engine calls it, `writers` users at a time.
/// Returns the time and the rows written.
async fn batch(
    store: &PgStore,
    data: &Portfolios,
    writers: usize,
) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let (store, by_user) = (store.clone(), Arc::clone(&data.by_user));
        tasks.spawn(async move {
            let mut written = 0;
            for (user, holdings) in by_user.iter().skip(writer).step_by(writers) {
                written += store.replace_holdings(*user, holdings).await?.written;
            }
            Ok::<_, tributary::repo::RepoError>(written)
        });
    }
    let mut written = 0;
    while let Some(done) = tasks.join_next().await {
        written += done??;
    }
    Ok((started.elapsed(), written))
}

/// `COPY … FROM STDIN` of the same rows, text format, encoding included in the time.
async fn copy(pool: &PgPool, data: &Portfolios) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let statement = format!("copy public.user_aggregated_holdings ({COLUMNS}) from stdin");
    let mut copy = conn.copy_in_raw(&statement).await?;
    let mut buffer = String::with_capacity(1 << 20);
    for (_, holdings) in data.by_user.iter() {
        for holding in holdings {
            copy_line(&mut buffer, holding)?;
        }
        if buffer.len() > 1 << 19 {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    copy.send(buffer.as_bytes()).await?;
    copy.finish().await?;
    Ok(started.elapsed())
}

/// Each user's rows in a transaction of their own, `BEGIN; COPY … FROM STDIN; COMMIT`, one user after another on
/// one connection, as a writer that commits per user would with the fastest bulk load PostgreSQL has; encoding
/// inside the time.
async fn copy_per_user(pool: &PgPool, data: &Portfolios) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let statement = format!("copy public.user_aggregated_holdings ({COLUMNS}) from stdin");
    let mut buffer = String::with_capacity(1 << 16);
    for (_, holdings) in data.by_user.iter() {
        let mut tx = conn.begin().await?;
        buffer.clear();
        for holding in holdings {
            copy_line(&mut buffer, holding)?;
        }
        let mut copy = tx.copy_in_raw(&statement).await?;
        copy.send(buffer.as_bytes()).await?;
        copy.finish().await?;
        tx.commit().await?;
    }
    Ok(started.elapsed())
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_line(out: &mut String, h: &NewHolding) -> anyhow::Result<()> {
    let f = &h.figures;
    let text = |value: Option<&str>| value.map(escape).unwrap_or_else(|| "\\N".to_owned());
    let fields = [
        HoldingId::generate_ordered().to_string(),
        h.user_id.to_string(),
        escape(h.symbol.as_str()),
        text(h.security_id.as_ref().map(|v| v.as_str())),
        text(h.security_name.as_ref().map(|v| v.as_str())),
        text(h.security_type.map(|t| t.as_str())),
        f.total_quantity.get().to_string(),
        f.total_market_value.get().to_string(),
        f.total_cost_basis.get().to_string(),
        f.average_cost_basis.get().to_string(),
        f.unrealized_gain_loss.get().to_string(),
        f.unrealized_gain_loss_percent.get().to_string(),
        f.day_change_value.get().to_string(),
        f.day_change_percent.get().to_string(),
        escape(&serde_json::to_string(&h.account_contributions)?),
        escape(&serde_json::to_string(&h.institution_breakdown())?),
        h.account_count().to_string(),
        text(h.price_as_of.map(|t| t.to_rfc3339()).as_deref()),
        escape(h.data_source.as_deref().unwrap_or("aggregated")),
        escape(&serde_json::to_string(&h.provider_metadata)?),
        text(h.universal_symbol_id.map(|id| id.to_string()).as_deref()),
        text(
            h.option_contract
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?
                .as_deref(),
        ),
        text(h.currency.as_ref().map(|c| c.as_str())),
    ];
    out.push_str(&fields.join("\t"));
    out.push('\n');
    Ok(())
}

/// A value in COPY's text format: backslash, tab and line ends escaped.
pub fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// One autocommitted upsert per row.
async fn naive(pool: &PgPool, data: &Portfolios) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for (user, holdings) in data.by_user.iter() {
        for h in holdings {
            let f = &h.figures;
            sqlx::query(NAIVE_UPSERT)
                .bind(user.into_uuid())
                .bind(h.symbol.as_str())
                .bind(h.security_id.as_ref().map(|v| v.as_str()))
                .bind(h.security_name.as_ref().map(|v| v.as_str()))
                .bind(h.security_type.map(|t| t.as_str()))
                .bind(f.total_quantity.get())
                .bind(f.total_market_value.get())
                .bind(f.total_cost_basis.get())
                .bind(f.average_cost_basis.get())
                .bind(f.unrealized_gain_loss.get())
                .bind(f.unrealized_gain_loss_percent.get())
                .bind(f.day_change_value.get())
                .bind(f.day_change_percent.get())
                .bind(serde_json::to_value(&h.account_contributions)?)
                .bind(serde_json::to_value(h.institution_breakdown())?)
                .bind(i32::try_from(h.account_count())?)
                .bind(h.price_as_of)
                .bind(h.data_source.as_deref().unwrap_or("aggregated"))
                .bind(serde_json::Value::Object(h.provider_metadata.clone()))
                .bind(HoldingId::generate_ordered().into_uuid())
                .bind(h.currency.as_ref().map(|c| c.as_str()))
                .execute(pool)
                .await?;
        }
    }
    Ok(started.elapsed())
}

/// Every row's id, row version (`xmin`) and `updated_at`, to tell afterwards whether any was rewritten.
async fn snapshot(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("drop table if exists bench_holdings_before")
        .execute(pool)
        .await?;
    sqlx::query(
        "create unlogged table bench_holdings_before as
         select id, xmin::text as row_version, updated_at from public.user_aggregated_holdings",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// `Err` naming how many rows changed row version or `updated_at` since [`snapshot`].
async fn unchanged_since_snapshot(pool: &PgPool) -> anyhow::Result<Result<(), String>> {
    let (rewritten, touched): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where b.row_version is distinct from h.xmin::text),
                count(*) filter (where b.updated_at is distinct from h.updated_at)
         from public.user_aggregated_holdings h full join bench_holdings_before b using (id)",
    )
    .fetch_one(pool)
    .await?;
    sqlx::query("drop table bench_holdings_before")
        .execute(pool)
        .await?;
    Ok(if rewritten == 0 && touched == 0 {
        Ok(())
    } else {
        Err(format!(
            "{rewritten} rows rewritten, {touched} with a new updated_at"
        ))
    })
}

async fn truncate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("truncate public.user_aggregated_holdings")
        .execute(pool)
        .await
        .context("emptying the holdings table")?;
    Ok(())
}

async fn analyze(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("vacuum analyze public.user_aggregated_holdings")
        .execute(pool)
        .await?;
    Ok(())
}

async fn count(pool: &PgPool) -> anyhow::Result<usize> {
    let rows: i64 = sqlx::query_scalar("select count(*) from public.user_aggregated_holdings")
        .fetch_one(pool)
        .await?;
    Ok(usize::try_from(rows)?)
}
