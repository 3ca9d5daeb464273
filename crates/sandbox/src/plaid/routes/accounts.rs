//! `/accounts/get` and the `account_ids` option that selects an Item's accounts.

use serde_json::{Map, Value, json};

use super::{PlaidState, error, invalid_field, item, options};
use crate::plaid::state::{Item, account_json, item_json};
use crate::reply::ApiError;

/// The indices of the accounts `options.account_ids` selects (all when absent).
///
/// `account_ids` is `type: array`, `items: type: string` (an empty array is refused: the spec is silent, and
/// selecting nothing is never meant); an id not of this Item is `INVALID_ACCOUNT_ID`
/// (`InvestmentHoldingsGetRequestOptions.account_ids`: "An error will be returned if a provided `account_id` is
/// not associated with the Item"; 400 `INVALID_INPUT` in Plaid's errors docs).
pub(super) fn selected_accounts(
    item: &Item,
    options: &Map<String, Value>,
) -> Result<Vec<usize>, ApiError> {
    let wanted = match options.get("account_ids") {
        None => return Ok((0..item.accounts.len()).collect()),
        Some(Value::Array(wanted)) if !wanted.is_empty() => wanted,
        Some(_) => {
            return Err(invalid_field(
                "options.account_ids must be a non-empty array of account ids",
            ));
        }
    };
    let mut selected = wanted
        .iter()
        .map(|id| {
            let id = id
                .as_str()
                .ok_or_else(|| invalid_field("options.account_ids must hold strings"))?;
            item.accounts
                .iter()
                .position(|account| account.account_id == id)
                .ok_or_else(|| {
                    error(
                        400,
                        "INVALID_INPUT",
                        "INVALID_ACCOUNT_ID",
                        "one or more of the account IDs is invalid",
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    selected.sort_unstable();
    selected.dedup();
    Ok(selected)
}

/// `/accounts/get`: `AccountsGetResponse.required: [accounts, item, request_id]`.
pub(super) fn accounts_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let options = options(request)?.clone();
    let item = item(state, request, true)?;
    let accounts: Vec<Value> = selected_accounts(item, &options)?
        .into_iter()
        .map(|index| account_json(item, index, false))
        .collect();
    Ok(json!({"accounts": accounts, "item": item_json(item)}))
}
