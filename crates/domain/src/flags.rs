//! Feature flags, keyed by [`Provider`], read from the environment with the names the origin backend uses.

use crate::error::{DomainError, excerpt};
use crate::provider::{Provider, ProviderSet};

/// Which parts of the product are switched on: aggregation as a whole, and each provider by its own flag.
///
/// | flag | variable | default when unset |
/// |---|---|---|
/// | aggregation (Plaid, SnapTrade) | `FF_AGGREGATION_MODE` | `true` |
/// | [`Provider::Alpaca`], the brokerage | `FF_BROKERAGE_MODE` | `false` |
/// | [`Provider::Plaid`] | `FF_PLAID_INVESTMENT_SYNC` | `true` |
/// | [`Provider::SnapTrade`] | `FF_SNAPTRADE_INVESTMENT_SYNC` | `true` |
///
/// Each provider's variable and default are its [`Provider::flag`]; an aggregator is enabled only when
/// aggregation is on too. The defaults are the origin backend's (aggregation first, the Alpaca brokerage
/// opt-in). A variable set to blank counts as unset, as `FOO=` in an env file means. Values are read
/// case-insensitively and trimmed: `true`/`1`/`yes`/`on`/`enabled` and `false`/`0`/`no`/`off`/`disabled`;
/// anything else is an error naming the variable, never a silent `false`.
///
/// ```
/// use tributary_domain::{FeatureFlags, Provider};
///
/// let flags = FeatureFlags::builder()
///     .aggregation_mode(true)
///     .enable(Provider::Plaid)
///     .build();
/// assert!(flags.is_enabled(Provider::Plaid));
/// assert!(!flags.is_enabled(Provider::SnapTrade));
/// assert!(!flags.brokerage_mode());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeatureFlags {
    aggregation_mode: bool,
    switched_on: ProviderSet,
}

/// How a provider is switched on: its variable, its default, and whether aggregation must be on too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderFlag {
    /// The environment variable, e.g. `FF_PLAID_INVESTMENT_SYNC`.
    pub variable: &'static str,
    /// Its value when unset.
    pub default: bool,
    /// Whether the provider is an aggregator, enabled only while `FF_AGGREGATION_MODE` is on.
    pub under_aggregation: bool,
}

impl ProviderFlag {
    /// An aggregator's flag: enabled when it and `FF_AGGREGATION_MODE` are on.
    pub const fn aggregator(variable: &'static str, default: bool) -> Self {
        Self {
            variable,
            default,
            under_aggregation: true,
        }
    }

    /// A flag that alone switches its provider on.
    pub const fn own(variable: &'static str, default: bool) -> Self {
        Self {
            variable,
            default,
            under_aggregation: false,
        }
    }
}

impl Default for FeatureFlags {
    /// The defaults in the table above.
    fn default() -> Self {
        let mut switched_on = ProviderSet::EMPTY;
        for provider in Provider::ALL {
            if provider.flag().is_some_and(|flag| flag.default) {
                switched_on = switched_on.with(*provider);
            }
        }
        Self {
            aggregation_mode: true,
            switched_on,
        }
    }
}

impl FeatureFlags {
    /// `FF_AGGREGATION_MODE`: aggregated outside accounts (the providers whose flag is
    /// [`ProviderFlag::aggregator`]).
    pub const AGGREGATION_MODE: &'static str = "FF_AGGREGATION_MODE";

    /// Flags with everything off, to switch on what is wanted.
    pub const fn builder() -> FeatureFlagsBuilder {
        FeatureFlagsBuilder {
            flags: Self {
                aggregation_mode: false,
                switched_on: ProviderSet::EMPTY,
            },
        }
    }

    /// Everything on: aggregation and every provider that has a client.
    pub const fn all_on() -> Self {
        Self {
            aggregation_mode: true,
            switched_on: ProviderSet::with_clients(),
        }
    }

    /// Whether aggregation (`FF_AGGREGATION_MODE`) is on.
    pub const fn aggregation_mode(&self) -> bool {
        self.aggregation_mode
    }

    /// Whether the Alpaca brokerage (`FF_BROKERAGE_MODE`) is on.
    pub const fn brokerage_mode(&self) -> bool {
        self.is_enabled(Provider::Alpaca)
    }

    /// Whether `provider`'s own flag is on, whatever aggregation says.
    pub const fn flag_on(&self, provider: Provider) -> bool {
        self.switched_on.contains(provider)
    }

    /// Whether `provider` may be used: its own flag on and, for an aggregator, aggregation on. A provider with
    /// no flag (manual) is never enabled.
    pub const fn is_enabled(&self, provider: Provider) -> bool {
        match provider.flag() {
            Some(flag) => {
                self.flag_on(provider) && (!flag.under_aggregation || self.aggregation_mode)
            }
            None => false,
        }
    }

    /// Every provider [`Self::is_enabled`] allows.
    pub fn enabled(&self) -> ProviderSet {
        Provider::ALL
            .iter()
            .copied()
            .filter(|provider| self.is_enabled(*provider))
            .collect()
    }

    /// Reads `FF_AGGREGATION_MODE` and every provider's variable from the process environment.
    ///
    /// # Errors
    /// [`DomainError::InvalidFlag`] naming the first variable that is set to something other than a boolean.
    pub fn from_env() -> Result<Self, DomainError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (a map in tests, the environment in [`Self::from_env`]).
    ///
    /// # Errors
    /// As [`Self::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, DomainError> {
        let defaults = Self::default();
        let read = |variable, default| read_flag(variable, lookup(variable).as_deref(), default);
        let mut builder = Self::builder()
            .aggregation_mode(read(Self::AGGREGATION_MODE, defaults.aggregation_mode)?);
        for provider in Provider::ALL {
            if let Some(flag) = provider.flag()
                && read(flag.variable, flag.default)?
            {
                builder = builder.enable(*provider);
            }
        }
        Ok(builder.build())
    }
}

/// Builds [`FeatureFlags`] from everything off: `FeatureFlags::builder().aggregation_mode(true)
/// .enable(Provider::Plaid).build()`.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct FeatureFlagsBuilder {
    flags: FeatureFlags,
}

impl FeatureFlagsBuilder {
    /// Sets `FF_AGGREGATION_MODE`.
    pub const fn aggregation_mode(mut self, on: bool) -> Self {
        self.flags.aggregation_mode = on;
        self
    }

    /// Turns `provider`'s own flag on.
    pub const fn enable(mut self, provider: Provider) -> Self {
        self.flags.switched_on = self.flags.switched_on.with(provider);
        self
    }

    /// Turns `provider`'s own flag off.
    pub const fn disable(mut self, provider: Provider) -> Self {
        self.flags.switched_on = self.flags.switched_on.without(provider);
        self
    }

    /// The flags.
    pub const fn build(self) -> FeatureFlags {
        self.flags
    }
}

/// One variable's value: the default when unset or blank, else a boolean spelling or an error.
fn read_flag(
    variable: &'static str,
    value: Option<&str>,
    default: bool,
) -> Result<bool, DomainError> {
    let Some(raw) = value else { return Ok(default) };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" | "1" | "yes" | "on" | "enabled" => Ok(true),
        "false" | "0" | "no" | "off" | "disabled" => Ok(false),
        _ => Err(DomainError::InvalidFlag {
            variable,
            value: excerpt(raw),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn flags_from(pairs: &[(&str, &str)]) -> Result<FeatureFlags, DomainError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        FeatureFlags::from_lookup(|name| env.get(name).cloned())
    }

    fn from_pairs(env: &[(String, String)]) -> Result<FeatureFlags, DomainError> {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        flags_from(&pairs)
    }

    #[test]
    fn unset_variables_give_the_documented_defaults() {
        let documented = FeatureFlags::builder()
            .aggregation_mode(true)
            .enable(Provider::Plaid)
            .enable(Provider::SnapTrade)
            .build();
        assert_eq!(flags_from(&[]).unwrap(), documented);
        assert_eq!(FeatureFlags::default(), documented);
        assert!(!documented.brokerage_mode());
    }

    #[test]
    fn every_true_spelling_is_read_as_true_whatever_the_case_and_padding() {
        for spelling in ["true", "1", "yes", "on", "TRUE", " Yes ", "On\n", "enabled"] {
            let flags = flags_from(&[("FF_BROKERAGE_MODE", spelling)]).unwrap();
            assert!(flags.brokerage_mode(), "{spelling:?}");
        }
    }

    #[test]
    fn every_false_spelling_is_read_as_false_whatever_the_case_and_padding() {
        for spelling in [
            "false", "0", "no", "off", "FALSE", " No ", "OFF", "disabled",
        ] {
            let flags = flags_from(&[("FF_AGGREGATION_MODE", spelling)]).unwrap();
            assert!(!flags.aggregation_mode(), "{spelling:?}");
        }
    }

    #[test]
    fn a_blank_variable_counts_as_unset() {
        let flags = flags_from(&[("FF_PLAID_INVESTMENT_SYNC", "  ")]).unwrap();
        assert!(flags.is_enabled(Provider::Plaid));
    }

    #[test]
    fn each_variable_sets_its_own_flag() {
        let flags = flags_from(&[
            ("FF_BROKERAGE_MODE", "1"),
            ("FF_AGGREGATION_MODE", "0"),
            ("FF_PLAID_INVESTMENT_SYNC", "off"),
            ("FF_SNAPTRADE_INVESTMENT_SYNC", "no"),
        ])
        .unwrap();
        assert_eq!(
            flags,
            FeatureFlags::builder().enable(Provider::Alpaca).build()
        );
    }

    /// Every provider with a client is read from its own variable: switching that one off leaves every other
    /// provider as it was. A provider added to [`Provider`] without its flag fails here.
    #[test]
    fn each_providers_own_variable_switches_exactly_that_provider() {
        let all_on: Vec<(String, String)> = std::iter::once(FeatureFlags::AGGREGATION_MODE)
            .chain(
                Provider::ALL
                    .iter()
                    .filter_map(|p| p.flag())
                    .map(|f| f.variable),
            )
            .map(|variable| (variable.to_owned(), "on".to_owned()))
            .collect();
        assert_eq!(from_pairs(&all_on).unwrap(), FeatureFlags::all_on());
        for provider in Provider::ALL {
            let Some(flag) = provider.flag() else {
                assert!(!FeatureFlags::all_on().is_enabled(*provider), "{provider}");
                continue;
            };
            let mut env = all_on.clone();
            env.push((flag.variable.to_owned(), "off".to_owned()));
            env.retain(|(k, v)| k != flag.variable || v == "off");
            let flags = from_pairs(&env).unwrap();
            assert_eq!(
                flags.enabled(),
                FeatureFlags::all_on().enabled().without(*provider),
                "{} off",
                flag.variable
            );
        }
    }

    #[test]
    fn aggregation_off_disables_every_aggregator_and_nothing_else() {
        let flags = FeatureFlags::builder()
            .aggregation_mode(false)
            .enable(Provider::Plaid)
            .enable(Provider::SnapTrade)
            .enable(Provider::Alpaca)
            .build();
        for provider in Provider::ALL {
            let aggregator = provider.flag().is_some_and(|f| f.under_aggregation);
            assert_eq!(
                flags.is_enabled(*provider),
                provider.has_client() && !aggregator,
                "{provider}"
            );
            assert_eq!(flags.flag_on(*provider), provider.has_client());
        }
    }

    #[test]
    fn a_malformed_value_is_an_error_naming_the_variable_and_value() {
        let error = flags_from(&[("FF_SNAPTRADE_INVESTMENT_SYNC", "ture")]).unwrap_err();
        assert_eq!(
            error,
            DomainError::InvalidFlag {
                variable: "FF_SNAPTRADE_INVESTMENT_SYNC",
                value: "ture".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "FF_SNAPTRADE_INVESTMENT_SYNC=\"ture\" is not a boolean: use true/false, 1/0, yes/no or on/off"
        );
    }

    /// The environment cannot be changed inside this process (`set_var` is unsafe and the workspace forbids
    /// unsafe code), so the test runs itself again as a child process with the variables set.
    #[test]
    fn from_env_reads_the_process_environment() {
        const CHILD: &str = "TRIBUTARY_FLAGS_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            assert_eq!(
                FeatureFlags::from_env().unwrap(),
                FeatureFlags::builder()
                    .enable(Provider::Alpaca)
                    .enable(Provider::Plaid)
                    .build()
            );
            return;
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "flags::tests::from_env_reads_the_process_environment",
                "--exact",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("FF_BROKERAGE_MODE", " Yes ")
            .env("FF_AGGREGATION_MODE", "off")
            .env_remove("FF_PLAID_INVESTMENT_SYNC")
            .env("FF_SNAPTRADE_INVESTMENT_SYNC", "0")
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the child process read different flags:\n{report}"
        );
        assert!(
            report.contains("1 passed"),
            "the child process ran no test:\n{report}"
        );
    }
}
