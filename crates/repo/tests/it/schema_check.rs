//! `verify_schema` passes on the migrations and names what is missing when an object is gone.

use sqlx::PgPool;
use tributary_repo::schema_check::verify_schema;

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_check_passes_on_the_migrated_schema(pool: PgPool) -> sqlx::Result<()> {
    let checks = verify_schema(&pool).await;
    assert!(checks.len() > 20);
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "{failed:?}");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_dropped_view_and_a_leaky_view_are_reported(pool: PgPool) -> sqlx::Result<()> {
    sqlx::query("alter view v_unified_investment_accounts reset (security_invoker)")
        .execute(&pool)
        .await?;
    sqlx::query("alter table snaptrade_orders disable row level security")
        .execute(&pool)
        .await?;
    let failed: Vec<String> = verify_schema(&pool)
        .await
        .into_iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        failed,
        [
            "RLS is enabled on snaptrade_orders",
            "view v_unified_investment_accounts runs with security_invoker"
        ]
    );
    sqlx::query("drop view v_unified_investment_accounts")
        .execute(&pool)
        .await?;
    let failed = verify_schema(&pool)
        .await
        .into_iter()
        .filter(|c| !c.passed)
        .count();
    assert_eq!(failed, 3, "the view's existence check fails too");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_decimal_column_narrower_than_its_domain_type_is_reported(
    pool: PgPool,
) -> sqlx::Result<()> {
    // As before migration 0017: a 9-decimal crypto quantity would be rounded into this column.
    sqlx::query(
        "alter table user_aggregated_holdings alter column total_quantity type numeric(20, 8)",
    )
    .execute(&pool)
    .await?;
    let failed: Vec<String> = verify_schema(&pool)
        .await
        .into_iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        failed,
        ["column user_aggregated_holdings.total_quantity is numeric(28,10)"]
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_bounded_transaction_quantity_and_a_history_table_without_rls_are_reported(
    pool: PgPool,
) -> sqlx::Result<()> {
    // Plaid's example quantity, 47.74104242992852, would be rounded into this column.
    sqlx::query("alter table investment_transactions alter column quantity type numeric(24, 10)")
        .execute(&pool)
        .await?;
    sqlx::query("alter table portfolio_value_history disable row level security")
        .execute(&pool)
        .await?;
    let failed: Vec<String> = verify_schema(&pool)
        .await
        .into_iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        failed,
        [
            "RLS is enabled on portfolio_value_history",
            "column investment_transactions.quantity is numeric"
        ]
    );
    Ok(())
}
