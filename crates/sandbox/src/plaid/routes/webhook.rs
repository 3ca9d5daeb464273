//! Webhooks: the verification key endpoint and `/sandbox/item/fire_webhook`, which sends a delivery signed as
//! Plaid signs it to the Item's webhook URL.

use chrono::Duration;
use serde_json::{Value, json};

use super::{PlaidState, error, invalid_field, is_url, item, now, optional_text, required_text};
use crate::plaid::state::{item_json, login_required_body};
use crate::plaid::webhook::{SignedPlaidWebhook, VERIFICATION_HEADER};
use crate::reply::ApiError;

/// A delivery `/sandbox/item/fire_webhook` sent: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredWebhook {
    /// The Item's webhook URL it was POSTed to.
    pub url: String,
    /// The body and its `Plaid-Verification` header.
    pub delivery: SignedPlaidWebhook,
}

/// `/webhook_verification_key/get`: `WebhookVerificationKeyGetRequest.required: [key_id]` ("The key ID ( `kid` )
/// from the JWT header"); the answer is `{key: JWKPublicKey, request_id}`, a retired key with its `expired_at`.
/// A key id Plaid never issued: the spec is silent; Plaid's errors docs name `INVALID_WEBHOOK_VERIFICATION_KEY_ID`
/// (400 `INVALID_INPUT`), the strictest plausible answer.
pub(super) fn webhook_verification_key_get(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
    let kid = required_text(request, "key_id")?;
    match state.webhook_keys.jwk(kid) {
        Some(key) => Ok(json!({ "key": key })),
        None => Err(error(
            400,
            "INVALID_INPUT",
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            "invalid key_id provided",
        )),
    }
}

/// `SandboxItemFireWebhookRequest.webhook_code`'s enum.
const FIREABLE_CODES: &[&str] = &[
    "DEFAULT_UPDATE",
    "NEW_ACCOUNTS_AVAILABLE",
    "SMS_MICRODEPOSITS_VERIFICATION",
    "AUTHORIZATION_GRANTED",
    "USER_PERMISSION_REVOKED",
    "USER_ACCOUNT_REVOKED",
    "PENDING_DISCONNECT",
    "RECURRING_TRANSACTIONS_UPDATE",
    "LOGIN_REPAIRED",
    "SYNC_UPDATES_AVAILABLE",
    "PRODUCT_READY",
    "ERROR",
];

/// `WebhookType`'s enum ("The webhook types that can be fired by this test endpoint").
const WEBHOOK_TYPES: &[&str] = &[
    "AUTH",
    "HOLDINGS",
    "INVESTMENTS_TRANSACTIONS",
    "ITEM",
    "LIABILITIES",
    "TRANSACTIONS",
    "ASSETS",
];

/// `/sandbox/item/fire_webhook` (`required: [access_token, webhook_code]`): builds the webhook the code names for
/// the Item, signs it with the current key and POSTs it to the Item's webhook URL in the background, answering
/// `{webhook_fired: true}` as the spec's example does.
///
/// - `DEFAULT_UPDATE` needs a `webhook_type`: "Valid Sandbox `DEFAULT_UPDATE` webhook types include: `AUTH`,
///   `IDENTITY`, `TRANSACTIONS`, `INVESTMENTS_TRANSACTIONS`, `LIABILITIES`, `HOLDINGS`. If the Item does not
///   support the product, a `SANDBOX_PRODUCT_NOT_ENABLED` error will result." The sandbox's Items are
///   investments Items: `HOLDINGS` and `INVESTMENTS_TRANSACTIONS` only.
/// - `NEW_ACCOUNTS_AVAILABLE`, `LOGIN_REPAIRED`, `PENDING_DISCONNECT`, `USER_PERMISSION_REVOKED` and
///   `USER_ACCOUNT_REVOKED` are Item webhooks, shaped as their `x-examples`.
/// - The other codes belong to products the sandbox's Items lack (Auth's micro-deposits, Assets' `PRODUCT_READY`
///   and `ERROR`, Transactions' updates): `SANDBOX_PRODUCT_NOT_ENABLED`, as the description says.
/// - An Item without a webhook URL: the spec is silent; Plaid's errors docs name `SANDBOX_WEBHOOK_INVALID`
///   (400 `INVALID_INPUT`), the strictest plausible answer.
pub(super) fn sandbox_item_fire_webhook(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
    let code = required_text(request, "webhook_code")?;
    if !FIREABLE_CODES.contains(&code) {
        return Err(invalid_field("webhook_code is not one the endpoint fires"));
    }
    let webhook_type = optional_text(request, "webhook_type", false)?;
    if let Some(webhook_type) = webhook_type
        && !WEBHOOK_TYPES.contains(&webhook_type)
    {
        return Err(invalid_field("webhook_type is not a WebhookType"));
    }
    let now = now(state);
    let item = item(state, request, false)?;
    let item_id = item.item_id.clone();
    let holdings = item.holdings.len();
    let transactions = item.transactions;
    let first_account = item
        .accounts
        .first()
        .map(|account| account.account_id.clone());
    let product_not_enabled = || {
        error(
            400,
            "INVALID_INPUT",
            "SANDBOX_PRODUCT_NOT_ENABLED",
            "the Item does not support the product of this webhook",
        )
    };
    let mut payload = match (code, webhook_type.unwrap_or("ITEM")) {
        // `HoldingsDefaultUpdateWebhook.required: [webhook_type, webhook_code, item_id, new_holdings,
        // updated_holdings, environment]`.
        ("DEFAULT_UPDATE", "HOLDINGS") => json!({
            "webhook_type": "HOLDINGS",
            "error": null,
            "new_holdings": holdings,
            "updated_holdings": 0,
        }),
        // `InvestmentsDefaultUpdateWebhook.required: [… new_investments_transactions,
        // cancelled_investments_transactions, environment]`.
        ("DEFAULT_UPDATE", "INVESTMENTS_TRANSACTIONS") => json!({
            "webhook_type": "INVESTMENTS_TRANSACTIONS",
            "error": null,
            "new_investments_transactions": transactions,
            "cancelled_investments_transactions": 0,
        }),
        ("DEFAULT_UPDATE", _) => return Err(product_not_enabled()),
        (_, "ITEM") => match code {
            "NEW_ACCOUNTS_AVAILABLE" => json!({"webhook_type": "ITEM", "error": null}),
            "LOGIN_REPAIRED" => json!({"webhook_type": "ITEM"}),
            // `PendingDisconnectWebhook`: "fired 7 days before the existing Item is scheduled for
            // disconnection"; `reason` from `PendingDisconnectWebhookReason`.
            "PENDING_DISCONNECT" => json!({
                "webhook_type": "ITEM",
                "reason": "INSTITUTION_MIGRATION",
                "disconnect_time": (now + Duration::days(7)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            }),
            // `UserPermissionRevokedWebhook`'s example error, verbatim.
            "USER_PERMISSION_REVOKED" => json!({
                "webhook_type": "ITEM",
                "error": {
                    "error_code": "USER_PERMISSION_REVOKED",
                    "error_message": "the holder of this account has revoked their permission for your application to access it",
                    "display_message": null,
                    "error_type": "ITEM_ERROR",
                    "status": 400
                },
            }),
            // `UserAccountRevokedWebhook.required` includes `account_id`.
            "USER_ACCOUNT_REVOKED" => json!({"webhook_type": "ITEM", "account_id": first_account}),
            _ => return Err(product_not_enabled()),
        },
        _ => return Err(product_not_enabled()),
    };
    let Some(url) = state.item_webhooks.get(&item_id).cloned() else {
        return Err(error(
            400,
            "INVALID_INPUT",
            "SANDBOX_WEBHOOK_INVALID",
            "the Item has no webhook URL to fire to",
        ));
    };
    payload["webhook_code"] = json!(code);
    fire(state, url, &item_id, payload);
    Ok(json!({"webhook_fired": true}))
}

/// `/item/webhook/update` (`ItemWebhookUpdateRequest.required: [access_token]`): sets the Item's webhook URL, or
/// removes it — `webhook`: "The new webhook URL to associate with the Item. To remove a webhook from an Item, set
/// to `null`." (`format: url`, `nullable: true`; an absent `webhook` is read as `null`, the request's only other
/// field being the token). The answer is `ItemWebhookUpdateResponse` (`required: [item, request_id]`) with the
/// Item's new `webhook`; a new URL is sent `WEBHOOK_UPDATE_ACKNOWLEDGED` (`WebhookUpdateAcknowledgedWebhook`:
/// "Fired when an Item's webhook is updated. This will be sent to the newly specified webhook.", `required:
/// [webhook_type, webhook_code, item_id, new_webhook_url, environment]`). An Item in error still takes a new URL:
/// the spec names no error for it, and Plaid sends such an Item's webhooks all the same.
pub(super) fn item_webhook_update(
    state: &mut PlaidState,
    request: &Value,
) -> Result<Value, ApiError> {
    let webhook = optional_text(request, "webhook", true)?;
    if let Some(url) = webhook
        && !is_url(url)
    {
        return Err(invalid_field("webhook must be a URL"));
    }
    let item = item(state, request, false)?;
    let item_id = item.item_id.clone();
    let mut described = item_json(item);
    described["webhook"] = json!(webhook.unwrap_or_default());
    match webhook {
        Some(url) => {
            state.item_webhooks.insert(item_id.clone(), url.to_owned());
            let payload = json!({
                "webhook_type": "ITEM",
                "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED",
                "error": null,
                "new_webhook_url": url,
            });
            fire(state, url.to_owned(), &item_id, payload);
        }
        None => {
            state.item_webhooks.remove(&item_id);
        }
    }
    Ok(json!({ "item": described }))
}

/// `/sandbox/item/reset_login`'s webhook: "An `ITEM_LOGIN_REQUIRED` webhook will also be fired after a call to
/// this endpoint, if one is associated with the Item." That is `ItemErrorWebhook` (`ITEM` / `ERROR`, `required:
/// [webhook_type, webhook_code, item_id, error, environment]`) carrying `ITEM_LOGIN_REQUIRED`, as its example does:
/// the spec has no `ITEM` / `LOGIN_REQUIRED` code. Sent only when the Item has a webhook URL.
pub(super) fn fire_login_required(state: &mut PlaidState, item_id: &str) {
    let Some(url) = state.item_webhooks.get(item_id).cloned() else {
        return;
    };
    let payload = json!({
        "webhook_type": "ITEM",
        "webhook_code": "ERROR",
        "error": login_required_body(),
    });
    fire(state, url, item_id, payload);
}

/// Signs `payload` for the Item with the current key (naming the Item and the sandbox environment), keeps it in
/// [`PlaidState::fired_webhooks`] and POSTs it to `url` in the background.
fn fire(state: &mut PlaidState, url: String, item_id: &str, mut payload: Value) {
    payload["item_id"] = json!(item_id);
    // `WebhookEnvironmentValues`: "The Plaid environment the webhook was sent from" — this is the sandbox.
    payload["environment"] = json!("sandbox");
    let delivery = state.webhook_keys.current().sign_at(&payload, now(state));
    state.fired_webhooks.push(FiredWebhook {
        url: url.clone(),
        delivery: delivery.clone(),
    });
    deliver(url, delivery);
}

/// POSTs `delivery` to `url` in the background, as Plaid delivers after answering. A receiver that is down or
/// answers an error is only logged: the sandbox does not retry.
fn deliver(url: String, delivery: SignedPlaidWebhook) {
    tokio::spawn(async move {
        let sent = reqwest::Client::new()
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(VERIFICATION_HEADER, delivery.verification)
            .body(delivery.body)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(answer) => {
                tracing::debug!(status = answer.status().as_u16(), "plaid webhook delivered")
            }
            Err(failure) => {
                tracing::debug!(error = %failure.without_url(), "plaid webhook not delivered")
            }
        }
    });
}
