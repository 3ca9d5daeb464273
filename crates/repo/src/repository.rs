//! The repository traits, one per aggregate. Every method takes the user it acts for; none reads or writes
//! another user's rows. [`crate::PgStore`] and [`crate::MemoryStore`] implement all of them with the same
//! semantics; with the `mock` feature, `mockall` generates a `Mock…` twin of each.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_domain::{
    AccountId, AccountMode, AccountName, AccountSubtype, AccountType, AuthorizationId,
    BrokerageConnection, BrokerageName, ClientOrderId, ConnectionStatus, ConnectionType, Currency,
    Holding, InstitutionName, InvestmentAccount, NewBrokerageConnection, NewHolding,
    NewInvestmentAccount, NewOrder, NewSnapTradeUser, Order, OrderId, OrderStatus, PortfolioMode,
    Provider, ProviderAccountId, SnapTradeUser, StatusMessage, Symbol, SyncStatus, UserId,
};

use crate::RepoError;

/// Investment accounts (`user_investment_accounts`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Inserts or updates `accounts`, keyed by `(provider, provider_account_id, user_id)`, in one statement, and
    /// returns them as stored, in the order given. An account identical to its row is not rewritten.
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] if an account belongs to another user; [`RepoError::InvalidData`] if a key
    /// appears twice; nothing is written then.
    async fn upsert_accounts(
        &self,
        user: UserId,
        accounts: &[NewInvestmentAccount],
    ) -> Result<Vec<InvestmentAccount>, RepoError>;

    /// One of the user's accounts.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"account"`) if the user has no such account.
    async fn get_account(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<InvestmentAccount, RepoError>;

    /// All the user's accounts, by provider then provider account id.
    async fn list_accounts(&self, user: UserId) -> Result<Vec<InvestmentAccount>, RepoError>;

    /// Records where a sync of the account stands: `sync_status` and `sync_error_message` as given, and
    /// `last_synced = at` when the status is [`SyncStatus::Success`] (other statuses keep the last success).
    /// Recording the same state again rewrites nothing.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"account"`); [`RepoError::Forbidden`] in a user-scoped store (the schema lets
    /// a signed-in user change only an account's name, sync switch and primary flag).
    async fn record_account_sync(
        &self,
        user: UserId,
        account: AccountId,
        status: SyncStatus,
        error_message: Option<StatusMessage>,
        at: DateTime<Utc>,
    ) -> Result<InvestmentAccount, RepoError>;

    /// Records where a sync of each of `states`' accounts stands, as [`Self::record_account_sync`] does for
    /// one, all at `at`, in one statement (a sync of many accounts pays one round trip, not one transaction
    /// per account). Returns how many rows changed: a state recorded already rewrites nothing.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"account_id"`) if an account appears twice; [`RepoError::NotFound`]
    /// (`"account"`) if the user has no such account (another user's included); [`RepoError::Forbidden`] in a
    /// user-scoped store. Nothing is written then.
    async fn record_account_syncs(
        &self,
        user: UserId,
        states: &[AccountSyncState],
        at: DateTime<Utc>,
    ) -> Result<usize, RepoError>;
}

/// Where a sync of one account stands, for [`AccountRepository::record_account_syncs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSyncState {
    /// The account.
    pub account: AccountId,
    /// How its sync went.
    pub status: SyncStatus,
    /// Why it did not succeed, if it did not.
    pub error_message: Option<StatusMessage>,
}

/// SnapTrade user registrations (`snaptrade_users`), one per user, their secret sealed at rest.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SnapTradeUserRepository: Send + Sync {
    /// Registers the user's SnapTrade user, or updates it (keyed by `user_id`). The secret is sealed before it
    /// is stored; re-registering the same id and secret rewrites nothing.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] if another user holds the SnapTrade user id; [`RepoError::Forbidden`] in a
    /// user-scoped store (secrets are backend-only).
    async fn upsert_snaptrade_user(
        &self,
        user: UserId,
        snaptrade_user: &NewSnapTradeUser,
    ) -> Result<SnapTradeUser, RepoError>;

    /// The user's SnapTrade user with its secret opened, if registered.
    ///
    /// # Errors
    /// [`RepoError::Secret`] if the stored secret does not open; [`RepoError::Forbidden`] in a user-scoped store.
    async fn find_snaptrade_user(&self, user: UserId) -> Result<Option<SnapTradeUser>, RepoError>;

    /// Records when the user's SnapTrade data last synced (`last_sync_at`).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"snaptrade user"`) if the user is not registered.
    async fn record_snaptrade_sync(&self, user: UserId, at: DateTime<Utc>)
    -> Result<(), RepoError>;

    /// Removes the user's SnapTrade registration.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"snaptrade user"`) if there is none.
    async fn delete_snaptrade_user(&self, user: UserId) -> Result<(), RepoError>;
}

/// A change of a brokerage connection's health, with what each state records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatusChange {
    /// Working again: the disabled date and error message are cleared.
    Active,
    /// The brokerage login stopped working at `at`.
    Disabled {
        /// When SnapTrade reported it.
        at: DateTime<Utc>,
        /// Why, if known.
        message: Option<StatusMessage>,
    },
    /// The last sync failed; the disabled date is kept.
    Error {
        /// Why.
        message: StatusMessage,
    },
}

impl ConnectionStatusChange {
    /// The status, disabled date and error message a connection has after this change.
    pub(crate) fn apply_to(
        &self,
        current: &BrokerageConnection,
    ) -> (
        ConnectionStatus,
        Option<DateTime<Utc>>,
        Option<StatusMessage>,
    ) {
        match self {
            Self::Active => (ConnectionStatus::Active, None, None),
            Self::Disabled { at, message } => {
                (ConnectionStatus::Disabled, Some(*at), message.clone())
            }
            Self::Error { message } => (
                ConnectionStatus::Error,
                current.disabled_date,
                Some(message.clone()),
            ),
        }
    }
}

/// SnapTrade brokerage connections (`snaptrade_brokerage_connections`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ConnectionRepository: Send + Sync {
    /// Inserts or updates `connections`, keyed by `authorization_id`, in one statement; returns them as stored, in
    /// the order given. A connection identical to its row is not rewritten.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] if another user holds an authorization id; nothing is written then.
    async fn upsert_connections(
        &self,
        user: UserId,
        connections: &[NewBrokerageConnection],
    ) -> Result<Vec<BrokerageConnection>, RepoError>;

    /// One of the user's connections.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"connection"`).
    async fn get_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError>;

    /// All the user's connections, by authorization id.
    async fn list_connections(&self, user: UserId) -> Result<Vec<BrokerageConnection>, RepoError>;

    /// Moves a connection to another state, and its accounts' `connection_status` with it (the accounts naming
    /// it), in one transaction; a change to the state it is already in rewrites nothing.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"connection"`).
    async fn set_connection_status(
        &self,
        user: UserId,
        authorization: AuthorizationId,
        change: ConnectionStatusChange,
    ) -> Result<BrokerageConnection, RepoError>;

    /// Deletes one of the user's connections (SnapTrade deleted it) and returns the row as it was.
    ///
    /// Only the connection row goes. The accounts that name it keep their rows: their
    /// `snaptrade_authorization_id` is not a foreign key to this table, and an account row must outlive its
    /// connection because deleting it would cascade to its orders (`snaptrade_orders.account_id` is
    /// `on delete cascade`), which are financial records. Deactivating those accounts is the caller's.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"connection"`) if the user has no such connection; another user's
    /// connection with that id is never touched.
    async fn delete_connection(
        &self,
        user: UserId,
        authorization: AuthorizationId,
    ) -> Result<BrokerageConnection, RepoError>;
}

/// What replacing a user's holdings did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HoldingsReplaced {
    /// Rows inserted or changed (unchanged rows are not counted: they are not rewritten). On PostgreSQL a row
    /// whose data is unchanged but whose `content_digest` had to be refreshed (written before migration 0012,
    /// changed outside the repository, or digested under a key since rotated) counts too; its `updated_at` stays.
    pub written: usize,
    /// Rows removed because the user no longer holds the symbol in that currency.
    pub removed: usize,
}

/// Aggregated holdings (`user_aggregated_holdings`), one row per user, symbol and currency.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait HoldingRepository: Send + Sync {
    /// Inserts or updates `holdings`, keyed by `(user_id, symbol, currency)`, in one statement; returns how many
    /// rows were inserted or changed.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"symbol"`) if a symbol appears twice in one currency; nothing is written
    /// then.
    async fn upsert_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<usize, RepoError>;

    /// Makes `holdings` the user's whole set, in one transaction: (symbol, currency) pairs not in it are
    /// removed, the rest upserted. Readers see the old set or the new one, never a mix.
    ///
    /// # Errors
    /// As [`Self::upsert_holdings`]; nothing changes on error.
    async fn replace_holdings(
        &self,
        user: UserId,
        holdings: &[NewHolding],
    ) -> Result<HoldingsReplaced, RepoError>;

    /// The user's holding of one symbol in one currency (`None`: the holding whose provider named no
    /// currency).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"holding"`).
    async fn get_holding(
        &self,
        user: UserId,
        symbol: &Symbol,
        currency: Option<Currency>,
    ) -> Result<Holding, RepoError>;

    /// All the user's holdings, by symbol then currency (byte order; no currency first).
    async fn list_holdings(&self, user: UserId) -> Result<Vec<Holding>, RepoError>;
}

/// Orders (`snaptrade_orders`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Inserts or updates `orders`, keyed by `(brokerage_order_id, account_id)`, in one statement; returns them
    /// as stored, in the order given. An order identical to its row is not rewritten.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"account"`) if an order names an account the user does not have;
    /// [`RepoError::InvalidData`] if a key appears twice; nothing is written then.
    async fn upsert_orders(
        &self,
        user: UserId,
        orders: &[NewOrder],
    ) -> Result<Vec<Order>, RepoError>;

    /// One of the user's orders.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"order"`).
    async fn get_order(&self, user: UserId, order: OrderId) -> Result<Order, RepoError>;

    /// The user's orders, newest first (optionally of one account).
    async fn list_orders(
        &self,
        user: UserId,
        account: Option<AccountId>,
    ) -> Result<Vec<Order>, RepoError>;

    /// The user's order placed with `client_order_id` (the key is unique per user, in any of the user's
    /// accounts), if there is one. Another user's order with the same key is never found.
    async fn find_order_by_client_order_id(
        &self,
        user: UserId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, RepoError>;

    /// Rewrites a recorded order, keeping its id, with what the provider answered when it was placed: the
    /// provider's brokerage order id, status and fields. This is how the row recorded `PENDING` before an
    /// order is sent (keyed by its client order id, since no brokerage id exists yet) becomes the provider's
    /// order, so a placed order is one row. When the provider's id is already stored on another row of the
    /// account (a retry of an order confirmed before, or a sync that stored it after the answer was lost), that
    /// row is the order: it takes the answer and keeps its id, and the recorded row is removed, in one
    /// transaction. Returns the order as stored. Confirming the same answer again rewrites nothing.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"order"`) if the user has no such order; [`RepoError::InvalidData`]
    /// (`"account_id"`) if `placed` names another account than the recorded order; [`RepoError::Forbidden`] if
    /// `placed` belongs to another user. Nothing is written then.
    async fn confirm_order(
        &self,
        user: UserId,
        order: OrderId,
        placed: &NewOrder,
    ) -> Result<Order, RepoError>;

    /// Records a new status (and its message) on an order.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"order"`).
    async fn update_order_status(
        &self,
        user: UserId,
        order: OrderId,
        status: OrderStatus,
        message: Option<StatusMessage>,
    ) -> Result<Order, RepoError>;
}

/// What `public.get_user_portfolio_mode` says about a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioSummary {
    /// The mode.
    pub mode: PortfolioMode,
    /// Whether the user's onboarding holds an Alpaca account id.
    pub has_alpaca: bool,
    /// Whether the user has an active Plaid account.
    pub has_plaid: bool,
    /// Whether the user has an active SnapTrade account.
    pub has_snaptrade: bool,
    /// The Alpaca account id, if any.
    pub alpaca_account_id: Option<ProviderAccountId>,
    /// How many active accounts the user has (every provider).
    pub accounts_count: u32,
}

/// A row of `public.v_unified_investment_accounts`: an account with its SnapTrade connection's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnifiedAccount {
    /// The account's id.
    pub id: AccountId,
    /// The owner.
    pub user_id: UserId,
    /// Where the data comes from.
    pub provider: Provider,
    /// The provider's id for the account.
    pub provider_account_id: ProviderAccountId,
    /// The institution's display name.
    pub institution_name: InstitutionName,
    /// The account's display name.
    pub account_name: Option<AccountName>,
    /// The kind of account.
    pub account_type: AccountType,
    /// The finer kind of account.
    pub account_subtype: Option<AccountSubtype>,
    /// Whether the account counts.
    pub is_active: bool,
    /// How the account is operated.
    pub account_mode: AccountMode,
    /// The SnapTrade authorization the account belongs to.
    pub snaptrade_authorization_id: Option<AuthorizationId>,
    /// The brokerage's display name.
    pub brokerage_name: Option<BrokerageName>,
    /// Whether the account may trade.
    pub connection_type: ConnectionType,
    /// The connection health recorded on the account.
    pub connection_status: ConnectionStatus,
    /// The health of the account's SnapTrade connection, when it has one.
    pub brokerage_connection_status: Option<ConnectionStatus>,
    /// When that connection last synced.
    pub brokerage_last_synced: Option<DateTime<Utc>>,
    /// When the account row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the account row last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When the account last synced.
    pub last_synced: Option<DateTime<Utc>>,
}

/// The user's portfolio as a whole: mode, unified accounts, and the Alpaca account that decides the mode.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PortfolioRepository: Send + Sync {
    /// The user's portfolio mode, from `public.get_user_portfolio_mode`.
    async fn portfolio_mode(&self, user: UserId) -> Result<PortfolioSummary, RepoError>;

    /// The user's accounts from `public.v_unified_investment_accounts`, by provider then provider account id.
    async fn unified_accounts(&self, user: UserId) -> Result<Vec<UnifiedAccount>, RepoError>;

    /// Records (or with `None`, clears) the user's Alpaca brokerage account id in `user_onboarding`; a new
    /// onboarding row starts `in_progress`, an existing one keeps its status.
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] in a user-scoped store: onboarding is written by the backend only.
    async fn set_alpaca_account(
        &self,
        user: UserId,
        alpaca_account_id: Option<ProviderAccountId>,
    ) -> Result<(), RepoError>;
}

/// Where a recorded webhook delivery stands (`snaptrade_webhook_events.status`, the inbox of every provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Recorded, not applied yet (being applied, or its process stopped half-way).
    Received,
    /// Applied: a redelivery is acknowledged and not applied again.
    Applied,
    /// Its application failed; [`WebhookRepository::pending_webhooks`] hands it out for a retry.
    Failed,
}

impl WebhookStatus {
    /// The column's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Applied => "applied",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, RepoError> {
        match text {
            "received" => Ok(Self::Received),
            "applied" => Ok(Self::Applied),
            "failed" => Ok(Self::Failed),
            other => Err(RepoError::invalid(
                "status",
                format!("`{other}` is not a webhook status"),
            )),
        }
    }
}

/// A delivery's identity: the provider that sent it, and its delivery id — for SnapTrade its webhook id scoped by
/// the SnapTrade user it names (empty when it names none), so one user's delivery can never block, or be taken
/// for, another's; for Plaid, which sends no webhook id, what its signature binds (the token's issue time and the
/// body's SHA-256), so a replay of one signed delivery is the same key and two events never are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WebhookKey {
    /// Who sent it: [`Provider::SnapTrade`] or [`Provider::Plaid`] (the providers whose webhooks are received).
    pub provider: Provider,
    /// The SnapTrade user the delivery names, as sent (`""` for none, and for every other provider's delivery).
    pub snaptrade_user_id: String,
    /// The delivery id: SnapTrade's webhook id (or, when SnapTrade sent none, what makes the event unique);
    /// Plaid's signed token's `iat` and the body's SHA-256.
    pub webhook_id: String,
}

impl WebhookKey {
    /// A SnapTrade delivery's key.
    pub fn snaptrade(snaptrade_user_id: impl Into<String>, webhook_id: impl Into<String>) -> Self {
        Self {
            provider: Provider::SnapTrade,
            snaptrade_user_id: snaptrade_user_id.into(),
            webhook_id: webhook_id.into(),
        }
    }

    /// A Plaid delivery's key.
    pub fn plaid(webhook_id: impl Into<String>) -> Self {
        Self {
            provider: Provider::Plaid,
            snaptrade_user_id: String::new(),
            webhook_id: webhook_id.into(),
        }
    }
}

/// Whether the inbox takes `provider`'s deliveries (`snaptrade_webhook_events_provider_check`).
pub(crate) fn receives_webhooks(provider: Provider) -> bool {
    matches!(provider, Provider::SnapTrade | Provider::Plaid)
}

/// A verified delivery, as recorded before it is acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewWebhookDelivery {
    /// Its identity.
    pub key: WebhookKey,
    /// Its `eventType` as sent.
    pub event_type: String,
    /// The Tributary user it names; kept only when that user exists (the row goes with the user).
    pub user: Option<UserId>,
    /// The payload as verified (never the deprecated `webhookSecret`): what the delivery is applied from.
    pub payload: serde_json::Value,
    /// Signed but stale when first seen: applied as a resync of its user, never as the command it carries.
    pub hint_only: bool,
}

/// A recorded delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Its identity.
    pub key: WebhookKey,
    /// Its `eventType` as sent.
    pub event_type: String,
    /// The Tributary user it names, when that user exists.
    pub user_id: Option<UserId>,
    /// The payload it is applied from.
    pub payload: serde_json::Value,
    /// Applied as a resync hint only (see [`NewWebhookDelivery::hint_only`]).
    pub hint_only: bool,
    /// Where it stands.
    pub status: WebhookStatus,
    /// How many applications were finished (applied or failed).
    pub attempts: u32,
    /// Why the last application failed.
    pub last_error: Option<String>,
    /// When it was first recorded.
    pub received_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
}

/// The webhook inbox of every provider (`snaptrade_webhook_events`, backend only): every verified delivery is recorded
/// before it is acknowledged and applied from its row, so a failure of ours never loses one, a redelivery is
/// recognised (not after a restart either, nor by another process sharing the database) and never applied twice.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Records a verified delivery as [`WebhookStatus::Received`]: `true` the first time, `false` when its key is
    /// recorded already (a redelivery), which leaves the row as it was. A `user` that does not exist is not kept.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"webhook_id"`, `"event_type"`, `"snaptrade_user_id"`) for an empty or
    /// NUL-carrying value, (`"provider"`) for a provider that sends no webhooks, or (`"snaptrade_user_id"`) for
    /// one set on another provider's delivery; [`RepoError::Unavailable`] if the database cannot be reached: the delivery is then not
    /// recorded, and must not be acknowledged.
    async fn record_webhook(&self, delivery: &NewWebhookDelivery) -> Result<bool, RepoError>;

    /// The recorded delivery with this key, if any.
    async fn find_webhook(&self, key: &WebhookKey) -> Result<Option<WebhookDelivery>, RepoError>;

    /// Marks a delivery applied (one more attempt, the last error cleared).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"webhook"`) if no delivery has this key.
    async fn mark_webhook_applied(&self, key: &WebhookKey) -> Result<(), RepoError>;

    /// Marks a delivery failed with why (one more attempt), so a retry picks it up. An applied delivery stays
    /// applied.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] (`"webhook"`) if no delivery has this key.
    async fn mark_webhook_failed(&self, key: &WebhookKey, error: &str) -> Result<(), RepoError>;

    /// Up to `limit` of `provider`'s deliveries not applied yet (received or failed), oldest first: each
    /// provider's retry reads its own.
    async fn pending_webhooks(
        &self,
        provider: Provider,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, RepoError>;

    /// Deletes the applied deliveries applied before `applied_before` (past the window in which the provider may
    /// still redeliver them); a delivery not applied yet is never purged. Returns how many were deleted.
    async fn purge_webhooks(&self, applied_before: DateTime<Utc>) -> Result<usize, RepoError>;
}

/// Checks a delivery's text fields before it is recorded.
pub(crate) fn check_webhook_delivery(delivery: &NewWebhookDelivery) -> Result<(), RepoError> {
    check_webhook_text("webhook_id", &delivery.key.webhook_id)?;
    check_webhook_text("event_type", &delivery.event_type)?;
    if !receives_webhooks(delivery.key.provider) {
        return Err(RepoError::invalid(
            "provider",
            format!("{} sends no webhooks", delivery.key.provider),
        ));
    }
    if delivery.key.snaptrade_user_id.contains('\0') {
        return Err(RepoError::invalid(
            "snaptrade_user_id",
            "contains a NUL character",
        ));
    }
    if delivery.key.provider != Provider::SnapTrade && !delivery.key.snaptrade_user_id.is_empty() {
        return Err(RepoError::invalid(
            "snaptrade_user_id",
            "is SnapTrade's scope; another provider's delivery has none",
        ));
    }
    Ok(())
}

/// The longest failure reason kept on a delivery: enough to say what went wrong, never a whole response.
pub(crate) const WEBHOOK_ERROR_CHARS: usize = 1000;

/// A failure reason as stored: NUL-free, at most [`WEBHOOK_ERROR_CHARS`] characters.
pub(crate) fn webhook_error_text(error: &str) -> String {
    error
        .chars()
        .filter(|c| *c != '\0')
        .take(WEBHOOK_ERROR_CHARS)
        .collect()
}

/// Checks a webhook's text field before it is stored: PostgreSQL's text refuses NUL, and an empty id names
/// nothing.
pub(crate) fn check_webhook_text(field: &'static str, value: &str) -> Result<(), RepoError> {
    if value.trim().is_empty() {
        return Err(RepoError::invalid(field, "is empty"));
    }
    if value.contains('\0') {
        return Err(RepoError::invalid(field, "contains a NUL character"));
    }
    Ok(())
}

/// How many rows [`SecretRepository::reseal_secrets`] re-seals per transaction unless told otherwise.
pub const RESEAL_BATCH: usize = 500;

/// What re-sealing the stored secrets did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResealReport {
    /// Values sealed again under the keyring's current key.
    pub resealed: usize,
    /// Values left as they were because they do not open under any key the keyring holds (sealed under a key
    /// dropped too early, tampered with, not a sealed value at all). While this is not 0, no previous key may be
    /// dropped: the rows it names would become unreadable for good.
    pub unopenable: usize,
}

/// Sealed columns as a whole, across users: the backend's key rotation.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SecretRepository: Send + Sync {
    /// Re-seals every stored sealed value that is not under the keyring's current key
    /// (`snaptrade_users.snaptrade_user_secret` and `plaid_items.access_token_encrypted`) under it, keeping each value bound to its owner and column, so the
    /// previous keys can then be dropped from the keyring.
    ///
    /// Batched: at most `batch_size` rows per transaction, each batch committed before the next is read, so a
    /// rotation of a million rows holds no long lock. Resumable: a crash or an error half-way leaves every row
    /// either under the new key or untouched, and the same call finishes the rest. Idempotent: a second run finds
    /// nothing to do and reports 0. A value written concurrently (a user registering again) is not overwritten.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"batch_size"`) for a batch size of 0; [`RepoError::Forbidden`] in a
    /// user-scoped store (this is a service operation across users); [`RepoError::Unavailable`] if the database
    /// cannot be reached (the batches committed before stay done).
    async fn reseal_secrets(&self, batch_size: usize) -> Result<ResealReport, RepoError>;
}

/// A user's lock, for work on the user that must not interleave with other work on the same user — in
/// another task, or on PostgreSQL in another process sharing the database (a sync, an order placement).
#[async_trait]
pub trait LockRepository: Send + Sync {
    /// Waits until no one holds `user`'s lock, then holds it until the returned guard is released or dropped.
    /// On PostgreSQL the guard owns one pooled connection holding a session-level advisory lock (keyed by the
    /// user id in its own namespace); in memory it is an in-process lock shared by the store's clones.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] if no connection can be had within the pool's acquire timeout.
    async fn lock_user(&self, user: UserId) -> Result<crate::UserLock, RepoError>;

    /// The same store, with its calls for the lock's user run on the lock's connection (so, between
    /// [`crate::UserLock::begin_writes`] and [`crate::UserLock::commit_writes`], in one transaction that is
    /// saved whole or not at all). Calls for other users are unaffected.
    ///
    /// A store recognises the locks it took by their type ([`crate::UserLock::downcast_ref`]); a decorator
    /// passes the lock on to the store it wraps.
    ///
    /// # Errors
    /// [`RepoError::ForeignLock`] if `lock` was not taken from this store (another store's, or another kind).
    fn within(&self, lock: &crate::UserLock) -> Result<Self, RepoError>
    where
        Self: Sized;
}

/// Every repository at once: what [`crate::PgStore`] and [`crate::MemoryStore`] are, and what a service that
/// needs several aggregates can take as one generic parameter.
pub trait Store:
    AccountRepository
    + SnapTradeUserRepository
    + ConnectionRepository
    + HoldingRepository
    + OrderRepository
    + PortfolioRepository
    + LockRepository
    + WebhookRepository
    + crate::PlaidItemRepository
    + crate::TransactionRepository
    + crate::ValueHistoryRepository
{
}

impl<T> Store for T where
    T: AccountRepository
        + SnapTradeUserRepository
        + ConnectionRepository
        + HoldingRepository
        + OrderRepository
        + PortfolioRepository
        + LockRepository
        + WebhookRepository
        + crate::PlaidItemRepository
        + crate::TransactionRepository
        + crate::ValueHistoryRepository
{
}

/// Where the consumers of providers' event streams stand (`event_stream_positions`, backend only), and whose
/// account an event names. A service operation across users: a user-scoped store refuses every call as
/// [`RepoError::Forbidden`].
///
/// Not part of [`Store`]: only a service that follows a stream needs it, and a store of your own is not made to
/// implement it.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventStreamRepository: Send + Sync {
    /// The id of the last event applied from `stream`, or `None` before the first.
    async fn stream_position(
        &self,
        stream: &crate::StreamName,
    ) -> Result<Option<crate::StreamEventId>, RepoError>;

    /// Moves `stream`'s position to `event` when `event` is past it (or the stream has none yet); returns whether
    /// it moved. An event at or before the position is one already applied: `false`, nothing written, so a
    /// consumer that advances first and applies only on `true` never applies an event twice — not after a
    /// reconnect, not when two consumers race (on PostgreSQL the second waits for the first's transaction, then
    /// finds the position moved).
    ///
    /// `user` is the user whose rows the event changes. In a store bound to that user's lock
    /// ([`LockRepository::within`]) the move joins the lock's unit of writes, so the position and the event's
    /// changes are saved together or not at all. `None` for an event that changes nothing (one naming no user's
    /// account): the move is its own transaction.
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] in a user-scoped store; [`RepoError::Unavailable`] if the database cannot be
    /// reached.
    async fn advance_stream(
        &self,
        user: Option<UserId>,
        stream: &crate::StreamName,
        event: &crate::StreamEventId,
    ) -> Result<bool, RepoError>;

    /// Every stored account of `provider` with the provider's id `provider_account_id`, whoever owns it (one per owner,
    /// ordered by owner id): who an event naming a provider account concerns. Usually one; none when no user
    /// holds it.
    ///
    /// # Errors
    /// [`RepoError::Forbidden`] in a user-scoped store.
    async fn accounts_by_provider_id(
        &self,
        provider: Provider,
        provider_account_id: &ProviderAccountId,
    ) -> Result<Vec<InvestmentAccount>, RepoError>;
}
