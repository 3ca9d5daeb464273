//! What only PostgreSQL can show about the sync schedule: the triggers keep it (also for a user being deleted),
//! a user-scoped store is refused it, and "who is due" is one index scan however many users there are.

use chrono::{Duration, Utc};
use sqlx::PgPool;
use tributary_domain::{ProviderItemId, UserId};
use tributary_repo::{
    Keyring, PgStore, PlaidItemRepository, PlaidItemStatusChange, RepoError, SecretKey,
    SyncScheduleRepository,
};

use crate::conformance::plaid_item;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn store(pool: &PgPool) -> PgStore {
    PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes([7; 32])))
}

async fn new_user(pool: &PgPool) -> UserId {
    UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_linked_user_can_be_deleted_and_leaves_no_schedule_row(pool: PgPool) -> TestResult {
    let service = store(&pool);
    let user = new_user(&pool).await;
    service
        .upsert_plaid_item(user, &plaid_item("item-gone", "access-sandbox-1"))
        .await?;
    sqlx::query("insert into snaptrade_users (user_id, snaptrade_user_id, snaptrade_user_secret) values ($1, $1::text, 's')")
        .bind(user.into_uuid())
        .execute(&pool)
        .await?;
    let rows = || {
        sqlx::query_scalar::<_, i64>("select count(*) from user_sync_schedule where user_id = $1")
            .bind(user.into_uuid())
            .fetch_one(&pool)
    };
    assert_eq!(rows().await?, 1);
    // auth.users' cascade removes the Item, then the SnapTrade user: each removal fires the trigger for a user
    // who is already gone, which must neither fail the delete nor write a row back.
    sqlx::query("delete from auth.users where id = $1")
        .bind(user.into_uuid())
        .execute(&pool)
        .await?;
    assert_eq!(rows().await?, 0);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_store_scoped_to_a_user_is_refused_the_schedule(pool: PgPool) -> TestResult {
    let user = new_user(&pool).await;
    let refused = store(&pool)
        .for_user(user)
        .users_due_for_sync(Utc::now(), 10)
        .await;
    assert!(
        matches!(refused, Err(RepoError::Forbidden { .. })),
        "{refused:?}"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_item_removed_takes_its_user_off_the_schedule(pool: PgPool) -> TestResult {
    let service = store(&pool);
    let user = new_user(&pool).await;
    service
        .upsert_plaid_item(user, &plaid_item("item-1", "access-sandbox-1"))
        .await?;
    service
        .set_plaid_item_status(
            user,
            &ProviderItemId::parse("item-1")?,
            PlaidItemStatusChange::Synced {
                at: Utc::now() - Duration::hours(2),
            },
        )
        .await?;
    let due = service.users_due_for_sync(Utc::now(), 10).await?;
    assert_eq!(due.iter().map(|d| d.user).collect::<Vec<_>>(), [user]);
    sqlx::query("delete from plaid_items where user_id = $1")
        .bind(user.into_uuid())
        .execute(&pool)
        .await?;
    assert!(service.users_due_for_sync(Utc::now(), 10).await?.is_empty());
    Ok(())
}

/// 100,000 users, a tenth never synced, the rest spread over the last ten days; a few broken.
pub async fn seed_many_users(pool: &PgPool, users: i64) -> sqlx::Result<()> {
    sqlx::query(
        "insert into auth.users (id, email)
         select gen_random_uuid(), 'u' || n || '@test.invalid' from generate_series(1, $1) n",
    )
    .bind(users)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into user_sync_schedule (user_id, syncable, last_synced_at)
         select id, (hashtext(id::text) % 50) <> 0,
                case when hashtext(id::text) % 10 = 0 then null
                     else now() - (abs(hashtext(id::text)) % 864000) * interval '1 second' end
         from auth.users",
    )
    .execute(pool)
    .await?;
    sqlx::query("analyze user_sync_schedule")
        .execute(pool)
        .await?;
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn who_is_due_among_100000_users_is_one_index_scan(pool: PgPool) -> TestResult {
    seed_many_users(&pool, 100_000).await?;
    let plan: Vec<String> = sqlx::query_scalar(
        "explain (costs off) select user_id, last_synced_at from public.user_sync_schedule
         where syncable and coalesce(last_synced_at, '-infinity'::timestamptz) < now() - interval '1 hour'
         order by coalesce(last_synced_at, '-infinity'::timestamptz), user_id
         limit 500",
    )
    .fetch_all(&pool)
    .await?;
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Scan using idx_user_sync_schedule_due"),
        "{plan}"
    );
    assert!(
        !plan.contains("Sort") && !plan.contains("Seq Scan"),
        "{plan}"
    );

    let service = store(&pool);
    let started = std::time::Instant::now();
    let due = service
        .users_due_for_sync(Utc::now() - Duration::hours(1), 500)
        .await?;
    let took = started.elapsed();
    assert_eq!(due.len(), 500);
    assert!(due[0].last_synced_at.is_none(), "never-synced users first");
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    Ok(())
}
