//! The facade's integration tests, one binary (issue 15): the end-to-end flow on both stores, the webhook
//! reliability cases, the SQL-binds scan, and every example binary run as a user runs it.
//!
//! `tests/security_secrets_in_logs.rs` is a binary of its own: it installs a process-wide TRACE subscriber
//! and searches everything logged, which tests running beside it in one process would pollute and slow down.

mod end_to_end_memory;
mod end_to_end_pg;
mod example_binary;
mod examples;
mod examples_pg;
mod flow;
mod quickstart;
mod reliability_webhooks;
mod security_sql_binds;
#[path = "../../examples/support/mod.rs"]
mod support;
mod verify_migration;

tributary_testdb::require_database!();
