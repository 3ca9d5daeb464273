//! A user's portfolio mode: which kinds of accounts they have.

use crate::vocabulary::closed_vocabulary;

closed_vocabulary! {
    /// What `public.get_user_portfolio_mode` returns in its `mode` column.
    PortfolioMode, field = "mode" {
        /// An Alpaca brokerage account and aggregated (Plaid or SnapTrade) accounts.
        Hybrid => "hybrid",
        /// Only the Alpaca brokerage account.
        Brokerage => "brokerage",
        /// Only aggregated accounts.
        Aggregation => "aggregation",
        /// Nothing connected.
        None => "none",
    }
}

impl PortfolioMode {
    /// The truth table of `public.get_user_portfolio_mode` (migration 0008): `has_alpaca` is an onboarding row
    /// with an Alpaca account id; `has_plaid` and `has_snaptrade` are active accounts of those providers.
    /// Plaid and SnapTrade both count as aggregation.
    pub const fn from_providers(has_alpaca: bool, has_plaid: bool, has_snaptrade: bool) -> Self {
        let has_aggregation = has_plaid || has_snaptrade;
        match (has_alpaca, has_aggregation) {
            (true, true) => Self::Hybrid,
            (true, false) => Self::Brokerage,
            (false, true) => Self::Aggregation,
            (false, false) => Self::None,
        }
    }

    /// Whether the user has the Alpaca brokerage account.
    pub const fn has_brokerage(self) -> bool {
        matches!(self, Self::Hybrid | Self::Brokerage)
    }

    /// Whether the user has aggregated accounts.
    pub const fn has_aggregation(self) -> bool {
        matches!(self, Self::Hybrid | Self::Aggregation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_eight_provider_combinations_give_the_sql_functions_mode() {
        use PortfolioMode::*;
        let table = [
            ((false, false, false), None),
            ((false, false, true), Aggregation),
            ((false, true, false), Aggregation),
            ((false, true, true), Aggregation),
            ((true, false, false), Brokerage),
            ((true, false, true), Hybrid),
            ((true, true, false), Hybrid),
            ((true, true, true), Hybrid),
        ];
        for ((alpaca, plaid, snaptrade), mode) in table {
            assert_eq!(
                PortfolioMode::from_providers(alpaca, plaid, snaptrade),
                mode,
                "{alpaca} {plaid} {snaptrade}"
            );
        }
    }

    #[test]
    fn modes_round_trip_the_strings_the_function_returns() {
        let returned: Vec<_> = PortfolioMode::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(returned, ["hybrid", "brokerage", "aggregation", "none"]);
        for mode in PortfolioMode::ALL {
            assert_eq!(mode.as_str().parse::<PortfolioMode>().unwrap(), *mode);
        }
        assert!(PortfolioMode::parse("disabled").is_err());
    }

    #[test]
    fn a_mode_says_which_sides_it_has() {
        assert!(PortfolioMode::Hybrid.has_brokerage() && PortfolioMode::Hybrid.has_aggregation());
        assert!(
            PortfolioMode::Brokerage.has_brokerage() && !PortfolioMode::Brokerage.has_aggregation()
        );
        assert!(!PortfolioMode::None.has_brokerage() && !PortfolioMode::None.has_aggregation());
    }
}
