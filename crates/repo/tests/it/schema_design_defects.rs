//! Each defect of the design's migration 008, as a check that fails on the design as written
//! (`fixtures/design_008.sql` on top of 0001 and 0002) and passes on the real migrations.

use sqlx::{PgPool, postgres::PgConnection};
use tributary_testdb::{Identity, create_auth_user};
use uuid::Uuid;

type CheckResult = Result<bool, Box<dyn std::error::Error>>;

const SUPABASE_COMPAT: &str = include_str!("../../../../migrations/0001_supabase_compat.sql");
const BASE_SCHEMA: &str = include_str!("../../../../migrations/0002_base_schema.sql");
const DESIGN_008: &str = include_str!("fixtures/design_008.sql");

async fn apply_design_as_written(pool: &PgPool) -> sqlx::Result<()> {
    for sql in [SUPABASE_COMPAT, BASE_SCHEMA, DESIGN_008] {
        sqlx::raw_sql(sql).execute(pool).await?;
    }
    Ok(())
}

async fn add_account(pool: &PgPool, user: Uuid, provider: &str) -> sqlx::Result<()> {
    sqlx::query(
        "insert into user_investment_accounts (user_id, provider, provider_account_id, institution_name, account_type)
         values ($1, $2, $3, 'Test Bank', 'brokerage')",
    )
    .bind(user)
    .bind(provider)
    .bind(Uuid::new_v4().to_string())
    .execute(pool)
    .await?;
    Ok(())
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

async fn call_mode(conn: &mut PgConnection, target: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("select * from get_user_portfolio_mode($1)")
        .bind(target)
        .fetch_one(conn)
        .await
        .map(drop)
}

async fn snaptrade_accounts_can_be_stored(pool: &PgPool) -> CheckResult {
    let user = create_auth_user(pool).await?;
    Ok(add_account(pool, user, "snaptrade").await.is_ok())
}

async fn portfolio_mode_runs(pool: &PgPool) -> CheckResult {
    let user = create_auth_user(pool).await?;
    let mut tx = pool.begin().await?;
    Identity::ServiceRole.apply(&mut tx).await?;
    Ok(call_mode(&mut tx, user).await.is_ok())
}

async fn portfolio_mode_refuses_other_users_and_anon(pool: &PgPool) -> CheckResult {
    let (alice, bob) = (create_auth_user(pool).await?, create_auth_user(pool).await?);
    let mut refused = true;
    for who in [Identity::User(alice), Identity::Anon] {
        let mut tx = pool.begin().await?;
        who.apply(&mut tx).await?;
        let outcome = call_mode(&mut tx, bob).await;
        refused &= outcome.as_ref().err().and_then(sqlstate).as_deref() == Some("42501");
    }
    Ok(refused)
}

async fn every_function_pins_search_path(pool: &PgPool) -> CheckResult {
    let unpinned: i64 = sqlx::query_scalar(
        "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'public'
           and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')",
    )
    .fetch_one(pool)
    .await?;
    Ok(unpinned == 0)
}

async fn unified_view_does_not_leak(pool: &PgPool) -> CheckResult {
    let (alice, bob) = (create_auth_user(pool).await?, create_auth_user(pool).await?);
    add_account(pool, bob, "plaid").await?;
    let mut leaked = false;
    for who in [Identity::User(alice), Identity::Anon] {
        let mut tx = pool.begin().await?;
        who.apply(&mut tx).await?;
        let seen =
            sqlx::query_scalar::<_, i64>("select count(*) from v_unified_investment_accounts")
                .fetch_one(&mut *tx)
                .await;
        leaked |= seen.is_ok_and(|n| n > 0);
    }
    Ok(!leaked)
}

/// Supabase's linter rules 0003 and 0006: `(select auth.uid())`, a named role, one permissive policy per role
/// and action (a FOR ALL policy counts for every action).
async fn policies_are_named_wrapped_and_single(pool: &PgPool) -> CheckResult {
    let bad: i64 = sqlx::query_scalar(
        "select count(*) from pg_policies
         where schemaname = 'public'
           and ('public' = any (roles)
                or coalesce(qual, with_check) not like '%SELECT auth.uid()%'
                or (cmd in ('UPDATE', 'ALL') and with_check is null))",
    )
    .fetch_one(pool)
    .await?;
    let doubled: i64 = sqlx::query_scalar(
        "select count(*) from (
           select tablename, action, role
           from pg_policies
           cross join lateral unnest(case when cmd = 'ALL' then array['SELECT','INSERT','UPDATE','DELETE']
                                          else array[cmd] end) as action
           cross join lateral unnest(roles) as role
           where schemaname = 'public' and permissive = 'PERMISSIVE'
           group by 1, 2, 3 having count(*) > 1) d",
    )
    .fetch_one(pool)
    .await?;
    Ok(bad == 0 && doubled == 0)
}

async fn orders_reference_accounts(pool: &PgPool) -> CheckResult {
    let has_fk: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_constraint
                        where conrelid = 'public.snaptrade_orders'::regclass and contype = 'f'
                          and confrelid = 'public.user_investment_accounts'::regclass)",
    )
    .fetch_one(pool)
    .await?;
    Ok(has_fk)
}

async fn secrets_are_hidden_from_their_owner(pool: &PgPool) -> CheckResult {
    let user = create_auth_user(pool).await?;
    sqlx::query("insert into snaptrade_users (user_id, snaptrade_user_id, snaptrade_user_secret) values ($1, $2, 's')")
        .bind(user)
        .bind(user.to_string())
        .execute(pool)
        .await?;
    let mut tx = pool.begin().await?;
    Identity::User(user).apply(&mut tx).await?;
    let read = sqlx::query_scalar::<_, String>("select snaptrade_user_secret from snaptrade_users")
        .fetch_all(&mut *tx)
        .await;
    Ok(read.is_err())
}

async fn no_extension_in_public(pool: &PgPool) -> CheckResult {
    let in_public: i64 = sqlx::query_scalar(
        "select count(*) from pg_extension e join pg_namespace n on n.oid = e.extnamespace where n.nspname = 'public'",
    )
    .fetch_one(pool)
    .await?;
    Ok(in_public == 0)
}

macro_rules! defect_tests {
    ($($check:ident => $fails_on_design:ident, $passes:ident;)*) => {$(
        #[sqlx::test(migrations = false)]
        async fn $fails_on_design(pool: PgPool) -> Result<(), Box<dyn std::error::Error>> {
            apply_design_as_written(&pool).await?;
            assert!(!$check(&pool).await?, "the design as written should fail {}", stringify!($check));
            Ok(())
        }

        #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
        async fn $passes(pool: PgPool) -> Result<(), Box<dyn std::error::Error>> {
            assert!($check(&pool).await?, "the migrations should pass {}", stringify!($check));
            Ok(())
        }
    )*};
}

defect_tests! {
    snaptrade_accounts_can_be_stored =>
        design_rejects_snaptrade_accounts, migrations_store_snaptrade_accounts;
    portfolio_mode_runs =>
        design_portfolio_mode_fails_on_first_call, migrations_portfolio_mode_runs;
    portfolio_mode_refuses_other_users_and_anon =>
        design_portfolio_mode_does_not_refuse_strangers, migrations_portfolio_mode_refuses_strangers;
    every_function_pins_search_path =>
        design_leaves_search_path_mutable, migrations_pin_every_search_path;
    unified_view_does_not_leak =>
        design_view_leaks_other_users_accounts, migrations_view_keeps_accounts_private;
    policies_are_named_wrapped_and_single =>
        design_policies_trip_the_supabase_linter, migrations_policies_pass_the_supabase_linter_rules;
    orders_reference_accounts =>
        design_orders_have_no_account_foreign_key, migrations_orders_reference_accounts;
    secrets_are_hidden_from_their_owner =>
        design_lets_users_read_their_snaptrade_secret, migrations_hide_snaptrade_secrets;
    no_extension_in_public =>
        design_puts_uuid_ossp_in_public, migrations_keep_public_free_of_extensions;
}
