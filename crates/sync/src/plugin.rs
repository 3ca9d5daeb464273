//! How a provider joins the engine: one [`ProviderPlugin`] gives its source, its desk (with the gate that admits
//! accounts), and whatever its own flows need, so the engine holds no provider's name.

use std::any::Any;
use std::sync::Arc;

use tributary_domain::Provider;

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
}

/// A registered plugin, kept whole so a provider's flows can find it by its type.
pub(crate) type Registered = Arc<dyn Any + Send + Sync>;
