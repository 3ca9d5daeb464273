//! The Alpaca Broker API client: one correspondent acting for its customers' accounts.
//!
//! Every call names the customer's broker account id and authenticates with HTTP Basic (API key id and
//! secret). Reads are retried on 429, 5xx and connection failures. Orders are never placed twice: each
//! carries a `client_order_id` (a fresh UUID unless the caller gave one), and when a submit ends without a
//! clear answer (a timeout, a dropped connection, a 5xx) the client looks the order up by that id before
//! it would submit again.
//!
//! The client's work is done through [`Trading`](crate::capability::Trading) and
//! [`BrokerageAccounts`](crate::capability::BrokerageAccounts), in domain types; its one method of its own
//! lists the correspondent's customer accounts, to find the one to act for. Alpaca's JSON stays inside this
//! module.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use tributary_domain::{AccountId, OrderAction, ProviderAccountId, Symbol, Units, UserId};
//! use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig};
//! use tributary_provider::capability::{AccountRef, OrderRequest, OrderSize, Trading};
//!
//! let alpaca = AlpacaClient::new(AlpacaConfig::from_env()?)?;
//! for account in alpaca.broker_accounts().await? {
//!     println!("{} {}", account.id, account.status);
//! }
//! let account = AccountRef {
//!     user_id: UserId::generate(),
//!     account_id: AccountId::generate(),
//!     provider_account_id: ProviderAccountId::parse("3dcb795c-3ccc-402a-abb9-07e26a1b1326")?,
//! };
//! let order = OrderRequest::market(
//!     Symbol::parse("AAPL")?,
//!     OrderAction::Buy,
//!     OrderSize::Units(Units::parse_exact("1")?),
//! )?;
//! let placed = alpaca.place_order(&(), &account, &order).await?;
//! println!("{} is {}", placed.brokerage_order_id, placed.status);
//! # Ok(()) }
//! ```

mod activities;
mod config;
mod convert;
mod events;
mod orders;
#[cfg(test)]
mod tests;
// The provider's JSON in full, as its spec describes it. A field no conversion reads yet is still parsed, so
// a value of the wrong shape is refused where it arrives; the unit tests read every field.
#[allow(dead_code)]
mod wire;

use std::fmt;

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use tributary_domain::{Provider, ProviderAccountId};
use uuid::Uuid;

pub use config::{AlpacaConfig, AlpacaEnvironment, ENV_API_KEY, ENV_API_SECRET, ENV_BASE_URL};
pub use events::{
    RefusedTradeEvent, TRADE_EVENTS_CONNECTION_LIFETIME, TradeEvent, TradeEventId, TradeEventKind,
    TradeEventStream, TradeStreamItem,
};
pub(crate) use orders::{AlpacaClientOrderId, AlpacaOrder, AlpacaOrderQuery, AlpacaOrderRequest};
#[cfg(test)]
pub(crate) use orders::{
    AlpacaOrderQuantity, AlpacaOrderSide, AlpacaOrderStatusFilter, AlpacaOrderType,
    AlpacaTimeInForce,
};

use crate::config::endpoint_url;
use crate::error::ProviderError;
use crate::http::{Backoff, Endpoint, Failure, HttpClient, StatusFailure};
#[cfg(test)]
use wire::Position;
use wire::{Account, AlpacaErrorBody, TradeAccount};

/// A customer's account id at Alpaca (a UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BrokerAccountId(Uuid);

impl BrokerAccountId {
    /// Wraps an account id.
    #[cfg(test)]
    pub(crate) fn new(id: Uuid) -> Self {
        Self(id)
    }

    /// Reads an account id from its UUID text.
    pub(crate) fn parse(text: &str) -> Result<Self, ProviderError> {
        Uuid::parse_str(text.trim())
            .map(Self)
            .map_err(|_| ProviderError::invalid_input("broker account id", "is not a UUID"))
    }

    /// The UUID.
    pub(crate) fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for BrokerAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One of the correspondent's customer accounts, as the Broker API lists it: enough to pick the account to
/// act for. Its balances and positions are read with
/// [`BrokerageAccounts`](crate::capability::BrokerageAccounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAccount {
    /// The account's id, which a stored Alpaca account names.
    pub id: ProviderAccountId,
    /// The account number shown to the customer, when Alpaca gives one.
    pub account_number: Option<String>,
    /// Alpaca's status for it (`ACTIVE`, `APPROVED`, `ACCOUNT_CLOSED`…; trading is possible only when
    /// `ACTIVE`). An open vocabulary, kept as Alpaca spells it.
    pub status: String,
    /// When the account was opened.
    pub created_at: DateTime<Utc>,
}

/// The Alpaca Broker API client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct AlpacaClient {
    config: AlpacaConfig,
    http: HttpClient,
    retry: Backoff,
}

impl AlpacaClient {
    /// A client for `config`, with its own configured HTTP client.
    pub fn new(config: AlpacaConfig) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::Alpaca,
            ENV_BASE_URL,
            &config.base_url,
            config.timeout,
            config.max_response_bytes,
            config.rate_limits.clone(),
        )?;
        Ok(Self {
            config,
            http,
            retry: Backoff::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &AlpacaConfig {
        &self.config
    }

    /// The correspondent's customer accounts (`GET /v1/accounts`, `getAllAccounts` in
    /// alpaca-broker-api.yaml): "the first 1000 accounts", sorted by creation time, as the spec describes the
    /// call. For finding the account id to act for.
    ///
    /// # Errors
    /// The call's; [`ProviderError::InvalidData`] naming the field when a listed id is not one.
    pub async fn broker_accounts(&self) -> Result<Vec<BrokerAccount>, ProviderError> {
        self.accounts()
            .await?
            .into_iter()
            .enumerate()
            .map(|(index, account)| {
                let id = ProviderAccountId::parse(&account.id.to_string()).map_err(|error| {
                    ProviderError::invalid_data(Provider::Alpaca, format!("[{index}].id"), error)
                })?;
                Ok(BrokerAccount {
                    id,
                    account_number: account.account_number,
                    status: account.status,
                    created_at: account.created_at,
                })
            })
            .collect()
    }

    /// The customer's account: status, currency, account number (`GET /v1/accounts/{id}`).
    pub(crate) async fn account(
        &self,
        account: &BrokerAccountId,
    ) -> Result<Account, ProviderError> {
        self.read("getAccount", format!("/v1/accounts/{account}"), &[])
            .await
    }

    /// [`broker_accounts`](Self::broker_accounts), as Alpaca answers it.
    pub(crate) async fn accounts(&self) -> Result<Vec<Account>, ProviderError> {
        self.read("getAllAccounts", "/v1/accounts".to_owned(), &[])
            .await
    }

    /// The account's balances and trading flags (`GET /v1/trading/accounts/{id}/account`).
    pub(crate) async fn trading_account(
        &self,
        account: &BrokerAccountId,
    ) -> Result<TradeAccount, ProviderError> {
        self.read(
            "getTradingAccount",
            format!("/v1/trading/accounts/{account}/account"),
            &[],
        )
        .await
    }

    /// The account's open positions (`GET /v1/trading/accounts/{id}/positions`). A position that does not
    /// parse fails the call: the tests read the wire structs through it, while
    /// [`BrokerageAccounts::account_positions`](crate::capability::BrokerageAccounts) reads them one by one.
    #[cfg(test)]
    pub(crate) async fn positions(
        &self,
        account: &BrokerAccountId,
    ) -> Result<Vec<Position>, ProviderError> {
        self.raw_positions(account)
            .await?
            .into_iter()
            .map(|raw| {
                serde_json::from_value(raw.clone()).map_err(|error| {
                    ProviderError::decode(
                        Provider::Alpaca,
                        POSITIONS_ENDPOINT,
                        &error,
                        raw.to_string().as_bytes(),
                    )
                })
            })
            .collect()
    }

    /// The account's open positions as Alpaca's JSON.
    pub(crate) async fn raw_positions(
        &self,
        account: &BrokerAccountId,
    ) -> Result<Vec<serde_json::Value>, ProviderError> {
        self.read(
            POSITIONS_ENDPOINT,
            format!("/v1/trading/accounts/{account}/positions"),
            &[],
        )
        .await
    }

    /// Every order of the account matching `query` (`GET /v1/trading/accounts/{id}/orders`), page after page.
    /// An order that does not parse fails the call: the tests read the wire structs through it, while
    /// [`Trading::list_orders`](crate::capability::Trading) reads them one by one.
    #[cfg(test)]
    pub(crate) async fn orders(
        &self,
        account: &BrokerAccountId,
        query: &AlpacaOrderQuery,
    ) -> Result<Vec<AlpacaOrder>, ProviderError> {
        self.raw_orders(account, query)
            .await?
            .into_iter()
            .map(|raw| AlpacaOrder::from_json(ORDERS_ENDPOINT, raw))
            .collect()
    }

    /// Every order of the account matching `query`, as Alpaca's JSON, page after page.
    ///
    /// The spec's `getAllOrdersForAccount` pages by submission time: `direction` ("The chronological order of
    /// response based on the submission time … Defaults to desc"), `until` ("only ones submitted until this
    /// timestamp (exclusive)") and `limit` (max 500). Pages are read newest first; each next page ends just
    /// after the oldest order of the last one, so orders sharing that instant are read again rather than lost,
    /// and are kept once (by id). When a whole page is one instant, that instant is read on its own with the
    /// largest page; more orders in one nanosecond than that is an error, never a silently short list.
    pub(crate) async fn raw_orders(
        &self,
        account: &BrokerAccountId,
        query: &AlpacaOrderQuery,
    ) -> Result<Vec<serde_json::Value>, ProviderError> {
        let page_size = query.page_size();
        let mut all: Vec<serde_json::Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // An order without an id cannot be told apart from another: it is always kept (and left out later).
        let mut first_time = |order: &serde_json::Value| {
            order["id"]
                .as_str()
                .is_none_or(|id| seen.insert(id.to_owned()))
        };
        let mut until = query.until;
        loop {
            let page = self
                .orders_page(account, &query.to_query(page_size, query.after, until))
                .await?;
            let full = page.len() >= page_size as usize;
            let oldest = page.iter().filter_map(submitted).min();
            let before = all.len();
            all.extend(page.into_iter().filter(|order| first_time(order)));
            if !full {
                return Ok(all);
            }
            let Some(oldest) = oldest else {
                return Err(ProviderError::invalid_data(
                    Provider::Alpaca,
                    "submitted_at",
                    "a full page of orders carries no submission time to read the next page from",
                ));
            };
            let one_ns = chrono::TimeDelta::nanoseconds(1);
            if all.len() > before {
                until = Some(oldest + one_ns);
                continue;
            }
            // The whole page is one instant, all read before: read that instant alone, then go past it.
            let instant = self
                .orders_page(
                    account,
                    &query.to_query(
                        orders::MAX_PAGE,
                        Some(oldest - one_ns),
                        Some(oldest + one_ns),
                    ),
                )
                .await?;
            if instant.len() >= orders::MAX_PAGE as usize {
                return Err(ProviderError::invalid_data(
                    Provider::Alpaca,
                    "submitted_at",
                    format!(
                        "more than {} orders share the instant {oldest}; they cannot be paged",
                        orders::MAX_PAGE
                    ),
                ));
            }
            all.extend(instant.into_iter().filter(|order| first_time(order)));
            until = Some(oldest);
        }
    }

    async fn orders_page(
        &self,
        account: &BrokerAccountId,
        query: &[(&str, String)],
    ) -> Result<Vec<serde_json::Value>, ProviderError> {
        let path = format!("/v1/trading/accounts/{account}/orders");
        let bytes = self
            .read_with_retries(ORDERS_ENDPOINT, path, query)
            .await
            .map_err(|failure| into_error(ORDERS_ENDPOINT, failure))?;
        decode(ORDERS_ENDPOINT, &bytes)
    }

    /// One order by Alpaca's id (`GET /v1/trading/accounts/{id}/orders/{order_id}`).
    #[cfg(test)]
    pub(crate) async fn order(
        &self,
        account: &BrokerAccountId,
        order_id: Uuid,
    ) -> Result<AlpacaOrder, ProviderError> {
        const ENDPOINT: &str = "getOrderForAccount";
        let path = format!("/v1/trading/accounts/{account}/orders/{order_id}");
        let bytes = self
            .read_with_retries(ENDPOINT, path, &[])
            .await
            .map_err(|failure| into_error(ENDPOINT, failure))?;
        AlpacaOrder::from_body(ENDPOINT, &bytes)
    }

    /// One order by our `client_order_id`, or `None` when Alpaca has no such order
    /// (`GET /v1/trading/accounts/{id}/orders:by_client_order_id`).
    pub(crate) async fn order_by_client_order_id(
        &self,
        account: &BrokerAccountId,
        client_order_id: &AlpacaClientOrderId,
    ) -> Result<Option<AlpacaOrder>, ProviderError> {
        let query = [("client_order_id", client_order_id.as_str().to_owned())];
        let path = format!("/v1/trading/accounts/{account}/orders:by_client_order_id");
        match self
            .read_with_retries("getOrderByClientOrderIdForAccount", path, &query)
            .await
        {
            Ok(bytes) => {
                AlpacaOrder::from_body("getOrderByClientOrderIdForAccount", &bytes).map(Some)
            }
            Err(Failure::Status(StatusFailure {
                status: StatusCode::NOT_FOUND,
                ..
            })) => Ok(None),
            Err(failure) => Err(into_error("getOrderByClientOrderIdForAccount", failure)),
        }
    }

    /// Places an order, never twice. See [`orders`](self) for how an unclear outcome is resolved.
    pub(crate) async fn submit_order(
        &self,
        account: &BrokerAccountId,
        order: &AlpacaOrderRequest,
    ) -> Result<AlpacaOrder, ProviderError> {
        orders::submit(self, account, order).await
    }

    /// Asks Alpaca to cancel an order (`DELETE /v1/trading/accounts/{id}/orders/{order_id}`); the order's
    /// status then moves to `pending_cancel` and `canceled`. Safe to repeat: cancelling twice asks for the
    /// same outcome.
    pub(crate) async fn cancel_order(
        &self,
        account: &BrokerAccountId,
        order_id: Uuid,
    ) -> Result<(), ProviderError> {
        let path = format!("/v1/trading/accounts/{account}/orders/{order_id}");
        self.send_with_retries("deleteOrderForAccount", Method::DELETE, path, &[])
            .await
            .map(drop)
            .map_err(|failure| into_error("deleteOrderForAccount", failure))
    }

    async fn read<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: String,
        query: &[(&str, String)],
    ) -> Result<T, ProviderError> {
        let bytes = self
            .read_with_retries(endpoint, path, query)
            .await
            .map_err(|failure| into_error(endpoint, failure))?;
        decode(endpoint, &bytes)
    }

    async fn read_with_retries(
        &self,
        endpoint: &'static str,
        path: String,
        query: &[(&str, String)],
    ) -> Result<Vec<u8>, Failure> {
        self.send_with_retries(endpoint, Method::GET, path, query)
            .await
    }

    /// Sends an idempotent request, repeating it after transient failures.
    async fn send_with_retries(
        &self,
        endpoint: &'static str,
        method: Method,
        path: String,
        query: &[(&str, String)],
    ) -> Result<Vec<u8>, Failure> {
        let endpoint = Endpoint::new(Provider::Alpaca, endpoint);
        let request = || self.request(method.clone(), &path).query(query);
        let reply = self
            .http
            .send_idempotent(&self.retry, endpoint, request)
            .await?;
        Ok(reply.body)
    }

    /// A request to `path` below the base URL with Basic auth, the only place the secret is exposed.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, endpoint_url(&self.config.base_url, path))
            .basic_auth(
                &self.config.api_key,
                Some(self.config.api_secret.expose_secret()),
            )
    }
}

/// The operation that lists positions.
const POSITIONS_ENDPOINT: &str = "getPositionsForAccount";

/// The operation that lists orders.
const ORDERS_ENDPOINT: &str = "getAllOrdersForAccount";

/// When an order was submitted (`submitted_at`, else `created_at`), read from its JSON.
fn submitted(order: &serde_json::Value) -> Option<chrono::DateTime<chrono::Utc>> {
    ["submitted_at", "created_at"]
        .into_iter()
        .find_map(|field| {
            order[field]
                .as_str()
                .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
                .map(|at| at.with_timezone(&chrono::Utc))
        })
}

fn decode<T: DeserializeOwned>(endpoint: &'static str, bytes: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes)
        .map_err(|error| ProviderError::decode(Provider::Alpaca, endpoint, &error, bytes))
}

/// A failed call as the crate's error.
fn into_error(endpoint: &'static str, failure: Failure) -> ProviderError {
    failure.into_error(Endpoint::new(Provider::Alpaca, endpoint), status_error)
}

/// A non-2xx answer: Alpaca's `{code?, message}` body, a JSON string, or plain text. Alpaca's codes are
/// overloaded (40310000 covers buying power, minimum notional and suspensions), so the status decides the
/// variant and the code and message ride along.
fn status_error(failure: StatusFailure) -> ProviderError {
    let (code, message) = match serde_json::from_slice::<AlpacaErrorBody>(&failure.body) {
        Ok(error) => (error.code.map(|code| code.to_string()), Some(error.message)),
        Err(_) => (None, serde_json::from_slice::<String>(&failure.body).ok()),
    };
    failure.into_error(Provider::Alpaca, code, message)
}
