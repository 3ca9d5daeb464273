//! Verifies that the database at `DATABASE_URL` holds Tributary's schema: each table, each new column, the view,
//! the function, RLS on every table, the view's `security_invoker` and pinned `search_path`s. One line per check;
//! exits non-zero if any fails.
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --example verify_migration [-- --migrate]
//! ```

use std::process::ExitCode;

use tributary::repo::{MIGRATOR, schema_check::verify_schema};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(reason) => {
            eprintln!("verify_migration: {reason}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        anyhow::anyhow!("DATABASE_URL is not set; point it at the database to verify")
    })?;
    let pool = sqlx::PgPool::connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to DATABASE_URL: {e}"))?;
    if std::env::args().any(|arg| arg == "--migrate") {
        MIGRATOR.run(&pool).await?;
        println!("migrations applied");
    }
    let checks = verify_schema(&pool).await;
    for check in &checks {
        println!("{} {}", if check.passed { "✅" } else { "❌" }, check.name);
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    println!(
        "{} of {} checks passed",
        checks.len() - failed,
        checks.len()
    );
    Ok(failed == 0)
}
