//! What every provider's webhook inbox does alike.

use tributary_repo::{Store, WebhookKey};

use crate::SyncError;

/// Records that applying a delivery failed, so the provider's `retry_webhooks` applies it later, and returns
/// the reason the deferred outcome carries. A failure to record that is logged: the delivery stays pending all
/// the same (it was never marked applied).
pub(crate) async fn record_deferral<S: Store>(
    store: &S,
    key: &WebhookKey,
    error: &SyncError,
) -> String {
    let provider = key.provider;
    tracing::warn!(%provider, webhook = %key.webhook_id, %error, "applying a webhook failed; it stays recorded for a retry");
    if let Err(failed) = store.mark_webhook_failed(key, &error.to_string()).await {
        tracing::warn!(%provider, webhook = %key.webhook_id, error = %failed, "recording the failure failed; the delivery stays pending all the same");
    }
    error.to_string()
}
