//! An order sent exactly once, whatever goes wrong between the engine and the provider: an answer lost after
//! the provider placed the order, an answer later than the client's timeout, a process that stopped between
//! recording the order and sending it, and a caller retrying after success. Each counts the orders the
//! provider holds. The scenarios take a store and a user: they build their world with short timeouts.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tributary_domain::{
    BrokerageOrderId, ClientOrderId, ConnectionType, InvestmentAccount, NewOrder, OrderStatus,
    Provider, UserId,
};
use tributary_provider::capability::OrderRequest;
use tributary_repo::Store;
use tributary_sandbox::LostAnswer;
use tributary_sync::SyncError;
use uuid::Uuid;

use super::{World, limit_buy};

/// A client timeout well under the sandbox's late answers.
const TIMEOUT: Duration = Duration::from_millis(400);
const LATE: Duration = Duration::from_secs(3);

/// The world on `store` with short client timeouts and the user's account at `provider`, synced.
async fn world_trading_at<S: Store + 'static>(
    store: S,
    user: UserId,
    provider: Provider,
) -> (World<S>, InvestmentAccount) {
    let world = World::start_with_timeouts(store, user, TIMEOUT).await;
    match provider {
        Provider::Alpaca => {
            world.link_alpaca().await;
        }
        _ => world.connect_snaptrade(ConnectionType::Trade).await,
    }
    world.engine.sync_user(world.user).await.unwrap();
    let account = world
        .store()
        .list_accounts(world.user)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.provider == provider)
        .expect("an account at the provider");
    (world, account)
}

/// How many orders the provider holds for the account, in every state.
fn orders_at_provider<S>(world: &World<S>, account: &InvestmentAccount) -> usize {
    let id: Uuid = account.provider_account_id.as_str().parse().unwrap();
    match account.provider {
        Provider::Alpaca => world.sandbox.alpaca().order_count(id),
        _ => world.sandbox.snaptrade().orders(id).len(),
    }
}

fn with_key(order: OrderRequest, key: &str) -> (OrderRequest, ClientOrderId) {
    let key = ClientOrderId::parse(key).unwrap();
    (order.with_client_order_id(key.clone()), key)
}

/// A fresh client order id, a UUID as SnapTrade's spec requires.
fn fresh_key() -> String {
    Uuid::new_v4().to_string()
}

fn lose_answers<S>(world: &World<S>, provider: Provider) {
    match provider {
        Provider::Alpaca => world
            .sandbox
            .alpaca()
            .lose_order_answers(1, LostAnswer::ConnectionClosed),
        _ => world
            .sandbox
            .snaptrade()
            .lose_order_answers(1, LostAnswer::ConnectionClosed),
    }
}

fn delay_answers<S>(world: &World<S>, provider: Provider) {
    match provider {
        Provider::Alpaca => world.sandbox.alpaca().delay_order_answers(1, LATE),
        _ => world.sandbox.snaptrade().delay_order_answers(1, LATE),
    }
}

/// Places `order` once more after a first attempt whose answer went astray, and checks that the provider
/// holds exactly one order and the store one row. Alpaca is asked by the key and the order is recorded; SnapTrade
/// can prove neither presence nor absence, so nothing more is sent and the outcome is unknown.
async fn retried_after_a_lost_answer<S: Store + 'static>(
    world: &World<S>,
    account: &InvestmentAccount,
    order: OrderRequest,
    key: &ClientOrderId,
    first: Result<tributary_sync::OrderPlacement, SyncError>,
) {
    match account.provider {
        // The client itself looks the order up by its key when the answer is lost (Alpaca refuses a reused
        // client_order_id with a 422, which the client reads as "look it up").
        Provider::Alpaca => {
            let placed = first.unwrap();
            assert_eq!(placed.order.status, OrderStatus::Accepted);
        }
        _ => assert!(
            matches!(&first, Err(SyncError::OutcomeUnknown { .. })),
            "{first:?}"
        ),
    }
    let retried = world
        .engine
        .place_order(world.user, account.id, order)
        .await;
    match account.provider {
        Provider::Alpaca => assert_eq!(&retried.unwrap().client_order_id, key),
        _ => assert!(
            matches!(&retried, Err(SyncError::OutcomeUnknown { .. })),
            "{retried:?}"
        ),
    }
    assert_eq!(
        orders_at_provider(world, account),
        1,
        "one order at the provider"
    );
    let rows = world
        .store()
        .list_orders(world.user, Some(account.id))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one row: {rows:?}");
    assert_eq!(rows[0].client_order_id.as_ref(), Some(key));
}

/// Places an order whose first answer `astray` sends astray (lost, or later than the timeout), then retries.
async fn an_answer_astray_leaves_one_order<S: Store + 'static>(
    store: S,
    user: UserId,
    provider: Provider,
    astray: fn(&World<S>, Provider),
) {
    let (world, account) = world_trading_at(store, user, provider).await;
    astray(&world, provider);
    let (order, key) = with_key(limit_buy("AAPL", "1", "10.00"), &fresh_key());

    let first = world
        .engine
        .place_order(world.user, account.id, order.clone())
        .await;

    retried_after_a_lost_answer(&world, &account, order, &key, first).await;
}

async fn an_answer_lost_after_the_provider_placed_the_order_leaves_one_order<S: Store + 'static>(
    store: S,
    user: UserId,
    provider: Provider,
) {
    an_answer_astray_leaves_one_order(store, user, provider, lose_answers).await;
}

async fn an_answer_later_than_the_timeout_leaves_one_order<S: Store + 'static>(
    store: S,
    user: UserId,
    provider: Provider,
) {
    an_answer_astray_leaves_one_order(store, user, provider, delay_answers).await;
}

async fn an_order_recorded_but_never_sent_is_sent_once_by_the_retry<S: Store + 'static>(
    store: S,
    user: UserId,
    provider: Provider,
) {
    let (world, account) = world_trading_at(store, user, provider).await;
    let (order, key) = with_key(limit_buy("AAPL", "1", "10.00"), &fresh_key());
    // What the engine records before it hands an order over, as a process that stopped right then left it.
    let mut recorded = NewOrder::new(
        world.user,
        account.id,
        BrokerageOrderId::parse(key.as_str()).unwrap(),
        order.symbol().clone(),
        order.action().clone(),
        order.order_type().clone(),
        OrderStatus::Pending,
        Utc::now(),
    );
    recorded.client_order_id = Some(key.clone());
    recorded.raw_order_data =
        Some(json!({ "client_order_id": key.as_str(), "handed_to_provider": false }));
    world
        .store()
        .upsert_orders(world.user, &[recorded])
        .await
        .unwrap();
    assert_eq!(orders_at_provider(&world, &account), 0);

    let placed = world
        .engine
        .place_order(world.user, account.id, order)
        .await
        .unwrap();

    assert!(placed.impact.is_some(), "it was checked and sent now");
    assert_eq!(orders_at_provider(&world, &account), 1);
    let rows = world
        .store()
        .list_orders(world.user, Some(account.id))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the recorded row became the order");
    assert_eq!(rows[0].id, placed.order.id);
    assert_ne!(rows[0].brokerage_order_id.as_str(), key.as_str());
}

async fn a_retry_after_success_sends_nothing<S: Store + 'static>(
    store: S,
    user: UserId,
    provider: Provider,
) {
    let (world, account) = world_trading_at(store, user, provider).await;
    let (order, key) = with_key(limit_buy("AAPL", "1", "10.00"), &fresh_key());
    let placed = world
        .engine
        .place_order(world.user, account.id, order.clone())
        .await
        .unwrap();
    // A sync in between rewrites the row from the provider's listing, which does not carry the key.
    world.engine.sync_user(world.user).await.unwrap();
    let requests = (
        world.sandbox.alpaca().log().all().len(),
        world.sandbox.snaptrade().log().count("POST", "/trade"),
    );

    let retried = world
        .engine
        .place_order(world.user, account.id, order)
        .await
        .unwrap();

    assert_eq!(retried.order.id, placed.order.id);
    assert_eq!(retried.client_order_id, key);
    assert!(retried.impact.is_none(), "nothing was checked or sent");
    assert_eq!(
        world.sandbox.snaptrade().log().count("POST", "/trade"),
        requests.1
    );
    if provider == Provider::Alpaca {
        assert_eq!(
            world.sandbox.alpaca().log().all().len(),
            requests.0,
            "no request reached Alpaca"
        );
    }
    assert_eq!(orders_at_provider(&world, &account), 1);
}

/// One scenario for each trading provider.
macro_rules! for_each_trading_provider {
    ($($scenario:ident => $alpaca:ident, $snaptrade:ident;)*) => {$(
        pub async fn $alpaca<S: Store + 'static>(store: S, user: UserId) {
            $scenario(store, user, Provider::Alpaca).await;
        }

        pub async fn $snaptrade<S: Store + 'static>(store: S, user: UserId) {
            $scenario(store, user, Provider::SnapTrade).await;
        }
    )*};
}

for_each_trading_provider! {
    an_answer_lost_after_the_provider_placed_the_order_leaves_one_order =>
        alpaca_answer_lost_after_placing_leaves_one_order,
        snaptrade_answer_lost_after_placing_leaves_one_order_and_sends_nothing_more;
    an_answer_later_than_the_timeout_leaves_one_order =>
        alpaca_answer_after_the_timeout_leaves_one_order,
        snaptrade_answer_after_the_timeout_leaves_one_order_and_sends_nothing_more;
    an_order_recorded_but_never_sent_is_sent_once_by_the_retry =>
        alpaca_order_recorded_but_never_sent_is_sent_once_by_the_retry,
        snaptrade_order_recorded_but_never_sent_is_sent_once_by_the_retry;
    a_retry_after_success_sends_nothing =>
        alpaca_retry_after_success_sends_nothing,
        snaptrade_retry_after_success_sends_nothing;
}
