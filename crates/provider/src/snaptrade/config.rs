//! SnapTrade partner credentials and base URL, from the environment or given directly.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::config::{
    DEFAULT_MAX_RESPONSE_BYTES, Env, builtin_url, debug_config, shared_config_methods,
};
use crate::error::ProviderError;

/// `SNAPTRADE_CLIENT_ID`: the partner's client id (sent in every query).
pub const ENV_CLIENT_ID: &str = "SNAPTRADE_CLIENT_ID";
/// `SNAPTRADE_CONSUMER_KEY`: the key every request is signed with. Never sent, never logged.
pub const ENV_CONSUMER_KEY: &str = "SNAPTRADE_CONSUMER_KEY";
/// `SNAPTRADE_BASE_URL`: where the API lives; `https://api.snaptrade.com` (root paths) when unset.
pub const ENV_BASE_URL: &str = "SNAPTRADE_BASE_URL";

/// SnapTrade's production API. Paths are at the root since June 2026 (`/accounts`, not `/api/v1/accounts`).
pub const DEFAULT_BASE_URL: &str = "https://api.snaptrade.com";

/// How long one request may take before it counts as timed out. SnapTrade waits on the brokerage for
/// real-time data and order placement, so this is generous.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything the SnapTrade client needs. `Debug` never shows the consumer key. A base URL's path prefix
/// is kept and signed (`https://api.snaptrade.com/api/v1` works too).
#[derive(Clone)]
pub struct SnapTradeConfig {
    pub(crate) client_id: String,
    pub(crate) consumer_key: SecretString,
    pub(crate) base_url: Url,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) rate_limits: crate::limit::RateLimits,
}

impl SnapTradeConfig {
    /// A configuration for SnapTrade's production API; a blank client id is refused naming the variable.
    /// [`SnapTradeConfig::from_env`] reads the same from `SNAPTRADE_CLIENT_ID`, `SNAPTRADE_CONSUMER_KEY` and
    /// (optionally) `SNAPTRADE_BASE_URL`, naming the variable that is missing.
    ///
    /// ```
    /// use secrecy::SecretString;
    /// use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig};
    ///
    /// // From parts (a secret store, a test)…
    /// let config = SnapTradeConfig::new("TRIBUTARY", SecretString::from("consumer-key"))?
    ///     .with_base_url(url::Url::parse("http://127.0.0.1:4010/api/v1/").unwrap());
    /// // …the client owns its credentials from here on.
    /// let client = SnapTradeClient::new(config)?;
    /// assert_eq!(client.config().client_id(), "TRIBUTARY");
    ///
    /// // From the environment: one error naming the missing variable.
    /// if let Err(missing) = SnapTradeConfig::from_env() {
    ///     println!("{missing}");
    /// }
    /// # Ok::<(), tributary_provider::ProviderError>(())
    /// ```
    pub fn new(
        client_id: impl Into<String>,
        consumer_key: SecretString,
    ) -> Result<Self, ProviderError> {
        let client_id = client_id.into().trim().to_owned();
        if client_id.is_empty() {
            return Err(ProviderError::config(ENV_CLIENT_ID, "is empty"));
        }
        Ok(Self {
            client_id,
            consumer_key,
            base_url: default_base_url(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            rate_limits: crate::limit::RateLimits::snaptrade(),
        })
    }

    fn from_variables<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ProviderError> {
        Ok(Self {
            client_id: env.required(ENV_CLIENT_ID)?,
            consumer_key: env.secret(ENV_CONSUMER_KEY)?,
            base_url: env
                .optional_url(ENV_BASE_URL)?
                .unwrap_or_else(default_base_url),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            rate_limits: crate::limit::RateLimits::snaptrade(),
        })
    }

    /// The partner client id (not secret on its own).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

shared_config_methods!(
    SnapTradeConfig,
    "Reads `SNAPTRADE_CLIENT_ID`, `SNAPTRADE_CONSUMER_KEY` and, optionally, `SNAPTRADE_BASE_URL`."
);

fn default_base_url() -> Url {
    builtin_url(DEFAULT_BASE_URL)
}

impl fmt::Debug for SnapTradeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = ("client_id", self.client_id.as_str());
        debug_config(
            f,
            "SnapTradeConfig",
            id,
            "consumer_key",
            &self.base_url,
            self.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::map_lookup as lookup;

    #[test]
    fn the_base_url_defaults_to_snaptrades_root() {
        let config = SnapTradeConfig::from_lookup(lookup(&[
            (ENV_CLIENT_ID, "PARTNER"),
            (ENV_CONSUMER_KEY, "key"),
        ]))
        .unwrap();
        assert_eq!(config.base_url().as_str(), "https://api.snaptrade.com/");
        assert_eq!(config.client_id(), "PARTNER");
    }

    #[test]
    fn a_missing_consumer_key_is_named() {
        let error =
            SnapTradeConfig::from_lookup(lookup(&[(ENV_CLIENT_ID, "PARTNER")])).unwrap_err();
        assert!(matches!(
            error,
            ProviderError::Config {
                variable: ENV_CONSUMER_KEY,
                ..
            }
        ));
    }

    #[test]
    fn a_malformed_base_url_is_named_without_echoing_it() {
        let error = SnapTradeConfig::from_lookup(lookup(&[
            (ENV_CLIENT_ID, "PARTNER"),
            (ENV_CONSUMER_KEY, "key"),
            (ENV_BASE_URL, "ftp://user:hunter2@example.com"),
        ]))
        .unwrap_err();
        assert!(matches!(
            error,
            ProviderError::Config {
                variable: ENV_BASE_URL,
                ..
            }
        ));
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn debug_never_shows_the_consumer_key() {
        let config = SnapTradeConfig::new("PARTNER", SecretString::from("s3cr3t-key")).unwrap();
        assert!(!format!("{config:?}").contains("s3cr3t-key"));
    }
}
