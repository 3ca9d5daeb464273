//! Where an account's data comes from: [`Provider`] and [`AccountMode`].

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
