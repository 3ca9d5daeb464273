//! Test support for Tributary's database tests (not published).
//!
//! Two jobs:
//! - [`require_database!`] makes a test binary refuse to run, with one line saying what to do, when no
//!   PostgreSQL server is configured, instead of letting every `#[sqlx::test]` panic on its own.
//! - [`Identity`] switches a transaction to the role and JWT claims PostgREST would use for a request, so
//!   tests see exactly what a Supabase client would see through row-level security.
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
