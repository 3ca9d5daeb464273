//! Tributary: a user's investment accounts from Plaid, SnapTrade and Alpaca in one Supabase/PostgreSQL schema.
//!
//! This facade re-exports the layers: [`domain`] (types), [`repo`] (PostgreSQL, mock and in-memory stores)
//! [`provider`] (the provider clients and the router) and [`sync`] (the engine that joins them).

pub use tributary_domain as domain;
pub use tributary_provider as provider;
pub use tributary_repo as repo;
pub use tributary_sync as sync;
