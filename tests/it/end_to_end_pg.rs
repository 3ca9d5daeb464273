//! The end-to-end flow on `PgStore` (a fresh database migrated from `migrations/` per test) with the sandbox
//! providers: the same cases as on `MemoryStore` (`end_to_end_memory.rs`).

use sqlx::PgPool;
use tributary::domain::UserId;
use tributary::repo::{Keyring, PgStore, SecretKey};

use crate::flow::{self, World};

/// The test's database laid out as on hosted Supabase and migrated by the backend's own role (not a
/// superuser): the engine runs with exactly the rights it has in production.
async fn backend(superuser: &PgPool) -> PgPool {
    tributary_testdb::backend_pool(superuser, &tributary::repo::MIGRATOR)
        .await
        .expect("the backend role's pool")
}

async fn world(pool: PgPool) -> World<PgStore> {
    let user = tributary_testdb::create_auth_user(&pool)
        .await
        .expect("a user in auth.users");
    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
    World::start(store, UserId::new(user)).await
}

macro_rules! pg_cases {
    ($($case:ident),* $(,)?) => {$(
        #[sqlx::test(migrations = false)]
        async fn $case(superuser: PgPool) {
            let pool = backend(&superuser).await;
            flow::$case(world(pool).await).await;
        }
    )*};
}

pg_cases!(
    a_sync_leaves_every_table_as_the_sandbox_holds_it,
    a_second_sync_changes_nothing,
    a_position_sold_at_the_sandbox_disappears_from_the_holdings,
    broken_connections_end_disabled_or_in_error_with_their_messages,
    a_read_only_connection_refuses_an_order,
);
