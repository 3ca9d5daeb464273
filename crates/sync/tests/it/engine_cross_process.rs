//! Two engines on two `PgStore`s with their own pools on one database — two processes, as far as the
//! database can tell — syncing the same user never interleave (the repository's session-level advisory
//! lock), while different users still sync side by side.
#![cfg(feature = "plaid")]

use std::sync::Arc;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tributary_domain::{Quantity, UserId};
use tributary_repo::{HoldingRepository, Keyring, PgStore, SecretKey};

use crate::slow_bank::{SlowBank, engine};

/// A store on its own pool to the same database, as another process would have.
async fn another_process(pool: &PgPool) -> PgStore {
    let own_pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("a second pool on the test database");
    PgStore::new(own_pool, Keyring::new(SecretKey::generate()))
}

async fn new_user(pool: &PgPool) -> UserId {
    UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn two_processes_syncing_one_user_never_interleave(pool: PgPool) {
    let user = new_user(&pool).await;
    let bank = Arc::new(SlowBank::new(2));
    let here = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let there = another_process(&pool).await;
    let (first, second) = (
        engine(&bank, &here, &[user], 4),
        engine(&bank, &there, &[user], 4),
    );

    let results = tokio::join!(
        first.sync_user(user),
        second.sync_user(user),
        first.sync_user(user),
        second.sync_user(user),
    );

    for result in [results.0, results.1, results.2, results.3] {
        let report = result.unwrap();
        assert!(!report.has_failures(), "{:?}", report.failures());
    }
    assert_eq!(
        bank.syncs_in_flight.most(),
        1,
        "the second process waited for the first's sync to end"
    );
    let holdings = here.list_holdings(user).await.unwrap();
    assert_eq!(holdings.len(), 1);
    assert_eq!(
        holdings[0].figures.total_quantity,
        Quantity::parse("2").unwrap()
    );
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn two_processes_sync_different_users_side_by_side(pool: PgPool) {
    let (alice, bob) = (new_user(&pool).await, new_user(&pool).await);
    let bank = Arc::new(SlowBank::new(2));
    let here = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let there = another_process(&pool).await;
    let (first, second) = (
        engine(&bank, &here, &[alice, bob], 4),
        engine(&bank, &there, &[alice, bob], 4),
    );

    let (a, b) = tokio::join!(first.sync_user(alice), second.sync_user(bob));

    a.unwrap();
    b.unwrap();
    assert_eq!(
        bank.syncs_in_flight.most(),
        2,
        "one user's lock does not hold another user back"
    );
}
