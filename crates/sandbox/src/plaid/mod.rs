//! The Plaid server: Link tokens, sandbox public tokens, Items with investment accounts, holdings and
//! paginated investment transactions.

mod history;
mod routes;
mod state;
mod vocabulary;
mod webhook;

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex};

use crate::knobs::{Knobs, RequestLog, lock};

use crate::server::InstrumentedServer;
pub use routes::FiredWebhook;
use state::Item;
pub use webhook::{PlaidWebhookSigner, SignedPlaidWebhook, VERIFICATION_HEADER, body_sha256};

/// What [`PlaidSandbox::seed_item`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedItem {
    /// Plaid institution id, e.g. `"ins_109508"`.
    pub institution_id: String,
    /// Investment accounts in the Item.
    pub accounts: usize,
    /// Holdings per account: ACHN, DOGE (quoted in BTC), MSFT, then an option contract bought for a cent, as
    /// in plaid-openapi.yml's holdings example; synthetic funds after that.
    pub holdings_per_account: usize,
    /// Investment transactions in the Item, over all its accounts, generated on demand (100,000 costs nothing
    /// until paged): buys and sells of what it holds, dividends, interest, deposits, withdrawals, fees, a
    /// withheld tax, a reinvested dividend and a split, over the last two years, newest first.
    pub transactions: u64,
}

/// The transactions of a default Item: 600 in each of its two accounts over two years, so
/// `/investments/transactions/get` pages them in three (`InvestmentsTransactionsGetRequestOptions.count`:
/// "maximum: 500").
const DEFAULT_TRANSACTIONS: u64 = 1_200;

impl Default for SeedItem {
    fn default() -> Self {
        Self {
            institution_id: "ins_109508".to_owned(),
            accounts: 2,
            holdings_per_account: 4,
            transactions: DEFAULT_TRANSACTIONS,
        }
    }
}

impl SeedItem {
    /// An Item with `accounts` accounts, `holdings_per_account` holdings each and `transactions` transactions.
    pub fn new(accounts: usize, holdings_per_account: usize, transactions: u64) -> Self {
        Self {
            accounts,
            holdings_per_account,
            transactions,
            ..Self::default()
        }
    }
}

/// What [`PlaidSandbox::seed_item`] created.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeededItem {
    /// The access token that reads the Item.
    pub access_token: String,
    /// The Item id.
    pub item_id: String,
    /// The Item's account ids, in order.
    pub account_ids: Vec<String>,
}

impl std::fmt::Debug for SeededItem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SeededItem")
            .field("item_id", &self.item_id)
            .field("account_ids", &self.account_ids)
            .finish_non_exhaustive()
    }
}

/// The running Plaid server, with its knobs and its state.
pub struct PlaidSandbox {
    served: InstrumentedServer,
    shared: Arc<routes::Shared>,
}

// By hand, so the credentials and the state (user secrets, access tokens) never reach a Debug line.
impl std::fmt::Debug for PlaidSandbox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PlaidSandbox")
            .field("base_url", &self.base_url())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl PlaidSandbox {
    pub(crate) async fn start(client_id: &str, secret: &str) -> io::Result<Self> {
        let shared = Arc::new(routes::Shared {
            state: Mutex::new(routes::PlaidState {
                items: HashMap::new(),
                public_tokens: HashMap::new(),
                removed_tokens: HashSet::new(),
                clock_offset: chrono::Duration::zero(),
                default_transactions: SeedItem::default().transactions,
                webhook_keys: webhook::WebhookKeys::generate(),
                item_webhooks: HashMap::new(),
                pending_webhooks: HashMap::new(),
                fired_webhooks: Vec::new(),
                revisions: Default::default(),
            }),
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
        });
        let served =
            InstrumentedServer::spawn(routes::router(shared.clone()), routes::PlaidDialect).await?;
        Ok(Self { served, shared })
    }

    /// Base URL, e.g. `http://127.0.0.1:41235`; paths are Plaid's (`/accounts/get`).
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    /// The `client_id` the server accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The `secret` the server accepts.
    pub fn secret(&self) -> &str {
        &self.shared.secret
    }

    /// Fault injection and latency for this server.
    pub fn knobs(&self) -> &Knobs {
        self.served.knobs()
    }

    /// Every request this server received.
    pub fn log(&self) -> &RequestLog {
        self.served.log()
    }

    /// Creates a linked Item directly, as Link plus /item/public_token/exchange would.
    pub fn seed_item(&self, seed: SeedItem) -> SeededItem {
        let item = state::Item::generate(
            &seed.institution_id,
            seed.accounts,
            seed.holdings_per_account,
            seed.transactions,
        );
        let seeded = SeededItem {
            access_token: format!("access-sandbox-{}", uuid::Uuid::new_v4()),
            item_id: item.item_id.clone(),
            account_ids: item
                .accounts
                .iter()
                .map(|account| account.account_id.clone())
                .collect(),
        };
        lock(&self.shared.state)
            .items
            .insert(seeded.access_token.clone(), item);
        seeded
    }

    /// How many investment transactions Items made through /item/public_token/exchange get (default 1,200).
    pub fn set_default_transactions(&self, transactions: u64) {
        lock(&self.shared.state).default_transactions = transactions;
    }

    /// Breaks an Item: data calls answer ITEM_LOGIN_REQUIRED and /item/get shows the error, until
    /// [`PlaidSandbox::repair_login`]. Returns false if no Item has this id.
    pub fn require_login(&self, item_id: &str) -> bool {
        self.set_login_required(item_id, true)
    }

    /// Repairs an Item broken by [`PlaidSandbox::require_login`] or [`PlaidSandbox::revoke_permission`]: what
    /// the user going through Link's update mode does (plaid-openapi.yml `/sandbox/item/reset_login`: "you can
    /// then use Plaid Link update mode to restore the Item to a good state"; `UserPermissionRevokedWebhook`: "To
    /// attempt to restore the Item, it can be sent through update mode").
    pub fn repair_login(&self, item_id: &str) -> bool {
        self.with_item(item_id, |item| {
            item.login_required = false;
            item.permission_revoked = false;
        })
    }

    /// Revokes the user's consent to an Item: data calls answer `USER_PERMISSION_REVOKED` (an `ITEM_ERROR`, as
    /// plaid-openapi.yml's `UserPermissionRevokedWebhook` example carries it) and /item/get shows the error, until
    /// [`PlaidSandbox::repair_login`]. Returns false if no Item has this id.
    pub fn revoke_permission(&self, item_id: &str) -> bool {
        self.with_item(item_id, |item| item.permission_revoked = true)
    }

    fn set_login_required(&self, item_id: &str, required: bool) -> bool {
        self.with_item(item_id, |item| item.login_required = required)
    }

    fn with_item(&self, item_id: &str, change: impl FnOnce(&mut Item)) -> bool {
        let mut state = lock(&self.shared.state);
        let found = state
            .items
            .values_mut()
            .find(|item| item.item_id == item_id);
        found.map(change).is_some()
    }

    /// Moves the sandbox's clock forward by `by`, so tokens age as if that time had passed (public tokens
    /// expire 30 minutes after creation).
    pub fn advance_clock(&self, by: chrono::Duration) {
        let mut state = lock(&self.shared.state);
        state.clock_offset += by;
    }

    /// The `kid` of the key webhooks are signed with now (served by `/webhook_verification_key/get`).
    pub fn webhook_key_id(&self) -> String {
        lock(&self.shared.state)
            .webhook_keys
            .current()
            .kid()
            .to_owned()
    }

    /// `payload` signed now with the sandbox's current key, as Plaid signs a delivery: for a service's tests of
    /// its own webhook route, whose verifier fetches the key from this server.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use serde_json::json;
    /// use tributary_sandbox::Sandbox;
    ///
    /// let sandbox = Sandbox::start().await;
    /// // `HoldingsDefaultUpdateWebhook`'s example from plaid-openapi.yml.
    /// let delivery = sandbox.plaid().sign_webhook(&json!({
    ///     "webhook_type": "HOLDINGS",
    ///     "webhook_code": "DEFAULT_UPDATE",
    ///     "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
    ///     "error": null,
    ///     "new_holdings": 19,
    ///     "updated_holdings": 0,
    ///     "environment": "sandbox",
    /// }));
    /// // POST `delivery.body` to your route with the header `Plaid-Verification: <delivery.verification>`.
    /// assert_eq!(delivery.verification.split('.').count(), 3);
    /// # }
    /// ```
    pub fn sign_webhook(&self, payload: &serde_json::Value) -> SignedPlaidWebhook {
        self.sign_webhook_at(payload, chrono::Utc::now())
    }

    /// [`sign_webhook`](Self::sign_webhook) with the token issued at `issued_at` (a stale one, for a test).
    pub fn sign_webhook_at(
        &self,
        payload: &serde_json::Value,
        issued_at: chrono::DateTime<chrono::Utc>,
    ) -> SignedPlaidWebhook {
        lock(&self.shared.state)
            .webhook_keys
            .current()
            .sign_at(payload, issued_at)
    }

    /// Rotates the webhook signing key, as Plaid does: the old key is still served, now with `expired_at`, and
    /// a new one signs from here on. Returns the new `kid`.
    pub fn rotate_webhook_key(&self) -> String {
        let mut state = lock(&self.shared.state);
        let now = chrono::Utc::now() + state.clock_offset;
        state.webhook_keys.rotate(now)
    }

    /// Sets the webhook URL of the Item `item_id` (what `options.webhook` of `/sandbox/public_token/create`
    /// sets), where `/sandbox/item/fire_webhook` delivers. Returns false if no Item has this id.
    pub fn set_item_webhook(&self, item_id: &str, url: &str) -> bool {
        let mut state = lock(&self.shared.state);
        if !state.items.values().any(|item| item.item_id == item_id) {
            return false;
        }
        state
            .item_webhooks
            .insert(item_id.to_owned(), url.to_owned());
        true
    }

    /// Every delivery `/sandbox/item/fire_webhook` sent, in order.
    pub fn fired_webhooks(&self) -> Vec<FiredWebhook> {
        lock(&self.shared.state).fired_webhooks.clone()
    }

    /// How many Items are linked (removed ones excluded).
    pub fn item_count(&self) -> usize {
        lock(&self.shared.state).items.len()
    }
}
