//! History on PostgreSQL (migration 0024): what only the database can show. An unchanged re-sync leaves every
//! tuple as it was (not rewritten, not even locked); a first sync stored page by page reads no stored row,
//! whatever the planner's statistics say; a user-scoped store reads the user's own history and is refused every
//! write.

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tributary_domain::{
    Currency, NewValuePoint, Provider, ProviderTransactionId, SignedAmount, UserId,
};
use tributary_repo::{
    AccountRepository, Keyring, PgStore, RepoError, SecretKey, TransactionQuery,
    TransactionRepository, ValueHistoryRepository,
};
use tributary_testdb::create_auth_user;

use crate::conformance::account;
use crate::conformance::history::{day, transaction};

/// Every stored transaction's tuple identity and lock marker: a rewrite changes `ctid` and `xmin`, a row lock
/// (what ON CONFLICT DO UPDATE … WHERE takes before its WHERE says no) sets `xmax`.
async fn tuples(pool: &PgPool) -> sqlx::Result<Vec<(String, String, String)>> {
    sqlx::query_as(
        "select ctid::text, xmin::text, xmax::text from public.investment_transactions
         order by provider_transaction_id",
    )
    .fetch_all(pool)
    .await
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_unchanged_resync_neither_rewrites_nor_locks_a_single_row(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let user = UserId::new(create_auth_user(&pool).await?);
    let brokerage = store
        .upsert_accounts(user, &[account(user, Provider::Alpaca, "acc-resync")])
        .await?[0]
        .id;
    let history: Vec<_> = (0..500)
        .map(|n| {
            transaction(
                user,
                brokerage,
                Provider::Alpaca,
                &format!("20220208125959696::{n:05}"),
                "2025-02-08",
                "-10.25",
                "USD",
            )
        })
        .collect();
    assert_eq!(
        store
            .upsert_transactions(user, brokerage, &history)
            .await?
            .inserted,
        500
    );
    let before = tuples(&pool).await?;
    assert!(before.iter().all(|(_, _, xmax)| xmax == "0"));

    let again = store.upsert_transactions(user, brokerage, &history).await?;
    assert_eq!((again.written(), again.unchanged), (0, 500));
    assert_eq!(tuples(&pool).await?, before, "no tuple rewritten or locked");
    Ok(())
}

/// Rows of the transactions table read by scans so far (sequentially or through an index), once this backend's
/// pending statistics are flushed: on a pool of one connection, the backend that made every write.
async fn rows_read(pool: &PgPool) -> sqlx::Result<i64> {
    let mut conn = pool.acquire().await?;
    // Flushed as the backend goes idle after this statement.
    sqlx::query("select pg_catalog.pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(
        "select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) from pg_catalog.pg_stat_user_tables
         where relid = 'public.investment_transactions'::regclass",
    )
    .fetch_one(&mut *conn)
    .await
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_first_sync_stored_page_by_page_reads_no_stored_row_whatever_the_statistics_say(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let pool = options.max_connections(1).connect_with(connect).await?;
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let user = UserId::new(create_auth_user(&pool).await?);
    let brokerage = store
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc-first-sync")])
        .await?[0]
        .id;
    let history: Vec<_> = (0..2_000)
        .map(|n| {
            transaction(
                user,
                brokerage,
                Provider::Plaid,
                &format!("plaid-{n:05}"),
                "2025-02-08",
                "-10.25",
                "USD",
            )
        })
        .collect();
    // The statistics of a first sync: taken before the account had a row, so the planner expects none, and
    // would find reading the account's rows as cheap as probing the key.
    sqlx::query("analyze public.investment_transactions")
        .execute(&pool)
        .await?;

    let before = rows_read(&pool).await?;
    for page in history.chunks(100) {
        assert_eq!(
            store
                .upsert_transactions(user, brokerage, page)
                .await?
                .inserted,
            100
        );
    }
    // Each new row is checked by the unique key's index alone: no stored row is read, where a lookup planned
    // from the statistics read the account's stored rows again for every page (or every row).
    assert_eq!(
        rows_read(&pool).await? - before,
        0,
        "stored rows read while storing new ones"
    );

    // A page mixing stored rows, a revision that moved its trade date and a new row: each is told apart.
    let mut overlap = history[..3].to_vec();
    overlap[1].trade_date = day("2025-02-07");
    overlap.push(transaction(
        user,
        brokerage,
        Provider::Plaid,
        "plaid-new",
        "2025-02-09",
        "3",
        "USD",
    ));
    let written = store.upsert_transactions(user, brokerage, &overlap).await?;
    assert_eq!(
        (written.inserted, written.updated, written.unchanged),
        (1, 1, 2)
    );
    let moved = store
        .list_transactions(
            user,
            &TransactionQuery::latest(10).between(day("2025-02-07"), day("2025-02-07")),
        )
        .await?;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].transaction, overlap[1]);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_scoped_store_reads_its_own_history_only_and_is_refused_every_history_write(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let service = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let alice = UserId::new(create_auth_user(&pool).await?);
    let bob = UserId::new(create_auth_user(&pool).await?);
    let mut accounts = Vec::new();
    for user in [alice, bob] {
        let brokerage = service
            .upsert_accounts(
                user,
                &[account(user, Provider::Plaid, &format!("acc-{user}"))],
            )
            .await?[0]
            .id;
        service
            .upsert_transactions(
                user,
                brokerage,
                &[transaction(
                    user,
                    brokerage,
                    Provider::Plaid,
                    "t-1",
                    "2025-03-03",
                    "1",
                    "USD",
                )],
            )
            .await?;
        service
            .advance_transactions_synced_through(user, brokerage, day("2025-03-03"))
            .await?;
        let total = NewValuePoint::new(
            user,
            None,
            day("2025-03-03"),
            Currency::usd(),
            SignedAmount::parse_exact("1")?,
        );
        service.upsert_value_points(user, &[total]).await?;
        accounts.push(brokerage);
    }
    let (mine, bobs) = (accounts[0], accounts[1]);
    let as_alice = service.for_user(alice);
    let all = TransactionQuery::latest(100);
    let year = (day("2025-01-01"), day("2025-12-31"));

    // Her own: what the backend reads for her.
    let own = as_alice.list_transactions(alice, &all).await?;
    assert_eq!(own, service.list_transactions(alice, &all).await?);
    assert!(own.len() == 1 && own[0].transaction.user_id == alice);
    let points = as_alice.value_history(alice, year.0, year.1).await?;
    assert_eq!(points, service.value_history(alice, year.0, year.1).await?);
    assert!(points.len() == 1 && points[0].point.user_id == alice);
    assert_eq!(
        as_alice.transactions_synced_through(alice, mine).await?,
        Some(day("2025-03-03"))
    );

    // Bob's, asked for under her own name: nothing, or not found.
    assert!(
        as_alice
            .list_transactions(alice, &all.in_account(bobs))
            .await?
            .is_empty()
    );
    assert!(matches!(
        as_alice.transactions_synced_through(alice, bobs).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    // Asked for under his name: refused before any SQL runs.
    let forbidden = |outcome: Result<(), RepoError>, what: &str| {
        assert!(
            matches!(outcome, Err(RepoError::Forbidden { .. })),
            "{what}: {outcome:?}"
        );
    };
    forbidden(
        as_alice.list_transactions(bob, &all).await.map(drop),
        "list",
    );
    forbidden(
        as_alice.value_history(bob, year.0, year.1).await.map(drop),
        "value_history",
    );
    forbidden(
        as_alice
            .transactions_synced_through(bob, bobs)
            .await
            .map(drop),
        "synced_through",
    );

    // Every write of her own history: refused by the database, nothing changed.
    let before = (
        service.list_transactions(alice, &all).await?,
        service.value_history(alice, year.0, year.1).await?,
        service.transactions_synced_through(alice, mine).await?,
    );
    let forged = transaction(
        alice,
        mine,
        Provider::Plaid,
        "t-2",
        "2025-03-04",
        "1000000",
        "USD",
    );
    forbidden(
        as_alice
            .upsert_transactions(alice, mine, &[forged])
            .await
            .map(drop),
        "upsert_transactions",
    );
    forbidden(
        as_alice
            .remove_transactions(alice, mine, &[ProviderTransactionId::parse("t-1")?])
            .await
            .map(drop),
        "remove_transactions",
    );
    forbidden(
        as_alice
            .advance_transactions_synced_through(alice, mine, day("2099-01-01"))
            .await
            .map(drop),
        "advance_transactions_synced_through",
    );
    let inflated = NewValuePoint::new(
        alice,
        None,
        day("2025-03-03"),
        Currency::usd(),
        SignedAmount::parse_exact("1000000")?,
    );
    forbidden(
        as_alice
            .upsert_value_points(alice, &[inflated])
            .await
            .map(drop),
        "upsert_value_points",
    );
    let after = (
        service.list_transactions(alice, &all).await?,
        service.value_history(alice, year.0, year.1).await?,
        service.transactions_synced_through(alice, mine).await?,
    );
    assert_eq!(after, before, "nothing changed");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_stored_transactions_currency_is_kept_even_against_the_backends_own_sql(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
    let user = UserId::new(create_auth_user(&pool).await?);
    let brokerage = store
        .upsert_accounts(user, &[account(user, Provider::SnapTrade, "acc-fx")])
        .await?[0]
        .id;
    store
        .upsert_transactions(
            user,
            brokerage,
            &[transaction(
                user,
                brokerage,
                Provider::SnapTrade,
                "fx-1",
                "2025-03-03",
                "1",
                "CAD",
            )],
        )
        .await?;
    let changed = sqlx::query(
        "update public.investment_transactions set currency = 'USD', amount = amount * 0.7
         where provider_transaction_id = 'fx-1'",
    )
    .execute(&pool)
    .await;
    let refused = changed.expect_err("the trigger refuses it");
    let database = refused.as_database_error().expect("a database error");
    assert_eq!(database.code().as_deref(), Some("23514"));
    assert!(
        database.message().contains("fx-1"),
        "{}",
        database.message()
    );
    // Any other revision of the row goes through.
    sqlx::query(
        "update public.investment_transactions set description = 'Contribution'
         where provider_transaction_id = 'fx-1'",
    )
    .execute(&pool)
    .await?;
    let stored = store
        .list_transactions(user, &TransactionQuery::latest(1))
        .await?;
    assert_eq!(stored[0].transaction.currency.as_str(), "CAD");
    Ok(())
}
