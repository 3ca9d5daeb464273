//! SnapTrade users in memory: one registration per user, its secret kept as the domain's `SecretString`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tributary_domain::{ExposeSecret, NewSnapTradeUser, SnapTradeUser, SnapTradeUserRowId, UserId};

use super::MemoryStore;
use crate::batch::check_snaptrade_user;
use crate::{RepoError, SnapTradeUserRepository};

#[async_trait]
impl SnapTradeUserRepository for MemoryStore {
    async fn upsert_snaptrade_user(
        &self,
        user: UserId,
        snaptrade_user: &NewSnapTradeUser,
    ) -> Result<SnapTradeUser, RepoError> {
        check_snaptrade_user(user, snaptrade_user)?;
        let mut state = self.lock();
        state.ensure_user(user)?;
        let at = state.clock.stamp();
        let stored = state
            .snaptrade_users
            .entry(user)
            .and_modify(|current| {
                let unchanged = current.snaptrade_user_id == snaptrade_user.snaptrade_user_id
                    && current.user_secret.expose_secret()
                        == snaptrade_user.user_secret.expose_secret();
                if !unchanged {
                    current.snaptrade_user_id = snaptrade_user.snaptrade_user_id.clone();
                    current.user_secret = snaptrade_user.user_secret.clone();
                    current.updated_at = Some(at);
                }
            })
            .or_insert_with(|| SnapTradeUser {
                id: SnapTradeUserRowId::generate(),
                user_id: user,
                snaptrade_user_id: snaptrade_user.snaptrade_user_id.clone(),
                user_secret: snaptrade_user.user_secret.clone(),
                created_at: Some(at),
                updated_at: Some(at),
                last_sync_at: None,
            });
        Ok(stored.clone())
    }

    async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError> {
        Ok(self.lock().snaptrade_users.get(&user).cloned())
    }

    async fn record_snaptrade_sync(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut state = self.lock();
        let stamp = state.clock.stamp();
        let current = state
            .snaptrade_users
            .get_mut(&user)
            .ok_or(RepoError::NotFound {
                entity: "snaptrade user",
            })?;
        if current.last_sync_at != Some(at) {
            current.last_sync_at = Some(at);
            current.updated_at = Some(stamp);
        }
        Ok(())
    }

    async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError> {
        self.lock()
            .snaptrade_users
            .remove(&user)
            .map(drop)
            .ok_or(RepoError::NotFound {
                entity: "snaptrade user",
            })
    }
}
