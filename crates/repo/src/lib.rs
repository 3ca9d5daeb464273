//! Tributary's repository layer: the SQL schema every other layer stands on.
//!
//! [`MIGRATOR`] applies the workspace's `migrations/` folder (the same files Supabase users apply with psql), and
//! [`schema_check::verify_schema`] tells whether a database holds that schema.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/postgres").await?;
//! tributary_repo::MIGRATOR.run(&pool).await?;
//! let failed = tributary_repo::schema_check::verify_schema(&pool)
//!     .await
//!     .into_iter()
//!     .filter(|check| !check.passed)
//!     .count();
//! assert_eq!(failed, 0);
//! # Ok(())
//! # }
//! ```

pub mod schema_check;

/// Every migration in the workspace's `migrations/` folder, in order: the same files users apply to Supabase.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
