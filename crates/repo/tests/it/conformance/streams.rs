//! Event stream positions: moved only forward, saved with the unit of writes they belong to; and the owners of
//! a provider account, found across users.

use tributary_domain::{Provider, ProviderAccountId, UserId};
use tributary_repo::{
    AccountRepository, EventStreamRepository, LockRepository, OrderRepository, StreamEventId,
    StreamName,
};

use super::{Harness, account, order};

fn stream(name: &str) -> StreamName {
    StreamName::parse(name).unwrap()
}

fn id(text: &str) -> StreamEventId {
    StreamEventId::parse(text).unwrap()
}

const FIRST: &str = "01G112NTT0XAXKDZK3AABK68TH";
const SECOND: &str = "01G112NTT0XAXKDZK3AABK68TJ";
const THIRD: &str = "01G112NTT0XAXKDZK3AABK68TK";

pub async fn a_stream_position_moves_only_forward<H: Harness>(h: &H)
where
    H::Store: EventStreamRepository,
{
    let store = h.admin();
    let trades = stream("alpaca/trade-events");
    let other = stream("alpaca/other");
    assert_eq!(store.stream_position(&trades).await.unwrap(), None);
    assert!(
        store
            .advance_stream(None, &trades, &id(SECOND))
            .await
            .unwrap()
    );
    assert_eq!(
        store.stream_position(&trades).await.unwrap(),
        Some(id(SECOND))
    );
    assert!(
        !store
            .advance_stream(None, &trades, &id(SECOND))
            .await
            .unwrap(),
        "the same event again is one already applied"
    );
    assert!(
        !store
            .advance_stream(None, &trades, &id(FIRST))
            .await
            .unwrap(),
        "an earlier event never moves the position back"
    );
    assert_eq!(
        store.stream_position(&trades).await.unwrap(),
        Some(id(SECOND))
    );
    assert!(
        store
            .advance_stream(None, &trades, &id(THIRD))
            .await
            .unwrap()
    );
    assert_eq!(
        store.stream_position(&trades).await.unwrap(),
        Some(id(THIRD))
    );
    assert_eq!(
        store.stream_position(&other).await.unwrap(),
        None,
        "each stream has its own position"
    );
}

pub async fn a_stream_position_is_saved_with_its_unit_of_writes_or_not_at_all<H: Harness>(h: &H)
where
    H::Store: EventStreamRepository,
{
    let user = h.new_user().await;
    let store = h.admin();
    let trades = stream("alpaca/trade-events");
    let stored = store
        .upsert_accounts(user, &[account(user, Provider::Alpaca, "alp-1")])
        .await
        .unwrap();
    let account_id = stored[0].id;

    // Dropped before it commits: neither the order nor the position stays.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_orders(user, &[order(user, account_id, "ord-1")])
        .await
        .unwrap();
    assert!(
        bound
            .advance_stream(Some(user), &trades, &id(FIRST))
            .await
            .unwrap()
    );
    drop(bound);
    drop(lock);
    assert!(store.list_orders(user, None).await.unwrap().is_empty());
    assert_eq!(store.stream_position(&trades).await.unwrap(), None);

    // Committed: both.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound
        .upsert_orders(user, &[order(user, account_id, "ord-1")])
        .await
        .unwrap();
    assert!(
        bound
            .advance_stream(Some(user), &trades, &id(FIRST))
            .await
            .unwrap()
    );
    lock.commit_writes().await.unwrap();
    drop(bound);
    lock.release().await.unwrap();
    assert_eq!(store.list_orders(user, None).await.unwrap().len(), 1);
    assert_eq!(
        store.stream_position(&trades).await.unwrap(),
        Some(id(FIRST))
    );
}

pub async fn the_owners_of_a_provider_account_are_found_across_users<H: Harness>(h: &H)
where
    H::Store: EventStreamRepository,
{
    let (alice, bob, carol) = (h.new_user().await, h.new_user().await, h.new_user().await);
    let store = h.admin();
    let shared = "529248ad-c4cc-4a50-bea4-6bfd2953f83a";
    for user in [alice, bob] {
        store
            .upsert_accounts(user, &[account(user, Provider::Alpaca, shared)])
            .await
            .unwrap();
    }
    store
        .upsert_accounts(carol, &[account(carol, Provider::Alpaca, "another")])
        .await
        .unwrap();
    // The same id at another provider is another account.
    store
        .upsert_accounts(carol, &[account(carol, Provider::Plaid, shared)])
        .await
        .unwrap();
    let id = ProviderAccountId::parse(shared).unwrap();
    let found = store
        .accounts_by_provider_id(Provider::Alpaca, &id)
        .await
        .unwrap();
    let mut expected: Vec<UserId> = vec![alice, bob];
    expected.sort_by_key(|user| user.into_uuid());
    assert_eq!(
        found.iter().map(|a| a.user_id).collect::<Vec<_>>(),
        expected
    );
    assert!(
        found
            .iter()
            .all(|a| a.provider == Provider::Alpaca && a.provider_account_id == id)
    );
    let nobody = ProviderAccountId::parse("3dcb795c-3ccc-402a-abb9-07e26a1b1326").unwrap();
    assert!(
        store
            .accounts_by_provider_id(Provider::Alpaca, &nobody)
            .await
            .unwrap()
            .is_empty()
    );
}
