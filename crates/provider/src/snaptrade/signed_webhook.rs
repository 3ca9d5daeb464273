//! A SnapTrade webhook delivery signed as SnapTrade signs it, for a service's tests of its own webhook route.
//!
//! SnapTrade signs the parsed payload: the `Signature` header is base64(HMAC-SHA256(consumer key, canonical JSON
//! of the payload)) (see [`super::webhook`]), so a test needs the same canonical form the verifier uses, not a
//! hand-made HMAC over the body's bytes.

use secrecy::SecretString;
use serde_json::Value;

use super::signing::{canonical_json, sign};

/// A webhook delivery as SnapTrade sends it: the body to POST and the value of its `Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    /// The request body: the payload as JSON.
    pub body: String,
    /// The `Signature` header: base64(HMAC-SHA256(consumer key, canonical JSON of the payload)).
    pub signature: String,
}

/// Signs `payload` with `consumer_key` as SnapTrade signs a webhook, so a service's test can deliver it to the
/// service's own route, which verifies it with [`verify_webhook`](super::webhook::verify_webhook) under the
/// same key. The payload is sent as it is: a test of a refused delivery may leave out `eventTimestamp`, send
/// an old one, or sign with another key.
///
/// ```
/// use secrecy::SecretString;
/// use serde_json::json;
/// use tributary_provider::snaptrade::webhook::verify_webhook;
/// use tributary_provider::snaptrade::{WebhookEventKind, sign_webhook};
///
/// // The consumer key your service verifies deliveries with (in a test, any key both sides share).
/// let consumer_key = SecretString::from("test-consumer-key");
/// let delivery = sign_webhook(
///     &consumer_key,
///     &json!({
///         "webhookId": "9b1ab4b7-6e2c-4c6d-9d58-5d0ab7d29c41",
///         "eventType": "ACCOUNT_HOLDINGS_UPDATED",
///         "eventTimestamp": chrono::Utc::now().to_rfc3339(),
///         "userId": "user-1",
///         "accountId": "917c8734-8470-4a3e-a18f-57c3f2ee6631",
///     }),
/// );
/// // POST `delivery.body` to your route with the header `Signature: <delivery.signature>`; the route verifies:
/// let event = verify_webhook(&consumer_key, Some(&delivery.signature), delivery.body.as_bytes()).unwrap();
/// assert_eq!(event.kind, WebhookEventKind::AccountHoldingsUpdated);
///
/// // Signed with another key, the same body is refused with 401.
/// let forged = sign_webhook(&SecretString::from("not-the-key"), &event.raw);
/// let refused = verify_webhook(&consumer_key, Some(&forged.signature), forged.body.as_bytes()).unwrap_err();
/// assert_eq!(refused.http_status(), 401);
/// ```
pub fn sign_webhook(consumer_key: &SecretString, payload: &Value) -> SignedWebhook {
    SignedWebhook {
        body: payload.to_string(),
        signature: sign(consumer_key, &canonical_json(payload)),
    }
}

/// The webhook calls that need the consumer key, which the client owns: a receiver verifies with the client it
/// already built, never by reading the key again.
impl super::SnapTradeClient {
    /// Checks a delivery's `Signature` header against `body` with this client's consumer key, then reads it,
    /// whatever its age (a receiver that treats a stale delivery as a hint checks the age itself).
    ///
    /// # Errors
    /// As [`verify_webhook_signature`](super::webhook::verify_webhook_signature).
    pub fn verify_webhook_signature(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<super::WebhookEvent, crate::WebhookError> {
        super::webhook::verify_webhook_signature(&self.config().consumer_key, signature, body)
    }

    /// `payload` signed with this client's consumer key as SnapTrade signs a delivery ([`sign_webhook`]), for
    /// a service's tests of its own webhook route.
    pub fn sign_webhook(&self, payload: &Value) -> SignedWebhook {
        sign_webhook(&self.config().consumer_key, payload)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::snaptrade::webhook::verify_webhook_signature;

    #[test]
    fn a_signed_payload_with_unsorted_keys_and_non_ascii_text_passes_the_verifier() {
        let key = SecretString::from("k");
        let payload = json!({
            "userId": "Zoë 🐢",
            "eventType": "CONNECTION_ADDED",
            "eventTimestamp": "2024-05-01T12:00:00Z",
            "details": {"z": 1, "a": [2, 1]},
        });
        let delivery = sign_webhook(&key, &payload);
        let event =
            verify_webhook_signature(&key, Some(&delivery.signature), delivery.body.as_bytes())
                .unwrap();
        assert_eq!(event.user_id.as_deref(), Some("Zoë 🐢"));
    }

    #[test]
    fn the_body_is_the_payload_and_the_signature_is_snaptrades_canonical_hmac() {
        let key = SecretString::from("k");
        let payload =
            json!({"eventType": "USER_REGISTERED", "eventTimestamp": "2024-05-01T12:00:00Z"});
        let delivery = sign_webhook(&key, &payload);
        assert_eq!(
            serde_json::from_str::<Value>(&delivery.body).unwrap(),
            payload
        );
        assert_eq!(delivery.signature, sign(&key, &canonical_json(&payload)));
    }
}
