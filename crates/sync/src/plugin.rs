//! How a provider joins the engine: one [`ProviderPlugin`] gives its source, its desk (with the gate that admits
//! accounts), and whatever its own flows need, so the engine holds no provider's name.

use std::any::Any;
use std::sync::Arc;

use tributary_domain::Provider;

use crate::history::HistorySource;
use crate::source::{AccountSource, OrderDesk};

/// A provider, as [`SyncEngine::with_provider`](crate::SyncEngine::with_provider) takes it.
///
/// Each provider's folder of this crate has one (`snaptrade::SnapTradePlugin`, `plaid::PlaidPlugin`,
/// `alpaca::AlpacaPlugin`), and a service can write its own for a provider of its own, or to put a test
/// double in a provider's place. The desk carries the provider's [`AccountGate`](crate::source::AccountGate):
/// [`OrderDesk::admit`] is asked before any trading call. A provider's flows beyond sync and orders
/// (SnapTrade's portal and webhooks, Plaid's linking) find their plugin again through
/// [`SyncEngine::plugin`](crate::SyncEngine::plugin).
///
/// ```
/// use std::sync::Arc;
/// use tributary_domain::{FeatureFlags, Provider};
/// use tributary_provider::router::ProviderRouter;
/// use tributary_repo::MemoryStore;
/// use tributary_sync::source::{AccountSource, OrderDesk};
/// use tributary_sync::{ProviderPlugin, SyncEngine};
///
/// /// A provider the service knows nothing about yet: no source, no desk.
/// struct Nothing;
///
/// impl<S> ProviderPlugin<S> for Nothing {
///     fn provider(&self) -> Provider {
///         Provider::Manual
///     }
/// }
///
/// let engine = SyncEngine::new(Arc::new(MemoryStore::new()), ProviderRouter::new(FeatureFlags::default()))
///     .with_provider(Nothing);
/// assert!(engine.plugin::<Nothing>().is_some());
/// ```
pub trait ProviderPlugin<S>: Send + Sync + 'static {
    /// The provider.
    fn provider(&self) -> Provider;

    /// Where the provider's accounts and positions come from, if it has any to sync.
    fn source(&self) -> Option<Arc<dyn AccountSource<S>>> {
        None
    }

    /// Where the provider's orders go, if it trades.
    fn desk(&self) -> Option<Arc<dyn OrderDesk<S>>> {
        None
    }

    /// Where the provider's transaction history comes from, if it keeps one to sync.
    fn history(&self) -> Option<Arc<dyn HistorySource<S>>> {
        None
    }
}

/// A registered plugin, kept whole so a provider's flows can find it by its type.
pub(crate) type Registered = Arc<dyn Any + Send + Sync>;

#[cfg(all(test, feature = "snaptrade", feature = "plaid", feature = "alpaca"))]
mod tests {
    use secrecy::SecretString;
    use tributary_domain::FeatureFlags;
    use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
    use tributary_provider::plaid::{PlaidClient, PlaidConfig, PlaidEnvironment};
    use tributary_provider::router::ProviderRouter;
    use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig};
    use tributary_repo::MemoryStore;

    use super::*;
    use crate::SyncEngine;
    use crate::alpaca::AlpacaPlugin;
    use crate::plaid::PlaidPlugin;
    use crate::snaptrade::SnapTradePlugin;
    use crate::source::GivenLogins;

    type Engine = SyncEngine<MemoryStore>;

    /// The engine with `provider`'s plugin registered, and whether that provider trades. The match has no
    /// wildcard: a `Provider` variant without a plugin does not compile here.
    fn registered(provider: Provider) -> Option<(Engine, bool)> {
        let engine = SyncEngine::new(
            Arc::new(MemoryStore::new()),
            ProviderRouter::new(FeatureFlags::all_on()),
        );
        let secret = || SecretString::from("not-a-real-secret");
        Some(match provider {
            Provider::Plaid => {
                let config = PlaidConfig::new("client", secret(), PlaidEnvironment::Sandbox);
                let client = Arc::new(PlaidClient::new(config).unwrap());
                (
                    engine.with_provider(PlaidPlugin::new(client, Arc::new(GivenLogins::new()))),
                    false,
                )
            }
            Provider::SnapTrade => {
                let config = SnapTradeConfig::new("client", secret()).unwrap();
                let client = Arc::new(SnapTradeClient::new(config).unwrap());
                (engine.with_provider(SnapTradePlugin::new(client)), true)
            }
            Provider::Alpaca => {
                let config = AlpacaConfig::new("key", secret(), AlpacaEnvironment::Sandbox);
                let client = Arc::new(AlpacaClient::new(config).unwrap());
                (engine.with_provider(AlpacaPlugin::new(client)), true)
            }
            Provider::Manual => return None,
        })
    }

    #[test]
    fn every_provider_with_a_client_registers_its_source_and_desk_through_its_plugin() {
        for provider in Provider::ALL.iter().copied() {
            let Some((engine, trades)) = registered(provider) else {
                assert!(
                    !provider.has_client(),
                    "{provider} has a client but no plugin"
                );
                continue;
            };
            assert!(provider.has_client(), "{provider}");
            let shown = format!("{engine:?}");
            assert!(
                shown.contains(&format!("sources: [{:?}]", provider.as_str())),
                "{provider}'s source is registered: {shown}"
            );
            let desks = if trades {
                format!("desks: [{:?}]", provider.as_str())
            } else {
                "desks: []".to_owned()
            };
            assert!(shown.contains(&desks), "{provider}'s desk: {shown}");
        }
    }
}
