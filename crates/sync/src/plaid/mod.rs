//! Plaid, as the engine takes it: each user's Items synced with the access tokens the caller holds, and the
//! link step that turns Plaid Link's public token into an Item the engine syncs.

use std::sync::Arc;

use tributary_domain::{Provider, UserId};
use tributary_provider::plaid::{AccessToken, LinkedItem, PlaidClient};
use tributary_repo::Store;

use crate::source::{AccountSource, AggregationSource, GivenLogins};
use crate::{ProviderPlugin, SyncEngine, SyncError};

/// Plaid's [`ProviderPlugin`]: an aggregation source over the user's Items. Plaid does not trade, so there is no
/// desk. The repository does not keep Plaid access tokens: the caller holds them and hands them over
/// ([`Plaid::add_item`], or [`Plaid::link`] when linking), kept here per user.
#[derive(Debug, Clone)]
pub struct PlaidPlugin {
    client: Arc<PlaidClient>,
    items: Arc<GivenLogins<AccessToken>>,
}

impl PlaidPlugin {
    /// The plugin for `client`, which owns its credentials; `items` are the access tokens the caller holds
    /// per user (start with [`GivenLogins::new`]).
    pub fn new(client: Arc<PlaidClient>, items: Arc<GivenLogins<AccessToken>>) -> Self {
        Self { client, items }
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
        Some(Arc::new(AggregationSource::new(
            Arc::clone(&self.client),
            Arc::clone(&self.items),
        )))
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

    /// Plaid's own steps on this engine: linking Items.
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
    /// token, which the next syncs of `user` use. The caller keeps the returned access token (the repository
    /// does not) and hands it back with [`Self::add_item`] after a restart.
    ///
    /// # Errors
    /// The router's refusal; [`SyncError::NoClient`]; Plaid's (a public token works once).
    pub async fn link(&self, user: UserId, public_token: &str) -> Result<LinkedItem, SyncError> {
        let plugin = self.plugin()?;
        let item = plugin.client.exchange_public_token(public_token).await?;
        plugin.items.add(user, item.access_token.clone());
        Ok(item)
    }

    /// Adds an Item's access token the caller already holds, for the next syncs of `user`.
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
