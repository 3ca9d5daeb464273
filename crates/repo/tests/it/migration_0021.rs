//! `migrations/0021_webhook_inbox_providers.sql`: the webhook inbox serves every provider. Rows from before it
//! (and inserts of a release that names no provider) are SnapTrade's, the provider is part of the key and closed
//! to the providers that send webhooks, and applying it again changes nothing.

use sqlx::PgPool;

const INBOX_PROVIDERS: &str =
    include_str!("../../../../migrations/0021_webhook_inbox_providers.sql");

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_delivery_that_names_no_provider_is_snaptrades_and_the_provider_is_in_the_key(
    pool: PgPool,
) -> anyhow::Result<()> {
    sqlx::query(
        "insert into public.snaptrade_webhook_events (webhook_id, event_type) values ('d-1', 'X')",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "insert into public.snaptrade_webhook_events (provider, webhook_id, event_type) values ('plaid', 'd-1', 'X')",
    )
    .execute(&pool)
    .await?;
    let providers: Vec<String> = sqlx::query_scalar(
        "select provider from public.snaptrade_webhook_events where webhook_id = 'd-1' order by provider",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(providers, ["plaid", "snaptrade"]);

    let again = sqlx::query(
        "insert into public.snaptrade_webhook_events (provider, webhook_id, event_type) values ('plaid', 'd-1', 'X')",
    )
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(
        again.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505"),
        "one provider's delivery id is recorded once"
    );
    let alpaca = sqlx::query(
        "insert into public.snaptrade_webhook_events (provider, webhook_id, event_type) values ('alpaca', 'd-2', 'X')",
    )
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(
        alpaca.as_database_error().and_then(|e| e.constraint()),
        Some("snaptrade_webhook_events_provider_check")
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn applying_0021_again_keeps_every_row_and_the_key(pool: PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "insert into public.snaptrade_webhook_events (provider, webhook_id, event_type) values ('plaid', 'd-1', 'X')",
    )
    .execute(&pool)
    .await?;
    sqlx::raw_sql(INBOX_PROVIDERS).execute(&pool).await?;
    sqlx::raw_sql(INBOX_PROVIDERS).execute(&pool).await?;
    let kept: i64 = sqlx::query_scalar("select count(*) from public.snaptrade_webhook_events")
        .fetch_one(&pool)
        .await?;
    assert_eq!(kept, 1);
    let key: Vec<String> = sqlx::query_scalar(
        "select a.attname::text from pg_catalog.pg_constraint c
         cross join lateral unnest(c.conkey) with ordinality as k(attnum, ord)
         join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
         where c.conrelid = 'public.snaptrade_webhook_events'::regclass and c.contype = 'p'
         order by k.ord",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(key, ["provider", "snaptrade_user_id", "webhook_id"]);
    Ok(())
}
