//! The engine's bounds on parallelism, with a provider double that counts calls in flight: one user's
//! accounts are fetched concurrently up to the configured limit, and two syncs of one user never
//! interleave while two users' syncs do run side by side.
#![cfg(feature = "plaid")]

use std::sync::Arc;

use tributary_domain::{FeatureFlags, Quantity};
use tributary_provider::router::ProviderRouter;
use tributary_repo::{HoldingRepository, MemoryStore};
use tributary_sync::SyncEngine;
use tributary_sync::source::{GivenLogins, PerAccountSource};

use crate::slow_bank::{SlowBank, engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_fetched_concurrently_up_to_the_configured_limit() {
    let bank = Arc::new(SlowBank::new(8));
    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = engine(&bank, &store, &[user], 3);

    let report = engine.sync_user(user).await.unwrap();

    assert!(!report.has_failures(), "{:?}", report.failures());
    assert_eq!(bank.positions_in_flight.most(), 3);
    let aapl = store.list_holdings(user).await.unwrap().remove(0);
    assert_eq!(aapl.figures.total_quantity, Quantity::parse("8").unwrap());
    assert_eq!(aapl.account_count, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_of_one_user_never_interleave() {
    let bank = Arc::new(SlowBank::new(2));
    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = engine(&bank, &store, &[user], 4);

    let (first, second) = tokio::join!(engine.sync_user(user), engine.sync_user(user));

    first.unwrap();
    second.unwrap();
    assert_eq!(bank.syncs_in_flight.most(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_sync_side_by_side() {
    let bank = Arc::new(SlowBank::new(2));
    let store = MemoryStore::new();
    let (alice, bob) = (store.create_user(), store.create_user());
    let engine = engine(&bank, &store, &[alice, bob], 4);

    let (first, second) = tokio::join!(engine.sync_user(alice), engine.sync_user(bob));

    first.unwrap();
    second.unwrap();
    assert_eq!(bank.syncs_in_flight.most(), 2);
}

#[tokio::test]
async fn a_user_without_credentials_is_skipped_not_failed() {
    let bank = Arc::new(SlowBank::new(1));
    let store = MemoryStore::new();
    let user = store.create_user();
    let engine = engine(&bank, &store, &[], 2);

    let report = engine.sync_user(user).await.unwrap();

    assert!(!report.has_failures());
    assert!(
        matches!(&report.providers[0].outcome, tributary_sync::Outcome::Skipped { reason } if reason.contains("not linked"))
    );
}

#[tokio::test]
async fn a_provider_switched_off_is_skipped_with_the_routers_reason() {
    let bank = Arc::new(SlowBank::new(1));
    let store = MemoryStore::new();
    let user = store.create_user();
    let logins = GivenLogins::new();
    logins.add(user, "token".to_owned());
    let engine = SyncEngine::new(
        Arc::new(store.clone()),
        ProviderRouter::new(FeatureFlags::builder().aggregation_mode(true).build()),
    )
    .with_source(PerAccountSource::new(Arc::clone(&bank), logins));

    let report = engine.sync_user(user).await.unwrap();

    assert_eq!(
        bank.syncs_in_flight.most(),
        0,
        "nothing was asked of a disabled provider"
    );
    assert!(matches!(
        &report.providers[0].outcome,
        tributary_sync::Outcome::Skipped { .. }
    ));
}
