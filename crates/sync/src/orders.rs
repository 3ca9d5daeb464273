//! Orders: placed through the router's choice of provider, impact first, recorded before and after the
//! provider answers, retry-safe through the client order id; cancelled and refreshed likewise.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tributary_domain::{
    AccountId, BrokerageOrderId, ClientOrderId, InvestmentAccount, NewOrder, Order, OrderId,
    OrderStatus, StatusMessage, UserId,
};
use tributary_provider::ProviderError;
use tributary_provider::capability::{
    AccountRef, OrderImpact, OrderRequest, OrderScope, OrderSize, PlacedOrder,
};
use tributary_repo::{RepoError, Store};
use uuid::Uuid;

use crate::engine::{account_ref, all_written};
use crate::error::OrderRefusal;
use crate::source::OrderDesk;
use crate::{SyncEngine, SyncError};

/// What placing an order did.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlacement {
    /// What the provider estimated before the order was sent; `None` when this call sent nothing because an
    /// earlier call with the same client order id had placed it.
    pub impact: Option<OrderImpact>,
    /// The order as stored with the provider's answer.
    pub order: Order,
    /// The client order id the order was sent with: send it again to retry safely.
    pub client_order_id: ClientOrderId,
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Places `order` in the user's `account` through the provider the router picks (Alpaca, or SnapTrade
    /// on a trade connection), in an account the provider's own truth gives the user (see
    /// [`crate::source::AccountGate`]). Safe to call any number of times with the same client order id (one
    /// is generated when the order has none; it is returned):
    ///
    /// - no order of the user's has that key: the impact is checked, the order is recorded `PENDING` under the
    ///   key, sent, and the same row rewritten with the provider's answer;
    /// - the order was placed (the provider answered): it is returned as stored, and nothing is sent;
    /// - it was recorded but never handed to the provider (the process stopped in between; the row says so,
    ///   and it is marked handed over, committed, before any request leaves): it is sent now;
    /// - it was handed to the provider but no answer came (a timeout, a lost answer, a crash while sending):
    ///   the provider is asked whether it holds an order under the key. Found, it is recorded and returned;
    ///   proven absent, it is sent; when the provider cannot tell (SnapTrade, whose spec says it "does not
    ///   enforce uniqueness server-side" and whose order records do not carry the key), nothing is sent and
    ///   the error is [`SyncError::OutcomeUnknown`]: the order stays `PENDING` for a later
    ///   [`Self::refresh_order`] to settle, or for the caller to check at the brokerage.
    ///
    /// # Errors
    /// Before anything is recorded or sent: the router's refusal ([`RoutingRefusal::ReadOnlyConnection`](tributary_provider::RoutingRefusal::ReadOnlyConnection),
    /// disabled provider…), [`SyncError::AccountNotOwned`], [`SyncError::OrderRefused`] (the engine's notional
    /// cap), [`SyncError::ClientOrderIdReused`], the impact's refusal. After sending:
    /// [`SyncError::OutcomeUnknown`] when the answer was lost, or the provider's refusal (recorded `REJECTED`).
    ///
    /// ```
    /// # #[cfg(feature = "alpaca")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use rust_decimal::Decimal;
    /// # use secrecy::SecretString;
    /// # use tributary_domain::{FeatureFlags, Provider, ProviderAccountId};
    /// # use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
    /// # use tributary_provider::router::ProviderRouter;
    /// # use tributary_repo::{AccountRepository, MemoryStore, PortfolioRepository};
    /// # use tributary_sandbox::{Sandbox, SeedAccount};
    /// # use tributary_sync::SyncEngine;
    /// # let sandbox = Sandbox::start().await;
    /// # let brokerage_account = sandbox.alpaca().seed_account(SeedAccount::new(Decimal::from(100_000), 0));
    /// # let config = AlpacaConfig::new(sandbox.alpaca().key_id(), SecretString::from(sandbox.alpaca().secret()),
    /// #     AlpacaEnvironment::Sandbox).with_base_url(sandbox.alpaca_base_url().parse::<url::Url>()?);
    /// # let store = Arc::new(MemoryStore::new());
    /// # let user = store.create_user();
    /// # store.set_alpaca_account(user, Some(ProviderAccountId::parse(&brokerage_account.to_string())?)).await?;
    /// # let engine = SyncEngine::new(Arc::clone(&store), ProviderRouter::new(FeatureFlags::all_on()))
    /// #     .with_alpaca(Arc::new(AlpacaClient::new(config)?));
    /// use tributary_domain::{OrderAction, OrderStatus, Price, Symbol, Units};
    /// use tributary_provider::capability::{OrderRequest, OrderSize};
    ///
    /// // A synced brokerage account (`engine.sync_user(user)` stored it).
    /// engine.sync_user(user).await?;
    /// let account = store.list_accounts(user).await?.into_iter().find(|a| a.provider == Provider::Alpaca).unwrap();
    ///
    /// let order = OrderRequest::limit(
    ///     Symbol::parse("AAPL")?,
    ///     OrderAction::Buy,
    ///     OrderSize::Units(Units::parse("2")?),
    ///     Price::parse("150.00")?,
    /// )?;
    /// let placed = engine.place_order(user, account.id, order.clone()).await?;
    /// assert_eq!(placed.order.status, OrderStatus::Accepted);
    ///
    /// // Sent again with the same client order id (a retry after a timeout, say), nothing is sent twice.
    /// let retried = engine
    ///     .place_order(user, account.id, order.with_client_order_id(placed.client_order_id.clone()))
    ///     .await?;
    /// assert_eq!(retried.order.id, placed.order.id);
    /// assert!(retried.impact.is_none(), "nothing was sent");
    /// # Ok(()) }
    /// # #[cfg(not(feature = "alpaca"))]
    /// # fn main() {}
    /// ```
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
        self.check_limits(&order)?;
        let (order, client_order_id) = with_client_order_id(order)?;
        let stored = self
            .store
            .find_order_by_client_order_id(user, &client_order_id)
            .await?;
        if let Some(stored) = &stored {
            same_order(stored, &account, &order, &client_order_id)?;
        }
        let desk = self.admitted_desk(&account).await?;
        let reference = account_ref(&account);
        let sending = Sending {
            desk,
            reference: &reference,
            account: &account,
            order: &order,
            client_order_id: &client_order_id,
        };
        let placed_before = |order| OrderPlacement {
            impact: None,
            order,
            client_order_id: client_order_id.clone(),
        };
        match stored {
            Some(stored) if !awaiting_answer(&stored) => Ok(placed_before(stored)),
            // Recorded, and never handed to the provider (the process stopped in between): sent now.
            Some(stored) if !handed_to_provider(&stored) => {
                self.check_and_send(&sending, Recorded::Already).await
            }
            Some(stored) => match desk.find(self.store(), &reference, &client_order_id).await {
                Ok(Some(found)) => {
                    let order = self.confirm(&stored, found, &client_order_id).await?;
                    Ok(placed_before(order))
                }
                Ok(None) => self.check_and_send(&sending, Recorded::Already).await,
                Err(error) => Err(outcome_unknown(&stored, error)),
            },
            None => self.check_and_send(&sending, Recorded::Not).await,
        }
    }

    /// Checks the order's impact, records it (not yet handed over) unless it was recorded before, and sends it.
    async fn check_and_send(
        &self,
        sending: &Sending<'_, S>,
        recorded: Recorded,
    ) -> Result<OrderPlacement, SyncError> {
        let impact = sending
            .desk
            .impact(self.store(), sending.reference, sending.order)
            .await?;
        if let Recorded::Not = recorded {
            self.record(sending, Handed::No).await?;
        }
        let order = self.send(sending).await?;
        Ok(OrderPlacement {
            impact: Some(impact),
            order,
            client_order_id: sending.client_order_id.clone(),
        })
    }

    /// The desk of the account's trading provider, once the router and the provider's truth admit the
    /// account: before any trading call, and whatever the stored row claims.
    async fn admitted_desk(
        &self,
        account: &InvestmentAccount,
    ) -> Result<&Arc<dyn OrderDesk<S>>, SyncError> {
        let desk = self.desk(self.router.trading_for(account)?)?;
        desk.admit(self.store(), account).await?;
        Ok(desk)
    }

    /// The engine's own limits on an order, checked before anything is recorded or sent.
    fn check_limits(&self, order: &OrderRequest) -> Result<(), SyncError> {
        let (Some(cap), OrderSize::Notional(notional)) = (self.notional_cap, order.size()) else {
            return self.check_priced_value(order);
        };
        if notional > cap {
            return Err(SyncError::OrderRefused {
                reason: OrderRefusal::NotionalOverCap { notional, cap },
            });
        }
        Ok(())
    }

    /// Units at a limit or stop price are held to the notional cap too: units × the highest price given.
    fn check_priced_value(&self, order: &OrderRequest) -> Result<(), SyncError> {
        let (Some(cap), OrderSize::Units(units)) = (self.notional_cap, order.size()) else {
            return Ok(());
        };
        let price = [order.limit_price(), order.stop_price()]
            .into_iter()
            .flatten()
            .map(|p| p.get())
            .max();
        let Some(price) = price else {
            return Ok(());
        };
        let over = units
            .get()
            .checked_mul(price)
            .is_none_or(|value| value > cap.get());
        if over {
            return Err(SyncError::OrderRefused {
                reason: OrderRefusal::PricedValueOverCap { units, price, cap },
            });
        }
        Ok(())
    }

    /// Marks the recorded order as handed to the provider, sends it, and rewrites its row with the answer.
    async fn send(&self, sending: &Sending<'_, S>) -> Result<Order, SyncError> {
        // Committed before the request leaves: a row still marked unsent was never sent, whatever happens next.
        let pending = self.record(sending, Handed::Yes).await?;
        let placed = sending
            .desk
            .place(self.store(), sending.reference, sending.order)
            .await;
        match placed {
            Ok(placed) => {
                self.confirm(&pending, placed, sending.client_order_id)
                    .await
            }
            Err(error) => {
                let unanswered = unanswered(&error);
                let status = if unanswered {
                    OrderStatus::Pending
                } else {
                    OrderStatus::Rejected
                };
                let note = StatusMessage::from_optional(Some(&error.to_string()));
                self.store
                    .update_order_status(pending.user_id, pending.id, status, note)
                    .await?;
                Err(if unanswered {
                    outcome_unknown(&pending, error)
                } else {
                    error
                })
            }
        }
    }

    /// The recorded order becomes the provider's, keeping its client order id.
    async fn confirm(
        &self,
        recorded: &Order,
        placed: PlacedOrder,
        client_order_id: &ClientOrderId,
    ) -> Result<Order, SyncError> {
        let placed = PlacedOrder {
            client_order_id: Some(client_order_id.clone()),
            ..placed
        };
        Ok(self
            .store
            .confirm_order(recorded.user_id, recorded.id, &placed)
            .await?)
    }

    /// The pending row, keyed by the client order id until the provider gives its own id, and saying whether
    /// the order has been handed to the provider (written again, `Handed::Yes`, just before it is sent).
    async fn record(&self, sending: &Sending<'_, S>, handed: Handed) -> Result<Order, SyncError> {
        let Sending {
            account,
            order,
            client_order_id,
            ..
        } = *sending;
        let key = BrokerageOrderId::parse(client_order_id.as_str())?;
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
        pending.raw_order_data = Some(json!({
            "client_order_id": client_order_id.as_str(),
            HANDED_TO_PROVIDER: matches!(handed, Handed::Yes),
        }));
        pending.client_order_id = Some(client_order_id.clone());
        let written = self
            .store
            .upsert_orders(account.user_id, std::slice::from_ref(&pending))
            .await?;
        first_written(written)
    }

    /// Cancels a stored order at its provider, then records what the provider says of it.
    ///
    /// ```
    /// # #[cfg(feature = "alpaca")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # use rust_decimal::Decimal;
    /// # use secrecy::SecretString;
    /// # use tributary_domain::{FeatureFlags, Provider, ProviderAccountId};
    /// # use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
    /// # use tributary_provider::router::ProviderRouter;
    /// # use tributary_repo::{AccountRepository, MemoryStore, PortfolioRepository};
    /// # use tributary_sandbox::{Sandbox, SeedAccount};
    /// # use tributary_sync::SyncEngine;
    /// # let sandbox = Sandbox::start().await;
    /// # let brokerage_account = sandbox.alpaca().seed_account(SeedAccount::new(Decimal::from(100_000), 0));
    /// # let config = AlpacaConfig::new(sandbox.alpaca().key_id(), SecretString::from(sandbox.alpaca().secret()),
    /// #     AlpacaEnvironment::Sandbox).with_base_url(sandbox.alpaca_base_url().parse::<url::Url>()?);
    /// # let store = Arc::new(MemoryStore::new());
    /// # let user = store.create_user();
    /// # store.set_alpaca_account(user, Some(ProviderAccountId::parse(&brokerage_account.to_string())?)).await?;
    /// # let engine = SyncEngine::new(Arc::clone(&store), ProviderRouter::new(FeatureFlags::all_on()))
    /// #     .with_alpaca(Arc::new(AlpacaClient::new(config)?));
    /// # use tributary_domain::{OrderAction, Price, Symbol, Units};
    /// # use tributary_provider::capability::{OrderRequest, OrderSize};
    /// # engine.sync_user(user).await?;
    /// # let account = store.list_accounts(user).await?.into_iter().find(|a| a.provider == Provider::Alpaca).unwrap();
    /// # let order = OrderRequest::limit(Symbol::parse("AAPL")?, OrderAction::Buy, OrderSize::Units(Units::parse("2")?), Price::parse("150.00")?)?;
    /// use tributary_domain::OrderStatus;
    ///
    /// let placed = engine.place_order(user, account.id, order).await?;
    /// let canceled = engine.cancel_order(user, placed.order.id).await?;
    /// assert_eq!(canceled.id, placed.order.id);
    /// assert_eq!(canceled.status, OrderStatus::Canceled);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "alpaca"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// The repository's (unknown order), the router's, [`SyncError::AccountNotOwned`], the provider's.
    pub async fn cancel_order(&self, user: UserId, order: OrderId) -> Result<Order, SyncError> {
        let held = self.hold(user).await?;
        let result = held.engine.cancel_held(user, order).await;
        held.finish(result).await
    }

    async fn cancel_held(&self, user: UserId, order: OrderId) -> Result<Order, SyncError> {
        let (stored, account) = self.order_and_account(user, order).await?;
        let desk = self.admitted_desk(&account).await?;
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

    /// Asks the provider for a stored order's current state and records it. An order still awaiting the
    /// provider's answer to its placement is looked up by its client order id: found, it becomes the
    /// provider's order; proven absent, it is recorded `REJECTED` (it never reached the provider).
    ///
    /// # Errors
    /// [`SyncError::OrderUnknown`] when the provider does not list it; [`SyncError::OutcomeUnknown`] when the
    /// provider cannot tell whether it holds an unanswered order; [`SyncError::AccountNotOwned`]; the
    /// repository's and provider's.
    pub async fn refresh_order(&self, user: UserId, order: OrderId) -> Result<Order, SyncError> {
        let held = self.hold(user).await?;
        let result = held.engine.refresh_held(user, order).await;
        held.finish(result).await
    }

    async fn refresh_held(&self, user: UserId, order: OrderId) -> Result<Order, SyncError> {
        let (stored, account) = self.order_and_account(user, order).await?;
        let desk = self.admitted_desk(&account).await?;
        let Some(client_order_id) = stored
            .client_order_id
            .clone()
            .filter(|_| awaiting_answer(&stored))
        else {
            return self.refreshed(&stored, &account).await;
        };
        if !handed_to_provider(&stored) {
            // Never sent: there is nothing to ask; a retry of the placement sends it.
            return Ok(stored);
        }
        match desk
            .find(self.store(), &account_ref(&account), &client_order_id)
            .await
        {
            Ok(Some(found)) => self.confirm(&stored, found, &client_order_id).await,
            Ok(None) => {
                let note = StatusMessage::from_optional(Some(&format!(
                    "never placed: {} holds no order with client order id {client_order_id}",
                    account.provider
                )));
                Ok(self
                    .store
                    .update_order_status(user, order, OrderStatus::Rejected, note)
                    .await?)
            }
            Err(error) => Err(outcome_unknown(&stored, error)),
        }
    }

    /// Refreshes every order of one of the user's accounts from its provider: how many were written.
    ///
    /// # Errors
    /// The repository's (unknown account), [`SyncError::NoClient`] for a provider that does not trade,
    /// [`SyncError::AccountNotOwned`], the provider's.
    pub async fn refresh_account_orders(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<usize, SyncError> {
        let held = self.hold(user).await?;
        let result = held.engine.refresh_account_held(user, account).await;
        held.finish(result).await
    }

    async fn refresh_account_held(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<usize, SyncError> {
        let account = self.store.get_account(user, account).await?;
        self.desk(account.provider)?
            .admit(self.store(), &account)
            .await?;
        self.account_orders_refreshed(&account).await
    }

    /// Every order of `account` from its provider, upserted (the caller holds the user's lock). An order the
    /// provider answers with that cannot be represented is left out, and logged with its id and why.
    pub(crate) async fn account_orders_refreshed(
        &self,
        account: &InvestmentAccount,
    ) -> Result<usize, SyncError> {
        let desk = self.desk(account.provider)?;
        let listing = desk
            .orders(self.store(), &account_ref(account), OrderScope::All)
            .await?;
        for left_out in &listing.left_out {
            tracing::warn!(user = %account.user_id, %left_out, "an order was left out");
        }
        let orders = listing.items;
        let written = self.store.upsert_orders(account.user_id, &orders).await?;
        Ok(all_written("snaptrade_orders", orders.len(), written)?.len())
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
            .items
            .into_iter()
            .find(|o| o.brokerage_order_id == stored.brokerage_order_id)
            .ok_or(SyncError::OrderUnknown { order: stored.id })?;
        let written = self
            .store
            .upsert_orders(account.user_id, std::slice::from_ref(&current))
            .await?;
        first_written(written)
    }
}

/// The one row a single-row write stored; a typed conflict, never a panic, when the repository stored none.
fn first_written(written: Vec<Order>) -> Result<Order, SyncError> {
    match <[Order; 1]>::try_from(written) {
        Ok([order]) => Ok(order),
        Err(written) => Err(all_written("snaptrade_orders", 1, written)
            .err()
            .unwrap_or_else(|| {
                RepoError::Conflict {
                    constraint: "snaptrade_orders".to_owned(),
                }
                .into()
            })),
    }
}

/// An order on its way to the provider: the desk, the account and the key it is sent with.
struct Sending<'a, S> {
    desk: &'a Arc<dyn OrderDesk<S>>,
    reference: &'a AccountRef,
    account: &'a InvestmentAccount,
    order: &'a OrderRequest,
    client_order_id: &'a ClientOrderId,
}

impl<S> Clone for Sending<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Sending<'_, S> {}

/// Whether the order's row exists already.
#[derive(Debug, Clone, Copy)]
enum Recorded {
    Not,
    Already,
}

/// The key of a recorded order's raw data saying whether it was handed to the provider.
const HANDED_TO_PROVIDER: &str = "handed_to_provider";

/// Whether a recorded order is being handed to the provider.
#[derive(Debug, Clone, Copy)]
enum Handed {
    /// Recorded only: nothing has been sent.
    No,
    /// About to be sent (or sent): only the provider can say whether it holds the order.
    Yes,
}

/// Whether a recorded order may have reached the provider. Only a row that says it was never handed over
/// is known not to have (a row recorded before this marker existed may have been sent).
fn handed_to_provider(order: &Order) -> bool {
    order
        .raw_order_data
        .as_ref()
        .and_then(|raw| raw.get(HANDED_TO_PROVIDER))
        .and_then(serde_json::Value::as_bool)
        != Some(false)
}

/// Whether a stored order still waits for the provider's answer to its placement: its row is keyed by its
/// client order id, which the provider's own order id replaces once it answers.
fn awaiting_answer(order: &Order) -> bool {
    order
        .client_order_id
        .as_ref()
        .is_some_and(|key| key.as_str() == order.brokerage_order_id.as_str())
}

/// A stored order under the same client order id must be this order (same account, symbol and side): a key
/// reused for another order would silently return the first one.
fn same_order(
    stored: &Order,
    account: &InvestmentAccount,
    order: &OrderRequest,
    client_order_id: &ClientOrderId,
) -> Result<(), SyncError> {
    if stored.account_id == account.id
        && &stored.symbol == order.symbol()
        && &stored.action == order.action()
    {
        Ok(())
    } else {
        Err(SyncError::ClientOrderIdReused {
            client_order_id: client_order_id.clone(),
            order: stored.id,
        })
    }
}

fn outcome_unknown(order: &Order, error: SyncError) -> SyncError {
    SyncError::OutcomeUnknown {
        order: order.id,
        source: Box::new(error),
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
