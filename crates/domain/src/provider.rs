//! Where an account's data comes from: [`Provider`] and [`AccountMode`], what the domain knows of each provider
//! (its display name, the feature flag that switches it on), and [`ProviderSet`], a set keyed by provider.
//!
//! A new provider is a variant here, in both enums; the compiler then asks for its arm in every `match` of this
//! file (display name, flag, conversions). `docs/adding-a-provider.md` lists the other places.

use std::fmt;

use crate::flags::ProviderFlag;
use crate::vocabulary::closed_vocabulary;

closed_vocabulary! {
    /// The data provider behind an account (`user_investment_accounts.provider`).
    Provider, field = "provider" {
        /// Plaid Investments: read-only aggregation of outside accounts.
        Plaid => "plaid",
        /// SnapTrade: brokerage connections, read-only or with trading.
        SnapTrade => "snaptrade",
        /// Alpaca Broker API: the brokerage account Tributary itself operates.
        Alpaca => "alpaca",
        /// Entered by hand; no provider syncs it.
        Manual => "manual",
    }
}

closed_vocabulary! {
    /// How an account is operated (`user_investment_accounts.account_mode`): the same four values as
    /// [`Provider`], kept as its own type because the column is its own column and may diverge.
    AccountMode, field = "account_mode" {
        /// Aggregated through Plaid.
        Plaid => "plaid",
        /// Connected through SnapTrade.
        SnapTrade => "snaptrade",
        /// Tributary's own Alpaca brokerage account.
        Alpaca => "alpaca",
        /// Entered by hand.
        Manual => "manual",
    }
}

impl Provider {
    /// The name shown to people, e.g. for an account whose provider names no institution.
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::Plaid => "Plaid",
            Self::SnapTrade => "SnapTrade",
            Self::Alpaca => "Alpaca",
            Self::Manual => "Manual",
        }
    }

    /// The feature flag that switches the provider on (see [`crate::FeatureFlags`]); `None` for a provider
    /// with no client to switch (manual accounts).
    ///
    /// The variables and defaults are the origin backend's: Alpaca is the brokerage (`FF_BROKERAGE_MODE`,
    /// opt-in), Plaid and SnapTrade are aggregators, each with its own variable and also under
    /// `FF_AGGREGATION_MODE`.
    pub const fn flag(self) -> Option<ProviderFlag> {
        match self {
            Self::Plaid => Some(ProviderFlag::aggregator("FF_PLAID_INVESTMENT_SYNC", true)),
            Self::SnapTrade => Some(ProviderFlag::aggregator(
                "FF_SNAPTRADE_INVESTMENT_SYNC",
                true,
            )),
            Self::Alpaca => Some(ProviderFlag::own("FF_BROKERAGE_MODE", false)),
            Self::Manual => None,
        }
    }

    /// Which of the provider's accounts take orders.
    pub const fn trading(self) -> TradingAccess {
        match self {
            Self::Alpaca => TradingAccess::Always,
            Self::SnapTrade => TradingAccess::TradeConnection,
            Self::Plaid | Self::Manual => TradingAccess::Never,
        }
    }

    /// Whether the provider has a client (every provider but manual entry, which nothing syncs).
    pub const fn has_client(self) -> bool {
        self.flag().is_some()
    }

    /// The provider's bit in a [`ProviderSet`].
    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Which of a provider's accounts take orders ([`Provider::trading`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradingAccess {
    /// None: the provider only reads (aggregation), or nothing syncs it (manual).
    Never,
    /// Every active account: the brokerage Tributary operates.
    Always,
    /// Accounts on an active connection made with trading access; read-only connections never trade.
    TradeConnection,
}

/// A set of providers: the ones switched on by the flags, the ones compiled into a build.
///
/// ```
/// use tributary_domain::{Provider, ProviderSet};
///
/// let set = ProviderSet::EMPTY.with(Provider::Plaid).with(Provider::Alpaca);
/// assert!(set.contains(Provider::Plaid) && !set.contains(Provider::SnapTrade));
/// assert_eq!(set.iter().collect::<Vec<_>>(), [Provider::Plaid, Provider::Alpaca]);
/// assert_eq!(set.to_string(), "{plaid, alpaca}");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProviderSet {
    bits: u32,
}

impl ProviderSet {
    /// No provider.
    pub const EMPTY: Self = Self { bits: 0 };

    /// Every provider that has a client ([`Provider::has_client`]).
    pub const fn with_clients() -> Self {
        let mut set = Self::EMPTY;
        let mut index = 0;
        while index < Provider::ALL.len() {
            if Provider::ALL[index].has_client() {
                set = set.with(Provider::ALL[index]);
            }
            index += 1;
        }
        set
    }

    /// The set with `provider` added.
    #[must_use]
    pub const fn with(self, provider: Provider) -> Self {
        Self {
            bits: self.bits | provider.bit(),
        }
    }

    /// The set without `provider`.
    #[must_use]
    pub const fn without(self, provider: Provider) -> Self {
        Self {
            bits: self.bits & !provider.bit(),
        }
    }

    /// Whether `provider` is in the set.
    pub const fn contains(self, provider: Provider) -> bool {
        self.bits & provider.bit() != 0
    }

    /// Whether the set holds no provider.
    pub const fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The providers in the set, in [`Provider::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Provider> {
        Provider::ALL
            .iter()
            .copied()
            .filter(move |provider| self.contains(*provider))
    }
}

impl FromIterator<Provider> for ProviderSet {
    fn from_iter<I: IntoIterator<Item = Provider>>(providers: I) -> Self {
        providers.into_iter().fold(Self::EMPTY, Self::with)
    }
}

/// `{plaid, alpaca}`: the schema's spellings.
impl fmt::Display for ProviderSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Provider::as_str).collect();
        write!(f, "{{{}}}", names.join(", "))
    }
}

impl fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A list of the schema's spellings, `["plaid","alpaca"]`.
impl serde::Serialize for ProviderSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for ProviderSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Provider>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

impl From<Provider> for AccountMode {
    /// The account mode an account gets when nothing else is said: its provider's.
    fn from(provider: Provider) -> Self {
        match provider {
            Provider::Plaid => Self::Plaid,
            Provider::SnapTrade => Self::SnapTrade,
            Provider::Alpaca => Self::Alpaca,
            Provider::Manual => Self::Manual,
        }
    }
}

impl From<AccountMode> for Provider {
    fn from(mode: AccountMode) -> Self {
        match mode {
            AccountMode::Plaid => Self::Plaid,
            AccountMode::SnapTrade => Self::SnapTrade,
            AccountMode::Alpaca => Self::Alpaca,
            AccountMode::Manual => Self::Manual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainError;

    #[test]
    fn providers_round_trip_exactly_the_strings_the_schema_stores() {
        let stored = ["plaid", "snaptrade", "alpaca", "manual"];
        for (provider, text) in Provider::ALL.iter().zip(stored) {
            assert_eq!(provider.as_str(), text);
            assert_eq!(text.parse::<Provider>().unwrap(), *provider);
            assert_eq!(provider.to_string(), text);
        }
        assert_eq!(Provider::ALL.len(), stored.len());
    }

    #[test]
    fn account_modes_round_trip_exactly_the_strings_the_schema_stores() {
        for mode in AccountMode::ALL {
            assert_eq!(AccountMode::parse(mode.as_str()).unwrap(), *mode);
            assert_eq!(Provider::from(*mode).as_str(), mode.as_str());
        }
    }

    #[test]
    fn an_unknown_provider_is_refused_naming_the_field() {
        let error = Provider::parse("robinhood").unwrap_err();
        assert!(matches!(
            error,
            DomainError::UnknownValue {
                field: "provider",
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            "provider: \"robinhood\" is not one of plaid, snaptrade, alpaca, manual"
        );
    }

    #[test]
    fn provider_parsing_is_exact_because_the_check_constraint_is() {
        assert!(Provider::parse("SnapTrade").is_err());
        assert!(Provider::parse(" plaid").is_err());
        assert!(AccountMode::parse("PLAID").is_err());
    }

    #[test]
    fn every_provider_has_a_display_name_and_a_client_has_a_flag_of_its_own() {
        let mut variables = Vec::new();
        for provider in Provider::ALL {
            assert!(!provider.display_name().is_empty(), "{provider}");
            assert_eq!(
                provider.display_name().to_lowercase(),
                provider.as_str(),
                "{provider}'s display name is its spelling, capitalised"
            );
            match provider.flag() {
                Some(flag) => variables.push(flag.variable),
                None => assert_eq!(*provider, Provider::Manual, "only manual has no flag"),
            }
        }
        let distinct: std::collections::BTreeSet<_> = variables.iter().collect();
        assert_eq!(
            distinct.len(),
            variables.len(),
            "each flag is its provider's own"
        );
    }

    #[test]
    fn a_provider_set_holds_each_provider_once_in_declaration_order() {
        let set: ProviderSet = [Provider::Alpaca, Provider::Plaid, Provider::Alpaca]
            .into_iter()
            .collect();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Provider::Plaid, Provider::Alpaca]
        );
        assert!(!set.without(Provider::Plaid).contains(Provider::Plaid));
        assert!(ProviderSet::EMPTY.is_empty());
        for provider in Provider::ALL {
            assert_eq!(
                ProviderSet::with_clients().contains(*provider),
                provider.has_client()
            );
            assert!(ProviderSet::EMPTY.with(*provider).contains(*provider));
        }
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["plaid","alpaca"]"#);
        assert_eq!(serde_json::from_str::<ProviderSet>(&json).unwrap(), set);
    }

    #[test]
    fn providers_serialize_as_their_schema_string() {
        assert_eq!(
            serde_json::to_string(&Provider::SnapTrade).unwrap(),
            "\"snaptrade\""
        );
        assert_eq!(
            serde_json::from_str::<Provider>("\"alpaca\"").unwrap(),
            Provider::Alpaca
        );
        let error = serde_json::from_str::<AccountMode>("\"bank\"").unwrap_err();
        assert!(error.to_string().contains("account_mode"), "{error}");
    }
}
