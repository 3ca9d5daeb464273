//! The schema on a real PostgreSQL: the design's defects stay fixed, RLS holds, the portfolio mode is right,
//! and the migrations are re-runnable with psql.

use sqlx::{PgPool, Row};
use tributary_testdb::{Identity, create_auth_user};
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn insert_account(
    pool: &PgPool,
    user: Uuid,
    provider: &str,
    active: bool,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        "insert into user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_type, is_active, account_mode,
            snaptrade_user_secret)
         values ($1, $2, $3, 'Test Bank', 'brokerage', $4, $2, 'plaintext-must-stay-hidden')
         returning id",
    )
    .bind(user)
    .bind(provider)
    .bind(Uuid::new_v4().to_string())
    .bind(active)
    .fetch_one(pool)
    .await
}

async fn set_alpaca(pool: &PgPool, user: Uuid, alpaca_account_id: &str) -> sqlx::Result<()> {
    sqlx::query("insert into user_onboarding (user_id, status, alpaca_account_id) values ($1, 'approved', $2)")
        .bind(user)
        .bind(alpaca_account_id)
        .execute(pool)
        .await?;
    Ok(())
}

async fn mode_as_service(
    pool: &PgPool,
    user: Uuid,
) -> sqlx::Result<(String, bool, bool, bool, Option<String>, i32)> {
    let mut tx = pool.begin().await?;
    Identity::ServiceRole.apply(&mut tx).await?;
    let row = sqlx::query("select * from get_user_portfolio_mode($1)")
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
    Ok((
        row.get("mode"),
        row.get("has_alpaca"),
        row.get("has_plaid"),
        row.get("has_snaptrade"),
        row.get("alpaca_account_id"),
        row.get("accounts_count"),
    ))
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn migrator_creates_every_table_and_the_view(pool: PgPool) -> TestResult {
    for name in [
        "user_investment_accounts",
        "user_aggregated_holdings",
        "user_onboarding",
        "snaptrade_users",
        "snaptrade_brokerage_connections",
        "snaptrade_orders",
        "v_unified_investment_accounts",
    ] {
        let found: Option<String> = sqlx::query_scalar("select to_regclass('public.' || $1)::text")
            .bind(name)
            .fetch_one(&pool)
            .await?;
        assert_eq!(found.as_deref(), Some(name), "{name} is missing");
    }
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn snaptrade_accounts_pass_the_provider_check(pool: PgPool) -> TestResult {
    let user = create_auth_user(&pool).await?;
    insert_account(&pool, user, "snaptrade", true).await?;
    let bogus = insert_account(&pool, user, "robinhood", true).await;
    assert!(bogus.is_err(), "an unknown provider must be refused");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn portfolio_mode_covers_none_aggregation_brokerage_and_hybrid(pool: PgPool) -> TestResult {
    let nobody = create_auth_user(&pool).await?;
    assert_eq!(
        mode_as_service(&pool, nobody).await?,
        ("none".into(), false, false, false, None, 0)
    );

    let plaid_only = create_auth_user(&pool).await?;
    insert_account(&pool, plaid_only, "plaid", true).await?;
    insert_account(&pool, plaid_only, "snaptrade", false).await?;
    assert_eq!(
        mode_as_service(&pool, plaid_only).await?,
        ("aggregation".into(), false, true, false, None, 1)
    );

    let snaptrade_only = create_auth_user(&pool).await?;
    insert_account(&pool, snaptrade_only, "snaptrade", true).await?;
    assert_eq!(
        mode_as_service(&pool, snaptrade_only).await?,
        ("aggregation".into(), false, false, true, None, 1)
    );

    let brokerage = create_auth_user(&pool).await?;
    set_alpaca(&pool, brokerage, "alp-1").await?;
    assert_eq!(
        mode_as_service(&pool, brokerage).await?,
        (
            "brokerage".into(),
            true,
            false,
            false,
            Some("alp-1".into()),
            0
        )
    );

    let hybrid = create_auth_user(&pool).await?;
    set_alpaca(&pool, hybrid, "alp-2").await?;
    insert_account(&pool, hybrid, "plaid", true).await?;
    insert_account(&pool, hybrid, "snaptrade", true).await?;
    insert_account(&pool, hybrid, "plaid", false).await?;
    assert_eq!(
        mode_as_service(&pool, hybrid).await?,
        ("hybrid".into(), true, true, true, Some("alp-2".into()), 2)
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn portfolio_mode_refuses_other_users_and_anon(pool: PgPool) -> TestResult {
    let alice = create_auth_user(&pool).await?;
    let bob = create_auth_user(&pool).await?;
    set_alpaca(&pool, bob, "bobs-alpaca").await?;

    for (who, target, allowed) in [
        (Identity::User(alice), alice, true),
        (Identity::User(alice), bob, false),
        (Identity::Anon, bob, false),
        (Identity::ServiceRole, bob, true),
    ] {
        let mut tx = pool.begin().await?;
        who.apply(&mut tx).await?;
        let outcome = sqlx::query("select mode from get_user_portfolio_mode($1)")
            .bind(target)
            .fetch_one(&mut *tx)
            .await;
        assert_eq!(
            outcome.is_ok(),
            allowed,
            "{who:?} asking about {target}: {outcome:?}"
        );
    }
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn unified_view_shows_nobody_else_s_accounts(pool: PgPool) -> TestResult {
    let alice = create_auth_user(&pool).await?;
    let bob = create_auth_user(&pool).await?;
    insert_account(&pool, alice, "plaid", true).await?;
    insert_account(&pool, bob, "snaptrade", true).await?;

    let mut tx = pool.begin().await?;
    Identity::User(alice).apply(&mut tx).await?;
    let owners: Vec<Uuid> = sqlx::query_scalar("select user_id from v_unified_investment_accounts")
        .fetch_all(&mut *tx)
        .await?;
    assert_eq!(owners, vec![alice]);
    tx.rollback().await?;

    let mut tx = pool.begin().await?;
    Identity::Anon.apply(&mut tx).await?;
    let anon = sqlx::query_scalar::<_, Uuid>("select user_id from v_unified_investment_accounts")
        .fetch_all(&mut *tx)
        .await;
    assert!(
        anon.is_err() || anon.as_ref().is_ok_and(Vec::is_empty),
        "anon saw {anon:?}"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn rls_keeps_each_user_to_their_own_rows_on_every_table(pool: PgPool) -> TestResult {
    let alice = create_auth_user(&pool).await?;
    let bob = create_auth_user(&pool).await?;
    let bobs_account = insert_account(&pool, bob, "snaptrade", true).await?;
    sqlx::query(
        "insert into snaptrade_brokerage_connections (user_id, authorization_id, brokerage_slug, brokerage_name)
         values ($1, gen_random_uuid(), 'ALPACA', 'Alpaca')",
    )
    .bind(bob)
    .execute(&pool)
    .await?;
    sqlx::query("insert into user_aggregated_holdings (user_id, symbol) values ($1, 'AAPL')")
        .bind(bob)
        .execute(&pool)
        .await?;
    sqlx::query(
        "insert into snaptrade_orders (user_id, account_id, brokerage_order_id, symbol, action, order_type, status)
         values ($1, $2, 'b-1', 'AAPL', 'BUY', 'Market', 'EXECUTED')",
    )
    .bind(bob)
    .bind(bobs_account)
    .execute(&pool)
    .await?;
    sqlx::query("insert into snaptrade_users (user_id, snaptrade_user_id, snaptrade_user_secret) values ($1, $2, 'x')")
        .bind(bob)
        .bind(bob.to_string())
        .execute(&pool)
        .await?;

    let tables = [
        "user_investment_accounts",
        "user_aggregated_holdings",
        "snaptrade_brokerage_connections",
        "snaptrade_orders",
        "snaptrade_users",
        "user_onboarding",
    ];
    for table in tables {
        for (who, expect_rows) in [
            (Identity::User(bob), true),
            (Identity::User(alice), false),
            (Identity::ServiceRole, true),
        ] {
            let mut tx = pool.begin().await?;
            who.apply(&mut tx).await?;
            let seen: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "select count(*) from public.{table} where user_id = '{bob}'"
            )))
            .fetch_one(&mut *tx)
            .await?;
            if table != "user_onboarding" {
                assert_eq!(seen > 0, expect_rows, "{who:?} on {table} saw {seen} rows");
            } else {
                assert_eq!(seen, 0);
            }
            let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
                "delete from public.{table} where user_id = '{bob}'"
            )))
            .execute(&mut *tx)
            .await;
            if who == Identity::User(alice) {
                assert!(
                    deleted.is_err() || deleted.as_ref().is_ok_and(|r| r.rows_affected() == 0),
                    "alice deleted from {table}"
                );
            }
            tx.rollback().await?;
        }
        let mut tx = pool.begin().await?;
        Identity::Anon.apply(&mut tx).await?;
        let anon = sqlx::query(sqlx::AssertSqlSafe(format!("select 1 from public.{table}")))
            .fetch_all(&mut *tx)
            .await;
        assert!(anon.is_err(), "anon may not read {table}");
    }

    let mut tx = pool.begin().await?;
    Identity::User(alice).apply(&mut tx).await?;
    let forged = sqlx::query(
        "insert into snaptrade_brokerage_connections (user_id, authorization_id, brokerage_slug, brokerage_name)
         values ($1, gen_random_uuid(), 'ALPACA', 'Alpaca')",
    )
    .bind(bob)
    .execute(&mut *tx)
    .await;
    assert!(forged.is_err(), "alice must not insert a row owned by bob");
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn snaptrade_secrets_are_hidden_from_their_own_user(pool: PgPool) -> TestResult {
    let bob = create_auth_user(&pool).await?;
    insert_account(&pool, bob, "snaptrade", true).await?;
    sqlx::query("insert into snaptrade_users (user_id, snaptrade_user_id, snaptrade_user_secret) values ($1, $2, 's')")
        .bind(bob)
        .bind(bob.to_string())
        .execute(&pool)
        .await?;
    for query in [
        "select snaptrade_user_secret from snaptrade_users",
        "select snaptrade_user_secret from user_investment_accounts",
        "select * from snaptrade_users",
    ] {
        let mut tx = pool.begin().await?;
        Identity::User(bob).apply(&mut tx).await?;
        let outcome = sqlx::query(query).fetch_all(&mut *tx).await;
        assert!(outcome.is_err(), "{query} must be refused");
    }
    let mut tx = pool.begin().await?;
    Identity::User(bob).apply(&mut tx).await?;
    let visible: Vec<String> = sqlx::query_scalar("select snaptrade_user_id from snaptrade_users")
        .fetch_all(&mut *tx)
        .await?;
    assert_eq!(visible, vec![bob.to_string()]);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn orders_must_reference_a_real_account(pool: PgPool) -> TestResult {
    let bob = create_auth_user(&pool).await?;
    let orphan = sqlx::query(
        "insert into snaptrade_orders (user_id, account_id, brokerage_order_id, symbol, action, order_type, status)
         values ($1, gen_random_uuid(), 'b-1', 'AAPL', 'BUY', 'Market', 'PENDING')",
    )
    .bind(bob)
    .execute(&pool)
    .await;
    assert!(
        orphan.is_err(),
        "an order for a missing account must be refused"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_public_function_pins_its_search_path_and_no_extension_sits_in_public(
    pool: PgPool,
) -> TestResult {
    let unpinned: Vec<String> = sqlx::query_scalar(
        "select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname in ('public', 'auth')
           and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')",
    )
    .fetch_all(&pool)
    .await?;
    assert!(
        unpinned.is_empty(),
        "functions without a pinned search_path: {unpinned:?}"
    );
    let in_public: Vec<String> = sqlx::query_scalar(
        "select e.extname::text from pg_extension e join pg_namespace n on n.oid = e.extnamespace
         where n.nspname = 'public'",
    )
    .fetch_all(&pool)
    .await?;
    assert!(in_public.is_empty(), "extensions in public: {in_public:?}");
    Ok(())
}

fn database_url_for(base: &str, database: &str) -> String {
    let (server, _) = base.rsplit_once('/').unwrap_or((base, ""));
    format!("{server}/{database}")
}

fn run(command: &mut std::process::Command) -> Result<String, Box<dyn std::error::Error>> {
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn apply_with_psql(url: &str) -> TestResult {
    let mut files: Vec<_> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
    files.sort();
    for file in files {
        run(std::process::Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
            .arg(&file))?;
    }
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn applying_the_migrations_twice_with_psql_leaves_the_same_schema(
    pool: PgPool,
) -> TestResult {
    let base = std::env::var("DATABASE_URL")?;
    let suffix = Uuid::new_v4().simple().to_string();
    let (once, twice) = (
        format!("tributary_once_{suffix}"),
        format!("tributary_twice_{suffix}"),
    );
    for name in [&once, &twice] {
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&pool)
            .await?;
    }
    let result = (|| -> Result<(String, String), Box<dyn std::error::Error>> {
        apply_with_psql(&database_url_for(&base, &once))?;
        apply_with_psql(&database_url_for(&base, &twice))?;
        apply_with_psql(&database_url_for(&base, &twice))?;
        let dump = |db: &str| {
            run(std::process::Command::new("pg_dump").args([
                "--schema-only",
                "-d",
                &database_url_for(&base, db),
            ]))
        };
        Ok((dump(&once)?, dump(&twice)?))
    })();
    for name in [&once, &twice] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists {name} with (force)"
        )))
        .execute(&pool)
        .await?;
    }
    let (first, second) = result?;
    // pg_dump wraps its output in \restrict / \unrestrict lines carrying a fresh random key each run.
    let normalize = |dump: &str| {
        dump.lines()
            .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (first, second) = (normalize(&first), normalize(&second));
    assert!(first.contains("get_user_portfolio_mode"));
    assert_eq!(first, second);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn auth_uid_reads_the_legacy_claim_first_then_the_json_claims(pool: PgPool) -> TestResult {
    let (legacy, json) = (Uuid::new_v4(), Uuid::new_v4());
    let mut tx = pool.begin().await?;
    assert_eq!(
        sqlx::query_scalar::<_, Option<Uuid>>("select auth.uid()")
            .fetch_one(&mut *tx)
            .await?,
        None
    );
    Identity::User(json).apply(&mut tx).await?;
    let (uid, role): (Option<Uuid>, Option<String>) =
        sqlx::query_as("select auth.uid(), auth.role()")
            .fetch_one(&mut *tx)
            .await?;
    assert_eq!((uid, role.as_deref()), (Some(json), Some("authenticated")));
    sqlx::query("select set_config('request.jwt.claim.sub', $1, true)")
        .bind(legacy.to_string())
        .execute(&mut *tx)
        .await?;
    assert_eq!(
        sqlx::query_scalar::<_, Option<Uuid>>("select auth.uid()")
            .fetch_one(&mut *tx)
            .await?,
        Some(legacy)
    );
    Ok(())
}

/// The decimal columns migration 0017 widens, and the shape each has after it.
const WIDENED: [(&str, &str, &str); 11] = [
    (
        "user_aggregated_holdings",
        "total_quantity",
        "numeric(28,10)",
    ),
    (
        "user_aggregated_holdings",
        "average_cost_basis",
        "numeric(28,10)",
    ),
    (
        "user_aggregated_holdings",
        "total_market_value",
        "numeric(28,10)",
    ),
    (
        "user_aggregated_holdings",
        "total_cost_basis",
        "numeric(28,10)",
    ),
    (
        "user_aggregated_holdings",
        "unrealized_gain_loss",
        "numeric(28,10)",
    ),
    (
        "user_aggregated_holdings",
        "day_change_value",
        "numeric(28,10)",
    ),
    ("snaptrade_orders", "units", "numeric(24,10)"),
    ("snaptrade_orders", "filled_units", "numeric(24,10)"),
    ("snaptrade_orders", "limit_price", "numeric(24,10)"),
    ("snaptrade_orders", "stop_price", "numeric(24,10)"),
    ("snaptrade_orders", "average_fill_price", "numeric(24,10)"),
];

async fn column_shape(pool: &PgPool, table: &str, column: &str) -> sqlx::Result<String> {
    sqlx::query_scalar(
        "select pg_catalog.format_type(atttypid, atttypmod) from pg_catalog.pg_attribute
         where attrelid = pg_catalog.to_regclass('public.' || $1) and attname = $2",
    )
    .bind(table)
    .bind(column)
    .fetch_one(pool)
    .await
}

/// Which file each of the two tables is stored in: a new one after every rewrite.
async fn storage_files(pool: &PgPool) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "select relfilenode::bigint from pg_catalog.pg_class
         where oid in ('public.user_aggregated_holdings'::regclass, 'public.snaptrade_orders'::regclass)
         order by relname",
    )
    .fetch_all(pool)
    .await
}

#[sqlx::test(migrations = false)]
async fn migration_0017_widens_the_columns_keeping_each_stored_value_and_a_rerun_rewrites_nothing(
    pool: PgPool,
) -> TestResult {
    let migrations = &tributary_repo::MIGRATOR;
    for earlier in migrations.iter().filter(|migration| migration.version < 17) {
        sqlx::raw_sql(earlier.sql.as_str()).execute(&pool).await?;
    }
    let exact_figures = migrations
        .iter()
        .find(|migration| migration.version == 17)
        .expect("migrations/0017_exact_figures.sql")
        .sql
        .as_str();
    let user = create_auth_user(&pool).await?;
    let account = insert_account(&pool, user, "snaptrade", true).await?;
    sqlx::query(
        "insert into user_aggregated_holdings
           (user_id, symbol, total_quantity, total_market_value, total_cost_basis, average_cost_basis,
            unrealized_gain_loss, unrealized_gain_loss_percent)
         values ($1, 'BTC', 0.12345678, 16.67, 10.00, 81.00000066, 6.67, 66.7)",
    )
    .bind(user)
    .execute(&pool)
    .await?;
    sqlx::query(
        "insert into snaptrade_orders
           (user_id, account_id, brokerage_order_id, symbol, action, order_type, status, units, limit_price)
         values ($1, $2, 'b-1', 'BTC/USD', 'BUY', 'Limit', 'EXECUTED', 0.123456, 187.123456)",
    )
    .bind(user)
    .bind(account)
    .execute(&pool)
    .await?;

    sqlx::raw_sql(exact_figures).execute(&pool).await?;
    for (table, column, shape) in WIDENED {
        assert_eq!(
            column_shape(&pool, table, column).await?,
            shape,
            "{table}.{column}"
        );
    }
    let kept: (String, String, String) = sqlx::query_as(
        "select h.total_quantity::text, h.total_market_value::text, o.limit_price::text
         from user_aggregated_holdings h, snaptrade_orders o",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        kept,
        (
            "0.1234567800".to_owned(),
            "16.6700000000".to_owned(),
            "187.1234560000".to_owned()
        )
    );

    let files = storage_files(&pool).await?;
    sqlx::raw_sql(exact_figures).execute(&pool).await?;
    assert_eq!(
        storage_files(&pool).await?,
        files,
        "a re-run rewrites no table"
    );

    // What the narrower columns rounded is now kept to the last digit.
    let crypto: String = sqlx::query_scalar(
        "update user_aggregated_holdings set total_quantity = 0.123456789, total_market_value = 16.6665
         returning total_quantity::text || ' ' || total_market_value::text",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(crypto, "0.1234567890 16.6665000000");
    Ok(())
}

/// `MIGRATOR` embeds `crates/repo/migrations`, a link to the workspace's top-level `migrations/` (so the published
/// crate carries the files); this proves the link leads to that folder and that nothing in it is left out.
#[test]
fn the_migrator_embeds_every_file_of_the_top_level_migrations_folder_byte_for_byte() -> TestResult {
    let mut files: Vec<_> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
    files.sort();
    let on_disk = files
        .iter()
        .map(|file| {
            let name = file
                .file_name()
                .and_then(|name| name.to_str())
                .ok_or("file name")?;
            let version = name
                .split_once('_')
                .ok_or("no version prefix")?
                .0
                .parse::<i64>()?;
            Ok((version, std::fs::read_to_string(file)?))
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    let embedded: Vec<_> = tributary_repo::MIGRATOR
        .iter()
        .map(|migration| (migration.version, migration.sql.as_str().to_owned()))
        .collect();

    assert_eq!(
        embedded
            .iter()
            .map(|(version, _)| *version)
            .collect::<Vec<_>>(),
        on_disk
            .iter()
            .map(|(version, _)| *version)
            .collect::<Vec<_>>(),
    );
    for ((version, sql), (_, file)) in embedded.iter().zip(&on_disk) {
        assert_eq!(sql, file, "migration {version} differs from its file");
    }
    Ok(())
}
