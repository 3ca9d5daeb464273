//! Stored Plaid Items through the engine, on both stores: linking stores the Item sealed and syncs it, a fresh
//! engine sharing the store syncs it after a "restart", an Item error sets the Item's health (shown on its
//! accounts), update mode is created for the Item, and a repaired Item syncs healthy again.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::sync::Arc;

use sqlx::PgPool;
use tributary_domain::{ConnectionStatus, FeatureFlags, Provider, ProviderItemId, UserId};
use tributary_provider::router::ProviderRouter;
use tributary_repo::{Keyring, MemoryStore, PgStore, PlaidItemStatus, RepoError, SecretKey, Store};
use tributary_sync::source::GivenLogins;
use tributary_sync::{Outcome, SyncEngine, SyncError};

use crate::support::World;

/// plaid-openapi.yml's `/sandbox/public_token/create` example institution.
const INSTITUTION: &str = "ins_109508";

fn plaid_outcome(report: &tributary_sync::SyncReport) -> &Outcome {
    &report
        .providers
        .iter()
        .find(|p| p.provider == Provider::Plaid)
        .expect("Plaid is reported")
        .outcome
}

/// Links an Item through the engine, as a front end handing over Link's public token would.
async fn link<S: Store + 'static>(world: &World<S>) -> ProviderItemId {
    let public_token = world
        .plaid
        .create_sandbox_public_token(INSTITUTION, &["investments".to_owned()])
        .await
        .unwrap();
    let linked = world
        .engine
        .plaid()
        .link(
            world.user,
            secrecy::ExposeSecret::expose_secret(&public_token),
        )
        .await
        .unwrap();
    assert_eq!(plaid_outcome(&linked.report), &Outcome::Synced);
    linked.item_id
}

async fn plaid_health<S: Store>(store: &S, user: UserId) -> Vec<ConnectionStatus> {
    store
        .list_accounts(user)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.provider == Provider::Plaid)
        .map(|a| a.connection_status)
        .collect()
}

/// A linked Item is stored (its token held by nobody but the store) and a second engine over the same data,
/// with no token handed to it, syncs it.
async fn a_linked_item_is_stored_and_a_fresh_engine_syncs_it<S: Store + 'static>(
    world: World<S>,
    fresh: S,
) {
    let item = link(&world).await;
    let user = world.user;
    assert!(
        tributary_sync::source::Logins::logins(world.plaid_items.as_ref(), world.store(), user)
            .await
            .unwrap()
            .is_empty(),
        "the engine keeps no token in memory"
    );
    let stored = world.store().get_plaid_item(user, &item).await.unwrap();
    assert_eq!(stored.status, PlaidItemStatus::Healthy);
    assert!(stored.last_synced_at.is_some());
    let accounts = plaid_health(world.store(), user).await;
    assert_eq!(
        accounts,
        [ConnectionStatus::Active, ConnectionStatus::Active]
    );

    let restarted = SyncEngine::new(Arc::new(fresh), ProviderRouter::new(FeatureFlags::all_on()))
        .with_plaid(Arc::clone(&world.plaid), Arc::new(GivenLogins::new()));
    let holdings_before = world.store().list_holdings(user).await.unwrap();
    let report = restarted.sync_user(user).await.unwrap();
    assert_eq!(plaid_outcome(&report), &Outcome::Synced);
    assert_eq!(report.accounts.len(), 2);
    assert_eq!(
        world.store().list_holdings(user).await.unwrap().len(),
        holdings_before.len()
    );
    assert!(!holdings_before.is_empty());
}

/// The sandbox resets the Item's login (as `/sandbox/item/reset_login` does): the next sync records
/// `login_required` with Plaid's code and disables its accounts; an update-mode Link token is created for it;
/// once the user is through Link the next sync records it healthy and its accounts active again.
async fn an_item_needing_a_login_is_marked_repaired_through_update_mode_and_syncs_again<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let item = link(&world).await;
    let user = world.user;
    assert!(world.sandbox.plaid().require_login(item.as_str()));

    let report = world.engine.sync_user(user).await.unwrap();
    assert!(plaid_outcome(&report).is_failed());
    let broken = world.store().get_plaid_item(user, &item).await.unwrap();
    assert_eq!(broken.status, PlaidItemStatus::LoginRequired);
    assert_eq!(broken.error_code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
    assert_eq!(
        plaid_health(world.store(), user).await,
        [ConnectionStatus::Disabled, ConnectionStatus::Disabled]
    );
    assert!(
        !world.store().list_holdings(user).await.unwrap().is_empty(),
        "holdings are kept while the Item is broken"
    );

    world.sandbox.plaid().log().clear();
    let token = world
        .engine
        .plaid()
        .update_link_token(user, &item, "Tributary")
        .await
        .unwrap();
    assert!(token.link_token.starts_with("link-sandbox-"));
    let sent = world.sandbox.plaid().log().all();
    let create = sent
        .iter()
        .find(|r| r.path == "/link/token/create")
        .expect("a Link token was created");
    let body: serde_json::Value = serde_json::from_str(&create.body).unwrap();
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("access-sandbox-")),
        "update mode names the Item by its access token"
    );
    assert!(
        body["products"].as_array().is_none_or(Vec::is_empty),
        "update mode sends no products"
    );

    assert!(world.sandbox.plaid().repair_login(item.as_str()));
    let report = world.engine.sync_user(user).await.unwrap();
    assert_eq!(plaid_outcome(&report), &Outcome::Synced);
    let repaired = world.store().get_plaid_item(user, &item).await.unwrap();
    assert_eq!(repaired.status, PlaidItemStatus::Healthy);
    assert_eq!(repaired.error_code, None);
    assert!(repaired.last_synced_at > broken.last_synced_at);
    assert_eq!(
        plaid_health(world.store(), user).await,
        [ConnectionStatus::Active, ConnectionStatus::Active]
    );
}

/// A user who takes back their consent (`USER_PERMISSION_REVOKED`): the Item is recorded `revoked` and its
/// accounts disabled; once the user is through update mode it syncs healthy again.
async fn a_revoked_item_is_marked_revoked_and_update_mode_restores_it<S: Store + 'static>(
    world: World<S>,
) {
    let item = link(&world).await;
    let user = world.user;
    assert!(world.sandbox.plaid().revoke_permission(item.as_str()));
    let report = world.engine.sync_user(user).await.unwrap();
    assert!(plaid_outcome(&report).is_failed());
    let revoked = world.store().get_plaid_item(user, &item).await.unwrap();
    assert_eq!(revoked.status, PlaidItemStatus::Revoked);
    assert_eq!(
        revoked.error_code.as_deref(),
        Some("USER_PERMISSION_REVOKED")
    );
    assert!(revoked.status.needs_repair());
    assert_eq!(
        plaid_health(world.store(), user).await,
        [ConnectionStatus::Disabled, ConnectionStatus::Disabled]
    );
    world
        .engine
        .plaid()
        .update_link_token(user, &item, "Tributary")
        .await
        .unwrap();
    assert!(world.sandbox.plaid().repair_login(item.as_str()));
    world.engine.sync_user(user).await.unwrap();
    let restored = world.store().get_plaid_item(user, &item).await.unwrap();
    assert_eq!(restored.status, PlaidItemStatus::Healthy);
}

/// Update mode is for the user's own stored Items: an Item id the user does not hold (another user's included)
/// is not found, and nothing is asked of Plaid.
async fn update_mode_is_refused_for_an_item_the_user_does_not_hold<S: Store + 'static>(
    world: World<S>,
    other: UserId,
) {
    let item = link(&world).await;
    world.sandbox.plaid().log().clear();
    let refused = world
        .engine
        .plaid()
        .update_link_token(other, &item, "Tributary")
        .await;
    assert!(
        matches!(
            refused,
            Err(SyncError::Repo(RepoError::NotFound {
                entity: "plaid item"
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(
        world
            .sandbox
            .plaid()
            .log()
            .count("POST", "/link/token/create"),
        0
    );
}

mod memory {
    use super::*;

    fn store_and_user() -> (MemoryStore, UserId) {
        let store = MemoryStore::new();
        let user = store.create_user();
        (store, user)
    }

    #[tokio::test]
    async fn a_linked_item_is_stored_and_a_fresh_engine_syncs_it() {
        let (store, user) = store_and_user();
        let world = World::start(store.clone(), user).await;
        super::a_linked_item_is_stored_and_a_fresh_engine_syncs_it(world, store).await;
    }

    #[tokio::test]
    async fn an_item_needing_a_login_is_marked_repaired_through_update_mode_and_syncs_again() {
        let (store, user) = store_and_user();
        super::an_item_needing_a_login_is_marked_repaired_through_update_mode_and_syncs_again(
            World::start(store, user).await,
        )
        .await;
    }

    #[tokio::test]
    async fn a_revoked_item_is_marked_revoked_and_update_mode_restores_it() {
        let (store, user) = store_and_user();
        super::a_revoked_item_is_marked_revoked_and_update_mode_restores_it(
            World::start(store, user).await,
        )
        .await;
    }

    #[tokio::test]
    async fn update_mode_is_refused_for_an_item_the_user_does_not_hold() {
        let (store, user) = store_and_user();
        let other = store.create_user();
        super::update_mode_is_refused_for_an_item_the_user_does_not_hold(
            World::start(store, user).await,
            other,
        )
        .await;
    }
}

mod postgres {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    async fn backend(superuser: &PgPool) -> PgPool {
        tributary_testdb::backend_pool(superuser, &tributary_repo::MIGRATOR)
            .await
            .expect("the backend role's pool")
    }

    fn store(pool: &PgPool) -> PgStore {
        PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes(KEY)))
    }

    async fn user(pool: &PgPool) -> UserId {
        UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
    }

    #[sqlx::test(migrations = false)]
    async fn a_linked_item_is_stored_and_a_fresh_engine_syncs_it(superuser: PgPool) {
        let pool = backend(&superuser).await;
        let world = World::start(store(&pool), user(&pool).await).await;
        // Another process: its own pool on the same database, its own store, the same key.
        let other_process = PgPool::connect_with((*pool.connect_options()).clone())
            .await
            .unwrap();
        super::a_linked_item_is_stored_and_a_fresh_engine_syncs_it(world, store(&other_process))
            .await;
    }

    #[sqlx::test(migrations = false)]
    async fn an_item_needing_a_login_is_marked_repaired_through_update_mode_and_syncs_again(
        superuser: PgPool,
    ) {
        let pool = backend(&superuser).await;
        let world = World::start(store(&pool), user(&pool).await).await;
        super::an_item_needing_a_login_is_marked_repaired_through_update_mode_and_syncs_again(
            world,
        )
        .await;
    }

    #[sqlx::test(migrations = false)]
    async fn a_revoked_item_is_marked_revoked_and_update_mode_restores_it(superuser: PgPool) {
        let pool = backend(&superuser).await;
        let world = World::start(store(&pool), user(&pool).await).await;
        super::a_revoked_item_is_marked_revoked_and_update_mode_restores_it(world).await;
    }

    #[sqlx::test(migrations = false)]
    async fn update_mode_is_refused_for_an_item_the_user_does_not_hold(superuser: PgPool) {
        let pool = backend(&superuser).await;
        let other = user(&pool).await;
        let world = World::start(store(&pool), user(&pool).await).await;
        super::update_mode_is_refused_for_an_item_the_user_does_not_hold(world, other).await;
    }
}
