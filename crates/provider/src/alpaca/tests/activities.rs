//! Account activities as transactions: the specs' own activity examples through the client with their signs, the
//! query Alpaca is asked, paging the sandbox's history to the end, a misshapen activity left out, and the
//! attacker's view (another account's activities, cursor or key).
#![cfg(feature = "alpaca")]

use std::collections::HashSet;

use chrono::{Duration, NaiveDate, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use tributary_domain::{Currency, ProviderAccountId, TransactionType};
use tributary_sandbox::alpaca::DEFAULT_ACTIVITIES;
use tributary_sandbox::{Sandbox, SeedAccount};
use tributary_spec::Spec;
use url::Url;
use uuid::Uuid;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::ProviderError;
use crate::alpaca::{AlpacaClient, AlpacaConfig, AlpacaEnvironment};
use crate::capability::{BrokerageAccounts, PageCursor, Transaction, TransactionPage};
use crate::tests::support::alpaca::client;
use crate::tests::support::dec;

const ACTIVITIES: &str = "/v1/accounts/activities";
/// The account of the Broker spec's `Activity.account_id` example.
const SPEC_ACCOUNT: &str = "c8f1ef5d-edc0-4f23-9ee4-378f19cb92a4";

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn account(id: &str) -> ProviderAccountId {
    ProviderAccountId::parse(id).unwrap()
}

async fn serve(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

async fn one_page(server: &MockServer, id: &str) -> TransactionPage {
    BrokerageAccounts::account_transactions(
        &client(server),
        &(),
        &account(id),
        day("2019-01-01"),
        day("2022-12-31"),
        None,
    )
    .await
    .unwrap()
}

fn by_id<'a>(page: &'a TransactionPage, id: &str) -> &'a Transaction {
    page.transactions
        .iter()
        .find(|transaction| transaction.provider_transaction_id.as_str() == id)
        .unwrap_or_else(|| panic!("{id} is not among {:?}", page.left_out))
}

/// The example a property of the spec gives: its own `example`, or the first value of its `enum` (through a
/// `$ref`: `OrderSide`'s example `buy`, `OrderStatus`'s first value `new`).
fn property_example(spec: &Spec, property: &Value) -> Option<Value> {
    let resolved = spec.resolve(property);
    resolved
        .get("example")
        .or_else(|| resolved.get("enum").and_then(|values| values.get(0)))
        .cloned()
}

/// `schema`'s properties, each as the spec's example writes it (those without one left out).
fn property_examples(spec: &Spec, schema: &str) -> Map<String, Value> {
    spec.schema(schema)["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, property)| {
            property_example(spec, property).map(|example| (name.clone(), example))
        })
        .collect()
}

/// The Broker spec's `Activity` as its property examples write it: the base's `id` and `account_id` with the
/// fields of `TradeActivity` (for `FILL`) or `NonTradeActivity` (any other `ActivityType`).
fn broker_example(spec: &Spec, kind: &str) -> Value {
    let base = spec.schema("Activity")["allOf"][0].clone();
    let mut activity = Map::new();
    for (name, property) in base["properties"].as_object().unwrap() {
        if let Some(example) = property_example(spec, property) {
            activity.insert(name.clone(), example);
        }
    }
    let fields = if kind == "FILL" {
        "TradeActivity"
    } else {
        "NonTradeActivity"
    };
    activity.extend(property_examples(spec, fields));
    activity.insert("activity_type".to_owned(), json!(kind));
    Value::Object(activity)
}

/// Every `ActivityType` the Broker spec lists.
fn activity_types(spec: &Spec) -> Vec<String> {
    spec.schema("ActivityType")["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_broker_specs_fill_example_is_a_buy_of_units_in_and_cash_out_on_its_new_york_day() {
    let spec = Spec::load("alpaca-broker-api.yaml");
    let fill = broker_example(&spec, "FILL");
    // The examples as the spec writes them.
    assert_eq!(
        fill["id"],
        "20220208125959696::88b5f678-fef5-447b-af15-f21e367e6d8c"
    );
    assert_eq!(fill["qty"], "0.38921");
    assert_eq!(fill["price"], "3.1415");
    assert_eq!(fill["side"], "buy");
    let server = MockServer::start().await;
    serve(&server, json!([fill])).await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    assert!(page.left_out.is_empty(), "{:?}", page.left_out);
    assert_eq!(page.next, None);
    let buy = by_id(
        &page,
        "20220208125959696::88b5f678-fef5-447b-af15-f21e367e6d8c",
    );
    assert_eq!(buy.transaction_type, TransactionType::Buy);
    assert_eq!(buy.subtype.as_ref().unwrap().as_str(), "FILL");
    assert_eq!(buy.quantity, Some(dec("0.38921")));
    assert_eq!(buy.price, Some(dec("3.1415")));
    // 0.38921 × 3.1415 = 1.222703215, out of the account.
    assert_eq!(buy.amount.get(), dec("-1.222703215"));
    // transaction_time 2021-05-10T14:01:04.650275Z: 10:01 in New York.
    assert_eq!(buy.trade_date, day("2021-05-10"));
    assert_eq!(buy.symbol.as_ref().unwrap().as_str(), "AAPL");
    assert_eq!(buy.currency, Currency::usd());
    assert_eq!(
        buy.raw.as_map().get("order_id"),
        Some(&json!("fe060a1b-5b45-4eba-ba46-c3a3345d8255"))
    );
}

#[tokio::test]
async fn the_broker_specs_non_trade_example_maps_under_every_activity_type_with_alpacas_sign() {
    let spec = Spec::load("alpaca-broker-api.yaml");
    let kinds: Vec<String> = activity_types(&spec)
        .into_iter()
        .filter(|kind| kind != "FILL")
        .collect();
    assert!(kinds.len() >= 29, "{kinds:?}");
    // One example per type, each with its own id (the spec's id, its UUID's last digits replaced).
    let examples: Vec<Value> = kinds
        .iter()
        .enumerate()
        .map(|(index, kind)| {
            let mut example = broker_example(&spec, kind);
            example["id"] = json!(format!(
                "20220208125959696::88b5f678-fef5-447b-af15-{index:012}"
            ));
            example
        })
        .collect();
    assert_eq!(examples[0]["net_amount"], "1234");
    assert_eq!(examples[0]["date"], "2021-05-21");
    assert_eq!(examples[0]["status"], "executed");
    let server = MockServer::start().await;
    serve(&server, Value::Array(examples.clone())).await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    assert!(page.left_out.is_empty(), "{:?}", page.left_out);
    assert_eq!(page.transactions.len(), kinds.len());
    for (kind, example) in kinds.iter().zip(&examples) {
        let read = by_id(&page, example["id"].as_str().unwrap());
        assert_eq!(
            read.transaction_type,
            TransactionType::parse(kind).unwrap(),
            "{kind}"
        );
        // net_amount is signed by Alpaca as Tributary stores it: "1234" is cash in.
        assert_eq!(read.amount.get(), dec("1234"), "{kind}");
        assert_eq!(read.trade_date, day("2021-05-21"), "{kind}");
        // A dividend's qty is the holding that earned it, not units moved.
        let expected = (!kind.starts_with("DIV")).then(|| dec("0.38921"));
        assert_eq!(read.quantity, expected, "{kind}");
        assert_eq!(read.price, None, "{kind}");
        assert_eq!(
            read.description.as_ref().unwrap().as_str(),
            "Example description"
        );
        assert_eq!(read.currency, Currency::usd());
    }
    // The shared vocabulary where Alpaca's code means the same; Alpaca's own otherwise.
    let of = |kind: &str| {
        let at = kinds.iter().position(|known| known == kind).unwrap();
        by_id(&page, examples[at]["id"].as_str().unwrap())
            .transaction_type
            .clone()
    };
    assert_eq!(of("DIV"), TransactionType::Dividend);
    assert_eq!(of("CSD"), TransactionType::Deposit);
    assert_eq!(of("CSW"), TransactionType::Withdrawal);
    assert_eq!(of("SPLIT"), TransactionType::Split);
    assert_eq!(of("DIVNRA"), TransactionType::Other("DIVNRA".to_owned()));
}

#[tokio::test]
async fn the_trading_specs_activity_examples_map_verbatim_with_their_signs() {
    // alpaca-trading-api.json: `TradingActivities` and `NonTradeActivities` x-examples, the same activities
    // Alpaca lists to a correspondent, without the account id a single-account API leaves out.
    let spec = Spec::load("alpaca-trading-api.json");
    let fill = spec.schema("TradingActivities")["x-examples"]["example-1"].clone();
    let dividend = spec.schema("NonTradeActivities")["x-examples"]["example-1"].clone();
    let server = MockServer::start().await;
    serve(&server, json!([fill, dividend])).await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    assert!(page.left_out.is_empty(), "{:?}", page.left_out);
    let buy = by_id(
        &page,
        "20220202135509981::2d7be4ff-d1f3-43e9-856a-0f5cf5c5088e",
    );
    assert_eq!(buy.transaction_type, TransactionType::Buy);
    assert_eq!(buy.quantity, Some(dec("2")));
    assert_eq!(buy.price, Some(dec("174.78")));
    assert_eq!(buy.amount.get(), dec("-349.56"));
    assert_eq!(buy.trade_date, day("2022-02-02"));
    let paid = by_id(
        &page,
        "20190801011955195::5f596936-6f23-4cef-bdf1-3806aae57dbf",
    );
    assert_eq!(paid.transaction_type, TransactionType::Dividend);
    assert_eq!(paid.subtype.as_ref().unwrap().as_str(), "SDIV");
    assert_eq!(paid.amount.get(), dec("1.02"));
    assert_eq!(paid.quantity, None);
    assert_eq!(paid.trade_date, day("2019-08-01"));
    assert_eq!(paid.symbol.as_ref().unwrap().as_str(), "T");
    assert_eq!(
        paid.raw.as_map().get("per_share_amount"),
        Some(&json!("0.51"))
    );
}

#[tokio::test]
async fn a_sell_is_units_out_and_cash_in_and_an_evening_fill_keeps_its_new_york_day() {
    let server = MockServer::start().await;
    serve(
        &server,
        json!([{
            "id": "20220202203000000::0f0f0f0f-0000-4000-8000-000000000001",
            "account_id": SPEC_ACCOUNT,
            "activity_type": "FILL",
            "qty": "3",
            "price": "10.5",
            "side": "sell_short",
            // 20:30 in New York (EST) on 2022-02-02; the 3rd in UTC.
            "transaction_time": "2022-02-03T01:30:00Z",
            "type": "fill"
        }]),
    )
    .await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    let sale = &page.transactions[0];
    assert_eq!(sale.transaction_type, TransactionType::Sell);
    assert_eq!(sale.quantity, Some(dec("-3")));
    assert_eq!(sale.amount.get(), dec("31.5"));
    assert_eq!(sale.trade_date, day("2022-02-02"));
}

#[tokio::test]
async fn a_cancelled_activity_is_a_cancel_keeping_alpacas_type_and_never_a_deposit() {
    let server = MockServer::start().await;
    serve(
        &server,
        json!([{
            "id": "20220203000000000::045b3b8d-c566-4bef-b741-2bf598dd6ae7",
            "account_id": SPEC_ACCOUNT,
            "activity_type": "DIV",
            "activity_sub_type": "CDIV",
            "date": "2022-02-02",
            "net_amount": "12.5",
            "status": "canceled"
        }, {
            "id": "20220203000000001::045b3b8d-c566-4bef-b741-2bf598dd6ae8",
            "account_id": SPEC_ACCOUNT,
            "activity_type": "CSD",
            "date": "2022-02-02",
            "net_amount": "100",
            "status": "correct"
        }]),
    )
    .await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    let cancelled = &page.transactions[0];
    assert_eq!(cancelled.transaction_type, TransactionType::Cancel);
    assert_eq!(cancelled.subtype.as_ref().unwrap().as_str(), "DIV.CDIV");
    assert_eq!(cancelled.amount.get(), dec("12.5"));
    assert!(!cancelled.transaction_type.is_contribution());
    let corrected = &page.transactions[1];
    assert_eq!(corrected.transaction_type, TransactionType::Deposit);
}

#[tokio::test]
async fn a_misshapen_activity_is_left_out_naming_its_field_and_the_rest_are_kept() {
    let server = MockServer::start().await;
    serve(
        &server,
        json!([
            {"id": "20220203000000003::aaaaaaaa-0000-4000-8000-000000000003", "activity_type": "FILL",
             "qty": "1", "price": "5", "side": "buy", "transaction_time": "2022-02-03T15:00:00Z"},
            {"id": "20220203000000002::aaaaaaaa-0000-4000-8000-000000000002", "activity_type": "FILL",
             "qty": "lots", "price": "5", "side": "buy", "transaction_time": "2022-02-03T15:00:00Z"},
            {"id": "20220203000000001::aaaaaaaa-0000-4000-8000-000000000001", "activity_type": "FEE",
             "date": "2022-02-02"},
            {"id": "20220203000000000::aaaaaaaa-0000-4000-8000-000000000000", "activity_type": "INT",
             "date": "2022-02-02", "net_amount": "0.42"}
        ]),
    )
    .await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    let kept: Vec<&str> = page
        .transactions
        .iter()
        .map(|transaction| transaction.provider_transaction_id.as_str())
        .collect();
    assert_eq!(
        kept,
        [
            "20220203000000003::aaaaaaaa-0000-4000-8000-000000000003",
            "20220203000000000::aaaaaaaa-0000-4000-8000-000000000000"
        ]
    );
    assert_eq!(page.left_out.len(), 2);
    let unreadable = &page.left_out[0];
    assert_eq!(
        unreadable.provider_id.as_deref(),
        Some("20220203000000002::aaaaaaaa-0000-4000-8000-000000000002")
    );
    assert_eq!(unreadable.field, "activities[1].qty");
    assert_eq!(unreadable.item, "activity");
    let no_amount = &page.left_out[1];
    assert_eq!(no_amount.field, "activities[2].net_amount");
    assert!(no_amount.reason.contains("missing"), "{no_amount}");
}

#[tokio::test]
async fn an_activity_of_another_account_is_left_out_not_stored_under_this_one() {
    let other = Uuid::new_v4().to_string();
    let server = MockServer::start().await;
    serve(
        &server,
        json!([
            {"id": "20220203000000001::bbbbbbbb-0000-4000-8000-000000000001", "account_id": other,
             "activity_type": "CSD", "date": "2022-02-02", "net_amount": "1000000"},
            {"id": "20220203000000000::bbbbbbbb-0000-4000-8000-000000000000", "account_id": SPEC_ACCOUNT,
             "activity_type": "CSD", "date": "2022-02-02", "net_amount": "10"}
        ]),
    )
    .await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    assert_eq!(page.transactions.len(), 1);
    assert_eq!(page.transactions[0].amount.get(), dec("10"));
    assert_eq!(page.left_out.len(), 1);
    assert_eq!(page.left_out[0].field, "activities[0].account_id");
    assert!(!page.left_out[0].to_string().contains(&other));
}

#[tokio::test]
async fn the_range_is_asked_newest_first_a_day_wider_each_side_and_a_full_page_names_the_next() {
    let server = MockServer::start().await;
    let full: Vec<Value> = (0..100)
        .rev()
        .map(|n| {
            json!({"id": format!("2022020310{n:07}::cccccccc-0000-4000-8000-{n:012}"),
                   "activity_type": "INT", "date": "2022-02-02", "net_amount": "0.01"})
        })
        .collect();
    let last = full[99]["id"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path(ACTIVITIES))
        .and(query_param("account_id", SPEC_ACCOUNT))
        .and(query_param("after", "2022-01-31"))
        .and(query_param("until", "2022-02-05"))
        .and(query_param("direction", "desc"))
        .and(query_param("page_size", "100"))
        .and(query_param("page_token", last.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ACTIVITIES))
        .and(query_param("account_id", SPEC_ACCOUNT))
        .and(query_param("after", "2022-01-31"))
        .and(query_param("until", "2022-02-05"))
        .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(full)))
        .expect(1)
        .mount(&server)
        .await;
    let alpaca = client(&server);
    let asked = account(SPEC_ACCOUNT);
    let read = |page| {
        BrokerageAccounts::account_transactions(
            &alpaca,
            &(),
            &asked,
            day("2022-02-01"),
            day("2022-02-03"),
            page,
        )
    };

    let first = read(None).await.unwrap();
    assert_eq!(first.transactions.len(), 100);
    let next = first.next.clone().expect("a full page names the next");
    let second = read(Some(next)).await.unwrap();

    assert!(second.transactions.is_empty());
    assert_eq!(second.next, None);
}

fn sandbox_client(sandbox: &Sandbox, secret: &str) -> AlpacaClient {
    let config = AlpacaConfig::new(
        sandbox.alpaca().key_id(),
        SecretString::from(secret),
        AlpacaEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(&sandbox.alpaca_base_url()).unwrap());
    AlpacaClient::new(config).unwrap()
}

/// Every page of `account`'s last two years, in order.
async fn every_page(alpaca: &AlpacaClient, account: &ProviderAccountId) -> Vec<TransactionPage> {
    let to = Utc::now().date_naive();
    let from = to - Duration::days(740);
    let mut pages = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    loop {
        let page = alpaca
            .account_transactions(&(), account, from, to, cursor.take())
            .await
            .unwrap();
        cursor = page.next.clone();
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
    }
}

#[tokio::test]
async fn paging_an_account_to_the_end_reads_every_activity_once_newest_first() {
    let sandbox = Sandbox::start().await;
    let id = sandbox.alpaca().default_account_id();
    let alpaca = sandbox_client(&sandbox, sandbox.alpaca().secret());

    let pages = every_page(&alpaca, &account(&id.to_string())).await;

    assert_eq!(pages.len(), DEFAULT_ACTIVITIES.div_ceil(100));
    let read: Vec<&Transaction> = pages.iter().flat_map(|page| &page.transactions).collect();
    assert!(pages.iter().all(|page| page.left_out.is_empty()));
    let served: Vec<String> = sandbox
        .alpaca()
        .activities(id)
        .iter()
        .map(|activity| activity["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(served.len(), DEFAULT_ACTIVITIES);
    let ids: Vec<&str> = read
        .iter()
        .map(|transaction| transaction.provider_transaction_id.as_str())
        .collect();
    assert_eq!(ids, served);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), DEFAULT_ACTIVITIES);
    // Signs as stored, whatever the kind.
    let mut kinds = HashSet::new();
    for transaction in &read {
        let amount = transaction.amount.get();
        let units = transaction.quantity.unwrap_or_default();
        match &transaction.transaction_type {
            TransactionType::Buy => assert!(units.is_sign_positive() && amount.is_sign_negative()),
            TransactionType::Sell => assert!(units.is_sign_negative() && amount.is_sign_positive()),
            TransactionType::Deposit | TransactionType::Dividend | TransactionType::Interest => {
                assert!(amount.is_sign_positive() && !amount.is_zero());
            }
            TransactionType::Withdrawal | TransactionType::Fee => {
                assert!(amount.is_sign_negative());
            }
            TransactionType::Split => assert!(units > rust_decimal::Decimal::ZERO),
            _ => {}
        }
        kinds.insert(transaction.transaction_type.clone());
    }
    for kind in [
        TransactionType::Buy,
        TransactionType::Sell,
        TransactionType::Dividend,
        TransactionType::Interest,
        TransactionType::Fee,
        TransactionType::Deposit,
        TransactionType::Withdrawal,
        TransactionType::Transfer,
        TransactionType::Split,
        TransactionType::Cancel,
    ] {
        assert!(kinds.contains(&kind), "{kind} is in the history");
    }
    let span = read.first().unwrap().trade_date - read.last().unwrap().trade_date;
    assert!(span.num_days() > 700, "two years of history: {span}");
}

#[tokio::test]
async fn a_rate_limited_page_is_read_after_the_wait() {
    let sandbox = Sandbox::start().await;
    let id = sandbox.alpaca().default_account_id();
    let alpaca = sandbox_client(&sandbox, sandbox.alpaca().secret());
    sandbox.alpaca().knobs().rate_limit_next(1, 0);

    let page = alpaca
        .account_transactions(
            &(),
            &account(&id.to_string()),
            Utc::now().date_naive() - Duration::days(740),
            Utc::now().date_naive(),
            None,
        )
        .await
        .unwrap();

    assert_eq!(page.transactions.len(), 100);
    assert_eq!(sandbox.alpaca().log().count("GET", ACTIVITIES), 2);
}

#[tokio::test]
async fn every_request_names_the_account_so_no_other_accounts_activities_are_asked_for() {
    let sandbox = Sandbox::start().await;
    let id = sandbox.alpaca().default_account_id();
    sandbox.alpaca().seed_account(SeedAccount::default());
    let alpaca = sandbox_client(&sandbox, sandbox.alpaca().secret());

    every_page(&alpaca, &account(&id.to_string())).await;

    let requests: Vec<_> = sandbox
        .alpaca()
        .log()
        .all()
        .into_iter()
        .filter(|request| request.path == ACTIVITIES)
        .collect();
    assert_eq!(requests.len(), DEFAULT_ACTIVITIES.div_ceil(100));
    for request in requests {
        let query = request.query.unwrap_or_default();
        assert!(query.contains(&format!("account_id={id}")), "{query}");
    }
}

#[tokio::test]
async fn one_accounts_cursor_does_not_page_another_account() {
    let sandbox = Sandbox::start().await;
    let mine = sandbox.alpaca().default_account_id();
    let theirs = sandbox.alpaca().seed_account(SeedAccount::default());
    let alpaca = sandbox_client(&sandbox, sandbox.alpaca().secret());
    let to = Utc::now().date_naive();
    let from = to - Duration::days(740);
    let first = alpaca
        .account_transactions(&(), &account(&mine.to_string()), from, to, None)
        .await
        .unwrap();

    let crossed = alpaca
        .account_transactions(&(), &account(&theirs.to_string()), from, to, first.next)
        .await;

    assert!(
        matches!(crossed, Err(ProviderError::Rejected(_))),
        "{crossed:?}"
    );
}

#[tokio::test]
async fn a_key_pair_that_is_not_the_correspondents_reads_no_activities() {
    let sandbox = Sandbox::start().await;
    let id = sandbox.alpaca().default_account_id();
    let intruder = sandbox_client(&sandbox, "not-the-secret");

    let read = intruder
        .account_transactions(
            &(),
            &account(&id.to_string()),
            day("2020-01-01"),
            Utc::now().date_naive(),
            None,
        )
        .await;

    assert!(
        matches!(read, Err(ProviderError::Unauthorized(_))),
        "{read:?}"
    );
}

#[tokio::test]
async fn an_account_the_correspondent_does_not_hold_is_not_found() {
    let sandbox = Sandbox::start().await;
    let alpaca = sandbox_client(&sandbox, sandbox.alpaca().secret());

    let read = alpaca
        .account_transactions(
            &(),
            &account(&Uuid::new_v4().to_string()),
            day("2020-01-01"),
            Utc::now().date_naive(),
            None,
        )
        .await;

    assert!(matches!(read, Err(ProviderError::NotFound(_))), "{read:?}");
}

#[tokio::test]
async fn an_option_trade_keeps_alpacas_cash_and_without_it_is_left_out_never_worked_out() {
    let server = MockServer::start().await;
    serve(
        &server,
        json!([
            {"id": "20241210111553694::dddddddd-0000-4000-8000-000000000001", "activity_type": "OPTRD",
             "symbol": "AAPL241213C00250000", "side": "buy", "qty": "3", "price": "0.43",
             "net_amount": "-129", "date": "2024-12-10"},
            {"id": "20241210111553694::dddddddd-0000-4000-8000-000000000000", "activity_type": "OPTRD",
             "symbol": "AAPL241213C00260000", "side": "sell", "qty": "1", "price": "0.01",
             "date": "2024-12-10"}
        ]),
    )
    .await;

    let page = one_page(&server, SPEC_ACCOUNT).await;

    assert_eq!(page.transactions.len(), 1);
    let bought = &page.transactions[0];
    assert_eq!(bought.transaction_type, TransactionType::Buy);
    assert_eq!(bought.subtype.as_ref().unwrap().as_str(), "OPTRD");
    assert_eq!(bought.quantity, Some(dec("3")));
    // Three contracts at 0.43 cost 129 (the multiplier of 100), not 1.29.
    assert_eq!(bought.amount.get(), dec("-129"));
    assert_eq!(bought.trade_date, day("2024-12-10"));
    assert_eq!(page.left_out.len(), 1);
    assert_eq!(page.left_out[0].field, "activities[1].net_amount");
}
