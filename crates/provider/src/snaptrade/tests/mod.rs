//! The SnapTrade client's own tests: signed requests and SnapTrade's JSON against wiremock, the spec-driven
//! answers, the end-to-end flow against `tributary-sandbox`, faults, and the live tests against SnapTrade
//! (ignored). They live in the crate because the wire structs and raw calls are private.

mod budget;
mod client;
mod faults;
mod live;
mod sandbox_flow;
mod transactions;
