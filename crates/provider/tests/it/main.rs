//! The provider crate's integration tests, one binary: what a service sees of `tributary-provider`, its
//! public surface in domain types. (The wire structs and raw calls are private; their tests are unit tests
//! in `src/<provider>/tests/`. The live tests against the real providers are there too, ignored.)

mod alpaca_trading;
mod properties_payloads;
mod properties_webhook;
mod snaptrade_account_transactions;
mod snaptrade_orders;
mod snaptrade_webhook;
mod support;
