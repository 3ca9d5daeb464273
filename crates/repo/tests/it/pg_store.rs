//! What only PostgreSQL can show: row-level security behind the user-scoped mode, the sealed secret column,
//! rows the domain refuses to read, and batches that fail inside the database leaving nothing behind.

use base64::Engine as _;

use sqlx::PgPool;
use tributary_domain::{AccountId, ExposeSecret, InstitutionName, Provider, Symbol, Units, UserId};
use tributary_repo::{
    AccountRepository, ConnectionRepository, HoldingRepository, HoldingsReplaced, Keyring,
    LockRepository, MemoryStore, OrderRepository, PgStore, PortfolioRepository, RepoError,
    SecretError, SecretKey, SnapTradeUserRepository,
};

use crate::conformance::{self, account, contribution, holding, snaptrade_user};

const SECRET: &str = "c2f1a9e0-plaintext-snaptrade-secret";

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn store(pool: &PgPool, key: [u8; 32]) -> PgStore {
    PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes(key)))
}

async fn new_user(pool: &PgPool) -> UserId {
    UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
}

async fn raw_secret(pool: &PgPool, user: UserId) -> sqlx::Result<String> {
    sqlx::query_scalar("select snaptrade_user_secret from snaptrade_users where user_id = $1")
        .bind(user.into_uuid())
        .fetch_one(pool)
        .await
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_unscoped_query_in_user_mode_sees_only_that_users_rows(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let (alice, bob) = (new_user(&pool).await, new_user(&pool).await);
    for (user, count) in [(alice, 2), (bob, 3)] {
        let accounts: Vec<_> = (0..count)
            .map(|i| account(user, Provider::Plaid, &format!("acc-{i}")))
            .collect();
        service.upsert_accounts(user, &accounts).await?;
        service
            .replace_holdings(user, &[holding(user, "AAPL", "1", "1")])
            .await?;
    }

    // Deliberately no `where user_id = ...`: only row-level security stands between Alice and Bob's rows.
    let mut tx = service.for_user(alice).begin(alice).await?;
    let accounts: i64 = sqlx::query_scalar("select count(*) from user_investment_accounts")
        .fetch_one(&mut *tx)
        .await?;
    let owners: Vec<uuid::Uuid> =
        sqlx::query_scalar("select distinct user_id from user_aggregated_holdings")
            .fetch_all(&mut *tx)
            .await?;
    let role: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    assert_eq!(accounts, 2);
    assert_eq!(owners, [alice.into_uuid()]);
    assert_eq!(role, "authenticated");

    let mut tx = service.begin(alice).await?;
    let everyone: i64 = sqlx::query_scalar("select count(*) from user_investment_accounts")
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    assert_eq!(
        everyone, 5,
        "service mode is not filtered: the Rust code scopes it"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_scoped_store_refuses_to_act_for_another_user(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let (alice, bob) = (new_user(&pool).await, new_user(&pool).await);
    service
        .upsert_accounts(bob, &[account(bob, Provider::Plaid, "bob")])
        .await?;
    let as_alice = service.for_user(alice);
    assert_eq!(as_alice.acting_as(), Some(alice));
    assert!(matches!(
        as_alice.list_accounts(bob).await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(matches!(
        as_alice
            .replace_holdings(bob, &[holding(bob, "AAPL", "1", "1")])
            .await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(as_alice.begin(bob).await.is_err());
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn snaptrade_secrets_and_account_writes_are_service_mode_only(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    let as_user = service.for_user(user);

    // The column privileges hide snaptrade_user_secret from `authenticated`: the database refuses, typed.
    let refused = as_user
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", SECRET))
        .await;
    assert!(
        matches!(&refused, Err(RepoError::Forbidden { reason }) if reason.contains("permission denied")),
        "{refused:?}"
    );
    service
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", SECRET))
        .await?;
    assert!(matches!(
        as_user.find_snaptrade_user(user).await,
        Err(RepoError::Forbidden { .. })
    ));
    let found = service
        .find_snaptrade_user(user)
        .await?
        .expect("registered");
    assert_eq!(found.user_secret.expose_secret(), SECRET);

    let refused = as_user
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc")])
        .await;
    assert!(
        matches!(refused, Err(RepoError::Forbidden { .. })),
        "{refused:?}"
    );
    assert!(as_user.list_accounts(user).await?.is_empty());

    let stored = service
        .upsert_accounts(user, &[account(user, Provider::Plaid, "acc")])
        .await?;
    let refused = as_user
        .record_account_sync(
            user,
            stored[0].id,
            tributary_domain::SyncStatus::Success,
            None,
            chrono::Utc::now(),
        )
        .await;
    assert!(
        matches!(refused, Err(RepoError::Forbidden { .. })),
        "{refused:?}"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn another_users_authorization_id_neither_blocks_nor_is_taken_by_a_users_connection(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let (alice, bob) = (new_user(&pool).await, new_user(&pool).await);
    let authorization = tributary_domain::AuthorizationId::generate();
    let alices = service
        .upsert_connections(alice, &[conformance::connection(alice, authorization)])
        .await?;
    // Through the Data API Bob may not write a connection at all.
    let forged = service
        .for_user(bob)
        .upsert_connections(bob, &[conformance::connection(bob, authorization)])
        .await;
    assert!(
        matches!(&forged, Err(RepoError::Forbidden { .. })),
        "{forged:?}"
    );
    // The backend stores Bob's as his own row: the key is scoped by user.
    let bobs = service
        .upsert_connections(bob, &[conformance::connection(bob, authorization)])
        .await?;
    assert_eq!(bobs[0].user_id, bob);
    assert_ne!(bobs[0].id, alices[0].id);
    assert_eq!(
        service.get_connection(alice, authorization).await?,
        alices[0]
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_secret_column_holds_no_plaintext(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", SECRET))
        .await?;
    let raw = raw_secret(&pool, user).await?;
    let key_id = SecretKey::from_bytes([1; 32]).id().to_owned();
    assert!(raw.starts_with(&format!("v1:{key_id}:")), "{raw}");
    assert!(!raw.contains(SECRET) && !raw.contains("plaintext"));
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET);
    assert!(!raw.contains(&encoded[..20]), "not merely encoded");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_secret_sealed_under_another_key_is_a_typed_error_until_the_key_is_in_the_keyring(
    pool: PgPool,
) -> TestResult {
    let user = new_user(&pool).await;
    store(&pool, [1; 32])
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", SECRET))
        .await?;
    let old_id = SecretKey::from_bytes([1; 32]).id().to_owned();

    let error = store(&pool, [2; 32])
        .find_snaptrade_user(user)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RepoError::Secret(SecretError::UnknownKey { key_id }) if *key_id == old_id),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains(SECRET));

    // After a rotation the old key opens old rows, and the next write re-seals under the new key.
    let rotated = PgStore::new(
        pool.clone(),
        Keyring::new(SecretKey::from_bytes([2; 32]))
            .with_previous(SecretKey::from_bytes([1; 32]))?,
    );
    let found = rotated
        .find_snaptrade_user(user)
        .await?
        .expect("registered");
    assert_eq!(found.user_secret.expose_secret(), SECRET);
    rotated
        .upsert_snaptrade_user(user, &snaptrade_user(user, "snap-1", SECRET))
        .await?;
    let new_id = SecretKey::from_bytes([2; 32]).id().to_owned();
    assert!(
        raw_secret(&pool, user)
            .await?
            .starts_with(&format!("v1:{new_id}:"))
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_tampered_or_moved_secret_does_not_open(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let (alice, bob) = (new_user(&pool).await, new_user(&pool).await);
    service
        .upsert_snaptrade_user(alice, &snaptrade_user(alice, "snap-a", SECRET))
        .await?;
    service
        .upsert_snaptrade_user(bob, &snaptrade_user(bob, "snap-b", "bobs-secret"))
        .await?;

    // Alice's sealed value copied onto Bob's row.
    sqlx::query(
        "update snaptrade_users set snaptrade_user_secret =
           (select snaptrade_user_secret from snaptrade_users where user_id = $1) where user_id = $2",
    )
    .bind(alice.into_uuid())
    .bind(bob.into_uuid())
    .execute(&pool)
    .await?;
    assert!(matches!(
        service.find_snaptrade_user(bob).await,
        Err(RepoError::Secret(SecretError::Unopenable { .. }))
    ));

    // One character of Alice's ciphertext changed.
    let raw = raw_secret(&pool, alice).await?;
    let last = raw.chars().nth(raw.len() - 3).unwrap();
    let flipped = if last == 'A' { 'B' } else { 'A' };
    let tampered = format!(
        "{}{flipped}{}",
        &raw[..raw.len() - 3],
        &raw[raw.len() - 2..]
    );
    sqlx::query("update snaptrade_users set snaptrade_user_secret = $1 where user_id = $2")
        .bind(&tampered)
        .bind(alice.into_uuid())
        .execute(&pool)
        .await?;
    assert!(matches!(
        service.find_snaptrade_user(alice).await,
        Err(RepoError::Secret(SecretError::Unopenable { .. }))
    ));

    // Plaintext written by something else is refused, not passed on as a secret.
    sqlx::query("update snaptrade_users set snaptrade_user_secret = $1 where user_id = $2")
        .bind(SECRET)
        .bind(alice.into_uuid())
        .execute(&pool)
        .await?;
    let error = service.find_snaptrade_user(alice).await.unwrap_err();
    assert!(matches!(
        error,
        RepoError::Secret(SecretError::Malformed { .. })
    ));
    assert!(!error.to_string().contains(SECRET));
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_unknown_provider_in_the_database_is_invalid_data_naming_the_column(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service
        .upsert_accounts(user, &[account(user, Provider::Plaid, "good")])
        .await?;
    // A provider added by a later migration, read by this version of the code.
    sqlx::query("alter table user_investment_accounts drop constraint user_investment_accounts_provider_check")
        .execute(&pool)
        .await?;
    let id: uuid::Uuid = sqlx::query_scalar(
        "insert into user_investment_accounts (user_id, provider, provider_account_id, institution_name, account_type)
         values ($1, 'robinhood', 'rh-1', 'Robinhood', 'brokerage') returning id",
    )
    .bind(user.into_uuid())
    .fetch_one(&pool)
    .await?;

    let error = service.list_accounts(user).await.unwrap_err();
    assert!(
        matches!(&error, RepoError::InvalidData { field, reason } if field == "provider" && reason.contains("robinhood")),
        "{error:?}"
    );
    assert!(matches!(
        service.get_account(user, AccountId::new(id)).await,
        Err(RepoError::InvalidData { field, .. }) if field == "provider"
    ));
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_blank_institution_name_or_bad_jsonb_in_the_database_is_invalid_data(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    // The schema's CHECK (length > 0) lets whitespace through; the domain does not.
    sqlx::query(
        "insert into user_investment_accounts (user_id, provider, provider_account_id, institution_name, account_type)
         values ($1, 'plaid', 'p-1', '   ', 'brokerage')",
    )
    .bind(user.into_uuid())
    .execute(&pool)
    .await?;
    assert!(matches!(
        service.list_accounts(user).await,
        Err(RepoError::InvalidData { field, .. }) if field == "institution_name"
    ));

    for (symbol, contributions) in [
        (
            "BADID",
            r#"[{"account_id": "not-a-uuid", "institution": "Vanguard", "quantity": "1", "market_value": "1", "cost_basis": "1"}]"#,
        ),
        (
            "HUGE",
            r#"[{"account_id": "67e55044-10b1-426f-9247-bb680e5fe0c8", "institution": "Vanguard", "quantity": "1e30", "market_value": "1", "cost_basis": "1"}]"#,
        ),
    ] {
        sqlx::query(
            "insert into user_aggregated_holdings (user_id, symbol, account_contributions) values ($1, $2, $3::jsonb)",
        )
        .bind(user.into_uuid())
        .bind(symbol)
        .bind(contributions)
        .execute(&pool)
        .await?;
        let error = service
            .get_holding(user, &Symbol::parse(symbol)?, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, RepoError::InvalidData { field, .. } if field == "account_contributions"),
            "{symbol}: {error:?}"
        );
    }
    Ok(())
}

#[test]
fn bad_input_is_refused_before_any_sql_naming_the_field() {
    let cases: [(RepoError, &str); 4] = [
        (UserId::parse("not-a-uuid").unwrap_err().into(), "user_id"),
        (
            InstitutionName::parse("  ").unwrap_err().into(),
            "institution_name",
        ),
        (
            Units::parse_for("units", "123456789012345")
                .unwrap_err()
                .into(),
            "units",
        ),
        (
            tributary_domain::Quantity::parse("-1").unwrap_err().into(),
            "total_quantity",
        ),
    ];
    for (error, expected) in cases {
        assert!(
            matches!(&error, RepoError::InvalidData { field, .. } if field == expected),
            "{error:?}"
        );
    }
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_replacement_the_database_refuses_midway_leaves_the_old_holdings(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service
        .replace_holdings(user, &[holding(user, "MSFT", "1", "1")])
        .await?;
    // A rule the domain does not know about, so the failure happens inside the transaction, after the delete.
    sqlx::query(
        "alter table user_aggregated_holdings add constraint user_aggregated_holdings_symbol_check check (symbol <> 'GME')",
    )
    .execute(&pool)
    .await?;
    let refused = service
        .replace_holdings(
            user,
            &[
                holding(user, "AAPL", "1", "1"),
                holding(user, "GME", "1", "1"),
            ],
        )
        .await;
    assert!(
        matches!(&refused, Err(RepoError::InvalidData { field, .. }) if field == "symbol"),
        "{refused:?}"
    );
    let symbols: Vec<String> = service
        .list_holdings(user)
        .await?
        .into_iter()
        .map(|h| h.symbol.to_string())
        .collect();
    assert_eq!(symbols, ["MSFT"]);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_order_batch_naming_a_foreign_account_writes_nothing(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let (alice, bob) = (new_user(&pool).await, new_user(&pool).await);
    let mine = service
        .upsert_accounts(alice, &[account(alice, Provider::SnapTrade, "a")])
        .await?;
    let theirs = service
        .upsert_accounts(bob, &[account(bob, Provider::SnapTrade, "b")])
        .await?;
    let batch = [
        conformance::order(alice, mine[0].id, "ord-1"),
        conformance::order(alice, theirs[0].id, "ord-2"),
    ];
    assert!(matches!(
        tributary_repo::OrderRepository::upsert_orders(&service, alice, &batch).await,
        Err(RepoError::NotFound { entity: "account" })
    ));
    let count: i64 = sqlx::query_scalar("select count(*) from snaptrade_orders")
        .fetch_one(&pool)
        .await?;
    assert_eq!(count, 0);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn no_public_type_holding_a_secret_shows_it_when_debug_formatted(pool: PgPool) -> TestResult {
    let key_text = base64::engine::general_purpose::STANDARD.encode([7; 32]);
    let keyring =
        Keyring::from_lookup(|name| (name == Keyring::KEY_VARIABLE).then(|| key_text.clone()))?;
    let service = PgStore::new(pool.clone(), keyring);
    let user = new_user(&pool).await;
    let new = snaptrade_user(user, "snap-1", SECRET);
    let stored = service.upsert_snaptrade_user(user, &new).await?;
    let memory = MemoryStore::new();
    memory.register_user(user);
    memory.upsert_snaptrade_user(user, &new).await?;
    let secret_error = RepoError::Secret(SecretError::UnknownKey {
        key_id: "abcd".into(),
    });

    let renderings = [
        format!("{new:?}"),
        format!("{new:#?}"),
        format!("{stored:?}"),
        format!("{stored:#?}"),
        format!("{:?}", stored.user_secret),
        format!("{service:?}"),
        format!("{:?}", service.for_user(user)),
        format!("{memory:?}"),
        format!("{:?}", SecretKey::from_bytes([7; 32])),
        format!("{secret_error:?} {secret_error}"),
        format!("{:?}", memory.find_snaptrade_user(user).await?),
    ];
    for rendering in renderings {
        assert!(!rendering.contains(SECRET), "{rendering}");
        assert!(!rendering.contains(&key_text), "{rendering}");
        assert!(!rendering.contains("7, 7, 7"), "{rendering}");
    }
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn holdings_carry_their_contributions_through_the_jsonb_columns(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    let account = AccountId::generate();
    let mut spread = holding(user, "VTI", "3", "750");
    spread.account_contributions = vec![
        contribution(account, "Vanguard", "1"),
        contribution(AccountId::generate(), "Vanguard", "2"),
    ];
    service.replace_holdings(user, &[spread.clone()]).await?;
    let breakdown: serde_json::Value = sqlx::query_scalar(
        "select institution_breakdown from user_aggregated_holdings where user_id = $1",
    )
    .bind(user.into_uuid())
    .fetch_one(&pool)
    .await?;
    assert_eq!(breakdown["Vanguard"]["account_count"], 2);
    let stored = service.get_holding(user, &spread.symbol, None).await?;
    assert_eq!(stored.account_contributions, spread.account_contributions);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn new_holdings_get_time_ordered_ids_that_later_writes_keep(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service
        .replace_holdings(user, &[holding(user, "VTI", "3", "750")])
        .await?;
    let first = service
        .get_holding(user, &Symbol::parse("VTI")?, None)
        .await?;
    service
        .replace_holdings(
            user,
            &[
                holding(user, "VTI", "4", "1000"),
                holding(user, "BND", "1", "70"),
            ],
        )
        .await?;
    let changed = service
        .get_holding(user, &Symbol::parse("VTI")?, None)
        .await?;
    let added = service
        .get_holding(user, &Symbol::parse("BND")?, None)
        .await?;

    assert_eq!(
        first.id.as_uuid().get_version_num(),
        7,
        "a v7 id, not the column's random default"
    );
    assert_eq!(changed.id, first.id, "an update keeps the row's id");
    assert!(
        added.id > first.id,
        "a row added later sorts after the earlier one"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_closed_pool_is_unavailable_not_a_panic(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    pool.close().await;
    let error = service.list_accounts(user).await.unwrap_err();
    assert!(matches!(error, RepoError::Unavailable { .. }), "{error:?}");
    Ok(())
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_unavailable() {
    // Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
        .unwrap();
    let service = PgStore::new(pool, Keyring::new(SecretKey::generate()));
    let error = service
        .portfolio_mode(UserId::generate())
        .await
        .unwrap_err();
    assert!(matches!(error, RepoError::Unavailable { .. }), "{error:?}");
}

/// Each of the user's rows as `(symbol, row version, updated_at, content_digest)`, by symbol.
async fn stored_versions(
    pool: &PgPool,
    user: UserId,
) -> sqlx::Result<
    Vec<(
        String,
        String,
        chrono::DateTime<chrono::Utc>,
        Option<Vec<u8>>,
    )>,
> {
    sqlx::query_as(
        "select symbol, xmin::text, updated_at, content_digest from user_aggregated_holdings
         where user_id = $1 order by symbol",
    )
    .bind(user.into_uuid())
    .fetch_all(pool)
    .await
}

fn two_holdings(user: UserId) -> Vec<tributary_domain::NewHolding> {
    vec![
        holding(user, "VTI", "3", "750"),
        holding(user, "BND", "1", "70"),
    ]
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_unchanged_replacement_writes_nothing_in_either_mode(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service.replace_holdings(user, &two_holdings(user)).await?;
    let before = stored_versions(&pool, user).await?;

    let as_service = service.replace_holdings(user, &two_holdings(user)).await?;
    let as_user = service
        .for_user(user)
        .replace_holdings(user, &two_holdings(user))
        .await?;

    assert_eq!(as_service, HoldingsReplaced::default());
    assert_eq!(as_user, HoldingsReplaced::default());
    assert_eq!(stored_versions(&pool, user).await?, before);
    assert!(
        before
            .iter()
            .all(|(_, _, _, digest)| digest.as_ref().is_some_and(|d| d.len() == 32)),
        "every row written by the repository carries a 32-byte digest: {before:?}"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn replacements_for_user_after_user_are_planned_once_not_on_every_call(
    pool: PgPool,
) -> TestResult {
    // One connection, so every replacement runs the same prepared statements.
    let single = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(pool.connect_options().as_ref().clone())
        .await?;
    let service = store(&single, [1; 32]);
    let users = [
        new_user(&pool).await,
        new_user(&pool).await,
        new_user(&pool).await,
    ];
    // First writes (nothing held yet), then changed ones (one holding gone, one new): both statements, each
    // more often than the five custom plans PostgreSQL tries before it would settle by itself.
    for _ in 0..2 {
        for &user in &users {
            service.replace_holdings(user, &two_holdings(user)).await?;
            let changed = [
                holding(user, "VTI", "4", "1000"),
                holding(user, "VXUS", "2", "120"),
            ];
            let replaced = service.replace_holdings(user, &changed).await?;
            assert_eq!(
                replaced,
                HoldingsReplaced {
                    written: 2,
                    removed: 1
                }
            );
            service.replace_holdings(user, &[]).await?;
        }
    }

    // (first write?, generic plans, custom plans) of the two replacement statements on the connection.
    let plans: Vec<(bool, i64, i64)> = sqlx::query_as(
        "select statement like '%select * from incoming%', generic_plans, custom_plans
         from pg_prepared_statements where statement like 'with removed as%' order by 1",
    )
    .fetch_all(&single)
    .await?;
    assert_eq!(plans, [(false, 12, 0), (true, 6, 0)]);
    let setting: String = sqlx::query_scalar("select current_setting('plan_cache_mode')")
        .fetch_one(&single)
        .await?;
    assert_eq!(setting, "auto");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_replacement_inside_a_unit_of_writes_leaves_the_units_planner_setting_as_it_found_it(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    let lock = service.lock_user(user).await?;
    let bound = service.within(&lock)?;
    lock.begin_writes().await?;
    let mut tx = bound.begin(user).await?;
    sqlx::query("set local plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let replaced = bound.replace_holdings(user, &two_holdings(user)).await?;

    let mut tx = bound.begin(user).await?;
    let setting: String = sqlx::query_scalar("select current_setting('plan_cache_mode')")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    lock.commit_writes().await?;
    lock.release().await?;
    assert_eq!(replaced.written, 2);
    assert_eq!(setting, "force_custom_plan");
    assert_eq!(service.list_holdings(user).await?.len(), 2);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_row_changed_outside_the_repository_is_restored_by_the_next_unchanged_sync(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service.replace_holdings(user, &two_holdings(user)).await?;
    sqlx::query(
        "update user_aggregated_holdings set total_quantity = 99 where user_id = $1 and symbol = 'VTI'",
    )
    .bind(user.into_uuid())
    .execute(&pool)
    .await?;
    let edited = stored_versions(&pool, user).await?;
    assert_eq!(edited[1].0, "VTI");
    assert_eq!(
        edited[1].3, None,
        "the trigger clears the digest of a row changed outside the repository"
    );

    let replaced = service.replace_holdings(user, &two_holdings(user)).await?;

    assert_eq!(
        replaced,
        HoldingsReplaced {
            written: 1,
            removed: 0
        }
    );
    let vti = service
        .get_holding(user, &Symbol::parse("VTI")?, None)
        .await?;
    assert_eq!(vti.figures.total_quantity.get(), "3".parse()?);
    assert!(stored_versions(&pool, user).await?[1].3.is_some());
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_edited_row_is_not_kept_past_a_sync_by_copying_a_digest(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service.replace_holdings(user, &two_holdings(user)).await?;
    let edit = "update user_aggregated_holdings set total_quantity = 99,
                  content_digest = (select content_digest from user_aggregated_holdings where symbol = 'BND')
                where symbol = 'VTI'";
    // Through the Data API the user may not update a holding at all (migration 0013).
    let mut tx = service.for_user(user).begin(user).await?;
    let refused = sqlx::query(edit).execute(&mut *tx).await;
    tx.rollback().await?;
    assert_eq!(
        refused
            .as_ref()
            .err()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .as_deref(),
        Some("42501"),
        "{refused:?}"
    );
    // Someone who may write (a hand-run fix) and copies another row's digest, the only valid one at hand.
    sqlx::query(edit).execute(&pool).await?;

    let replaced = service.replace_holdings(user, &two_holdings(user)).await?;

    assert_eq!(replaced.written, 1);
    let vti = service
        .get_holding(user, &Symbol::parse("VTI")?, None)
        .await?;
    assert_eq!(vti.figures.total_quantity.get(), "3".parse()?);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_new_key_refreshes_the_digests_without_touching_the_holdings_data_or_updated_at(
    pool: PgPool,
) -> TestResult {
    let user = new_user(&pool).await;
    store(&pool, [1; 32])
        .replace_holdings(user, &two_holdings(user))
        .await?;
    let before = stored_versions(&pool, user).await?;
    let rotated = store(&pool, [2; 32]);

    let refreshed = rotated.replace_holdings(user, &two_holdings(user)).await?;
    let after = stored_versions(&pool, user).await?;
    let again = rotated.replace_holdings(user, &two_holdings(user)).await?;

    assert_eq!(
        refreshed,
        HoldingsReplaced {
            written: 2,
            removed: 0
        }
    );
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            old.2, new.2,
            "updated_at of {} stays: its data did not change",
            old.0
        );
        assert_ne!(old.3, new.3, "the digest of {} is the new key's", old.0);
    }
    assert_eq!(again, HoldingsReplaced::default());
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn rows_another_writer_adds_while_a_first_replacement_waits_for_its_lock_are_replaced_too(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    // Another writer holds the user's replacement lock and adds rows the replacement's first read cannot see.
    let mut other = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(user.to_string())
        .execute(&mut *other)
        .await?;
    sqlx::query(
        "insert into user_aggregated_holdings (user_id, symbol, total_quantity, account_count)
         values ($1, 'VTI', 42, 1), ($1, 'XYZ', 1, 1)",
    )
    .bind(user.into_uuid())
    .execute(&mut *other)
    .await?;
    let replacing = tokio::spawn({
        let service = service.clone();
        async move { service.replace_holdings(user, &two_holdings(user)).await }
    });
    // The replacement found no rows, so it sends the statement without the lookup; wait until it queues for the lock.
    while sqlx::query_scalar::<_, i64>(
        "select count(*) from pg_locks
         where locktype = 'advisory' and not granted
           and database = (select oid from pg_database where datname = current_database())",
    )
    .fetch_one(&pool)
    .await?
        == 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    other.commit().await?;

    let replaced = replacing.await??;

    assert_eq!(
        replaced,
        HoldingsReplaced {
            written: 2,
            removed: 1
        }
    );
    let stored = service.list_holdings(user).await?;
    let symbols: Vec<&str> = stored.iter().map(|h| h.symbol.as_str()).collect();
    assert_eq!(symbols, ["BND", "VTI"]);
    assert_eq!(stored[1].figures.total_quantity.get(), "3".parse()?);
    Ok(())
}

/// Makes the database keep out (a BEFORE trigger returning NULL: the row is silently not written) every row of
/// `table` whose `column` is `'swallowed'`, the way a trigger or rule added by someone else could.
async fn swallow_rows(pool: &PgPool, table: &str, column: &str) -> sqlx::Result<()> {
    sqlx::raw_sql(
        "create schema if not exists test_faults;
         create or replace function test_faults.swallow() returns trigger language plpgsql
           set search_path = '' as $$ begin return null; end $$;",
    )
    .execute(pool)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "create trigger swallow before insert or update on public.{table} for each row
           when (new.{column} = 'swallowed') execute function test_faults.swallow()"
    )))
    .execute(pool)
    .await?;
    Ok(())
}

fn is_conflict_on<T: std::fmt::Debug>(outcome: &Result<T, RepoError>, key: &str) -> bool {
    matches!(outcome, Err(RepoError::Conflict { constraint }) if constraint == key)
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_write_that_reads_back_fewer_rows_than_it_sent_is_a_conflict_naming_the_key_and_writes_nothing(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    let accounts = service
        .upsert_accounts(user, &[account(user, Provider::SnapTrade, "acc")])
        .await?;
    let recorded = service
        .upsert_orders(
            user,
            &[conformance::order(user, accounts[0].id, "pending-1")],
        )
        .await?;
    swallow_rows(&pool, "user_investment_accounts", "provider_account_id").await?;
    swallow_rows(&pool, "snaptrade_orders", "brokerage_order_id").await?;
    swallow_rows(&pool, "snaptrade_brokerage_connections", "brokerage_name").await?;

    let accounts_written = service
        .upsert_accounts(
            user,
            &[
                account(user, Provider::Plaid, "kept"),
                account(user, Provider::Plaid, "swallowed"),
            ],
        )
        .await;
    assert!(
        is_conflict_on(
            &accounts_written,
            "user_investment_accounts_provider_provider_account_id_user__key"
        ),
        "{accounts_written:?}"
    );
    assert_eq!(
        service.list_accounts(user).await?,
        accounts,
        "nothing of the batch is written"
    );

    let orders_written = service
        .upsert_orders(
            user,
            &[
                conformance::order(user, accounts[0].id, "kept"),
                conformance::order(user, accounts[0].id, "swallowed"),
            ],
        )
        .await;
    assert!(
        is_conflict_on(
            &orders_written,
            "snaptrade_orders_user_id_account_id_brokerage_order_id_key"
        ),
        "{orders_written:?}"
    );
    // The provider's answer for a recorded order, whose row the database keeps out: confirm_order used to panic
    // on the empty read-back (`.remove(0)`).
    let confirmed = service
        .confirm_order(
            user,
            recorded[0].id,
            &conformance::order(user, accounts[0].id, "swallowed"),
        )
        .await;
    assert!(
        is_conflict_on(
            &confirmed,
            "snaptrade_orders_user_id_account_id_brokerage_order_id_key"
        ),
        "{confirmed:?}"
    );
    assert_eq!(
        service.list_orders(user, None).await?,
        recorded,
        "the orders are as they were"
    );

    let mut swallowed =
        conformance::connection(user, tributary_domain::AuthorizationId::generate());
    swallowed.brokerage_name = tributary_domain::BrokerageName::parse("swallowed")?;
    let connections_written = service
        .upsert_connections(
            user,
            &[
                conformance::connection(user, tributary_domain::AuthorizationId::generate()),
                swallowed,
            ],
        )
        .await;
    assert!(
        is_conflict_on(
            &connections_written,
            "snaptrade_brokerage_connections_user_id_authorization_id_key"
        ),
        "{connections_written:?}"
    );
    assert!(service.list_connections(user).await?.is_empty());
    Ok(())
}

/// Plaid's own example holding (cost basis 0.01, valued at 110: a gain of 1,099,900 %) and the largest gain the
/// money columns allow over one cent are stored and read back exactly: the percent column holds every gain.
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_gain_of_any_size_over_a_one_cent_cost_basis_is_stored_exactly(
    pool: PgPool,
) -> TestResult {
    use tributary_domain::{Amount, HoldingFigures, NewHolding, Quantity};

    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    let gain = |symbol: &str, value: &str| -> Result<NewHolding, Box<dyn std::error::Error>> {
        let figures = HoldingFigures::derive(
            Quantity::parse("0.01")?,
            Amount::parse(value)?,
            Amount::parse("0.01")?,
        )?;
        Ok(NewHolding::new(user, Symbol::parse(symbol)?, figures))
    };
    let holdings = [
        gain("PLAID", "110")?,
        gain("MOON", "999999999999999999.9999999999")?,
    ];

    service.replace_holdings(user, &holdings).await?;

    let plaid = service
        .get_holding(user, &Symbol::parse("PLAID")?, None)
        .await?;
    assert_eq!(
        plaid.figures.unrealized_gain_loss_percent.get(),
        "1099900".parse()?
    );
    let moon = service
        .get_holding(user, &Symbol::parse("MOON")?, None)
        .await?;
    assert_eq!(
        moon.figures.unrealized_gain_loss_percent.get(),
        "9999999999999999999900".parse()?
    );
    Ok(())
}

/// What a dashboard reads through the Data API: `v_portfolio_totals` sums a user's holdings per currency,
/// exactly as `totals_by_currency` does in Rust, and never adds two currencies together.
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_totals_view_sums_each_currency_apart_as_the_rust_totals_do(
    pool: PgPool,
) -> TestResult {
    use rust_decimal::Decimal;
    use tributary_domain::{Currency, totals_by_currency};

    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    let (cad, usd) = (Currency::parse("CAD")?, Currency::usd());
    let holdings = [
        holding(user, "BTC", "0.5", "45000.10").in_currency(cad.clone()),
        holding(user, "SHOP", "10", "1234.56").in_currency(cad),
        holding(user, "BTC", "0.25", "16000.25").in_currency(usd.clone()),
        holding(user, "AAPL", "3", "600").in_currency(usd),
        holding(user, "ODD", "1", "7"),
    ];
    service.replace_holdings(user, &holdings).await?;

    type Row = (Option<String>, Decimal, Decimal, i32);
    let from_view: Vec<Row> = sqlx::query_as(
        "select currency, total_market_value, total_cost_basis, holding_count
         from public.v_portfolio_totals where user_id = $1 order by currency nulls first",
    )
    .bind(user.into_uuid())
    .fetch_all(&pool)
    .await?;
    let from_rust: Vec<Row> = totals_by_currency(&service.list_holdings(user).await?)
        .into_iter()
        .map(|(currency, sums)| {
            (
                currency.map(String::from),
                sums.market_value,
                sums.cost_basis,
                i32::try_from(sums.holdings).unwrap(),
            )
        })
        .collect();
    assert_eq!(from_view, from_rust);
    let value_of = |code: Option<&str>| {
        from_view
            .iter()
            .find(|row| row.0.as_deref() == code)
            .map(|row| row.1)
    };
    assert_eq!(value_of(Some("CAD")), Some("46234.66".parse()?));
    assert_eq!(value_of(Some("USD")), Some("16600.25".parse()?));
    assert_eq!(value_of(None), Some("7".parse()?));
    Ok(())
}

/// A currency the domain would refuse cannot be written around it either: the column's CHECK holds the same
/// rule for any writer.
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_currency_column_refuses_what_is_not_a_currency_code(pool: PgPool) -> TestResult {
    let user = new_user(&pool).await;
    for code in ["usd", "$", "", "US Dollar"] {
        let inserted = sqlx::query(
            "insert into user_aggregated_holdings (user_id, symbol, currency) values ($1, 'AAPL', $2)",
        )
        .bind(user.into_uuid())
        .bind(code)
        .execute(&pool)
        .await;
        let code_of = inserted
            .as_ref()
            .err()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code().map(|c| c.into_owned()));
        assert_eq!(code_of.as_deref(), Some("23514"), "{code:?}: {inserted:?}");
    }
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_scoped_read_leaves_its_connection_back_in_the_pool_as_nobody(
    pool: PgPool,
) -> TestResult {
    let alice = new_user(&pool).await;
    store(&pool, [1; 32])
        .upsert_accounts(alice, &[account(alice, Provider::Plaid, "acc-a")])
        .await?;
    // One connection, so the check below runs on the connection the read used.
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(pool.connect_options().as_ref().clone())
        .await?;
    let as_alice = store(&one, [1; 32]).for_user(alice);
    for _ in 0..3 {
        assert_eq!(as_alice.list_accounts(alice).await?.len(), 1);
        // Still inside the read's transaction, this would run as alice.
        let (role, claims): (String, String) = sqlx::query_as(
            "select current_setting('role'), coalesce(current_setting('request.jwt.claims', true), '')",
        )
        .fetch_one(&one)
        .await?;
        assert_eq!(
            (role.as_str(), claims.as_str()),
            ("none", ""),
            "the read's transaction ended with its role and claims"
        );
    }
    Ok(())
}
