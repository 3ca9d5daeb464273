//! The SnapTrade client: connection portal, aggregation and trading through the user's own brokerages.
//!
//! SnapTrade is called as a partner (Commercial keys): every request carries `clientId` and `timestamp` in
//! the query and a `Signature` header computed over path, query and body (see
//! [`signing`](crate::snaptrade::signing)); calls about a user add `userId` and `userSecret`. The user
//! secret is returned once, by `registerUser` (or `resetUserSecret`), and lives in a
//! [`UserCredentials`](crate::snaptrade::UserCredentials) whose `Debug` redacts it.
//!
//! Reads, cancels and deletes are retried on 429, 5xx and connection failures with capped, jittered
//! backoff. `registerUser`, `resetUserSecret`, `login`, `refreshBrokerageAuthorization` and order placement
//! are sent once; they are only sent again when the first attempt surely never reached SnapTrade (could
//! not connect, or a 429), because a second registration conflicts and loses the secret, and a second
//! order is a second trade.
//!
//! The client's work is done through the capability traits, in domain types: [`ConnectionPortal`]
//! (register a user, the portal link, remove a connection), [`Aggregation`], [`BrokerageAccounts`] and
//! [`Trading`]. Its own methods are what no trait says: deleting a user, rotating a user secret, the ids of
//! a user's connections, a billed refresh, placing a checked trade, and the account's rate budget.
//! SnapTrade's JSON stays inside this module; [`parse_orders`](crate::snaptrade::parse_orders) reads a
//! saved order answer into domain rows.
//!
//! ```no_run
//! # async fn run() -> Result<(), tributary_provider::ProviderError> {
//! use tributary_domain::{ConnectionType, UserId};
//! use tributary_provider::capability::{Aggregation, ConnectionPortal, PortalRequest};
//! use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig};
//!
//! let snaptrade = SnapTradeClient::new(SnapTradeConfig::from_env()?)?;
//! let user = ConnectionPortal::register_user(&snaptrade, UserId::generate()).await?;
//! let request = PortalRequest {
//!     broker: None,
//!     connection_type: ConnectionType::Read,
//!     reconnect: None,
//!     redirect_uri: None,
//! };
//! let portal = snaptrade.portal_url(&user, &request).await?;
//! // … send the user to `portal.url`; later:
//! for account in Aggregation::accounts(&snaptrade, &user).await? {
//!     println!("{:?} at {:?}", account.name, account.institution);
//! }
//! # drop(portal); Ok(()) }
//! ```
//!
//! [`ConnectionPortal`]: crate::capability::ConnectionPortal
//! [`Aggregation`]: crate::capability::Aggregation
//! [`BrokerageAccounts`]: crate::capability::BrokerageAccounts
//! [`Trading`]: crate::capability::Trading

mod config;
mod convert;
mod signed_webhook;
pub mod signing;
#[cfg(test)]
mod tests;
pub mod webhook;
// The provider's JSON in full, as its spec describes it. A field no conversion reads yet is still parsed, so
// a value of the wrong shape is refused where it arrives; the unit tests read every field.
#[allow(dead_code)]
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tributary_domain::{
    AuthorizationId, BrokerageOrderId, BrokerageSlug, ConnectionType, Provider, ProviderAccountId,
    SnapTradeUserId, SnapTradeUserSecret,
};
use url::Url;
use uuid::Uuid;

pub use config::{
    DEFAULT_BASE_URL, ENV_BASE_URL, ENV_CLIENT_ID, ENV_CONSUMER_KEY, SnapTradeConfig,
};
pub use convert::{parse_order, parse_orders, parse_timestamp};
pub use signed_webhook::{SignedWebhook, sign_webhook};
pub use webhook::{WebhookEvent, WebhookEventKind};

use crate::capability::{AccountRef, PlacedOrder};
use crate::error::{ErrorDetail, ProviderError};
use crate::http::{Backoff, Endpoint, Failure, HttpClient, Reply, StatusFailure};
use wire::{
    Account, AllAccountPositions, Balance, BrokerageAuthorization, CancelOrderResponse,
    DeleteConnectionConfirmation, DeleteUserResponse, ErrorBody, LoginRedirect,
    ManualTradeAndImpact, ManualTradeForm, ManualTradeFormWithOptions, OrderRecord,
    RefreshConfirmation, UniversalSymbol, UserIdAndSecret,
};

/// SnapTrade's API code when it could not verify the signature on *our* request; whatever the status, it
/// means our keys or clock. (Not to be confused with [`crate::WebhookError::BadSignature`], our refusal of an
/// inbound webhook whose signature does not match.)
const CODE_REQUEST_SIGNATURE_REFUSED: &str = "1076";
/// SnapTrade's codes for a disabled connection (refresh, trade) and one already disabled.
const CODES_CONNECTION_DISABLED: [&str; 2] = ["3003", "3011"];
/// SnapTrade's code for data still being gathered.
const CODE_NOT_READY: &str = "3012";

/// A SnapTrade user's id and secret: what every user-scoped call sends. `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The id we registered the user under.
    pub user_id: SnapTradeUserId,
    /// The secret SnapTrade returned.
    pub user_secret: SnapTradeUserSecret,
}

impl UserCredentials {
    /// Credentials from a stored id and secret.
    pub fn new(user_id: SnapTradeUserId, user_secret: SnapTradeUserSecret) -> Self {
        Self {
            user_id,
            user_secret,
        }
    }
}

impl From<&tributary_domain::SnapTradeUser> for UserCredentials {
    /// The credentials of a stored SnapTrade user (`snaptrade_users` row).
    fn from(user: &tributary_domain::SnapTradeUser) -> Self {
        Self::new(user.snaptrade_user_id.clone(), user.user_secret.clone())
    }
}

/// What the connection portal should offer (`login`'s body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoginOptions {
    /// Go straight to this brokerage.
    pub broker: Option<BrokerageSlug>,
    /// `read` (SnapTrade's default) or `trade` access.
    pub connection_type: Option<ConnectionType>,
    /// Repair this disabled connection instead of making a new one.
    pub reconnect: Option<AuthorizationId>,
    /// Where the portal sends the user back.
    pub custom_redirect: Option<String>,
    /// Send the user straight back instead of showing the portal's final page.
    pub immediate_redirect: Option<bool>,
}

/// Which orders `getUserAccountOrders` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OrderState {
    /// Every order (SnapTrade's default).
    #[default]
    All,
    /// Working orders.
    Open,
}

impl OrderState {
    fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Open => "open",
        }
    }
}

/// `getUserAccountOrders`' filter: a state and how many days back (1 to 90; SnapTrade's default 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OrderQuery {
    /// Which orders.
    pub state: OrderState,
    /// How many days back.
    pub days: Option<u8>,
}

/// The SnapTrade client. Cheap to clone; clones share one connection pool and the accounts' rate budgets.
#[derive(Debug, Clone)]
pub struct SnapTradeClient {
    config: SnapTradeConfig,
    http: HttpClient,
    retry: Backoff,
    budgets: AccountBudgets,
}

/// SnapTrade's account-level rate limit (its API description, "Rate limiting": "10 requests/minute per account
/// … reported in `X-RateLimit-Account-Limit`, `X-RateLimit-Account-Remaining` and `X-RateLimit-Account-Reset`"):
/// for each account whose last answer said nothing is left, when its budget comes back. A call for such an
/// account waits for the reset when that is within the retry schedule's longest wait, and otherwise ends as
/// [`ProviderError::RateLimited`] with the wait, unsent: it would only be refused.
#[derive(Debug, Clone, Default)]
struct AccountBudgets(Arc<Mutex<HashMap<String, Instant>>>);

impl AccountBudgets {
    fn wait(&self, account: &str) -> Option<Duration> {
        let spent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let until = *spent.get(account)?;
        let wait = until.saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }

    /// Notes what an answer's headers say of `account`'s budget; no headers, no change (their absence
    /// "tells you nothing about your allowance").
    fn record(&self, account: &str, headers: &reqwest::header::HeaderMap) {
        let Some(wait) = crate::http::account_budget_wait(headers) else {
            return;
        };
        let mut spent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if wait.is_zero() {
            spent.remove(account);
        } else {
            spent.insert(account.to_owned(), Instant::now() + wait);
        }
    }
}

/// One request before it is signed: the fresh timestamp and signature are added per attempt.
struct Call<'a> {
    endpoint: &'static str,
    method: Method,
    segments: Vec<&'a str>,
    user: Option<&'a UserCredentials>,
    /// The account whose rate budget the call draws on.
    account: Option<&'a str>,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl<'a> Call<'a> {
    fn new(endpoint: &'static str, method: Method, segments: &[&'a str]) -> Self {
        Self {
            endpoint,
            method,
            segments: segments.to_vec(),
            user: None,
            account: None,
            query: Vec::new(),
            body: None,
        }
    }

    fn get(endpoint: &'static str, segments: &[&'a str]) -> Self {
        Self::new(endpoint, Method::GET, segments)
    }

    fn post(endpoint: &'static str, segments: &[&'a str]) -> Self {
        Self::new(endpoint, Method::POST, segments)
    }

    fn delete(endpoint: &'static str, segments: &[&'a str]) -> Self {
        Self::new(endpoint, Method::DELETE, segments)
    }

    fn for_user(mut self, user: &'a UserCredentials) -> Self {
        self.user = Some(user);
        self
    }

    fn for_account(mut self, account: &'a str) -> Self {
        self.account = Some(account);
        self
    }

    fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    fn body(mut self, body: &impl Serialize) -> Result<Self, ProviderError> {
        let value = serde_json::to_value(body)
            .map_err(|error| ProviderError::invalid_input("request body", error.to_string()))?;
        self.body = Some(value);
        Ok(self)
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(Provider::SnapTrade, self.endpoint)
    }
}

impl SnapTradeClient {
    /// A client for `config`, with its own configured HTTP client.
    pub fn new(config: SnapTradeConfig) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::SnapTrade,
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
            budgets: AccountBudgets::default(),
        })
    }

    /// The same client with another retry schedule (tests use a short one).
    pub fn with_retries(mut self, max_attempts: u32, base: std::time::Duration) -> Self {
        self.retry = Backoff::new(max_attempts, base, base.saturating_mul(8));
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &SnapTradeConfig {
        &self.config
    }

    /// How long the account's rate budget is spent for, when SnapTrade's last answer about it said
    /// `X-RateLimit-Account-Remaining: 0`.
    pub fn account_budget_wait(&self, account: &ProviderAccountId) -> Option<Duration> {
        self.budgets.wait(account.as_str())
    }

    /// Registers a user under `user_id` (`POST /snapTrade/registerUser`) and returns its secret, which
    /// SnapTrade never shows again: store it before anything else. The public way in is
    /// [`ConnectionPortal::register_user`](crate::capability::ConnectionPortal::register_user), which
    /// registers Tributary's user id.
    pub(crate) async fn register_snaptrade_user(
        &self,
        user_id: &SnapTradeUserId,
    ) -> Result<UserCredentials, ProviderError> {
        let body = wire::RegisterUserBody {
            user_id: user_id.as_str(),
        };
        let call = Call::post("registerUser", &["snapTrade", "registerUser"]).body(&body)?;
        let reply = self.send_once(&call).await?;
        credentials_from(call.endpoint, &reply.body)
    }

    /// Deletes the user and all its connections (`DELETE /snapTrade/deleteUser`). Asynchronous: the
    /// `USER_DELETED` webhook says when it is done.
    pub async fn delete_user(&self, user_id: &SnapTradeUserId) -> Result<(), ProviderError> {
        self.delete_snaptrade_user(user_id).await.map(drop)
    }

    /// [`delete_user`](Self::delete_user), with SnapTrade's answer.
    pub(crate) async fn delete_snaptrade_user(
        &self,
        user_id: &SnapTradeUserId,
    ) -> Result<DeleteUserResponse, ProviderError> {
        let call = Call::delete("deleteUser", &["snapTrade", "deleteUser"])
            .query("userId", user_id.as_str());
        self.read(&call).await
    }

    /// Replaces the user's secret (`POST /snapTrade/resetUserSecret`); the old one stops working.
    pub async fn reset_user_secret(
        &self,
        user: &UserCredentials,
    ) -> Result<UserCredentials, ProviderError> {
        let body = serde_json::json!({
            "userId": user.user_id.as_str(),
            "userSecret": user.user_secret.expose_secret(),
        });
        let call = Call::post("resetUserSecret", &["snapTrade", "resetUserSecret"]).body(&body)?;
        let reply = self.send_once(&call).await?;
        credentials_from(call.endpoint, &reply.body)
    }

    /// A connection portal link for the user (`POST /snapTrade/login`), valid for 5 minutes.
    pub(crate) async fn login(
        &self,
        user: &UserCredentials,
        options: &LoginOptions,
    ) -> Result<LoginRedirect, ProviderError> {
        let body = wire::LoginBody {
            broker: options.broker.as_ref().map(|slug| slug.as_str().to_owned()),
            connection_type: options.connection_type.map(ConnectionType::as_str),
            reconnect: options.reconnect.map(|id| id.to_string()),
            custom_redirect: options.custom_redirect.clone(),
            immediate_redirect: options.immediate_redirect,
        };
        let call = Call::post("login", &["snapTrade", "login"])
            .for_user(user)
            .body(&body)?;
        let reply = self.send_once(&call).await?;
        // The link carries a one-time token: a body that does not parse is withheld from the error.
        let redirect: LoginRedirect = serde_json::from_slice(&reply.body).map_err(|error| {
            ProviderError::decode_withheld(Provider::SnapTrade, call.endpoint, &error)
        })?;
        if redirect.redirect_uri.as_deref().is_none_or(str::is_empty) {
            return Err(ProviderError::invalid_data(
                Provider::SnapTrade,
                "login.redirectURI",
                "is missing (an encrypted login response is not supported)",
            ));
        }
        Ok(redirect)
    }

    /// The ids of the user's connections (`GET /authorizations`), as SnapTrade lists them. A listed
    /// connection without a readable id cannot be named, so it is not among them; the connections with
    /// their health are [`Aggregation::connections`](crate::capability::Aggregation::connections).
    pub async fn connection_ids(
        &self,
        user: &UserCredentials,
    ) -> Result<Vec<AuthorizationId>, ProviderError> {
        let listed = self.list_brokerage_authorizations(user).await?;
        Ok(listed
            .iter()
            .filter_map(|found| found.id.as_deref())
            .filter_map(|id| AuthorizationId::parse(id).ok())
            .collect())
    }

    /// The user's connections (`GET /authorizations`).
    pub(crate) async fn list_brokerage_authorizations(
        &self,
        user: &UserCredentials,
    ) -> Result<Vec<BrokerageAuthorization>, ProviderError> {
        self.read(&Call::get("listBrokerageAuthorizations", &["authorizations"]).for_user(user))
            .await
    }

    /// Removes a connection and its accounts (`DELETE /connection/{id}`). Asynchronous: the
    /// `CONNECTION_DELETED` webhook says when it is done.
    pub(crate) async fn delete_connection(
        &self,
        user: &UserCredentials,
        connection: &AuthorizationId,
    ) -> Result<DeleteConnectionConfirmation, ProviderError> {
        let id = connection.to_string();
        self.read(&Call::delete("deleteConnection", &["connection", &id]).for_user(user))
            .await
    }

    /// Asks SnapTrade to refresh a connection's holdings now (`POST /authorizations/{id}/refresh`); the
    /// `ACCOUNT_HOLDINGS_UPDATED` webhook says when they are in. Each call is billed, so it is never repeated
    /// on its own; a disabled connection is [`ProviderError::ConnectionDisabled`].
    pub async fn refresh_connection(
        &self,
        user: &UserCredentials,
        authorization: &AuthorizationId,
    ) -> Result<(), ProviderError> {
        let id = authorization.to_string();
        let call = Call::post(
            "refreshBrokerageAuthorization",
            &["authorizations", &id, "refresh"],
        )
        .for_user(user);
        let reply = self.send_once(&call).await?;
        decode::<RefreshConfirmation>(call.endpoint, &reply.body).map(drop)
    }

    /// The user's accounts (`GET /accounts`).
    pub(crate) async fn list_user_accounts(
        &self,
        user: &UserCredentials,
    ) -> Result<Vec<Account>, ProviderError> {
        self.read(&Call::get("listUserAccounts", &["accounts"]).for_user(user))
            .await
    }

    /// One account (`GET /accounts/{id}`).
    pub(crate) async fn account_details(
        &self,
        user: &UserCredentials,
        account: &ProviderAccountId,
    ) -> Result<Account, ProviderError> {
        self.read(
            &Call::get("getUserAccountDetails", &["accounts", account.as_str()])
                .for_user(user)
                .for_account(account.as_str()),
        )
        .await
    }

    /// The account's cash and buying power, one entry per currency (`GET /accounts/{id}/balances`).
    pub(crate) async fn account_balances(
        &self,
        user: &UserCredentials,
        account: &ProviderAccountId,
    ) -> Result<Vec<Balance>, ProviderError> {
        let segments = ["accounts", account.as_str(), "balances"];
        self.read(
            &Call::get("getUserAccountBalance", &segments)
                .for_user(user)
                .for_account(account.as_str()),
        )
        .await
    }

    /// Every position in the account, stocks and options alike (`GET /accounts/{id}/positions/all`; the
    /// older `/positions`, `/options` and `/holdings` answer 410 for new customers).
    pub(crate) async fn all_account_positions(
        &self,
        user: &UserCredentials,
        account: &ProviderAccountId,
    ) -> Result<AllAccountPositions, ProviderError> {
        let segments = ["accounts", account.as_str(), "positions", "all"];
        self.read(
            &Call::get("getAllAccountPositions", &segments)
                .for_user(user)
                .for_account(account.as_str()),
        )
        .await
    }

    /// The account's orders, one record per leg (`GET /accounts/{id}/orders`).
    pub(crate) async fn account_orders(
        &self,
        user: &UserCredentials,
        account: &ProviderAccountId,
        query: OrderQuery,
    ) -> Result<Vec<OrderRecord>, ProviderError> {
        let segments = ["accounts", account.as_str(), "orders"];
        let mut call = Call::get("getUserAccountOrders", &segments)
            .for_user(user)
            .for_account(account.as_str())
            .query("state", query.state.as_str());
        if let Some(days) = query.days {
            if !(1..=90).contains(&days) {
                return Err(ProviderError::invalid_input(
                    "days",
                    "must be between 1 and 90",
                ));
            }
            call = call.query("days", days.to_string());
        }
        self.read(&call).await
    }

    /// Checks an order without placing it (`POST /trade/impact`); the answer's trade id places exactly
    /// this order with [`place_checked_order`](Self::place_checked_order) within 5 minutes.
    pub(crate) async fn order_impact(
        &self,
        user: &UserCredentials,
        form: &ManualTradeForm,
    ) -> Result<ManualTradeAndImpact, ProviderError> {
        // A check creates nothing at the brokerage, so it may be repeated.
        self.read(
            &Call::post("getOrderImpact", &["trade", "impact"])
                .for_user(user)
                .for_account(&form.account_id)
                .body(form)?,
        )
        .await
    }

    /// Places exactly the order [`Trading::order_impact`](crate::capability::Trading::order_impact) checked,
    /// by the impact's `trade_id` (`POST /trade/{tradeId}`), within 5 minutes of the check; sent once.
    /// `wait_to_confirm`: whether SnapTrade waits for the brokerage to confirm (its default: it does).
    pub async fn place_checked_order(
        &self,
        user: &UserCredentials,
        account: &AccountRef,
        trade_id: &str,
        wait_to_confirm: Option<bool>,
    ) -> Result<PlacedOrder, ProviderError> {
        let record = self
            .place_checked_trade(user, trade_id, wait_to_confirm)
            .await?;
        convert::order_row(account, &record, "order")
    }

    /// [`place_checked_order`](Self::place_checked_order), as SnapTrade answers it.
    pub(crate) async fn place_checked_trade(
        &self,
        user: &UserCredentials,
        trade_id: &str,
        wait_to_confirm: Option<bool>,
    ) -> Result<OrderRecord, ProviderError> {
        let trade_id = Uuid::parse_str(trade_id.trim())
            .map_err(|_| ProviderError::invalid_input("trade_id", "is not a UUID"))?
            .to_string();
        let body = wire::ValidatedTradeBody { wait_to_confirm };
        let call = Call::post("placeOrder", &["trade", &trade_id])
            .for_user(user)
            .body(&body)?;
        let reply = self.send_once(&call).await?;
        decode(call.endpoint, &reply.body)
    }

    /// Places an order without a check (`POST /trade/place`). SnapTrade passes `client_order_id` to the
    /// brokerage but does not deduplicate on it, so the order is sent once (again only if the first try
    /// surely never arrived).
    pub(crate) async fn place_force_order(
        &self,
        user: &UserCredentials,
        form: &ManualTradeFormWithOptions,
    ) -> Result<OrderRecord, ProviderError> {
        if let Some(id) = &form.client_order_id {
            Uuid::parse_str(id)
                .map_err(|_| ProviderError::invalid_input("client_order_id", "is not a UUID"))?;
        }
        let call = Call::post("placeForceOrder", &["trade", "place"])
            .for_user(user)
            .for_account(&form.account_id)
            .body(form)?;
        let reply = self.send_once(&call).await?;
        decode(call.endpoint, &reply.body)
    }

    /// Asks the brokerage to cancel an order (`POST /accounts/{id}/trading/cancel`). Repeating it asks for
    /// the same outcome, so it is retried like a read.
    pub(crate) async fn cancel_order(
        &self,
        user: &UserCredentials,
        account: &ProviderAccountId,
        order: &BrokerageOrderId,
    ) -> Result<CancelOrderResponse, ProviderError> {
        let segments = ["accounts", account.as_str(), "trading", "cancel"];
        let body = wire::CancelOrderBody {
            brokerage_order_id: order.as_str(),
        };
        self.read(
            &Call::post("cancelOrder", &segments)
                .for_user(user)
                .for_account(account.as_str())
                .body(&body)?,
        )
        .await
    }

    /// Securities the account's brokerage can trade whose ticker or name contains `substring`
    /// (`POST /accounts/{id}/symbols`).
    pub(crate) async fn search_account_symbols(
        &self,
        user: &UserCredentials,
        account: &ProviderAccountId,
        substring: &str,
    ) -> Result<Vec<UniversalSymbol>, ProviderError> {
        let segments = ["accounts", account.as_str(), "symbols"];
        let body = wire::SymbolQuery { substring };
        let call = Call::post("symbolSearchUserAccount", &segments)
            .for_user(user)
            .for_account(account.as_str())
            .body(&body)?;
        self.read(&call).await
    }

    /// One page of the account's activities (`GET /accounts/{id}/activities`), dates inclusive.
    pub(crate) async fn account_activities(
        &self,
        user: &UserCredentials,
        account: &ProviderAccountId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        offset: u64,
        limit: u64,
    ) -> Result<wire::ActivityPage, ProviderError> {
        let segments = ["accounts", account.as_str(), "activities"];
        let call = Call::get("getAccountActivities", &segments)
            .for_user(user)
            .for_account(account.as_str())
            .query("startDate", from.to_string())
            .query("endDate", to.to_string())
            .query("offset", offset.to_string())
            .query("limit", limit.to_string());
        self.read(&call).await
    }

    /// An idempotent call: retried after transient failures, decoded as `T`.
    async fn read<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, ProviderError> {
        self.within_budget(call).await?;
        let reply = self
            .http
            .send_idempotent(&self.retry, call.endpoint(), || self.request(call))
            .await
            .map_err(|failure| into_error(call.endpoint(), failure))?;
        self.note_budget(call, &reply);
        decode(call.endpoint, &reply.body)
    }

    /// Waits out the call's account budget when it is spent and comes back within the retry schedule's
    /// longest wait; a longer wait ends the call unsent as [`ProviderError::RateLimited`].
    async fn within_budget(&self, call: &Call<'_>) -> Result<(), ProviderError> {
        let Some(wait) = call.account.and_then(|account| self.budgets.wait(account)) else {
            return Ok(());
        };
        match self.retry.delay(1, Some(wait)) {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            None => Err(ProviderError::RateLimited {
                detail: ErrorDetail::new(
                    Provider::SnapTrade,
                    429,
                    format!(
                        "{}: the account's request budget is spent (X-RateLimit-Account-Remaining: 0) \
                         until its reset; not sent",
                        call.endpoint
                    ),
                ),
                retry_after: Some(wait),
            }),
        }
    }

    fn note_budget(&self, call: &Call<'_>, reply: &Reply) {
        if let Some(account) = call.account {
            self.budgets.record(account, &reply.headers);
        }
    }

    /// A call that must not run twice: resent only while the previous attempt surely never reached
    /// SnapTrade (no connection, or refused with 429).
    async fn send_once(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        self.within_budget(call).await?;
        let mut attempt = 1;
        loop {
            let failure = match self.http.send(call.endpoint(), self.request(call)).await {
                Ok(reply) => {
                    self.note_budget(call, &reply);
                    return Ok(reply);
                }
                Err(failure) => failure,
            };
            let wait = (failure.surely_not_processed() && attempt < self.retry.max_attempts)
                .then(|| self.retry.delay(attempt, failure.retry_after()))
                .flatten();
            let Some(wait) = wait else {
                return Err(into_error(call.endpoint(), failure));
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The signed request: the only place the consumer key and the user secret are exposed.
    fn request(&self, call: &Call<'_>) -> reqwest::RequestBuilder {
        let url = self.signed_url(call);
        let signature = signing::request_signature(
            &self.config.consumer_key,
            url.path(),
            url.query().unwrap_or(""),
            call.body.as_ref(),
        );
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header("Signature", signature);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        request
    }

    /// The URL exactly as sent (and signed): base path, percent-encoded segments, then `clientId`,
    /// `timestamp`, the user's credentials and the call's own parameters.
    fn signed_url(&self, call: &Call<'_>) -> Url {
        let mut url = self.config.base_url.clone();
        url.set_query(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(&call.segments);
        }
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("clientId", &self.config.client_id)
                .append_pair("timestamp", &Utc::now().timestamp().to_string());
            if let Some(user) = call.user {
                query
                    .append_pair("userId", user.user_id.as_str())
                    .append_pair("userSecret", user.user_secret.expose_secret());
            }
            for (name, value) in &call.query {
                query.append_pair(name, value);
            }
        }
        url
    }
}

/// `registerUser`/`resetUserSecret`'s body as credentials. The body holds the secret, so a body that
/// does not parse is withheld from the error.
fn credentials_from(endpoint: &'static str, body: &[u8]) -> Result<UserCredentials, ProviderError> {
    let parsed: UserIdAndSecret = serde_json::from_slice(body)
        .map_err(|error| ProviderError::decode_withheld(Provider::SnapTrade, endpoint, &error))?;
    let user_id = parsed
        .user_id
        .as_deref()
        .map(SnapTradeUserId::parse)
        .transpose()
        .map_err(|error| ProviderError::invalid_data(Provider::SnapTrade, "userId", error))?
        .ok_or_else(|| ProviderError::invalid_data(Provider::SnapTrade, "userId", "is missing"))?;
    let secret: SecretString = parsed.user_secret.ok_or_else(|| {
        ProviderError::invalid_data(Provider::SnapTrade, "userSecret", "is missing")
    })?;
    let user_secret = SnapTradeUserSecret::new(secret)
        .map_err(|error| ProviderError::invalid_data(Provider::SnapTrade, "userSecret", error))?;
    Ok(UserCredentials::new(user_id, user_secret))
}

fn decode<T: DeserializeOwned>(endpoint: &'static str, body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|error| ProviderError::decode(Provider::SnapTrade, endpoint, &error, body))
}

fn into_error(endpoint: Endpoint, failure: Failure) -> ProviderError {
    failure.into_error(endpoint, status_error)
}

/// A non-2xx answer as the crate's error. SnapTrade's code decides where it is more precise than the
/// status (1076 is a bad signature whatever the status; 3003/3011 a disabled connection; 3012 data not
/// ready); otherwise the status does. A body in none of the documented shapes keeps its start as the
/// message, and the status still says what kind of failure it was.
fn status_error(failure: StatusFailure) -> ProviderError {
    let body = serde_json::from_slice::<ErrorBody>(&failure.body)
        .ok()
        .filter(ErrorBody::is_recognised);
    let (code, message) = body.map_or((None, None), |body| (body.code(), body.message()));
    let variant: Option<fn(ErrorDetail) -> ProviderError> = match code.as_deref() {
        Some(CODE_REQUEST_SIGNATURE_REFUSED) => Some(ProviderError::Unauthorized),
        Some(code) if CODES_CONNECTION_DISABLED.contains(&code) => {
            Some(ProviderError::ConnectionDisabled)
        }
        Some(CODE_NOT_READY) => Some(ProviderError::NotReady),
        _ => None,
    };
    match variant {
        Some(variant) => {
            let message = message.unwrap_or_else(|| failure.body_or_reason());
            let mut detail =
                ErrorDetail::new(Provider::SnapTrade, failure.status.as_u16(), message)
                    .with_request_id(failure.request_id);
            detail.code = code;
            variant(detail)
        }
        None => failure.into_error(Provider::SnapTrade, code, message),
    }
}
