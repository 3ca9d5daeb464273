//! Orders in memory: upserts by brokerage order id and account, client order ids unique per user.

use async_trait::async_trait;
use tributary_domain::{
    AccountId, ClientOrderId, NewOrder, Order, OrderId, OrderStatus, StatusMessage, UserId,
};

use super::{MemoryStore, sorted_by, write_if_changed};
use crate::batch::check_orders;
use crate::{OrderRepository, RepoError};

/// A write that names no client order id keeps the stored one (a provider's listing does not carry it).
fn kept_client_order_id(new: &NewOrder, current: &Order) -> Option<ClientOrderId> {
    new.client_order_id
        .clone()
        .or_else(|| current.client_order_id.clone())
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn upsert_orders(
        &self,
        user: UserId,
        orders: &[NewOrder],
    ) -> Result<Vec<Order>, RepoError> {
        check_orders(user, orders)?;
        let mut state = self.lock();
        let owns_every_account = orders.iter().all(|o| {
            state
                .accounts
                .get(&o.account_id)
                .is_some_and(|a| a.user_id == user)
        });
        if !owns_every_account {
            return Err(RepoError::NotFound { entity: "account" });
        }
        for new in orders {
            state.check_client_order_id(new, None)?;
        }
        let at = state.clock.stamp();
        let mut stored = Vec::with_capacity(orders.len());
        for new in orders {
            let order = match state.order_by_key(new) {
                Some(id) => {
                    let current = state.orders.get_mut(&id).expect("found by key");
                    let updated = Order {
                        updated_at: current.updated_at,
                        client_order_id: kept_client_order_id(new, current),
                        ..new.clone().into_stored(id, at)
                    };
                    write_if_changed(current, updated, |o| o.updated_at = Some(at));
                    current.clone()
                }
                None => {
                    let created = new.clone().into_stored(OrderId::generate(), at);
                    state.orders.insert(created.id, created.clone());
                    created
                }
            };
            stored.push(order);
        }
        Ok(stored)
    }

    async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError> {
        self.lock()
            .orders
            .get(&order)
            .filter(|o| o.user_id == user)
            .cloned()
            .ok_or(RepoError::NotFound { entity: "order" })
    }

    async fn list_orders(
        &self,
        user: UserId,
        account: Option<AccountId>,
    ) -> Result<Vec<Order>, RepoError> {
        let orders = self
            .lock()
            .orders
            .values()
            .filter(|o| o.user_id == user && account.is_none_or(|a| a == o.account_id))
            .cloned()
            .collect();
        Ok(sorted_by(orders, |o| {
            (
                std::cmp::Reverse(o.placed_at),
                o.brokerage_order_id.as_str().to_owned(),
                o.account_id,
            )
        }))
    }

    async fn find_order_by_client_order_id(
        &self,
        user: UserId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, RepoError> {
        Ok(self
            .lock()
            .orders
            .values()
            .find(|o| o.user_id == user && o.client_order_id.as_ref() == Some(client_order_id))
            .cloned())
    }

    async fn confirm_order(
        &self,
        user: UserId,
        order: OrderId,
        placed: &NewOrder,
    ) -> Result<Order, RepoError> {
        check_orders(user, std::slice::from_ref(placed))?;
        let mut state = self.lock();
        let recorded = state
            .orders
            .get(&order)
            .filter(|o| o.user_id == user)
            .ok_or(RepoError::NotFound { entity: "order" })?;
        if recorded.account_id != placed.account_id {
            return Err(RepoError::invalid(
                "account_id",
                "the provider's order names another account than the recorded one",
            ));
        }
        // The provider's order stored already (a retry of a confirmed order) is the order: the recorded row
        // folds into it. Otherwise the recorded row takes the provider's id.
        state.check_client_order_id(placed, Some(order))?;
        let kept = match state.order_by_key(placed).filter(|id| *id != order) {
            Some(existing) => {
                state.orders.remove(&order);
                existing
            }
            None => order,
        };
        let at = state.clock.stamp();
        let current = state.orders.get_mut(&kept).expect("checked above");
        let updated = Order {
            updated_at: current.updated_at,
            client_order_id: kept_client_order_id(placed, current),
            ..placed.clone().into_stored(kept, at)
        };
        write_if_changed(current, updated, |o| o.updated_at = Some(at));
        Ok(current.clone())
    }

    async fn update_order_status(
        &self,
        user: UserId,
        order: OrderId,
        status: OrderStatus,
        message: Option<StatusMessage>,
    ) -> Result<Order, RepoError> {
        let mut state = self.lock();
        let at = state.clock.stamp();
        let current = state
            .orders
            .get_mut(&order)
            .filter(|o| o.user_id == user)
            .ok_or(RepoError::NotFound { entity: "order" })?;
        let updated = Order {
            status,
            status_message: message,
            ..current.clone()
        };
        write_if_changed(current, updated, |o| o.updated_at = Some(at));
        Ok(current.clone())
    }
}
