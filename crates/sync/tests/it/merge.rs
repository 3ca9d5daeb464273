//! The holdings merge: sums, contributions, institution breakdown and SnapTrade's facts.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rust_decimal::Decimal;
use tributary_domain::{
    AccountId, Amount, Currency, InstitutionName, OptionContract, OptionRight, Price, Provider,
    ProviderAccountId, Quantity, SecurityId, SecurityType, SignedAmount, Symbol, UniversalSymbolId,
    UserId,
};
use tributary_provider::capability::{Position, PositionSide};
use tributary_sync::merge::{LeftOutReason, Lot, SecurityFacts, merge};

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn position(symbol: &str, quantity: &str, value: &str, cost: &str) -> Position {
    Position {
        provider_account_id: ProviderAccountId::parse("acct").unwrap(),
        symbol: Symbol::parse(symbol).unwrap(),
        security_id: None,
        security_name: None,
        security_type: Some(SecurityType::Equity),
        provider_security_type: None,
        option_contract: None,
        side: PositionSide::Long,
        quantity: Quantity::parse(quantity).unwrap(),
        price: None,
        market_value: Some(SignedAmount::parse(value).unwrap()),
        cost_basis: Some(SignedAmount::parse(cost).unwrap()),
        currency: Some(Currency::usd()),
    }
}

fn lot(account: AccountId, institution: &str, provider: Provider, position: &Position) -> Lot {
    Lot::from_position(
        account,
        InstitutionName::parse(institution).unwrap(),
        provider,
        position,
        None,
    )
    .unwrap()
    .unwrap()
}

#[test]
fn one_symbol_in_two_providers_becomes_one_holding_with_two_contributions() {
    let user = UserId::generate();
    let (schwab, plaid_bank) = (AccountId::generate(), AccountId::generate());
    let holdings = merge(
        user,
        vec![
            lot(
                schwab,
                "Schwab",
                Provider::SnapTrade,
                &position("AAPL", "10", "1900.00", "1500.00"),
            ),
            lot(
                plaid_bank,
                "Chase",
                Provider::Plaid,
                &position("AAPL", "2.5", "475.00", "400.00"),
            ),
        ],
    )
    .unwrap();
    assert_eq!(holdings.len(), 1);
    let aapl = &holdings[0];
    assert_eq!(aapl.user_id, user);
    assert_eq!(aapl.figures.total_quantity.get(), dec("12.5"));
    assert_eq!(aapl.figures.total_market_value.get(), dec("2375.00"));
    assert_eq!(aapl.figures.total_cost_basis.get(), dec("1900.00"));
    assert_eq!(aapl.figures.unrealized_gain_loss.get(), dec("475.00"));
    assert_eq!(aapl.figures.average_cost_basis.get(), dec("152"));
    assert_eq!(aapl.account_count(), 2);
    let breakdown = aapl.institution_breakdown();
    assert_eq!(breakdown["Schwab"].quantity, dec("10"));
    assert_eq!(breakdown["Chase"].market_value, dec("475.00"));
}

#[test]
fn two_lots_of_one_symbol_in_one_account_are_one_contribution() {
    let account = AccountId::generate();
    let holdings = merge(
        UserId::generate(),
        vec![
            lot(
                account,
                "Alpaca",
                Provider::Alpaca,
                &position("MSFT", "1", "400.00", "300.00"),
            ),
            lot(
                account,
                "Alpaca",
                Provider::Alpaca,
                &position("MSFT", "2", "800.00", "700.00"),
            ),
        ],
    )
    .unwrap();
    let contributions = &holdings[0].account_contributions;
    assert_eq!(contributions.len(), 1);
    assert_eq!(contributions[0].quantity.get(), dec("3"));
    assert_eq!(contributions[0].cost_basis.get(), dec("1000.00"));
}

#[test]
fn holdings_come_out_by_symbol_and_contributions_by_account() {
    let (a, b) = (AccountId::generate(), AccountId::generate());
    let holdings = merge(
        UserId::generate(),
        vec![
            lot(
                b,
                "B",
                Provider::Plaid,
                &position("VTI", "1", "1.00", "1.00"),
            ),
            lot(
                a,
                "A",
                Provider::Plaid,
                &position("AAPL", "1", "1.00", "1.00"),
            ),
            lot(
                a,
                "A",
                Provider::Plaid,
                &position("VTI", "1", "1.00", "1.00"),
            ),
        ],
    )
    .unwrap();
    let symbols: Vec<_> = holdings.iter().map(|h| h.symbol.as_str()).collect();
    assert_eq!(symbols, ["AAPL", "VTI"]);
    let vti_accounts: Vec<_> = holdings[1]
        .account_contributions
        .iter()
        .map(|c| c.account_id)
        .collect();
    let mut sorted = vti_accounts.clone();
    sorted.sort();
    assert_eq!(vti_accounts, sorted);
}

#[test]
fn a_missing_market_value_is_price_times_quantity_and_a_missing_cost_is_zero() {
    let mut priced = position("TSLA", "4", "0", "0");
    priced.market_value = None;
    priced.cost_basis = None;
    priced.price = Some(Price::parse("250.125").unwrap());
    let lot = lot(AccountId::generate(), "Alpaca", Provider::Alpaca, &priced);
    assert_eq!(lot.market_value.get(), dec("1000.50"));
    assert_eq!(lot.cost_basis, Amount::ZERO);
}

#[test]
fn a_price_times_quantity_past_what_a_decimal_holds_is_refused_naming_market_value_not_a_panic() {
    // The widest price (14 integer digits) times the widest quantity (18) passes 7.9 × 10^28.
    let mut priced = position("HUGE", "999999999999999999", "0", "0");
    priced.market_value = None;
    priced.price = Some(Price::parse("99999999999999").unwrap());
    let error = Lot::from_position(
        AccountId::generate(),
        InstitutionName::parse("SnapTrade").unwrap(),
        Provider::SnapTrade,
        &priced,
        None,
    )
    .unwrap_err();
    assert!(error.to_string().contains("market_value"), "{error}");
}

#[test]
fn a_short_position_is_left_out_with_its_reason() {
    let mut short = position("GME", "5", "100.00", "100.00");
    short.side = PositionSide::Short;
    let account = AccountId::generate();
    let left_out = Lot::from_position(
        account,
        InstitutionName::parse("Alpaca").unwrap(),
        Provider::Alpaca,
        &short,
        None,
    )
    .unwrap()
    .unwrap_err();
    assert_eq!(left_out.account_id, Some(account));
    assert_eq!(left_out.reason, LeftOutReason::ShortPosition);
    assert!(left_out.to_string().contains("short"), "{left_out}");
}

#[test]
fn a_negative_market_value_on_a_long_position_is_refused_naming_the_field() {
    let negative = position("X", "1", "-5.00", "1.00");
    let error = Lot::from_position(
        AccountId::generate(),
        InstitutionName::parse("Plaid").unwrap(),
        Provider::Plaid,
        &negative,
        None,
    )
    .unwrap_err();
    assert!(error.to_string().contains("market_value"), "{error}");
}

#[test]
fn snaptrade_keeps_its_universal_symbol_id_option_contract_and_metadata() {
    let universal = UniversalSymbolId::generate();
    let mut option = position("AAPL  261218C00200000", "1", "500.00", "300.00");
    option.security_id = Some(SecurityId::parse(&universal.to_string()).unwrap());
    option.provider_security_type = Some("oo".into());
    option.option_contract = Some(OptionContract {
        underlying_symbol: Symbol::parse("AAPL").unwrap(),
        option_type: OptionRight::Call,
        strike_price: Price::parse("200").unwrap(),
        expiration_date: "2026-12-18".parse().unwrap(),
        multiplier: Some(dec("100")),
    });
    let holdings = merge(
        UserId::generate(),
        vec![lot(
            AccountId::generate(),
            "Robinhood",
            Provider::SnapTrade,
            &option,
        )],
    )
    .unwrap();
    let holding = &holdings[0];
    assert_eq!(holding.universal_symbol_id, Some(universal));
    assert_eq!(holding.option_contract, option.option_contract);
    assert_eq!(
        holding.provider_metadata["snaptrade"]["security_type"],
        "oo"
    );
    assert_eq!(holding.provider_metadata["snaptrade"]["currency"], "USD");
}

#[test]
fn a_plaid_security_id_is_never_taken_for_a_universal_symbol_id() {
    let mut plaid = position("AAPL", "1", "1.00", "1.00");
    plaid.security_id =
        Some(SecurityId::parse(&UniversalSymbolId::generate().to_string()).unwrap());
    let lot = lot(AccountId::generate(), "Chase", Provider::Plaid, &plaid);
    assert_eq!(lot.security.universal_symbol_id, None);
    assert!(lot.security.security_id.is_some());
}

#[test]
fn carried_lots_rebuild_the_same_holding() {
    let (kept, dropped) = (AccountId::generate(), AccountId::generate());
    let user = UserId::generate();
    let merged = merge(
        user,
        vec![
            lot(
                kept,
                "Schwab",
                Provider::SnapTrade,
                &position("SPY", "3", "1500.00", "1200.00"),
            ),
            lot(
                dropped,
                "Chase",
                Provider::Plaid,
                &position("SPY", "1", "500.00", "450.00"),
            ),
        ],
    )
    .unwrap()
    .remove(0);
    let stored = merged
        .clone()
        .into_stored(tributary_domain::HoldingId::generate(), chrono::Utc::now());
    let carried = Lot::carried_from(&stored, &[kept]);
    assert_eq!(carried.len(), 1);
    let rebuilt = merge(user, carried).unwrap().remove(0);
    assert_eq!(rebuilt.figures.total_quantity.get(), dec("3"));
    assert_eq!(rebuilt.figures.total_market_value.get(), dec("1500.00"));
    assert_eq!(rebuilt.security_type, merged.security_type);
}

#[test]
fn a_symbol_held_in_two_currencies_is_two_holdings_never_one_sum() {
    let (wealthsimple, coinbase) = (AccountId::generate(), AccountId::generate());
    let mut in_cad = position("BTC", "0.5", "45000.00", "40000.00");
    in_cad.currency = Some(Currency::parse("CAD").unwrap());
    let in_usd = position("BTC", "0.25", "16000.00", "15000.00");
    let holdings = merge(
        UserId::generate(),
        vec![
            lot(wealthsimple, "Wealthsimple", Provider::SnapTrade, &in_cad),
            lot(coinbase, "Coinbase", Provider::SnapTrade, &in_usd),
        ],
    )
    .unwrap();
    let by_currency: Vec<_> = holdings
        .iter()
        .map(|h| {
            (
                h.currency.as_ref().unwrap().as_str(),
                h.figures.total_market_value.get(),
            )
        })
        .collect();
    assert_eq!(
        by_currency,
        [("CAD", dec("45000.00")), ("USD", dec("16000.00"))]
    );
}

#[test]
fn a_position_that_names_no_currency_is_in_its_accounts_currency_or_in_none() {
    let mut unnamed = position("VTI", "1", "250.00", "200.00");
    unnamed.currency = None;
    let institution = || InstitutionName::parse("Alpaca").unwrap();
    let usd = Currency::usd();
    let with_account = Lot::from_position(
        AccountId::generate(),
        institution(),
        Provider::Alpaca,
        &unnamed,
        Some(&usd),
    )
    .unwrap()
    .unwrap();
    assert_eq!(with_account.currency, Some(usd));
    let unknown = Lot::from_position(
        AccountId::generate(),
        institution(),
        Provider::Alpaca,
        &unnamed,
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(unknown.currency, None, "never assumed to be dollars");
}

#[test]
fn no_lots_make_no_holdings() {
    assert!(merge(UserId::generate(), Vec::new()).unwrap().is_empty());
}

fn arbitrary_lot(accounts: Vec<AccountId>) -> impl Strategy<Value = Lot> {
    (
        0..accounts.len(),
        prop::sample::select(vec!["AAPL", "MSFT", "VTI", "SPY"]),
        prop::sample::select(vec![Some("USD"), Some("CAD"), None]),
        0u64..10_000_000_000,
        0u64..100_000_000,
        0u64..100_000_000,
    )
        .prop_map(
            move |(account, symbol, currency, quantity, value, cost)| Lot {
                account_id: accounts[account],
                institution: InstitutionName::parse(&format!("Bank {}", account % 2)).unwrap(),
                symbol: Symbol::parse(symbol).unwrap(),
                currency: currency.map(|code| Currency::parse(code).unwrap()),
                quantity: Quantity::new(Decimal::new(quantity as i64, 8)).unwrap(),
                market_value: Amount::new(Decimal::new(value as i64, 2)).unwrap(),
                cost_basis: Amount::new(Decimal::new(cost as i64, 2)).unwrap(),
                security: SecurityFacts::default(),
            },
        )
}

fn lots() -> impl Strategy<Value = Vec<Lot>> {
    let accounts: Vec<AccountId> = (0..4).map(|_| AccountId::generate()).collect();
    prop::collection::vec(arbitrary_lot(accounts), 0..40)
}

proptest! {
    // Failures are saved beside this file (tests/it/merge.proptest-regressions, committed) and replayed first on
    // every run: proptest's default looks for lib.rs, which an integration test does not have.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_merge_conserves_quantities_values_and_costs_per_currency(lots in lots()) {
        type Key = (String, Option<Currency>);
        let totals_in = |pick: fn(&Lot) -> Decimal| -> BTreeMap<Key, Decimal> {
            let mut totals = BTreeMap::new();
            for lot in &lots {
                let key = (lot.symbol.as_str().to_owned(), lot.currency.clone());
                *totals.entry(key).or_default() += pick(lot);
            }
            totals
        };
        let quantities = totals_in(|lot| lot.quantity.get());
        let values = totals_in(|lot| lot.market_value.get());
        let costs = totals_in(|lot| lot.cost_basis.get());
        let holdings = merge(UserId::generate(), lots.clone()).unwrap();
        prop_assert_eq!(holdings.len(), quantities.len());
        for holding in &holdings {
            let symbol = &(holding.symbol.as_str().to_owned(), holding.currency.clone());
            prop_assert_eq!(holding.figures.total_quantity.get(), quantities[symbol]);
            prop_assert_eq!(holding.figures.total_market_value.get(), values[symbol]);
            prop_assert_eq!(holding.figures.total_cost_basis.get(), costs[symbol]);
            let contributed: Decimal = holding.account_contributions.iter().map(|c| c.quantity.get()).sum();
            prop_assert_eq!(contributed, quantities[symbol]);
            let by_institution: Decimal = holding.institution_breakdown().values().map(|t| t.market_value).sum();
            prop_assert_eq!(by_institution, values[symbol]);
            let mut accounts: Vec<_> = holding.account_contributions.iter().map(|c| c.account_id).collect();
            accounts.dedup();
            prop_assert_eq!(accounts.len(), holding.account_contributions.len());
        }
    }

    #[test]
    fn the_merge_does_not_depend_on_the_order_of_lots(mut lots in lots()) {
        let user = UserId::generate();
        let forward = merge(user, lots.clone()).unwrap();
        lots.reverse();
        let backward = merge(user, lots).unwrap();
        let figures = |holdings: &[tributary_domain::NewHolding]| -> Vec<_> {
            holdings.iter().map(|h| (h.symbol.clone(), h.figures, h.account_contributions.clone())).collect()
        };
        prop_assert_eq!(figures(&forward), figures(&backward));
    }
}
