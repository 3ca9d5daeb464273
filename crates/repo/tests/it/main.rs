//! The repository's integration tests, one binary: the conformance suite on both stores, what only
//! PostgreSQL can show, the schema (RLS, the portfolio mode, the migrations), and the mock twin in use.

#[macro_use]
mod conformance;
mod conformance_memory;
mod conformance_pg;
mod history_pg;
mod hosted_supabase;
mod migration_0009;
mod migration_0021;
mod mock_service;
mod pg_connect;
mod pg_store;
mod plaid_items_pg;
mod portfolio_mode_truth_table;
mod schema;
mod schema_check;
mod schema_design_defects;
mod schema_rls_matrix;
mod sync_schedule_pg;

tributary_testdb::require_database!();
