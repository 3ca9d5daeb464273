//! Quickstart: Tributary's schema on a real PostgreSQL, seen the way a Supabase client sees it.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With `DATABASE_URL` set it uses that database (applying the migrations first). Without it, it starts a
//! throwaway PostgreSQL cluster from the server binaries under /usr/lib/postgresql (Debian's `postgresql`
//! package) in a temporary directory and removes it at the end. It then walks one user through the schema: a
//! Plaid account, a SnapTrade brokerage connection with an account, an Alpaca brokerage account, aggregated
//! holdings, and prints the portfolio mode and the unified accounts as that user (through row-level security),
//! and shows that a second user sees none of it.
//!
//! The accounts are written straight into the tables here; fetching them from the providers is the sync
//! engine's job.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use sqlx::{PgPool, Row};
use uuid::Uuid;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("quickstart: {reason:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let (url, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            println!("store: PostgreSQL at DATABASE_URL");
            (url, None)
        }
        _ => {
            let cluster = ThrowawayCluster::start()?;
            println!("store: a throwaway PostgreSQL cluster on {}", cluster.url);
            (cluster.url.clone(), Some(cluster))
        }
    };
    let outcome = walk_through(&url).await;
    drop(cluster);
    outcome
}

async fn walk_through(url: &str) -> anyhow::Result<()> {
    let pool = PgPool::connect(url)
        .await
        .context("cannot connect to the database")?;
    tributary::repo::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations/")?;
    println!("migrations applied\n");

    let user = new_user(&pool, "ada").await?;
    let stranger = new_user(&pool, "eve").await?;
    seed_portfolio(&pool, user).await?;

    let mut tx = pool.begin().await?;
    act_as(&mut tx, user).await?;
    let mode = sqlx::query("select * from get_user_portfolio_mode($1)")
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
    println!(
        "portfolio mode: {} (alpaca: {}, plaid: {}, snaptrade: {}, active accounts: {})",
        mode.get::<String, _>("mode"),
        mode.get::<bool, _>("has_alpaca"),
        mode.get::<bool, _>("has_plaid"),
        mode.get::<bool, _>("has_snaptrade"),
        mode.get::<i32, _>("accounts_count"),
    );
    print_unified_accounts(&mut tx).await?;
    print_holdings(&mut tx).await?;
    tx.rollback().await?;

    let mut tx = pool.begin().await?;
    act_as(&mut tx, stranger).await?;
    let seen: i64 = sqlx::query_scalar("select count(*) from v_unified_investment_accounts")
        .fetch_one(&mut *tx)
        .await?;
    let peek = sqlx::query("select * from get_user_portfolio_mode($1)")
        .bind(user)
        .fetch_one(&mut *tx)
        .await;
    println!(
        "\nanother signed-in user sees {seen} of those accounts, and asking for the first user's mode is {}",
        if peek.is_err() {
            "refused"
        } else {
            "ALLOWED (a bug)"
        }
    );
    if seen != 0 || peek.is_ok() {
        bail!("row-level security let another user see this user's data");
    }
    Ok(())
}

async fn new_user(pool: &PgPool, name: &str) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query("insert into auth.users (id, email) values ($1, $2)")
        .bind(id)
        .bind(format!("{name}-{id}@example.invalid"))
        .execute(pool)
        .await?;
    Ok(id)
}

/// What a sync would leave behind for a user with Plaid, SnapTrade and an Alpaca brokerage account.
async fn seed_portfolio(pool: &PgPool, user: Uuid) -> anyhow::Result<()> {
    let authorization = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    sqlx::query("insert into user_onboarding (user_id, status, alpaca_account_id) values ($1, 'approved', $2)")
        .bind(user)
        .bind("b2f8c1a4-alpaca")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into snaptrade_brokerage_connections
           (user_id, authorization_id, brokerage_slug, brokerage_name, connection_type, accounts_count, last_synced_at)
         values ($1, $2, 'SCHWAB', 'Charles Schwab', 'trade', 1, now())",
    )
    .bind(user)
    .bind(authorization)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_name, account_type, account_mode,
            snaptrade_authorization_id, brokerage_name, connection_type)
         values ($1, 'plaid', 'plaid-acc-1', 'Vanguard', 'Roth IRA', 'ira', 'plaid', null, null, 'read'),
                ($1, 'snaptrade', 'snap-acc-1', 'Charles Schwab', 'Individual', 'brokerage', 'snaptrade', $2,
                 'Charles Schwab', 'trade')",
    )
    .bind(user)
    .bind(authorization)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into user_aggregated_holdings
           (user_id, symbol, security_name, security_type, total_quantity, total_market_value, total_cost_basis,
            account_count)
         values ($1, 'VTI', 'Vanguard Total Stock Market ETF', 'etf', 42.5, 12346.25, 9800.00, 2),
                ($1, 'AAPL', 'Apple Inc.', 'equity', 10, 2291.40, 1500.00, 1)",
    )
    .bind(user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Switches the transaction to a signed-in user the way PostgREST does for a Supabase client.
async fn act_as(tx: &mut sqlx::PgConnection, user: Uuid) -> anyhow::Result<()> {
    sqlx::query("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)")
        .bind(serde_json_claims(user))
        .execute(tx)
        .await?;
    Ok(())
}

fn serde_json_claims(user: Uuid) -> String {
    format!(r#"{{"sub":"{user}","role":"authenticated"}}"#)
}

async fn print_unified_accounts(tx: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    println!(
        "\n{:<10} {:<16} {:<12} {:<6} connection",
        "provider", "institution", "account", "type"
    );
    let rows = sqlx::query(
        "select provider, institution_name, account_name, connection_type,
                coalesce(brokerage_connection_status, '-') as health
         from v_unified_investment_accounts order by provider",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        println!(
            "{:<10} {:<16} {:<12} {:<6} {}",
            row.get::<String, _>("provider"),
            row.get::<String, _>("institution_name"),
            row.get::<Option<String>, _>("account_name")
                .unwrap_or_default(),
            row.get::<Option<String>, _>("connection_type")
                .unwrap_or_default(),
            row.get::<String, _>("health"),
        );
    }
    Ok(())
}

async fn print_holdings(tx: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    println!(
        "\n{:<6} {:>14} {:>14} {:>14}",
        "symbol", "quantity", "market value", "cost basis"
    );
    let rows = sqlx::query(
        "select symbol, total_quantity::text as q, total_market_value::text as v, total_cost_basis::text as c
         from user_aggregated_holdings order by total_market_value desc",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        println!(
            "{:<6} {:>14} {:>14} {:>14}",
            row.get::<String, _>("symbol"),
            row.get::<String, _>("q"),
            row.get::<String, _>("v"),
            row.get::<String, _>("c"),
        );
    }
    Ok(())
}

/// A PostgreSQL cluster in a temporary directory, stopped and deleted on drop.
struct ThrowawayCluster {
    dir: PathBuf,
    bin: PathBuf,
    url: String,
}

impl ThrowawayCluster {
    fn start() -> anyhow::Result<Self> {
        let bin = postgres_bin_dir().context(
            "DATABASE_URL is not set and PostgreSQL's server binaries are not installed \
             (Debian/Ubuntu: sudo apt-get install postgresql)",
        )?;
        let dir =
            std::env::temp_dir().join(format!("tributary-quickstart-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let cluster = ThrowawayCluster {
            dir,
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        if running_as_root() {
            run_command(Command::new("chown").arg("postgres").arg(&cluster.dir))?;
        }
        let data = cluster.dir.join("data");
        run_command(cluster.as_owner("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]))?;
        run_command(
            cluster
                .as_owner("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.dir.join("server.log"))
                .args(["-w", "-o"])
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1",
                    cluster.dir.display()
                ))
                .arg("start"),
        )?;
        Ok(cluster)
    }

    /// initdb refuses to run as root; Debian's package creates the `postgres` user for this.
    fn as_owner(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|dir| major_version(dir));
    dirs.pop()
}

fn major_version(bin: &Path) -> u32 {
    bin.parent()
        .and_then(|dir| dir.file_name())
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn run_command(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
