//! The performance benchmark of issue 6: each figure measured against its baseline in the same run, on the
//! same tables, printed with its ratio, its target and PASS or MISS.
//!
//! ```sh
//! cargo run --release --example bench                  # the issue's sizes
//! cargo run --release --example bench -- --scale 200   # every size divided by 200: a smoke run for CI
//! cargo run --release --example bench -- --only holdings,portfolio
//! ```
//!
//! With `DATABASE_URL` set it creates a scratch database on that server (the user must be allowed to create
//! databases), migrates it and drops it at the end; without it, it starts a throwaway PostgreSQL cluster
//! (Debian's server binaries, as `scripts/test` does). The SnapTrade and Plaid figures run against
//! `tributary-sandbox` on 127.0.0.1. Misses are reported, not fatal, unless `--strict` is given; a wrong
//! result (a row missing, a failed sync) is an error. `cargo bench` holds the micro-benchmarks (signing).

#[path = "bench/cluster.rs"]
mod cluster;
#[path = "bench/history.rs"]
mod history;
#[path = "bench/holdings.rs"]
mod holdings;
#[path = "bench/memory.rs"]
mod memory;
#[path = "bench/orders.rs"]
mod orders;
#[path = "bench/plaid.rs"]
mod plaid;
#[path = "bench/pool.rs"]
mod pool;
#[path = "bench/portfolio.rs"]
mod portfolio;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/reseal.rs"]
mod reseal;
#[path = "bench/roundtrips.rs"]
mod roundtrips;
#[path = "bench/schedule.rs"]
mod schedule;
#[path = "bench/sync.rs"]
mod sync;
#[path = "bench/webhooks.rs"]
mod webhooks;

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};
use tributary::repo::{Keyring, PgStore, SecretKey};

use report::Figure;

/// The issue's sizes, divided by `--scale`.
struct Sizes {
    holdings_users: usize,
    holdings_per_user: usize,
    users: usize,
    samples: usize,
    rls_samples: usize,
    positions_per_account: usize,
    transactions: u64,
    scheduled_users: usize,
}

impl Sizes {
    fn divided_by(scale: usize) -> Self {
        let part = |n: usize| (n / scale).max(1);
        Self {
            holdings_users: part(2_000),
            holdings_per_user: 100,
            users: part(100_000).max(part(2_000)),
            samples: part(10_000).max(100),
            rls_samples: part(1_000).max(50),
            positions_per_account: part(100),
            transactions: part(100_000) as u64,
            scheduled_users: part(100).max(10),
        }
    }
}

struct Args {
    scale: usize,
    only: Option<Vec<String>>,
    strict: bool,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut args = Args {
            scale: 1,
            only: None,
            strict: false,
        };
        let mut given = std::env::args().skip(1);
        while let Some(arg) = given.next() {
            match arg.as_str() {
                "--scale" => {
                    let value = given.next().context("--scale needs a number")?;
                    args.scale =
                        value.parse().ok().filter(|&n| n >= 1).with_context(|| {
                            format!("--scale: {value:?} is not a whole number ≥ 1")
                        })?;
                }
                "--only" => {
                    let value = given.next().context("--only needs a list")?;
                    args.only = Some(value.split(',').map(str::to_owned).collect());
                }
                "--strict" => args.strict = true,
                other => {
                    bail!("unknown argument {other:?} (expected --scale N, --only a,b, --strict)")
                }
            }
        }
        Ok(args)
    }

    fn runs(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == section))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(reason) => {
            eprintln!("bench: {reason:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    let args = Args::parse()?;
    let (server, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let cluster = cluster::ThrowawayCluster::start()?;
            (cluster.url.clone(), Some(cluster))
        }
    };
    let server = PgConnectOptions::from_str(&server)?.disable_statement_logging();
    let scratch = format!("tributary_bench_{}", std::process::id());
    let admin = portfolio::bench_pool(server.clone(), 1).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {scratch}")))
        .execute(&admin)
        .await
        .context("creating the scratch database (the DATABASE_URL user must be allowed to)")?;
    let options = server.clone().database(&scratch);
    let outcome = measure(&args, &options, cluster.is_some()).await;
    let drop_scratch = format!("drop database if exists {scratch} with (force)");
    sqlx::query(sqlx::AssertSqlSafe(drop_scratch))
        .execute(&admin)
        .await?;
    admin.close().await;
    drop(cluster);
    let figures = outcome?;
    println!(
        "\n| what | measured | against | ratio | target | result |\n|---|---|---|---|---|---|"
    );
    for figure in &figures {
        println!("{}", figure.markdown_row());
    }
    Ok(!args.strict || figures.iter().all(Figure::passed))
}

async fn measure(
    args: &Args,
    options: &PgConnectOptions,
    throwaway: bool,
) -> anyhow::Result<Vec<Figure>> {
    let sizes = Sizes::divided_by(args.scale);
    let pool = portfolio::bench_pool(options.clone(), 10).await?;
    tributary::repo::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations/")?;
    describe_server(&pool, args.scale, throwaway).await?;
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let mut figures = Vec::new();
    let mut record = |new: Vec<Figure>| {
        for figure in &new {
            println!("{figure}");
        }
        figures.extend(new);
    };
    // First, while the process is small: the memory figure.
    if args.runs("plaid") {
        record(vec![plaid::run(&pool, &store, sizes.transactions).await?]);
    }
    if args.runs("history") {
        record(history::run(options, usize::try_from(sizes.transactions)?).await?);
    }
    let users = portfolio::create_users(&pool, sizes.users).await?;
    if args.runs("schedule") {
        // Before any other section links users: the due users are this section's own.
        let linked = portfolio::create_users(&pool, sizes.scheduled_users).await?;
        record(schedule::run(&store, &linked).await?);
        record(vec![
            schedule::due_query(&pool, &store, &users, sizes.samples.min(200)).await?,
        ]);
    }
    let holders = &users[..sizes.holdings_users];
    if args.runs("holdings") || args.runs("rls") {
        let data = holdings::Portfolios::generate(holders, sizes.holdings_per_user)?;
        if args.runs("holdings") {
            record(holdings::run(&pool, &store, &data).await?);
        } else {
            holdings::write_once(&store, &data).await?;
        }
    }
    if args.runs("portfolio") || args.runs("rls") {
        portfolio::create_accounts(&pool, &users).await?;
    }
    if args.runs("portfolio") {
        record(portfolio::portfolio_mode(options, &store, &users, sizes.samples).await?);
        record(portfolio::accounts_write_cost(&store, (sizes.users / 500).clamp(10, 200)).await?);
    }
    if args.runs("pool") {
        record(pool::run(options, &users, sizes.samples).await?);
    }
    if args.runs("rls") {
        record(vec![
            portfolio::rls_reads(&store, holders, sizes.rls_samples).await?,
        ]);
    }
    if args.runs("sync") {
        let user = portfolio::create_users(&pool, 1).await?[0];
        let shape = sync::Shape {
            connections: 10,
            accounts_per_connection: 5,
            positions_per_account: sizes.positions_per_account,
            latency: Duration::from_millis(50),
        };
        record(sync::run(&store, user, &shape).await?);
    }
    // Issue 18's figures for orders, webhooks and re-sealing: N = 200 orders and deliveries, 10,000 secrets.
    if args.runs("orders") {
        record(orders::run(options, &store, (200 / args.scale).max(5)).await?);
    }
    if args.runs("webhooks") {
        record(webhooks::run(options, &store, (200 / args.scale).max(20)).await?);
    }
    if args.runs("reseal") {
        record(reseal::run(options, (10_000 / args.scale).max(50)).await?);
    }
    pool.close().await;
    Ok(figures)
}

/// The server and its settings that move the numbers.
async fn describe_server(pool: &PgPool, scale: usize, throwaway: bool) -> anyhow::Result<()> {
    let version: String = sqlx::query_scalar("select version()")
        .fetch_one(pool)
        .await?;
    let settings: Vec<(String, String)> = sqlx::query_as(
        "select name, setting || coalesce(unit, '') from pg_catalog.pg_settings
         where name in ('fsync', 'synchronous_commit', 'shared_buffers', 'work_mem') order by name",
    )
    .fetch_all(pool)
    .await?;
    let settings: Vec<String> = settings.iter().map(|(n, v)| format!("{n}={v}")).collect();
    println!(
        "bench --scale {scale}: {} on {}; {}\n",
        if throwaway {
            "throwaway cluster"
        } else {
            "DATABASE_URL server"
        },
        version.split(" on ").next().unwrap_or(&version),
        settings.join(" ")
    );
    Ok(())
}
