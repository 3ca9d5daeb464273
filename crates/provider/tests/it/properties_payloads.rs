//! Property tests: whatever a provider answers with a 200, turning it into domain values ends in `Ok` or a
//! typed error (`Decode` with the raw body, `InvalidData` naming the field), never a panic and never
//! another kind of error.
//!
//! Each case is served over HTTP by `wiremock` on 127.0.0.1 and read through the client's public calls,
//! so the whole path runs: the wire structs, the lenient number and text readers, and the conversions
//! into the domain's checked types. Two kinds of payload: arbitrary JSON, and the providers' spec
//! examples (`tests/fixtures`) with nodes replaced by hostile values (NUL bytes, emoji, 1 MiB strings,
//! decimals at and past their limits) or removed.
#![cfg(any(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::future::Future;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::Value;
#[cfg(any(feature = "snaptrade", feature = "alpaca"))]
use tributary_domain::{AccountId, ProviderAccountId, UserId};
use tributary_provider::ProviderError;
#[cfg(any(feature = "snaptrade", feature = "alpaca"))]
use tributary_provider::capability::AccountRef;
use url::Url;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::fixture;
use crate::support::hostile_json::{Edit, any_json, edited, edits, scalar_edits};

/// HTTP round trips per property: enough to meet every hostile value many times, quick on two cores.
const CASES: u32 = 64;

#[cfg(any(feature = "snaptrade", feature = "alpaca"))]
const ACCOUNT: &str = "3dcb795c-3ccc-402a-abb9-07e26a1b1326";

/// A `wiremock` server answering every request with the case's body, and a runtime to call it from.
struct Served {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
}

impl Served {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(MockServer::start());
        Self { runtime, server }
    }

    fn base_url(&self) -> Url {
        Url::parse(&self.server.uri()).unwrap()
    }

    /// Runs `call` while the server answers 200 with `body`.
    fn answering<T>(&self, body: &Value, call: impl Future<Output = T>) -> T {
        self.runtime.block_on(async {
            self.server.reset().await;
            Mock::given(any())
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .mount(&self.server)
                .await;
            call.await
        })
    }

    /// Runs `call`, which makes several requests, while the server answers 200 with `body` on paths matching
    /// `hostile_path` and with the spec example of each `(path regex, example)` of `others` elsewhere: the
    /// hostile answer is the only bad one, so it is the one that reaches its conversion.
    #[cfg(any(feature = "snaptrade", feature = "alpaca"))]
    fn answering_at<T>(
        &self,
        hostile_path: &str,
        body: &Value,
        others: &[(&str, &Value)],
        call: impl Future<Output = T>,
    ) -> T {
        self.runtime.block_on(async {
            self.server.reset().await;
            Mock::given(wiremock::matchers::path_regex(hostile_path))
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .with_priority(1)
                .mount(&self.server)
                .await;
            for (path, example) in others {
                Mock::given(wiremock::matchers::path_regex(*path))
                    .respond_with(ResponseTemplate::new(200).set_body_json(example))
                    .with_priority(2)
                    .mount(&self.server)
                    .await;
            }
            call.await
        })
    }
}

/// `Ok`, or the errors a bad payload may produce; anything else fails the case.
fn ok_or_typed<T>(result: Result<T, ProviderError>) -> Result<(), TestCaseError> {
    match result {
        Ok(_) | Err(ProviderError::Decode { .. } | ProviderError::InvalidData { .. }) => Ok(()),
        Err(other) => Err(TestCaseError::fail(format!(
            "a bad payload became {other:?}"
        ))),
    }
}

/// The runners' configuration: failures are saved to a committed file and replayed first on every run (a
/// runner built by hand has no source file for proptest's default persistence to write beside).
fn config() -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/it/properties_payloads.proptest-regressions",
        ))),
        ..Config::with_cases(CASES)
    }
}

/// Runs `property` over arbitrary JSON, over `example` with nodes replaced by arbitrary JSON or removed,
/// and over `example` with scalars replaced by hostile text and decimals.
fn for_hostile_payloads(example: Value, property: impl Fn(&Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(config());
    runner.run(&any_json(), |body| property(&body)).unwrap();
    for strategy in [edits(4).boxed(), scalar_edits(4).boxed()] {
        let mut runner = TestRunner::new(config());
        runner
            .run(&strategy, |changes: Vec<Edit>| {
                property(&edited(example.clone(), &changes))
            })
            .unwrap();
    }
}

#[cfg(any(feature = "snaptrade", feature = "alpaca"))]
fn account_ref() -> AccountRef {
    AccountRef {
        user_id: UserId::generate(),
        account_id: AccountId::generate(),
        provider_account_id: ProviderAccountId::parse(ACCOUNT).unwrap(),
    }
}

#[cfg(feature = "snaptrade")]
mod snaptrade {
    use secrecy::SecretString;
    use tributary_domain::{
        OrderAction, Price, SnapTradeUserId, SnapTradeUserSecret, Symbol, Units,
    };
    use tributary_provider::capability::{
        Aggregation, BrokerageAccounts, OrderRequest, OrderScope, OrderSize, Trading,
    };
    use tributary_provider::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};

    use super::*;

    fn client(served: &Served) -> SnapTradeClient {
        let config = SnapTradeConfig::new("PARTNER", SecretString::from("consumer-key"))
            .unwrap()
            .with_base_url(served.base_url())
            // Hundreds of answers in a row: the provider's request budget is not what this tests.
            .with_rate_limits(tributary_provider::RateLimits::none());
        SnapTradeClient::new(config).unwrap()
    }

    fn user() -> UserCredentials {
        UserCredentials::new(
            SnapTradeUserId::parse("user-1").unwrap(),
            SnapTradeUserSecret::new(SecretString::from("user-secret")).unwrap(),
        )
    }

    #[test]
    fn any_orders_answer_becomes_order_rows_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        for_hostile_payloads(fixture("snaptrade", "orders"), |body| {
            ok_or_typed(served.answering(
                body,
                snaptrade.list_orders(&user(), &account_ref(), OrderScope::All),
            ))
        });
    }

    #[test]
    fn any_positions_answer_becomes_positions_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        let account = ProviderAccountId::parse(ACCOUNT).unwrap();
        for_hostile_payloads(fixture("snaptrade", "positions_all"), |body| {
            ok_or_typed(served.answering(body, snaptrade.account_positions(&user(), &account)))
        });
    }

    #[test]
    fn any_connections_answer_becomes_connections_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        for_hostile_payloads(fixture("snaptrade", "authorizations"), |body| {
            ok_or_typed(served.answering(body, snaptrade.connections(&user())))
        });
    }

    /// A day limit buy of the ticker the spec's symbol search example finds.
    fn limit_buy() -> OrderRequest {
        OrderRequest::limit(
            Symbol::parse("VAB.TO").unwrap(),
            OrderAction::Buy,
            OrderSize::Units(Units::parse("1").unwrap()),
            Price::parse("31.33").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn any_accounts_answer_becomes_accounts_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        for_hostile_payloads(fixture("snaptrade", "accounts"), |body| {
            ok_or_typed(served.answering(body, Aggregation::accounts(&snaptrade, &user())))
        });
    }

    #[test]
    fn any_account_details_or_balances_answer_becomes_an_account_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        let account = ProviderAccountId::parse(ACCOUNT).unwrap();
        let (details, balances) = (
            fixture("snaptrade", "accounts"),
            fixture("snaptrade", "balances"),
        );
        let details = details[0].clone();
        for (hostile_path, example, other_path, other) in [
            ("/accounts/[^/]+$", &details, "/balances$", &balances),
            ("/balances$", &balances, "/accounts/[^/]+$", &details),
        ] {
            served
                .answering_at(
                    hostile_path,
                    example,
                    &[(other_path, other)],
                    snaptrade.brokerage_account(&user(), &account),
                )
                .expect("the spec examples are read: the routes reach the conversion");
            for_hostile_payloads(example.clone(), |body| {
                ok_or_typed(served.answering_at(
                    hostile_path,
                    body,
                    &[(other_path, other)],
                    snaptrade.brokerage_account(&user(), &account),
                ))
            });
        }
    }

    #[test]
    fn any_activities_answer_becomes_transactions_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        let accounts = fixture("snaptrade", "accounts");
        let (from, to) = (
            chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
        );
        let activities = fixture("snaptrade", "activities");
        let page = served
            .answering_at(
                "/activities$",
                &activities,
                &[("/accounts$", &accounts)],
                snaptrade.transactions(&user(), from, to, None),
            )
            .expect("the spec examples are read: the routes reach the conversion");
        assert!(!page.transactions.is_empty());
        for_hostile_payloads(activities, |body| {
            ok_or_typed(served.answering_at(
                "/activities$",
                body,
                &[("/accounts$", &accounts)],
                snaptrade.transactions(&user(), from, to, None),
            ))
        });
    }

    #[test]
    fn any_placed_order_answer_becomes_an_order_row_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        for_hostile_payloads(fixture("snaptrade", "place_order"), |body| {
            ok_or_typed(served.answering(
                body,
                snaptrade.place_order(&user(), &account_ref(), &limit_buy()),
            ))
        });
    }

    /// Found by the property below: the fees were summed with `+`, which panics past `Decimal::MAX`.
    #[test]
    fn fees_whose_sum_overflows_a_decimal_are_invalid_data_not_a_panic() {
        let served = Served::start();
        let snaptrade = client(&served);
        let mut impact = fixture("snaptrade", "order_impact");
        let most = crate::support::hostile_json::number_or_text("79228162514264337593543950335");
        impact["trade_impacts"][0]["estimated_commission"] = most.clone();
        impact["trade_impacts"][0]["forex_fees"] = most;
        let symbols = fixture("snaptrade", "symbols");

        let outcome = served.answering_at(
            "/trade/impact$",
            &impact,
            &[("/symbols$", &symbols)],
            Trading::order_impact(&snaptrade, &user(), &account_ref(), &limit_buy()),
        );

        assert!(
            matches!(&outcome, Err(ProviderError::InvalidData { field, .. }) if field.starts_with("trade_impacts")),
            "{outcome:?}"
        );
    }

    #[test]
    fn any_order_impact_answer_becomes_an_impact_or_a_typed_error() {
        let served = Served::start();
        let snaptrade = client(&served);
        let symbols = fixture("snaptrade", "symbols");
        let impact = fixture("snaptrade", "order_impact");
        served
            .answering_at(
                "/trade/impact$",
                &impact,
                &[("/symbols$", &symbols)],
                Trading::order_impact(&snaptrade, &user(), &account_ref(), &limit_buy()),
            )
            .expect("the spec examples are read: the routes reach the conversion");
        for_hostile_payloads(impact, |body| {
            ok_or_typed(served.answering_at(
                "/trade/impact$",
                body,
                &[("/symbols$", &symbols)],
                Trading::order_impact(&snaptrade, &user(), &account_ref(), &limit_buy()),
            ))
        });
    }
}

#[cfg(feature = "plaid")]
mod plaid {
    use secrecy::SecretString;
    use tributary_provider::capability::Aggregation;
    use tributary_provider::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};

    use super::*;

    fn client(served: &Served) -> PlaidClient {
        let config = PlaidConfig::new(
            "client",
            SecretString::from("secret"),
            PlaidEnvironment::Sandbox,
        )
        .with_base_url(served.base_url())
        // Hundreds of answers in a row: the provider's request budget is not what this tests.
        .with_rate_limits(tributary_provider::RateLimits::none());
        PlaidClient::new(config).unwrap()
    }

    fn token() -> AccessToken {
        AccessToken::new(SecretString::from("access-sandbox-1"))
    }

    #[test]
    fn any_holdings_answer_becomes_positions_or_a_typed_error() {
        let served = Served::start();
        let plaid = client(&served);
        for_hostile_payloads(fixture("plaid", "investments_holdings_get"), |body| {
            ok_or_typed(served.answering(body, plaid.positions(&token())))
        });
    }

    #[test]
    fn any_accounts_answer_becomes_accounts_or_a_typed_error() {
        let served = Served::start();
        let plaid = client(&served);
        for_hostile_payloads(fixture("plaid", "accounts_get"), |body| {
            ok_or_typed(served.answering(body, Aggregation::accounts(&plaid, &token())))
        });
    }

    #[test]
    fn any_item_answer_becomes_a_connection_or_a_typed_error() {
        let served = Served::start();
        let plaid = client(&served);
        for_hostile_payloads(fixture("plaid", "item_get"), |body| {
            ok_or_typed(served.answering(body, Aggregation::connections(&plaid, &token())))
        });
    }

    #[test]
    fn any_investment_transactions_answer_becomes_a_page_or_a_typed_error() {
        let served = Served::start();
        let plaid = client(&served);
        let (from, to) = (
            chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
        );
        for_hostile_payloads(fixture("plaid", "investments_transactions_get"), |body| {
            ok_or_typed(served.answering(
                body,
                Aggregation::transactions(&plaid, &token(), from, to, None),
            ))
        });
    }
}

#[cfg(feature = "alpaca")]
mod alpaca {
    use secrecy::SecretString;
    use tributary_domain::{OrderAction, Symbol, Units};
    use tributary_provider::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
    use tributary_provider::capability::{
        BrokerageAccounts, OrderRequest, OrderScope, OrderSize, Trading,
    };

    use super::*;

    fn client(served: &Served) -> AlpacaClient {
        let config = AlpacaConfig::new(
            "key",
            SecretString::from("secret"),
            AlpacaEnvironment::Sandbox,
        )
        .with_base_url(served.base_url())
        // Hundreds of answers in a row: the provider's request budget is not what this tests.
        .with_rate_limits(tributary_provider::RateLimits::none());
        AlpacaClient::new(config).unwrap()
    }

    #[test]
    fn any_orders_answer_becomes_order_rows_or_a_typed_error() {
        let served = Served::start();
        let alpaca = client(&served);
        for_hostile_payloads(fixture("alpaca", "orders"), |body| {
            ok_or_typed(served.answering(
                body,
                alpaca.list_orders(&(), &account_ref(), OrderScope::All),
            ))
        });
    }

    #[test]
    fn any_positions_answer_becomes_positions_or_a_typed_error() {
        let served = Served::start();
        let alpaca = client(&served);
        let account = ProviderAccountId::parse(ACCOUNT).unwrap();
        for_hostile_payloads(fixture("alpaca", "positions"), |body| {
            ok_or_typed(served.answering(body, alpaca.account_positions(&(), &account)))
        });
    }

    #[test]
    fn any_trading_account_answer_becomes_an_account_or_a_typed_error() {
        let served = Served::start();
        let alpaca = client(&served);
        let account = ProviderAccountId::parse(ACCOUNT).unwrap();
        for_hostile_payloads(fixture("alpaca", "trading_account"), |body| {
            ok_or_typed(served.answering(body, alpaca.brokerage_account(&(), &account)))
        });
    }

    fn market_buy() -> OrderRequest {
        OrderRequest::market(
            Symbol::parse("AAPL").unwrap(),
            OrderAction::Buy,
            OrderSize::Units(Units::parse("1").unwrap()),
        )
        .expect("an order for a positive size")
    }

    #[test]
    fn any_account_answer_beside_its_trading_account_becomes_an_account_or_a_typed_error() {
        let served = Served::start();
        let alpaca = client(&served);
        let account = ProviderAccountId::parse(ACCOUNT).unwrap();
        let trading_account = fixture("alpaca", "trading_account");
        let details = fixture("alpaca", "account");
        served
            .answering_at(
                "^/v1/accounts/",
                &details,
                &[("/account$", &trading_account)],
                alpaca.brokerage_account(&(), &account),
            )
            .expect("the spec examples are read: the routes reach the conversion");
        for_hostile_payloads(details, |body| {
            ok_or_typed(served.answering_at(
                "^/v1/accounts/",
                body,
                &[("/account$", &trading_account)],
                alpaca.brokerage_account(&(), &account),
            ))
        });
    }

    #[test]
    fn any_submitted_order_answer_becomes_an_order_row_or_a_typed_error() {
        let served = Served::start();
        let alpaca = client(&served);
        for_hostile_payloads(fixture("alpaca", "order_equity"), |body| {
            ok_or_typed(
                served.answering(body, alpaca.place_order(&(), &account_ref(), &market_buy())),
            )
        });
    }

    #[test]
    fn any_trading_account_answer_becomes_an_order_impact_or_a_typed_error() {
        let served = Served::start();
        let alpaca = client(&served);
        for_hostile_payloads(fixture("alpaca", "trading_account"), |body| {
            ok_or_typed(served.answering(
                body,
                Trading::order_impact(&alpaca, &(), &account_ref(), &market_buy()),
            ))
        });
    }
}
