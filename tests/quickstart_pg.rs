//! `cargo run --example quickstart` with `DATABASE_URL` set: the same walk-through on PostgreSQL, leaving the
//! user's portfolio in the tables.

mod example_binary;

use example_binary::{SECRET_KEY, run, texts, url_of};
use sqlx::PgPool;

tributary_testdb::require_database!();

async fn count(pool: &PgPool, table: &str) -> i64 {
    let sql = format!("select count(*) from {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn with_database_url_the_quickstart_leaves_the_portfolio_in_postgresql(pool: PgPool) {
    let url = url_of(&pool).await;
    let output = run(
        "quickstart",
        &[],
        &[("DATABASE_URL", &url), ("TRIBUTARY_SECRET_KEY", SECRET_KEY)],
        b"",
    );
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "exit {}: {stderr}", output.status);
    assert!(
        stdout.starts_with("store:     PostgreSQL at DATABASE_URL"),
        "{stdout}"
    );
    assert!(stdout.contains("portfolio mode: hybrid"), "{stdout}");

    assert_eq!(count(&pool, "auth.users").await, 1);
    let user: uuid::Uuid = sqlx::query_scalar("select id from auth.users")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("select mode from get_user_portfolio_mode($1)")
        .bind(user)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "hybrid");
    assert_eq!(count(&pool, "v_unified_investment_accounts").await, 5);
    assert_eq!(count(&pool, "snaptrade_brokerage_connections").await, 1);
    assert!(count(&pool, "user_aggregated_holdings").await > 0);
    let statuses: Vec<String> = sqlx::query_scalar("select status from snaptrade_orders")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(statuses, ["CANCELED"], "the quickstart's order, cancelled");
    let sealed: String = sqlx::query_scalar("select snaptrade_user_secret from snaptrade_users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(sealed.starts_with("v1:"), "the SnapTrade secret is sealed");
}
