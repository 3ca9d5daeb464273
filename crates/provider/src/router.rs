//! Which provider serves a user's aggregation and which executes an order, decided from the feature flags,
//! the user's accounts and the clients compiled into this build.
//!
//! | provider  | switched on by                                          | serves              |
//! |-----------|---------------------------------------------------------|---------------------|
//! | Plaid     | `FF_AGGREGATION_MODE` and `FF_PLAID_INVESTMENT_SYNC`     | aggregation         |
//! | SnapTrade | `FF_AGGREGATION_MODE` and `FF_SNAPTRADE_INVESTMENT_SYNC` | aggregation, trades on trade connections |
//! | Alpaca    | `FF_BROKERAGE_MODE`                                      | the brokerage account's trades |
//!
//! A provider switched off is [`ProviderError::Disabled`]; one switched on whose Cargo feature is off is
//! [`ProviderError::NotCompiled`]. Neither is ever a panic.

use tributary_domain::{
    ConnectionStatus, ConnectionType, FeatureFlags, InvestmentAccount, Provider,
};

use crate::error::ProviderError;

/// Which provider clients this build contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompiledProviders {
    /// The `plaid` feature.
    pub plaid: bool,
    /// The `snaptrade` feature.
    pub snaptrade: bool,
    /// The `alpaca` feature.
    pub alpaca: bool,
}

impl CompiledProviders {
    /// The clients compiled into this build.
    pub const fn current() -> Self {
        Self {
            plaid: cfg!(feature = "plaid"),
            snaptrade: cfg!(feature = "snaptrade"),
            alpaca: cfg!(feature = "alpaca"),
        }
    }

    /// Whether `provider`'s client is compiled in (manual accounts have no client).
    pub const fn contains(self, provider: Provider) -> bool {
        match provider {
            Provider::Plaid => self.plaid,
            Provider::SnapTrade => self.snaptrade,
            Provider::Alpaca => self.alpaca,
            Provider::Manual => false,
        }
    }
}

/// Picks providers for users and accounts.
#[derive(Debug, Clone, Copy)]
pub struct ProviderRouter {
    flags: FeatureFlags,
    compiled: CompiledProviders,
}

impl ProviderRouter {
    /// A router for these flags and the clients compiled into this build.
    pub const fn new(flags: FeatureFlags) -> Self {
        Self::with_compiled(flags, CompiledProviders::current())
    }

    /// A router for these flags as if the given clients were compiled in (tests of other builds).
    pub const fn with_compiled(flags: FeatureFlags, compiled: CompiledProviders) -> Self {
        Self { flags, compiled }
    }

    /// Whether `provider` may be used now: a provider with a client, switched on by its flags, compiled in.
    pub fn check(&self, provider: Provider) -> Result<(), ProviderError> {
        if provider == Provider::Manual {
            return Err(ProviderError::NoClient(provider));
        }
        if !self.switched_on(provider) {
            return Err(ProviderError::Disabled(provider));
        }
        if !self.compiled.contains(provider) {
            return Err(ProviderError::NotCompiled(provider));
        }
        Ok(())
    }

    fn switched_on(&self, provider: Provider) -> bool {
        let flags = &self.flags;
        match provider {
            Provider::Plaid => flags.aggregation_mode && flags.plaid_investment_sync,
            Provider::SnapTrade => flags.aggregation_mode && flags.snaptrade_investment_sync,
            Provider::Alpaca => flags.brokerage_mode,
            Provider::Manual => false,
        }
    }

    /// The provider that executes orders for `account`: Alpaca for the brokerage account, SnapTrade for an
    /// account on an active trade connection.
    ///
    /// Refused, in this order: an inactive account; a Plaid or manual account
    /// ([`ProviderError::NoTradingProvider`]); a read-only SnapTrade connection
    /// ([`ProviderError::ReadOnlyConnection`]); a disabled or failed connection; then the provider's flag
    /// and Cargo feature.
    pub fn trading_for(&self, account: &InvestmentAccount) -> Result<Provider, ProviderError> {
        if !account.is_active {
            return Err(ProviderError::AccountInactive {
                account: account.id,
            });
        }
        match account.provider {
            Provider::Alpaca => {}
            Provider::SnapTrade => check_trade_connection(account)?,
            provider @ (Provider::Plaid | Provider::Manual) => {
                return Err(ProviderError::NoTradingProvider {
                    account: account.id,
                    provider,
                });
            }
        }
        self.check(account.provider)?;
        Ok(account.provider)
    }
}

fn check_trade_connection(account: &InvestmentAccount) -> Result<(), ProviderError> {
    if account.connection_type != ConnectionType::Trade {
        return Err(ProviderError::ReadOnlyConnection {
            account: account.id,
        });
    }
    if account.connection_status != ConnectionStatus::Active {
        return Err(ProviderError::ConnectionUnavailable {
            account: account.id,
            status: account.connection_status,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tributary_domain::{
        AccountId, AccountMode, AccountType, InstitutionName, ProviderAccountId, SyncStatus, UserId,
    };

    use super::*;

    const EVERYTHING: CompiledProviders = CompiledProviders {
        plaid: true,
        snaptrade: true,
        alpaca: true,
    };
    const ALL_ON: FeatureFlags = FeatureFlags::new(true, true, true, true);

    fn account(provider: Provider) -> InvestmentAccount {
        InvestmentAccount {
            id: AccountId::generate(),
            user_id: UserId::generate(),
            provider,
            provider_account_id: ProviderAccountId::parse("acct-1").unwrap(),
            provider_item_id: None,
            institution_id: None,
            institution_name: InstitutionName::parse("Institution").unwrap(),
            account_name: None,
            account_type: AccountType::parse("brokerage").unwrap(),
            account_subtype: None,
            sync_enabled: true,
            last_synced: None,
            sync_status: SyncStatus::Pending,
            sync_error_message: None,
            is_active: true,
            is_primary: false,
            raw_account_data: serde_json::json!({}),
            created_at: None,
            updated_at: None,
            snaptrade_authorization_id: None,
            brokerage_name: None,
            connection_type: ConnectionType::Read,
            connection_status: ConnectionStatus::Active,
            account_mode: AccountMode::from(provider),
        }
    }

    fn trade_connection() -> InvestmentAccount {
        InvestmentAccount {
            connection_type: ConnectionType::Trade,
            ..account(Provider::SnapTrade)
        }
    }

    fn router(flags: FeatureFlags) -> ProviderRouter {
        ProviderRouter::with_compiled(flags, EVERYTHING)
    }

    #[test]
    fn with_every_flag_on_both_aggregators_may_be_used() {
        let router = router(ALL_ON);
        assert!(router.check(Provider::Plaid).is_ok());
        assert!(router.check(Provider::SnapTrade).is_ok());
    }

    #[test]
    fn a_provider_switched_off_by_its_flag_is_refused_as_disabled() {
        let plaid_off = router(FeatureFlags::new(true, true, false, true));
        assert!(matches!(
            plaid_off.check(Provider::Plaid),
            Err(ProviderError::Disabled(Provider::Plaid))
        ));
        assert!(plaid_off.check(Provider::SnapTrade).is_ok());
    }

    #[test]
    fn aggregation_mode_off_disables_both_aggregators() {
        let aggregation_off = router(FeatureFlags::new(true, false, true, true));
        for provider in [Provider::Plaid, Provider::SnapTrade] {
            assert!(matches!(
                aggregation_off.check(provider),
                Err(ProviderError::Disabled(p)) if p == provider
            ));
        }
    }

    #[test]
    fn a_provider_compiled_out_is_refused_as_not_compiled() {
        let no_snaptrade = CompiledProviders {
            snaptrade: false,
            ..EVERYTHING
        };
        let router = ProviderRouter::with_compiled(ALL_ON, no_snaptrade);
        assert!(router.check(Provider::Plaid).is_ok());
        assert!(matches!(
            router.check(Provider::SnapTrade),
            Err(ProviderError::NotCompiled(Provider::SnapTrade))
        ));
        assert!(matches!(
            router.trading_for(&trade_connection()),
            Err(ProviderError::NotCompiled(Provider::SnapTrade))
        ));
    }

    #[test]
    fn a_disabled_provider_is_disabled_even_when_also_compiled_out() {
        let router = ProviderRouter::with_compiled(
            FeatureFlags::new(false, true, true, true),
            CompiledProviders {
                alpaca: false,
                ..EVERYTHING
            },
        );
        assert!(matches!(
            router.trading_for(&account(Provider::Alpaca)),
            Err(ProviderError::Disabled(Provider::Alpaca))
        ));
    }

    #[test]
    fn the_brokerage_account_trades_through_alpaca() {
        assert_eq!(
            router(ALL_ON)
                .trading_for(&account(Provider::Alpaca))
                .unwrap(),
            Provider::Alpaca
        );
    }

    #[test]
    fn brokerage_mode_off_disables_alpaca_trading() {
        let brokerage_off = FeatureFlags::new(false, true, true, true);
        assert!(matches!(
            router(brokerage_off).trading_for(&account(Provider::Alpaca)),
            Err(ProviderError::Disabled(Provider::Alpaca))
        ));
    }

    #[test]
    fn a_trade_connection_trades_through_snaptrade() {
        assert_eq!(
            router(ALL_ON).trading_for(&trade_connection()).unwrap(),
            Provider::SnapTrade
        );
    }

    #[test]
    fn order_on_read_only_connection_is_refused() {
        let read_only = account(Provider::SnapTrade);
        let error = router(ALL_ON).trading_for(&read_only).unwrap_err();
        assert!(
            matches!(error, ProviderError::ReadOnlyConnection { account } if account == read_only.id)
        );
        assert!(error.to_string().contains("read-only"), "{error}");
    }

    #[test]
    fn a_disabled_trade_connection_must_be_repaired_first() {
        let broken = InvestmentAccount {
            connection_status: ConnectionStatus::Disabled,
            ..trade_connection()
        };
        assert!(matches!(
            router(ALL_ON).trading_for(&broken),
            Err(ProviderError::ConnectionUnavailable {
                status: ConnectionStatus::Disabled,
                ..
            })
        ));
    }

    #[test]
    fn plaid_and_manual_accounts_have_no_trading_provider() {
        for provider in [Provider::Plaid, Provider::Manual] {
            assert!(matches!(
                router(ALL_ON).trading_for(&account(provider)),
                Err(ProviderError::NoTradingProvider { provider: refused, .. }) if refused == provider
            ));
        }
    }

    #[test]
    fn an_inactive_account_does_not_trade() {
        let closed = InvestmentAccount {
            is_active: false,
            ..account(Provider::Alpaca)
        };
        assert!(matches!(
            router(ALL_ON).trading_for(&closed),
            Err(ProviderError::AccountInactive { .. })
        ));
    }

    #[test]
    fn snaptrade_trading_follows_the_snaptrade_flag() {
        let snaptrade_off = FeatureFlags::new(true, true, true, false);
        assert!(matches!(
            router(snaptrade_off).trading_for(&trade_connection()),
            Err(ProviderError::Disabled(Provider::SnapTrade))
        ));
    }

    #[test]
    fn manual_accounts_have_no_provider_client() {
        assert!(matches!(
            router(ALL_ON).check(Provider::Manual),
            Err(ProviderError::NoClient(Provider::Manual))
        ));
    }

    #[test]
    fn the_current_build_reports_its_own_features() {
        let compiled = CompiledProviders::current();
        assert_eq!(compiled.plaid, cfg!(feature = "plaid"));
        assert_eq!(compiled.snaptrade, cfg!(feature = "snaptrade"));
        assert_eq!(compiled.alpaca, cfg!(feature = "alpaca"));
        let router = ProviderRouter::new(ALL_ON);
        assert_eq!(
            router.check(Provider::Plaid).is_ok(),
            cfg!(feature = "plaid")
        );
    }
}
