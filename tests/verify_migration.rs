//! `cargo run --example verify_migration` against a database missing one object fails and names it; against the
//! full migrations it passes. Runs the example binary that `cargo test` builds beside the test binaries.

use std::path::PathBuf;
use std::process::Command;

use sqlx::PgPool;

tributary_testdb::require_database!();

fn example_binary() -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/verify_migration
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a target/<profile>/deps layout");
    profile_dir.join("examples").join("verify_migration")
}

async fn url_of(pool: &PgPool) -> sqlx::Result<String> {
    let database: String = sqlx::query_scalar("select current_database()::text")
        .fetch_one(pool)
        .await?;
    let base = std::env::var("DATABASE_URL").expect("require_database! checked it");
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL ends in /<database>");
    Ok(format!("{server}/{database}"))
}

fn verify(url: &str) -> (bool, String) {
    let output = Command::new(example_binary())
        .env("DATABASE_URL", url)
        .output()
        .expect(
            "the verify_migration example binary: a plain `cargo test` builds it; with `--test verify_migration` \
             alone, run `cargo build --example verify_migration` first",
        );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn verify_migration_passes_on_the_migrations(pool: PgPool) -> sqlx::Result<()> {
    let (ok, stdout) = verify(&url_of(&pool).await?);
    assert!(ok, "{stdout}");
    assert!(!stdout.contains('❌'), "{stdout}");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn verify_migration_fails_and_names_a_missing_view(pool: PgPool) -> sqlx::Result<()> {
    sqlx::query("drop view v_unified_investment_accounts")
        .execute(&pool)
        .await?;
    let (ok, stdout) = verify(&url_of(&pool).await?);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("❌ view v_unified_investment_accounts exists"),
        "{stdout}"
    );
    Ok(())
}
