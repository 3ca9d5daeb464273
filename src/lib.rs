//! Tributary: a user's investment accounts from Plaid, SnapTrade and Alpaca in one Supabase/PostgreSQL schema.
//!
//! This facade re-exports the layers: [`domain`] (types), [`repo`] (PostgreSQL, mock and in-memory stores)
//! and [`provider`] (the provider clients and the router).

pub use tributary_domain as domain;
pub use tributary_provider as provider;
pub use tributary_repo as repo;
