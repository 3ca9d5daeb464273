//! Syncing everyone who is due through the engine, on both stores: a linked user who never synced is synced,
//! a user with no link is left alone, and a round right after finds nobody due.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use chrono::{Duration, Utc};
use sqlx::PgPool;
use tributary_domain::{ConnectionType, UserId};
use tributary_repo::{Keyring, MemoryStore, PgStore, SecretKey, Store, SyncScheduleRepository};

use crate::support::World;

async fn the_users_due_are_synced_once_and_then_nobody_is_due<
    S: Store + SyncScheduleRepository + 'static,
>(
    world: World<S>,
    unlinked: UserId,
) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.link_alpaca().await;
    let now = Utc::now();
    let due = world.store().users_due_for_sync(now, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.user).collect::<Vec<_>>(),
        [world.user],
        "the linked user, never synced, is due; the unlinked one is not"
    );

    let round = world.engine.sync_due(now, 10, 4).await.unwrap();
    assert!(round.failed.is_empty(), "{:?}", round.failed);
    assert_eq!(round.synced.len(), 1);
    let (user, report) = &round.synced[0];
    assert_eq!(*user, world.user);
    assert!(!report.has_failures(), "{:?}", report.failures());
    assert!(report.holdings_count > 0);
    assert!(
        world
            .store()
            .list_holdings(unlinked)
            .await
            .unwrap()
            .is_empty()
    );

    let next = world
        .engine
        .sync_due(Utc::now() - Duration::minutes(1), 10, 4)
        .await
        .unwrap();
    assert!(next.is_empty(), "synced a moment ago: nobody is due");
}

#[tokio::test]
async fn on_memory_the_users_due_are_synced_once_and_then_nobody_is_due() {
    let store = MemoryStore::new();
    let (user, unlinked) = (store.create_user(), store.create_user());
    the_users_due_are_synced_once_and_then_nobody_is_due(World::start(store, user).await, unlinked)
        .await;
}

#[sqlx::test(migrations = false)]
async fn on_postgres_the_users_due_are_synced_once_and_then_nobody_is_due(superuser: PgPool) {
    let pool = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR)
        .await
        .expect("the backend role's pool");
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes([7; 32])));
    let user = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
    let unlinked = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
    the_users_due_are_synced_once_and_then_nobody_is_due(World::start(store, user).await, unlinked)
        .await;
}
