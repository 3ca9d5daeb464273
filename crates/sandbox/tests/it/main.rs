//! The sandbox's integration tests, one binary: each provider's server as its clients see it, the
//! test knobs, and the sandbox's lifecycle and `Debug` output.

mod alpaca;
mod alpaca_activities;
mod alpaca_events;
mod debug_output;
mod knobs;
mod lifecycle;
mod plaid;
mod removal;
mod snaptrade_auth;
mod snaptrade_flow;
mod support;
