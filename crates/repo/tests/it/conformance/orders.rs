//! Orders: upserts by brokerage order id and account, status updates, a pending order confirmed in place.

use tributary_domain::{
    AccountId, NewOrder, OrderId, OrderStatus, Price, StatusMessage, Units, UserId,
};
use tributary_repo::{OrderRepository, RepoError};

use super::{Harness, at, message, order, snaptrade_account};

pub(super) fn order_for_account(user: UserId, account: AccountId) -> NewOrder {
    order(user, account, "ord-b")
}

pub async fn orders_upsert_by_brokerage_order_and_account_and_take_status_updates<H: Harness>(
    h: &H,
) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let (first_account, second_account) = (
        snaptrade_account(h, user, "acc-o1").await,
        snaptrade_account(h, user, "acc-o2").await,
    );
    let placed = store
        .upsert_orders(
            user,
            &[
                order(user, first_account.id, "ord-1"),
                order(user, second_account.id, "ord-1"),
            ],
        )
        .await
        .unwrap();
    assert_ne!(
        placed[0].id, placed[1].id,
        "the same brokerage order id on two accounts is two orders"
    );

    let mut filled = order(user, first_account.id, "ord-1");
    filled.status = OrderStatus::Filled;
    filled.filled_units = Some(Units::parse("10").unwrap());
    filled.average_fill_price = Some(Price::parse("187.10").unwrap());
    filled.filled_at = Some(at(1));
    let synced = store.upsert_orders(user, &[filled.clone()]).await.unwrap();
    assert_eq!(synced[0].id, placed[0].id);
    assert_eq!(synced[0].status, OrderStatus::Filled);
    assert_eq!(synced[0].average_fill_price, filled.average_fill_price);
    assert_eq!(synced[0].filled_at, filled.filled_at);
    assert_eq!(synced[0].limit_price.unwrap().to_string(), "187.2500000000");

    let canceled = store
        .update_order_status(
            user,
            placed[1].id,
            OrderStatus::Canceled,
            Some(message("user canceled")),
        )
        .await
        .unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);
    assert_eq!(
        canceled.status_message.as_ref().map(StatusMessage::as_str),
        Some("user canceled")
    );
    let unchanged = store
        .update_order_status(
            user,
            placed[1].id,
            OrderStatus::Canceled,
            Some(message("user canceled")),
        )
        .await
        .unwrap();
    assert_eq!(unchanged.updated_at, canceled.updated_at);

    let unknown = OrderStatus::parse("DONE_FOR_DAY").unwrap();
    let other = store
        .update_order_status(user, placed[0].id, unknown.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        store.get_order(user, other.id).await.unwrap().status,
        unknown,
        "unknown statuses are kept"
    );

    assert_eq!(store.list_orders(user, None).await.unwrap().len(), 2);
    let of_second = store
        .list_orders(user, Some(second_account.id))
        .await
        .unwrap();
    assert_eq!(
        of_second.iter().map(|o| o.id).collect::<Vec<_>>(),
        [placed[1].id]
    );
    assert!(matches!(
        store
            .update_order_status(user, OrderId::generate(), OrderStatus::Filled, None)
            .await,
        Err(RepoError::NotFound { entity: "order" })
    ));
}

pub async fn a_pending_order_is_confirmed_in_place_as_the_providers_order<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let account = snaptrade_account(h, user, "acc-confirm").await;
    let pending = store
        .upsert_orders(user, &[order(user, account.id, "client-7f3a")])
        .await
        .unwrap()
        .remove(0);

    let mut placed = order(user, account.id, "brk-1001");
    placed.status = OrderStatus::Accepted;
    placed.raw_order_data = Some(serde_json::json!({ "brokerage_order_id": "brk-1001" }));
    let confirmed = store
        .confirm_order(user, pending.id, &placed)
        .await
        .unwrap();
    assert_eq!(
        confirmed.id, pending.id,
        "the pending row becomes the provider's order"
    );
    assert_eq!(confirmed.brokerage_order_id.as_str(), "brk-1001");
    assert_eq!(confirmed.status, OrderStatus::Accepted);
    assert_eq!(confirmed.raw_order_data, placed.raw_order_data);
    let listed = store.list_orders(user, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|o| o.id).collect::<Vec<_>>(),
        [pending.id],
        "one row per placed order"
    );

    let again = store
        .confirm_order(user, pending.id, &placed)
        .await
        .unwrap();
    assert_eq!(
        again.updated_at, confirmed.updated_at,
        "the same answer rewrites nothing"
    );

    // A retry records a second pending row; the provider answers with the order it already has: that row
    // keeps its id and the retry's row folds into it.
    let retry = store
        .upsert_orders(user, &[order(user, account.id, "client-9c1d")])
        .await
        .unwrap()
        .remove(0);
    let mut filled = placed.clone();
    filled.status = OrderStatus::Filled;
    let folded = store.confirm_order(user, retry.id, &filled).await.unwrap();
    assert_eq!(folded.id, pending.id);
    assert_eq!(folded.status, OrderStatus::Filled);
    assert!(matches!(
        store.get_order(user, retry.id).await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert_eq!(store.list_orders(user, None).await.unwrap().len(), 1);

    let other_account = snaptrade_account(h, user, "acc-confirm-2").await;
    assert!(matches!(
        store
            .confirm_order(user, pending.id, &order(user, other_account.id, "brk-1001"))
            .await,
        Err(RepoError::InvalidData { field, .. }) if field == "account_id"
    ));
    assert!(matches!(
        store
            .confirm_order(user, OrderId::generate(), &placed)
            .await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert_eq!(
        store
            .get_order(user, pending.id)
            .await
            .unwrap()
            .brokerage_order_id
            .as_str(),
        "brk-1001",
        "a refused confirmation writes nothing"
    );
}
