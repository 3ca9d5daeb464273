//! Tributary's provider clients.
