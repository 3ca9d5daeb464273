//! The engine on `PgStore` (a fresh, migrated database per test) with the sandbox providers: the same
//! scenarios as on `MemoryStore`.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use sqlx::PgPool;
use tributary_domain::UserId;
use tributary_repo::{Keyring, PgStore, SecretKey};

use crate::support::{self, World};

/// The test's database laid out as on hosted Supabase and migrated by the backend's own role (not a
/// superuser): the engine runs with exactly the rights it has in production.
async fn backend(superuser: &PgPool) -> PgPool {
    tributary_testdb::backend_pool(superuser, &tributary_repo::MIGRATOR)
        .await
        .expect("the backend role's pool")
}

async fn world(pool: PgPool) -> World<PgStore> {
    let user = tributary_testdb::create_auth_user(&pool)
        .await
        .expect("a user in auth.users");
    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
    World::start(store, UserId::new(user)).await
}

macro_rules! pg_cases {
    ($($case:ident),* $(,)?) => {$(
        #[sqlx::test(migrations = false)]
        async fn $case(superuser: PgPool) {
            let pool = backend(&superuser).await;
            support::$case(world(pool).await).await;
        }
    )*};
}

pg_cases!(
    a_sync_writes_exactly_what_the_sandbox_holds,
    a_second_sync_changes_nothing,
    a_position_sold_at_the_provider_disappears_from_the_holdings,
    a_broken_connection_ends_disabled_with_its_message_and_the_rest_syncs,
    a_read_only_connection_refuses_an_order,
    a_limit_order_is_recorded_pending_then_accepted_then_cancelled,
    connecting_twice_registers_the_user_once,
    a_provider_outage_keeps_its_holdings_and_reports_the_failure,
    a_replayed_webhook_is_not_applied_twice,
    each_webhook_event_type_is_acted_on,
    an_account_the_provider_no_longer_reports_is_deactivated_and_its_holdings_dropped,
    no_secret_reaches_the_engine_its_reports_or_its_errors,
    a_forged_alpaca_row_for_another_customers_account_can_neither_trade_nor_read,
    a_forged_snaptrade_row_for_another_users_account_cannot_trade,
    an_order_over_the_engines_notional_cap_is_refused_before_anything_is_sent,
    a_client_order_id_reused_for_another_order_is_refused_and_nothing_is_sent,
    // Every table checked against the sandbox, field by field (`support/tables.rs`).
    a_sync_leaves_every_table_as_the_sandbox_holds_it,
    a_second_sync_after_an_order_changes_no_table,
    a_position_sold_at_the_sandbox_disappears_from_the_holdings,
    broken_connections_end_disabled_or_in_error_with_their_messages,
    a_read_only_connection_refuses_a_limit_order,
);

/// The scenarios that build their own world (short client timeouts) from a store and a user.
macro_rules! pg_store_cases {
    ($($case:ident),* $(,)?) => {$(
        #[sqlx::test(migrations = false)]
        async fn $case(superuser: PgPool) {
            let pool = backend(&superuser).await;
            let user = tributary_testdb::create_auth_user(&pool)
                .await
                .expect("a user in auth.users");
            let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
            support::$case(store, UserId::new(user)).await;
        }
    )*};
}

pg_store_cases!(
    alpaca_answer_lost_after_placing_leaves_one_order,
    snaptrade_answer_lost_after_placing_leaves_one_order_and_sends_nothing_more,
    alpaca_answer_after_the_timeout_leaves_one_order,
    snaptrade_answer_after_the_timeout_leaves_one_order_and_sends_nothing_more,
    alpaca_order_recorded_but_never_sent_is_sent_once_by_the_retry,
    snaptrade_order_recorded_but_never_sent_is_sent_once_by_the_retry,
    alpaca_retry_after_success_sends_nothing,
    snaptrade_retry_after_success_sends_nothing,
);

/// A delivery applied before a restart is recognised by the new engine (the record is in the database, not in
/// the old engine's memory): acknowledged as a replay, not applied again.
#[sqlx::test(migrations = false)]
async fn a_webhook_replayed_after_a_restart_is_acknowledged_and_not_applied_twice(
    superuser: PgPool,
) {
    let pool = backend(&superuser).await;
    use std::sync::Arc;

    use secrecy::SecretString;
    use tributary_domain::{ConnectionStatus, ConnectionType, FeatureFlags};
    use tributary_provider::router::ProviderRouter;
    use tributary_provider::snaptrade::signing::{canonical_json, sign};
    use tributary_repo::ConnectionRepository;
    use tributary_sync::{SyncEngine, WebhookOutcome};

    let world = world(pool.clone()).await;
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(world.user).await.unwrap();
    let connection = world
        .store()
        .list_connections(world.user)
        .await
        .unwrap()
        .remove(0);
    let broken = support::webhook(
        world.user,
        "CONNECTION_BROKEN",
        &connection.authorization_id.to_string(),
        "hook-restart",
    );
    assert!(matches!(
        world.deliver(&broken).await.unwrap(),
        WebhookOutcome::ConnectionUpdated { .. }
    ));
    let fixed = support::webhook(
        world.user,
        "CONNECTION_FIXED",
        &connection.authorization_id.to_string(),
        "hook-fixed",
    );
    world.deliver(&fixed).await.unwrap();

    // A new process: a new engine and a new pool on the same database.
    let consumer_key = SecretString::from(world.sandbox.snaptrade().consumer_key());
    let restarted = SyncEngine::new(
        Arc::new(PgStore::new(
            sqlx::postgres::PgPoolOptions::new()
                .connect_with((*pool.connect_options()).clone())
                .await
                .unwrap(),
            Keyring::new(SecretKey::generate()),
        )),
        ProviderRouter::new(FeatureFlags::all_on()),
    )
    .with_snaptrade(Arc::clone(&world.snaptrade));
    let signature = sign(&consumer_key, &canonical_json(&broken));
    let body = serde_json::to_vec(&broken).unwrap();
    let replay = restarted
        .snaptrade()
        .handle_webhook(Some(&signature), &body)
        .await
        .unwrap();

    assert_eq!(replay, WebhookOutcome::Replayed);
    let stored = world
        .store()
        .get_connection(world.user, connection.authorization_id)
        .await
        .unwrap();
    assert_eq!(
        stored.status,
        ConnectionStatus::Active,
        "the replay did not break it again"
    );
}

/// A CONNECTION_DELETED whose last write fails (a trigger refuses the holdings' rebuild) saves nothing: the
/// connection row, the accounts and the holdings are as before, the delivery stays recorded as failed, and
/// SnapTrade's retry of the same delivery applies it in full once the fault is gone.
#[sqlx::test(migrations = false)]
async fn a_connection_deletion_that_fails_part_way_saves_nothing_and_its_retry_applies(
    superuser: PgPool,
) {
    let pool = backend(&superuser).await;
    use tributary_domain::ConnectionType;
    use tributary_provider::capability::ConnectionPortal;
    use tributary_repo::{AccountRepository, ConnectionRepository, HoldingRepository, RepoError};
    use tributary_sync::WebhookOutcome;

    let world = world(pool.clone()).await;
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(world.user).await.unwrap();
    let store = world.store();
    let connection = store.list_connections(world.user).await.unwrap().remove(0);
    let accounts = store.list_accounts(world.user).await.unwrap();
    let holdings = store.list_holdings(world.user).await.unwrap();
    assert!(!holdings.is_empty());
    sqlx::raw_sql(
        "create function public.refuse_holdings() returns trigger language plpgsql as $$
         begin raise exception 'the test refuses holdings writes'; end $$;
         create trigger refuse_holdings before insert or update or delete on public.user_aggregated_holdings
           for each row execute function public.refuse_holdings();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let deleted = support::webhook(
        world.user,
        "CONNECTION_DELETED",
        &connection.authorization_id.to_string(),
        "hook-deleted-part-way",
    );

    world
        .snaptrade
        .remove_connection(&world.snaptrade_login().await, &connection.authorization_id)
        .await
        .unwrap();

    let failed = world.deliver(&deleted).await.unwrap();

    assert!(
        matches!(&failed, WebhookOutcome::Deferred { reason } if reason.contains("refuses holdings")),
        "recorded, its application failed and is kept for a retry: {failed:?}"
    );
    assert_eq!(
        store
            .get_connection(world.user, connection.authorization_id)
            .await
            .unwrap(),
        connection
    );
    assert_eq!(store.list_accounts(world.user).await.unwrap(), accounts);
    assert_eq!(store.list_holdings(world.user).await.unwrap(), holdings);

    sqlx::raw_sql("drop trigger refuse_holdings on public.user_aggregated_holdings")
        .execute(&pool)
        .await
        .unwrap();
    let retried = world.deliver(&deleted).await.unwrap();
    assert!(
        matches!(retried, WebhookOutcome::ConnectionRemoved { accounts_deactivated, .. } if accounts_deactivated > 0),
        "{retried:?}"
    );
    assert!(matches!(
        store
            .get_connection(world.user, connection.authorization_id)
            .await,
        Err(RepoError::NotFound { .. })
    ));
}

/// A store on its own pool to the same database, as another process would have.
async fn another_process(pool: &PgPool) -> PgStore {
    let own_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("a second pool on the test database");
    PgStore::new(own_pool, Keyring::new(SecretKey::generate()))
}

/// How many sessions of the test database sit in an open transaction.
async fn open_transactions(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_catalog.pg_stat_activity
         where datname = pg_catalog.current_database() and state like 'idle in transaction%'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Every provider call of a sync is made before its unit of writes opens: while the sandbox answers the order
/// listing (slowly), no session of the database holds a transaction open.
#[sqlx::test(migrations = false)]
async fn a_sync_waits_on_no_provider_while_a_transaction_is_open(superuser: PgPool) {
    let pool = backend(&superuser).await;
    use std::time::Duration;

    let world = world(pool.clone()).await;
    let alpaca_account = world.link_alpaca().await;
    let orders_path = format!("/v1/trading/accounts/{alpaca_account}/orders");
    world
        .sandbox
        .alpaca()
        .knobs()
        .set_path_latency(&orders_path, Duration::from_millis(600));

    let sync = world.engine.sync_user(world.user);
    let probe = async {
        // Sampled while the order listing is in flight.
        tokio::time::sleep(Duration::from_millis(300)).await;
        open_transactions(&pool).await
    };
    let (report, open_during_listing) = tokio::join!(sync, probe);

    assert!(!report.unwrap().has_failures(), "the sync itself succeeded");
    assert_eq!(world.sandbox.alpaca().log().count("GET", &orders_path), 1);
    assert_eq!(
        open_during_listing, 0,
        "no transaction was open while the provider was asked for orders"
    );
}

/// Cancelling, refreshing and listing orders hold the same cross-process user lock as a sync: while another
/// process holds the user, they wait; once it lets go, they run.
#[sqlx::test(migrations = false)]
async fn order_calls_wait_for_another_process_holding_the_user(superuser: PgPool) {
    let pool = backend(&superuser).await;
    use std::time::Duration;

    use tributary_repo::LockRepository;

    let world = world(pool.clone()).await;
    world.link_alpaca().await;
    world.engine.sync_user(world.user).await.unwrap();
    let account = world.first_account().await;
    let there = another_process(&pool).await;
    let held = there.lock_user(world.user).await.unwrap();

    let waited = tokio::time::timeout(
        Duration::from_millis(500),
        world.engine.refresh_account_orders(world.user, account.id),
    )
    .await;
    assert!(
        waited.is_err(),
        "the refresh waited for the other process's hold"
    );

    held.release().await.unwrap();
    world
        .engine
        .refresh_account_orders(world.user, account.id)
        .await
        .unwrap();
}

/// Key rotation finishes: after the keyring's current key changes, one call re-seals every stored SnapTrade secret
/// (across batches smaller than the table, from a state half re-sealed already as a crash would leave it), a second
/// call finds nothing, and a keyring holding the new key alone then opens every secret, each for its owner only.
#[sqlx::test(migrations = false)]
async fn a_rotated_key_is_resealed_in_batches_resumably_and_the_old_key_can_then_be_dropped(
    superuser: PgPool,
) {
    let pool = backend(&superuser).await;
    use secrecy::{ExposeSecret, SecretString};
    use tributary_domain::{NewSnapTradeUser, SnapTradeUserId, SnapTradeUserSecret};
    use tributary_repo::{SecretRepository, SnapTradeUserRepository};

    let old_key = || SecretKey::from_bytes([1; 32]).with_id("k1").unwrap();
    let new_key = || SecretKey::from_bytes([2; 32]).with_id("k2").unwrap();
    let before = PgStore::new(pool.clone(), Keyring::new(old_key()));
    let mut users = Vec::new();
    for n in 0..7 {
        let user = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
        let secret = format!("secret-of-user-{n}");
        let row = NewSnapTradeUser {
            user_id: user,
            snaptrade_user_id: SnapTradeUserId::parse(&user.to_string()).unwrap(),
            user_secret: SnapTradeUserSecret::new(SecretString::from(secret.clone())).unwrap(),
        };
        before.upsert_snaptrade_user(user, &row).await.unwrap();
        users.push((user, row, secret));
    }
    let rotated = PgStore::new(
        pool.clone(),
        Keyring::new(new_key()).with_previous(old_key()).unwrap(),
    );
    // Two users changed their secret after the rotation: their rows are under the new key already, as rows a
    // re-seal had committed before a crash would be.
    for (user, row, secret) in users.iter_mut().take(2) {
        *secret = format!("{secret}-rotated");
        row.user_secret = SnapTradeUserSecret::new(SecretString::from(secret.clone())).unwrap();
        rotated.upsert_snaptrade_user(*user, row).await.unwrap();
    }

    let report = rotated.reseal_secrets(2).await.unwrap();

    assert_eq!((report.resealed, report.unopenable), (5, 0), "{report:?}");
    let again = rotated.reseal_secrets(500).await.unwrap();
    assert_eq!((again.resealed, again.unopenable), (0, 0), "{again:?}");
    let new_only = PgStore::new(pool.clone(), Keyring::new(new_key()));
    for (user, _, secret) in &users {
        let found = new_only.find_snaptrade_user(*user).await.unwrap().unwrap();
        assert_eq!(found.user_secret.expose_secret(), secret.as_str());
    }
    let sealed: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("select user_id, snaptrade_user_secret from public.snaptrade_users")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(sealed.len(), users.len());
    let keyring = Keyring::new(new_key());
    for (owner, value) in &sealed {
        assert!(value.starts_with("v1:k2:"), "{value}");
        let someone_else = UserId::new(uuid::Uuid::new_v4());
        assert!(
            keyring.open(value, someone_else).is_err(),
            "the owner binding was lost"
        );
        assert!(keyring.open(value, UserId::new(*owner)).is_ok());
    }
}

/// A value that opens under no key the keyring holds is counted and left as it is, never overwritten, and the
/// rest are re-sealed; the count says the old key must not be dropped yet.
#[sqlx::test(migrations = false)]
async fn a_value_under_a_key_the_keyring_lost_is_reported_and_left_untouched(superuser: PgPool) {
    let pool = backend(&superuser).await;
    use secrecy::SecretString;
    use tributary_domain::{NewSnapTradeUser, SnapTradeUserId, SnapTradeUserSecret};
    use tributary_repo::{SecretRepository, SnapTradeUserRepository};

    let mut users = Vec::new();
    for key in [[1; 32], [3; 32]] {
        let user = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
        let row = NewSnapTradeUser {
            user_id: user,
            snaptrade_user_id: SnapTradeUserId::parse(&user.to_string()).unwrap(),
            user_secret: SnapTradeUserSecret::new(SecretString::from("a-secret")).unwrap(),
        };
        PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes(key)))
            .upsert_snaptrade_user(user, &row)
            .await
            .unwrap();
        users.push(user);
    }
    let lost: String = sqlx::query_scalar(
        "select snaptrade_user_secret from public.snaptrade_users where user_id = $1",
    )
    .bind(users[1].into_uuid())
    .fetch_one(&pool)
    .await
    .unwrap();
    let rotated = PgStore::new(
        pool.clone(),
        Keyring::new(SecretKey::from_bytes([2; 32]))
            .with_previous(SecretKey::from_bytes([1; 32]))
            .unwrap(),
    );

    let report = rotated.reseal_secrets(1).await.unwrap();

    assert_eq!((report.resealed, report.unopenable), (1, 1), "{report:?}");
    let kept: String = sqlx::query_scalar(
        "select snaptrade_user_secret from public.snaptrade_users where user_id = $1",
    )
    .bind(users[1].into_uuid())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(kept, lost);
    assert!(matches!(
        rotated.for_user(users[0]).reseal_secrets(10).await,
        Err(tributary_repo::RepoError::Forbidden { .. })
    ));
}

/// Every [`Provider`] is one the schema admits: the real migrations' CHECK constraints take each variant's
/// spelling as `provider` and its [`AccountMode`] as `account_mode`. A variant added without the migration
/// that extends them fails here (docs/adding-a-provider.md).
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_provider_and_account_mode_is_admitted_by_the_schemas_check_constraints(
    pool: PgPool,
) {
    use tributary_domain::{
        AccountMode, AccountType, InstitutionName, NewInvestmentAccount, Provider,
        ProviderAccountId,
    };
    use tributary_repo::AccountRepository;

    let user = UserId::new(
        tributary_testdb::create_auth_user(&pool)
            .await
            .expect("a user in auth.users"),
    );
    let store = PgStore::new(pool, Keyring::new(SecretKey::generate()));
    let rows: Vec<_> = Provider::ALL
        .iter()
        .map(|provider| {
            NewInvestmentAccount::new(
                user,
                *provider,
                ProviderAccountId::parse(&format!("account-at-{provider}")).unwrap(),
                InstitutionName::parse(provider.display_name()).unwrap(),
                AccountType::parse("investment").unwrap(),
            )
        })
        .collect();
    let stored = store.upsert_accounts(user, &rows).await.unwrap();
    let mut admitted: Vec<_> = stored
        .iter()
        .map(|account| (account.provider, account.account_mode))
        .collect();
    admitted.sort();
    let expected: Vec<_> = Provider::ALL
        .iter()
        .map(|provider| (*provider, AccountMode::from(*provider)))
        .collect();
    assert_eq!(admitted, expected);
}
