//! SnapTrade connections: status changes, deletion, and authorization ids scoped per user.

use tributary_domain::{
    AuthorizationId, ConnectionStatus, ExposeSecret, OrderStatus, Provider, StatusMessage,
};
use tributary_repo::{
    AccountRepository, ConnectionRepository, ConnectionStatusChange, OrderRepository,
    PortfolioRepository, RepoError, SnapTradeUserRepository,
};

use super::{Harness, account, at, connection, message, order, snaptrade_account, snaptrade_user};

pub async fn connection_status_moves_between_active_disabled_and_error<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let authorization = AuthorizationId::generate();
    let created = store
        .upsert_connections(user, &[connection(user, authorization)])
        .await
        .unwrap();
    assert_eq!(created[0].status, ConnectionStatus::Active);

    let broken_at = at(30);
    let disabled = store
        .set_connection_status(
            user,
            authorization,
            ConnectionStatusChange::Disabled {
                at: broken_at,
                message: Some(message("login expired")),
            },
        )
        .await
        .unwrap();
    assert_eq!(disabled.status, ConnectionStatus::Disabled);
    assert_eq!(disabled.disabled_date, Some(broken_at));
    assert!(disabled.updated_at > created[0].updated_at);

    let failing = store
        .set_connection_status(
            user,
            authorization,
            ConnectionStatusChange::Error {
                message: message("timeout"),
            },
        )
        .await
        .unwrap();
    assert_eq!(failing.status, ConnectionStatus::Error);
    assert_eq!(
        failing.disabled_date,
        Some(broken_at),
        "an error keeps the disabled date"
    );
    assert_eq!(
        failing.error_message.as_ref().map(StatusMessage::as_str),
        Some("timeout")
    );

    let active = store
        .set_connection_status(user, authorization, ConnectionStatusChange::Active)
        .await
        .unwrap();
    assert_eq!(
        (
            active.status,
            active.disabled_date,
            active.error_message.clone()
        ),
        (ConnectionStatus::Active, None, None)
    );
    let again = store
        .set_connection_status(user, authorization, ConnectionStatusChange::Active)
        .await
        .unwrap();
    assert_eq!(again.updated_at, active.updated_at, "no change, no write");

    // A sync may also report the state through an upsert.
    let reported = connection(user, authorization).disabled(broken_at, None);
    let upserted = store.upsert_connections(user, &[reported]).await.unwrap();
    assert_eq!(upserted[0].id, created[0].id);
    assert_eq!(
        store
            .get_connection(user, authorization)
            .await
            .unwrap()
            .status,
        ConnectionStatus::Disabled
    );
    assert!(matches!(
        store
            .set_connection_status(
                user,
                AuthorizationId::generate(),
                ConnectionStatusChange::Active
            )
            .await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
}

pub async fn a_deleted_connection_is_gone_while_its_accounts_and_orders_stay<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    let (deleted, kept, others) = (
        AuthorizationId::generate(),
        AuthorizationId::generate(),
        AuthorizationId::generate(),
    );
    store
        .upsert_connections(user, &[connection(user, deleted), connection(user, kept)])
        .await
        .unwrap();
    h.store_for(other)
        .upsert_connections(other, &[connection(other, others)])
        .await
        .unwrap();
    let mut linked = account(user, Provider::SnapTrade, "acc-deleted-connection");
    linked.snaptrade_authorization_id = Some(deleted);
    let linked = h.admin().upsert_accounts(user, &[linked]).await.unwrap();
    let orders = store
        .upsert_orders(user, &[order(user, linked[0].id, "ord-history")])
        .await
        .unwrap();
    let before = store.get_connection(user, deleted).await.unwrap();

    let removed = store.delete_connection(user, deleted).await.unwrap();

    assert_eq!(removed, before, "the row as it was is returned");
    let remaining: Vec<_> = store
        .list_connections(user)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.authorization_id)
        .collect();
    assert_eq!(remaining, [kept]);
    assert!(matches!(
        store.get_connection(user, deleted).await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    assert_eq!(store.list_accounts(user).await.unwrap(), linked);
    assert_eq!(store.list_orders(user, None).await.unwrap(), orders);
    let unified = store.unified_accounts(user).await.unwrap();
    assert_eq!(unified[0].snaptrade_authorization_id, Some(deleted));
    assert_eq!(unified[0].brokerage_connection_status, None);

    for (whose, authorization) in [("deleted already", deleted), ("another user's", others)] {
        assert!(
            matches!(
                store.delete_connection(user, authorization).await,
                Err(RepoError::NotFound {
                    entity: "connection"
                })
            ),
            "{whose}"
        );
    }
    assert_eq!(
        h.store_for(other)
            .get_connection(other, others)
            .await
            .unwrap()
            .status,
        ConnectionStatus::Active
    );
}

/// Every key a provider supplies is scoped by user (migration 0013): the same authorization id, SnapTrade user
/// id, provider account id or brokerage order id stored for two users is two rows, and a write for one user
/// neither fails on, nor changes, nor reads the other's.
pub async fn a_provider_key_held_by_one_user_neither_blocks_nor_captures_anothers<H: Harness>(
    h: &H,
) {
    let (alice, bob) = (h.new_user().await, h.new_user().await);
    let (as_alice, as_bob) = (h.store_for(alice), h.store_for(bob));

    let authorization = AuthorizationId::generate();
    let alices_connection = as_alice
        .upsert_connections(alice, &[connection(alice, authorization)])
        .await
        .unwrap();
    let mut bobs = connection(bob, authorization);
    bobs.status = ConnectionStatus::Disabled;
    bobs.disabled_date = Some(at(10));
    let bobs_own = AuthorizationId::generate();
    let bobs_connections = as_bob
        .upsert_connections(bob, &[connection(bob, bobs_own), bobs])
        .await
        .unwrap();
    assert_eq!(bobs_connections.len(), 2);
    assert!(bobs_connections.iter().all(|c| c.user_id == bob));
    assert_ne!(bobs_connections[1].id, alices_connection[0].id);
    assert_eq!(
        as_alice.list_connections(alice).await.unwrap(),
        alices_connection,
        "Alice's connection is untouched"
    );
    as_bob.delete_connection(bob, authorization).await.unwrap();
    assert_eq!(
        as_alice.get_connection(alice, authorization).await.unwrap(),
        alices_connection[0]
    );

    let alices_account = snaptrade_account(h, alice, "same-provider-account").await;
    let bobs_account = snaptrade_account(h, bob, "same-provider-account").await;
    assert_ne!(alices_account.id, bobs_account.id);
    assert_eq!(bobs_account.user_id, bob);

    let alices_order = as_alice
        .upsert_orders(
            alice,
            &[order(alice, alices_account.id, "same-brokerage-order")],
        )
        .await
        .unwrap();
    let mut filled = order(bob, bobs_account.id, "same-brokerage-order");
    filled.status = OrderStatus::Filled;
    let bobs_order = as_bob.upsert_orders(bob, &[filled]).await.unwrap();
    assert_ne!(alices_order[0].id, bobs_order[0].id);
    assert_eq!(
        as_alice.list_orders(alice, None).await.unwrap(),
        alices_order,
        "Alice's order is untouched"
    );

    h.admin()
        .upsert_snaptrade_user(alice, &snaptrade_user(alice, "snap-same", "secret-a"))
        .await
        .unwrap();
    let bobs_registration = h
        .admin()
        .upsert_snaptrade_user(bob, &snaptrade_user(bob, "snap-same", "secret-b"))
        .await
        .unwrap();
    assert_eq!(bobs_registration.user_id, bob);
    let alices_registration = h.admin().find_snaptrade_user(alice).await.unwrap().unwrap();
    assert_eq!(alices_registration.user_secret.expose_secret(), "secret-a");
}
