//! SnapTrade's account activities as stored transactions: every activity type and option type the specs list
//! (read from snaptrade-openapi.yaml and the legacy spec at test time), the spec's example activity signed as
//! stored, the signs the spec leaves open, a page of misshapen items as a buggy SnapTrade would send, paging
//! without a total, and the sandbox's default history.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary_domain::{ProviderAccountId, SnapTradeUserId, SnapTradeUserSecret, TransactionType};
use tributary_sandbox::{Sandbox, SeedConnection};
use tributary_spec::Spec;
use url::Url;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::client::spec::example_of;
use crate::capability::{Aggregation, TransactionPage};
use crate::snaptrade::convert::{activity_amount, activity_quantity};
use crate::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use crate::tests::support::transactions::{
    assert_a_history, assert_every_listed_value_decided, every_page, kept_and_left_out,
};
use crate::tests::support::{dec, fixture_text};

const SPEC: &str = "snaptrade-openapi.yaml";
const LEGACY_SPEC: &str = "snaptrade-openapi-legacy-2026-08-07.yaml";
const ACCOUNT: &str = "917c8734-8470-4a3e-a18f-57c3f2ee6631";
const ACTIVITIES: &str = "/accounts/{accountId}/activities";

/// The types with a shared meaning, and which.
fn shared_types() -> Vec<(&'static str, TransactionType)> {
    vec![
        ("BUY", TransactionType::Buy),
        ("SELL", TransactionType::Sell),
        ("DIVIDEND", TransactionType::Dividend),
        ("CONTRIBUTION", TransactionType::Deposit),
        ("WITHDRAWAL", TransactionType::Withdrawal),
        ("REI", TransactionType::Reinvestment),
        ("INTEREST", TransactionType::Interest),
        ("FEE", TransactionType::Fee),
        ("TAX", TransactionType::Tax),
        ("OPTIONEXPIRATION", TransactionType::OptionExpiration),
        ("OPTIONASSIGNMENT", TransactionType::OptionAssignment),
        ("OPTIONEXERCISE", TransactionType::OptionExercise),
        ("TRANSFER", TransactionType::Transfer),
        ("SPLIT", TransactionType::Split),
        ("ADJUSTMENT", TransactionType::Adjustment),
    ]
}

/// The types kept as SnapTrade spells them: finer than any shared kind.
const SNAPTRADES_OWN: [&str; 4] = [
    "SUBSTITUTE_DIVIDEND",
    "STOCK_DIVIDEND",
    "EXTERNAL_ASSET_TRANSFER_IN",
    "EXTERNAL_ASSET_TRANSFER_OUT",
];

/// The values a description lists as "- `BUY` - Asset bought." lines (or "- BUY_TO_OPEN").
fn listed_values(description: &str) -> Vec<String> {
    description
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter_map(|item| {
            let item = item.trim();
            let value = match item.strip_prefix('`') {
                Some(rest) => rest.split('`').next()?,
                None => item.split_whitespace().next()?,
            };
            let shaped = !value.is_empty()
                && value
                    .bytes()
                    .all(|byte| byte.is_ascii_uppercase() || byte == b'_');
            shaped.then(|| value.to_owned())
        })
        .collect()
}

/// Every activity type both specs list: `AccountUniversalActivity.type`, `UniversalActivity.type`, and the
/// `type` filter of `/accounts/{accountId}/activities`.
fn every_listed_type() -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    for file in [SPEC, LEGACY_SPEC] {
        let spec = Spec::load(file);
        for schema in ["AccountUniversalActivity", "UniversalActivity"] {
            let description = spec.schema(schema)["properties"]["type"]["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{file} {schema}.type is described"));
            types.extend(listed_values(description));
        }
        let parameters = spec.operation("get", ACTIVITIES)["parameters"]
            .as_array()
            .unwrap()
            .clone();
        let filter = parameters
            .iter()
            .map(|parameter| spec.resolve(parameter))
            .find(|parameter| parameter["name"] == "type")
            .unwrap_or_else(|| panic!("{file} {ACTIVITIES} has a type filter"));
        types.extend(listed_values(filter["description"].as_str().unwrap()));
    }
    types
}

fn client(base_url: &str) -> SnapTradeClient {
    let config = SnapTradeConfig::new("TRIBUTARY-TEST", SecretString::from("consumer-key"))
        .unwrap()
        .with_base_url(Url::parse(base_url).unwrap());
    SnapTradeClient::new(config)
        .unwrap()
        .with_retries(3, Duration::from_millis(1))
}

fn credentials(user_id: &str, secret: &str) -> UserCredentials {
    UserCredentials::new(
        SnapTradeUserId::parse(user_id).unwrap(),
        SnapTradeUserSecret::new(SecretString::from(secret)).unwrap(),
    )
}

/// A server with one account (the accounts fixture's, `ACCOUNT`), answering its activities with `pages` in turn by offset.
async fn serving(pages: Vec<(u64, Value)>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/accounts"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture_text("snaptrade", "accounts"), "application/json"),
        )
        .mount(&server)
        .await;
    for (offset, body) in pages {
        Mock::given(method("GET"))
            .and(path(format!("/accounts/{ACCOUNT}/activities")))
            .and(query_param("offset", offset.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    server
}

fn any_date() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
    )
}

/// `activities` as one page (total exact), read through the client.
async fn read_page(activities: Vec<Value>) -> TransactionPage {
    let total = activities.len();
    let body =
        json!({"data": activities, "pagination": {"offset": 0, "limit": 1000, "total": total}});
    let server = serving(vec![(0, body)]).await;
    let (from, to) = any_date();
    client(&server.uri())
        .transactions(&credentials("user-1", "secret"), from, to, None)
        .await
        .unwrap()
}

/// snaptrade-openapi.yaml's `AccountUniversalActivity`, every property its example (`BUY` of `units: 5.2` at
/// `price: 0.4`, `amount: 263.82`, `fee: 0`, in `USD`, traded `2024-03-22T16:27:55Z`).
fn spec_example() -> Value {
    example_of(&Spec::load(SPEC), "AccountUniversalActivity")
}

#[test]
fn every_activity_type_the_specs_list_is_decided_as_shared_or_snaptrades_own() {
    let listed = every_listed_type();
    let decided: BTreeSet<String> = shared_types()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .chain(SNAPTRADES_OWN.iter().map(|name| (*name).to_owned()))
        .collect();
    assert!(listed.len() >= 19, "{listed:?}");
    assert_every_listed_value_decided(&listed, &decided, "types");
}

#[tokio::test]
async fn every_activity_type_and_option_type_the_specs_list_reads_through_the_client() {
    let spec = Spec::load(SPEC);
    let option_types = listed_values(
        spec.schema("AccountUniversalActivity")["properties"]["option_type"]["description"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        option_types,
        [
            "BUY_TO_OPEN",
            "BUY_TO_CLOSE",
            "SELL_TO_OPEN",
            "SELL_TO_CLOSE"
        ]
    );
    let mut sent = Vec::new();
    for kind in every_listed_type() {
        for option_type in &option_types {
            let mut activity = spec_example();
            activity["id"] = json!(format!("{kind}-{option_type}"));
            activity["type"] = json!(kind);
            activity["option_type"] = json!(option_type);
            sent.push(activity);
        }
    }

    let page = read_page(sent.clone()).await;

    assert_eq!(page.left_out, [], "no listed value is an error");
    assert_eq!(page.transactions.len(), sent.len());
    for transaction in &page.transactions {
        let kind = transaction.raw.as_map()["type"].as_str().unwrap();
        let expected = shared_types()
            .into_iter()
            .find(|(name, _)| *name == kind)
            .map_or_else(
                || TransactionType::Other(kind.to_owned()),
                |(_, shared)| shared,
            );
        assert_eq!(transaction.transaction_type, expected, "{kind}");
        assert_eq!(
            transaction.subtype.as_ref().map(|s| s.as_str()),
            transaction.raw.as_map()["option_type"].as_str(),
            "the option type is stored as SnapTrade spells it"
        );
    }
}

#[tokio::test]
async fn the_specs_example_activity_is_read_verbatim_and_signed_as_stored() {
    let example = spec_example();
    let page = read_page(vec![example.clone()]).await;

    assert_eq!(page.left_out, []);
    let [buy] = page.transactions.as_slice() else {
        panic!("one transaction: {page:?}")
    };
    assert_eq!(buy.provider_transaction_id.as_str(), example["id"]);
    assert_eq!(buy.transaction_type, TransactionType::Buy);
    assert_eq!(buy.quantity, Some(dec("5.2")), "units into the account");
    assert_eq!(
        buy.amount.get(),
        dec("-263.82"),
        "a purchase is cash out, though the example's amount is positive"
    );
    assert_eq!(buy.price, Some(dec("0.4")));
    assert_eq!(buy.fees.map(|fees| fees.get()), Some(Decimal::ZERO));
    assert_eq!(buy.currency.as_str(), "USD");
    assert_eq!(
        buy.trade_date,
        NaiveDate::from_ymd_opt(2024, 3, 22).unwrap()
    );
    assert_eq!(buy.settlement_date, NaiveDate::from_ymd_opt(2024, 3, 26));
    assert_eq!(
        buy.subtype.as_ref().map(|s| s.as_str()),
        Some("BUY_TO_OPEN")
    );
    // The example is an option trade (`option_type: BUY_TO_OPEN`, `option_symbol` given): it is about the
    // contract, named by its ticker and id.
    assert_eq!(
        buy.symbol.as_ref().map(|s| s.as_str()),
        example["option_symbol"]["ticker"].as_str()
    );
    assert_eq!(
        buy.security_id.as_ref().map(|s| s.as_str()),
        example["option_symbol"]["id"].as_str()
    );
    let mut stock = example.clone();
    stock["option_symbol"] = Value::Null;
    stock["option_type"] = json!("");
    let page = read_page(vec![stock]).await;
    let stock = &page.transactions[0];
    assert_eq!(stock.symbol.as_ref().map(|s| s.as_str()), Some("VAB.TO"));
    assert_eq!(
        stock.security_id.as_ref().map(|s| s.as_str()),
        example["symbol"]["id"].as_str()
    );
    assert_eq!(stock.subtype, None);
    assert_eq!(
        serde_json::Value::from(buy.raw.clone()),
        example,
        "the record is the activity as received"
    );

    let mut sale = example.clone();
    sale["type"] = json!("SELL");
    let page = read_page(vec![sale]).await;
    let sale = &page.transactions[0];
    assert_eq!(sale.quantity, Some(dec("-5.2")), "units out");
    assert_eq!(sale.amount.get(), dec("263.82"), "cash in");
}

/// Every activity schema of both specs, each property its example (`UniversalActivity` adds the `account`),
/// reads as the same option purchase, signed as stored.
#[tokio::test]
async fn every_activity_schemas_example_in_both_specs_reads_signed_as_stored() {
    for file in [SPEC, LEGACY_SPEC] {
        let spec = Spec::load(file);
        for schema in ["AccountUniversalActivity", "UniversalActivity"] {
            let example = example_of(&spec, schema);
            let page = read_page(vec![example.clone()]).await;
            assert_eq!(page.left_out, [], "{file} {schema}");
            let [buy] = page.transactions.as_slice() else {
                panic!("{file} {schema}: one transaction")
            };
            assert_eq!(
                buy.transaction_type,
                TransactionType::Buy,
                "{file} {schema}"
            );
            assert!(
                buy.quantity.unwrap() > Decimal::ZERO && buy.amount.get() < Decimal::ZERO,
                "{file} {schema}: units in for cash out"
            );
            assert_eq!(
                serde_json::Value::from(buy.raw.clone()),
                example,
                "{file} {schema}: verbatim"
            );
        }
    }
}

/// The signs `AccountUniversalActivity` leaves open, decided by kind whichever sign the brokerage sent.
#[test]
fn the_signs_the_spec_leaves_open_are_decided_by_kind_whatever_sign_was_sent() {
    let five = dec("5");
    for sent in [five, -five] {
        for kind in ["BUY", "REI", "STOCK_DIVIDEND", "EXTERNAL_ASSET_TRANSFER_IN"] {
            assert_eq!(
                activity_quantity(kind, Some(sent)),
                Some(five),
                "{kind} {sent}"
            );
        }
        for kind in ["SELL", "EXTERNAL_ASSET_TRANSFER_OUT"] {
            assert_eq!(
                activity_quantity(kind, Some(sent)),
                Some(-five),
                "{kind} {sent}"
            );
        }
        for kind in [
            "DIVIDEND",
            "SUBSTITUTE_DIVIDEND",
            "INTEREST",
            "FEE",
            "TAX",
            "CONTRIBUTION",
            "WITHDRAWAL",
        ] {
            assert_eq!(activity_quantity(kind, Some(sent)), None, "{kind} {sent}");
        }
        for kind in [
            "TRANSFER",
            "SPLIT",
            "ADJUSTMENT",
            "OPTIONEXPIRATION",
            "SOMETHING_NEW",
        ] {
            assert_eq!(
                activity_quantity(kind, Some(sent)),
                Some(sent),
                "{kind} {sent}"
            );
        }
        assert_eq!(activity_amount("BUY", Some(sent), None, None), Some(-five));
        assert_eq!(activity_amount("SELL", Some(sent), None, None), Some(five));
        for kind in ["DIVIDEND", "WITHDRAWAL", "FEE", "TRANSFER"] {
            assert_eq!(
                activity_amount(kind, Some(sent), None, None),
                Some(sent),
                "{kind}: the spec's sign, as sent"
            );
        }
    }
    assert_eq!(activity_quantity("BUY", Some(Decimal::ZERO)), None);
    // Without an amount: a trade's is units × price, cash out for units in; a split's is no cash; a dividend
    // without one says nothing.
    let (units, price) = (Some(dec("2")), Some(dec("10.5")));
    assert_eq!(
        activity_amount("BUY", None, units, price),
        Some(dec("-21.0"))
    );
    assert_eq!(
        activity_amount("SELL", None, Some(dec("-2")), price),
        Some(dec("21.0"))
    );
    assert_eq!(
        activity_amount("REI", None, units, price),
        Some(dec("-21.0"))
    );
    assert_eq!(
        activity_amount("SPLIT", None, units, None),
        Some(Decimal::ZERO)
    );
    assert_eq!(activity_amount("SPLIT", None, None, None), None);
    assert_eq!(activity_amount("DIVIDEND", None, None, price), None);
}

/// A buggy SnapTrade: one page holding, besides a good activity, one of every way an item can fail to be
/// represented. Each is left out naming its field, with SnapTrade's id where it has one; the good one is kept.
#[tokio::test]
async fn a_page_with_one_misshapen_item_of_each_kind_keeps_the_rest_and_says_why_of_each() {
    let good = spec_example();
    let with = |id: &str, change: &dyn Fn(&mut Value)| {
        let mut activity = good.clone();
        activity["id"] = json!(id);
        change(&mut activity);
        activity
    };
    let too_long = "x".repeat(tributary_domain::MAX_TEXT_BYTES + 1);
    let sent = vec![
        good.clone(),
        // `currency`: "This is `null` when those values are denominated in `currency_universal_symbol`".
        with("in-a-security", &|a| a["currency"] = Value::Null),
        with("no-currency-at-all", &|a| {
            a["currency"] = Value::Null;
            a["currency_universal_symbol"] = Value::Null;
        }),
        with("not-a-currency", &|a| {
            a["currency"]["code"] = json!("US Dollar")
        }),
        with(&too_long, &|_| {}),
        with("units-as-words", &|a| a["units"] = json!("lots")),
        with("no-trade-date", &|a| a["trade_date"] = Value::Null),
        with("amount-past-the-column", &|a| a["amount"] = json!(1e19)),
        with("dividend-without-amount", &|a| {
            a["type"] = json!("DIVIDEND");
            a["amount"] = Value::Null;
        }),
        with("blank-type", &|a| a["type"] = json!("")),
        with("nul-in-description", &|a| {
            a["description"] = json!("BUY\u{0}")
        }),
        with("", &|a| {
            a.as_object_mut().unwrap().remove("id");
        }),
    ];

    let page = read_page(sent).await;

    let (kept, left_out) = kept_and_left_out(&page, "activity");
    assert_eq!(kept.len(), 1, "the good one is kept, alone: {kept:?}");
    let at = |index: usize, field: &str| format!("activities[{index}].{field}");
    assert_eq!(
        left_out,
        [
            ("in-a-security".to_owned(), at(1, "currency")),
            ("no-currency-at-all".to_owned(), at(2, "currency")),
            ("not-a-currency".to_owned(), at(3, "currency.code")),
            (too_long.clone(), at(4, "id")),
            ("units-as-words".to_owned(), at(5, "*")),
            ("no-trade-date".to_owned(), at(6, "trade_date")),
            ("amount-past-the-column".to_owned(), at(7, "amount")),
            ("dividend-without-amount".to_owned(), at(8, "amount")),
            ("blank-type".to_owned(), at(9, "type")),
            ("nul-in-description".to_owned(), at(10, "*")),
            (String::new(), at(11, "id")),
        ]
    );
    assert!(
        page.left_out[0]
            .reason
            .contains("currency_universal_symbol"),
        "{}",
        page.left_out[0]
    );
}

/// `pagination` and its `total` are optional in `PaginatedUniversalActivity`: without a total, a full page
/// (1000, "a maximum of 1000 transactions per request") is followed by the next; a short one ends the account.
#[tokio::test]
async fn a_page_without_a_total_is_followed_while_it_is_full() {
    let activity = |index: usize| {
        let mut activity = spec_example();
        activity["id"] = json!(format!("activity-{index}"));
        activity
    };
    let full: Vec<Value> = (0..1_000).map(activity).collect();
    let short: Vec<Value> = (1_000..1_003).map(activity).collect();
    let server = serving(vec![
        (0, json!({"data": full})),
        (1_000, json!({"data": short, "pagination": null})),
    ])
    .await;
    let snaptrade = client(&server.uri());
    let user = credentials("user-1", "secret");
    let (from, to) = any_date();

    let first = snaptrade.transactions(&user, from, to, None).await.unwrap();
    assert_eq!(first.transactions.len(), 1_000);
    let second = snaptrade
        .transactions(&user, from, to, first.next)
        .await
        .unwrap();
    assert_eq!(second.transactions.len(), 3);
    assert_eq!(second.next, None, "a short page is the account's last");
}

/// The sandbox's default account (what `SeedConnection::default()` and the connection portal make): 1,200
/// activities over the last two years, paged in two (at most 1000 a request), newest first, dates inside the
/// window (inclusive), `pagination.total` exact for any window, each kind signed as stored.
#[tokio::test]
async fn the_default_accounts_two_years_of_activities_page_in_two_dated_and_signed_as_stored() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("history-user");
    let seeded = server.seed_connection(&user.user_id, SeedConnection::default());
    let snaptrade = SnapTradeClient::new(
        SnapTradeConfig::new(
            server.client_id(),
            SecretString::from(server.consumer_key()),
        )
        .unwrap()
        .with_base_url(Url::parse(&sandbox.snaptrade_base_url()).unwrap()),
    )
    .unwrap();
    let user = credentials(&user.user_id, &user.user_secret);
    let today = Utc::now().date_naive();
    let (from, to) = (today - Days::days(730), today);

    let (pages, all) = every_page(|cursor| snaptrade.transactions(&user, from, to, cursor)).await;
    assert_eq!(seeded.account_ids.len(), 1);
    assert_eq!((pages, all.len()), (2, 1_200));
    assert_a_history(
        &all,
        (from, to),
        today - Days::days(600),
        &[
            "buy",
            "sell",
            "dividend",
            "reinvestment",
            "interest",
            "deposit",
            "withdrawal",
            "fee",
            "tax",
            "split",
        ],
    );
    for transaction in &all {
        let amount = transaction.amount.get();
        let quantity = transaction.quantity;
        let id = transaction.provider_transaction_id.as_str();
        match transaction.transaction_type {
            TransactionType::Buy | TransactionType::Reinvestment => {
                assert!(
                    quantity.unwrap() > Decimal::ZERO && amount < Decimal::ZERO,
                    "{id}"
                );
            }
            TransactionType::Sell => {
                assert!(
                    quantity.unwrap() < Decimal::ZERO && amount > Decimal::ZERO,
                    "{id}"
                );
            }
            TransactionType::Dividend | TransactionType::Interest | TransactionType::Deposit => {
                assert!(quantity.is_none() && amount > Decimal::ZERO, "{id}");
            }
            TransactionType::Withdrawal | TransactionType::Fee | TransactionType::Tax => {
                assert!(quantity.is_none() && amount < Decimal::ZERO, "{id}");
            }
            TransactionType::Split => {
                assert!(
                    quantity.unwrap() > Decimal::ZERO && amount.is_zero(),
                    "{id}"
                );
            }
            ref other => panic!("{id}: the sandbox generates no {other}"),
        }
        if let Some(fees) = transaction.fees {
            assert!(!fees.get().is_sign_negative(), "{id}: fees are a cost");
        }
    }

    // Any window's total is exact and inclusive at both ends.
    let (start, end) = (all[700].trade_date, all[300].trade_date);
    let account = ProviderAccountId::parse(&seeded.account_ids[0].to_string()).unwrap();
    let window = snaptrade
        .account_activities(&user, &account, start, end, 0, 1_000)
        .await
        .unwrap();
    let inside = all
        .iter()
        .filter(|t| (start..=end).contains(&t.trade_date))
        .count();
    assert_eq!(window.pagination.and_then(|p| p.total), Some(inside as u64));
    assert_eq!(window.data.len(), inside);
}
