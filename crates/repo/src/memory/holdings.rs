//! Holdings in memory: upserts and whole replacements keyed as `user_aggregated_holdings` is.

use std::collections::HashSet;

use async_trait::async_trait;
use tributary_domain::{Currency, Holding, HoldingId, NewHolding, Symbol, UserId};

use super::{HoldingKey, MemoryStore, State, holding_key, sorted_by, write_if_changed};
use crate::batch::check_holdings;
use crate::{HoldingRepository, HoldingsReplaced, RepoError};

#[async_trait]
impl HoldingRepository for MemoryStore {
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError> {
        check_holdings(user, holdings)?;
        let mut state = self.lock();
        upsert_holdings(&mut state, user, holdings)
    }

    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError> {
        check_holdings(user, holdings)?;
        // One lock for the whole replacement: no reader sees the old and the new set mixed.
        let mut state = self.lock();
        if !holdings.is_empty() {
            state.ensure_user(user)?;
        }
        let kept: HashSet<HoldingKey> = holdings.iter().map(holding_key).collect();
        let before = state.holdings.len();
        state
            .holdings
            .retain(|key, _| key.0 != user || kept.contains(key));
        let removed = before - state.holdings.len();
        let written = upsert_holdings(&mut state, user, holdings)?;
        Ok(HoldingsReplaced { written, removed })
    }

    async fn get_holding(
        &self,
        user: UserId,
        symbol: &Symbol,
        currency: Option<Currency>,
    ) -> Result<Holding, RepoError> {
        self.lock()
            .holdings
            .get(&(user, symbol.clone(), currency))
            .cloned()
            .ok_or(RepoError::NotFound { entity: "holding" })
    }

    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError> {
        let holdings = self
            .lock()
            .holdings
            .values()
            .filter(|h| h.user_id == user)
            .cloned()
            .collect();
        // As PostgreSQL's `order by symbol collate "C", currency collate "C" nulls first`.
        Ok(sorted_by(holdings, |h| {
            (
                h.symbol.as_str().to_owned(),
                h.currency.as_ref().map(|c| c.as_str().to_owned()),
            )
        }))
    }
}

fn upsert_holdings(
    state: &mut State,
    user: UserId,
    holdings: &[NewHolding],
) -> Result<usize, RepoError> {
    if holdings.is_empty() {
        return Ok(0);
    }
    state.ensure_user(user)?;
    let at = state.clock.stamp();
    let mut written = 0;
    for new in holdings {
        let key = holding_key(new);
        match state.holdings.get_mut(&key) {
            Some(current) => {
                let updated = Holding {
                    updated_at: current.updated_at,
                    ..new.clone().into_stored(current.id, at)
                };
                if write_if_changed(current, updated, |h| h.updated_at = Some(at)) {
                    written += 1;
                }
            }
            None => {
                let created = new.clone().into_stored(HoldingId::generate_ordered(), at);
                state.holdings.insert(key, created);
                written += 1;
            }
        }
    }
    Ok(written)
}
