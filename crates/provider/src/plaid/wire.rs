//! Plaid's JSON as serde structs, following `plaid-openapi.yml` (API version 2020-09-14).
//!
//! Responses are read leniently, as Plaid's own examples require: every nullable or newer field is an
//! `Option` with a default, unknown fields are ignored, and open vocabularies (account subtypes, security
//! types, transaction subtypes, error codes) stay strings or keep unknown values. Plaid sends money and
//! quantities as JSON numbers; they are read into [`Decimal`] from their decimal text (serde_json's
//! `arbitrary_precision`), so no value ever passes through `f64`.
//!
//! Request bodies borrow the caller's data and the exposed credentials for the moment the body is
//! serialized; nothing here owns a secret except [`ItemPublicTokenExchangeResponse`], whose access token is
//! a [`SecretString`] from the moment it is parsed.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::recorded::Recorded;

/// The `client_id`/`secret` pair Plaid expects in every request body, wrapped around the request itself.
///
/// Built by the client right before the body is serialized; it only borrows the exposed secret.
#[derive(Serialize)]
pub(crate) struct Authenticated<'a, T: Serialize> {
    pub client_id: &'a str,
    pub secret: &'a str,
    #[serde(flatten)]
    pub request: &'a T,
}

/// A request that only names an Item: `/item/get`, `/accounts/get`, `/investments/holdings/get`.
#[derive(Serialize)]
pub(crate) struct AccessTokenRequest<'a> {
    pub access_token: &'a str,
}

/// `/item/remove` request body.
#[derive(Serialize)]
pub(crate) struct ItemRemoveRequest<'a> {
    pub access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_note: Option<&'a str>,
}

/// `/item/webhook/update` request body (`ItemWebhookUpdateRequest`): `webhook` is `nullable: true`, and `null`
/// removes the Item's webhook, so it is always sent.
#[derive(Serialize)]
pub(crate) struct ItemWebhookUpdateRequest<'a> {
    pub access_token: &'a str,
    pub webhook: Option<&'a str>,
}

/// `/item/webhook/update` response (`ItemWebhookUpdateResponse.required: [item, request_id]`).
#[derive(Debug, Clone, Deserialize)]
pub struct ItemWebhookUpdateResponse {
    /// The Item as it now is.
    pub item: Item,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// `/item/public_token/exchange` request body.
#[derive(Serialize)]
pub(crate) struct PublicTokenExchangeRequest<'a> {
    pub public_token: &'a str,
}

/// `/sandbox/public_token/create` request body (`SandboxPublicTokenCreateRequest`).
#[derive(Serialize)]
pub(crate) struct SandboxPublicTokenCreateRequest<'a> {
    pub institution_id: &'a str,
    pub initial_products: &'a [String],
}

/// `/link/token/create` request body.
#[derive(Serialize)]
pub(crate) struct LinkTokenCreateRequest<'a> {
    pub client_name: &'a str,
    pub language: &'a str,
    pub country_codes: &'a [String],
    pub user: LinkTokenUser<'a>,
    /// Empty in update mode: Plaid rejects `products` together with `access_token`.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub products: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<&'a str>,
}

/// The `user` object of `/link/token/create`.
#[derive(Serialize)]
pub(crate) struct LinkTokenUser<'a> {
    pub client_user_id: &'a str,
}

/// `/investments/transactions/get` request body.
#[derive(Serialize)]
pub(crate) struct InvestmentTransactionsRequest<'a> {
    pub access_token: &'a str,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub options: InvestmentTransactionsOptions<'a>,
}

/// The `options` object of `/investments/transactions/get`.
#[derive(Serialize)]
pub(crate) struct InvestmentTransactionsOptions<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub account_ids: &'a [String],
    pub count: u32,
    pub offset: u64,
}

/// `/link/token/create` response.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkTokenCreateResponse {
    /// The token the front end hands to Plaid Link.
    pub link_token: String,
    /// When the token stops working (four hours after creation).
    pub expiration: DateTime<Utc>,
    /// A URL for Hosted Link, when it was requested.
    #[serde(default)]
    pub hosted_link_url: Option<String>,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// `/item/public_token/exchange` response.
#[derive(Debug, Deserialize)]
pub struct ItemPublicTokenExchangeResponse {
    /// The Item's access token; a secret from the moment it is parsed.
    pub access_token: SecretString,
    /// The Item's id.
    pub item_id: String,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// `/sandbox/public_token/create` response.
#[derive(Debug, Deserialize)]
pub struct SandboxPublicTokenCreateResponse {
    /// A public token for a new test Item, to exchange like one from Link; kept secret from the moment it
    /// is parsed.
    pub public_token: SecretString,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// `/accounts/get` response.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountsGetResponse {
    /// The Item's accounts.
    pub accounts: Vec<Account>,
    /// The Item itself.
    pub item: Item,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// `/investments/holdings/get` response.
#[derive(Debug, Clone, Deserialize)]
pub struct InvestmentsHoldingsGetResponse {
    /// The Item's accounts, investment and otherwise.
    pub accounts: Vec<Account>,
    /// One entry per (account, security).
    pub holdings: Vec<Holding>,
    /// Every security a holding refers to.
    pub securities: Vec<Security>,
    /// The Item itself.
    pub item: Item,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// `/investments/transactions/get` response: one page of transactions.
#[derive(Debug, Clone, Deserialize)]
pub struct InvestmentTransactionsGetResponse {
    /// The Item's accounts.
    pub accounts: Vec<Account>,
    /// This page's transactions, newest first.
    pub(crate) investment_transactions: Vec<Recorded<InvestmentTransaction>>,
    /// Every security this page's transactions refer to.
    pub securities: Vec<Security>,
    /// The Item itself.
    pub item: Item,
    /// How many transactions the whole date range holds, across all pages.
    pub total_investment_transactions: u64,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// `/item/get` response.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemGetResponse {
    /// The Item.
    pub item: Item,
    /// When Plaid last updated each product, if it says.
    #[serde(default)]
    pub status: Option<ItemStatus>,
    /// Plaid's id for this request.
    pub request_id: String,
}

/// A response that carries nothing but Plaid's request id (`/item/remove`).
#[derive(Debug, Clone, Deserialize)]
pub struct RequestIdResponse {
    /// Plaid's id for this request.
    pub request_id: String,
}

/// An account (`AccountBase`, and `InvestmentAccount` in the investments responses).
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// Plaid's account id, stable for the life of the Item.
    pub account_id: String,
    /// Balances as of the last update.
    pub balances: AccountBalance,
    /// The last 2–4 characters of the account number.
    #[serde(default)]
    pub mask: Option<String>,
    /// The name the user or institution gave the account.
    pub name: String,
    /// The institution's official name for the account.
    #[serde(default)]
    pub official_name: Option<String>,
    /// `investment`, `depository`, `credit`, `loan`, `brokerage` or `other` (kept open).
    #[serde(rename = "type")]
    pub account_type: String,
    /// `401k`, `ira`, `brokerage`, …: a list that grows with every Plaid release, so a string.
    #[serde(default)]
    pub subtype: Option<String>,
    /// `business`, `personal` or `unrecognized`.
    #[serde(default)]
    pub holder_category: Option<String>,
    /// An id that survives re-linking at some institutions.
    #[serde(default)]
    pub persistent_account_id: Option<String>,
}

/// `AccountBalance` / `InvestmentAccountBalance`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountBalance {
    /// Funds available to spend or withdraw.
    #[serde(default)]
    pub available: Option<Decimal>,
    /// The total value of the account (for investment accounts: holdings plus cash).
    #[serde(default)]
    pub current: Option<Decimal>,
    /// A credit limit, where there is one.
    #[serde(default)]
    pub limit: Option<Decimal>,
    /// ISO-4217 currency; null exactly when `unofficial_currency_code` is set.
    #[serde(default)]
    pub iso_currency_code: Option<String>,
    /// A currency code outside ISO-4217 (mostly crypto).
    #[serde(default)]
    pub unofficial_currency_code: Option<String>,
    /// Margin loan outstanding, for investment accounts.
    #[serde(default)]
    pub margin_loan_amount: Option<Decimal>,
    /// When the institution last computed the balance, if it says.
    #[serde(default)]
    pub last_updated_datetime: Option<DateTime<Utc>>,
}

/// A holding: one security in one account.
#[derive(Debug, Clone, Deserialize)]
pub struct Holding {
    /// The account holding the security.
    pub account_id: String,
    /// The security, described in the response's `securities`.
    pub security_id: String,
    /// The price the institution reports for one unit.
    pub institution_price: Decimal,
    /// The date of `institution_price`.
    #[serde(default)]
    pub institution_price_as_of: Option<NaiveDate>,
    /// The time of `institution_price`, when the institution gives one.
    #[serde(default)]
    pub institution_price_datetime: Option<DateTime<Utc>>,
    /// `quantity × institution_price` as the institution reports it.
    pub institution_value: Decimal,
    /// The total cost basis, when known.
    #[serde(default)]
    pub cost_basis: Option<Decimal>,
    /// Units held (shares, or the face value for some fixed income).
    pub quantity: Decimal,
    /// ISO-4217 currency of the prices.
    #[serde(default)]
    pub iso_currency_code: Option<String>,
    /// Non-ISO currency of the prices.
    #[serde(default)]
    pub unofficial_currency_code: Option<String>,
    /// Vested units, for stock plans.
    #[serde(default)]
    pub vested_quantity: Option<Decimal>,
    /// Value of the vested units.
    #[serde(default)]
    pub vested_value: Option<Decimal>,
}

/// A security (stock, fund, option, bond, cash, crypto…).
#[derive(Debug, Clone, Deserialize)]
pub struct Security {
    /// Plaid's security id.
    pub security_id: String,
    /// The ISIN, when Plaid has it.
    #[serde(default)]
    pub isin: Option<String>,
    /// The CUSIP, when Plaid has it.
    #[serde(default)]
    pub cusip: Option<String>,
    /// The institution's own id for the security.
    #[serde(default)]
    pub institution_security_id: Option<String>,
    /// The institution behind `institution_security_id`.
    #[serde(default)]
    pub institution_id: Option<String>,
    /// For a cash sweep or similar, the security it stands in for.
    #[serde(default)]
    pub proxy_security_id: Option<String>,
    /// A descriptive name.
    #[serde(default)]
    pub name: Option<String>,
    /// The trading symbol, when it has one.
    #[serde(default)]
    pub ticker_symbol: Option<String>,
    /// Whether the institution treats it as cash.
    #[serde(default)]
    pub is_cash_equivalent: Option<bool>,
    /// `equity`, `etf`, `mutual fund`, `derivative`, `cash`, … (open; has been null in practice).
    #[serde(default, rename = "type")]
    pub security_type: Option<String>,
    /// `common stock`, `option`, `bond`, … (open).
    #[serde(default)]
    pub subtype: Option<String>,
    /// The last close price Plaid knows.
    #[serde(default)]
    pub close_price: Option<Decimal>,
    /// The date of `close_price`.
    #[serde(default)]
    pub close_price_as_of: Option<NaiveDate>,
    /// When the price was last updated.
    #[serde(default)]
    pub update_datetime: Option<DateTime<Utc>>,
    /// ISO-4217 currency of `close_price`.
    #[serde(default)]
    pub iso_currency_code: Option<String>,
    /// Non-ISO currency of `close_price`.
    #[serde(default)]
    pub unofficial_currency_code: Option<String>,
    /// ISO-10383 market identifier (`XNAS`, …).
    #[serde(default)]
    pub market_identifier_code: Option<String>,
    /// Sector classification.
    #[serde(default)]
    pub sector: Option<String>,
    /// Industry classification.
    #[serde(default)]
    pub industry: Option<String>,
    /// ISO-10962 classification code.
    #[serde(default)]
    pub cfi_code: Option<String>,
    /// The 12-character FIGI (Financial Instrument Global Identifier). Required and nullable since Plaid's
    /// spec 1.778.0 (plaid-python 46.0.0, `Security.figi`); absent from older answers, which still read.
    #[serde(default)]
    pub figi: Option<String>,
    /// The contract, when the security is an option.
    #[serde(default)]
    pub option_contract: Option<OptionContract>,
}

/// The option contract behind a derivative security.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OptionContract {
    /// `put` or `call`.
    pub contract_type: String,
    /// The expiration date.
    pub expiration_date: NaiveDate,
    /// The strike price.
    pub strike_price: Decimal,
    /// The underlying's ticker.
    pub underlying_security_ticker: String,
}

/// An investment transaction (buy, sell, dividend, fee, transfer…).
#[derive(Debug, Clone, Deserialize)]
pub struct InvestmentTransaction {
    /// Plaid's id for the transaction.
    pub investment_transaction_id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// The security involved, if any (cash movements have none).
    #[serde(default)]
    pub security_id: Option<String>,
    /// The posting date.
    pub date: NaiveDate,
    /// The execution time, when the institution gives one.
    #[serde(default)]
    pub transaction_datetime: Option<DateTime<Utc>>,
    /// The institution's description.
    pub name: String,
    /// Units: positive when bought, negative when sold.
    pub quantity: Decimal,
    /// Cash: positive when debited from the account, negative when credited.
    pub amount: Decimal,
    /// Price per unit.
    pub price: Decimal,
    /// Fees, when reported.
    #[serde(default)]
    pub fees: Option<Decimal>,
    /// `buy`, `sell`, `cancel`, `cash`, `fee` or `transfer` (kept open).
    #[serde(rename = "type")]
    pub transaction_type: String,
    /// `dividend`, `buy`, `sell`, `contribution`, … (48 values and growing).
    pub subtype: String,
    /// ISO-4217 currency.
    #[serde(default)]
    pub iso_currency_code: Option<String>,
    /// Non-ISO currency.
    #[serde(default)]
    pub unofficial_currency_code: Option<String>,
}

/// An Item: one login at one institution.
#[derive(Debug, Clone, Deserialize)]
pub struct Item {
    /// Plaid's Item id.
    pub item_id: String,
    /// The institution's Plaid id.
    #[serde(default)]
    pub institution_id: Option<String>,
    /// The institution's name (newer responses only).
    #[serde(default)]
    pub institution_name: Option<String>,
    /// The webhook URL Plaid calls for this Item.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Non-null when the Item is in an error state (e.g. `ITEM_LOGIN_REQUIRED`).
    #[serde(default)]
    pub error: Option<PlaidErrorBody>,
    /// Products the Item could still add.
    #[serde(default)]
    pub available_products: Vec<String>,
    /// Products Plaid bills for on this Item.
    #[serde(default)]
    pub billed_products: Vec<String>,
    /// Products the Item was created or updated with.
    #[serde(default)]
    pub products: Vec<String>,
    /// When the user's consent runs out (EU/UK Items).
    #[serde(default)]
    pub consent_expiration_time: Option<DateTime<Utc>>,
    /// `background` or `user_present_required`.
    #[serde(default)]
    pub update_type: Option<String>,
    /// When the Item was created (`/item/get` only).
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// The `status` object of `/item/get`.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemStatus {
    /// Investments product updates.
    #[serde(default)]
    pub investments: Option<ProductStatus>,
    /// Transactions product updates.
    #[serde(default)]
    pub transactions: Option<ProductStatus>,
}

/// When a product last updated successfully and last failed.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductStatus {
    /// The last successful update.
    #[serde(default)]
    pub last_successful_update: Option<DateTime<Utc>>,
    /// The last failed update.
    #[serde(default)]
    pub last_failed_update: Option<DateTime<Utc>>,
}

/// Plaid's error object, the body of every non-200 response and of `Item.error`.
#[derive(Debug, Clone, Deserialize)]
pub struct PlaidErrorBody {
    /// The broad category (`ITEM_ERROR`, `RATE_LIMIT_EXCEEDED`, `API_ERROR`, …).
    pub error_type: String,
    /// The specific code (`ITEM_LOGIN_REQUIRED`, `PRODUCT_NOT_READY`, …); an open set.
    pub error_code: String,
    /// A finer reason for some codes.
    #[serde(default)]
    pub error_code_reason: Option<String>,
    /// A developer-facing message; not stable, never matched on.
    #[serde(default)]
    pub error_message: Option<String>,
    /// A message fit to show the user, when there is one.
    #[serde(default)]
    pub display_message: Option<String>,
    /// Plaid's id for the failed request.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The HTTP status Plaid meant.
    #[serde(default)]
    pub status: Option<u16>,
    /// What Plaid suggests doing about it.
    #[serde(default)]
    pub suggested_action: Option<String>,
}
