//! The sync schedule in memory: computed from the links on each call, by the rules migration 0023's trigger keeps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::{ConnectionStatus, Provider, UserId};

use super::{MemoryStore, State};
use crate::{DueUser, PlaidItemStatus, RepoError, SyncScheduleRepository};

impl State {
    /// Whether `user` has a link a sync can use, and the stalest usable link's last sync (`None` inside when one
    /// never synced); `None` when the user has no usable link.
    fn schedule_of(&self, user: UserId) -> Option<Option<DateTime<Utc>>> {
        let mut usable: Vec<Option<DateTime<Utc>>> = Vec::new();
        for ((owner, _), item) in &self.plaid_items {
            let works = matches!(
                item.status,
                PlaidItemStatus::Healthy
                    | PlaidItemStatus::PendingExpiration
                    | PlaidItemStatus::PendingDisconnect
            );
            if *owner == user && works {
                usable.push(item.last_synced_at);
            }
        }
        if let Some(snaptrade) = self.snaptrade_users.get(&user) {
            let mut statuses = self
                .connections
                .iter()
                .filter(|((owner, _), _)| *owner == user)
                .map(|(_, connection)| &connection.status)
                .peekable();
            let none_yet = statuses.peek().is_none();
            if none_yet || statuses.any(|status| *status == ConnectionStatus::Active) {
                usable.push(snaptrade.last_sync_at);
            }
        }
        if let Some(alpaca) = self.alpaca_accounts.get(&user) {
            let last = self
                .accounts
                .values()
                .filter(|a| {
                    a.user_id == user
                        && a.provider == Provider::Alpaca
                        && &a.provider_account_id == alpaca
                })
                .filter_map(|a| a.last_synced)
                .max();
            usable.push(last);
        }
        if usable.is_empty() {
            return None;
        }
        if usable.iter().any(Option::is_none) {
            return Some(None);
        }
        Some(usable.into_iter().flatten().min())
    }
}

#[async_trait]
impl SyncScheduleRepository for MemoryStore {
    async fn users_due_for_sync(
        &self,
        older_than: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueUser>, RepoError> {
        let state = self.lock();
        let mut due: Vec<DueUser> = state
            .users
            .iter()
            .filter_map(|user| Some(DueUser::new(*user, state.schedule_of(*user)?)))
            .filter(|due| due.last_synced_at.is_none_or(|at| at < older_than))
            .collect();
        // `None` (never synced) sorts first, as `nulls first` does; ties by user id, as PostgreSQL orders uuids.
        due.sort_by_key(|due| (due.last_synced_at, due.user.into_uuid()));
        due.truncate(limit);
        Ok(due)
    }
}
