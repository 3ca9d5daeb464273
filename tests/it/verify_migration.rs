//! `cargo run --example verify_migration` against a database missing one object fails and names it; against the
//! full migrations it passes. Runs the example binary that `cargo test` builds beside the test binaries.

use sqlx::PgPool;

use crate::example_binary::{run, texts, url_of};

fn verify(url: &str) -> (bool, String) {
    let output = run("verify_migration", &[], &[("DATABASE_URL", url)], b"");
    (output.status.success(), texts(&output).0)
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn verify_migration_passes_on_the_migrations(pool: PgPool) -> sqlx::Result<()> {
    let (ok, stdout) = verify(&url_of(&pool).await);
    assert!(ok, "{stdout}");
    assert!(!stdout.contains('❌'), "{stdout}");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn verify_migration_fails_and_names_a_missing_view(pool: PgPool) -> sqlx::Result<()> {
    sqlx::query("drop view v_unified_investment_accounts")
        .execute(&pool)
        .await?;
    let (ok, stdout) = verify(&url_of(&pool).await);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("❌ view v_unified_investment_accounts exists"),
        "{stdout}"
    );
    Ok(())
}
