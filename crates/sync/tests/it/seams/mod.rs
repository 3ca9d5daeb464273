//! The engine on stores written outside `tributary-repo`: a decorator over `MemoryStore` (every scenario it
//! runs is one the shared harness runs on both stores), and the `mock` feature's `MockStore` with expectations.

#[cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
pub(crate) mod counting;
mod mock;
