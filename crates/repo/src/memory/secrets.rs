//! Secret re-sealing, which the memory store never needs.

use async_trait::async_trait;

use super::MemoryStore;
use crate::{RepoError, ResealReport, SecretRepository};

/// The memory store keeps SnapTrade secrets as the domain's `SecretString`s, never sealed (it has no keyring and
/// nothing in it outlives the process), so there is never anything to re-seal: the same checks, and 0.
#[async_trait]
impl SecretRepository for MemoryStore {
    async fn reseal_secrets(&self, batch_size: usize) -> Result<ResealReport, RepoError> {
        if batch_size == 0 {
            return Err(RepoError::invalid("batch_size", "must be at least 1"));
        }
        Ok(ResealReport::default())
    }
}
