//! Alpaca, as the engine takes it: the user's brokerage account (named by their onboarding) synced and traded.

pub mod events;

use std::sync::Arc;

use tributary_domain::Provider;
use tributary_provider::alpaca::AlpacaClient;
use tributary_repo::Store;

use crate::history::{BrokerageHistory, HistorySource};
use crate::source::{
    AccountSource, AlpacaBrokerageAccount, BrokerageSource, NoLogin, OnboardingAccountGate,
    OrderDesk, TradingDesk,
};
use crate::{ProviderPlugin, SyncEngine};

/// Alpaca's [`ProviderPlugin`]: the brokerage account of the user's onboarding as the source, the Broker API as
/// the desk, and the onboarding as the gate (the Broker API's key acts for every account of the partner).
#[derive(Debug, Clone)]
pub struct AlpacaPlugin {
    client: Arc<AlpacaClient>,
}

impl AlpacaPlugin {
    /// The plugin for `client`, which owns its Broker API credentials.
    pub fn new(client: Arc<AlpacaClient>) -> Self {
        Self { client }
    }

    /// The client.
    pub fn client(&self) -> &Arc<AlpacaClient> {
        &self.client
    }
}

impl<S: Store + 'static> ProviderPlugin<S> for AlpacaPlugin {
    fn provider(&self) -> Provider {
        Provider::Alpaca
    }

    fn source(&self) -> Option<Arc<dyn AccountSource<S>>> {
        Some(Arc::new(BrokerageSource::new(
            Arc::clone(&self.client),
            Provider::Alpaca,
            AlpacaBrokerageAccount,
        )))
    }

    fn desk(&self) -> Option<Arc<dyn OrderDesk<S>>> {
        Some(Arc::new(TradingDesk::new(
            Arc::clone(&self.client),
            NoLogin,
            OnboardingAccountGate,
        )))
    }

    /// The onboarding's account's activities, paged (`BrokerageAccounts::account_transactions`).
    fn history(&self) -> Option<Arc<dyn HistorySource<S>>> {
        Some(Arc::new(BrokerageHistory::new(
            Arc::clone(&self.client),
            Provider::Alpaca,
            AlpacaBrokerageAccount,
        )))
    }
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Wires Alpaca in: [`Self::with_provider`] with an [`AlpacaPlugin`].
    pub fn with_alpaca(self, client: Arc<AlpacaClient>) -> Self {
        self.with_provider(AlpacaPlugin::new(client))
    }
}
