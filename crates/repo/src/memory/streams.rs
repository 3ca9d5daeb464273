//! Event stream positions in memory, and the accounts an event names.

use async_trait::async_trait;
use tributary_domain::{InvestmentAccount, Provider, ProviderAccountId, UserId};

use super::MemoryStore;
use crate::{EventStreamRepository, RepoError, StreamEventId, StreamName};

#[async_trait]
impl EventStreamRepository for MemoryStore {
    async fn stream_position(
        &self,
        stream: &StreamName,
    ) -> Result<Option<StreamEventId>, RepoError> {
        Ok(self.lock().stream_positions.get(stream).cloned())
    }

    /// A unit of writes open on `user`'s lock snapshots the positions with the user's rows and puts them back
    /// unless it commits (see `session.rs`), so a position moved in the unit goes with the unit's writes.
    async fn advance_stream(
        &self,
        user: Option<UserId>,
        stream: &StreamName,
        event: &StreamEventId,
    ) -> Result<bool, RepoError> {
        // `user` only says whose unit of writes the move belongs to (see above).
        let _ = user;
        let mut state = self.lock();
        if state
            .stream_positions
            .get(stream)
            .is_some_and(|position| position >= event)
        {
            return Ok(false);
        }
        state.stream_positions.insert(stream.clone(), event.clone());
        Ok(true)
    }

    async fn accounts_by_provider_id(
        &self,
        provider: Provider,
        provider_account_id: &ProviderAccountId,
    ) -> Result<Vec<InvestmentAccount>, RepoError> {
        let mut accounts: Vec<InvestmentAccount> = self
            .lock()
            .accounts
            .values()
            .filter(|a| a.provider == provider && &a.provider_account_id == provider_account_id)
            .cloned()
            .collect();
        accounts.sort_by_key(|a| a.user_id.into_uuid());
        Ok(accounts)
    }
}
