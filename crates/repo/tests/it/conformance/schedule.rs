//! The sync schedule: who is due, by the health of their links and the stalest usable link's last sync.

use tributary_domain::{
    AccountId, AuthorizationId, ConnectionStatus, ProviderAccountId, ProviderItemId, SyncStatus,
    UserId,
};
use tributary_domain::{Provider, StatusMessage};
use tributary_repo::{
    AccountRepository, ConnectionRepository, ConnectionStatusChange, PlaidItemRepository,
    PlaidItemStatus, PlaidItemStatusChange, PortfolioRepository, SnapTradeUserRepository,
    SyncScheduleRepository,
};

use super::plaid_items::plaid_item;
use super::{Harness, account, at, connection, snaptrade_user};

/// An Item linked for `user`, synced at `synced` when given.
async fn link_item<H: Harness>(
    h: &H,
    user: UserId,
    item: &str,
    synced: Option<chrono::DateTime<chrono::Utc>>,
) {
    let store = h.admin();
    store
        .upsert_plaid_item(user, &plaid_item(item, "access-sandbox-x"))
        .await
        .unwrap();
    if let Some(at) = synced {
        store
            .set_plaid_item_status(
                user,
                &ProviderItemId::parse(item).unwrap(),
                PlaidItemStatusChange::Synced { at },
            )
            .await
            .unwrap();
    }
}

async fn link_snaptrade<H: Harness>(
    h: &H,
    user: UserId,
    synced: Option<chrono::DateTime<chrono::Utc>>,
) {
    let store = h.admin();
    store
        .upsert_snaptrade_user(user, &snaptrade_user(user, &user.to_string(), "secret"))
        .await
        .unwrap();
    if let Some(at) = synced {
        store.record_snaptrade_sync(user, at).await.unwrap();
    }
}

async fn link_alpaca<H: Harness>(
    h: &H,
    user: UserId,
    synced: Option<chrono::DateTime<chrono::Utc>>,
) -> AccountId {
    let store = h.admin();
    let id = format!("alpaca-{user}");
    store
        .set_alpaca_account(user, Some(ProviderAccountId::parse(&id).unwrap()))
        .await
        .unwrap();
    let stored = store
        .upsert_accounts(user, &[account(user, Provider::Alpaca, &id)])
        .await
        .unwrap();
    if let Some(at) = synced {
        store
            .record_account_sync(user, stored[0].id, SyncStatus::Success, None, at)
            .await
            .unwrap();
    }
    stored[0].id
}

pub async fn the_users_due_are_those_with_a_usable_link_synced_too_long_ago_oldest_first<
    H: Harness,
>(
    h: &H,
) where
    H::Store: SyncScheduleRepository,
{
    let store = h.admin();
    let cutoff = at(1800);
    let (never, fresh, hour, three_hours, mixed, broken_item, broken_snaptrade, alpaca, nothing) = (
        h.new_user().await,
        h.new_user().await,
        h.new_user().await,
        h.new_user().await,
        h.new_user().await,
        h.new_user().await,
        h.new_user().await,
        h.new_user().await,
        h.new_user().await,
    );
    // Linked but never synced: due first.
    link_item(h, never, "item-never", None).await;
    // Synced a minute ago: not due.
    link_item(h, fresh, "item-fresh", Some(at(60))).await;
    // An hour, and three hours ago (through SnapTrade, with an active connection).
    link_item(h, hour, "item-hour", Some(at(3600))).await;
    link_snaptrade(h, three_hours, Some(at(3 * 3600))).await;
    store
        .upsert_connections(
            three_hours,
            &[connection(three_hours, AuthorizationId::generate())],
        )
        .await
        .unwrap();
    // A fresh Item and a SnapTrade login two hours stale: the stalest usable link decides.
    link_item(h, mixed, "item-mixed", Some(at(30))).await;
    link_snaptrade(h, mixed, Some(at(2 * 3600))).await;
    // An Item that needs the user, stale for days: not due (a sync cannot use it).
    link_item(h, broken_item, "item-broken", Some(at(5 * 86_400))).await;
    store
        .set_plaid_item_status(
            broken_item,
            &ProviderItemId::parse("item-broken").unwrap(),
            PlaidItemStatusChange::Failing {
                status: PlaidItemStatus::LoginRequired,
                error_code: Some("ITEM_LOGIN_REQUIRED".to_owned()),
                message: None,
            },
        )
        .await
        .unwrap();
    // A SnapTrade user whose only connection is disabled: not due.
    link_snaptrade(h, broken_snaptrade, Some(at(86_400))).await;
    let authorization = AuthorizationId::generate();
    store
        .upsert_connections(
            broken_snaptrade,
            &[connection(broken_snaptrade, authorization)],
        )
        .await
        .unwrap();
    store
        .set_connection_status(
            broken_snaptrade,
            authorization,
            ConnectionStatusChange::Disabled {
                at: at(86_400),
                message: Some(StatusMessage::parse("login expired").unwrap()),
            },
        )
        .await
        .unwrap();
    // Alpaca, synced 40 minutes ago: due.
    link_alpaca(h, alpaca, Some(at(2400))).await;
    // No link at all: never due.
    let _ = nothing;

    let due = store.users_due_for_sync(cutoff, 100).await.unwrap();
    let users: Vec<UserId> = due.iter().map(|due| due.user).collect();
    assert_eq!(
        users,
        [never, three_hours, mixed, hour, alpaca],
        "never-synced first, then oldest first; fresh, broken and unlinked users are not due"
    );
    assert_eq!(due[0].last_synced_at, None);
    assert_eq!(due[1].last_synced_at, Some(at_of(&due, three_hours)));
    assert!(
        due.iter()
            .all(|due| due.last_synced_at.is_none_or(|at| at < cutoff))
    );

    let first_two = store.users_due_for_sync(cutoff, 2).await.unwrap();
    assert_eq!(
        first_two.iter().map(|due| due.user).collect::<Vec<_>>(),
        [never, three_hours],
        "the limit keeps the most overdue"
    );
    assert!(
        store
            .users_due_for_sync(cutoff, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Repairing the disabled connection makes its user due again; a sync of the never-synced user takes them off.
    store
        .set_connection_status(
            broken_snaptrade,
            authorization,
            ConnectionStatusChange::Active,
        )
        .await
        .unwrap();
    link_item(h, never, "item-never", Some(at(5))).await;
    let users: Vec<UserId> = store
        .users_due_for_sync(cutoff, 100)
        .await
        .unwrap()
        .iter()
        .map(|due| due.user)
        .collect();
    assert_eq!(users, [broken_snaptrade, three_hours, mixed, hour, alpaca]);
    let connections = store.list_connections(broken_snaptrade).await.unwrap();
    assert_eq!(connections[0].status, ConnectionStatus::Active);
}

fn at_of(due: &[tributary_repo::DueUser], user: UserId) -> chrono::DateTime<chrono::Utc> {
    due.iter()
        .find(|due| due.user == user)
        .and_then(|due| due.last_synced_at)
        .unwrap()
}
