//! Removals: one Plaid Item, or every row of a user; only that user's, and undone with an unfinished unit of writes.

use tributary_domain::{
    AuthorizationId, ConnectionStatus, Provider, ProviderAccountId, ProviderItemId,
};
use tributary_repo::{
    AccountRepository, ConnectionRepository, ConnectionStatusChange, HoldingRepository,
    LockRepository, OrderRepository, PlaidItemRepository, PortfolioRepository, RemovalRepository,
    RepoError, SnapTradeUserRepository, TransactionRepository, UserRowsDeleted,
    ValueHistoryRepository,
};

use super::{Harness, account, connection, holding, order, plaid_item, snaptrade_user};

/// Gives `user` one of everything: a SnapTrade account under a connection with an order, a Plaid account of
/// Item `item-1`, two holdings, a SnapTrade registration, an Alpaca account link. Returns the authorization.
async fn one_of_everything<H: Harness>(h: &H, user: tributary_domain::UserId) -> AuthorizationId
where
    H::Store: RemovalRepository,
{
    let store = h.admin();
    let authorization = AuthorizationId::generate();
    store
        .upsert_connections(user, &[connection(user, authorization)])
        .await
        .unwrap();
    let mut snaptrade = account(user, Provider::SnapTrade, "acc-snaptrade");
    snaptrade.snaptrade_authorization_id = Some(authorization);
    let mut plaid = account(user, Provider::Plaid, "acc-plaid");
    plaid.provider_item_id = Some(ProviderItemId::parse("item-1").unwrap());
    let accounts = store
        .upsert_accounts(user, &[snaptrade, plaid])
        .await
        .unwrap();
    store
        .upsert_orders(user, &[order(user, accounts[0].id, "order-1")])
        .await
        .unwrap();
    let plaid_account = accounts[1].id;
    store
        .upsert_transactions(
            user,
            plaid_account,
            &[super::history::transaction(
                user,
                plaid_account,
                Provider::Plaid,
                "tx-1",
                "2025-05-02",
                "100",
                "USD",
            )],
        )
        .await
        .unwrap();
    store
        .advance_transactions_synced_through(user, plaid_account, super::history::day("2025-05-02"))
        .await
        .unwrap();
    let value = |account| {
        tributary_domain::NewValuePoint::new(
            user,
            account,
            super::history::day("2025-05-02"),
            tributary_domain::Currency::usd(),
            tributary_domain::SignedAmount::parse_exact("100").unwrap(),
        )
    };
    store
        .upsert_value_points(user, &[value(Some(plaid_account)), value(None)])
        .await
        .unwrap();
    store
        .replace_holdings(
            user,
            &[
                holding(user, "AAPL", "1", "200"),
                holding(user, "VTI", "2", "500"),
            ],
        )
        .await
        .unwrap();
    store
        .upsert_plaid_item(user, &plaid_item("item-1", "access-sandbox-1"))
        .await
        .unwrap();
    store
        .upsert_snaptrade_user(user, &snaptrade_user(user, &user.to_string(), "secret-1"))
        .await
        .unwrap();
    store
        .set_alpaca_account(
            user,
            Some(ProviderAccountId::parse("904837e3-3b76-47ec-b432-046db621571b").unwrap()),
        )
        .await
        .unwrap();
    authorization
}

pub async fn removing_an_item_or_a_user_deletes_that_users_rows_and_no_one_elses<H: Harness>(h: &H)
where
    H::Store: RemovalRepository,
{
    let (user, other) = (h.new_user().await, h.new_user().await);
    one_of_everything(h, user).await;
    one_of_everything(h, other).await;
    let store = h.admin();
    let item = ProviderItemId::parse("item-1").unwrap();

    store.delete_plaid_item(user, &item).await.unwrap();
    assert!(matches!(
        store.get_plaid_item(user, &item).await,
        Err(RepoError::NotFound {
            entity: "plaid item"
        })
    ));
    assert!(matches!(
        store.delete_plaid_item(user, &item).await,
        Err(RepoError::NotFound {
            entity: "plaid item"
        })
    ));
    assert_eq!(
        store.list_accounts(user).await.unwrap().len(),
        2,
        "an Item's accounts are the caller's to retire"
    );
    store.get_plaid_item(other, &item).await.unwrap();

    store
        .upsert_plaid_item(user, &plaid_item("item-2", "access-sandbox-2"))
        .await
        .unwrap();
    let deleted = store.delete_user_rows(user).await.unwrap();
    assert_eq!(
        deleted,
        UserRowsDeleted {
            accounts: 2,
            orders: 1,
            holdings: 2,
            connections: 1,
            plaid_items: 1,
            transactions: 1,
            value_points: 2,
            snaptrade_user: true,
            alpaca_account_link: true,
        }
    );
    assert!(store.list_accounts(user).await.unwrap().is_empty());
    assert!(store.list_orders(user, None).await.unwrap().is_empty());
    assert!(store.list_holdings(user).await.unwrap().is_empty());
    assert!(store.list_connections(user).await.unwrap().is_empty());
    assert!(store.list_plaid_items(user).await.unwrap().is_empty());
    assert!(
        store
            .list_transactions(user, &tributary_repo::TransactionQuery::latest(100))
            .await
            .unwrap()
            .is_empty()
    );
    let all_time = (
        super::history::day("2000-01-01"),
        super::history::day("2100-01-01"),
    );
    assert!(
        store
            .value_history(user, all_time.0, all_time.1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.find_snaptrade_user(user).await.unwrap().is_none());
    assert!(
        store
            .portfolio_mode(user)
            .await
            .unwrap()
            .alpaca_account_id
            .is_none()
    );
    let again = store.delete_user_rows(user).await.unwrap();
    assert!(again.is_empty(), "{again:?}");

    // The other user keeps everything.
    assert_eq!(store.list_accounts(other).await.unwrap().len(), 2);
    assert_eq!(store.list_orders(other, None).await.unwrap().len(), 1);
    assert_eq!(store.list_holdings(other).await.unwrap().len(), 2);
    assert_eq!(store.list_connections(other).await.unwrap().len(), 1);
    assert_eq!(store.list_plaid_items(other).await.unwrap().len(), 1);
    assert!(store.find_snaptrade_user(other).await.unwrap().is_some());
    assert!(
        store
            .portfolio_mode(other)
            .await
            .unwrap()
            .alpaca_account_id
            .is_some()
    );
}

pub async fn a_removal_in_an_unfinished_unit_of_writes_is_undone<H: Harness>(h: &H)
where
    H::Store: RemovalRepository,
{
    let user = h.new_user().await;
    one_of_everything(h, user).await;
    let store = h.admin();
    let item = ProviderItemId::parse("item-1").unwrap();

    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound.delete_plaid_item(user, &item).await.unwrap();
    bound.delete_user_rows(user).await.unwrap();
    drop(bound);
    drop(lock);

    assert_eq!(store.list_accounts(user).await.unwrap().len(), 2);
    assert_eq!(store.list_orders(user, None).await.unwrap().len(), 1);
    assert_eq!(store.list_holdings(user).await.unwrap().len(), 2);
    assert_eq!(store.list_connections(user).await.unwrap().len(), 1);
    store.get_plaid_item(user, &item).await.unwrap();
    assert!(store.find_snaptrade_user(user).await.unwrap().is_some());
    assert!(
        store
            .portfolio_mode(user)
            .await
            .unwrap()
            .alpaca_account_id
            .is_some()
    );

    // Committed, it is gone.
    let lock = store.lock_user(user).await.unwrap();
    let bound = store.within(&lock).unwrap();
    lock.begin_writes().await.unwrap();
    bound.delete_user_rows(user).await.unwrap();
    lock.commit_writes().await.unwrap();
    lock.release().await.unwrap();
    assert!(store.list_accounts(user).await.unwrap().is_empty());
}

pub async fn a_connections_health_shows_on_its_accounts<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.admin();
    let authorization = AuthorizationId::generate();
    for owner in [user, other] {
        store
            .upsert_connections(owner, &[connection(owner, authorization)])
            .await
            .unwrap();
        let mut under = account(owner, Provider::SnapTrade, "acc-under");
        under.snaptrade_authorization_id = Some(authorization);
        let elsewhere = account(owner, Provider::SnapTrade, "acc-elsewhere");
        store
            .upsert_accounts(owner, &[under, elsewhere])
            .await
            .unwrap();
    }
    let health = |accounts: Vec<tributary_domain::InvestmentAccount>| {
        accounts
            .into_iter()
            .map(|a| {
                (
                    a.provider_account_id.as_str().to_owned(),
                    a.connection_status,
                )
            })
            .collect::<Vec<_>>()
    };

    store
        .set_connection_status(
            user,
            authorization,
            ConnectionStatusChange::Disabled {
                at: super::at(5),
                message: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        health(store.list_accounts(user).await.unwrap()),
        [
            ("acc-elsewhere".to_owned(), ConnectionStatus::Active),
            ("acc-under".to_owned(), ConnectionStatus::Disabled),
        ]
    );
    assert!(
        store
            .list_accounts(other)
            .await
            .unwrap()
            .iter()
            .all(|a| a.connection_status == ConnectionStatus::Active),
        "another user's account under the same id is not touched"
    );

    store
        .set_connection_status(user, authorization, ConnectionStatusChange::Active)
        .await
        .unwrap();
    assert!(
        store
            .list_accounts(user)
            .await
            .unwrap()
            .iter()
            .all(|a| a.connection_status == ConnectionStatus::Active)
    );
}
