//! Accounts: idempotent upserts, the unified view with each connection's health, and sync outcomes.

use tributary_domain::{
    AccountId, AuthorizationId, ConnectionStatus, ConnectionType, InstitutionName,
    InvestmentAccount, Provider, StatusMessage, SyncStatus,
};
use tributary_repo::{
    AccountRepository, AccountSyncState, ConnectionRepository, PortfolioRepository, RepoError,
};

use super::{Harness, account, at, connection, message, snaptrade_account};

pub async fn account_upserts_are_idempotent_on_provider_account_and_user<H: Harness>(h: &H) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    let batch = [
        account(user, Provider::Plaid, "acc-1"),
        account(user, Provider::SnapTrade, "acc-1"),
    ];
    let first = store.upsert_accounts(user, &batch).await.unwrap();
    assert_eq!(
        first.len(),
        2,
        "same provider account id under two providers is two accounts"
    );
    assert_eq!(first[0].provider, Provider::Plaid);
    assert_eq!(first[1].provider, Provider::SnapTrade);

    let again = store.upsert_accounts(user, &batch).await.unwrap();
    assert_eq!(
        again, first,
        "an identical upsert returns the same rows, updated_at included"
    );

    let mut renamed = batch[0].clone();
    renamed.institution_name = InstitutionName::parse("Vanguard").unwrap();
    let updated = store.upsert_accounts(user, &[renamed]).await.unwrap();
    assert_eq!(
        updated[0].id, first[0].id,
        "the natural key finds the same row"
    );
    assert_eq!(updated[0].institution_name.as_str(), "Vanguard");
    assert!(updated[0].updated_at > first[0].updated_at);
    assert_eq!(store.list_accounts(user).await.unwrap().len(), 2);

    let theirs = h
        .store_for(other)
        .upsert_accounts(other, &[account(other, Provider::Plaid, "acc-1")])
        .await
        .unwrap();
    assert_ne!(theirs[0].id, first[0].id, "the user is part of the key");
    assert_eq!(
        store
            .get_account(user, first[0].id)
            .await
            .unwrap()
            .institution_name
            .as_str(),
        "Vanguard"
    );
}

pub async fn unified_accounts_carry_their_connections_health<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let authorization = AuthorizationId::generate();
    store
        .upsert_connections(
            user,
            &[connection(user, authorization).failed(message("down"))],
        )
        .await
        .unwrap();
    let mut linked = account(user, Provider::SnapTrade, "linked");
    linked.snaptrade_authorization_id = Some(authorization);
    linked.connection_type = ConnectionType::Trade;
    h.admin()
        .upsert_accounts(user, &[linked, account(user, Provider::Plaid, "plain")])
        .await
        .unwrap();

    let unified = store.unified_accounts(user).await.unwrap();
    let providers: Vec<_> = unified
        .iter()
        .map(|a| (a.provider, a.brokerage_connection_status))
        .collect();
    assert_eq!(
        providers,
        [
            (Provider::Plaid, None),
            (Provider::SnapTrade, Some(ConnectionStatus::Error))
        ]
    );
    assert_eq!(unified[1].connection_type, ConnectionType::Trade);
}

pub async fn a_sync_outcome_is_recorded_and_a_failure_keeps_the_last_success<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    let account = snaptrade_account(h, user, "acc-sync").await;
    assert_eq!(account.sync_status, SyncStatus::Pending);

    let succeeded_at = at(120);
    let synced = store
        .record_account_sync(user, account.id, SyncStatus::Success, None, succeeded_at)
        .await
        .unwrap();
    assert_eq!(
        (synced.sync_status, synced.last_synced),
        (SyncStatus::Success, Some(succeeded_at))
    );

    let failed = store
        .record_account_sync(
            user,
            account.id,
            SyncStatus::Error,
            Some(message("rate limited")),
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(failed.sync_status, SyncStatus::Error);
    assert_eq!(
        failed.last_synced,
        Some(succeeded_at),
        "a failure keeps the last success"
    );
    assert_eq!(
        failed
            .sync_error_message
            .as_ref()
            .map(StatusMessage::as_str),
        Some("rate limited")
    );

    let again = store
        .record_account_sync(
            user,
            account.id,
            SyncStatus::Error,
            Some(message("rate limited")),
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(
        again.updated_at, failed.updated_at,
        "the same state rewrites nothing"
    );

    // An account upsert from the next sync leaves the sync bookkeeping alone.
    let resynced = store
        .upsert_accounts(
            user,
            &[self::account(user, Provider::SnapTrade, "acc-sync")],
        )
        .await
        .unwrap();
    assert_eq!(resynced[0].sync_status, SyncStatus::Error);
    assert_eq!(resynced[0].last_synced, Some(succeeded_at));
    assert!(matches!(
        store
            .record_account_sync(
                user,
                AccountId::generate(),
                SyncStatus::Success,
                None,
                at(0)
            )
            .await,
        Err(RepoError::NotFound { entity: "account" })
    ));
}

pub async fn many_sync_outcomes_are_recorded_at_once_and_a_bad_batch_writes_nothing<H: Harness>(
    h: &H,
) {
    let (user, other) = (h.new_user().await, h.new_user().await);
    let store = h.store_for(user);
    let ok = snaptrade_account(h, user, "acc-ok").await;
    let failing = snaptrade_account(h, user, "acc-failing").await;
    let off = snaptrade_account(h, user, "acc-off").await;
    let others = snaptrade_account(h, other, "acc-others").await;
    let state = |account: &InvestmentAccount, status, text: Option<&str>| AccountSyncState {
        account: account.id,
        status,
        error_message: text.map(message),
    };
    let synced_at = at(120);
    let batch = [
        state(&ok, SyncStatus::Success, None),
        state(&failing, SyncStatus::Error, Some("rate limited")),
        state(
            &off,
            SyncStatus::Disabled,
            Some("the connection is disabled"),
        ),
    ];

    assert_eq!(
        store
            .record_account_syncs(user, &batch, synced_at)
            .await
            .unwrap(),
        3
    );

    let read = |account: InvestmentAccount| {
        let store = store.clone();
        async move { store.get_account(user, account.id).await.unwrap() }
    };
    let recorded = [
        read(ok.clone()).await,
        read(failing.clone()).await,
        read(off.clone()).await,
    ];
    let seen: Vec<_> = recorded
        .iter()
        .map(|a| {
            (
                a.sync_status,
                a.sync_error_message.as_ref().map(|m| m.as_str().to_owned()),
                a.last_synced,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (SyncStatus::Success, None, Some(synced_at)),
            (SyncStatus::Error, Some("rate limited".to_owned()), None),
            (
                SyncStatus::Disabled,
                Some("the connection is disabled".to_owned()),
                None
            ),
        ]
    );
    assert_eq!(
        store
            .record_account_syncs(user, &batch, synced_at)
            .await
            .unwrap(),
        0,
        "the same states again rewrite nothing"
    );
    assert_eq!(read(ok.clone()).await.updated_at, recorded[0].updated_at);

    let failed_later = [state(&ok, SyncStatus::Error, Some("timeout"))];
    assert_eq!(
        store
            .record_account_syncs(user, &failed_later, at(0))
            .await
            .unwrap(),
        1
    );
    let after_failure = read(ok.clone()).await;
    assert_eq!(after_failure.sync_status, SyncStatus::Error);
    assert_eq!(
        after_failure.last_synced,
        Some(synced_at),
        "a failure keeps the last success"
    );

    // Refused batches write nothing, not even their valid rows.
    let before = store.list_accounts(user).await.unwrap();
    let unknown = AccountSyncState {
        account: AccountId::generate(),
        ..state(&ok, SyncStatus::Success, None)
    };
    for (what, bad) in [
        (
            "an unknown account",
            vec![state(&ok, SyncStatus::Success, None), unknown],
        ),
        (
            "another user's account",
            vec![
                state(&failing, SyncStatus::Success, None),
                state(&others, SyncStatus::Error, Some("not yours")),
            ],
        ),
    ] {
        assert!(
            matches!(
                store.record_account_syncs(user, &bad, at(0)).await,
                Err(RepoError::NotFound { entity: "account" })
            ),
            "{what}"
        );
    }
    let twice = [
        state(&off, SyncStatus::Success, None),
        state(&off, SyncStatus::Error, Some("which one?")),
    ];
    assert!(matches!(
        store.record_account_syncs(user, &twice, at(0)).await,
        Err(RepoError::InvalidData { field, .. }) if field == "account_id"
    ));
    assert_eq!(store.list_accounts(user).await.unwrap(), before);
    assert_eq!(
        h.admin().get_account(other, others.id).await.unwrap(),
        others
    );
    assert_eq!(
        store.record_account_syncs(user, &[], at(0)).await.unwrap(),
        0
    );
}
