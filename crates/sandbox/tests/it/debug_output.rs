//! Debug output of the sandbox and what it hands out never shows a credential or a user secret.

use tributary_sandbox::{Sandbox, SeedItem};

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let sandbox = Sandbox::start().await;
    let user = sandbox.snaptrade().seed_user("alice");
    let item = sandbox.plaid().seed_item(SeedItem::default());
    let printed = format!("{sandbox:?} {user:?} {item:?}");
    for secret in [
        sandbox.snaptrade().consumer_key(),
        sandbox.plaid().secret(),
        sandbox.alpaca().secret(),
        user.user_secret.as_str(),
        item.access_token.as_str(),
    ] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(printed.contains("alice") && printed.contains(&item.item_id));
}
