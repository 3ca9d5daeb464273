//! Which provider serves a user's aggregation and which executes an order, decided from the feature flags,
//! the user's accounts and the clients compiled into this build.
//!
//! | provider  | switched on by                                          | serves              |
//! |-----------|---------------------------------------------------------|---------------------|
//! | Plaid     | `FF_AGGREGATION_MODE` and `FF_PLAID_INVESTMENT_SYNC`     | aggregation         |
//! | SnapTrade | `FF_AGGREGATION_MODE` and `FF_SNAPTRADE_INVESTMENT_SYNC` | aggregation, trades on trade connections |
//! | Alpaca    | `FF_BROKERAGE_MODE`                                      | the brokerage account's trades |
//!
//! (Each provider's flag is its [`Provider::flag`].) A provider switched off is [`RoutingRefusal::Disabled`];
//! one switched on whose Cargo feature is off is [`RoutingRefusal::NotCompiled`]. Neither is ever a panic, and
//! neither is a [`crate::ProviderError`]: that one is for calls that went out.

use tributary_domain::{
    AccountId, ConnectionStatus, ConnectionType, FeatureFlags, InvestmentAccount, Provider,
    ProviderSet, TradingAccess,
};

/// The providers whose clients this build contains: one line per provider's Cargo feature.
pub const fn compiled() -> ProviderSet {
    let mut set = ProviderSet::EMPTY;
    if cfg!(feature = "plaid") {
        set = set.with(Provider::Plaid);
    }
    if cfg!(feature = "snaptrade") {
        set = set.with(Provider::SnapTrade);
    }
    if cfg!(feature = "alpaca") {
        set = set.with(Provider::Alpaca);
    }
    set
}

/// Why the router will not use a provider for a user or an account: a policy refusal, decided before any call
/// goes out. Nothing here is retryable as it stands; some only the user can repair ([`Self::needs_relink`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingRefusal {
    /// The provider's client was compiled out of this build (its Cargo feature is off).
    #[error("the {0} client is not compiled into this build (enable the `{0}` feature)")]
    NotCompiled(Provider),
    /// The provider has no client at all (manual accounts are entered by hand).
    #[error("{0} accounts have no provider client")]
    NoClient(Provider),
    /// The provider is switched off by a feature flag.
    #[error("{0} is disabled by a feature flag")]
    Disabled(Provider),
    /// The account's brokerage connection is read-only: it can be read, never traded.
    #[error(
        "account {account} is connected read-only and cannot trade; reconnect it with trading access"
    )]
    ReadOnlyConnection {
        /// The account.
        account: AccountId,
    },
    /// The account's brokerage connection is not active (disabled or in error) until the user repairs it.
    #[error(
        "account {account}'s connection is {status}; the user must reconnect it before trading"
    )]
    ConnectionUnavailable {
        /// The account.
        account: AccountId,
        /// The connection's status.
        status: ConnectionStatus,
    },
    /// The account is not active any more.
    #[error("account {account} is not active")]
    AccountInactive {
        /// The account.
        account: AccountId,
    },
    /// No provider executes orders for this kind of account (Plaid and manual accounts are read-only).
    #[error("no provider trades {provider} account {account}")]
    NoTradingProvider {
        /// The account.
        account: AccountId,
        /// The provider the account comes from.
        provider: Provider,
    },
}

impl RoutingRefusal {
    /// The provider refused, when the refusal names one.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Self::NotCompiled(provider) | Self::NoClient(provider) | Self::Disabled(provider) => {
                Some(*provider)
            }
            Self::NoTradingProvider { provider, .. } => Some(*provider),
            Self::ReadOnlyConnection { .. }
            | Self::ConnectionUnavailable { .. }
            | Self::AccountInactive { .. } => None,
        }
    }

    /// Whether only the user can lift this, by linking the connection again: it is read-only where trading
    /// was asked, or it is disabled or in error.
    ///
    /// ```
    /// use tributary_domain::AccountId;
    /// use tributary_provider::router::RoutingRefusal;
    ///
    /// let account = AccountId::generate();
    /// assert!(RoutingRefusal::ReadOnlyConnection { account }.needs_relink());
    /// assert!(!RoutingRefusal::AccountInactive { account }.needs_relink());
    /// ```
    pub fn needs_relink(&self) -> bool {
        matches!(
            self,
            Self::ReadOnlyConnection { .. } | Self::ConnectionUnavailable { .. }
        )
    }

    /// Never: a refusal stands until someone changes a flag, the build, the account or its connection.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// Never a provider's status: nothing was sent.
    pub fn http_status(&self) -> Option<u16> {
        None
    }
}

/// Picks providers for users and accounts.
#[derive(Debug, Clone, Copy)]
pub struct ProviderRouter {
    flags: FeatureFlags,
    compiled: ProviderSet,
}

impl ProviderRouter {
    /// A router for these flags and the clients compiled into this build ([`compiled`]).
    pub const fn new(flags: FeatureFlags) -> Self {
        Self::with_compiled(flags, compiled())
    }

    /// A router for these flags as if the given clients were compiled in (tests of other builds).
    pub const fn with_compiled(flags: FeatureFlags, compiled: ProviderSet) -> Self {
        Self { flags, compiled }
    }

    /// The flags the router decides by.
    pub const fn flags(&self) -> FeatureFlags {
        self.flags
    }

    /// Whether `provider` may be used now: a provider with a client, switched on by its flags, compiled in.
    ///
    /// # Errors
    /// [`RoutingRefusal::NoClient`], [`RoutingRefusal::Disabled`] or [`RoutingRefusal::NotCompiled`], in
    /// that order.
    pub fn check(&self, provider: Provider) -> Result<(), RoutingRefusal> {
        if !provider.has_client() {
            return Err(RoutingRefusal::NoClient(provider));
        }
        if !self.flags.is_enabled(provider) {
            return Err(RoutingRefusal::Disabled(provider));
        }
        if !self.compiled.contains(provider) {
            return Err(RoutingRefusal::NotCompiled(provider));
        }
        Ok(())
    }

    /// The provider that executes orders for `account`, as its [`Provider::trading`] says: Alpaca for the
    /// brokerage account, SnapTrade for an account on an active trade connection.
    ///
    /// # Errors
    /// Refused, in this order: an inactive account; a Plaid or manual account
    /// ([`RoutingRefusal::NoTradingProvider`]); a read-only SnapTrade connection
    /// ([`RoutingRefusal::ReadOnlyConnection`]); a disabled or failed connection; then the provider's flag
    /// and Cargo feature.
    pub fn trading_for(&self, account: &InvestmentAccount) -> Result<Provider, RoutingRefusal> {
        if !account.is_active {
            return Err(RoutingRefusal::AccountInactive {
                account: account.id,
            });
        }
        match account.provider.trading() {
            TradingAccess::Always => {}
            TradingAccess::TradeConnection => check_trade_connection(account)?,
            TradingAccess::Never => {
                return Err(RoutingRefusal::NoTradingProvider {
                    account: account.id,
                    provider: account.provider,
                });
            }
        }
        self.check(account.provider)?;
        Ok(account.provider)
    }
}

/// Whether a connection, as stored or as its provider reports it, lets `account` trade: a trade connection
/// that is active.
///
/// # Errors
/// [`RoutingRefusal::ReadOnlyConnection`], [`RoutingRefusal::ConnectionUnavailable`].
pub fn trade_connection(
    account: AccountId,
    connection_type: ConnectionType,
    status: ConnectionStatus,
) -> Result<(), RoutingRefusal> {
    if connection_type != ConnectionType::Trade {
        return Err(RoutingRefusal::ReadOnlyConnection { account });
    }
    if status != ConnectionStatus::Active {
        return Err(RoutingRefusal::ConnectionUnavailable { account, status });
    }
    Ok(())
}

fn check_trade_connection(account: &InvestmentAccount) -> Result<(), RoutingRefusal> {
    trade_connection(
        account.id,
        account.connection_type,
        account.connection_status,
    )
}

#[cfg(test)]
mod tests {
    use tributary_domain::{
        AccountMode, AccountType, InstitutionName, ProviderAccountId, SyncStatus, UserId,
    };

    use super::*;

    const EVERYTHING: ProviderSet = ProviderSet::with_clients();
    const ALL_ON: FeatureFlags = FeatureFlags::all_on();

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
        let plaid_off = router(
            FeatureFlags::builder()
                .aggregation_mode(true)
                .enable(Provider::SnapTrade)
                .build(),
        );
        assert!(matches!(
            plaid_off.check(Provider::Plaid),
            Err(RoutingRefusal::Disabled(Provider::Plaid))
        ));
        assert!(plaid_off.check(Provider::SnapTrade).is_ok());
    }

    #[test]
    fn aggregation_mode_off_disables_both_aggregators() {
        let aggregation_off = router(
            FeatureFlags::builder()
                .enable(Provider::Plaid)
                .enable(Provider::SnapTrade)
                .enable(Provider::Alpaca)
                .build(),
        );
        for provider in [Provider::Plaid, Provider::SnapTrade] {
            assert!(matches!(
                aggregation_off.check(provider),
                Err(RoutingRefusal::Disabled(p)) if p == provider
            ));
        }
    }

    #[test]
    fn a_provider_compiled_out_is_refused_as_not_compiled() {
        let no_snaptrade = EVERYTHING.without(Provider::SnapTrade);
        let router = ProviderRouter::with_compiled(ALL_ON, no_snaptrade);
        assert!(router.check(Provider::Plaid).is_ok());
        assert!(matches!(
            router.check(Provider::SnapTrade),
            Err(RoutingRefusal::NotCompiled(Provider::SnapTrade))
        ));
        assert!(matches!(
            router.trading_for(&trade_connection()),
            Err(RoutingRefusal::NotCompiled(Provider::SnapTrade))
        ));
    }

    #[test]
    fn a_disabled_provider_is_disabled_even_when_also_compiled_out() {
        let router = ProviderRouter::with_compiled(
            FeatureFlags::default(),
            EVERYTHING.without(Provider::Alpaca),
        );
        assert!(matches!(
            router.trading_for(&account(Provider::Alpaca)),
            Err(RoutingRefusal::Disabled(Provider::Alpaca))
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
        let brokerage_off = FeatureFlags::default();
        assert!(matches!(
            router(brokerage_off).trading_for(&account(Provider::Alpaca)),
            Err(RoutingRefusal::Disabled(Provider::Alpaca))
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
            matches!(error, RoutingRefusal::ReadOnlyConnection { account } if account == read_only.id)
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
            Err(RoutingRefusal::ConnectionUnavailable {
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
                Err(RoutingRefusal::NoTradingProvider { provider: refused, .. }) if refused == provider
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
            Err(RoutingRefusal::AccountInactive { .. })
        ));
    }

    #[test]
    fn snaptrade_trading_follows_the_snaptrade_flag() {
        let snaptrade_off = FeatureFlags::builder()
            .aggregation_mode(true)
            .enable(Provider::Plaid)
            .enable(Provider::Alpaca)
            .build();
        assert!(matches!(
            router(snaptrade_off).trading_for(&trade_connection()),
            Err(RoutingRefusal::Disabled(Provider::SnapTrade))
        ));
    }

    /// With every feature on (`full`, which lists each provider's feature), every provider that has a client
    /// is compiled in and routed: a provider added to `Provider` but not to [`compiled`] fails here.
    #[test]
    fn with_every_feature_every_provider_with_a_client_is_compiled_in_and_routed() {
        if !cfg!(feature = "full") {
            return;
        }
        let router = ProviderRouter::new(ALL_ON);
        for provider in Provider::ALL {
            assert_eq!(
                compiled().contains(*provider),
                provider.has_client(),
                "{provider}"
            );
            assert_eq!(
                router.check(*provider).is_ok(),
                provider.has_client(),
                "{provider}"
            );
        }
    }

    #[test]
    fn a_refusal_is_never_retryable_nor_an_http_answer() {
        let account = AccountId::generate();
        let refusals = [
            (RoutingRefusal::NotCompiled(Provider::Alpaca), false),
            (RoutingRefusal::NoClient(Provider::Manual), false),
            (RoutingRefusal::Disabled(Provider::Plaid), false),
            (RoutingRefusal::ReadOnlyConnection { account }, true),
            (
                RoutingRefusal::ConnectionUnavailable {
                    account,
                    status: ConnectionStatus::Disabled,
                },
                true,
            ),
            (RoutingRefusal::AccountInactive { account }, false),
            (
                RoutingRefusal::NoTradingProvider {
                    account,
                    provider: Provider::Plaid,
                },
                false,
            ),
        ];
        for (refusal, relink) in refusals {
            assert_eq!(refusal.needs_relink(), relink, "{refusal:?}");
            assert!(!refusal.is_retryable(), "{refusal:?}");
            assert_eq!(refusal.http_status(), None, "{refusal:?}");
        }
    }

    #[test]
    fn manual_accounts_have_no_provider_client() {
        assert!(matches!(
            router(ALL_ON).check(Provider::Manual),
            Err(RoutingRefusal::NoClient(Provider::Manual))
        ));
    }

    #[test]
    fn the_current_build_reports_its_own_features() {
        let compiled = compiled();
        assert_eq!(compiled.contains(Provider::Plaid), cfg!(feature = "plaid"));
        assert_eq!(
            compiled.contains(Provider::SnapTrade),
            cfg!(feature = "snaptrade")
        );
        assert_eq!(
            compiled.contains(Provider::Alpaca),
            cfg!(feature = "alpaca")
        );
        assert!(!compiled.contains(Provider::Manual));
        let router = ProviderRouter::new(ALL_ON);
        assert_eq!(
            router.check(Provider::Plaid).is_ok(),
            cfg!(feature = "plaid")
        );
    }
}
