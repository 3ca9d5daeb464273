//! A user's lock and its unit of writes: waiting, binding to its own store, saved whole or not at all.

use tributary_domain::{AccountId, AuthorizationId, Provider};
use tributary_repo::{
    AccountRepository, ConnectionRepository, HoldingRepository, LockRepository, MemoryStore,
    MockHeldLock, OrderRepository, RepoError, UserLock,
};

use super::{Harness, account, connection, holding, order, symbols};

pub async fn a_users_lock_waits_for_its_holder_and_other_users_do_not<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.admin();
    let held = store.lock_user(user).await.unwrap();
    assert_eq!(held.user(), user);

    let waiting =
        tokio::time::timeout(std::time::Duration::from_millis(300), store.lock_user(user));
    assert!(
        waiting.await.is_err(),
        "a second holder waits for the first"
    );
    let other_lock =
        tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_user(other))
            .await
            .expect("another user's lock is free")
            .unwrap();
    other_lock.release().await.unwrap();

    held.release().await.unwrap();
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_user(user))
        .await
        .expect("a released lock is free")
        .unwrap();
    drop(again);
    let after_drop = tokio::time::timeout(std::time::Duration::from_secs(5), store.lock_user(user))
        .await
        .expect("a dropped lock is released too")
        .unwrap();
    after_drop.release().await.unwrap();
}

pub async fn a_store_binds_to_its_own_locks_and_refuses_anothers<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();

    // Its own lock binds it, and its clones and user-scoped twins too.
    let own = store.lock_user(user).await.unwrap();
    let bound = store.within(&own).unwrap();
    assert!(bound.list_accounts(user).await.unwrap().is_empty());
    let twin = h.store_for(user).within(&own).unwrap();
    assert!(twin.list_accounts(user).await.unwrap().is_empty());
    drop((bound, twin));
    own.release().await.unwrap();

    // Another store's lock (a second memory store, whichever store is under test) is a typed error.
    let elsewhere = MemoryStore::new();
    let stranger = elsewhere.create_user();
    let foreign = elsewhere.lock_user(stranger).await.unwrap();
    assert!(matches!(
        store.within(&foreign),
        Err(RepoError::ForeignLock { .. })
    ));
    foreign.release().await.unwrap();

    // So is a lock of a kind the store does not know (here a mock's).
    let mut held = MockHeldLock::new();
    held.expect_user().return_const(user);
    let unknown = UserLock::new(held);
    assert!(matches!(
        store.within(&unknown),
        Err(RepoError::ForeignLock { .. })
    ));
}

pub async fn a_unit_of_writes_is_saved_whole_or_not_at_all<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();
    store
        .replace_holdings(user, &[holding(user, "VTI", "1", "200")])
        .await
        .unwrap();

    // Dropped before it commits: nothing of the unit stays.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-unit")])
        .await
        .unwrap();
    bound
        .replace_holdings(user, &[holding(user, "AAPL", "2", "400")])
        .await
        .unwrap();
    assert_eq!(symbols(h, user).await.len(), 1);
    drop(bound);
    drop(lock);
    assert!(store.list_accounts(user).await.unwrap().is_empty());
    assert_eq!(symbols(h, user).await, ["VTI"]);

    // A deletion is undone with the rest of an unfinished unit.
    let authorization = AuthorizationId::generate();
    store
        .upsert_connections(user, &[connection(user, authorization)])
        .await
        .unwrap();
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound.delete_connection(user, authorization).await.unwrap();
    drop(bound);
    drop(lock);
    assert_eq!(store.list_connections(user).await.unwrap().len(), 1);

    // A write refused inside the unit: the unit does not commit, and its earlier writes are undone.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-unit")])
        .await
        .unwrap();
    let refused = bound
        .upsert_orders(user, &[order(user, AccountId::generate(), "ord-x")])
        .await;
    assert!(matches!(
        refused,
        Err(RepoError::NotFound { entity: "account" })
    ));
    drop(bound);
    lock.release().await.unwrap();
    assert!(store.list_accounts(user).await.unwrap().is_empty());

    // Committed: everything stays.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-unit")])
        .await
        .unwrap();
    bound
        .replace_holdings(user, &[holding(user, "AAPL", "2", "400")])
        .await
        .unwrap();
    lock.commit_writes().await.unwrap();
    drop(bound);
    lock.release().await.unwrap();
    assert_eq!(store.list_accounts(user).await.unwrap().len(), 1);
    assert_eq!(symbols(h, user).await, ["AAPL"]);
}

pub async fn a_bound_stores_reads_join_its_open_unit_and_run_alone_outside_it<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    assert!(bound.list_accounts(user).await.unwrap().is_empty());

    // Inside the unit, a read sees the unit's own writes before they are committed.
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-read")])
        .await
        .unwrap();
    let inside = bound.list_accounts(user).await.unwrap();
    assert_eq!(inside.len(), 1, "the unit's write, read inside the unit");
    bound.get_account(user, inside[0].id).await.unwrap();
    lock.commit_writes().await.unwrap();

    // After the unit, reads on the locked connection run on their own and see what was committed; so does
    // every other reader.
    assert_eq!(bound.list_accounts(user).await.unwrap().len(), 1);
    assert_eq!(store.list_accounts(user).await.unwrap().len(), 1);

    // A unit left uncommitted is rolled back whole; the reads after it do not see its write.
    lock.begin_writes().await.unwrap();
    bound
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-dropped")])
        .await
        .unwrap();
    assert_eq!(bound.list_accounts(user).await.unwrap().len(), 2);
    drop(bound);
    drop(lock);
    let accounts = store.list_accounts(user).await.unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
}
