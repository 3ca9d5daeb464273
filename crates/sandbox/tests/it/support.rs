//! A raw SnapTrade caller for the sandbox's own tests: builds the query, signs it, sends it with reqwest.

use serde_json::Value;
use tributary_sandbox::snaptrade::signature;
use tributary_sandbox::{SeededUser, SnapTradeSandbox};

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `clientId=…&timestamp=…`, then `&userId=…&userSecret=…` for a user-scoped call.
pub fn auth_query(client_id: &str, timestamp: i64, user: Option<&SeededUser>) -> String {
    let mut query = format!("clientId={client_id}&timestamp={timestamp}");
    if let Some(user) = user {
        query.push_str(&format!(
            "&userId={}&userSecret={}",
            user.user_id, user.user_secret
        ));
    }
    query
}

/// Sends exactly this query, `Signature` header and JSON body text.
pub async fn send_raw(
    server: &SnapTradeSandbox,
    method: reqwest::Method,
    path: &str,
    query: &str,
    signature: &str,
    body: Option<String>,
) -> reqwest::Response {
    let url = format!("{}{path}?{query}", server.base_url());
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("Signature", signature);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body);
    }
    request.send().await.expect("the sandbox answers")
}

/// Sends a SnapTrade call signed with the sandbox's consumer key.
pub async fn call(
    server: &SnapTradeSandbox,
    method: reqwest::Method,
    path: &str,
    user: Option<&SeededUser>,
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
    user: Option<&SeededUser>,
    extra_query: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut query = auth_query(server.client_id(), now(), user);
    if !extra_query.is_empty() {
        query.push('&');
        query.push_str(extra_query);
    }
    let signature = signature::signature(key, path, &query, body.as_ref());
    send_raw(
        server,
        method,
        path,
        &query,
        &signature,
        body.map(|body| body.to_string()),
    )
    .await
}

/// The JSON body of a response, asserting its status first.
pub async fn json(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}
