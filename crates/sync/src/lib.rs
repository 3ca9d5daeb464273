//! Tributary's sync engine: brings a user's connections, accounts, positions and orders from the providers into
//! the repository, places and tracks orders, and applies provider webhooks.
