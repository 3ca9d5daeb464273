//! The closed vocabularies agree with the migrations: each CHECK constraint's list of values is exactly the
//! type's spellings, and `PortfolioMode` spells exactly what `get_user_portfolio_mode` returns. Read from the SQL
//! users apply, so adding a value to one side only fails here.

use std::collections::BTreeSet;

use tributary_domain::{
    AccountMode, ConnectionStatus, ConnectionType, PortfolioMode, Provider, SecurityType,
    SyncStatus,
};

/// In the order they are applied: a later definition of a constraint replaces an earlier one.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../../migrations/0002_base_schema.sql"),
    include_str!("../../../../migrations/0008_add_snaptrade_support.sql"),
];

/// The single-quoted strings in `sql`.
fn quoted(sql: &str) -> BTreeSet<String> {
    sql.split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The values of the last definition of `constraint name check (column in (...))`.
fn check_values(name: &str) -> BTreeSet<String> {
    let marker = format!("constraint {name}");
    let definition = MIGRATIONS
        .iter()
        .rev()
        .find_map(|sql| {
            let at = sql
                .rfind(&format!("{marker}\n"))
                .or_else(|| sql.rfind(&format!("{marker} ")))?;
            Some(&sql[at + marker.len()..])
        })
        .unwrap_or_else(|| panic!("no constraint {name} in the migrations"));
    let list = definition
        .split_once(" in (")
        .unwrap()
        .1
        .split_once(')')
        .unwrap()
        .0;
    quoted(list)
}

fn spellings<'a>(values: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    values.into_iter().map(str::to_owned).collect()
}

#[test]
fn provider_is_exactly_the_provider_check() {
    let ours = spellings(Provider::ALL.iter().map(|p| p.as_str()));
    assert_eq!(
        check_values("user_investment_accounts_provider_check"),
        ours
    );
}

#[test]
fn account_mode_is_exactly_the_account_mode_check() {
    let ours = spellings(AccountMode::ALL.iter().map(|m| m.as_str()));
    assert_eq!(
        check_values("user_investment_accounts_account_mode_check"),
        ours
    );
}

#[test]
fn connection_type_is_exactly_both_connection_type_checks() {
    let ours = spellings(ConnectionType::ALL.iter().map(|t| t.as_str()));
    assert_eq!(
        check_values("user_investment_accounts_connection_type_check"),
        ours
    );
    assert_eq!(
        check_values("snaptrade_brokerage_connections_connection_type_check"),
        ours
    );
}

#[test]
fn connection_status_is_exactly_both_status_checks() {
    let ours = spellings(ConnectionStatus::ALL.iter().map(|s| s.as_str()));
    assert_eq!(
        check_values("user_investment_accounts_connection_status_check"),
        ours
    );
    assert_eq!(
        check_values("snaptrade_brokerage_connections_status_check"),
        ours
    );
}

#[test]
fn sync_status_is_exactly_the_sync_status_check() {
    let ours = spellings(SyncStatus::ALL.iter().map(|s| s.as_str()));
    assert_eq!(
        check_values("user_investment_accounts_sync_status_check"),
        ours
    );
}

#[test]
fn security_type_is_exactly_the_security_type_check() {
    let ours = spellings(SecurityType::ALL.iter().map(|t| t.as_str()));
    assert_eq!(
        check_values("user_aggregated_holdings_security_type_check"),
        ours
    );
}

#[test]
fn portfolio_mode_is_exactly_what_the_function_returns() {
    let sql = MIGRATIONS[1];
    let function = &sql[sql.find("function public.get_user_portfolio_mode").unwrap()..];
    let case = function
        .split_once("case")
        .unwrap()
        .1
        .split_once("end,")
        .unwrap()
        .0;
    let ours = spellings(PortfolioMode::ALL.iter().map(|m| m.as_str()));
    assert_eq!(quoted(case), ours);
}
