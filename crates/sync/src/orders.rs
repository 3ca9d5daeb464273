//! Orders: placed through the router's choice of provider, impact first, recorded before and after the
//! provider answers, retry-safe through the client order id; cancelled and refreshed likewise.

use chrono::Utc;
use serde_json::json;
use tributary_domain::{
    AccountId, BrokerageOrderId, ClientOrderId, InvestmentAccount, NewOrder, Order, OrderId,
    OrderStatus, StatusMessage, UserId,
};
use tributary_provider::ProviderError;
use tributary_provider::capability::{OrderImpact, OrderRequest, OrderScope, OrderSize};
use tributary_repo::Store;
use uuid::Uuid;

use crate::engine::account_ref;
use crate::{SyncEngine, SyncError};

/// What placing an order did.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlacement {
    /// What the provider estimated before the order was sent.
    pub impact: OrderImpact,
    /// The order as stored with the provider's answer.
    pub order: Order,
    /// The client order id the order was sent with: send it again to retry safely.
    pub client_order_id: ClientOrderId,
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Places `order` in the user's `account` through the provider the router picks (Alpaca, or SnapTrade
    /// on a trade connection). The impact is checked first; the order is recorded `PENDING` under its client
    /// order id before it is sent, and that same row is rewritten with the provider's order id and status
    /// after (one row per placed order). Without a client order id one is
    /// generated; retrying with the returned one never places the order twice (the providers de-duplicate
    /// on it).
    ///
    /// # Errors
    /// The router's refusal ([`ProviderError::ReadOnlyConnection`], disabled provider…) before anything is
    /// recorded; the impact's refusal; the placement's error, after recording it on the pending order
    /// (`REJECTED` when the provider refused, still `PENDING` when the answer was lost).
    pub async fn place_order(
        &self,
        user: UserId,
        account: AccountId,
        order: OrderRequest,
    ) -> Result<OrderPlacement, SyncError> {
        let held = self.hold(user).await?;
        let result = held.engine.place_held(user, account, order).await;
        held.finish(result).await
    }

    /// The placement, with the user held across processes (no sync of the user runs meanwhile).
    async fn place_held(
        &self,
        user: UserId,
        account: AccountId,
        order: OrderRequest,
    ) -> Result<OrderPlacement, SyncError> {
        let account = self.store.get_account(user, account).await?;
        let desk = self.desk(self.router.trading_for(&account)?)?;
        let (order, client_order_id) = with_client_order_id(order)?;
        let reference = account_ref(&account);
        let impact = desk.impact(self.store(), &reference, &order).await?;
        let pending = self
            .record_pending(&account, &order, &client_order_id)
            .await?;
        match desk.place(self.store(), &reference, &order).await {
            Ok(placed) => {
                let order = self.store.confirm_order(user, pending.id, &placed).await?;
                Ok(OrderPlacement {
                    impact,
                    order,
                    client_order_id,
                })
            }
            Err(error) => {
                let status = if unanswered(&error) {
                    OrderStatus::Pending
                } else {
                    OrderStatus::Rejected
                };
                let note = StatusMessage::from_optional(Some(&error.to_string()));
                self.store
                    .update_order_status(user, pending.id, status, note)
                    .await?;
                Err(error)
            }
        }
    }

    /// The pending row, keyed by the client order id until the provider gives its own id. A retry finds it
    /// already there (pending, or confirmed with a provider answer that carries the client order id) and
    /// leaves it as it is.
    async fn record_pending(
        &self,
        account: &InvestmentAccount,
        order: &OrderRequest,
        client_order_id: &ClientOrderId,
    ) -> Result<Order, SyncError> {
        let key = BrokerageOrderId::parse(client_order_id.as_str())?;
        let existing = self
            .store
            .list_orders(account.user_id, Some(account.id))
            .await?;
        if let Some(found) = existing
            .into_iter()
            .find(|o| o.brokerage_order_id == key || sent_with(o, client_order_id))
        {
            return Ok(found);
        }
        let mut pending = NewOrder::new(
            account.user_id,
            account.id,
            key,
            order.symbol().clone(),
            order.action().clone(),
            order.order_type().clone(),
            OrderStatus::Pending,
            Utc::now(),
        );
        pending.time_in_force = Some(order.time_in_force().clone());
        match order.size() {
            OrderSize::Units(units) => pending.units = Some(units),
            OrderSize::Notional(notional) => pending.notional_value = Some(notional),
        }
        pending.limit_price = order.limit_price();
        pending.stop_price = order.stop_price();
        pending.raw_order_data = Some(json!({ "client_order_id": client_order_id.as_str() }));
        Ok(self
            .store
            .upsert_orders(account.user_id, &[pending])
            .await?
            .remove(0))
    }

    /// Cancels a stored order at its provider, then records what the provider says of it.
    ///
    /// # Errors
    /// The repository's (unknown order), the router's, the provider's.
    pub async fn cancel_order(&self, user: UserId, order: OrderId) -> Result<Order, SyncError> {
        let _guard = self.locks.lock(user).await;
        let (stored, account) = self.order_and_account(user, order).await?;
        let desk = self.desk(self.router.trading_for(&account)?)?;
        desk.cancel(
            self.store(),
            &account_ref(&account),
            &stored.brokerage_order_id,
        )
        .await?;
        match self.refreshed(&stored, &account).await {
            Err(SyncError::OrderUnknown { .. }) => Ok(self
                .store
                .update_order_status(user, order, OrderStatus::CancelPending, None)
                .await?),
            other => other,
        }
    }

    /// Asks the provider for a stored order's current state and records it.
    ///
    /// # Errors
    /// [`SyncError::OrderUnknown`] when the provider does not list it; the repository's and provider's.
    pub async fn refresh_order(&self, user: UserId, order: OrderId) -> Result<Order, SyncError> {
        let _guard = self.locks.lock(user).await;
        let (stored, account) = self.order_and_account(user, order).await?;
        self.refreshed(&stored, &account).await
    }

    /// Refreshes every order of one of the user's accounts from its provider: how many were written.
    ///
    /// # Errors
    /// The repository's (unknown account), [`SyncError::NoClient`] for a provider that does not trade, the
    /// provider's.
    pub async fn refresh_account_orders(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<usize, SyncError> {
        let _guard = self.locks.lock(user).await;
        let account = self.store.get_account(user, account).await?;
        self.account_orders_refreshed(&account).await
    }

    /// Every order of `account` from its provider, upserted (the caller holds the user's lock).
    pub(crate) async fn account_orders_refreshed(
        &self,
        account: &InvestmentAccount,
    ) -> Result<usize, SyncError> {
        let desk = self.desk(account.provider)?;
        let orders = desk
            .orders(self.store(), &account_ref(account), OrderScope::All)
            .await?;
        Ok(self
            .store
            .upsert_orders(account.user_id, &orders)
            .await?
            .len())
    }

    async fn order_and_account(
        &self,
        user: UserId,
        order: OrderId,
    ) -> Result<(Order, InvestmentAccount), SyncError> {
        let stored = self.store.get_order(user, order).await?;
        let account = self.store.get_account(user, stored.account_id).await?;
        Ok((stored, account))
    }

    async fn refreshed(
        &self,
        stored: &Order,
        account: &InvestmentAccount,
    ) -> Result<Order, SyncError> {
        let desk = self.desk(account.provider)?;
        let orders = desk
            .orders(self.store(), &account_ref(account), OrderScope::All)
            .await?;
        let current = orders
            .into_iter()
            .find(|o| o.brokerage_order_id == stored.brokerage_order_id)
            .ok_or(SyncError::OrderUnknown { order: stored.id })?;
        Ok(self
            .store
            .upsert_orders(account.user_id, &[current])
            .await?
            .remove(0))
    }
}

/// The order with a client order id, generating one when the caller gave none.
fn with_client_order_id(order: OrderRequest) -> Result<(OrderRequest, ClientOrderId), SyncError> {
    if let Some(id) = order.client_order_id() {
        let id = id.clone();
        return Ok((order, id));
    }
    let id = ClientOrderId::parse(&Uuid::new_v4().to_string())?;
    Ok((order.with_client_order_id(id.clone()), id))
}

/// Whether the stored order is the provider's answer to an order sent with `client_order_id` (Alpaca's
/// orders carry it).
fn sent_with(order: &Order, client_order_id: &ClientOrderId) -> bool {
    order
        .raw_order_data
        .as_ref()
        .and_then(|raw| raw.get("client_order_id"))
        .and_then(serde_json::Value::as_str)
        == Some(client_order_id.as_str())
}

/// Whether the provider may never have seen the order: the answer was lost, so it stays pending and a
/// retry with the same client order id settles it.
fn unanswered(error: &SyncError) -> bool {
    matches!(
        error,
        SyncError::Provider(
            ProviderError::Timeout { .. }
                | ProviderError::Transport { .. }
                | ProviderError::Upstream(_)
        )
    )
}
