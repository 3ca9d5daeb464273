//! The facade's integration tests, one binary: the webhook reliability cases, the SQL-binds scan,
//! and every example binary run as a user runs it. The end-to-end scenarios run on the sync engine's one
//! harness (`crates/sync/tests/it/support/`), on both stores.
//!
//! `tests/security_secrets_in_logs.rs` is a binary of its own: it installs a process-wide TRACE subscriber
//! and searches everything logged, which tests running beside it in one process would pollute and slow down.

mod example_binary;
mod examples;
mod examples_pg;
mod examples_sync;
mod quickstart;
mod reliability_webhooks;
mod security_sql_binds;
#[path = "../../examples/support/mod.rs"]
mod support;
mod verify_migration;

tributary_testdb::require_database!();
