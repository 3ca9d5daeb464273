//! Issue 7's database faults, on `PgStore` with the sandbox providers: the connection killed in the middle
//! of a sync, many syncs at once, and a database that cannot be reached or has no connection to spare.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::time::{Duration, Instant};

use secrecy::SecretString;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tributary_domain::{
    BrokerageConnection, Holding, InvestmentAccount, Order, ProviderAccountId, UserId,
};
use tributary_provider::plaid::AccessToken;
use tributary_repo::{
    AccountRepository, ConnectionRepository, HoldingRepository, Keyring, LockRepository,
    OrderRepository, PgStore, RepoError, SecretKey,
};
use tributary_sandbox::SeedItem;
use tributary_sync::SyncError;

use crate::support::World;

async fn new_user(pool: &PgPool) -> UserId {
    UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
}

async fn world(pool: &PgPool) -> World<PgStore> {
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    World::start(store, new_user(pool).await).await
}

/// Every row the user has, as the store reads them back, without the times a sync stamps (each sync records
/// when it ran; everything else a clean sync leaves alone).
#[derive(Debug, PartialEq)]
struct Rows {
    accounts: Vec<InvestmentAccount>,
    connections: Vec<BrokerageConnection>,
    holdings: Vec<Holding>,
    orders: Vec<Order>,
}

async fn rows(store: &PgStore, user: UserId) -> Rows {
    let mut accounts = store.list_accounts(user).await.unwrap();
    for account in &mut accounts {
        (account.last_synced, account.updated_at) = (None, None);
    }
    let mut connections = store.list_connections(user).await.unwrap();
    for connection in &mut connections {
        (connection.last_synced_at, connection.updated_at) = (None, None);
    }
    Rows {
        accounts,
        connections,
        holdings: store.list_holdings(user).await.unwrap(),
        orders: store.list_orders(user, None).await.unwrap(),
    }
}

/// Another Plaid Item for `user`, so the next sync has new accounts and holdings to write.
fn link_another_item(world: &World<PgStore>, user: UserId) {
    let item = world.sandbox.plaid().seed_item(SeedItem::new(2, 3, 5));
    let token = AccessToken::new(SecretString::from(item.access_token.as_str()));
    world.plaid_items.add(user, token);
}

/// The backend of the sync holding `user`'s lock, once it waits on a table lock (mid-write).
async fn sync_backend_waiting_on_a_lock(pool: &PgPool, user: UserId) -> i32 {
    let name = format!("tributary user lock {user}");
    for _ in 0..200 {
        let waiting: Option<i32> = sqlx::query_scalar(
            "select pid from pg_catalog.pg_stat_activity
             where application_name = $1 and wait_event_type = 'Lock'",
        )
        .bind(&name)
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(pid) = waiting {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the sync never reached its holdings write");
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_sync_whose_connection_is_killed_mid_write_leaves_the_rows_as_they_were(pool: PgPool) {
    let world = world(&pool).await;
    world.link_everything().await;
    world.engine.sync_user(world.user).await.unwrap();
    let before = rows(world.store(), world.user).await;
    link_another_item(&world, world.user);

    // Hold the sync at its holdings write (after it has upserted connections and accounts), then kill it.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("lock table public.user_aggregated_holdings in share mode")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let sync = world.engine.sync_user(world.user);
    let kill = async {
        let pid = sync_backend_waiting_on_a_lock(&pool, world.user).await;
        let killed: bool = sqlx::query_scalar("select pg_catalog.pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(killed);
    };
    let (result, ()) = tokio::join!(sync, kill);
    blocker.rollback().await.unwrap();

    let error = result.expect_err("the sync lost its connection");
    assert!(
        matches!(&error, SyncError::NotSaved { user, .. } if *user == world.user),
        "{error:?}"
    );
    assert!(error.to_string().contains("was saved"), "{error}");
    assert_eq!(
        rows(world.store(), world.user).await,
        before,
        "no partial accounts or holdings"
    );

    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    let after = rows(world.store(), world.user).await;
    assert_eq!(
        after.accounts.len(),
        before.accounts.len() + 2,
        "the next sync completes"
    );
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn twenty_concurrent_syncs_of_one_user_end_as_one_clean_sync(pool: PgPool) {
    let world = world(&pool).await;
    world.link_everything().await;

    let syncs = (0..20).map(|_| world.engine.sync_user(world.user));
    for result in futures_join_all(syncs).await {
        let report = result.expect("no deadlock or serialization error reaches the caller");
        assert!(!report.has_failures(), "{:?}", report.failures());
    }
    let concurrent = rows(world.store(), world.user).await;
    let clean = world.engine.sync_user(world.user).await.unwrap();
    assert_eq!(
        clean.holdings.written, 0,
        "one more sync finds nothing to change"
    );
    assert_eq!(rows(world.store(), world.user).await, concurrent);
    assert_unique_accounts(&concurrent.accounts);
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn twenty_concurrent_syncs_of_twenty_users_each_end_as_one_clean_sync(pool: PgPool) {
    // Each sync in flight holds one connection (its user's lock) for its whole duration: room for all 20.
    let roomy = PgPoolOptions::new()
        .max_connections(24)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let world = world(&roomy).await;
    let mut users = Vec::new();
    for _ in 0..20 {
        let user = new_user(&pool).await;
        link_another_item(&world, user);
        users.push(user);
    }

    let syncs = users.iter().map(|user| world.engine.sync_user(*user));
    for result in futures_join_all(syncs).await {
        let report = result.expect("no deadlock or serialization error reaches the caller");
        assert!(!report.has_failures(), "{:?}", report.failures());
    }
    for user in users {
        let concurrent = rows(world.store(), user).await;
        assert_eq!(concurrent.accounts.len(), 2);
        assert_unique_accounts(&concurrent.accounts);
        let clean = world.engine.sync_user(user).await.unwrap();
        assert_eq!(clean.holdings.written, 0);
        assert_eq!(rows(world.store(), user).await, concurrent);
    }
}

fn assert_unique_accounts(accounts: &[InvestmentAccount]) {
    let mut keys: Vec<(_, &ProviderAccountId)> = accounts
        .iter()
        .map(|a| (a.provider, &a.provider_account_id))
        .collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "no duplicate accounts");
}

/// Runs every future concurrently on this task and collects their results in order.
async fn futures_join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(800);

/// Well within the configured timeout plus the time a refused connection takes to report.
const PROMPTLY: Duration = Duration::from_secs(5);

#[tokio::test]
async fn postgres_down_at_start_is_unavailable_within_the_acquire_timeout() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let pool = PgPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .unwrap();
    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
    let world = World::start(store, UserId::generate()).await;

    let started = Instant::now();
    let result = world.engine.sync_user(world.user).await;
    let took = started.elapsed();

    assert!(
        matches!(&result, Err(SyncError::Repo(RepoError::Unavailable { .. }))),
        "{result:?}"
    );
    assert!(took < PROMPTLY, "took {took:?}");
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_exhausted_pool_is_unavailable_within_the_acquire_timeout(pool: PgPool) {
    let (user, other) = (new_user(&pool).await, new_user(&pool).await);
    let one_connection = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let store = PgStore::new(one_connection, Keyring::new(SecretKey::generate()));
    let hog = store.lock_user(other).await.unwrap(); // holds the pool's only connection
    let world = World::start(store, user).await;

    let started = Instant::now();
    let result = world.engine.sync_user(user).await;
    let took = started.elapsed();

    assert!(
        matches!(&result, Err(SyncError::Repo(RepoError::Unavailable { .. }))),
        "{result:?}"
    );
    assert!(took >= ACQUIRE_TIMEOUT && took < PROMPTLY, "took {took:?}");
    hog.release().await.unwrap();
    world
        .engine
        .sync_user(user)
        .await
        .expect("works again once a connection is free");
}
