//! No secret reaches a `Debug` output, an error message or a log line, on the paths where one is most
//! likely to slip: configuration errors, failed connections, timeouts and bodies that carry a token.
#![cfg(any(feature = "plaid", feature = "alpaca"))]

use std::collections::HashMap;

use crate::ProviderError;
use url::Url;

use crate::tests::support::{LogCapture, assert_no_secret};

const SECRET: &str = "s3cr3t-value-never-shown";
const TOKEN: &str = "access-production-token-never-shown";
const URL_PASSWORD: &str = "url-password-never-shown";

fn secrets() -> [(&'static str, &'static str); 3] {
    [
        ("API secret", SECRET),
        ("access token", TOKEN),
        ("password in a URL", URL_PASSWORD),
    ]
}

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// A base URL on 127.0.0.1 where nothing listens, with credentials in it that must never be repeated.
async fn refusing_url() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Url::parse(&format!("http://user:{URL_PASSWORD}@127.0.0.1:{port}/")).unwrap()
}

fn shown(error: &ProviderError) -> [String; 2] {
    [format!("{error:?}"), error.to_string()]
}

#[cfg(feature = "plaid")]
mod plaid {
    use crate::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
    use secrecy::SecretString;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn config(base_url: Url) -> PlaidConfig {
        PlaidConfig::new(
            "client-id",
            SecretString::from(SECRET),
            PlaidEnvironment::Sandbox,
        )
        .with_base_url(base_url)
    }

    fn token() -> AccessToken {
        AccessToken::new(SecretString::from(TOKEN))
    }

    #[test]
    fn a_malformed_base_url_is_named_without_repeating_it() {
        let bad = format!("https//user:{URL_PASSWORD}@plaid");
        let error = PlaidConfig::from_lookup(lookup(&[
            ("PLAID_CLIENT_ID", "client-id"),
            ("PLAID_SECRET", SECRET),
            ("PLAID_BASE_URL", &bad),
        ]))
        .unwrap_err();
        assert!(matches!(
            error,
            ProviderError::Config {
                variable: "PLAID_BASE_URL",
                ..
            }
        ));
        assert_no_secret(&secrets(), &shown(&error));
    }

    #[test]
    fn a_config_read_from_the_environment_hides_its_secret() {
        let config = PlaidConfig::from_lookup(lookup(&[
            ("PLAID_CLIENT_ID", "client-id"),
            ("PLAID_SECRET", SECRET),
            ("PLAID_ENV", "sandbox"),
        ]))
        .unwrap();
        let client = PlaidClient::new(config.clone()).unwrap();
        assert_no_secret(
            &secrets(),
            &[
                format!("{config:?}"),
                format!("{client:?}"),
                format!("{:?}", token()),
            ],
        );
    }

    #[tokio::test]
    async fn a_refused_connection_reports_no_url_credentials_and_logs_none() {
        let (logs, _guard) = LogCapture::start();
        let plaid = PlaidClient::new(config(refusing_url().await)).unwrap();

        let error = plaid.item(&token()).await.unwrap_err();

        assert!(
            matches!(error, ProviderError::Transport { .. }),
            "got {error:?}"
        );
        let [debug, display] = shown(&error);
        assert_no_secret(&secrets(), &[debug, display, logs.text()]);
    }

    #[tokio::test]
    async fn a_token_exchange_answer_that_does_not_parse_keeps_no_token() {
        let (logs, _guard) = LogCapture::start();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/item/public_token/exchange"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"access_token": TOKEN, "item_id": 42, "request_id": "r"}),
            ))
            .mount(&server)
            .await;
        let plaid = PlaidClient::new(config(Url::parse(&server.uri()).unwrap())).unwrap();

        let error = plaid
            .exchange_public_token("public-token")
            .await
            .unwrap_err();

        assert!(
            matches!(error, ProviderError::Decode { .. }),
            "got {error:?}"
        );
        let [debug, display] = shown(&error);
        assert_no_secret(&secrets(), &[debug, display, logs.text()]);
    }
}

#[cfg(feature = "alpaca")]
mod alpaca {
    use std::time::Duration;

    use crate::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment, BrokerAccountId};
    use secrecy::SecretString;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const ACCOUNT: &str = "3dcb795c-3ccc-402a-abb9-07e26a1b1326";

    fn config(base_url: Url) -> AlpacaConfig {
        AlpacaConfig::new(
            "key-id",
            SecretString::from(SECRET),
            AlpacaEnvironment::Sandbox,
        )
        .with_base_url(base_url)
    }

    #[test]
    fn a_missing_secret_is_named_and_a_present_one_is_hidden() {
        let missing =
            AlpacaConfig::from_lookup(lookup(&[("ALPACA_BROKER_API_KEY", "key-id")])).unwrap_err();
        assert!(matches!(
            missing,
            ProviderError::Config {
                variable: "ALPACA_BROKER_API_SECRET",
                ..
            }
        ));
        let config = AlpacaConfig::from_lookup(lookup(&[
            ("ALPACA_BROKER_API_KEY", "key-id"),
            ("ALPACA_BROKER_API_SECRET", SECRET),
        ]))
        .unwrap();
        let client = AlpacaClient::new(config.clone()).unwrap();
        assert_no_secret(&secrets(), &[format!("{config:?}"), format!("{client:?}")]);
    }

    #[tokio::test]
    async fn a_refused_connection_reports_no_url_credentials_and_logs_none() {
        let (logs, _guard) = LogCapture::start();
        let alpaca = AlpacaClient::new(config(refusing_url().await)).unwrap();

        let error = alpaca
            .account(&BrokerAccountId::parse(ACCOUNT).unwrap())
            .await
            .unwrap_err();

        assert!(
            matches!(error, ProviderError::Transport { .. }),
            "got {error:?}"
        );
        let [debug, display] = shown(&error);
        assert_no_secret(&secrets(), &[debug, display, logs.text()]);
    }

    #[tokio::test]
    async fn a_timeout_names_the_operation_and_nothing_else() {
        let (logs, _guard) = LogCapture::start();
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        let alpaca = AlpacaClient::new(
            config(Url::parse(&server.uri()).unwrap()).with_timeout(Duration::from_millis(100)),
        )
        .unwrap();

        let error = alpaca
            .account(&BrokerAccountId::parse(ACCOUNT).unwrap())
            .await
            .unwrap_err();

        assert!(
            matches!(
                error,
                ProviderError::Timeout {
                    endpoint: "getAccount",
                    ..
                }
            ),
            "got {error:?}"
        );
        let captured = logs.text();
        assert!(captured.contains("latency_ms"), "{captured}");
        assert!(
            !captured.contains(ACCOUNT),
            "the URL's account id was logged: {captured}"
        );
        assert_no_secret(
            &secrets(),
            &[format!("{error:?}"), error.to_string(), captured],
        );
    }
}
