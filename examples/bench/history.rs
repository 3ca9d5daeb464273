//! Investment transactions stored as the sync engine stores a first history: page by page through
//! `TransactionRepository::upsert_transactions`, each page its own committed batch (pages of 500, Plaid's page
//! size), against one COPY of the same rows committed once; an unchanged re-sync of the same history, which must
//! write nothing; and the process's peak memory while generating and storing the history page by page.
//!
//! The rows look like Plaid's investment transactions: buys, sells, dividends, fees, deposits, withdrawals and
//! transfers over two years, quantities with a double's digits (Plaid's own example sells 47.74104242992852
//! units), and each one's raw record (about 600 bytes of JSON) kept whole.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgPool, Row};
use tributary::domain::{
    AccountId, Currency, NewInvestmentTransaction, Provider, ProviderTransactionId, RawRecord,
    SecurityId, SignedAmount, Symbol, TransactionDescription, TransactionId, TransactionSubtype,
    TransactionType, UserId,
};
use tributary::repo::{Keyring, PgStore, SecretKey, TransactionRepository, TransactionsWritten};

use crate::holdings::escape;
use crate::memory::{memory, reset_peak_rss};
use crate::portfolio;
use crate::report::{Figure, Timed, human};

/// Plaid's page size for `/investments/transactions/get` (`options.count`, at most 500): what the engine stores
/// at a time from Plaid, and the page size of the target figure.
pub const PAGE: usize = 500;

/// The other providers' page sizes, reported beside it: Alpaca's account activities (`page_size`, 100 by
/// default) and SnapTrade's account activities (`limit`, 1,000).
const OTHER_PAGES: [(usize, &str); 2] = [(100, "Alpaca"), (1_000, "SnapTrade")];

/// Each timed figure is the median of this many runs, the runs alternating between the paths compared.
const RUNS: usize = 3;

/// COPY of every column the repository writes, in the order of [`copy_line`]; `created_at` and `updated_at`
/// take their defaults in both paths.
const COPY: &str = "copy public.investment_transactions (id, user_id, account_id, provider, \
    provider_transaction_id, trade_date, settlement_date, transaction_type, subtype, symbol, security_id, \
    quantity, price, amount, fees, currency, description, raw_provider_data) from stdin";

const MIB: f64 = 1024.0 * 1024.0;

/// Runs the history figures on a pool of its own: one connection, so every write of the section is on one
/// backend whose statistics it can flush before reading `pg_stat_user_tables`.
pub async fn run(options: &PgConnectOptions, transactions: usize) -> anyhow::Result<Vec<Figure>> {
    let pool = portfolio::bench_pool(options.clone(), 1).await?;
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    // The table is this section's alone: an earlier section's rows (the Plaid sync's) would blur its counts.
    truncate(&pool).await?;
    let user = portfolio::create_users(&pool, 1).await?[0];
    let account = plaid_account(&pool, user).await?;
    let history = History {
        user,
        account,
        transactions,
    };

    // First, while nothing of the history is held: the memory figure (storing first, so it cannot reuse what
    // generating alone freed).
    let storing = peak_growth(&history, Some(&store)).await?;
    let generating = peak_growth(&history, None).await?;
    ensure!(
        count(&pool).await? == transactions,
        "storing page by page wrote every transaction"
    );

    let all: Vec<NewInvestmentTransaction> = (0..history.pages())
        .map(|page| history.page(page))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let raw_bytes = all
        .iter()
        .map(|t| serde_json::to_string(&t.raw).map(|raw| raw.len()))
        .sum::<Result<usize, _>>()?
        / transactions.max(1);
    let page_sizes: Vec<usize> = std::iter::once(PAGE)
        .chain(OTHER_PAGES.iter().map(|(size, _)| *size))
        .collect();
    let (mut copies, mut copies_per_page) = (Vec::new(), Vec::new());
    let mut writes: Vec<Vec<Duration>> = vec![Vec::new(); page_sizes.len()];
    for _ in 0..RUNS {
        truncate(&pool).await?;
        copies.push(copy(&pool, &all, all.len()).await?);
        ensure!(count(&pool).await? == transactions, "COPY wrote every row");
        truncate(&pool).await?;
        copies_per_page.push(copy(&pool, &all, PAGE).await?);
        ensure!(
            count(&pool).await? == transactions,
            "COPY per page wrote every row"
        );
        // The target's page size last, so the table is left holding its rows for the re-sync.
        for (size, times) in page_sizes.iter().zip(writes.iter_mut()).rev() {
            truncate(&pool).await?;
            let (took, written) = store_pages(&store, &history, &all, *size).await?;
            ensure!(
                written.inserted == transactions && count(&pool).await? == transactions,
                "the repository inserted every transaction in pages of {size} ({written:?})"
            );
            times.push(took);
        }
    }

    // The table holds the repository's rows: the same history again, page by page.
    let before = table_counters(&pool).await?;
    let (mut resyncs, mut reported) = (Vec::new(), 0);
    for _ in 0..RUNS {
        let (took, written) = store_pages(&store, &history, &all, PAGE).await?;
        resyncs.push(took);
        reported += written.written();
    }
    let after = table_counters(&pool).await?;
    pool.close().await;

    let copy = Timed::new("one COPY", median(copies));
    let copy_per_page = Timed::new(
        format!("one COPY per page of {PAGE}"),
        median(copies_per_page),
    );
    let mut writes = writes
        .into_iter()
        .zip(&page_sizes)
        .map(|(times, size)| Timed::new(format!("repository, pages of {size}"), median(times)));
    let first = writes.next().context("the target's page size")?;
    let resync = Timed::new("re-sync", median(resyncs));
    let rows = format!("{transactions} transactions, raw records {raw_bytes} bytes on average");
    let inserted = after.inserted - before.inserted;
    let updated = after.updated - before.updated;
    let removed = after.deleted - before.deleted;
    let mut figures = vec![
        Figure::at_most(
            format!(
                "history write, repository in pages of {PAGE} (Plaid's), each committed, vs one COPY ({rows}), \
                 median of {RUNS}"
            ),
            first.clone(),
            copy.clone(),
            1.5,
        ),
        Figure::report(
            format!("history write, repository vs one COPY per page, each committed ({rows})"),
            first.clone(),
            copy_per_page,
        ),
    ];
    for (write, (size, provider)) in writes.zip(OTHER_PAGES) {
        figures.push(Figure::report(
            format!(
                "history write, repository in pages of {size} ({provider}'s) vs one COPY ({rows})"
            ),
            write,
            copy.clone(),
        ));
    }
    figures.push(
        Figure::limit(
            format!(
                "unchanged re-sync of {transactions} transactions in pages of {PAGE}, {RUNS} times: rows \
                 written"
            ),
            format!(
                "{resync}: {reported} reported written; n_tup_ins +{inserted}, n_tup_upd +{updated}, \
                 n_tup_del +{removed}"
            ),
            first.to_string(),
            (inserted + updated + i64::try_from(reported)?) as f64,
            0.0,
            "rows",
        )
        .requiring(if removed == 0 {
            Ok(())
        } else {
            Err(format!("{removed} rows deleted"))
        }),
    );
    figures.push(Figure::limit(
        format!(
            "history: generating and storing {transactions} transactions in pages of {PAGE}, peak RSS growth"
        ),
        format!("+{:.1} MiB in {}", storing.growth / MIB, human(storing.took)),
        format!(
            "generating alone +{:.1} MiB in {}",
            generating.growth / MIB,
            human(generating.took)
        ),
        storing.growth / MIB,
        64.0,
        "MiB",
    ));
    Ok(figures)
}

/// One user's Plaid account and the history the bench writes into it.
struct History {
    user: UserId,
    account: AccountId,
    transactions: usize,
}

impl History {
    fn pages(&self) -> usize {
        self.transactions.div_ceil(PAGE)
    }

    /// The `page`th page of the history, newest first as Plaid pages it.
    fn page(&self, page: usize) -> anyhow::Result<Vec<NewInvestmentTransaction>> {
        let start = page * PAGE;
        (start..self.transactions.min(start + PAGE))
            .map(|n| transaction(self.user, self.account, n))
            .collect()
    }
}

/// What a Plaid investment transaction looks like once mapped: the `n`th of the history, about 140 a day back
/// from the end of 2026, its kind chosen by `n`.
fn transaction(
    user: UserId,
    account: AccountId,
    n: usize,
) -> anyhow::Result<NewInvestmentTransaction> {
    const FUNDS: [(&str, &str); 5] = [
        ("MIPTX", "Matthews Pacific Tiger Fund Insti Class"),
        ("VTI", "Vanguard Total Stock Market ETF"),
        ("NFLX", "Netflix Inc."),
        ("BND", "Vanguard Total Bond Market ETF"),
        ("ACHN", "Achillion Pharmaceuticals Inc."),
    ];
    let id = format!("pK99jB9e7mtwjA435GpVuMvm{n:013}");
    let last_day = NaiveDate::from_ymd_opt(2026, 12, 4).context("date")?;
    let date = last_day
        .checked_sub_days(Days::new((n / 140) as u64))
        .context("date")?;
    let (symbol, name) = FUNDS[n % FUNDS.len()];
    let security = format!("JDdP7XPMklt5vwPmDN45t3KAoWAPmjtp{:05}", n % FUNDS.len());
    // A double's digits, as Plaid sends them: 1 to 100 units, 13 to 16 significant digits.
    let units =
        Decimal::from_str(&(1.0 + (n as f64 * 0.618_033_988_749_894_9) % 99.0).to_string())?;
    let price = Decimal::new(2_753 + (n % 9_000) as i64, 2);
    let gross = (units * price).round_dp(2);
    let fee = Decimal::new(799, 2);
    // Plaid's type and subtype, the stored type, units into the account, cash into the account, fees.
    let (kind, subtype, stored, quantity, cash, fees) = match n % 20 {
        0..=5 => (
            "buy",
            "buy",
            TransactionType::Buy,
            Some(units),
            -gross - fee,
            Some(fee),
        ),
        6..=9 => (
            "sell",
            "sell",
            TransactionType::Sell,
            Some(-units),
            gross - fee,
            Some(fee),
        ),
        10..=13 => (
            "cash",
            "dividend",
            TransactionType::Dividend,
            None,
            gross / Decimal::from(40),
            None,
        ),
        14 | 15 => ("fee", "account fee", TransactionType::Fee, None, -fee, None),
        16 | 17 => (
            "cash",
            "contribution",
            TransactionType::Deposit,
            None,
            Decimal::from(500),
            None,
        ),
        18 => (
            "cash",
            "withdrawal",
            TransactionType::Withdrawal,
            None,
            Decimal::from(-250),
            None,
        ),
        _ => (
            "transfer",
            "transfer",
            TransactionType::Transfer,
            Some(units),
            Decimal::ZERO,
            None,
        ),
    };
    let cash = cash.round_dp(2);
    let with_security = quantity.is_some() || stored == TransactionType::Dividend;
    let description = match stored {
        TransactionType::Buy => format!("BUY {name}"),
        TransactionType::Sell => format!("SELL {name}"),
        TransactionType::Dividend => format!("DIVIDEND RECEIVED {name}"),
        TransactionType::Fee => "ACCOUNT MAINTENANCE FEE".to_owned(),
        TransactionType::Deposit => "CONTRIBUTION ACH FROM CHECKING".to_owned(),
        TransactionType::Withdrawal => "WITHDRAWAL ACH TO CHECKING".to_owned(),
        _ => format!("TRANSFER IN {name}"),
    };
    let number = |value: Decimal| Number::from_str(&value.to_string()).map(Value::Number);
    let mut raw = Map::new();
    raw.insert(
        "account_id".into(),
        "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp".into(),
    );
    raw.insert("amount".into(), number(-cash)?);
    raw.insert("cancel_transaction_id".into(), Value::Null);
    raw.insert("date".into(), date.to_string().into());
    raw.insert("fees".into(), number(fees.unwrap_or_default())?);
    raw.insert("investment_transaction_id".into(), id.clone().into());
    raw.insert("iso_currency_code".into(), "USD".into());
    raw.insert("name".into(), description.clone().into());
    raw.insert(
        "price".into(),
        if quantity.is_some() {
            number(price)?
        } else {
            number(Decimal::ZERO)?
        },
    );
    raw.insert(
        "quantity".into(),
        number(quantity.map_or(Decimal::ZERO, |q| q.abs()))?,
    );
    raw.insert(
        "security_id".into(),
        if with_security {
            security.clone().into()
        } else {
            Value::Null
        },
    );
    raw.insert("subtype".into(), subtype.into());
    raw.insert(
        "transaction_datetime".into(),
        format!("{date}T14:{:02}:{:02}Z", n % 60, (n / 60) % 60).into(),
    );
    raw.insert("type".into(), kind.into());
    raw.insert("unofficial_currency_code".into(), Value::Null);
    raw.insert(
        "location".into(),
        serde_json::json!({"address": null, "city": null, "country": "US", "postal_code": null, "region": null}),
    );
    raw.insert(
        "counterparties".into(),
        serde_json::json!([{"name": "Tributary Brokerage Services LLC", "type": "financial_institution"}]),
    );
    Ok(NewInvestmentTransaction {
        settlement_date: date.checked_add_days(Days::new(2)),
        subtype: Some(TransactionSubtype::parse(subtype)?),
        symbol: if with_security {
            Some(Symbol::parse(symbol)?)
        } else {
            None
        },
        security_id: if with_security {
            Some(SecurityId::parse(&security)?)
        } else {
            None
        },
        quantity,
        price: quantity.map(|_| price),
        fees: fees.map(SignedAmount::exact).transpose()?,
        description: TransactionDescription::from_optional(Some(&description)),
        raw: RawRecord::parse(Value::Object(raw))?,
        ..NewInvestmentTransaction::new(
            user,
            account,
            Provider::Plaid,
            ProviderTransactionId::parse(&id)?,
            date,
            stored,
            SignedAmount::exact(cash)?,
            Currency::usd(),
        )
    })
}

/// Stores `transactions` in order through the repository, `page` at a time, one call (one committed batch) per
/// page, as the sync engine does. Returns the time and what the pages wrote.
async fn store_pages(
    store: &PgStore,
    history: &History,
    transactions: &[NewInvestmentTransaction],
    page: usize,
) -> anyhow::Result<(Duration, TransactionsWritten)> {
    let started = Instant::now();
    let mut total = TransactionsWritten::default();
    for page in transactions.chunks(page) {
        let written = store
            .upsert_transactions(history.user, history.account, page)
            .await?;
        total.inserted += written.inserted;
        total.updated += written.updated;
        total.unchanged += written.unchanged;
    }
    Ok((started.elapsed(), total))
}

/// `COPY … FROM STDIN` of the same rows (text format, encoding inside the time), `per_copy` rows to each COPY,
/// each COPY committed on its own.
async fn copy(
    pool: &PgPool,
    transactions: &[NewInvestmentTransaction],
    per_copy: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let mut buffer = String::with_capacity(1 << 20);
    for chunk in transactions.chunks(per_copy.max(1)) {
        let mut copy = conn.copy_in_raw(COPY).await?;
        for transaction in chunk {
            copy_line(&mut buffer, transaction)?;
            if buffer.len() > 1 << 19 {
                copy.send(buffer.as_bytes()).await?;
                buffer.clear();
            }
        }
        copy.send(buffer.as_bytes()).await?;
        buffer.clear();
        copy.finish().await?;
    }
    Ok(started.elapsed())
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_line(out: &mut String, t: &NewInvestmentTransaction) -> anyhow::Result<()> {
    let text = |value: Option<&str>| value.map_or_else(|| "\\N".to_owned(), escape);
    let decimal =
        |value: Option<Decimal>| value.map_or_else(|| "\\N".to_owned(), |d| d.to_string());
    let fields = [
        TransactionId::generate_ordered().to_string(),
        t.user_id.to_string(),
        t.account_id.to_string(),
        t.provider.as_str().to_owned(),
        escape(t.provider_transaction_id.as_str()),
        t.trade_date.to_string(),
        t.settlement_date
            .map_or_else(|| "\\N".to_owned(), |d| d.to_string()),
        escape(t.transaction_type.as_str()),
        text(t.subtype.as_ref().map(TransactionSubtype::as_str)),
        text(t.symbol.as_ref().map(Symbol::as_str)),
        text(t.security_id.as_ref().map(SecurityId::as_str)),
        decimal(t.quantity),
        decimal(t.price),
        t.amount.get().to_string(),
        decimal(t.fees.map(SignedAmount::get)),
        escape(t.currency.as_str()),
        text(t.description.as_ref().map(TransactionDescription::as_str)),
        escape(&serde_json::to_string(&t.raw)?),
    ];
    out.push_str(&fields.join("\t"));
    out.push('\n');
    Ok(())
}

/// How far the process's peak RSS rose while generating the history page by page and, with a store, storing
/// each page before generating the next.
struct Growth {
    growth: f64,
    took: Duration,
}

async fn peak_growth(history: &History, store: Option<&PgStore>) -> anyhow::Result<Growth> {
    reset_peak_rss()?;
    let start = memory("VmRSS")?;
    let started = Instant::now();
    for page in 0..history.pages() {
        let transactions = history.page(page)?;
        if let Some(store) = store {
            store
                .upsert_transactions(history.user, history.account, &transactions)
                .await?;
        }
    }
    let took = started.elapsed();
    Ok(Growth {
        growth: memory("VmHWM")? - start,
        took,
    })
}

/// The table's cumulative tuple counters, after this backend's pending statistics are flushed (the pool has one
/// connection, so every write of the section was made by it).
struct Counters {
    inserted: i64,
    updated: i64,
    deleted: i64,
}

async fn table_counters(pool: &PgPool) -> anyhow::Result<Counters> {
    let mut conn = pool.acquire().await?;
    // Flushed when the backend next goes idle: right after this statement.
    sqlx::query("select pg_catalog.pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(
        "select n_tup_ins, n_tup_upd, n_tup_del from pg_catalog.pg_stat_user_tables
         where schemaname = 'public' and relname = 'investment_transactions'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Counters {
        inserted: row.try_get(0)?,
        updated: row.try_get(1)?,
        deleted: row.try_get(2)?,
    })
}

async fn plaid_account(pool: &PgPool, user: UserId) -> anyhow::Result<AccountId> {
    let id: uuid::Uuid = sqlx::query_scalar(
        "insert into public.user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_type, is_active, account_mode,
            connection_type, connection_status)
         values ($1, 'plaid', 'BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp', 'Bench Institution', 'investment', true,
                 'plaid', 'read', 'active')
         returning id",
    )
    .bind(user.into_uuid())
    .fetch_one(pool)
    .await?;
    Ok(AccountId::new(id))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

async fn truncate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("truncate public.investment_transactions")
        .execute(pool)
        .await
        .context("emptying the transactions table")?;
    Ok(())
}

async fn count(pool: &PgPool) -> anyhow::Result<usize> {
    let rows: i64 = sqlx::query_scalar("select count(*) from public.investment_transactions")
        .fetch_one(pool)
        .await?;
    Ok(usize::try_from(rows)?)
}
