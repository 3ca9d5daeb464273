//! The Alpaca client's own tests: the Broker API's JSON read into the wire structs, the raw calls against
//! wiremock and `tributary-sandbox`, faults, and the live tests against Alpaca's own sandbox (ignored).
//! They live in the crate because the wire structs and raw calls are private; what the public surface
//! does is tested in `tests/it/`.

mod activities;
mod client;
mod events;
mod faults;
mod live;
mod sandbox;
mod wire;
