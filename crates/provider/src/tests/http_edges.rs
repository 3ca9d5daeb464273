//! The HTTP edges every client shares, on 127.0.0.1: redirects are never followed (so credentials never reach
//! another host), plain `http` is refused for any host but loopback, and an answer larger than the cap is
//! refused while it is being read.
#![cfg(all(feature = "plaid", feature = "snaptrade", feature = "alpaca"))]

use std::time::Duration;

use crate::ProviderError;
use crate::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment, BrokerAccountId};
use crate::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
use crate::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use secrecy::SecretString;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tributary_domain::{SnapTradeUserId, SnapTradeUserSecret};
use url::Url;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT: &str = "3dcb795c-3ccc-402a-abb9-07e26a1b1326";

fn plaid(base_url: Url) -> PlaidConfig {
    PlaidConfig::new(
        "client-id",
        SecretString::from("plaid-secret"),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(base_url)
}

fn snaptrade(base_url: Url) -> SnapTradeConfig {
    SnapTradeConfig::new("CLIENT", SecretString::from("consumer-key"))
        .unwrap()
        .with_base_url(base_url)
}

fn alpaca(base_url: Url) -> AlpacaConfig {
    AlpacaConfig::new(
        "key",
        SecretString::from("alpaca-secret"),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(base_url)
}

fn user() -> UserCredentials {
    UserCredentials::new(
        SnapTradeUserId::parse("user-1").unwrap(),
        SnapTradeUserSecret::new(SecretString::from("user-secret")).unwrap(),
    )
}

fn token() -> AccessToken {
    AccessToken::new(SecretString::from("access-sandbox-token"))
}

fn url(server: &MockServer) -> Url {
    Url::parse(&server.uri()).unwrap()
}

/// One call of each client against `base_url`, with its credentials on board (Plaid's in the body, SnapTrade's
/// signature in a header and its user secret in the query, Alpaca's in `Authorization`).
async fn call_each(base_url: &Url, max_body: Option<usize>) -> [(&'static str, ProviderError); 3] {
    let cap = |bytes: usize| max_body.unwrap_or(bytes);
    let plaid = PlaidClient::new(plaid(base_url.clone()).with_max_response_bytes(cap(16 << 20)))
        .unwrap()
        .item(&token())
        .await
        .unwrap_err();
    let snaptrade =
        SnapTradeClient::new(snaptrade(base_url.clone()).with_max_response_bytes(cap(16 << 20)))
            .unwrap()
            .with_retries(1, Duration::from_millis(1))
            .list_user_accounts(&user())
            .await
            .unwrap_err();
    let alpaca = AlpacaClient::new(alpaca(base_url.clone()).with_max_response_bytes(cap(16 << 20)))
        .unwrap()
        .account(&BrokerAccountId::parse(ACCOUNT).unwrap())
        .await
        .unwrap_err();
    [
        ("Plaid", plaid),
        ("SnapTrade", snaptrade),
        ("Alpaca", alpaca),
    ]
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_and_the_other_host_receives_nothing() {
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&elsewhere)
        .await;
    let provider = MockServer::start().await;
    for status in [301, 302, 307, 308] {
        provider.reset().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("Location", format!("{}/stolen", elsewhere.uri())),
            )
            .mount(&provider)
            .await;

        for (name, error) in call_each(&url(&provider), None).await {
            assert!(
                matches!(error, ProviderError::Redirected { status: s, .. } if s == status),
                "{name} after a {status}: {error:?}"
            );
            assert!(!error.is_retryable(), "{name}: a redirect is not retried");
        }
    }
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the other host received a request"
    );
}

#[test]
fn a_plain_http_base_url_that_is_not_loopback_is_refused_when_the_client_is_built() {
    let remote = Url::parse("http://api.example.com:8080/v1").unwrap();
    let refused = [
        (
            "PLAID_BASE_URL",
            PlaidClient::new(plaid(remote.clone())).map(drop),
        ),
        (
            "SNAPTRADE_BASE_URL",
            SnapTradeClient::new(snaptrade(remote.clone())).map(drop),
        ),
        (
            "ALPACA_BROKER_BASE_URL",
            AlpacaClient::new(alpaca(remote.clone())).map(drop),
        ),
    ];
    for (expected, outcome) in refused {
        match outcome {
            Err(ProviderError::InsecureUrl { variable, url }) => {
                assert_eq!(variable, expected);
                assert_eq!(url, "http://api.example.com:8080");
            }
            other => panic!("{expected}: {other:?}"),
        }
    }
}

#[test]
fn a_plain_http_base_url_in_the_environment_is_refused_naming_the_variable() {
    let error = AlpacaConfig::from_lookup(|name| match name {
        "ALPACA_BROKER_API_KEY" => Some("key".into()),
        "ALPACA_BROKER_API_SECRET" => Some("secret".into()),
        "ALPACA_BROKER_BASE_URL" => Some("http://broker-api.alpaca.markets".into()),
        _ => None,
    })
    .unwrap_err();
    assert!(
        matches!(
            error,
            ProviderError::InsecureUrl {
                variable: "ALPACA_BROKER_BASE_URL",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn https_anywhere_and_http_on_loopback_are_accepted() {
    for base in [
        "https://api.example.com",
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
    ] {
        let base = Url::parse(base).unwrap();
        PlaidClient::new(plaid(base.clone())).unwrap();
        SnapTradeClient::new(snaptrade(base.clone())).unwrap();
        AlpacaClient::new(alpaca(base)).unwrap();
    }
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_is_refused() {
    let provider = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(format!("{{\"padding\": \"{}\"}}", "x".repeat(4096))),
        )
        .mount(&provider)
        .await;

    for (name, error) in call_each(&url(&provider), Some(1024)).await {
        assert!(
            matches!(error, ProviderError::ResponseTooLarge { limit: 1024, .. }),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_error_body_larger_than_the_cap_is_refused_too() {
    let provider = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_string("e".repeat(4096)))
        .mount(&provider)
        .await;

    for (name, error) in call_each(&url(&provider), Some(1024)).await {
        assert!(
            matches!(error, ProviderError::ResponseTooLarge { .. }),
            "{name}: {error:?}"
        );
    }
}

/// A server on 127.0.0.1 that answers every request with a chunked 200 that never ends, and counts the bytes
/// it managed to send before the client hung up.
async fn endless_server() -> (Url, tokio::task::JoinHandle<u64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let served = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0_u8; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192));
        let mut sent = 0_u64;
        // Stops when the client closes the connection, or after 1 GiB (a client that buffers everything).
        while sent < (1 << 30) {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 8192;
        }
        sent
    });
    (base, served)
}

#[tokio::test]
async fn a_body_without_a_length_is_counted_as_it_arrives_and_abandoned_past_the_cap() {
    let (base, served) = endless_server().await;
    let client = AlpacaClient::new(alpaca(base).with_max_response_bytes(64 * 1024)).unwrap();

    let error = tokio::time::timeout(
        Duration::from_secs(20),
        client.account(&BrokerAccountId::parse(ACCOUNT).unwrap()),
    )
    .await
    .expect("the client stops reading once the cap is passed")
    .unwrap_err();
    drop(client);

    assert!(
        matches!(error, ProviderError::ResponseTooLarge { limit: 65536, .. }),
        "{error:?}"
    );
    let sent = tokio::time::timeout(Duration::from_secs(20), served)
        .await
        .expect("the server sees the client hang up")
        .unwrap();
    assert!(
        sent < 64 << 20,
        "the server sent {sent} bytes before the client gave up"
    );
}
