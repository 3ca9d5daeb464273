//! Following Alpaca's trade event stream through the engine, on both stores, against the sandbox's
//! `/v2/events/trades`: events update stored orders; a dropped connection and a crashed task resume from the
//! stored position without losing or double-applying an event; an event naming no user's account, or one that
//! does not read, is reported and not applied; `stop()` ends the task.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::PgPool;
use tributary_domain::{
    AccountId, OrderAction, OrderStatus, Provider, ProviderAccountId, Symbol, Units, UserId,
};
use tributary_provider::capability::{AccountRef, OrderRequest, OrderSize, Trading};
use tributary_repo::{
    EventStreamRepository, Keyring, MemoryStore, PgStore, SecretKey, Store, StreamName,
};
use tributary_sandbox::{MarketFill, SeedAccount};
use tributary_sync::alpaca::events::{
    FollowOptions, FollowProgress, TradeEventFollower, UnappliedTradeEvent,
};

use crate::support::World;

/// Long enough for any of these waits on a loaded machine, short enough to fail a hung test.
const PATIENCE: Duration = Duration::from_secs(30);

fn options() -> FollowOptions {
    FollowOptions::default().with_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

async fn wait(
    follower: &mut TradeEventFollower,
    what: &str,
    done: impl FnMut(&FollowProgress) -> bool,
) -> FollowProgress {
    tokio::time::timeout(PATIENCE, follower.wait_until(done))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}: {:?}", follower.progress()))
        .unwrap_or_else(|| panic!("the follower ended before {what}"))
}

/// The user's Alpaca account, synced so it is stored, with market orders left `accepted` until `step()`.
async fn linked<S: Store + 'static>(world: &World<S>) -> (ProviderAccountId, AccountId) {
    let alpaca_account = world.link_alpaca().await;
    world.engine.sync_user(world.user).await.unwrap();
    world.sandbox.alpaca().set_market_fill(MarketFill::OnStep);
    let account = world.account_id(Provider::Alpaca, &alpaca_account).await;
    (alpaca_account, account)
}

fn market_buy(symbol: &str) -> OrderRequest {
    OrderRequest::market(
        Symbol::parse(symbol).unwrap(),
        OrderAction::Buy,
        OrderSize::Units(Units::parse("1").unwrap()),
    )
    .unwrap()
}

async fn statuses<S: Store + 'static>(world: &World<S>) -> Vec<(String, OrderStatus)> {
    let mut orders: Vec<_> = world
        .store()
        .list_orders(world.user, None)
        .await
        .unwrap()
        .into_iter()
        .map(|order| (order.symbol.as_str().to_owned(), order.status))
        .collect();
    orders.sort_by(|a, b| a.0.cmp(&b.0));
    orders
}

fn filled() -> OrderStatus {
    OrderStatus::parse("filled").unwrap()
}

pub async fn trade_events_update_the_stored_orders<S: Store + EventStreamRepository + 'static>(
    world: World<S>,
) {
    let (_, account) = linked(&world).await;
    let mut follower = world.engine.follow_alpaca_trade_events(options()).unwrap();
    wait(&mut follower, "connected", |p| p.connections >= 1).await;

    let placed = world
        .engine
        .place_order(world.user, account, market_buy("AAPL"))
        .await
        .unwrap();
    assert_eq!(placed.order.status, OrderStatus::parse("accepted").unwrap());
    assert_eq!(world.sandbox.alpaca().step(), 1);
    // `accepted`, then `fill`: only the event can have told the store that the order filled.
    let progress = wait(&mut follower, "both events applied", |p| p.applied >= 2).await;
    assert_eq!(progress.applied, 2);
    let stored = world
        .store()
        .get_order(world.user, placed.order.id)
        .await
        .unwrap();
    assert_eq!(stored.status, filled());
    assert_eq!(stored.filled_units, Some(Units::parse("1").unwrap()));
    assert!(stored.average_fill_price.is_some());
    assert_eq!(
        world
            .store()
            .list_orders(world.user, None)
            .await
            .unwrap()
            .len(),
        1,
        "the event updated the order the engine recorded, it did not add one"
    );
    follower.stop().await.unwrap();
}

pub async fn a_dropped_connection_resumes_without_losing_or_double_applying_an_event<
    S: Store + EventStreamRepository + 'static,
>(
    world: World<S>,
) {
    let (_, account) = linked(&world).await;
    let mut first = world.engine.follow_alpaca_trade_events(options()).unwrap();
    wait(&mut first, "connected", |p| p.connections >= 1).await;
    world
        .engine
        .place_order(world.user, account, market_buy("AAPL"))
        .await
        .unwrap();
    wait(&mut first, "the first event applied", |p| p.applied >= 1).await;
    first.stop().await.unwrap();

    // Three events while nobody listens, then a connection that breaks after the first of them.
    world.sandbox.alpaca().step();
    world
        .engine
        .place_order(world.user, account, market_buy("MSFT"))
        .await
        .unwrap();
    world.sandbox.alpaca().step();
    assert_eq!(world.sandbox.alpaca().trade_events().len(), 4);
    world.sandbox.alpaca().drop_trade_events_after(1);

    let mut second = world.engine.follow_alpaca_trade_events(options()).unwrap();
    wait(&mut second, "the three events applied", |p| p.applied >= 3).await;
    // Let a late duplicate show, if there were one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let progress = second.stop().await.unwrap();
    assert_eq!(progress.applied, 3, "{progress:?}");
    assert_eq!(progress.already_applied, 0, "{progress:?}");
    assert!(progress.connections >= 2, "it reconnected: {progress:?}");
    assert!(progress.unapplied.is_empty(), "{progress:?}");
    assert_eq!(
        statuses(&world).await,
        [("AAPL".to_owned(), filled()), ("MSFT".to_owned(), filled())]
    );
    let last = world.sandbox.alpaca().trade_events()[3]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stream = StreamName::parse("alpaca/trade-events").unwrap();
    assert_eq!(
        world
            .store()
            .stream_position(&stream)
            .await
            .unwrap()
            .map(|id| id.as_str().to_owned()),
        Some(last)
    );
}

pub async fn a_crashed_follower_resumes_from_the_persisted_event<
    S: Store + EventStreamRepository + 'static,
>(
    world: World<S>,
) {
    let (_, account) = linked(&world).await;
    let mut first = world.engine.follow_alpaca_trade_events(options()).unwrap();
    wait(&mut first, "connected", |p| p.connections >= 1).await;
    world
        .engine
        .place_order(world.user, account, market_buy("AAPL"))
        .await
        .unwrap();
    wait(&mut first, "the first event applied", |p| p.applied >= 1).await;
    // A crash between events: the task is gone, whatever it held is let go.
    first.abort();
    let stream = StreamName::parse("alpaca/trade-events").unwrap();
    let first_id = world.sandbox.alpaca().trade_events()[0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        world
            .store()
            .stream_position(&stream)
            .await
            .unwrap()
            .map(|id| id.as_str().to_owned()),
        Some(first_id)
    );

    world.sandbox.alpaca().step();
    let mut second = world.engine.follow_alpaca_trade_events(options()).unwrap();
    wait(&mut second, "the fill applied", |p| p.applied >= 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let progress = second.stop().await.unwrap();
    assert_eq!(
        (progress.applied, progress.already_applied),
        (1, 0),
        "only the event after the persisted one: {progress:?}"
    );
    assert_eq!(statuses(&world).await, [("AAPL".to_owned(), filled())]);
}

pub async fn an_event_naming_no_users_account_or_not_reading_is_reported_not_applied<
    S: Store + EventStreamRepository + 'static,
>(
    world: World<S>,
) {
    let (alpaca_account, account) = linked(&world).await;
    let mut follower = world.engine.follow_alpaca_trade_events(options()).unwrap();
    wait(&mut follower, "connected", |p| p.connections >= 1).await;

    // An order in a customer account no user of this store holds, placed at Alpaca directly.
    let stranger = world
        .sandbox
        .alpaca()
        .seed_account(SeedAccount::new(Decimal::from(10_000), 0));
    let strangers = AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse(&stranger.to_string()).unwrap(),
    };
    world
        .alpaca
        .place_order(&(), &strangers, &market_buy("TSLA"))
        .await
        .unwrap();
    let malformed = world
        .sandbox
        .alpaca()
        .send_malformed_trade_event(uuid::Uuid::parse_str(alpaca_account.as_str()).unwrap());
    // The stream goes on: the user's own order after them is applied.
    world
        .engine
        .place_order(world.user, account, market_buy("AAPL"))
        .await
        .unwrap();
    let progress = wait(&mut follower, "the user's event applied", |p| {
        p.applied >= 1
    })
    .await;
    follower.stop().await.unwrap();

    assert_eq!(progress.unapplied.len(), 2, "{progress:?}");
    assert!(
        matches!(&progress.unapplied[0], UnappliedTradeEvent::NoOwner { account, .. }
            if *account == stranger.to_string()),
        "{progress:?}"
    );
    assert!(
        matches!(&progress.unapplied[1], UnappliedTradeEvent::Refused(refused)
            if refused.id.as_ref().map(|id| id.as_str()) == Some(malformed.as_str())),
        "{progress:?}"
    );
    assert_eq!(statuses(&world).await.len(), 1, "only the user's own order");
    assert!(
        world
            .store()
            .accounts_by_provider_id(Provider::Alpaca, &strangers.provider_account_id)
            .await
            .unwrap()
            .is_empty(),
        "no account was made for the stranger"
    );
}

pub async fn stop_ends_the_follower<S: Store + EventStreamRepository + 'static>(world: World<S>) {
    linked(&world).await;
    let mut follower = world.engine.follow_alpaca_trade_events(options()).unwrap();
    wait(&mut follower, "connected", |p| p.connections >= 1).await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), follower.stop()).await;
    assert!(
        matches!(stopped, Ok(Ok(_))),
        "stop() ends the task while it waits for events: {stopped:?}"
    );
}

async fn memory_world() -> World<MemoryStore> {
    let store = MemoryStore::new();
    let user = store.create_user();
    World::start(store, user).await
}

async fn pg_world(superuser: PgPool) -> World<PgStore> {
    let pool = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR)
        .await
        .expect("the backend role's pool");
    let user = tributary_testdb::create_auth_user(&pool)
        .await
        .expect("a user in auth.users");
    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
    World::start(store, UserId::new(user)).await
}

macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(memory_world().await).await;
                }
            )*
        }
        mod pg {
            use super::*;
            $(
                #[sqlx::test(migrations = false)]
                async fn $case(superuser: PgPool) {
                    super::$case(pg_world(superuser).await).await;
                }
            )*
        }
    };
}

both_stores!(
    trade_events_update_the_stored_orders,
    a_dropped_connection_resumes_without_losing_or_double_applying_an_event,
    a_crashed_follower_resumes_from_the_persisted_event,
    an_event_naming_no_users_account_or_not_reading_is_reported_not_applied,
    stop_ends_the_follower,
);
