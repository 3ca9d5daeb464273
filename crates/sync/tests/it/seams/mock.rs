//! `SyncEngine<MockStore>`: each test states every store call the engine may make (any other call panics), so
//! what a sync reads and writes, and how a store failure reaches the caller, is pinned without a database.

use std::sync::Arc;

use tributary_domain::{FeatureFlags, UserId};
use tributary_provider::router::ProviderRouter;
use tributary_repo::{HoldingsReplaced, MockHeldLock, MockStore, RepoError, UserLock};
use tributary_sync::{SyncEngine, SyncError};

/// What the lock is expected to see: how many units of writes begin and commit. It is released once in every
/// case, success or failure.
fn lock(user: UserId, begins: usize, commits: usize) -> UserLock {
    let mut held = MockHeldLock::new();
    held.expect_user().return_const(user);
    held.expect_begin_writes()
        .times(begins)
        .returning(|| Ok(()));
    held.expect_commit_writes()
        .times(commits)
        .returning(|| Ok(()));
    held.expect_release().times(1).returning(|| Ok(()));
    UserLock::new(held)
}

/// An engine with no provider over a store that hands out `lock` once and, bound to it, is `bound`.
fn engine(lock: UserLock, bound: MockStore) -> SyncEngine<MockStore> {
    let mut store = MockStore::new();
    store.expect_lock_user().times(1).return_once(|_| Ok(lock));
    store.expect_within().times(1).return_once(|_| Ok(bound));
    SyncEngine::new(Arc::new(store), ProviderRouter::new(FeatureFlags::all_on()))
}

fn unavailable() -> RepoError {
    RepoError::Unavailable {
        reason: "connection refused".to_owned(),
    }
}

#[tokio::test]
async fn a_sync_of_a_user_with_nothing_connected_reads_the_accounts_and_writes_no_rows() {
    let user = UserId::generate();
    let mut bound = MockStore::new();
    bound
        .expect_list_connections()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    bound
        .expect_list_accounts()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    // The unit's writes are made, each with nothing in it.
    bound
        .expect_upsert_connections()
        .times(1)
        .withf(|_, connections| connections.is_empty())
        .returning(|_, _| Ok(Vec::new()));
    bound
        .expect_upsert_accounts()
        .times(1)
        .withf(|_, accounts| accounts.is_empty())
        .returning(|_, _| Ok(Vec::new()));
    bound
        .expect_replace_holdings()
        .times(1)
        .withf(|_, holdings| holdings.is_empty())
        .returning(|_, _| Ok(HoldingsReplaced::default()));
    bound
        .expect_upsert_orders()
        .times(1)
        .withf(|_, orders| orders.is_empty())
        .returning(|_, _| Ok(Vec::new()));
    bound
        .expect_record_account_syncs()
        .times(1)
        .withf(|_, states, _| states.is_empty())
        .returning(|_, _, _| Ok(0));
    let engine = engine(lock(user, 1, 1), bound);

    let report = engine.sync_user(user).await.unwrap();

    assert!(report.providers.is_empty());
    assert_eq!(report.holdings_count, 0);
    assert_eq!(report.holdings, HoldingsReplaced::default());
}

#[tokio::test]
async fn a_failing_read_reaches_the_caller_as_the_repositorys_typed_error_and_the_lock_is_released()
{
    let user = UserId::generate();
    let mut bound = MockStore::new();
    bound
        .expect_list_connections()
        .times(1)
        .returning(|_| Err(unavailable()));
    // No unit of writes begins.
    let engine = engine(lock(user, 0, 0), bound);

    let error = engine.sync_user(user).await.unwrap_err();

    assert!(
        matches!(error, SyncError::Repo(RepoError::Unavailable { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_failing_write_is_not_saved_and_the_unit_is_never_committed() {
    let user = UserId::generate();
    let mut bound = MockStore::new();
    bound
        .expect_list_connections()
        .returning(|_| Ok(Vec::new()));
    bound
        .expect_upsert_connections()
        .returning(|_, _| Ok(Vec::new()));
    bound.expect_upsert_accounts().times(1).returning(|_, _| {
        Err(RepoError::Conflict {
            constraint: "user_investment_accounts_pkey".to_owned(),
        })
    });
    // The unit begins and is left uncommitted; releasing the lock rolls it back.
    let engine = engine(lock(user, 1, 0), bound);

    let error = engine.sync_user(user).await.unwrap_err();

    let SyncError::NotSaved {
        user: failed,
        source,
    } = error
    else {
        panic!("expected NotSaved, got {error:?}");
    };
    assert_eq!(failed, user);
    assert!(
        matches!(*source, SyncError::Repo(RepoError::Conflict { .. })),
        "{source:?}"
    );
}

#[tokio::test]
async fn a_lock_the_store_cannot_take_is_the_callers_error_and_nothing_is_read() {
    let user = UserId::generate();
    let mut store = MockStore::new();
    store
        .expect_lock_user()
        .times(1)
        .returning(|_| Err(unavailable()));
    let engine = SyncEngine::new(Arc::new(store), ProviderRouter::new(FeatureFlags::all_on()));

    let error = engine.sync_user(user).await.unwrap_err();

    assert!(
        matches!(error, SyncError::Repo(RepoError::Unavailable { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_store_that_refuses_its_own_lock_fails_the_sync_before_anything_is_read() {
    let user = UserId::generate();
    let mut store = MockStore::new();
    store.expect_lock_user().times(1).return_once(move |_| {
        let mut held = MockHeldLock::new();
        held.expect_user().return_const(user);
        // Never bound, so never used: dropped unreleased, as any lock on an error path.
        Ok(UserLock::new(held))
    });
    store
        .expect_within()
        .times(1)
        .returning(|_| Err(RepoError::ForeignLock { store: "mock" }));
    let engine = SyncEngine::new(Arc::new(store), ProviderRouter::new(FeatureFlags::all_on()));

    let error = engine.sync_user(user).await.unwrap_err();

    assert!(
        matches!(error, SyncError::Repo(RepoError::ForeignLock { .. })),
        "{error:?}"
    );
}

/// `forget_user` on a store with nothing at any provider: no provider is needed, the user's rows are deleted in
/// one unit of writes, and the report says nothing was stored anywhere.
#[tokio::test]
async fn forgetting_a_user_with_nothing_linked_deletes_their_rows_in_one_unit_and_asks_no_provider()
{
    use tributary_repo::{PortfolioSummary, UserRowsDeleted};
    use tributary_sync::ProviderRemoval;

    let user = UserId::generate();
    let mut bound = MockStore::new();
    // Each is read twice: once to check that every provider to be told can be reached, once to tell it.
    bound
        .expect_list_plaid_items()
        .times(2)
        .returning(|_| Ok(Vec::new()));
    bound
        .expect_find_snaptrade_user()
        .times(2)
        .returning(|_| Ok(None));
    bound.expect_portfolio_mode().times(1).returning(|_| {
        Ok(PortfolioSummary {
            mode: tributary_domain::PortfolioMode::Aggregation,
            has_alpaca: false,
            has_plaid: false,
            has_snaptrade: false,
            alpaca_account_id: None,
            accounts_count: 0,
        })
    });
    let deleted = UserRowsDeleted {
        accounts: 1,
        holdings: 2,
        ..UserRowsDeleted::default()
    };
    bound
        .expect_delete_user_rows()
        .times(1)
        .return_once(move |_| Ok(deleted));
    let engine = engine(lock(user, 1, 1), bound);

    let forgotten = engine.forget_user(user).await.unwrap();

    assert!(forgotten.plaid_items.is_empty());
    assert_eq!(forgotten.snaptrade, ProviderRemoval::NothingStored);
    assert_eq!(forgotten.alpaca, ProviderRemoval::NothingStored);
    assert_eq!(forgotten.rows, deleted);
}

/// A failing deletion leaves the unit uncommitted (the lock's release rolls it back) and reaches the caller.
#[tokio::test]
async fn a_forget_whose_deletion_fails_commits_nothing_and_reports_the_repositorys_error() {
    use tributary_repo::PortfolioSummary;

    let user = UserId::generate();
    let mut bound = MockStore::new();
    bound
        .expect_list_plaid_items()
        .returning(|_| Ok(Vec::new()));
    bound.expect_find_snaptrade_user().returning(|_| Ok(None));
    bound.expect_portfolio_mode().returning(|_| {
        Ok(PortfolioSummary {
            mode: tributary_domain::PortfolioMode::None,
            has_alpaca: false,
            has_plaid: false,
            has_snaptrade: false,
            alpaca_account_id: None,
            accounts_count: 0,
        })
    });
    bound
        .expect_delete_user_rows()
        .times(1)
        .returning(|_| Err(unavailable()));
    let engine = engine(lock(user, 1, 0), bound);

    let error = engine.forget_user(user).await.unwrap_err();

    assert!(
        matches!(error, SyncError::Repo(RepoError::Unavailable { .. })),
        "{error:?}"
    );
}
