//! A user's lock in memory and its unit of writes: the user's rows snapshotted when it begins, put back
//! unless it commits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::NaiveDate;
use tributary_domain::{
    AccountId, BrokerageConnection, Holding, InvestmentAccount, InvestmentTransaction, Order,
    ProviderAccountId, SnapTradeUser, UserId, ValuePoint,
};

use super::{MemoryStore, State};
use crate::lock::{InProcessGuard, UserLock};
use crate::{HeldLock, LockRepository, PlaidItem, RepoError, StreamEventId, StreamName};

#[async_trait]
impl LockRepository for MemoryStore {
    async fn lock_user(&self, user: UserId) -> Result<UserLock, RepoError> {
        let guard = self.locks.lock(user).await;
        let unit = MemoryUnit {
            _guard: guard,
            store: self.clone(),
            user,
            saved: Mutex::new(None),
        };
        Ok(UserLock::new(unit))
    }

    /// Calls already act on the shared rows, which the lock's unit snapshots and restores; binding only checks
    /// that the lock is this store's (a clone's included).
    fn within(&self, lock: &UserLock) -> Result<Self, RepoError> {
        match lock.downcast_ref::<MemoryUnit>() {
            Some(unit) if Arc::ptr_eq(&unit.store.state, &self.state) => Ok(self.clone()),
            _ => Err(RepoError::ForeignLock { store: "memory" }),
        }
    }
}

/// A user's lock in memory, and the user's rows as they were when a unit of writes began: put back unless the
/// unit commits.
struct MemoryUnit {
    _guard: InProcessGuard,
    store: MemoryStore,
    user: UserId,
    saved: Mutex<Option<UserRows>>,
}

/// Everything one user has in the store.
struct UserRows {
    accounts: Vec<InvestmentAccount>,
    snaptrade_user: Option<SnapTradeUser>,
    connections: Vec<BrokerageConnection>,
    holdings: Vec<Holding>,
    orders: Vec<Order>,
    alpaca_account: Option<ProviderAccountId>,
    plaid_items: Vec<PlaidItem>,
    /// Every stream's position: a consumer moves one in the unit of writes of the user whose rows the event
    /// changes (PostgreSQL's transaction covers both). Each stream has one consumer at a time, so restoring them
    /// all undoes only that unit's move.
    stream_positions: HashMap<StreamName, StreamEventId>,
    transactions: Vec<InvestmentTransaction>,
    transactions_synced: Vec<(AccountId, NaiveDate)>,
    value_points: Vec<ValuePoint>,
}

#[async_trait]
impl HeldLock for MemoryUnit {
    fn user(&self) -> UserId {
        self.user
    }

    async fn begin_writes(&self) -> Result<(), RepoError> {
        self.begin()
    }

    async fn commit_writes(&self) -> Result<(), RepoError> {
        self.commit()
    }

    /// The in-process lock goes with the unit when it is dropped, right after; an unfinished unit is undone
    /// then.
    async fn release(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

impl MemoryUnit {
    fn begin(&self) -> Result<(), RepoError> {
        let mut saved = self.saved.lock().unwrap_or_else(PoisonError::into_inner);
        if saved.is_some() {
            return Err(RepoError::Internal {
                reason: "a unit of writes is already open on this lock".to_owned(),
            });
        }
        *saved = Some(self.store.lock().rows_of(self.user));
        Ok(())
    }

    fn commit(&self) -> Result<(), RepoError> {
        let mut saved = self.saved.lock().unwrap_or_else(PoisonError::into_inner);
        saved.take().map(drop).ok_or_else(|| RepoError::Internal {
            reason: "no unit of writes is open on this lock".to_owned(),
        })
    }
}

impl Drop for MemoryUnit {
    /// An unfinished unit is undone: the user's rows go back to what they were when it began.
    fn drop(&mut self) {
        let saved = self
            .saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rows) = saved {
            self.store.lock().restore(self.user, rows);
        }
    }
}

impl State {
    fn rows_of(&self, user: UserId) -> UserRows {
        let mine = |owner: UserId| owner == user;
        UserRows {
            accounts: self
                .accounts
                .values()
                .filter(|a| mine(a.user_id))
                .cloned()
                .collect(),
            snaptrade_user: self.snaptrade_users.get(&user).cloned(),
            connections: self
                .connections
                .values()
                .filter(|c| mine(c.user_id))
                .cloned()
                .collect(),
            holdings: self
                .holdings
                .values()
                .filter(|h| mine(h.user_id))
                .cloned()
                .collect(),
            orders: self
                .orders
                .values()
                .filter(|o| mine(o.user_id))
                .cloned()
                .collect(),
            alpaca_account: self.alpaca_accounts.get(&user).cloned(),
            plaid_items: self
                .plaid_items
                .values()
                .filter(|i| mine(i.user_id))
                .cloned()
                .collect(),
            stream_positions: self.stream_positions.clone(),
            transactions: self
                .transactions
                .values()
                .filter(|t| mine(t.transaction.user_id))
                .cloned()
                .collect(),
            transactions_synced: self
                .transactions_synced
                .iter()
                .filter(|((owner, _), _)| mine(*owner))
                .map(|((_, account), day)| (*account, *day))
                .collect(),
            value_points: self
                .value_points
                .values()
                .filter(|p| mine(p.point.user_id))
                .cloned()
                .collect(),
        }
    }

    fn restore(&mut self, user: UserId, rows: UserRows) {
        self.accounts.retain(|_, a| a.user_id != user);
        self.connections.retain(|_, c| c.user_id != user);
        self.holdings.retain(|_, h| h.user_id != user);
        self.orders.retain(|_, o| o.user_id != user);
        self.snaptrade_users.remove(&user);
        self.alpaca_accounts.remove(&user);
        self.plaid_items.retain(|(owner, _), _| *owner != user);
        self.accounts
            .extend(rows.accounts.into_iter().map(|a| (a.id, a)));
        self.connections.extend(
            rows.connections
                .into_iter()
                .map(|c| ((c.user_id, c.authorization_id), c)),
        );
        self.holdings.extend(
            rows.holdings
                .into_iter()
                .map(|h| ((h.user_id, h.symbol.clone(), h.currency.clone()), h)),
        );
        self.orders
            .extend(rows.orders.into_iter().map(|o| (o.id, o)));
        if let Some(snaptrade_user) = rows.snaptrade_user {
            self.snaptrade_users.insert(user, snaptrade_user);
        }
        if let Some(alpaca_account) = rows.alpaca_account {
            self.alpaca_accounts.insert(user, alpaca_account);
        }
        self.plaid_items.extend(
            rows.plaid_items
                .into_iter()
                .map(|i| ((i.user_id, i.item_id.clone()), i)),
        );
        self.stream_positions = rows.stream_positions;
        self.transactions.retain(|key, _| key.0 != user);
        self.transactions.extend(
            rows.transactions
                .into_iter()
                .map(|t| (super::transactions::transaction_key(&t.transaction), t)),
        );
        self.transactions_synced.retain(|key, _| key.0 != user);
        self.transactions_synced.extend(
            rows.transactions_synced
                .into_iter()
                .map(|(account, day)| ((user, account), day)),
        );
        self.value_points.retain(|key, _| key.0 != user);
        self.value_points.extend(
            rows.value_points
                .into_iter()
                .map(|p| (super::value_history::value_point_key(&p.point), p)),
        );
    }
}
