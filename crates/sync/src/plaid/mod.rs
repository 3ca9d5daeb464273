//! Plaid, as the engine takes it: each user's Items stored (their access tokens sealed) and synced from the store,
//! so any process sharing the database syncs any user; the link step that turns Plaid Link's public token into a
//! stored Item; and update mode for an Item that needs its user again.

mod items;
mod unlink;
mod webhook;

use std::sync::Arc;

use tributary_domain::{Provider, ProviderItemId, UserId};
use tributary_provider::plaid::{
    AccessToken, LinkToken, LinkTokenRequest, PlaidClient, PlaidWebhookVerifier,
};
use tributary_repo::{NewPlaidItem, Store};

pub use self::items::{StoredItemsSource, item_status_for_code};
pub use self::unlink::PlaidItemUnlinked;
pub(crate) use self::unlink::removed_at_plaid;
pub use self::webhook::PlaidWebhookOutcome;
use crate::history::{AggregationHistory, HistorySource};
use crate::source::{AccountSource, GivenLogins, Logins};
use crate::{ProviderPlugin, SyncEngine, SyncError, SyncReport};

/// Plaid's [`ProviderPlugin`]: a source over the user's stored Items ([`StoredItemsSource`]), plus any access
/// tokens the caller holds itself and hands over ([`Plaid::add_item`]), kept here per user. Plaid does not trade,
/// so there is no desk. It keeps one [`PlaidWebhookVerifier`], so the webhook keys it learns are cached as long as
/// the engine lives.
#[derive(Debug, Clone)]
pub struct PlaidPlugin {
    client: Arc<PlaidClient>,
    items: Arc<GivenLogins<AccessToken>>,
    verifier: Arc<PlaidWebhookVerifier>,
}

impl PlaidPlugin {
    /// The plugin for `client`, which owns its credentials; `items` are access tokens the caller holds itself,
    /// per user, synced beside the stored Items (start with [`GivenLogins::new`]).
    pub fn new(client: Arc<PlaidClient>, items: Arc<GivenLogins<AccessToken>>) -> Self {
        let verifier = Arc::new(PlaidWebhookVerifier::new(PlaidClient::clone(&client)));
        Self {
            client,
            items,
            verifier,
        }
    }

    /// The client.
    pub fn client(&self) -> &Arc<PlaidClient> {
        &self.client
    }
}

impl<S: Store + 'static> ProviderPlugin<S> for PlaidPlugin {
    fn provider(&self) -> Provider {
        Provider::Plaid
    }

    fn source(&self) -> Option<Arc<dyn AccountSource<S>>> {
        Some(Arc::new(StoredItemsSource::new(
            Arc::clone(&self.client),
            Arc::clone(&self.items),
        )))
    }

    /// Per Item, `/investments/transactions/get` paged (`Aggregation::transactions`).
    fn history(&self) -> Option<Arc<dyn HistorySource<S>>> {
        Some(Arc::new(AggregationHistory::new(
            Arc::clone(&self.client),
            ItemLogins(Arc::clone(&self.items)),
        )))
    }
}

/// The user's Items as logins: the stored ones (tokens opened from the sealed column), then the tokens the
/// caller handed in that are not stored.
struct ItemLogins(Arc<GivenLogins<AccessToken>>);

#[async_trait::async_trait]
impl<S: Store> Logins<S> for ItemLogins {
    type Login = AccessToken;

    async fn logins(&self, store: &S, user: UserId) -> Result<Vec<AccessToken>, SyncError> {
        use secrecy::ExposeSecret;

        let mut logins: Vec<AccessToken> = store
            .list_plaid_items(user)
            .await?
            .into_iter()
            .map(|item| AccessToken::new(item.access_token))
            .collect();
        for token in self.0.logins(store, user).await? {
            let held = logins
                .iter()
                .any(|known| known.secret().expose_secret() == token.secret().expose_secret());
            if !held {
                logins.push(token);
            }
        }
        Ok(logins)
    }
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Wires Plaid in: [`Self::with_provider`] with a [`PlaidPlugin`].
    pub fn with_plaid(
        self,
        client: Arc<PlaidClient>,
        items: Arc<GivenLogins<AccessToken>>,
    ) -> Self {
        self.with_provider(PlaidPlugin::new(client, items))
    }

    /// Plaid's own steps on this engine: linking Items, repairing them, receiving their webhooks.
    pub fn plaid(&self) -> Plaid<'_, S> {
        Plaid { engine: self }
    }
}

/// Plaid's flows beside sync, on the engine they feed: [`SyncEngine::plaid`].
#[derive(Debug)]
pub struct Plaid<'e, S> {
    engine: &'e SyncEngine<S>,
}

impl<S: Store + 'static> Plaid<'_, S> {
    /// The wired Plaid, once the router allows Plaid.
    fn plugin(&self) -> Result<&PlaidPlugin, SyncError> {
        self.engine.router.check(Provider::Plaid)?;
        self.engine
            .plugin::<PlaidPlugin>()
            .ok_or(SyncError::NoClient {
                provider: Provider::Plaid,
            })
    }

    /// The Plaid client, for what a service does with Plaid itself (a Link token for its front end).
    ///
    /// # Errors
    /// The router's refusal; [`SyncError::NoClient`] when Plaid is not wired in.
    pub fn client(&self) -> Result<&Arc<PlaidClient>, SyncError> {
        Ok(&self.plugin()?.client)
    }

    /// Links an Item: exchanges the public token Plaid Link handed the user's browser for the Item's access
    /// token, stores the Item with the token sealed (bound to `user` and the Item), and syncs `user`. From then
    /// on every sync of `user`, in any process sharing the database, reads the Item from the store.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use secrecy::{ExposeSecret, SecretString};
    /// # use tributary_provider::plaid::{PlaidConfig, PlaidEnvironment};
    /// # use tributary_sandbox::Sandbox;
    /// # let sandbox = Sandbox::start().await;
    /// # let config = PlaidConfig::new(sandbox.plaid().client_id(), SecretString::from(sandbox.plaid().secret()),
    /// #     PlaidEnvironment::Sandbox).with_base_url(sandbox.plaid_base_url().parse::<url::Url>()?);
    /// use std::sync::Arc;
    /// use tributary_domain::FeatureFlags;
    /// use tributary_provider::plaid::PlaidClient;
    /// use tributary_provider::router::ProviderRouter;
    /// use tributary_repo::{MemoryStore, PlaidItemRepository};
    /// use tributary_sync::SyncEngine;
    /// use tributary_sync::source::GivenLogins;
    ///
    /// // In a service: PlaidConfig::from_env()? reads PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV.
    /// let client = Arc::new(PlaidClient::new(config)?);
    /// let store = Arc::new(MemoryStore::new());
    /// let user = store.create_user();
    /// let engine = SyncEngine::new(Arc::clone(&store), ProviderRouter::new(FeatureFlags::all_on()))
    ///     .with_plaid(Arc::clone(&client), Arc::new(GivenLogins::new()));
    ///
    /// // Plaid Link hands the user's browser a public token (made here with Plaid's sandbox call instead).
    /// let public_token = client.create_sandbox_public_token("ins_109508", &["investments".to_owned()]).await?;
    /// let linked = engine.plaid().link(user, public_token.expose_secret()).await?;
    /// assert!(!linked.report.has_failures(), "{:?}", linked.report.failures());
    ///
    /// // The Item is stored, its access token sealed: any process sharing the database syncs it from now on.
    /// let items = store.list_plaid_items(user).await?;
    /// assert_eq!(items[0].item_id, linked.item_id);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The router's refusal; [`SyncError::NoClient`]; Plaid's (a public token works once); the store's. When the
    /// first sync fails the Item is stored already: the next sync of `user` picks it up.
    pub async fn link(
        &self,
        user: UserId,
        public_token: &str,
    ) -> Result<LinkedPlaidItem, SyncError> {
        let plugin = self.plugin()?;
        let linked = plugin.client.exchange_public_token(public_token).await?;
        let item_id = ProviderItemId::parse(&linked.item_id)?;
        self.engine
            .store
            .upsert_plaid_item(
                user,
                &NewPlaidItem {
                    item_id: item_id.clone(),
                    institution_id: None,
                    institution_name: None,
                    access_token: linked.access_token.secret().clone(),
                },
            )
            .await?;
        let report = self.engine.sync_user(user).await?;
        Ok(LinkedPlaidItem { item_id, report })
    }

    /// A Link token in update mode for one of `user`'s stored Items (Plaid's `/link/token/create` with the
    /// Item's `access_token`): what the front end opens Link with when the Item needs its user again (its status
    /// is `login_required`, `pending_expiration`, `pending_disconnect` or `revoked`). Once the user is through,
    /// the next sync finds the Item working and records it healthy.
    ///
    /// # Errors
    /// The router's refusal; [`SyncError::NoClient`]; [`tributary_repo::RepoError::NotFound`] (`"plaid item"`)
    /// when `user` has no such stored Item (another user's never is); Plaid's.
    pub async fn update_link_token(
        &self,
        user: UserId,
        item: &ProviderItemId,
        client_name: &str,
    ) -> Result<LinkToken, SyncError> {
        let plugin = self.plugin()?;
        let stored = self.engine.store.get_plaid_item(user, item).await?;
        let request = LinkTokenRequest::investments(user.to_string(), client_name)
            .update(AccessToken::new(stored.access_token));
        Ok(plugin.client.create_link_token(&request).await?)
    }

    /// Adds an Item's access token the caller holds itself (not stored), for the next syncs of `user` in this
    /// process.
    ///
    /// # Errors
    /// [`SyncError::NoClient`] when Plaid is not wired in.
    pub fn add_item(&self, user: UserId, access_token: AccessToken) -> Result<(), SyncError> {
        let plugin = self
            .engine
            .plugin::<PlaidPlugin>()
            .ok_or(SyncError::NoClient {
                provider: Provider::Plaid,
            })?;
        plugin.items.add(user, access_token);
        Ok(())
    }
}

/// What [`Plaid::link`] did: the Item stored, and the first sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedPlaidItem {
    /// Plaid's id for the new Item.
    pub item_id: ProviderItemId,
    /// The sync that followed.
    pub report: SyncReport,
}
