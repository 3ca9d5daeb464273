//! A raw SnapTrade caller for the sandbox's own tests: builds the query, signs it, sends it with reqwest.

#![allow(dead_code)]

use serde_json::Value;
use tributary_sandbox::snaptrade::signature;
use tributary_sandbox::{SnapTradeSandbox, SnapTradeUser};

/// Sends a SnapTrade call signed with the sandbox's consumer key.
pub async fn call(
    server: &SnapTradeSandbox,
    method: reqwest::Method,
    path: &str,
    user: Option<&SnapTradeUser>,
    extra_query: &str,
    body: Option<Value>,
) -> reqwest::Response {
    call_with_key(
        server,
        server.consumer_key(),
        method,
        path,
        user,
        extra_query,
        body,
    )
    .await
}

/// Sends a SnapTrade call signed with `key`.
pub async fn call_with_key(
    server: &SnapTradeSandbox,
    key: &str,
    method: reqwest::Method,
    path: &str,
    user: Option<&SnapTradeUser>,
    extra_query: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let timestamp = chrono_now();
    let mut query = format!("clientId={}&timestamp={timestamp}", server.client_id());
    if let Some(user) = user {
        query.push_str(&format!(
            "&userId={}&userSecret={}",
            user.user_id, user.user_secret
        ));
    }
    if !extra_query.is_empty() {
        query.push('&');
        query.push_str(extra_query);
    }
    let signature = signature::signature(key, path, &query, body.as_ref());
    let url = format!("{}{path}?{query}", server.base_url());
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("Signature", signature);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    request.send().await.expect("the sandbox answers")
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The JSON body of a response, asserting its status first.
pub async fn json(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}
