//! The sync engine's integration tests, one binary: the engine on both stores with the sandbox
//! providers, the faults of issue 7, its bounds on parallelism, the holdings merge, and stores written
//! outside `tributary-repo`.

#[cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod alpaca_trade_events;
mod engine_concurrency;
mod engine_cross_process;
mod engine_memory;
mod engine_pg;
mod faults_database;
mod faults_providers;
mod history;
mod lifecycle;
mod merge;
mod plaid_items;
#[cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod plaid_webhooks;
mod seams;
#[cfg(feature = "plaid")]
mod slow_bank;
#[cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod support;
mod sync_due;
mod webhook_routes;

tributary_testdb::require_database!();
