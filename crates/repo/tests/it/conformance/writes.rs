//! What holds for every aggregate: a repeated write changes nothing, one user never reaches another's rows,
//! and missing rows and bad batches are typed errors.

use tributary_domain::{
    AccountId, AuthorizationId, ConnectionStatus, OrderStatus, Provider, Symbol, UserId,
};
use tributary_repo::{
    AccountRepository, ConnectionRepository, ConnectionStatusChange, HoldingRepository,
    OrderRepository, PortfolioRepository, RepoError,
};

use super::orders::order_for_account;
use super::{Harness, account, connection, holding, message, order, snaptrade_account, symbols};

pub async fn a_second_identical_write_changes_nothing<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let account = snaptrade_account(h, user, "acc-idem").await;

    let holdings = [
        holding(user, "AAPL", "10", "2291.40"),
        holding(user, "VTI", "42.5", "12346.25"),
    ];
    assert_eq!(
        store
            .replace_holdings(user, &holdings)
            .await
            .unwrap()
            .written,
        2
    );
    let before = store.list_holdings(user).await.unwrap();
    let again = store.replace_holdings(user, &holdings).await.unwrap();
    assert_eq!((again.written, again.removed), (0, 0));
    assert_eq!(store.upsert_holdings(user, &holdings).await.unwrap(), 0);
    assert_eq!(
        store.list_holdings(user).await.unwrap(),
        before,
        "updated_at unchanged"
    );

    let orders = [
        order(user, account.id, "ord-1"),
        order(user, account.id, "ord-2"),
    ];
    let first = store.upsert_orders(user, &orders).await.unwrap();
    assert_eq!(store.upsert_orders(user, &orders).await.unwrap(), first);

    let connections = [connection(user, AuthorizationId::generate())];
    let first = store.upsert_connections(user, &connections).await.unwrap();
    assert_eq!(
        store.upsert_connections(user, &connections).await.unwrap(),
        first
    );
}

pub async fn another_user_never_reads_or_writes_the_first_users_rows<H: Harness>(h: &H) {
    let (alice, bob) = (h.new_user().await, h.new_user().await);
    let (as_alice, as_bob) = (h.store_for(alice), h.store_for(bob));
    let account = snaptrade_account(h, alice, "alice-acc").await;
    let authorization = AuthorizationId::generate();
    as_alice
        .upsert_connections(alice, &[connection(alice, authorization)])
        .await
        .unwrap();
    as_alice
        .replace_holdings(alice, &[holding(alice, "AAPL", "1", "200")])
        .await
        .unwrap();
    let order = as_alice
        .upsert_orders(alice, &[order(alice, account.id, "ord-a")])
        .await
        .unwrap();
    let order_id = order[0].id;

    assert!(as_bob.list_accounts(bob).await.unwrap().is_empty());
    assert!(as_bob.list_connections(bob).await.unwrap().is_empty());
    assert!(as_bob.list_holdings(bob).await.unwrap().is_empty());
    assert!(as_bob.list_orders(bob, None).await.unwrap().is_empty());
    assert!(as_bob.unified_accounts(bob).await.unwrap().is_empty());
    assert!(matches!(
        as_bob.get_account(bob, account.id).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    assert!(matches!(
        as_bob.get_order(bob, order_id).await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert!(matches!(
        as_bob.get_connection(bob, authorization).await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    assert!(matches!(
        as_bob
            .get_holding(bob, &Symbol::parse("AAPL").unwrap(), None)
            .await,
        Err(RepoError::NotFound { entity: "holding" })
    ));

    // Writes aimed at Alice's rows do not reach them.
    assert!(matches!(
        as_bob
            .update_order_status(bob, order_id, OrderStatus::Canceled, None)
            .await,
        Err(RepoError::NotFound { entity: "order" })
    ));
    assert!(matches!(
        as_bob
            .set_connection_status(
                bob,
                authorization,
                ConnectionStatusChange::Error {
                    message: message("x")
                }
            )
            .await,
        Err(RepoError::NotFound {
            entity: "connection"
        })
    ));
    assert!(matches!(
        as_bob
            .upsert_orders(bob, &[order_for_account(bob, account.id)])
            .await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    assert_eq!(as_bob.replace_holdings(bob, &[]).await.unwrap().removed, 0);
    assert!(matches!(
        as_bob
            .upsert_holdings(bob, &[holding(alice, "MSFT", "1", "1")])
            .await,
        Err(RepoError::Forbidden { .. })
    ));

    assert_eq!(
        as_alice.get_order(alice, order_id).await.unwrap().status,
        OrderStatus::Pending
    );
    assert_eq!(
        as_alice
            .get_connection(alice, authorization)
            .await
            .unwrap()
            .status,
        ConnectionStatus::Active
    );
    assert_eq!(symbols(h, alice).await, ["AAPL"]);
}

pub async fn missing_rows_and_bad_batches_are_typed_errors<H: Harness>(h: &H) {
    let (alice, bob) = (h.new_user().await, h.new_user().await);
    let (as_alice, as_bob) = (h.store_for(alice), h.store_for(bob));
    assert!(matches!(
        as_alice.get_account(alice, AccountId::generate()).await,
        Err(RepoError::NotFound { entity: "account" })
    ));

    let twice = [
        connection(alice, AuthorizationId::generate()),
        connection(bob, AuthorizationId::generate()),
    ];
    assert!(matches!(
        as_alice.upsert_connections(alice, &twice).await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(as_bob.list_connections(bob).await.unwrap().is_empty());

    let twice = [
        account(alice, Provider::Plaid, "dup"),
        account(alice, Provider::Plaid, "dup"),
    ];
    assert!(matches!(
        as_alice.upsert_accounts(alice, &twice).await,
        Err(RepoError::InvalidData { field, .. }) if field == "provider_account_id"
    ));
    let foreign = [
        account(alice, Provider::Plaid, "mine"),
        account(bob, Provider::Plaid, "theirs"),
    ];
    assert!(matches!(
        as_alice.upsert_accounts(alice, &foreign).await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(as_alice.list_accounts(alice).await.unwrap().is_empty());

    let unknown_user = UserId::generate();
    assert!(matches!(
        h.admin()
            .upsert_accounts(unknown_user, &[account(unknown_user, Provider::Plaid, "x")])
            .await,
        Err(RepoError::NotFound { entity: "user" })
    ));
}
