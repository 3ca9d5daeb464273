//! Plaid's investment transactions as stored transactions: every type and subtype plaid-openapi.yml lists
//! (read from the spec file at test time), the spec's own examples signed as stored, a page of misshapen items
//! as a buggy Plaid would send, and the sandbox's default history.

use std::collections::BTreeSet;

use chrono::{Duration as Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary_domain::TransactionType;
use tributary_sandbox::{Sandbox, SeedItem};
use tributary_spec::Spec;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::capability::{Aggregation, Transaction, TransactionPage};
use crate::plaid::convert::transaction_type;
use crate::plaid::{AccessToken, PlaidClient, PlaidConfig, PlaidEnvironment};
use crate::tests::support::fixture;
use crate::tests::support::transactions::{
    assert_a_history, assert_every_listed_value_decided, every_page, exact, kept_and_left_out,
};

const SPEC: &str = "plaid-openapi.yml";
const TRANSACTIONS: &str = "/investments/transactions/get";

/// The subtypes that name a shared kind, and which (see `convert::transaction_type`).
fn shared_subtypes() -> Vec<(&'static str, TransactionType)> {
    vec![
        ("dividend", TransactionType::Dividend),
        ("qualified dividend", TransactionType::Dividend),
        ("non-qualified dividend", TransactionType::Dividend),
        ("interest", TransactionType::Interest),
        ("interest receivable", TransactionType::Interest),
        ("deposit", TransactionType::Deposit),
        ("contribution", TransactionType::Deposit),
        ("withdrawal", TransactionType::Withdrawal),
        ("tax", TransactionType::Tax),
        ("tax withheld", TransactionType::Tax),
        ("non-resident tax", TransactionType::Tax),
        ("account fee", TransactionType::Fee),
        ("legal fee", TransactionType::Fee),
        ("management fee", TransactionType::Fee),
        ("margin expense", TransactionType::Fee),
        ("transfer fee", TransactionType::Fee),
        ("trust fee", TransactionType::Fee),
        ("fund fee", TransactionType::Fee),
        ("miscellaneous fee", TransactionType::Fee),
        ("adjustment", TransactionType::Adjustment),
        ("exercise", TransactionType::OptionExercise),
        ("assignment", TransactionType::OptionAssignment),
        ("expire", TransactionType::OptionExpiration),
        ("split", TransactionType::Split),
        ("merger", TransactionType::Merger),
        ("spin off", TransactionType::SpinOff),
        ("dividend reinvestment", TransactionType::Reinvestment),
    ]
}

/// The subtypes with no shared meaning: the coarse type stays, the subtype is stored as Plaid spells it.
const PLAIDS_OWN: [&str; 21] = [
    "buy",
    "buy to cover",
    "distribution",
    "interest reinvestment",
    "loan payment",
    "long-term capital gain",
    "long-term capital gain reinvestment",
    "pending credit",
    "pending debit",
    "rebalance",
    "request",
    "return of principal",
    "sell",
    "sell short",
    "send",
    "short-term capital gain",
    "short-term capital gain reinvestment",
    "stock distribution",
    "trade",
    "transfer",
    "unqualified gain",
];

fn enum_values(spec: &Spec, schema: &str) -> Vec<String> {
    spec.schema(schema)["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{SPEC} {schema} has an enum"))
        .iter()
        .map(|value| value.as_str().expect("a string value").to_owned())
        .collect()
}

/// What a Plaid type and subtype should be stored as: `buy`, `sell` and `cancel` as themselves, the coarse
/// types as their subtype's shared kind, or themselves.
fn expected_kind(kind: &str, subtype: &str) -> TransactionType {
    let coarse = TransactionType::parse(kind).unwrap();
    if matches!(
        coarse,
        TransactionType::Buy | TransactionType::Sell | TransactionType::Cancel
    ) {
        return coarse;
    }
    shared_subtypes()
        .into_iter()
        .find(|(name, _)| *name == subtype)
        .map_or(coarse, |(_, shared)| shared)
}

async fn serving(body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TRANSACTIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

fn client(base_url: &str) -> PlaidClient {
    client_of(base_url, "client-id", "secret")
}

fn client_of(base_url: &str, client_id: &str, secret: &str) -> PlaidClient {
    let config = PlaidConfig::new(
        client_id,
        SecretString::from(secret),
        PlaidEnvironment::Sandbox,
    )
    .with_base_url(Url::parse(base_url).unwrap());
    PlaidClient::new(config).unwrap()
}

fn token(text: &str) -> AccessToken {
    AccessToken::new(SecretString::from(text))
}

fn any_date() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
    )
}

/// One page of `transactions` (Plaid's example answer around them), read through the client.
async fn read_page(transactions: Vec<Value>) -> TransactionPage {
    let mut body = fixture("plaid", "investments_transactions_get");
    body["total_investment_transactions"] = json!(transactions.len());
    body["investment_transactions"] = Value::Array(transactions);
    let server = serving(body).await;
    let (from, to) = any_date();
    client(&server.uri())
        .transactions(&token("access-sandbox-token"), from, to, None)
        .await
        .unwrap()
}

/// The spec's example sale, as a template.
fn example_sale() -> Value {
    fixture("plaid", "investments_transactions_get")["investment_transactions"][1].clone()
}

#[test]
fn every_subtype_the_spec_lists_is_decided_as_shared_or_plaids_own_and_none_is_stale() {
    let spec = Spec::load(SPEC);
    let listed: BTreeSet<String> = enum_values(&spec, "InvestmentTransactionSubtype")
        .into_iter()
        .collect();
    let decided: BTreeSet<String> = shared_subtypes()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .chain(PLAIDS_OWN.iter().map(|name| (*name).to_owned()))
        .collect();
    assert_every_listed_value_decided(&listed, &decided, "subtypes");
}

#[tokio::test]
async fn every_type_with_every_subtype_the_spec_lists_reads_through_the_client_never_as_an_error() {
    let spec = Spec::load(SPEC);
    let kinds = enum_values(&spec, "InvestmentTransactionType");
    let subtypes = enum_values(&spec, "InvestmentTransactionSubtype");
    assert_eq!(
        kinds,
        ["buy", "sell", "cancel", "cash", "fee", "transfer"],
        "the spec's types"
    );
    let mut sent = Vec::new();
    for kind in &kinds {
        for subtype in &subtypes {
            let mut transaction = example_sale();
            transaction["investment_transaction_id"] = json!(format!("{kind}-{subtype}"));
            transaction["type"] = json!(kind);
            transaction["subtype"] = json!(subtype);
            sent.push(transaction);
        }
    }

    let page = read_page(sent).await;

    assert_eq!(page.left_out, [], "no spec value is an error");
    assert_eq!(page.transactions.len(), kinds.len() * subtypes.len());
    for transaction in &page.transactions {
        let kind = transaction.raw.as_map()["type"].as_str().unwrap();
        let subtype = transaction.raw.as_map()["subtype"].as_str().unwrap();
        assert_eq!(
            transaction.transaction_type,
            expected_kind(kind, subtype),
            "{kind}/{subtype}"
        );
        assert!(transaction.transaction_type.is_known(), "{kind}/{subtype}");
        assert_eq!(
            transaction.subtype.as_ref().map(|s| s.as_str()),
            Some(subtype),
            "the subtype is stored as Plaid spells it"
        );
    }
}

#[test]
fn an_unknown_type_keeps_plaids_word_unless_its_subtype_names_a_kind() {
    assert_eq!(
        transaction_type("reorganization", "pending credit").unwrap(),
        TransactionType::Other("reorganization".to_owned())
    );
    assert_eq!(
        transaction_type("reorganization", "merger").unwrap(),
        TransactionType::Merger
    );
    assert_eq!(
        transaction_type("fee", "dividend").unwrap(),
        TransactionType::Dividend,
        "Plaid files income under `fee` too (StandaloneInvestmentTransactionFeeType)"
    );
    assert!(transaction_type(" ", "dividend").is_err());
}

/// A JSON number's decimal text, exactly (`7.99`, or `3e-6` as a spec file may write it).
/// Checks one converted transaction against the JSON Plaid sent for it: Plaid's debit-positive `amount` is
/// negated, its `quantity` kept (zero is none), its `fees` kept positive when charged, and a buy's units come
/// in for cash out, a sale's the reverse.
fn assert_signed_as_stored(transaction: &Transaction) {
    let raw = transaction.raw.as_map();
    let number = |name: &str| exact(&raw[name]);
    let id = transaction.provider_transaction_id.as_str();
    assert_eq!(transaction.amount.get(), -number("amount"), "{id}");
    let quantity = number("quantity");
    assert_eq!(
        transaction.quantity,
        (!quantity.is_zero()).then_some(quantity),
        "{id}"
    );
    if let Some(fees) = raw.get("fees").filter(|fees| !fees.is_null()) {
        let fees = exact(fees);
        assert_eq!(transaction.fees.map(|fees| fees.get()), Some(fees), "{id}");
        assert!(!fees.is_sign_negative(), "{id}: fees are a cost");
    }
    match transaction.transaction_type {
        TransactionType::Buy => {
            assert!(transaction.quantity.unwrap() > Decimal::ZERO, "{id}");
            assert!(transaction.amount.get() < Decimal::ZERO, "{id}");
        }
        TransactionType::Sell => {
            assert!(transaction.quantity.unwrap() < Decimal::ZERO, "{id}");
            assert!(transaction.amount.get() > Decimal::ZERO, "{id}");
        }
        TransactionType::Dividend | TransactionType::Interest | TransactionType::Deposit => {
            assert!(transaction.amount.get() > Decimal::ZERO, "{id}");
        }
        TransactionType::Withdrawal | TransactionType::Fee | TransactionType::Tax => {
            assert!(transaction.amount.get() < Decimal::ZERO, "{id}");
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_example_answer_of_the_spec_is_signed_as_stored_verbatim() {
    let spec = Spec::load(SPEC);
    let examples: Vec<_> = spec
        .response_examples("post", TRANSACTIONS)
        .into_iter()
        .filter(|example| example.status.starts_with('2'))
        .collect();
    assert!(
        !examples.is_empty(),
        "{SPEC} gives {TRANSACTIONS} an example"
    );
    // `/processor/investments/transactions/get`'s examples carry `InvestmentTransaction`s too: served in the
    // same answer's shape, with their own transactions, securities and total.
    let processor: Vec<_> = spec
        .response_examples("post", "/processor/investments/transactions/get")
        .into_iter()
        .filter(|example| example.status.starts_with('2'))
        .map(|mut example| {
            let mut body = examples[0].value.clone();
            for field in [
                "investment_transactions",
                "securities",
                "total_investment_transactions",
            ] {
                body[field] = example.value[field].take();
            }
            example.value = body;
            example
        })
        .collect();
    assert!(
        !processor.is_empty(),
        "{SPEC} gives the processor's an example"
    );
    for example in examples.into_iter().chain(processor) {
        let sent = example.value["investment_transactions"]
            .as_array()
            .unwrap()
            .len();
        let server = serving(example.value.clone()).await;
        let (from, to) = any_date();
        let page = client(&server.uri())
            .transactions(&token("access-sandbox-token"), from, to, None)
            .await
            .unwrap();
        assert_eq!(page.left_out, [], "{}", example.name);
        assert_eq!(page.transactions.len(), sent, "{}", example.name);
        page.transactions.iter().for_each(assert_signed_as_stored);
    }
}

/// A buggy Plaid: one page holding, besides a good transaction, one of every way an item can fail to be
/// represented. Each is left out naming its field, with Plaid's id where it has one; the good one is kept, and
/// the cursor still moves past all of them.
#[tokio::test]
async fn a_page_with_one_misshapen_item_of_each_kind_keeps_the_rest_and_says_why_of_each() {
    let good = example_sale();
    let with = |id: &str, change: &dyn Fn(&mut Value)| {
        let mut transaction = good.clone();
        transaction["investment_transaction_id"] = json!(id);
        change(&mut transaction);
        transaction
    };
    let too_long = "x".repeat(tributary_domain::MAX_TEXT_BYTES + 1);
    let sent = vec![
        good.clone(),
        with("no-currency", &|t| {
            t["iso_currency_code"] = Value::Null;
            t["unofficial_currency_code"] = Value::Null;
        }),
        with("not-a-currency", &|t| {
            t["iso_currency_code"] = json!("US Dollar")
        }),
        with(&too_long, &|_| {}),
        with("amount-as-words", &|t| t["amount"] = json!("lots")),
        with("no-date", &|t| {
            t.as_object_mut().unwrap().remove("date");
        }),
        with("amount-past-the-column", &|t| t["amount"] = json!(1e19)),
        with("blank-type", &|t| t["type"] = json!(" ")),
        with("blank-account", &|t| t["account_id"] = json!("")),
        with("nul-in-name", &|t| t["name"] = json!("SELL\u{0}")),
    ];
    let mut body = fixture("plaid", "investments_transactions_get");
    body["total_investment_transactions"] = json!(sent.len() + 5);
    body["investment_transactions"] = Value::Array(sent);
    let server = serving(body).await;
    let (from, to) = any_date();

    let page = client(&server.uri())
        .transactions(&token("access-sandbox-token"), from, to, None)
        .await
        .unwrap();

    let (kept, left_out) = kept_and_left_out(&page, "transaction");
    assert_eq!(kept.len(), 1, "the good one is kept, alone: {kept:?}");
    let at = |index: usize, field: &str| format!("investment_transactions[{index}].{field}");
    assert_eq!(
        left_out,
        [
            ("no-currency".to_owned(), at(1, "iso_currency_code")),
            ("not-a-currency".to_owned(), at(2, "iso_currency_code")),
            (too_long.clone(), at(3, "investment_transaction_id")),
            ("amount-as-words".to_owned(), at(4, "*")),
            ("no-date".to_owned(), at(5, "*")),
            ("amount-past-the-column".to_owned(), at(6, "amount")),
            ("blank-type".to_owned(), at(7, "type")),
            ("blank-account".to_owned(), at(8, "account_id")),
            ("nul-in-name".to_owned(), at(9, "*")),
        ]
    );
    assert!(
        page.next.is_some(),
        "the cursor moves past the left-out ones to the five more Plaid says there are"
    );
}

/// The sandbox's default Item (what Link and `SeedItem::default()` make): two accounts of 600 transactions
/// each over the last two years, paged by `/investments/transactions/get` in three (`count` at most 500),
/// `total_investment_transactions` exact for any window, dates inside the window (inclusive) and newest first,
/// each kind signed as stored.
#[tokio::test]
async fn the_default_items_two_years_of_history_pages_in_three_dated_and_signed_as_stored() {
    let sandbox = Sandbox::start().await;
    let item = sandbox.plaid().seed_item(SeedItem::default());
    let plaid = client_of(
        &sandbox.plaid_base_url(),
        sandbox.plaid().client_id(),
        sandbox.plaid().secret(),
    );
    let token = token(&item.access_token);
    let today = Utc::now().date_naive();
    let (from, to) = (today - Days::days(730), today);

    let (pages, all) = every_page(|cursor| plaid.transactions(&token, from, to, cursor)).await;
    assert_eq!((pages, all.len()), (3, 1_200));
    assert_a_history(
        &all,
        (from, to),
        today - Days::days(600),
        &[
            "buy",
            "sell",
            "dividend",
            "interest",
            "deposit",
            "withdrawal",
            "fee",
            "tax",
            "split",
        ],
    );
    all.iter().for_each(assert_signed_as_stored);
    let split = all
        .iter()
        .find(|t| t.transaction_type == TransactionType::Split)
        .unwrap();
    assert!(split.quantity.unwrap() > Decimal::ZERO && split.amount.get().is_zero());
    assert!(
        all.iter()
            .filter(|t| t.transaction_type == TransactionType::Deposit)
            .any(|t| t.subtype.as_ref().map(|s| s.as_str()) == Some("contribution")),
        "the retirement account's deposits are contributions"
    );

    // Any window's total is exact and inclusive at both ends.
    let (start, end) = (all[700].trade_date, all[300].trade_date);
    let window = plaid
        .investment_transactions_page(&token, start, end, &[], 500, 0)
        .await
        .unwrap();
    let inside = all
        .iter()
        .filter(|t| (start..=end).contains(&t.trade_date))
        .count();
    assert_eq!(window.total_investment_transactions, inside as u64);
    assert_eq!(window.investment_transactions.len(), inside.min(500));
}
