//! `migrations/0009_sync_support.sql` is re-runnable: applied again over the migrated database (as a Supabase
//! user re-running the folder with psql would), it changes nothing and fails nothing.

use sqlx::PgPool;

const SYNC_SUPPORT: &str = include_str!("../../../../migrations/0009_sync_support.sql");

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn applying_0009_twice_is_harmless(pool: PgPool) -> anyhow::Result<()> {
    sqlx::query("insert into public.snaptrade_webhook_events (webhook_id, event_type) values ('id:kept', 'X')")
        .execute(&pool)
        .await?;

    sqlx::raw_sql(SYNC_SUPPORT).execute(&pool).await?;
    sqlx::raw_sql(SYNC_SUPPORT).execute(&pool).await?;

    let kept: i64 = sqlx::query_scalar("select count(*) from public.snaptrade_webhook_events")
        .fetch_one(&pool)
        .await?;
    assert_eq!(kept, 1, "re-running keeps the rows");
    let (rls, api_grants): (bool, i64) = sqlx::query_as(
        "select c.relrowsecurity,
                (select count(*) from information_schema.role_table_grants g
                 where g.table_schema = 'public' and g.table_name = 'snaptrade_webhook_events'
                   and g.grantee in ('anon', 'authenticated'))
         from pg_catalog.pg_class c where c.oid = 'public.snaptrade_webhook_events'::regclass",
    )
    .fetch_one(&pool)
    .await?;
    assert!(rls, "row-level security stays on");
    assert_eq!(api_grants, 0, "the API roles hold no privilege on it");
    Ok(())
}
