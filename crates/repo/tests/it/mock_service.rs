//! The mock twin in use: two small services written against the repository traits, unit-tested with the
//! `mockall` mocks the `mock` feature generates. No database, no `MemoryStore`: each test says exactly which
//! calls the service must make, with which arguments.

use mockall::predicate::eq;
use rust_decimal::Decimal;
use tributary_domain::{
    Amount, Holding, HoldingFigures, HoldingId, NewHolding, PortfolioMode, Quantity, Symbol, UserId,
};
use tributary_repo::{
    HoldingRepository, HoldingsReplaced, MockHoldingRepository, MockPortfolioRepository,
    PortfolioRepository, PortfolioSummary, RepoError,
};

/// What a dashboard shows for a user.
#[derive(Debug, PartialEq)]
struct PortfolioOverview {
    mode: PortfolioMode,
    total_market_value: Decimal,
    largest_position: Option<Symbol>,
}

/// The service under test: a user with nothing connected needs no holdings query.
async fn portfolio_overview(
    portfolio: &dyn PortfolioRepository,
    holdings: &dyn HoldingRepository,
    user: UserId,
) -> Result<PortfolioOverview, RepoError> {
    let mode = portfolio.portfolio_mode(user).await?.mode;
    if mode == PortfolioMode::None {
        return Ok(PortfolioOverview {
            mode,
            total_market_value: Decimal::ZERO,
            largest_position: None,
        });
    }
    let held = holdings.list_holdings(user).await?;
    let total_market_value = held
        .iter()
        .map(|h| h.figures.total_market_value.get())
        .sum();
    let largest_position = held
        .iter()
        .max_by_key(|h| h.figures.total_market_value)
        .map(|h| h.symbol.clone());
    Ok(PortfolioOverview {
        mode,
        total_market_value,
        largest_position,
    })
}

/// A second service: after a sync, positions that were closed (zero quantity) are not stored.
async fn store_synced_positions(
    holdings: &dyn HoldingRepository,
    user: UserId,
    positions: Vec<NewHolding>,
) -> Result<HoldingsReplaced, RepoError> {
    let open: Vec<NewHolding> = positions
        .into_iter()
        .filter(|p| !p.figures.total_quantity.is_zero())
        .collect();
    holdings.replace_holdings(user, &open).await
}

fn figures(quantity: &str, value: &str) -> HoldingFigures {
    HoldingFigures::derive(
        Quantity::parse(quantity).unwrap(),
        Amount::parse(value).unwrap(),
        Amount::parse("100").unwrap(),
    )
    .unwrap()
}

fn stored_holding(user: UserId, symbol: &str, value: &str) -> Holding {
    Holding {
        id: HoldingId::generate(),
        user_id: user,
        symbol: Symbol::parse(symbol).unwrap(),
        currency: None,
        security_id: None,
        security_name: None,
        security_type: None,
        figures: figures("1", value),
        account_contributions: Vec::new(),
        institution_breakdown: Default::default(),
        account_count: 1,
        updated_at: None,
        price_as_of: None,
        data_source: Some("aggregated".into()),
        provider_metadata: Default::default(),
        universal_symbol_id: None,
        option_contract: None,
    }
}

fn summary(mode: PortfolioMode) -> PortfolioSummary {
    PortfolioSummary {
        mode,
        has_alpaca: mode.has_brokerage(),
        has_plaid: mode.has_aggregation(),
        has_snaptrade: false,
        alpaca_account_id: None,
        accounts_count: 1,
    }
}

#[tokio::test]
async fn the_overview_sums_the_users_holdings_and_names_the_largest() {
    let user = UserId::generate();
    let mut portfolio = MockPortfolioRepository::new();
    portfolio
        .expect_portfolio_mode()
        .with(eq(user))
        .times(1)
        .returning(|_| Ok(summary(PortfolioMode::Hybrid)));
    let mut holdings = MockHoldingRepository::new();
    holdings
        .expect_list_holdings()
        .with(eq(user))
        .times(1)
        .returning(move |user| {
            Ok(vec![
                stored_holding(user, "AAPL", "2291.40"),
                stored_holding(user, "VTI", "12346.25"),
            ])
        });

    let overview = portfolio_overview(&portfolio, &holdings, user)
        .await
        .unwrap();

    assert_eq!(
        overview,
        PortfolioOverview {
            mode: PortfolioMode::Hybrid,
            total_market_value: "14637.65".parse().unwrap(),
            largest_position: Some(Symbol::parse("VTI").unwrap()),
        }
    );
}

#[tokio::test]
async fn a_user_with_nothing_connected_gets_an_empty_overview_without_a_holdings_query() {
    let user = UserId::generate();
    let mut portfolio = MockPortfolioRepository::new();
    portfolio
        .expect_portfolio_mode()
        .with(eq(user))
        .times(1)
        .returning(|_| Ok(summary(PortfolioMode::None)));
    let mut holdings = MockHoldingRepository::new();
    holdings.expect_list_holdings().never();

    let overview = portfolio_overview(&portfolio, &holdings, user)
        .await
        .unwrap();

    assert_eq!(overview.total_market_value, Decimal::ZERO);
    assert_eq!(overview.largest_position, None);
}

#[tokio::test]
async fn a_repository_failure_reaches_the_caller_as_the_same_typed_error() {
    let user = UserId::generate();
    let mut portfolio = MockPortfolioRepository::new();
    portfolio
        .expect_portfolio_mode()
        .returning(|_| Ok(summary(PortfolioMode::Aggregation)));
    let mut holdings = MockHoldingRepository::new();
    holdings.expect_list_holdings().times(1).returning(|_| {
        Err(RepoError::Unavailable {
            reason: "pool timed out".into(),
        })
    });

    let error = portfolio_overview(&portfolio, &holdings, user)
        .await
        .unwrap_err();

    assert!(matches!(error, RepoError::Unavailable { .. }));
}

#[tokio::test]
async fn closed_positions_are_left_out_of_the_replacement() {
    let user = UserId::generate();
    let mut holdings = MockHoldingRepository::new();
    holdings
        .expect_replace_holdings()
        .withf(move |called_for, open| {
            let symbols: Vec<&str> = open.iter().map(|h| h.symbol.as_str()).collect();
            *called_for == user && symbols == ["AAPL", "VTI"]
        })
        .times(1)
        .returning(|_, open| {
            Ok(HoldingsReplaced {
                written: open.len(),
                removed: 1,
            })
        });
    let position = |symbol: &str, quantity: &str| {
        NewHolding::new(
            user,
            Symbol::parse(symbol).unwrap(),
            figures(quantity, "10"),
        )
    };

    let replaced = store_synced_positions(
        &holdings,
        user,
        vec![
            position("AAPL", "10"),
            position("TSLA", "0"),
            position("VTI", "42.5"),
        ],
    )
    .await
    .unwrap();

    assert_eq!(
        replaced,
        HoldingsReplaced {
            written: 2,
            removed: 1
        }
    );
}

/// The README's example, verbatim (`/work/notes/readme-mock-snippet.md`), so the snippet is known to compile
/// and pass; and the same service run on `MemoryStore`.
mod readme_snippet {
    use mockall::predicate::eq;
    use rust_decimal::Decimal;
    use tributary_domain::{PortfolioMode, UserId};
    use tributary_repo::{
        HoldingRepository, MockHoldingRepository, MockPortfolioRepository, PortfolioRepository,
        RepoError,
    };

    /// The user's total market value; a user with nothing connected needs no holdings query.
    async fn total_value(
        portfolio: &dyn PortfolioRepository,
        holdings: &dyn HoldingRepository,
        user: UserId,
    ) -> Result<Decimal, RepoError> {
        if portfolio.portfolio_mode(user).await?.mode == PortfolioMode::None {
            return Ok(Decimal::ZERO);
        }
        let held = holdings.list_holdings(user).await?;
        Ok(held
            .iter()
            .map(|h| h.figures.total_market_value.get())
            .sum())
    }

    #[tokio::test]
    async fn a_user_with_nothing_connected_is_worth_zero_without_a_holdings_query() {
        let user = UserId::generate();
        let mut portfolio = MockPortfolioRepository::new();
        portfolio
            .expect_portfolio_mode()
            .with(eq(user))
            .times(1)
            .returning(|_| {
                Ok(tributary_repo::PortfolioSummary {
                    mode: PortfolioMode::None,
                    has_alpaca: false,
                    has_plaid: false,
                    has_snaptrade: false,
                    alpaca_account_id: None,
                    accounts_count: 0,
                })
            });
        let mut holdings = MockHoldingRepository::new();
        holdings.expect_list_holdings().never();

        assert_eq!(
            total_value(&portfolio, &holdings, user).await.unwrap(),
            Decimal::ZERO
        );
    }

    #[tokio::test]
    async fn the_same_service_runs_on_the_in_memory_twin() -> Result<(), RepoError> {
        let store = tributary_repo::MemoryStore::new();
        let user = store.create_user();
        assert_eq!(total_value(&store, &store, user).await?, Decimal::ZERO);
        Ok(())
    }
}

/// A third service: the Items a UI should prompt the user to repair, and nothing else asked of the store.
async fn items_to_repair(
    items: &dyn tributary_repo::PlaidItemRepository,
    user: UserId,
) -> Result<Vec<String>, RepoError> {
    Ok(items
        .list_plaid_items(user)
        .await?
        .into_iter()
        .filter(|item| item.status.needs_repair())
        .map(|item| item.item_id.as_str().to_owned())
        .collect())
}

#[tokio::test]
async fn the_items_to_repair_come_from_one_listing_of_the_users_plaid_items() {
    use tributary_domain::ProviderItemId;
    use tributary_repo::{MockPlaidItemRepository, PlaidItem, PlaidItemStatus};

    let user = UserId::generate();
    let item = |id: &str, status: PlaidItemStatus| PlaidItem {
        id: uuid::Uuid::new_v4(),
        user_id: user,
        item_id: ProviderItemId::parse(id).unwrap(),
        institution_id: None,
        institution_name: None,
        access_token: secrecy::SecretString::from("access-sandbox-token"),
        status,
        error_code: None,
        last_error: None,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        status_changed_at: chrono::Utc::now(),
        last_synced_at: None,
    };
    let listed = vec![
        item("item-ok", PlaidItemStatus::Healthy),
        item("item-login", PlaidItemStatus::LoginRequired),
        item("item-expiring", PlaidItemStatus::PendingExpiration),
    ];
    let mut items = MockPlaidItemRepository::new();
    items
        .expect_list_plaid_items()
        .with(eq(user))
        .times(1)
        .return_once(move |_| Ok(listed));

    assert_eq!(
        items_to_repair(&items, user).await.unwrap(),
        ["item-login", "item-expiring"]
    );
}
