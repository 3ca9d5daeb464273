//! `PortfolioMode::from_providers` is `public.get_user_portfolio_mode`'s truth table: for each of the eight
//! combinations of (Alpaca, Plaid, SnapTrade), a user set up that way gets the same mode from PostgreSQL, asked
//! as that user through RLS, as the pure function computes.
//!
//! Each user also carries what must NOT count: an inactive account of every aggregation provider they lack, an
//! active manual account, and (without Alpaca) an onboarding row with no Alpaca account id.

use sqlx::{PgPool, Postgres, Transaction};
use tributary_domain::{PortfolioMode, Provider};
use tributary_testdb::{Identity, create_auth_user};
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
struct Combination {
    alpaca: bool,
    plaid: bool,
    snaptrade: bool,
}

fn all_combinations() -> impl Iterator<Item = Combination> {
    (0..8_u8).map(|bits| Combination {
        alpaca: bits & 4 != 0,
        plaid: bits & 2 != 0,
        snaptrade: bits & 1 != 0,
    })
}

async fn insert_account(
    pool: &PgPool,
    user: Uuid,
    provider: Provider,
    is_active: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into public.user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_type, is_active, account_mode)
         values ($1, $2, gen_random_uuid()::text, 'Institution', 'brokerage', $3, $2)",
    )
    .bind(user)
    .bind(provider.as_str())
    .bind(is_active)
    .execute(pool)
    .await?;
    Ok(())
}

async fn insert_onboarding(
    pool: &PgPool,
    user: Uuid,
    alpaca_account_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("insert into public.user_onboarding (user_id, status, alpaca_account_id) values ($1, 'approved', $2)")
        .bind(user)
        .bind(alpaca_account_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Creates a user with exactly this combination, inserting as the table owner (the backend's service side).
async fn user_with(pool: &PgPool, combination: Combination) -> sqlx::Result<Uuid> {
    let user = create_auth_user(pool).await?;
    let alpaca_account_id = combination.alpaca.then(|| format!("alpaca-{user}"));
    insert_onboarding(pool, user, alpaca_account_id.as_deref()).await?;
    insert_account(pool, user, Provider::Plaid, combination.plaid).await?;
    insert_account(pool, user, Provider::SnapTrade, combination.snaptrade).await?;
    insert_account(pool, user, Provider::Manual, true).await?;
    Ok(user)
}

struct SqlMode {
    mode: String,
    has_alpaca: bool,
    has_plaid: bool,
    has_snaptrade: bool,
}

/// Calls the function the way a signed-in client would: role `authenticated` with the user's JWT claims.
async fn mode_as_user(tx: &mut Transaction<'_, Postgres>, user: Uuid) -> sqlx::Result<SqlMode> {
    Identity::User(user).apply(tx).await?;
    let (mode, has_alpaca, has_plaid, has_snaptrade) = sqlx::query_as::<
        _,
        (String, bool, bool, bool),
    >(
        "select mode, has_alpaca, has_plaid, has_snaptrade from public.get_user_portfolio_mode($1)",
    )
    .bind(user)
    .fetch_one(&mut **tx)
    .await?;
    Ok(SqlMode {
        mode,
        has_alpaca,
        has_plaid,
        has_snaptrade,
    })
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_provider_combination_gets_the_same_mode_from_sql_and_from_rust(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    for combination in all_combinations() {
        let user = user_with(&pool, combination).await?;
        let mut tx = pool.begin().await?;
        let sql = mode_as_user(&mut tx, user).await?;
        tx.rollback().await?;

        let Combination {
            alpaca,
            plaid,
            snaptrade,
        } = combination;
        assert_eq!(
            (sql.has_alpaca, sql.has_plaid, sql.has_snaptrade),
            (alpaca, plaid, snaptrade),
            "the function read a different setup than {combination:?}"
        );
        let expected = PortfolioMode::from_providers(alpaca, plaid, snaptrade);
        assert_eq!(
            PortfolioMode::parse(&sql.mode)?,
            expected,
            "{combination:?}"
        );
        seen.push(expected);
    }
    for mode in PortfolioMode::ALL {
        assert!(seen.contains(mode), "no combination produced {mode}");
    }
    Ok(())
}
