//! Tributary's repository layer.

/// Every migration in the workspace's `migrations/` folder, in order: the same files users apply to Supabase.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
