//! Tributary's domain types.
