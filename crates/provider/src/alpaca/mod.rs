//! The Alpaca Broker API client: one correspondent acting for its customers' accounts.
//!
//! Every call names the customer's broker account id and authenticates with HTTP Basic (API key id and
//! secret). Reads are retried on 429, 5xx and connection failures. Orders are never placed twice: each
//! carries a `client_order_id` (a fresh UUID unless the caller gave one), and when a submit ends without a
//! clear answer (a timeout, a dropped connection, a 5xx) the client looks the order up by that id before
//! it would submit again.
//!
//! ```no_run
//! # async fn run() -> Result<(), tributary_provider::alpaca::AlpacaError> {
//! use rust_decimal::Decimal;
//! use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, BrokerAccountId, NewOrder, OrderSide};
//!
//! let alpaca = AlpacaClient::new(AlpacaConfig::from_env()?)?;
//! let account = BrokerAccountId::parse("3dcb795c-3ccc-402a-abb9-07e26a1b1326")?;
//! let order = alpaca.submit_order(&account, &NewOrder::market("AAPL", OrderSide::Buy, Decimal::ONE)).await?;
//! println!("{} is {}", order.order.id, order.order.status);
//! # Ok(()) }
//! ```

mod config;
mod error;
mod orders;
mod transport;
pub mod wire;

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub use config::{AlpacaConfig, AlpacaEnvironment, ENV_API_KEY, ENV_API_SECRET, ENV_BASE_URL};
pub use error::{AlpacaError, ApiErrorDetails};
pub use orders::{
    AlpacaOrder, ClientOrderId, NewOrder, OrderQuantity, OrderQuery, OrderSide, OrderStatusFilter,
    OrderType, TimeInForce,
};

use transport::{Backoff, Call, Failure};
use wire::{Account, Position, TradeAccount};

/// A customer's account id at Alpaca (a UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrokerAccountId(Uuid);

impl BrokerAccountId {
    /// Wraps an account id.
    pub fn new(id: Uuid) -> Self {
        Self(id)
    }

    /// Reads an account id from its UUID text.
    pub fn parse(text: &str) -> Result<Self, AlpacaError> {
        Uuid::parse_str(text.trim())
            .map(Self)
            .map_err(|_| AlpacaError::invalid_input("broker account id", "is not a UUID"))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for BrokerAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The Alpaca Broker API client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct AlpacaClient {
    config: AlpacaConfig,
    http: reqwest::Client,
    retry: Backoff,
}

impl AlpacaClient {
    /// A client for `config`, with its own configured HTTP client.
    pub fn new(config: AlpacaConfig) -> Result<Self, AlpacaError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(config.timeout)
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(error::client_build_error)?;
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

    /// The customer's account: status, currency, account number (`GET /v1/accounts/{id}`).
    pub async fn account(&self, account: &BrokerAccountId) -> Result<Account, AlpacaError> {
        self.read("getAccount", format!("/v1/accounts/{account}"), &[])
            .await
    }

    /// The account's balances and trading flags (`GET /v1/trading/accounts/{id}/account`).
    pub async fn trading_account(
        &self,
        account: &BrokerAccountId,
    ) -> Result<TradeAccount, AlpacaError> {
        self.read(
            "getTradingAccount",
            format!("/v1/trading/accounts/{account}/account"),
            &[],
        )
        .await
    }

    /// The account's open positions (`GET /v1/trading/accounts/{id}/positions`).
    pub async fn positions(&self, account: &BrokerAccountId) -> Result<Vec<Position>, AlpacaError> {
        self.read(
            "getPositionsForAccount",
            format!("/v1/trading/accounts/{account}/positions"),
            &[],
        )
        .await
    }

    /// The account's orders matching `query` (`GET /v1/trading/accounts/{id}/orders`).
    pub async fn orders(
        &self,
        account: &BrokerAccountId,
        query: &OrderQuery,
    ) -> Result<Vec<AlpacaOrder>, AlpacaError> {
        const ENDPOINT: &str = "getAllOrdersForAccount";
        let path = format!("/v1/trading/accounts/{account}/orders");
        let bytes = self
            .read_with_retries(ENDPOINT, path, &query.to_query())
            .await
            .map_err(|failure| error::into_provider_error(ENDPOINT, failure))?;
        AlpacaOrder::list_from_body(ENDPOINT, &bytes)
    }

    /// One order by Alpaca's id (`GET /v1/trading/accounts/{id}/orders/{order_id}`).
    pub async fn order(
        &self,
        account: &BrokerAccountId,
        order_id: Uuid,
    ) -> Result<AlpacaOrder, AlpacaError> {
        const ENDPOINT: &str = "getOrderForAccount";
        let path = format!("/v1/trading/accounts/{account}/orders/{order_id}");
        let bytes = self
            .read_with_retries(ENDPOINT, path, &[])
            .await
            .map_err(|failure| error::into_provider_error(ENDPOINT, failure))?;
        AlpacaOrder::from_body(ENDPOINT, &bytes)
    }

    /// One order by our `client_order_id`, or `None` when Alpaca has no such order
    /// (`GET /v1/trading/accounts/{id}/orders:by_client_order_id`).
    pub async fn order_by_client_order_id(
        &self,
        account: &BrokerAccountId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<AlpacaOrder>, AlpacaError> {
        let query = [("client_order_id", client_order_id.as_str().to_owned())];
        let path = format!("/v1/trading/accounts/{account}/orders:by_client_order_id");
        match self
            .read_with_retries("getOrderByClientOrderIdForAccount", path, &query)
            .await
        {
            Ok(bytes) => {
                AlpacaOrder::from_body("getOrderByClientOrderIdForAccount", &bytes).map(Some)
            }
            Err(Failure::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(None),
            Err(failure) => Err(error::into_provider_error(
                "getOrderByClientOrderIdForAccount",
                failure,
            )),
        }
    }

    /// Places an order, never twice. See [`orders`](self) for how an unclear outcome is resolved.
    pub async fn submit_order(
        &self,
        account: &BrokerAccountId,
        order: &NewOrder,
    ) -> Result<AlpacaOrder, AlpacaError> {
        orders::submit(self, account, order).await
    }

    /// Asks Alpaca to cancel an order (`DELETE /v1/trading/accounts/{id}/orders/{order_id}`); the order's
    /// status then moves to `pending_cancel` and `canceled`. Safe to repeat: cancelling twice asks for the
    /// same outcome.
    pub async fn cancel_order(
        &self,
        account: &BrokerAccountId,
        order_id: Uuid,
    ) -> Result<(), AlpacaError> {
        let path = format!("/v1/trading/accounts/{account}/orders/{order_id}");
        self.send_with_retries("deleteOrderForAccount", Method::DELETE, path, &[])
            .await
            .map(drop)
            .map_err(|failure| error::into_provider_error("deleteOrderForAccount", failure))
    }

    async fn read<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: String,
        query: &[(&str, String)],
    ) -> Result<T, AlpacaError> {
        let bytes = self
            .read_with_retries(endpoint, path, query)
            .await
            .map_err(|failure| error::into_provider_error(endpoint, failure))?;
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
        let mut attempt = 1;
        loop {
            let call = Call {
                method: method.clone(),
                endpoint,
                path: path.clone(),
                query,
                body: None,
            };
            match transport::send(&self.http, &self.config, call).await {
                Err(failure) if failure.is_transient() && attempt < self.retry.max_attempts => {
                    tokio::time::sleep(self.retry.delay(attempt, failure.retry_after())).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

fn decode<T: DeserializeOwned>(endpoint: &'static str, bytes: &[u8]) -> Result<T, AlpacaError> {
    serde_json::from_slice(bytes).map_err(|error| error::decode_error(endpoint, &error, bytes))
}
