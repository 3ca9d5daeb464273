//! `PgStore::connect` and `PgStoreOptions`: the tuned pool connects, its defaults are applied, a bad URL is a
//! typed error that never shows the password, and dropping the ping before acquire keeps connections safe.

use std::time::Duration;

use sqlx::{Connection as _, PgPool};
use tributary_domain::{PortfolioMode, UserId};
use tributary_repo::{
    Keyring, NewWebhookDelivery, PgStore, PgStoreOptions, PortfolioRepository, RepoError,
    SecretKey, WebhookKey, WebhookRepository,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PASSWORD: &str = "hunter2-db-password";

fn keyring() -> Keyring {
    Keyring::new(SecretKey::generate())
}

/// The URL of the database `#[sqlx::test]` made for this test: `DATABASE_URL` with its database replaced.
fn url_of(pool: &PgPool) -> String {
    let server = std::env::var("DATABASE_URL").expect("#[sqlx::test] runs with DATABASE_URL set");
    let database = pool
        .connect_options()
        .get_database()
        .expect("a test database has a name")
        .to_owned();
    let (without_query, query) = server.split_once('?').unwrap_or((&server, ""));
    let (authority, _) = without_query
        .rsplit_once('/')
        .filter(|(authority, _)| authority.ends_with(|c: char| c != '/'))
        .unwrap_or((without_query, ""));
    if query.is_empty() {
        format!("{authority}/{database}")
    } else {
        format!("{authority}/{database}?{query}")
    }
}

fn assert_no_password(error: &RepoError) {
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn connect_builds_a_store_that_reads_and_writes(pool: PgPool) -> TestResult {
    let store = PgStore::connect(&url_of(&pool), keyring()).await?;
    let user = UserId::new(tributary_testdb::create_auth_user(&pool).await?);

    let summary = store.portfolio_mode(user).await?;
    let recorded = store
        .record_webhook(&NewWebhookDelivery {
            key: WebhookKey::plaid("connect-test-1"),
            event_type: "HOLDINGS: DEFAULT_UPDATE".to_owned(),
            user: Some(user),
            payload: serde_json::json!({ "webhook_code": "DEFAULT_UPDATE" }),
            hint_only: true,
        })
        .await?;

    assert_eq!(summary.mode, PortfolioMode::None, "a user with no accounts");
    assert!(recorded, "a new delivery is recorded");
    store.pool().close().await;
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_documented_defaults_are_applied_to_the_pool(pool: PgPool) -> TestResult {
    let store = PgStore::connect(&url_of(&pool), keyring()).await?;
    let options = store.pool().options();
    assert_eq!(options.get_max_connections(), 10);
    assert_eq!(options.get_acquire_timeout(), Duration::from_secs(5));
    assert!(
        !options.get_test_before_acquire(),
        "no ping on every acquire"
    );
    assert_eq!(options.get_idle_timeout(), Some(Duration::from_secs(300)));
    assert_eq!(options.get_max_lifetime(), Some(Duration::from_secs(1800)));

    let mut connection = store.pool().acquire().await?;
    let name: String = sqlx::query_scalar("select current_setting('application_name')")
        .fetch_one(&mut *connection)
        .await?;
    // 200 distinct statements stay prepared: more than sqlx's 100, within the store's 256.
    for n in 0..200 {
        let sql = format!("select {n}::int + $1");
        sqlx::query_scalar::<_, i32>(sqlx::AssertSqlSafe(sql))
            .bind(1)
            .fetch_one(&mut *connection)
            .await?;
    }
    assert_eq!(name, "tributary");
    assert!(
        connection.cached_statements_size() >= 200,
        "{} statements cached",
        connection.cached_statements_size()
    );
    drop(connection);
    store.pool().close().await;
    Ok(())
}

#[tokio::test]
async fn a_url_of_another_database_is_a_bad_url_naming_its_scheme() {
    let url = format!("mysql://app:{PASSWORD}@127.0.0.1:3306/tributary");
    let error = PgStore::connect(&url, keyring()).await.unwrap_err();

    assert!(
        matches!(&error, RepoError::BadDatabaseUrl { reason } if reason.contains("mysql://")),
        "{error:?}"
    );
    assert_no_password(&error);
}

#[tokio::test]
async fn a_malformed_url_is_a_bad_url_that_names_the_fault_and_hides_the_password() {
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:not-a-port/tributary");
    let error = PgStore::connect(&url, keyring()).await.unwrap_err();

    assert!(
        matches!(&error, RepoError::BadDatabaseUrl { reason } if reason.contains("port")),
        "{error:?}"
    );
    assert_no_password(&error);
}

#[tokio::test]
async fn a_url_with_no_scheme_is_a_bad_url() {
    let error = PgStore::connect(&format!("app:{PASSWORD}@127.0.0.1/tributary"), keyring())
        .await
        .unwrap_err();

    assert!(
        matches!(&error, RepoError::BadDatabaseUrl { reason } if reason.contains("postgres://")),
        "{error:?}"
    );
    assert_no_password(&error);
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_unavailable_within_the_acquire_timeout() {
    // Port 1 on the loopback: nothing listens, the connection is refused and sqlx retries until the deadline.
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:1/tributary");
    let started = std::time::Instant::now();
    let error = PgStoreOptions::default()
        .acquire_timeout(Duration::from_millis(300))
        .connect(&url, keyring())
        .await
        .unwrap_err();

    assert!(matches!(error, RepoError::Unavailable { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the acquire timeout"
    );
    assert_no_password(&error);
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_connection_cut_while_idle_is_replaced_before_the_next_call(pool: PgPool) -> TestResult {
    let store = PgStoreOptions::default()
        .max_connections(1)
        .ping_after_idle(Duration::from_millis(50))
        .connect(&url_of(&pool), keyring())
        .await?;
    let user = UserId::new(tributary_testdb::create_auth_user(&pool).await?);
    let backend: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(store.pool())
        .await?;

    let cut: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
        .bind(backend)
        .fetch_one(&pool)
        .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let summary = store.portfolio_mode(user).await?;
    let replacement: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(store.pool())
        .await?;

    assert!(cut);
    assert_eq!(summary.mode, PortfolioMode::None, "a user with no accounts");
    assert_ne!(replacement, backend, "the cut connection was not reused");
    store.pool().close().await;
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_statement_cancelled_mid_flight_never_hands_its_connection_on_unfinished(
    pool: PgPool,
) -> TestResult {
    let store = PgStoreOptions::default()
        .max_connections(1)
        .connect(&url_of(&pool), keyring())
        .await?;
    let slow = sqlx::query_scalar::<_, i32>("select 7 from pg_sleep(0.5)").fetch_one(store.pool());

    let cancelled = tokio::time::timeout(Duration::from_millis(50), slow).await;
    // The only connection is still busy with the sleep; the next statement must get its own answer, not the
    // cancelled one's `7`.
    let answer: i32 = sqlx::query_scalar("select 42")
        .fetch_one(store.pool())
        .await?;

    assert!(cancelled.is_err(), "the slow statement was cancelled");
    assert_eq!(answer, 42);
    let mut connection = store.pool().acquire().await?;
    connection.ping().await?;
    drop(connection);
    store.pool().close().await;
    Ok(())
}
