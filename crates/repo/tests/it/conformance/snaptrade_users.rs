//! SnapTrade users: one registration per user, its secret kept.

use tributary_domain::ExposeSecret;
use tributary_repo::{RepoError, SnapTradeUserRepository};

use super::{Harness, at, snaptrade_user};

pub async fn snaptrade_users_register_once_and_keep_their_secret<H: Harness>(h: &H) {
    let user = h.new_user().await;
    let store = h.store_for(user);
    assert!(store.find_snaptrade_user(user).await.unwrap().is_none());

    let registered = store
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", "first-secret"))
        .await
        .unwrap();
    assert_eq!(registered.user_secret.expose_secret(), "first-secret");
    let again = store
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", "first-secret"))
        .await
        .unwrap();
    assert_eq!(
        again.updated_at, registered.updated_at,
        "the same secret rewrites nothing"
    );
    assert_eq!(again.id, registered.id);

    let rotated = store
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", "second-secret"))
        .await
        .unwrap();
    assert_eq!(rotated.id, registered.id);
    assert!(rotated.updated_at > registered.updated_at);
    let found = store.find_snaptrade_user(user).await.unwrap().unwrap();
    assert_eq!(found.user_secret.expose_secret(), "second-secret");
    assert_eq!(found.snaptrade_user_id.as_str(), "snap-1");

    let synced_at = at(5);
    store.record_snaptrade_sync(user, synced_at).await.unwrap();
    let found = store.find_snaptrade_user(user).await.unwrap().unwrap();
    assert_eq!(found.last_sync_at, Some(synced_at));

    store.delete_snaptrade_user(user).await.unwrap();
    assert!(matches!(
        store.record_snaptrade_sync(user, synced_at).await,
        Err(RepoError::NotFound {
            entity: "snaptrade user"
        })
    ));
    assert!(store.find_snaptrade_user(user).await.unwrap().is_none());
    assert!(matches!(
        store.delete_snaptrade_user(user).await,
        Err(RepoError::NotFound {
            entity: "snaptrade user"
        })
    ));
}
