//! The Plaid Investments client.
//!
//! Every Plaid endpoint is a `POST` with a JSON body carrying `client_id` and `secret`, pinned to API
//! version `2020-09-14` by the `Plaid-Version` header. Reads (`/accounts/get`, `/investments/*/get`,
//! `/item/get`) are safe to repeat and are retried on 429, 5xx and connection failures;
//! `/link/token/create`, `/item/public_token/exchange` and `/item/remove` change state and are sent once.
//!
//! The client's own methods are Link's: [`create_link_token`](crate::plaid::PlaidClient::create_link_token),
//! [`exchange_public_token`](crate::plaid::PlaidClient::exchange_public_token),
//! [`create_sandbox_public_token`](crate::plaid::PlaidClient::create_sandbox_public_token) and
//! [`remove_item`](crate::plaid::PlaidClient::remove_item). An Item's data is read through
//! [`Aggregation`](crate::capability::Aggregation), in domain types; Plaid's JSON stays inside this module.
//!
//! Plaid's webhooks are verified by [`PlaidWebhookVerifier`](crate::plaid::PlaidWebhookVerifier) (the
//! `Plaid-Verification` ES256 JWT, its key from `/webhook_verification_key/get`) and read as
//! [`PlaidWebhook`](crate::plaid::PlaidWebhook) events; see [`webhook`](crate::plaid::webhook).
//!
//! ```no_run
//! # async fn run() -> Result<(), tributary_provider::ProviderError> {
//! use chrono::NaiveDate;
//! use tributary_provider::capability::Aggregation;
//! use tributary_provider::plaid::{PlaidClient, PlaidConfig};
//!
//! let plaid = PlaidClient::new(PlaidConfig::from_env()?)?;
//! let item = plaid.exchange_public_token("public-sandbox-…").await?;
//! let holdings = plaid.positions(&item.access_token).await?;
//! println!("{} positions", holdings.items.len());
//! let (from, to) = (
//!     NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
//!     NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
//! );
//! let mut cursor = None;
//! loop {
//!     let page = plaid.transactions(&item.access_token, from, to, cursor).await?;
//!     println!("{} transactions", page.transactions.len());
//!     match page.next {
//!         Some(next) => cursor = Some(next),
//!         None => break,
//!     }
//! }
//! # Ok(()) }
//! ```

mod config;
mod convert;
mod error_codes;
#[cfg(test)]
mod tests;
pub mod webhook;
// The provider's JSON in full, as its spec describes it. A field no conversion reads yet is still parsed, so
// a value of the wrong shape is refused where it arrives; the unit tests read every field.
#[allow(dead_code)]
mod wire;

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use config::{
    ENV_BASE_URL, ENV_CLIENT_ID, ENV_ENVIRONMENT, ENV_SECRET, PlaidConfig, PlaidEnvironment,
};
use tributary_domain::Provider;
pub use webhook::{
    PlaidWebhook, PlaidWebhookEnvironment, PlaidWebhookError, PlaidWebhookKind,
    PlaidWebhookVerifier, SignedDelivery, WebhookVerificationKey,
};

use crate::config::endpoint_url;
use crate::error::ProviderError;
use crate::http::{self, Backoff, HttpClient};
use wire::{
    AccessTokenRequest, AccountsGetResponse, Authenticated, InvestmentTransactionsGetResponse,
    InvestmentTransactionsOptions, InvestmentTransactionsRequest, InvestmentsHoldingsGetResponse,
    ItemGetResponse, ItemPublicTokenExchangeResponse, ItemRemoveRequest, ItemWebhookUpdateRequest,
    ItemWebhookUpdateResponse, LinkTokenCreateRequest, LinkTokenCreateResponse, LinkTokenUser,
    PublicTokenExchangeRequest, RequestIdResponse, SandboxPublicTokenCreateRequest,
    SandboxPublicTokenCreateResponse,
};

/// The API version every request pins.
pub const PLAID_VERSION: &str = "2020-09-14";

/// The most transactions Plaid returns per page (`options.count` maximum).
pub(crate) const MAX_PAGE_SIZE: u32 = 500;

/// An Item's access token: the key to one user's data at one institution.
///
/// Never shown by `Debug`, never serialized, never logged; it is exposed only where a request body is built.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    /// Wraps a stored token.
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }

    /// The token itself, for storing it sealed.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl From<SecretString> for AccessToken {
    fn from(token: SecretString) -> Self {
        Self(token)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

/// The result of exchanging Link's public token: the new Item and its access token.
#[derive(Debug)]
pub struct LinkedItem {
    /// The Item's access token (a secret).
    pub access_token: AccessToken,
    /// The Item's id.
    pub item_id: String,
    /// Plaid's id for the exchange request.
    pub request_id: String,
}

/// A Link token made by `/link/token/create`, for the front end to open Plaid Link with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    /// The token the front end hands to Plaid Link.
    pub link_token: String,
    /// When the token stops working (four hours after creation).
    pub expiration: DateTime<Utc>,
    /// A URL for Hosted Link, when it was requested.
    pub hosted_link_url: Option<String>,
    /// Plaid's id for the request.
    pub request_id: String,
}

impl LinkToken {
    fn from_response(response: LinkTokenCreateResponse) -> Self {
        Self {
            link_token: response.link_token,
            expiration: response.expiration,
            hosted_link_url: response.hosted_link_url,
            request_id: response.request_id,
        }
    }
}

/// What `/link/token/create` needs: who the user is and what Link should ask for.
#[derive(Debug, Clone)]
pub struct LinkTokenRequest {
    /// Our id for the user (Tributary's user id); Plaid ties the Item to it.
    pub client_user_id: String,
    /// The app name Link shows (at most 30 characters).
    pub client_name: String,
    /// Link's language (`en`, `fr`, …).
    pub language: String,
    /// Institutions' countries (`US`, `CA`, …).
    pub country_codes: Vec<String>,
    /// Products to initialize the Item with; `["investments"]` by default.
    pub products: Vec<String>,
    /// Where Plaid sends webhooks for the Item.
    pub webhook: Option<String>,
    /// The OAuth redirect URI registered with Plaid.
    pub redirect_uri: Option<String>,
    /// Update mode: re-authenticate this existing Item instead of creating one.
    pub access_token: Option<AccessToken>,
}

impl LinkTokenRequest {
    /// A request for a new Item with the investments product, in English, for US institutions.
    pub fn investments(client_user_id: impl Into<String>, client_name: impl Into<String>) -> Self {
        Self {
            client_user_id: client_user_id.into(),
            client_name: client_name.into(),
            language: "en".into(),
            country_codes: vec!["US".into()],
            products: vec!["investments".into()],
            webhook: None,
            redirect_uri: None,
            access_token: None,
        }
    }

    /// Update mode for an Item that needs the user again (e.g. after `ITEM_LOGIN_REQUIRED`).
    pub fn update(mut self, access_token: AccessToken) -> Self {
        self.access_token = Some(access_token);
        self
    }
}

/// Whether a call may be sent again after a failure that left its outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// A read: repeating it changes nothing.
    Safe,
    /// A write: a second attempt could create or remove something twice.
    Never,
}

/// A Plaid operation: its path (also its name in logs and errors) and whether it may be retried.
#[derive(Debug, Clone, Copy)]
struct Operation {
    path: &'static str,
    repeat: Repeat,
}

const LINK_TOKEN_CREATE: Operation = Operation {
    path: "/link/token/create",
    repeat: Repeat::Never,
};
const PUBLIC_TOKEN_EXCHANGE: Operation = Operation {
    path: "/item/public_token/exchange",
    repeat: Repeat::Never,
};
const SANDBOX_PUBLIC_TOKEN_CREATE: Operation = Operation {
    path: "/sandbox/public_token/create",
    repeat: Repeat::Never,
};
const ACCOUNTS_GET: Operation = Operation {
    path: "/accounts/get",
    repeat: Repeat::Safe,
};
const HOLDINGS_GET: Operation = Operation {
    path: "/investments/holdings/get",
    repeat: Repeat::Safe,
};
const TRANSACTIONS_GET: Operation = Operation {
    path: "/investments/transactions/get",
    repeat: Repeat::Safe,
};
const ITEM_GET: Operation = Operation {
    path: "/item/get",
    repeat: Repeat::Safe,
};
const ITEM_WEBHOOK_UPDATE: Operation = Operation {
    path: "/item/webhook/update",
    // Setting the same URL twice leaves the Item as once, but each call fires `WEBHOOK_UPDATE_ACKNOWLEDGED`:
    // not repeated on a failure whose outcome is unknown.
    repeat: Repeat::Never,
};
const ITEM_REMOVE: Operation = Operation {
    path: "/item/remove",
    repeat: Repeat::Never,
};

/// The Plaid client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct PlaidClient {
    config: PlaidConfig,
    http: HttpClient,
    retry: Backoff,
}

impl PlaidClient {
    /// A client for `config`, with its own configured HTTP client.
    pub fn new(config: PlaidConfig) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::Plaid,
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
    pub fn config(&self) -> &PlaidConfig {
        &self.config
    }

    /// Creates a Link token for the front end (`/link/token/create`). Not retried.
    pub async fn create_link_token(
        &self,
        request: &LinkTokenRequest,
    ) -> Result<LinkToken, ProviderError> {
        // Plaid refuses `products` in update mode: the Item already has them.
        let products: &[String] = if request.access_token.is_some() {
            &[]
        } else {
            &request.products
        };
        let body = LinkTokenCreateRequest {
            client_name: &request.client_name,
            language: &request.language,
            country_codes: &request.country_codes,
            user: LinkTokenUser {
                client_user_id: &request.client_user_id,
            },
            products,
            webhook: request.webhook.as_deref(),
            redirect_uri: request.redirect_uri.as_deref(),
            access_token: request
                .access_token
                .as_ref()
                .map(|token| token.0.expose_secret()),
        };
        let response: LinkTokenCreateResponse = self.call(LINK_TOKEN_CREATE, &body).await?;
        Ok(LinkToken::from_response(response))
    }

    /// Exchanges Link's public token for the Item's access token (`/item/public_token/exchange`). Not retried:
    /// a public token works once.
    pub async fn exchange_public_token(
        &self,
        public_token: &str,
    ) -> Result<LinkedItem, ProviderError> {
        let response: ItemPublicTokenExchangeResponse = self
            .call(
                PUBLIC_TOKEN_EXCHANGE,
                &PublicTokenExchangeRequest { public_token },
            )
            .await?;
        Ok(LinkedItem {
            access_token: AccessToken(response.access_token),
            item_id: response.item_id,
            request_id: response.request_id,
        })
    }

    /// A public token for a new test Item at `institution_id` (`ins_109508`, "First Platypus Bank", is
    /// Plaid's usual one), made without Link: `/sandbox/public_token/create`, which only Plaid's sandbox
    /// answers. Exchange it with [`exchange_public_token`](Self::exchange_public_token). Not retried: each
    /// call makes a new token.
    pub async fn create_sandbox_public_token(
        &self,
        institution_id: &str,
        initial_products: &[String],
    ) -> Result<SecretString, ProviderError> {
        let response: SandboxPublicTokenCreateResponse = self
            .call(
                SANDBOX_PUBLIC_TOKEN_CREATE,
                &SandboxPublicTokenCreateRequest {
                    institution_id,
                    initial_products,
                },
            )
            .await?;
        Ok(response.public_token)
    }

    /// The Item's accounts with their balances (`/accounts/get`).
    pub(crate) async fn accounts(
        &self,
        access_token: &AccessToken,
    ) -> Result<AccountsGetResponse, ProviderError> {
        self.call_for_item(
            access_token,
            ACCOUNTS_GET,
            &AccessTokenRequest {
                access_token: access_token.0.expose_secret(),
            },
        )
        .await
    }

    /// The Item's holdings, with their accounts and securities (`/investments/holdings/get`).
    pub(crate) async fn holdings(
        &self,
        access_token: &AccessToken,
    ) -> Result<InvestmentsHoldingsGetResponse, ProviderError> {
        self.call_for_item(
            access_token,
            HOLDINGS_GET,
            &AccessTokenRequest {
                access_token: access_token.0.expose_secret(),
            },
        )
        .await
    }

    /// The Item, its error state and product status (`/item/get`).
    pub(crate) async fn item(
        &self,
        access_token: &AccessToken,
    ) -> Result<ItemGetResponse, ProviderError> {
        self.call_for_item(
            access_token,
            ITEM_GET,
            &AccessTokenRequest {
                access_token: access_token.0.expose_secret(),
            },
        )
        .await
    }

    /// Points the Item's webhooks at `webhook`, or stops them with `None` (`/item/webhook/update`,
    /// `ItemWebhookUpdateRequest.webhook`: "The new webhook URL to associate with the Item. To remove a webhook
    /// from an Item, set to `null`."). Plaid then sends `ITEM` / `WEBHOOK_UPDATE_ACKNOWLEDGED` to the new URL
    /// (`WebhookUpdateAcknowledgedWebhook`). Returns the webhook URL the Item now has, as Plaid answers it
    /// (`ItemWebhookUpdateResponse.item.webhook`). Not retried.
    ///
    /// # Errors
    /// Any [`ProviderError`], sorted as the client sorts Plaid's errors (a URL that is not one is
    /// `INVALID_FIELD`, a token Plaid does not know `INVALID_ACCESS_TOKEN`).
    pub async fn update_item_webhook(
        &self,
        access_token: &AccessToken,
        webhook: Option<&url::Url>,
    ) -> Result<Option<String>, ProviderError> {
        let body = ItemWebhookUpdateRequest {
            access_token: access_token.0.expose_secret(),
            webhook: webhook.map(url::Url::as_str),
        };
        let response: ItemWebhookUpdateResponse = self.call(ITEM_WEBHOOK_UPDATE, &body).await?;
        Ok(response.item.webhook.filter(|url| !url.is_empty()))
    }

    /// Removes the Item and invalidates its access token (`/item/remove`). Not retried. Returns Plaid's
    /// request id.
    pub async fn remove_item(&self, access_token: &AccessToken) -> Result<String, ProviderError> {
        let body = ItemRemoveRequest {
            access_token: access_token.0.expose_secret(),
            reason_code: None,
            reason_note: None,
        };
        let response: RequestIdResponse =
            self.call_for_item(access_token, ITEM_REMOVE, &body).await?;
        Ok(response.request_id)
    }

    /// One page of the Item's investment transactions between two dates, inclusive
    /// (`/investments/transactions/get`): at most `count` (1 to [`MAX_PAGE_SIZE`]) from `offset`, of
    /// `account_ids` only unless empty.
    pub(crate) async fn investment_transactions_page(
        &self,
        access_token: &AccessToken,
        start_date: NaiveDate,
        end_date: NaiveDate,
        account_ids: &[String],
        count: u32,
        offset: u64,
    ) -> Result<InvestmentTransactionsGetResponse, ProviderError> {
        let body = InvestmentTransactionsRequest {
            access_token: access_token.0.expose_secret(),
            start_date,
            end_date,
            options: InvestmentTransactionsOptions {
                account_ids,
                count,
                offset,
            },
        };
        self.call_for_item(access_token, TRANSACTIONS_GET, &body)
            .await
    }

    /// A call about one Item: it draws on that Item's own budget too (Plaid's limits are per Item).
    async fn call_for_item<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        access_token: &AccessToken,
        endpoint: Operation,
        request: &Req,
    ) -> Result<Resp, ProviderError> {
        let name = http::Endpoint::new(Provider::Plaid, endpoint.path)
            .for_key(access_token.0.expose_secret());
        self.send_call(name, endpoint, request).await
    }

    /// Sends one request, retrying reads on failures that left nothing changed.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: Operation,
        request: &Req,
    ) -> Result<Resp, ProviderError> {
        let name = http::Endpoint::new(Provider::Plaid, endpoint.path);
        self.send_call(name, endpoint, request).await
    }

    /// Credentials go into the body here and nowhere else; the body is never logged.
    async fn send_call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        name: http::Endpoint,
        endpoint: Operation,
        request: &Req,
    ) -> Result<Resp, ProviderError> {
        let body = serde_json::to_vec(&Authenticated {
            client_id: &self.config.client_id,
            secret: self.config.secret.expose_secret(),
            request,
        })
        .expect("Plaid request bodies are plain structs that always serialize");
        let url = endpoint_url(&self.config.base_url, endpoint.path);
        let request = || {
            self.http
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .header("Plaid-Version", PLAID_VERSION)
                .body(body.clone())
        };
        let sent = match endpoint.repeat {
            Repeat::Safe => self.http.send_idempotent(&self.retry, name, request).await,
            Repeat::Never => self.http.send(name, request()).await,
        };
        let reply = sent.map_err(|failure| {
            failure.into_error(name, |status| {
                error_codes::status_error(endpoint.path, status)
            })
        })?;
        decode(endpoint, &reply.body)
    }
}

/// Reads a 2xx body. The token exchange's body carries the access token, and the sandbox's token creation a
/// public token, so neither is ever kept in an error.
fn decode<T: DeserializeOwned>(endpoint: Operation, bytes: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|error| {
        if [PUBLIC_TOKEN_EXCHANGE.path, SANDBOX_PUBLIC_TOKEN_CREATE.path].contains(&endpoint.path) {
            ProviderError::decode_withheld(Provider::Plaid, endpoint.path, &error)
        } else {
            ProviderError::decode(Provider::Plaid, endpoint.path, &error, bytes)
        }
    })
}
