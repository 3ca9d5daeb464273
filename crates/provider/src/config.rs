//! Reading provider configuration from the environment, with one clear error naming the variable, and
//! the parts every provider's config shares.
//!
//! Each provider's config has `from_env()` (the process environment) and `from_lookup(f)` (any source, a
//! map in tests), both built on [`Env`]. An empty or blank variable counts as unset: a `.env` line
//! `PLAID_SECRET=` is a forgotten value, not an empty secret. The three configs hold the same four things
//! (a public id, a secret, a base URL, a timeout), so their setters, environment readers and `Debug` are
//! written once here: `shared_config_methods!` and `debug_config`.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::error::ProviderError;

/// Adds the methods every provider config has, the same but for the type: `with_base_url`,
/// `with_timeout`, `from_env`, `from_lookup` and `base_url`.
///
/// The config needs `base_url: Url` and `timeout: Duration` fields and a
/// `fn from_variables<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ProviderError>`;
/// `$reads` documents `from_env` (which variables it reads).
macro_rules! shared_config_methods {
    ($config:ident, $reads:literal) => {
        impl $config {
            /// The same configuration pointed at another base URL (a local sandbox or `wiremock` in
            /// tests). A path prefix in it is kept. The client refuses to be built on a plain `http` URL
            /// unless it points at loopback ([`ProviderError::InsecureUrl`]).
            ///
            /// [`ProviderError::InsecureUrl`]: crate::ProviderError::InsecureUrl
            pub fn with_base_url(mut self, base_url: ::url::Url) -> Self {
                self.base_url = base_url;
                self
            }

            /// The same configuration with another cap on the size of a response body (16 MiB unless set):
            /// a larger answer is [`ProviderError::ResponseTooLarge`], read no further.
            ///
            /// [`ProviderError::ResponseTooLarge`]: crate::ProviderError::ResponseTooLarge
            pub fn with_max_response_bytes(mut self, max_response_bytes: usize) -> Self {
                self.max_response_bytes = max_response_bytes;
                self
            }

            /// The same configuration with other request budgets (the defaults are the provider's documented
            /// limits; a contract may have others). Every clone of the client built from it shares them.
            pub fn with_rate_limits(mut self, rate_limits: crate::limit::RateLimits) -> Self {
                self.rate_limits = rate_limits;
                self
            }

            /// The request budgets the client keeps to.
            pub fn rate_limits(&self) -> &crate::limit::RateLimits {
                &self.rate_limits
            }

            /// The cap on the size of a response body, in bytes.
            pub fn max_response_bytes(&self) -> usize {
                self.max_response_bytes
            }

            /// The same configuration with another per-request timeout.
            pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.timeout = timeout;
                self
            }

            #[doc = $reads]
            pub fn from_env() -> Result<Self, crate::error::ProviderError> {
                Self::from_variables(&crate::config::Env::process())
            }

            /// Like [`from_env`](Self::from_env), reading variables through `lookup` (tests pass a map).
            ///
            /// A missing, blank or malformed variable is one [`ProviderError::Config`] that names it.
            ///
            /// [`ProviderError::Config`]: crate::ProviderError::Config
            pub fn from_lookup(
                lookup: impl Fn(&str) -> Option<String>,
            ) -> Result<Self, crate::error::ProviderError> {
                Self::from_variables(&crate::config::Env::from_lookup(lookup))
            }

            /// The base URL requests go to.
            pub fn base_url(&self) -> &::url::Url {
                &self.base_url
            }
        }
    };
}
pub(crate) use shared_config_methods;

/// How large a response body may be unless the config says otherwise: 16 MiB, far above any page a provider
/// documents, far below what would exhaust memory.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// A provider's built-in base URL (its production or sandbox address, a constant known to parse).
pub(crate) fn builtin_url(url: &'static str) -> Url {
    Url::parse(url).expect("the built-in provider URLs are valid")
}

/// `Debug` for a provider config: the type's name, its public id, the secret as `[REDACTED]`, the base
/// URL and the timeout. `id` and `secret_field` are the config's own field names.
pub(crate) fn debug_config(
    f: &mut fmt::Formatter<'_>,
    config: &str,
    id: (&str, &str),
    secret_field: &str,
    base_url: &Url,
    timeout: Duration,
) -> fmt::Result {
    f.debug_struct(config)
        .field(id.0, &id.1)
        .field(secret_field, &"[REDACTED]")
        .field("base_url", &base_url.as_str())
        .field("timeout", &timeout)
        .finish()
}

/// Where configuration variables come from.
pub(crate) struct Env<F> {
    lookup: F,
}

impl Env<fn(&str) -> Option<String>> {
    /// The process environment.
    pub(crate) fn process() -> Self {
        Self {
            lookup: |name| std::env::var(name).ok(),
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Variables read through `lookup`.
    pub(crate) fn from_lookup(lookup: F) -> Self {
        Self { lookup }
    }

    /// The variable's trimmed value, or `None` when it is unset or blank.
    pub(crate) fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The variable's trimmed value; unset or blank is [`ProviderError::Config`] naming it.
    pub(crate) fn required(&self, name: &'static str) -> Result<String, ProviderError> {
        self.optional(name)
            .ok_or_else(|| ProviderError::config(name, "is not set"))
    }

    /// A required secret, wrapped before anything else can see it.
    pub(crate) fn secret(&self, name: &'static str) -> Result<SecretString, ProviderError> {
        self.required(name).map(SecretString::from)
    }

    /// An optional base URL; set but malformed is an error naming the variable.
    pub(crate) fn optional_url(&self, name: &'static str) -> Result<Option<Url>, ProviderError> {
        self.optional(name)
            .map(|value| parse_base_url(name, &value))
            .transpose()
    }
}

/// An `http`/`https` URL with a host. The error never repeats the value: a URL can carry credentials
/// (`https://user:password@host`).
pub(crate) fn parse_base_url(variable: &'static str, value: &str) -> Result<Url, ProviderError> {
    let url = Url::parse(value.trim()).map_err(|error| {
        ProviderError::config(variable, format!("is not a valid URL ({error})"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::config(
            variable,
            "must be an http or https URL",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ProviderError::config(variable, "has no host"));
    }
    require_secure_url(variable, &url)?;
    Ok(url)
}

/// Refuses a URL that is not `https`, unless it points at loopback (`127.0.0.0/8`, `::1`, `localhost`): a
/// provider's credentials must never cross a network unencrypted. The error names the variable and the URL's
/// scheme, host and port, never its user info, path or query.
pub(crate) fn require_secure_url(variable: &'static str, url: &Url) -> Result<(), ProviderError> {
    if url.scheme() == "https" || is_loopback(url) {
        return Ok(());
    }
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    Err(ProviderError::InsecureUrl {
        variable,
        url: shown,
    })
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `base` joined with `path` (which starts with `/`), keeping any path prefix `base` has. (SnapTrade builds
/// its URLs with the signature, from the path it signs.)
#[cfg(any(feature = "plaid", feature = "alpaca"))]
pub(crate) fn endpoint_url(base: &Url, path: &str) -> String {
    format!("{}{}", base.as_str().trim_end_matches('/'), path)
}

/// Variables looked up in `pairs`, for the configs' unit tests.
#[cfg(test)]
pub(crate) fn map_lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env::from_lookup(map_lookup(pairs))
    }

    fn variable_of(error: ProviderError) -> &'static str {
        match error {
            ProviderError::Config { variable, .. } => variable,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it() {
        let error = env(&[]).required("SOME_KEY").unwrap_err();
        assert_eq!(error.to_string(), "SOME_KEY is not set");
    }

    #[test]
    fn a_blank_variable_counts_as_unset() {
        let env = env(&[("SOME_KEY", "   ")]);
        assert_eq!(env.optional("SOME_KEY"), None);
        assert_eq!(
            variable_of(env.required("SOME_KEY").unwrap_err()),
            "SOME_KEY"
        );
    }

    #[test]
    fn values_are_trimmed() {
        let env = env(&[("SOME_KEY", "  abc \n")]);
        assert_eq!(env.required("SOME_KEY").unwrap(), "abc");
        assert_eq!(env.secret("SOME_KEY").unwrap().expose_secret(), "abc");
    }

    #[test]
    fn a_malformed_url_names_the_variable_but_not_the_value() {
        let env = env(&[("SOME_URL", "https//user:hunter2@nowhere")]);
        let error = env.optional_url("SOME_URL").unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(variable_of(error), "SOME_URL");
    }

    #[test]
    fn a_url_must_be_http_with_a_host() {
        for bad in ["ftp://example.com", "file:///etc/passwd", "mailto:a@b.c"] {
            assert!(parse_base_url("SOME_URL", bad).is_err(), "{bad} accepted");
        }
        assert!(parse_base_url("SOME_URL", "http://127.0.0.1:8080/prefix/").is_ok());
    }

    #[cfg(any(feature = "plaid", feature = "alpaca"))]
    #[test]
    fn an_endpoint_keeps_the_base_urls_path_prefix() {
        let url = parse_base_url("SOME_URL", "http://127.0.0.1:8080/prefix/").unwrap();
        assert_eq!(
            endpoint_url(&url, "/v1/x"),
            "http://127.0.0.1:8080/prefix/v1/x"
        );
    }

    #[test]
    fn a_plain_http_url_is_refused_unless_it_points_at_loopback() {
        for loopback in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:9000/prefix",
            "http://localhost:3000",
            "https://broker-api.alpaca.markets",
        ] {
            assert!(parse_base_url("SOME_URL", loopback).is_ok(), "{loopback}");
        }
        for remote in [
            "http://broker-api.alpaca.markets",
            "http://10.0.0.1:8080",
            "http://[::2]",
            "http://localhost.evil.example",
            "http://128.0.0.1",
        ] {
            let error = parse_base_url("SOME_URL", remote).unwrap_err();
            assert!(
                matches!(
                    error,
                    ProviderError::InsecureUrl {
                        variable: "SOME_URL",
                        ..
                    }
                ),
                "{remote}: {error:?}"
            );
        }
    }

    #[test]
    fn an_insecure_url_error_names_the_host_but_not_the_credentials_or_path() {
        let error = parse_base_url(
            "SOME_URL",
            "http://user:hunter2@api.example.com:81/x?token=t0k",
        )
        .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("http://api.example.com:81"), "{shown}");
        for secret in ["hunter2", "t0k", "user"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn an_unset_url_is_none() {
        assert_eq!(env(&[]).optional_url("SOME_URL").unwrap(), None);
    }
}
