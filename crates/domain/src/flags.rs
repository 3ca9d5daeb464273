//! Feature flags, read from the environment with the names the origin backend uses.

use crate::error::{DomainError, excerpt};

/// Which parts of the product are switched on.
///
/// | field | variable | default when unset |
/// |---|---|---|
/// | `brokerage_mode` | `FF_BROKERAGE_MODE` | `false` |
/// | `aggregation_mode` | `FF_AGGREGATION_MODE` | `true` |
/// | `plaid_investment_sync` | `FF_PLAID_INVESTMENT_SYNC` | `true` |
/// | `snaptrade_investment_sync` | `FF_SNAPTRADE_INVESTMENT_SYNC` | `true` |
///
/// The defaults are the origin backend's (aggregation first, the Alpaca brokerage opt-in). A variable set to
/// blank counts as unset, as `FOO=` in an env file means. Values are read case-insensitively and trimmed:
/// `true`/`1`/`yes`/`on`/`enabled` and `false`/`0`/`no`/`off`/`disabled`; anything else is an error naming the
/// variable, never a silent `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeatureFlags {
    /// The Alpaca brokerage account (trading through Tributary's own broker).
    pub brokerage_mode: bool,
    /// Aggregated outside accounts (Plaid, SnapTrade).
    pub aggregation_mode: bool,
    /// Syncing investment data from Plaid.
    pub plaid_investment_sync: bool,
    /// Syncing investment data from SnapTrade.
    pub snaptrade_investment_sync: bool,
}

impl Default for FeatureFlags {
    /// The defaults in the table above.
    fn default() -> Self {
        Self::new(false, true, true, true)
    }
}

impl FeatureFlags {
    /// `FF_BROKERAGE_MODE`.
    pub const BROKERAGE_MODE: &'static str = "FF_BROKERAGE_MODE";
    /// `FF_AGGREGATION_MODE`.
    pub const AGGREGATION_MODE: &'static str = "FF_AGGREGATION_MODE";
    /// `FF_PLAID_INVESTMENT_SYNC`.
    pub const PLAID_INVESTMENT_SYNC: &'static str = "FF_PLAID_INVESTMENT_SYNC";
    /// `FF_SNAPTRADE_INVESTMENT_SYNC`.
    pub const SNAPTRADE_INVESTMENT_SYNC: &'static str = "FF_SNAPTRADE_INVESTMENT_SYNC";

    /// Flags with every value given, for tests and explicit configuration.
    pub const fn new(
        brokerage_mode: bool,
        aggregation_mode: bool,
        plaid_investment_sync: bool,
        snaptrade_investment_sync: bool,
    ) -> Self {
        Self {
            brokerage_mode,
            aggregation_mode,
            plaid_investment_sync,
            snaptrade_investment_sync,
        }
    }

    /// Reads the four variables from the process environment.
    ///
    /// # Errors
    /// [`DomainError::InvalidFlag`] naming the first variable that is set to something other than a boolean.
    pub fn from_env() -> Result<Self, DomainError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the four variables through `lookup` (a map in tests, the environment in [`Self::from_env`]).
    ///
    /// # Errors
    /// As [`Self::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, DomainError> {
        let defaults = Self::default();
        let read = |variable, default| read_flag(variable, lookup(variable).as_deref(), default);
        Ok(Self {
            brokerage_mode: read(Self::BROKERAGE_MODE, defaults.brokerage_mode)?,
            aggregation_mode: read(Self::AGGREGATION_MODE, defaults.aggregation_mode)?,
            plaid_investment_sync: read(
                Self::PLAID_INVESTMENT_SYNC,
                defaults.plaid_investment_sync,
            )?,
            snaptrade_investment_sync: read(
                Self::SNAPTRADE_INVESTMENT_SYNC,
                defaults.snaptrade_investment_sync,
            )?,
        })
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

    #[test]
    fn unset_variables_give_the_documented_defaults() {
        assert_eq!(
            flags_from(&[]).unwrap(),
            FeatureFlags::new(false, true, true, true)
        );
        assert_eq!(
            FeatureFlags::default(),
            FeatureFlags::new(false, true, true, true)
        );
    }

    #[test]
    fn every_true_spelling_is_read_as_true_whatever_the_case_and_padding() {
        for spelling in ["true", "1", "yes", "on", "TRUE", " Yes ", "On\n", "enabled"] {
            let flags = flags_from(&[("FF_BROKERAGE_MODE", spelling)]).unwrap();
            assert!(flags.brokerage_mode, "{spelling:?}");
        }
    }

    #[test]
    fn every_false_spelling_is_read_as_false_whatever_the_case_and_padding() {
        for spelling in [
            "false", "0", "no", "off", "FALSE", " No ", "OFF", "disabled",
        ] {
            let flags = flags_from(&[("FF_AGGREGATION_MODE", spelling)]).unwrap();
            assert!(!flags.aggregation_mode, "{spelling:?}");
        }
    }

    #[test]
    fn a_blank_variable_counts_as_unset() {
        let flags = flags_from(&[("FF_PLAID_INVESTMENT_SYNC", "  ")]).unwrap();
        assert!(flags.plaid_investment_sync);
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
        assert_eq!(flags, FeatureFlags::new(true, false, false, false));
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
                FeatureFlags::new(true, false, true, false)
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
