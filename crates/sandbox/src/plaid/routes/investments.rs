//! Investments: holdings, paged transactions and refresh.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::accounts::selected_accounts;
use super::{MAX_COUNT, PlaidState, invalid_field, item, options, required_text};
use crate::plaid::history::{generated, transaction_json};
use crate::plaid::state::{account_json, holding_json, item_json, security_json};
use crate::reply::ApiError;

/// `/investments/holdings/get`: `InvestmentsHoldingsGetResponse.required: [accounts, holdings, securities, item,
/// request_id]`; `securities`: "Objects describing the securities held in the accounts" — those the returned
/// holdings refer to.
pub(super) fn holdings_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let options = options(request)?.clone();
    let item = item(state, request, true)?;
    let selected = selected_accounts(item, &options)?;
    let held: Vec<_> = item
        .holdings
        .iter()
        .filter(|holding| selected.contains(&holding.account))
        .collect();
    let mut security_indices: Vec<usize> = held.iter().map(|holding| holding.security).collect();
    security_indices.sort_unstable();
    security_indices.dedup();
    Ok(json!({
        "accounts": selected.iter().map(|&index| account_json(item, index, true)).collect::<Vec<_>>(),
        "holdings": held.iter().map(|holding| holding_json(item, holding)).collect::<Vec<_>>(),
        "securities": security_indices.iter().map(|&index| security_json(item, &item.securities[index])).collect::<Vec<_>>(),
        "item": item_json(item),
        "is_investments_fallback_item": false
    }))
}

/// `start_date`/`end_date`: `type: string`, `format: date`, "Dates should be formatted as YYYY-MM-DD" — exactly
/// that (RFC 3339 full-date: four-digit year, two-digit month and day); anything else is `INVALID_FIELD`.
fn date_field(request: &Value, field: &'static str) -> Result<NaiveDate, ApiError> {
    let text = required_text(request, field)?;
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(at, byte)| match at {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| invalid_field(&format!("{field} must be a date in YYYY-MM-DD format")))
}

/// An integer option with its spec bounds: absent is the default; `null`, a fraction, a negative number or a
/// value out of `minimum..=maximum` is `INVALID_FIELD` (the options are `type: integer`, not nullable).
fn page_option(
    options: &Map<String, Value>,
    field: &str,
    default: u64,
    bounds: std::ops::RangeInclusive<u64>,
) -> Result<u64, ApiError> {
    let value = match options.get(field) {
        None => return Ok(default),
        Some(value) => value.as_u64(),
    };
    value.filter(|value| bounds.contains(value)).ok_or_else(|| {
        invalid_field(&format!(
            "options.{field} must be an integer from {} to {}",
            bounds.start(),
            bounds.end()
        ))
    })
}

/// How many of the indices in `range` belong to the `selected` accounts, when index `i` belongs to account
/// `i % accounts`.
fn matching_below(range_start: u64, end: u64, accounts: u64, selected: &[u64]) -> u64 {
    let below = |limit: u64, residue: u64| (limit + accounts - 1 - residue) / accounts;
    selected
        .iter()
        .map(|&residue| below(end, residue) - below(range_start, residue))
        .sum()
}

/// `/investments/transactions/get` (`InvestmentsTransactionsGetRequest`).
pub(super) fn transactions_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    // `required: [access_token, start_date, end_date]`, both `format: date`; a range that ends before it starts
    // is refused (spec silent: the strictest plausible).
    let start = date_field(request, "start_date")?;
    let end = date_field(request, "end_date")?;
    if start > end {
        return Err(invalid_field("start_date must be on or before end_date"));
    }
    // `InvestmentsTransactionsGetRequestOptions`: "If provided, must be non-`null`"; `count` `default: 100`,
    // `minimum: 1`, `maximum: 500`; `offset` `default: 0`, `minimum: 0`; `async_update` `type: boolean`.
    let options = options(request)?.clone();
    let count = page_option(&options, "count", 100, 1..=MAX_COUNT)?;
    let offset = page_option(&options, "offset", 0, 0..=u64::MAX)?;
    if options
        .get("async_update")
        .is_some_and(|value| !value.is_boolean())
    {
        return Err(invalid_field("options.async_update must be a boolean"));
    }
    let item = item(state, request, true)?;
    // `options.account_ids`: "An array of `account_ids` to retrieve for the Item"; `accounts`: "The accounts for
    // which transaction history is being fetched"; `total_investment_transactions`: "The total number of
    // transactions available within the date range specified" — of those accounts.
    let selected = selected_accounts(item, &options)?;
    let accounts = item.accounts.len() as u64;
    let residues: Vec<u64> = selected.iter().map(|&index| index as u64).collect();
    let in_range = item.spread().between(start, end);
    let (total, transactions) = if accounts == 0 {
        (0, Vec::new())
    } else {
        let total = matching_below(in_range.start, in_range.end, accounts, &residues);
        // The first index whose rank among the matches is `offset`, by bisection.
        let (mut low, mut high) = (in_range.start, in_range.end);
        while low < high {
            let middle = low + (high - low) / 2;
            if matching_below(in_range.start, middle + 1, accounts, &residues) > offset {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        let page: Vec<u64> = (low..in_range.end)
            .filter(|index| residues.contains(&(index % accounts)))
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .collect();
        (total, page)
    };
    // `securities`: "All securities for which there is a corresponding transaction being fetched".
    let mut security_indices: Vec<usize> = transactions
        .iter()
        .filter_map(|&index| generated(item, index).security)
        .collect();
    security_indices.sort_unstable();
    security_indices.dedup();
    Ok(json!({
        "item": item_json(item),
        "accounts": selected.iter().map(|&index| account_json(item, index, true)).collect::<Vec<_>>(),
        "securities": security_indices.iter().map(|&index| security_json(item, &item.securities[index])).collect::<Vec<_>>(),
        "investment_transactions": transactions.iter().map(|&index| transaction_json(item, index)).collect::<Vec<_>>(),
        "total_investment_transactions": total,
        "is_investments_fallback_item": false
    }))
}

/// `/investments/refresh` (`InvestmentsRefreshRequest.required: [access_token]`); an Item needing a login cannot
/// be refreshed.
pub(super) fn investments_refresh(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
    item(state, request, true)?;
    Ok(json!({}))
}
