//! What only PostgreSQL can show about Plaid Items: the token sealed in its column (bound to owner and Item), a
//! user-scoped store refused the token, and key rotation re-sealing the tokens with the SnapTrade secrets.

use sqlx::PgPool;
use tributary_domain::{ExposeSecret, ProviderItemId, UserId};
use tributary_repo::{
    Keyring, PgStore, PlaidItemRepository, PlaidItemStatusChange, RepoError, SecretError,
    SecretKey, SecretRepository, SnapTradeUserRepository,
};

use crate::conformance::{plaid_item, snaptrade_user};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6";

fn store(pool: &PgPool, key: [u8; 32]) -> PgStore {
    PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes(key)))
}

async fn new_user(pool: &PgPool) -> UserId {
    UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
}

async fn raw_token(pool: &PgPool, user: UserId, item: &str) -> sqlx::Result<String> {
    sqlx::query_scalar(
        "select access_token_encrypted from plaid_items where user_id = $1 and item_id = $2",
    )
    .bind(user.into_uuid())
    .bind(item)
    .fetch_one(pool)
    .await
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_items_token_is_sealed_in_its_column_and_opens_only_on_its_own_row(
    pool: PgPool,
) -> TestResult {
    let service = store(&pool, [1; 32]);
    let (alice, bob) = (new_user(&pool).await, new_user(&pool).await);
    service
        .upsert_plaid_item(alice, &plaid_item("item-a", TOKEN))
        .await?;
    service
        .upsert_plaid_item(alice, &plaid_item("item-b", "access-b"))
        .await?;
    service
        .upsert_plaid_item(bob, &plaid_item("item-a", "access-bob"))
        .await?;
    let raw = raw_token(&pool, alice, "item-a").await?;
    let key_id = SecretKey::from_bytes([1; 32]).id().to_owned();
    assert!(raw.starts_with(&format!("v1:{key_id}:")), "{raw}");
    assert!(!raw.contains("access-sandbox"));

    // Alice's sealed token copied onto her other Item, then onto Bob's Item with the same id: neither opens.
    for (user, item) in [(alice, "item-b"), (bob, "item-a")] {
        sqlx::query(
            "update plaid_items set access_token_encrypted = $1 where user_id = $2 and item_id = $3",
        )
        .bind(&raw)
        .bind(user.into_uuid())
        .bind(item)
        .execute(&pool)
        .await?;
        let error = service
            .get_plaid_item(user, &ProviderItemId::parse(item)?)
            .await
            .unwrap_err();
        assert!(
            matches!(error, RepoError::Secret(SecretError::Unopenable { .. })),
            "{error:?}"
        );
    }

    // A bare token written by something else is refused by the column's check.
    let written = sqlx::query(
        "update plaid_items set access_token_encrypted = $1 where user_id = $2 and item_id = 'item-a'",
    )
    .bind(TOKEN)
    .bind(alice.into_uuid())
    .execute(&pool)
    .await;
    assert!(written.is_err(), "a bare token is not a sealed value");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_scoped_store_can_neither_read_nor_write_an_items_token(pool: PgPool) -> TestResult {
    let service = store(&pool, [1; 32]);
    let user = new_user(&pool).await;
    service
        .upsert_plaid_item(user, &plaid_item("item-a", TOKEN))
        .await?;
    let as_user = service.for_user(user);
    let item = ProviderItemId::parse("item-a")?;
    assert!(matches!(
        as_user.get_plaid_item(user, &item).await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(matches!(
        as_user.list_plaid_items(user).await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(matches!(
        as_user
            .upsert_plaid_item(user, &plaid_item("item-a", "access-mine"))
            .await,
        Err(RepoError::Forbidden { .. })
    ));
    assert!(matches!(
        as_user
            .set_plaid_item_status(
                user,
                &item,
                PlaidItemStatusChange::Synced {
                    at: chrono::Utc::now()
                }
            )
            .await,
        Err(RepoError::Forbidden { .. })
    ));
    assert_eq!(
        service
            .get_plaid_item(user, &item)
            .await?
            .access_token
            .expose_secret(),
        TOKEN
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_key_rotation_reseals_item_tokens_with_snaptrade_secrets_and_keeps_their_binding(
    pool: PgPool,
) -> TestResult {
    let old = store(&pool, [1; 32]);
    let mut users = Vec::new();
    for index in 0..3 {
        let user = new_user(&pool).await;
        old.upsert_plaid_item(user, &plaid_item("item-a", &format!("access-{index}-a")))
            .await?;
        old.upsert_plaid_item(user, &plaid_item("item-b", &format!("access-{index}-b")))
            .await?;
        old.upsert_snaptrade_user(user, &snaptrade_user(user, &format!("snap-{index}"), "s"))
            .await?;
        users.push(user);
    }
    let rotated = PgStore::new(
        pool.clone(),
        Keyring::new(SecretKey::from_bytes([2; 32]))
            .with_previous(SecretKey::from_bytes([1; 32]))?,
    );
    let report = rotated.reseal_secrets(2).await?;
    assert_eq!((report.resealed, report.unopenable), (9, 0));
    assert_eq!(rotated.reseal_secrets(500).await?.resealed, 0, "idempotent");

    let new_only = store(&pool, [2; 32]);
    let new_id = SecretKey::from_bytes([2; 32]).id().to_owned();
    for (index, user) in users.iter().enumerate() {
        for item in ["item-a", "item-b"] {
            assert!(
                raw_token(&pool, *user, item)
                    .await?
                    .starts_with(&format!("v1:{new_id}:"))
            );
        }
        let items = new_only.list_plaid_items(*user).await?;
        let tokens: Vec<_> = items
            .iter()
            .map(|i| i.access_token.expose_secret().to_owned())
            .collect();
        assert_eq!(
            tokens,
            [format!("access-{index}-a"), format!("access-{index}-b")]
        );
    }
    Ok(())
}
