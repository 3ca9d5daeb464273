//! Alpaca Broker API credentials and base URL, from the environment or given directly.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::config::{
    DEFAULT_MAX_RESPONSE_BYTES, Env, builtin_url, debug_config, shared_config_methods,
};
use crate::error::ProviderError;

/// `ALPACA_BROKER_API_KEY`: the Broker API key id (the Basic auth user name).
pub const ENV_API_KEY: &str = "ALPACA_BROKER_API_KEY";
/// `ALPACA_BROKER_API_SECRET`: the Broker API secret (the Basic auth password).
pub const ENV_API_SECRET: &str = "ALPACA_BROKER_API_SECRET";
/// `ALPACA_BROKER_BASE_URL`: where the Broker API lives; the sandbox when unset.
pub const ENV_BASE_URL: &str = "ALPACA_BROKER_BASE_URL";

/// The Broker API's two environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlpacaEnvironment {
    /// `https://broker-api.sandbox.alpaca.markets`: simulated fills, test accounts.
    Sandbox,
    /// `https://broker-api.alpaca.markets`: real money.
    Production,
}

impl AlpacaEnvironment {
    /// The environment's base URL.
    pub fn base_url(self) -> Url {
        builtin_url(match self {
            Self::Sandbox => "https://broker-api.sandbox.alpaca.markets",
            Self::Production => "https://broker-api.alpaca.markets",
        })
    }
}

/// How long one request may take before it counts as timed out.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the Alpaca client needs. `Debug` never shows the secret.
#[derive(Clone)]
pub struct AlpacaConfig {
    pub(crate) api_key: String,
    pub(crate) api_secret: SecretString,
    pub(crate) base_url: Url,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) rate_limits: crate::limit::RateLimits,
}

impl AlpacaConfig {
    /// A configuration for one of the Broker API's environments. [`AlpacaConfig::from_env`] reads the same
    /// from `ALPACA_BROKER_API_KEY`, `ALPACA_BROKER_API_SECRET` and (optionally) `ALPACA_BROKER_BASE_URL`.
    ///
    /// ```
    /// use secrecy::SecretString;
    /// use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
    ///
    /// let config = AlpacaConfig::new("key-id", SecretString::from("secret"), AlpacaEnvironment::Sandbox);
    /// let alpaca = AlpacaClient::new(config)?;
    /// assert_eq!(alpaca.config().api_key(), "key-id");
    /// # Ok::<(), tributary_provider::ProviderError>(())
    /// ```
    pub fn new(
        api_key: impl Into<String>,
        api_secret: SecretString,
        environment: AlpacaEnvironment,
    ) -> Self {
        Self {
            api_key: api_key.into(),
            api_secret,
            base_url: environment.base_url(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            rate_limits: crate::limit::RateLimits::alpaca(),
        }
    }

    fn from_variables<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ProviderError> {
        Ok(Self {
            api_key: env.required(ENV_API_KEY)?,
            api_secret: env.secret(ENV_API_SECRET)?,
            base_url: env
                .optional_url(ENV_BASE_URL)?
                .unwrap_or_else(|| AlpacaEnvironment::Sandbox.base_url()),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            rate_limits: crate::limit::RateLimits::alpaca(),
        })
    }

    /// The API key id (not secret on its own).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }
}

shared_config_methods!(
    AlpacaConfig,
    "Reads `ALPACA_BROKER_API_KEY`, `ALPACA_BROKER_API_SECRET` and, optionally, `ALPACA_BROKER_BASE_URL` (the sandbox when unset, so a forgotten variable never trades real money)."
);

impl fmt::Debug for AlpacaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = ("api_key", self.api_key.as_str());
        debug_config(
            f,
            "AlpacaConfig",
            id,
            "api_secret",
            &self.base_url,
            self.timeout,
        )
    }
}
