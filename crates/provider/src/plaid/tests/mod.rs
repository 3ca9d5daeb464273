//! The Plaid client's own tests: Plaid's JSON read into the wire structs, the raw calls against wiremock and
//! `tributary-sandbox`, the spec's examples through `Aggregation`, faults, and the live tests against Plaid's
//! Sandbox (ignored). They live in the crate because the wire structs and raw calls are private.

mod aggregation;
mod client;
mod faults;
mod live;
mod sandbox;
mod transactions;
mod webhook;
mod wire;
