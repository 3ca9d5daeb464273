//! Plaid Items: stored once per user and Item, their token kept, their health moved and shown on their accounts.

use tributary_domain::{
    ConnectionStatus, ExposeSecret, InstitutionName, Provider, ProviderItemId, SecretString,
    StatusMessage,
};
use tributary_repo::{
    AccountRepository, NewPlaidItem, PlaidItemRepository, PlaidItemStatus, PlaidItemStatusChange,
    RepoError,
};

use super::{Harness, account, at};

pub fn plaid_item(item_id: &str, token: &str) -> NewPlaidItem {
    NewPlaidItem {
        item_id: ProviderItemId::parse(item_id).unwrap(),
        institution_id: None,
        institution_name: Some(InstitutionName::parse("First Platypus Bank").unwrap()),
        access_token: SecretString::from(token),
    }
}

pub async fn plaid_items_are_stored_once_per_user_and_item_and_keep_their_token<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    assert!(store.list_plaid_items(user).await.unwrap().is_empty());

    let stored = store
        .upsert_plaid_item(user, &plaid_item("item-a", "access-sandbox-1"))
        .await
        .unwrap();
    assert_eq!(stored.status, PlaidItemStatus::Healthy);
    assert_eq!(stored.access_token.expose_secret(), "access-sandbox-1");
    assert_eq!(
        (stored.error_code.as_deref(), stored.last_synced_at),
        (None, None)
    );

    let again = store
        .upsert_plaid_item(user, &plaid_item("item-a", "access-sandbox-1"))
        .await
        .unwrap();
    assert_eq!(
        (again.id, again.updated_at),
        (stored.id, stored.updated_at),
        "nothing rewritten"
    );

    let replaced = store
        .upsert_plaid_item(user, &plaid_item("item-a", "access-sandbox-2"))
        .await
        .unwrap();
    assert_eq!(replaced.id, stored.id);
    assert!(replaced.updated_at > stored.updated_at);
    let item = ProviderItemId::parse("item-a").unwrap();
    let found = store.get_plaid_item(user, &item).await.unwrap();
    assert_eq!(found.access_token.expose_secret(), "access-sandbox-2");

    // The same Item id under another user is that user's own row; neither sees the other's.
    h.store_for(other)
        .upsert_plaid_item(other, &plaid_item("item-a", "access-other"))
        .await
        .unwrap();
    store
        .upsert_plaid_item(user, &plaid_item("item-0", "access-sandbox-3"))
        .await
        .unwrap();
    let listed: Vec<_> = store
        .list_plaid_items(user)
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            (
                i.item_id.as_str().to_owned(),
                i.access_token.expose_secret().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("item-0".to_owned(), "access-sandbox-3".to_owned()),
            ("item-a".to_owned(), "access-sandbox-2".to_owned())
        ]
    );
    let others = h
        .store_for(other)
        .get_plaid_item(other, &item)
        .await
        .unwrap();
    assert_eq!(others.access_token.expose_secret(), "access-other");

    let missing = ProviderItemId::parse("item-missing").unwrap();
    assert!(matches!(
        store.get_plaid_item(user, &missing).await,
        Err(RepoError::NotFound {
            entity: "plaid item"
        })
    ));
    assert!(matches!(
        store
            .upsert_plaid_item(user, &plaid_item("item-b", "  "))
            .await,
        Err(RepoError::InvalidData { .. })
    ));
}

pub async fn an_items_health_moves_and_its_accounts_show_it<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    let item = ProviderItemId::parse("item-h").unwrap();
    store
        .upsert_plaid_item(user, &plaid_item("item-h", "access-h"))
        .await
        .unwrap();
    h.store_for(other)
        .upsert_plaid_item(other, &plaid_item("item-h", "access-o"))
        .await
        .unwrap();
    let mut linked = account(user, Provider::Plaid, "acc-linked");
    linked.provider_item_id = Some(item.clone());
    let mut elsewhere = account(user, Provider::Plaid, "acc-elsewhere");
    elsewhere.provider_item_id = Some(ProviderItemId::parse("item-other").unwrap());
    let mut others = account(other, Provider::Plaid, "acc-others");
    others.provider_item_id = Some(item.clone());
    h.admin()
        .upsert_accounts(user, &[linked, elsewhere])
        .await
        .unwrap();
    h.admin().upsert_accounts(other, &[others]).await.unwrap();
    let health =
        |accounts: Vec<tributary_domain::InvestmentAccount>| -> Vec<(String, ConnectionStatus)> {
            accounts
                .into_iter()
                .map(|a| {
                    (
                        a.provider_account_id.as_str().to_owned(),
                        a.connection_status,
                    )
                })
                .collect()
        };

    let broken = store
        .set_plaid_item_status(
            user,
            &item,
            PlaidItemStatusChange::Failing {
                status: PlaidItemStatus::LoginRequired,
                error_code: Some("ITEM_LOGIN_REQUIRED".into()),
                message: StatusMessage::from_optional(Some(
                    "the login details of this item have changed",
                )),
            },
        )
        .await
        .unwrap();
    assert_eq!(broken.status, PlaidItemStatus::LoginRequired);
    assert_eq!(broken.error_code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
    assert!(broken.status_changed_at > broken.created_at);
    assert_eq!(
        health(store.list_accounts(user).await.unwrap()),
        [
            ("acc-elsewhere".to_owned(), ConnectionStatus::Active),
            ("acc-linked".to_owned(), ConnectionStatus::Disabled)
        ]
    );
    assert_eq!(
        health(h.store_for(other).list_accounts(other).await.unwrap()),
        [("acc-others".to_owned(), ConnectionStatus::Active)],
        "another user's Item with the same id is untouched"
    );
    let same = store
        .set_plaid_item_status(
            user,
            &item,
            PlaidItemStatusChange::Failing {
                status: PlaidItemStatus::LoginRequired,
                error_code: Some("ITEM_LOGIN_REQUIRED".into()),
                message: StatusMessage::from_optional(Some(
                    "the login details of this item have changed",
                )),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        same.updated_at, broken.updated_at,
        "the same state rewrites nothing"
    );

    // An unknown state is kept by name and shows as an error on the accounts.
    let unknown = store
        .set_plaid_item_status(
            user,
            &item,
            PlaidItemStatusChange::Failing {
                status: PlaidItemStatus::parse("new_plaid_state").unwrap(),
                error_code: Some("NEW_PLAID_STATE".into()),
                message: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(unknown.status.as_str(), "new_plaid_state");
    assert_eq!(
        store
            .get_account(user, store.list_accounts(user).await.unwrap()[1].id)
            .await
            .unwrap()
            .connection_status,
        ConnectionStatus::Error
    );

    let synced_at = at(3);
    let repaired = store
        .set_plaid_item_status(user, &item, PlaidItemStatusChange::Synced { at: synced_at })
        .await
        .unwrap();
    assert_eq!(repaired.status, PlaidItemStatus::Healthy);
    assert_eq!((repaired.error_code, repaired.last_error), (None, None));
    assert_eq!(repaired.last_synced_at, Some(synced_at));
    assert!(
        health(store.list_accounts(user).await.unwrap())
            .iter()
            .all(|(_, status)| *status == ConnectionStatus::Active)
    );

    // A pending expiration is a warning, not a failure: a sync keeps it, a repair clears it.
    store
        .set_plaid_item_status(
            user,
            &item,
            PlaidItemStatusChange::Failing {
                status: PlaidItemStatus::PendingExpiration,
                error_code: Some("PENDING_EXPIRATION".into()),
                message: None,
            },
        )
        .await
        .unwrap();
    let later = at(1);
    let synced = store
        .set_plaid_item_status(user, &item, PlaidItemStatusChange::Synced { at: later })
        .await
        .unwrap();
    assert_eq!(synced.status, PlaidItemStatus::PendingExpiration);
    assert_eq!(synced.error_code.as_deref(), Some("PENDING_EXPIRATION"));
    assert_eq!(synced.last_synced_at, Some(later));
    let repaired = store
        .set_plaid_item_status(user, &item, PlaidItemStatusChange::Repaired)
        .await
        .unwrap();
    assert_eq!(repaired.status, PlaidItemStatus::Healthy);
    assert_eq!(
        (repaired.error_code, repaired.last_synced_at),
        (None, Some(later))
    );

    for bad in [
        PlaidItemStatusChange::Failing {
            status: PlaidItemStatus::Healthy,
            error_code: None,
            message: None,
        },
        PlaidItemStatusChange::Failing {
            status: PlaidItemStatus::Revoked,
            error_code: Some("lower-case".into()),
            message: None,
        },
    ] {
        assert!(matches!(
            store.set_plaid_item_status(user, &item, bad).await,
            Err(RepoError::InvalidData { .. })
        ));
    }
    assert!(matches!(
        store
            .set_plaid_item_status(
                user,
                &ProviderItemId::parse("item-missing").unwrap(),
                PlaidItemStatusChange::Synced { at: synced_at }
            )
            .await,
        Err(RepoError::NotFound {
            entity: "plaid item"
        })
    ));
}

pub async fn the_holders_of_a_plaid_item_are_found_across_users<H: Harness>(h: &H) {
    let (first, second) = (h.new_user().await, h.new_user().await);
    let store = h.admin();
    let shared = ProviderItemId::parse("item-shared").unwrap();
    assert!(
        store.plaid_item_owners(&shared).await.unwrap().is_empty(),
        "no one holds an Item never stored"
    );
    for user in [first, second] {
        store
            .upsert_plaid_item(user, &plaid_item("item-shared", "access-sandbox-s"))
            .await
            .unwrap();
    }
    store
        .upsert_plaid_item(first, &plaid_item("item-own", "access-sandbox-o"))
        .await
        .unwrap();
    let mut both = vec![first, second];
    both.sort_by_key(|user| user.into_uuid());
    assert_eq!(store.plaid_item_owners(&shared).await.unwrap(), both);
    assert_eq!(
        store
            .plaid_item_owners(&ProviderItemId::parse("item-own").unwrap())
            .await
            .unwrap(),
        [first]
    );
}
