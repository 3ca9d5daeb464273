//! Test support for Tributary's database tests (not published).
//!
//! Three jobs:
//! - [`require_database!`] makes a test binary refuse to run, with one line saying what to do, when no
//!   PostgreSQL server is configured, instead of letting every `#[sqlx::test]` panic on its own.
//! - [`Identity`] switches a transaction to the role and JWT claims PostgREST would use for a request, so
//!   tests see exactly what a Supabase client would see through row-level security.
//! - [`backend_pool`] runs the backend as it runs on a hosted Supabase project: it lays the test database out
//!   like a hosted project's ([`lay_out_hosted_supabase`]) and applies the migrations as
//!   [`HOSTED_POSTGRES_ROLE`], a login role with exactly the privileges of Supabase's `postgres` (not a
//!   superuser, `BYPASSRLS`, only `USAGE` on schema `auth`), then hands back that role's pool. Tests that run
//!   as the cluster superuser cannot see a privilege the backend lacks on Supabase; tests on this pool do.
//!
//! ```text
//! #[sqlx::test(migrations = false)]
//! async fn the_flow_runs_as_the_backend_role(superuser: sqlx::PgPool) -> anyhow::Result<()> {
//!     let pool = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR).await?;
//!     let user = tributary_testdb::create_auth_user(&pool).await?; // hosted_postgres may write auth.users
//!     let store = tributary_repo::PgStore::new(pool, keyring);
//!     // ... the same test as on the superuser's pool
//!     Ok(())
//! }
//! ```
//!
//! ```text
//! tributary_testdb::require_database!();
//!
//! #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
//! async fn owner_sees_own_rows(pool: sqlx::PgPool) -> sqlx::Result<()> {
//!     let user = tributary_testdb::create_auth_user(&pool).await?;
//!     let mut tx = pool.begin().await?;
//!     tributary_testdb::Identity::User(user).apply(&mut tx).await?;
//!     Ok(())
//! }
//! ```

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The one line printed when a database test binary runs without a server.
pub const MISSING_DATABASE: &str = "database tests need PostgreSQL: run scripts/test, or set DATABASE_URL to a server you can create databases on";

/// Exits the test process with [`MISSING_DATABASE`] unless `DATABASE_URL` is set.
///
/// Called before `main` by [`require_database!`]; not meant to be called directly.
pub fn exit_unless_database_configured() {
    if std::env::var_os("DATABASE_URL").is_none_or(|url| url.is_empty()) {
        eprintln!("{MISSING_DATABASE}");
        std::process::exit(2);
    }
}

/// Declares that this test binary needs PostgreSQL: without `DATABASE_URL` it stops before any test runs,
/// printing one line that says to run `scripts/test` or set `DATABASE_URL`.
///
/// The calling crate needs `ctor` as a dev-dependency.
#[macro_export]
macro_rules! require_database {
    () => {
        #[ctor::ctor]
        fn __tributary_require_database() {
            $crate::exit_unless_database_configured();
        }
    };
}

/// Who a request runs as, the way PostgREST sets it for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// No JWT: role `anon`, no claims.
    Anon,
    /// A signed-in user: role `authenticated`, `request.jwt.claims` with `sub` = this id.
    User(Uuid),
    /// The service key: role `service_role` (BYPASSRLS).
    ServiceRole,
}

impl Identity {
    /// Switches the current transaction to this identity (`SET LOCAL ROLE` plus the JWT claims).
    ///
    /// Must run inside a transaction: both settings are transaction-local, as they are in PostgREST.
    pub async fn apply(self, conn: &mut PgConnection) -> sqlx::Result<()> {
        let (role, claims) = match self {
            Identity::Anon => ("anon", r#"{"role":"anon"}"#.to_owned()),
            Identity::User(id) => (
                "authenticated",
                format!(r#"{{"sub":"{id}","role":"authenticated"}}"#),
            ),
            Identity::ServiceRole => ("service_role", r#"{"role":"service_role"}"#.to_owned()),
        };
        sqlx::query(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
        )
        .bind(role)
        .bind(claims)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Inserts a user into `auth.users` (as Supabase's GoTrue would on sign-up) and returns its id.
pub async fn create_auth_user(pool: &PgPool) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query("insert into auth.users (id, email) values ($1, $2)")
        .bind(id)
        .bind(format!("{id}@test.invalid"))
        .execute(pool)
        .await?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------------------------
// Hosted Supabase's layout, and the backend's own role

/// The login role tests use as hosted Supabase's `postgres` role (the cluster's own `postgres` is the superuser
/// the tests connect as, so the stand-in needs another name). It has exactly what `postgres` has on a hosted
/// project since Supabase's 2025 lockdown (supabase/postgres `migrations/db/migrations/`:
/// `10000000000000_demote-postgres.sql`, `20211115181400_update-auth-permissions.sql`,
/// `20230201083204_grant_auth_roles_to_postgres.sql`, `20230306081037_grant_pg_monitor_to_postgres.sql`,
/// `20240606060239_grant_predefined_roles_to_postgres.sql`, `20250421084701_revoke_admin_roles_from_postgres.sql`):
///
/// - `LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS`;
/// - member of `anon`, `authenticated`, `service_role`, `pg_read_all_data`, `pg_signal_backend`, `pg_monitor`,
///   and **not** of `supabase_auth_admin`;
/// - owner of the database (so of schema `public`, and of every table it creates by applying the migrations);
/// - only `USAGE` on schema `auth` (no `CREATE`), all privileges on `auth.users` and `EXECUTE` on `auth.uid()`
///   and friends, which belong to `supabase_auth_admin`.
pub const HOSTED_POSTGRES_ROLE: &str = "hosted_postgres";

/// Its password (the test server may use trust authentication; the password is there for one that does not).
const HOSTED_POSTGRES_PASSWORD: &str = "hosted_postgres";

/// The cluster-wide roles of a hosted Supabase project. Roles are shared by every database of the cluster, and
/// tests in several processes lay out their databases at once, so this runs under one advisory lock taken in the
/// server's main database (`DATABASE_URL`), where every test process meets.
const CLUSTER_ROLES: &str = r#"
do $$
declare
  r record;
begin
  for r in select * from (values
      ('anon', 'nologin noinherit'),
      ('authenticated', 'nologin noinherit'),
      ('service_role', 'nologin noinherit bypassrls'),
      ('authenticator', 'login noinherit'),
      -- Owners only here: on a hosted project supabase_admin is the platform's superuser and supabase_auth_admin
      -- is GoTrue's login. What they own, and that the backend role is neither, is what the tests need.
      ('supabase_admin', 'nologin'),
      ('supabase_auth_admin', 'nologin noinherit'),
      ('hosted_postgres',
       'login nosuperuser createdb createrole replication bypassrls inherit password ''hosted_postgres''')
  ) as roles(name, options)
  loop
    if not exists (select 1 from pg_catalog.pg_roles where rolname = r.name) then
      execute pg_catalog.format('create role %I %s', r.name, r.options);
    end if;
  end loop;
  for r in select * from (values
      ('anon', 'authenticator'), ('authenticated', 'authenticator'), ('service_role', 'authenticator'),
      ('anon', 'hosted_postgres'), ('authenticated', 'hosted_postgres'), ('service_role', 'hosted_postgres'),
      ('pg_read_all_data', 'hosted_postgres'), ('pg_signal_backend', 'hosted_postgres'),
      ('pg_monitor', 'hosted_postgres')
  ) as grants(granted, member)
  loop
    if not pg_catalog.pg_has_role(r.member, r.granted, 'member') then
      execute pg_catalog.format('grant %I to %I', r.granted, r.member);
    end if;
  end loop;
  -- The lockdown of 2025: postgres is no member of supabase_auth_admin.
  if pg_catalog.pg_has_role('hosted_postgres', 'supabase_auth_admin', 'member') then
    revoke supabase_auth_admin from hosted_postgres;
  end if;
end
$$;
"#;

/// One database laid out as a hosted project's: the database owned by the backend role, schemas `auth` and
/// `extensions` owned by `supabase_admin`, `auth.users` and the auth functions owned by `supabase_auth_admin`
/// (RLS on, as GoTrue has it since 2024), the backend role with `USAGE` only on `auth`, and Supabase's default
/// grants in `public` (every new table, view and function reachable by the API roles).
const DATABASE_LAYOUT: &str = r#"
do $$
begin
  execute pg_catalog.format('alter database %I owner to hosted_postgres', pg_catalog.current_database());
end
$$;

create schema extensions authorization supabase_admin;
grant all on schema extensions to hosted_postgres;
grant usage on schema extensions to anon, authenticated, service_role;

create schema auth authorization supabase_admin;
grant all on schema auth to supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role, hosted_postgres;

create table auth.users (
  instance_id uuid null,
  id uuid not null unique,
  aud varchar(255) null,
  "role" varchar(255) null,
  email varchar(255) null unique,
  encrypted_password varchar(255) null,
  confirmed_at timestamptz null,
  invited_at timestamptz null,
  confirmation_token varchar(255) null,
  confirmation_sent_at timestamptz null,
  recovery_token varchar(255) null,
  recovery_sent_at timestamptz null,
  email_change_token varchar(255) null,
  email_change varchar(255) null,
  email_change_sent_at timestamptz null,
  last_sign_in_at timestamptz null,
  raw_app_meta_data jsonb null,
  raw_user_meta_data jsonb null,
  is_super_admin bool null,
  created_at timestamptz null,
  updated_at timestamptz null,
  phone text null,
  constraint users_pkey primary key (id)
);
alter table auth.users owner to supabase_auth_admin;
alter table auth.users enable row level security;
grant all on auth.users to hosted_postgres;

-- GoTrue's current bodies (supabase/auth 20220224000811_update_auth_functions, 20220531120530_add_auth_jwt_function).
create function auth.uid() returns uuid language sql stable as $b$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$b$;
create function auth.role() returns text language sql stable as $b$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$b$;
create function auth.email() returns text language sql stable as $b$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text
$b$;
create function auth.jwt() returns jsonb language sql stable as $b$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$b$;
alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant execute on all functions in schema auth to anon, authenticated, service_role, hosted_postgres;

grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role hosted_postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role hosted_postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges for role hosted_postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
"#;

/// Creates the cluster-wide roles of a hosted Supabase project when they are missing (under one advisory lock
/// in `DATABASE_URL`'s database, so test processes running at once do not collide).
///
/// # Errors
/// The server's, or a missing `DATABASE_URL`.
pub async fn create_hosted_supabase_roles() -> sqlx::Result<()> {
    use sqlx::Connection;
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| sqlx::Error::Configuration("DATABASE_URL is not set".into()))?;
    let mut main = PgConnection::connect(&url).await?;
    // Any constant the tests do not otherwise use; advisory locks are per database, so all meet in the main one.
    sqlx::query("select pg_advisory_lock(7413001)")
        .execute(&mut main)
        .await?;
    let created = sqlx::raw_sql(CLUSTER_ROLES).execute(&mut main).await;
    sqlx::query("select pg_advisory_unlock(7413001)")
        .execute(&mut main)
        .await?;
    main.close().await?;
    created.map(drop)
}

/// Lays out the database `superuser` is connected to as a hosted Supabase project's (see
/// [`HOSTED_POSTGRES_ROLE`] for what the backend role may do there), creating the cluster's roles first.
/// The database must be empty: a `#[sqlx::test(migrations = false)]` database is.
///
/// # Errors
/// The server's.
pub async fn lay_out_hosted_supabase(superuser: &PgPool) -> sqlx::Result<()> {
    create_hosted_supabase_roles().await?;
    sqlx::raw_sql(DATABASE_LAYOUT).execute(superuser).await?;
    Ok(())
}

/// A pool on the same database as `superuser`, logged in as [`HOSTED_POSTGRES_ROLE`].
///
/// # Errors
/// The server's.
pub async fn connect_as_hosted_postgres(superuser: &PgPool) -> sqlx::Result<PgPool> {
    let options = (*superuser.connect_options())
        .clone()
        .username(HOSTED_POSTGRES_ROLE)
        .password(HOSTED_POSTGRES_PASSWORD);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
}

/// The backend's own database, as on a hosted Supabase project: lays out `superuser`'s (empty) database like
/// a hosted project's, connects as [`HOSTED_POSTGRES_ROLE`] (not a superuser, `BYPASSRLS`, only `USAGE` on
/// schema `auth`) and applies `migrator` as that role, so it owns the tables as Supabase's `postgres` does.
/// Returns the backend role's pool: run the repository or the engine on it, and privilege bugs that a
/// superuser would hide show up.
///
/// ```text
/// #[sqlx::test(migrations = false)]
/// async fn the_flow_runs_as_the_backend_role(superuser: sqlx::PgPool) -> anyhow::Result<()> {
///     let pool = tributary_testdb::backend_pool(&superuser, &tributary_repo::MIGRATOR).await?;
///     let user = tributary_testdb::create_auth_user(&pool).await?;
///     let store = tributary_repo::PgStore::new(pool, keyring);
///     // ...
///     Ok(())
/// }
/// ```
///
/// # Errors
/// The server's, or the migrator's as [`sqlx::Error::Migrate`].
pub async fn backend_pool(
    superuser: &PgPool,
    migrator: &sqlx::migrate::Migrator,
) -> sqlx::Result<PgPool> {
    lay_out_hosted_supabase(superuser).await?;
    let pool = connect_as_hosted_postgres(superuser).await?;
    migrator.run(&pool).await?;
    Ok(pool)
}
