//! The migrations on a database laid out like a hosted Supabase project's today (`tributary_testdb`'s
//! `lay_out_hosted_supabase`: `auth` and `auth.users` owned by other roles, the backend's `hosted_postgres`
//! role no superuser and with only `USAGE` on schema `auth`), applied as that role; and on plain PostgreSQL.
//! Each way the whole folder applies twice, and the second time changes nothing.

use std::path::{Path, PathBuf};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tributary_testdb::{HOSTED_POSTGRES_ROLE, connect_as_hosted_postgres, lay_out_hosted_supabase};
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
const README: &str = include_str!("../../../../README.md");
const OLD_0001: &str = include_str!("fixtures/0001_supabase_compat_before_issue_13.sql");

fn migration_files() -> Result<Vec<PathBuf>, std::io::Error> {
    let mut files: Vec<_> = std::fs::read_dir(MIGRATIONS)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|file| file.extension().is_some_and(|ext| ext == "sql"));
    files.sort();
    Ok(files)
}

/// A libpq connection string for `options`' server and database, as `user`.
fn conninfo(options: &PgConnectOptions, user: &str, password: Option<&str>) -> String {
    let mut info = format!(
        "host={} port={} dbname={} user={user}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres"),
    );
    if let Some(password) = password {
        info.push_str(&format!(" password={password}"));
    }
    info
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

/// Applies every file of `migrations/` in order with `psql -f`, stopping at the first error.
fn apply_with_psql(conninfo: &str) -> TestResult {
    for file in migration_files()? {
        run(std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f"])
            .arg(&file))?;
    }
    Ok(())
}

/// The schema (with its owners and privileges), as pg_dump prints it.
fn dump(superuser: &PgConnectOptions) -> Result<String, Box<dyn std::error::Error>> {
    let dumped = run(std::process::Command::new("pg_dump").args([
        "--schema-only",
        "-d",
        &conninfo(superuser, superuser.get_username(), None),
    ]))?;
    // pg_dump wraps its output in \restrict / \unrestrict lines carrying a fresh random key each run.
    Ok(dumped
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A second, empty database on the same server for one test, dropped by the returned guard's `drop_now`.
struct ScratchDatabase {
    superuser: PgPool,
    name: String,
    pool: PgPool,
}

impl ScratchDatabase {
    async fn create(superuser: &PgPool) -> Result<Self, Box<dyn std::error::Error>> {
        let name = format!("tributary_hosted_{}", Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(superuser)
            .await?;
        let options = (*superuser.connect_options()).clone().database(&name);
        let pool = PgPool::connect_with(options).await?;
        Ok(Self {
            superuser: superuser.clone(),
            name,
            pool,
        })
    }

    async fn drop_now(self) -> sqlx::Result<()> {
        self.pool.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists {} with (force)",
            self.name
        )))
        .execute(&self.superuser)
        .await
        .map(drop)
    }
}

/// What the backend role is on the laid-out database: exactly hosted Supabase's `postgres`.
async fn backend_role_facts(backend: &PgPool) -> sqlx::Result<Vec<(String, bool)>> {
    let facts: (String, bool, bool, bool, bool, bool, bool, bool, bool, bool) = sqlx::query_as(
        "select current_user::text, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
                has_schema_privilege('auth', 'usage'), has_schema_privilege('auth', 'create'),
                pg_has_role('supabase_auth_admin', 'member'),
                (select u.relowner::regrole::text = 'supabase_auth_admin' from pg_class u where u.oid = 'auth.users'::regclass)
         from pg_roles r where r.rolname = current_user",
    )
    .fetch_one(backend)
    .await?;
    Ok(vec![
        (
            format!("current_user = {}", facts.0),
            facts.0 == HOSTED_POSTGRES_ROLE,
        ),
        ("superuser".to_owned(), facts.1),
        ("createrole".to_owned(), facts.2),
        ("createdb".to_owned(), facts.3),
        ("replication".to_owned(), facts.4),
        ("bypassrls".to_owned(), facts.5),
        ("usage on auth".to_owned(), facts.6),
        ("create on auth".to_owned(), facts.7),
        ("member of supabase_auth_admin".to_owned(), facts.8),
        (
            "auth.users owned by supabase_auth_admin".to_owned(),
            facts.9,
        ),
    ])
}

#[sqlx::test(migrations = false)]
async fn the_backend_role_has_exactly_what_hosted_supabases_postgres_has(
    superuser: PgPool,
) -> TestResult {
    let backend = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR).await?;
    let facts = backend_role_facts(&backend).await?;
    let expected = [
        true, false, true, true, true, true, true, false, false, true,
    ];
    let seen: Vec<bool> = facts.iter().map(|(_, held)| *held).collect();
    assert_eq!(seen, expected, "{facts:?}");
    let not_owned: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
         where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v')
           and c.relowner <> 'hosted_postgres'::regrole",
    )
    .fetch_all(&backend)
    .await?;
    assert!(
        not_owned.is_empty(),
        "public objects the backend does not own: {not_owned:?}"
    );
    backend.close().await;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_old_0001_failed_on_hosted_supabase_at_auth_users(superuser: PgPool) -> TestResult {
    lay_out_hosted_supabase(&superuser).await?;
    let backend = connect_as_hosted_postgres(&superuser).await?;
    let failed = sqlx::raw_sql(OLD_0001).execute(&backend).await;
    backend.close().await;
    let message = failed.expect_err("the old shim applied").to_string();
    assert!(
        message.contains("permission denied for schema auth"),
        "{message}"
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn on_hosted_supabase_the_backend_role_applies_the_whole_folder_twice_with_sqlx_and_psql(
    superuser: PgPool,
) -> TestResult {
    let options = (*superuser.connect_options()).clone();
    let as_backend = |options: &PgConnectOptions| {
        conninfo(options, HOSTED_POSTGRES_ROLE, Some(HOSTED_POSTGRES_ROLE))
    };

    // With sqlx (recording _sqlx_migrations), then the whole folder again with psql.
    let backend = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR).await?;
    tributary_repo::MIGRATOR.run(&backend).await?;
    backend.close().await;
    let once = dump(&options)?;
    apply_with_psql(&as_backend(&options))?;
    assert_eq!(
        dump(&options)?,
        once,
        "a second apply with psql changed the schema"
    );

    // With psql alone, twice, on a second database laid out the same way.
    let scratch = ScratchDatabase::create(&superuser).await?;
    let outcome = async {
        lay_out_hosted_supabase(&scratch.pool).await?;
        let scratch_options = (*scratch.pool.connect_options()).clone();
        apply_with_psql(&as_backend(&scratch_options))?;
        let first = dump(&scratch_options)?;
        apply_with_psql(&as_backend(&scratch_options))?;
        let second = dump(&scratch_options)?;
        assert!(first.contains("get_user_portfolio_mode"));
        assert_eq!(first, second, "a second apply with psql changed the schema");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    scratch.drop_now().await?;
    outcome
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn on_plain_postgresql_the_whole_folder_applies_again_with_psql_and_changes_nothing(
    superuser: PgPool,
) -> TestResult {
    let options = (*superuser.connect_options()).clone();
    let once = dump(&options)?;
    apply_with_psql(&conninfo(&options, options.get_username(), None))?;
    assert_eq!(dump(&options)?, once);
    Ok(())
}

/// The SQL the README gives for a database that applied the old 0001 with sqlx: the fenced block that starts
/// with `-- 0001 checksum update`.
fn readme_checksum_update() -> &'static str {
    let start = README
        .find("-- 0001 checksum update")
        .expect("the README gives the 0001 checksum update");
    let end = README[start..].find("```").expect("the block ends");
    &README[start..start + end]
}

#[sqlx::test(migrations = false)]
async fn a_database_that_applied_the_old_0001_migrates_after_the_readmes_checksum_update(
    pool: PgPool,
) -> TestResult {
    // The folder as it was before 0001 changed: today's files with the old 0001.
    let folder =
        std::env::temp_dir().join(format!("tributary_old_0001_{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&folder)?;
    for file in migration_files()? {
        let name = file.file_name().expect("a file name");
        std::fs::copy(&file, folder.join(name))?;
    }
    std::fs::write(folder.join("0001_supabase_compat.sql"), OLD_0001)?;
    let old = sqlx::migrate::Migrator::new(Path::new(&folder)).await;
    std::fs::remove_dir_all(&folder)?;
    old?.run(&pool).await?;

    let refused = tributary_repo::MIGRATOR.run(&pool).await;
    assert!(
        matches!(
            refused,
            Err(sqlx::migrate::MigrateError::VersionMismatch(1))
        ),
        "{refused:?}"
    );

    let updated = sqlx::raw_sql(sqlx::AssertSqlSafe(readme_checksum_update()))
        .execute(&pool)
        .await?;
    assert_eq!(updated.rows_affected(), 1);
    tributary_repo::MIGRATOR.run(&pool).await?;

    let again = sqlx::raw_sql(sqlx::AssertSqlSafe(readme_checksum_update()))
        .execute(&pool)
        .await?;
    assert_eq!(
        again.rows_affected(),
        0,
        "the update touches only the old checksum"
    );
    Ok(())
}
