//! Plaid credentials and base URL, from the environment or given directly.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::config::{
    DEFAULT_MAX_RESPONSE_BYTES, Env, builtin_url, debug_config, shared_config_methods,
};
use crate::error::ProviderError;

/// `PLAID_CLIENT_ID`: the client id from the Plaid dashboard.
pub const ENV_CLIENT_ID: &str = "PLAID_CLIENT_ID";
/// `PLAID_SECRET`: the secret for the chosen environment.
pub const ENV_SECRET: &str = "PLAID_SECRET";
/// `PLAID_BASE_URL`: an explicit base URL; wins over `PLAID_ENV`.
pub const ENV_BASE_URL: &str = "PLAID_BASE_URL";
/// `PLAID_ENV`: `sandbox` or `production`.
pub const ENV_ENVIRONMENT: &str = "PLAID_ENV";

/// The two environments Plaid runs (Development was retired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaidEnvironment {
    /// `https://sandbox.plaid.com`: test credentials, fake institutions.
    Sandbox,
    /// `https://production.plaid.com`: real institutions.
    Production,
}

impl PlaidEnvironment {
    /// The environment's base URL.
    pub fn base_url(self) -> Url {
        builtin_url(match self {
            Self::Sandbox => "https://sandbox.plaid.com",
            Self::Production => "https://production.plaid.com",
        })
    }

    /// Reads `sandbox` or `production` (any case).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "sandbox" => Some(Self::Sandbox),
            "production" => Some(Self::Production),
            _ => None,
        }
    }
}

/// Everything the Plaid client needs: the client id, the secret and where Plaid lives.
///
/// `Debug` never shows the secret.
#[derive(Clone)]
pub struct PlaidConfig {
    pub(crate) client_id: String,
    pub(crate) secret: SecretString,
    pub(crate) base_url: Url,
    pub(crate) environment: Option<PlaidEnvironment>,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) rate_limits: crate::limit::RateLimits,
}

/// How long one request may take: Plaid's first investments call after Link can block for a minute or two
/// while it extracts data.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(150);

impl PlaidConfig {
    /// A configuration for one of Plaid's environments. [`PlaidConfig::from_env`] reads the same from
    /// `PLAID_CLIENT_ID`, `PLAID_SECRET` and `PLAID_ENV` (or `PLAID_BASE_URL`).
    ///
    /// ```
    /// use secrecy::SecretString;
    /// use tributary_provider::plaid::{PlaidClient, PlaidConfig, PlaidEnvironment};
    ///
    /// let config = PlaidConfig::new("client-id", SecretString::from("secret"), PlaidEnvironment::Sandbox);
    /// let plaid = PlaidClient::new(config)?;
    /// assert_eq!(plaid.config().client_id(), "client-id");
    /// # Ok::<(), tributary_provider::ProviderError>(())
    /// ```
    pub fn new(
        client_id: impl Into<String>,
        secret: SecretString,
        environment: PlaidEnvironment,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            secret,
            base_url: environment.base_url(),
            environment: Some(environment),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            rate_limits: crate::limit::RateLimits::plaid(),
        }
    }

    fn from_variables<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ProviderError> {
        let client_id = env.required(ENV_CLIENT_ID)?;
        let secret = env.secret(ENV_SECRET)?;
        let (base_url, environment) = match env.optional_url(ENV_BASE_URL)? {
            Some(url) => (
                url,
                env.optional(ENV_ENVIRONMENT)
                    .and_then(|value| PlaidEnvironment::parse(&value)),
            ),
            None => {
                let environment = environment_from(env)?;
                (environment.base_url(), Some(environment))
            }
        };
        Ok(Self {
            client_id,
            secret,
            base_url,
            environment,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            rate_limits: crate::limit::RateLimits::plaid(),
        })
    }

    /// The client id (not a secret: Plaid shows it in dashboards and logs).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The Plaid environment this configuration is for: the one it was made for, or `PLAID_ENV` when
    /// `PLAID_BASE_URL` chose the URL (`None` when that was not set either). A webhook sent from another
    /// environment concerns Items this configuration never reaches.
    pub fn environment(&self) -> Option<PlaidEnvironment> {
        self.environment
    }
}

shared_config_methods!(
    PlaidConfig,
    "Reads `PLAID_CLIENT_ID`, `PLAID_SECRET` and `PLAID_BASE_URL` or, without it, `PLAID_ENV`."
);

/// `PLAID_ENV`, needed only when `PLAID_BASE_URL` is unset.
fn environment_from<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<PlaidEnvironment, ProviderError> {
    let value = env.optional(ENV_ENVIRONMENT).ok_or_else(|| {
        ProviderError::config(
            ENV_ENVIRONMENT,
            "is not set (sandbox or production), nor is PLAID_BASE_URL",
        )
    })?;
    PlaidEnvironment::parse(&value)
        .ok_or_else(|| ProviderError::config(ENV_ENVIRONMENT, "must be sandbox or production"))
}

impl fmt::Debug for PlaidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = ("client_id", self.client_id.as_str());
        debug_config(f, "PlaidConfig", id, "secret", &self.base_url, self.timeout)
    }
}
