//! The webhook inbox: a delivery recorded once, a failed one kept until applied, old applied ones purged.

use chrono::Duration;
use tributary_domain::{Provider, UserId};
use tributary_repo::{NewWebhookDelivery, RepoError, WebhookKey, WebhookRepository, WebhookStatus};

use super::Harness;

fn delivery(
    snaptrade_user: &str,
    id: &str,
    event_type: &str,
    user: Option<UserId>,
) -> NewWebhookDelivery {
    NewWebhookDelivery {
        key: WebhookKey::snaptrade(snaptrade_user, id),
        event_type: event_type.to_owned(),
        user,
        payload: serde_json::json!({ "eventType": event_type, "webhookId": id }),
        hint_only: false,
    }
}

pub async fn a_webhook_delivery_is_recorded_once_and_a_replay_is_refused<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();
    let scope = user.to_string();
    let broken = delivery(&scope, "id:wh-1", "CONNECTION_BROKEN", Some(user));
    assert!(store.record_webhook(&broken).await.unwrap());
    assert!(!store.record_webhook(&broken).await.unwrap(), "a replay");
    let recorded = store.find_webhook(&broken.key).await.unwrap().unwrap();
    assert_eq!(
        (recorded.status, recorded.attempts, recorded.user_id),
        (WebhookStatus::Received, 0, Some(user))
    );
    assert_eq!(recorded.payload, broken.payload);
    let stranger = UserId::generate();
    let unknown = delivery(
        &stranger.to_string(),
        "id:wh-2",
        "USER_DELETED",
        Some(stranger),
    );
    assert!(
        store.record_webhook(&unknown).await.unwrap(),
        "an event naming a user the store does not hold is still recorded"
    );
    assert_eq!(
        store
            .find_webhook(&unknown.key)
            .await
            .unwrap()
            .unwrap()
            .user_id,
        None
    );
    assert!(
        store
            .record_webhook(&delivery("", "id:wh-3", "SOMETHING_NEW", None))
            .await
            .unwrap()
    );
    let other = h.new_user().await;
    assert!(
        store
            .record_webhook(&delivery(
                &other.to_string(),
                "id:wh-1",
                "CONNECTION_BROKEN",
                Some(other)
            ))
            .await
            .unwrap(),
        "the same webhook id for another user is another delivery: one user's id never blocks another's"
    );
    assert!(matches!(
        store.record_webhook(&delivery("", " ", "CONNECTION_BROKEN", None)).await,
        Err(RepoError::InvalidData { field, .. }) if field == "webhook_id"
    ));
    assert!(matches!(
        store.record_webhook(&delivery("", "id:wh-4", "BAD\0TYPE", None)).await,
        Err(RepoError::InvalidData { field, .. }) if field == "event_type"
    ));
}

pub async fn a_failed_delivery_stays_pending_until_applied_and_only_old_applied_ones_are_purged<
    H: Harness,
>(
    h: &H,
) {
    let user = h.new_user().await;
    let store = h.admin();
    let scope = user.to_string();
    let first = delivery(&scope, "id:first", "CONNECTION_BROKEN", Some(user));
    let second = delivery(&scope, "id:second", "ACCOUNT_HOLDINGS_UPDATED", Some(user));
    for recorded in [&first, &second] {
        assert!(store.record_webhook(recorded).await.unwrap());
    }
    store
        .mark_webhook_failed(&first.key, "the database went away\0")
        .await
        .unwrap();
    let pending = store
        .pending_webhooks(Provider::SnapTrade, 10)
        .await
        .unwrap();
    assert_eq!(
        pending.iter().map(|d| d.key.clone()).collect::<Vec<_>>(),
        [first.key.clone(), second.key.clone()],
        "oldest first, failed and received alike"
    );
    assert_eq!(pending[0].status, WebhookStatus::Failed);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(
        pending[0].last_error.as_deref(),
        Some("the database went away")
    );
    assert_eq!(
        store
            .pending_webhooks(Provider::SnapTrade, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    store.mark_webhook_applied(&first.key).await.unwrap();
    store
        .mark_webhook_failed(&first.key, "a late failure of another process")
        .await
        .unwrap();
    let applied = store.find_webhook(&first.key).await.unwrap().unwrap();
    assert_eq!(
        applied.status,
        WebhookStatus::Applied,
        "applied stays applied"
    );
    assert_eq!(applied.last_error, None);
    let applied_at = applied.applied_at.expect("stamped when applied");
    assert_eq!(
        store
            .pending_webhooks(Provider::SnapTrade, 10)
            .await
            .unwrap()
            .len(),
        1,
        "only the second is pending"
    );

    assert_eq!(
        store.purge_webhooks(applied_at).await.unwrap(),
        0,
        "not older than itself"
    );
    let later = applied_at + Duration::seconds(1);
    assert_eq!(store.purge_webhooks(later).await.unwrap(), 1);
    assert_eq!(store.find_webhook(&first.key).await.unwrap(), None);
    assert!(
        store.find_webhook(&second.key).await.unwrap().is_some(),
        "a delivery not applied yet is never purged, however old"
    );
    assert!(matches!(
        store.mark_webhook_applied(&first.key).await,
        Err(RepoError::NotFound { entity: "webhook" })
    ));
}

pub async fn each_providers_deliveries_are_keyed_and_retried_apart<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.admin();
    let snaptrade = delivery("", "iat:1700000000:sha256:ab", "HOLDINGS", Some(user));
    let plaid = NewWebhookDelivery {
        key: WebhookKey::plaid("iat:1700000000:sha256:ab"),
        event_type: "HOLDINGS:DEFAULT_UPDATE".to_owned(),
        user: Some(user),
        payload: serde_json::json!({ "webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE" }),
        hint_only: false,
    };
    assert!(store.record_webhook(&snaptrade).await.unwrap());
    assert!(
        store.record_webhook(&plaid).await.unwrap(),
        "the same delivery id from another provider is another delivery"
    );
    assert!(!store.record_webhook(&plaid).await.unwrap(), "a replay");
    let found = store.find_webhook(&plaid.key).await.unwrap().unwrap();
    assert_eq!(
        (found.key.provider, found.user_id),
        (Provider::Plaid, Some(user))
    );
    let keys = |pending: Vec<tributary_repo::WebhookDelivery>| {
        pending.into_iter().map(|d| d.key).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(store.pending_webhooks(Provider::Plaid, 10).await.unwrap()),
        std::slice::from_ref(&plaid.key)
    );
    assert_eq!(
        keys(
            store
                .pending_webhooks(Provider::SnapTrade, 10)
                .await
                .unwrap()
        ),
        std::slice::from_ref(&snaptrade.key)
    );
    store.mark_webhook_applied(&plaid.key).await.unwrap();
    assert_eq!(
        store
            .find_webhook(&snaptrade.key)
            .await
            .unwrap()
            .unwrap()
            .status,
        WebhookStatus::Received,
        "marking one provider's delivery leaves the other's as it was"
    );
    assert!(
        store
            .pending_webhooks(Provider::Plaid, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let mut alpaca = plaid.clone();
    alpaca.key.provider = Provider::Alpaca;
    assert!(matches!(
        store.record_webhook(&alpaca).await,
        Err(RepoError::InvalidData { field, .. }) if field == "provider"
    ));
    let mut scoped = plaid.clone();
    scoped.key = WebhookKey {
        snaptrade_user_id: user.to_string(),
        ..WebhookKey::plaid("iat:1:sha256:cd")
    };
    assert!(matches!(
        store.record_webhook(&scoped).await,
        Err(RepoError::InvalidData { field, .. }) if field == "snaptrade_user_id"
    ));
}
