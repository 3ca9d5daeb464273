//! Items: reading, removing, and the sandbox's reset to a required login.

use serde_json::{Value, json};

use super::webhook::fire_login_required;
use super::{PlaidState, invalid_field, item, optional_text};
use crate::plaid::state::item_json;
use crate::plaid::vocabulary::REMOVE_REASONS;
use crate::reply::ApiError;

/// `/item/get`: `ItemGetResponse.required: [item, request_id]`; `item` is `ItemWithConsentFields` (with
/// `created_at`, `format: date-time`), `status` is `ItemStatusNullable`. The Item's `error` is non-null while it
/// needs a login (`PlaidError`: "An Item with a non-`null` error object will only be part of an API response
/// when calling `/item/get`").
pub(super) fn item_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let item = item(state, request, false)?;
    let mut described = item_json(item);
    described["created_at"] = Value::String(item.created.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    described["consented_use_cases"] = json!([]);
    described["consented_data_scopes"] = json!([]);
    let updated = item.created.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    Ok(json!({
        "item": described,
        "status": {
            "investments": {"last_successful_update": updated, "last_failed_update": null},
            "transactions": {"last_successful_update": null, "last_failed_update": null},
            "last_webhook": null
        }
    }))
}

/// `/item/remove`: "Once removed, the `access_token` … is no longer valid". `reason_code` is
/// `ItemRemoveReasonCode` (nullable enum), `reason_note` nullable with `maxLength: 512`; a refused request
/// removes nothing.
pub(super) fn item_remove(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    if let Some(reason) = optional_text(request, "reason_code", true)?
        && !REMOVE_REASONS.contains(&reason)
    {
        return Err(invalid_field("reason_code is not an ItemRemoveReasonCode"));
    }
    if optional_text(request, "reason_note", true)?.is_some_and(|note| note.chars().count() > 512) {
        return Err(invalid_field("reason_note must be at most 512 characters"));
    }
    let item_id = item(state, request, false)?.item_id.clone();
    let tokens: Vec<String> = state
        .items
        .iter()
        .filter(|(_, item)| item.item_id == item_id)
        .map(|(token, _)| token.clone())
        .collect();
    for token in tokens {
        state.items.remove(&token);
        state.removed_tokens.insert(token);
    }
    Ok(json!({}))
}

/// Plaid's own sandbox helper: forces the Item into ITEM_LOGIN_REQUIRED (`SandboxItemResetLoginResponse.required:
/// [reset_login, request_id]`), and fires the Item's `ITEM` / `ERROR` webhook when it has a webhook URL ("An
/// `ITEM_LOGIN_REQUIRED` webhook will also be fired after a call to this endpoint, if one is associated with the
/// Item").
pub(super) fn sandbox_reset_login(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
    let item = item(state, request, false)?;
    item.login_required = true;
    let item_id = item.item_id.clone();
    fire_login_required(state, &item_id);
    Ok(json!({"reset_login": true}))
}
