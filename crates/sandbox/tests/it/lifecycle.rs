//! Each sandbox gets its own ports, and its servers stop when it is dropped.

use std::time::Duration;

use tributary_sandbox::Sandbox;

#[tokio::test]
async fn two_sandboxes_listen_on_different_loopback_ports() {
    let first = Sandbox::start().await;
    let second = Sandbox::start().await;
    let urls = [
        first.snaptrade_base_url(),
        first.plaid_base_url(),
        first.alpaca_base_url(),
        second.snaptrade_base_url(),
    ];
    assert!(urls.iter().all(|url| url.starts_with("http://127.0.0.1:")));
    let distinct: std::collections::HashSet<_> = urls.iter().collect();
    assert_eq!(distinct.len(), urls.len());
}

#[tokio::test]
async fn dropping_the_sandbox_stops_its_servers() {
    let sandbox = Sandbox::start().await;
    let status = format!("{}/", sandbox.snaptrade_base_url());
    assert_eq!(reqwest::get(&status).await.expect("running").status(), 200);
    drop(sandbox);
    let mut refused = false;
    for _ in 0..50 {
        // A fresh client each time, so no pooled connection keeps the old server reachable.
        if reqwest::Client::new().get(&status).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "the server still answers after the sandbox was dropped"
    );
}
