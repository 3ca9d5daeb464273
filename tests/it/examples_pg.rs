//! The examples with `DATABASE_URL` set: the quickstart's walk-through leaves the user's portfolio in
//! PostgreSQL, and `portfolio_mode`, `webhook` and `place_order` read and change it there.

use serde_json::json;
use sqlx::PgPool;
use tributary::domain::ConnectionStatus;

use crate::example_binary::{SECRET_KEY, one_line_failure, run, texts, url_of};

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

/// Runs the quickstart on the pool's database; its user's id.
async fn quickstart_on(pool: &PgPool, url: &str) -> uuid::Uuid {
    let output = run(
        "quickstart",
        &[],
        &[("DATABASE_URL", url), ("TRIBUTARY_SECRET_KEY", SECRET_KEY)],
        b"",
    );
    assert!(output.status.success(), "{}", texts(&output).1);
    sqlx::query_scalar("select id from auth.users")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn portfolio_mode_prints_the_mode_and_providers_of_a_stored_user(pool: PgPool) {
    let url = url_of(&pool).await;
    let user = quickstart_on(&pool, &url).await.to_string();

    let output = run("portfolio_mode", &[&user], &[("DATABASE_URL", &url)], b"");

    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    let alpaca: String = sqlx::query_scalar("select alpaca_account_id from user_onboarding")
        .fetch_one(&pool)
        .await
        .unwrap();
    let expected = format!(
        "user:      {user}\nmode:      hybrid\nalpaca:    yes (brokerage account {alpaca})\n\
         plaid:     yes\nsnaptrade: yes\naccounts:  5 active\n"
    );
    assert_eq!(stdout, expected);
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn portfolio_mode_of_a_database_without_the_schema_fails_with_one_line(pool: PgPool) {
    // Both places a mode is read from (migration 0025): the function, and the summary row service mode reads.
    for missing in [
        "drop function get_user_portfolio_mode(uuid)",
        "drop table user_portfolio_summary",
    ] {
        sqlx::query(missing).execute(&pool).await.unwrap();
    }
    let url = url_of(&pool).await;
    let user = uuid::Uuid::new_v4().to_string();
    let output = run("portfolio_mode", &[&user], &[("DATABASE_URL", &url)], b"");
    let reason = one_line_failure("portfolio_mode", &output);
    assert!(
        reason.starts_with("reading get_user_portfolio_mode"),
        "{reason}"
    );
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_signed_webhook_disables_the_stored_connection(pool: PgPool) {
    let url = url_of(&pool).await;
    let user = quickstart_on(&pool, &url).await;
    let authorization: uuid::Uuid =
        sqlx::query_scalar("select authorization_id from snaptrade_brokerage_connections")
            .fetch_one(&pool)
            .await
            .unwrap();
    let payload = json!({
        "webhookId": uuid::Uuid::new_v4().to_string(),
        "eventType": "CONNECTION_BROKEN",
        "eventTimestamp": chrono::Utc::now().to_rfc3339(),
        "userId": user.to_string(),
        "brokerageAuthorizationId": authorization.to_string(),
    });

    let output = run(
        "webhook",
        &["--sign"],
        &[("DATABASE_URL", &url), ("TRIBUTARY_SECRET_KEY", SECRET_KEY)],
        &serde_json::to_vec(&payload).unwrap(),
    );

    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "outcome:   connection {authorization} is now disabled"
        )),
        "{stdout}"
    );
    let (status, message): (String, Option<String>) = sqlx::query_as(
        "select status, error_message from snaptrade_brokerage_connections where authorization_id = $1",
    )
    .bind(authorization)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, ConnectionStatus::Disabled.as_str());
    assert!(message.is_some_and(|m| m.contains("reconnect")));
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn place_order_with_database_url_records_the_order_in_postgresql(pool: PgPool) {
    let url = url_of(&pool).await;

    let output = run(
        "place_order",
        &["VTI", "3", "10"],
        &[("DATABASE_URL", &url), ("TRIBUTARY_SECRET_KEY", SECRET_KEY)],
        b"",
    );

    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("store:     PostgreSQL at DATABASE_URL"),
        "{stdout}"
    );
    let (symbol, units, limit, status, raw): (String, String, String, String, serde_json::Value) =
        sqlx::query_as(
            "select symbol, units::text, limit_price::text, status, raw_order_data from snaptrade_orders",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(symbol, "VTI");
    assert_eq!(units.parse::<rust_decimal::Decimal>().unwrap(), 3.into());
    assert_eq!(limit.parse::<rust_decimal::Decimal>().unwrap(), 10.into());
    assert_eq!(status, "ACCEPTED");
    assert_eq!(raw["symbol"], "VTI");
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_quickstart_runs_again_on_the_same_database_for_a_new_user(pool: PgPool) {
    let url = url_of(&pool).await;
    quickstart_on(&pool, &url).await;
    let output = run(
        "quickstart",
        &[],
        &[("DATABASE_URL", &url), ("TRIBUTARY_SECRET_KEY", SECRET_KEY)],
        b"",
    );
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("active accounts: 5)"),
        "the second user sees only their own accounts: {stdout}"
    );
    assert_eq!(count(&pool, "auth.users").await, 2);
    assert_eq!(count(&pool, "user_investment_accounts").await, 10);
}
