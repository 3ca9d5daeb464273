//! The portfolio's value history in memory.

use async_trait::async_trait;
use chrono::NaiveDate;
use tributary_domain::{AccountId, Currency, NewValuePoint, UserId, ValuePoint};

use super::{MemoryStore, sorted_by};
use crate::history::{check_value_points, check_value_range};
use crate::{RepoError, ValueHistoryRepository};

#[async_trait]
impl ValueHistoryRepository for MemoryStore {
    async fn upsert_value_points(
        &self,
        user: UserId,
        points: &[NewValuePoint],
    ) -> Result<usize, RepoError> {
        check_value_points(user, points)?;
        let mut state = self.lock();
        let owns_every_account = points.iter().filter_map(|p| p.account_id).all(|account| {
            state
                .accounts
                .get(&account)
                .is_some_and(|a| a.user_id == user)
        });
        if !owns_every_account {
            return Err(RepoError::NotFound { entity: "account" });
        }
        let at = state.clock.stamp();
        let mut written = 0;
        for new in points {
            let key = value_point_key(new);
            if state
                .value_points
                .get(&key)
                .is_some_and(|stored| stored.point == *new)
            {
                continue;
            }
            state.value_points.insert(key, new.clone().into_stored(at));
            written += 1;
        }
        Ok(written)
    }

    async fn value_history(
        &self,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ValuePoint>, RepoError> {
        check_value_range(from, to)?;
        let points = self
            .lock()
            .value_points
            .values()
            .filter(|p| p.point.user_id == user && (from..=to).contains(&p.point.day))
            .cloned()
            .collect();
        Ok(sorted_by(points, |p| {
            (p.point.day, p.point.account_id, p.point.currency.clone())
        }))
    }
}

/// A point's key, as `portfolio_value_history_point_key` (no account: the user's total).
pub(super) type ValuePointKey = (UserId, Option<AccountId>, NaiveDate, Currency);

pub(super) fn value_point_key(point: &NewValuePoint) -> ValuePointKey {
    (
        point.user_id,
        point.account_id,
        point.day,
        point.currency.clone(),
    )
}
