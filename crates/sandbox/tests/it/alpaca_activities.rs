//! The Alpaca Broker sandbox's account activities (`GET /v1/accounts/activities`): the query as the spec defines
//! it, strict where it is silent, and a history generated on demand that pages to the end at any size.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use tributary_sandbox::alpaca::DEFAULT_ACTIVITIES;
use tributary_sandbox::{AlpacaSandbox, Sandbox, SeedAccount};
use tributary_spec::Spec;
use uuid::Uuid;

async fn get(server: &AlpacaSandbox, query: &[(&str, String)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/accounts/activities", server.base_url()))
        .basic_auth(server.key_id(), Some(server.secret()))
        .query(query)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

fn of(account: Uuid) -> (&'static str, String) {
    ("account_id", account.to_string())
}

fn ids(page: &Value) -> Vec<String> {
    page.as_array()
        .expect("a list")
        .iter()
        .map(|activity| activity["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// When an activity was created: a fill's `transaction_time`, another's `created_at`.
fn created(activity: &Value) -> DateTime<Utc> {
    let text = activity["transaction_time"]
        .as_str()
        .or(activity["created_at"].as_str())
        .expect("a creation time");
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .to_utc()
}

#[tokio::test]
async fn every_activity_of_the_default_history_is_what_the_spec_describes() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let spec = Spec::load("alpaca-broker-api.yaml");
    let history = server.activities(server.default_account_id());
    assert_eq!(history.len(), DEFAULT_ACTIVITIES);
    let kinds: Vec<&str> = spec.schema("ActivityType")["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for activity in &history {
        let kind = activity["activity_type"].as_str().unwrap();
        assert!(kinds.contains(&kind), "{activity}");
        assert_eq!(
            activity["account_id"],
            server.default_account_id().to_string()
        );
        let fields = if kind == "FILL" {
            "TradeActivity"
        } else {
            "NonTradeActivity"
        };
        let known = spec.schema(fields)["properties"].as_object().unwrap();
        for field in activity.as_object().unwrap().keys() {
            assert!(
                ["id", "account_id", "activity_type"].contains(&field.as_str())
                    || known.contains_key(field),
                "{field} is not a {fields} field: {activity}"
            );
        }
        // The id is the creation time in New York, `::`, a UUID.
        let (time, uuid) = activity["id"].as_str().unwrap().split_once("::").unwrap();
        assert_eq!(time.len(), 17, "{activity}");
        assert!(Uuid::parse_str(uuid).is_ok(), "{activity}");
    }
    let dates: HashSet<NaiveDate> = history
        .iter()
        .map(|activity| created(activity).date_naive())
        .collect();
    assert!(
        dates.len() > 400,
        "spread over two years of weekdays: {}",
        dates.len()
    );
}

#[tokio::test]
async fn pages_follow_the_page_token_newest_first_to_the_end() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let mut read = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![of(account), ("direction", "desc".to_owned())];
        if let Some(token) = &token {
            query.push(("page_token", token.clone()));
        }
        let (status, page) = get(server, &query).await;
        assert_eq!(status, 200, "{page}");
        let page = ids(&page);
        // "page_size … default: 100".
        assert!(page.len() <= 100);
        token = page.last().cloned();
        read.extend(page);
        if token.is_none() {
            break;
        }
    }
    let served = ids(&Value::Array(server.activities(account)));
    assert_eq!(read, served);
    let mut sorted = read.clone();
    sorted.sort_by(|left, right| right.cmp(left));
    assert_eq!(read, sorted, "newest first");

    // Ascending from the start: "results will begin with the activity immediately after the one specified".
    let oldest = served.last().unwrap().clone();
    let (_, after_oldest) = get(
        server,
        &[
            of(account),
            ("direction", "asc".to_owned()),
            ("page_size", "3".to_owned()),
            ("page_token", oldest),
        ],
    )
    .await;
    let expected: Vec<String> = served.iter().rev().skip(1).take(3).cloned().collect();
    assert_eq!(ids(&after_oldest), expected);
}

#[tokio::test]
async fn a_history_of_100000_activities_pages_to_the_end_every_activity_once() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.seed_account(SeedAccount::default().with_activities(100_000));
    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut previous: Option<String> = None;
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![of(account)];
        if let Some(token) = &token {
            query.push(("page_token", token.clone()));
        }
        let (status, page) = get(server, &query).await;
        assert_eq!(status, 200);
        let page = ids(&page);
        pages += 1;
        for id in &page {
            assert!(
                previous.as_ref().is_none_or(|previous| id < previous),
                "strictly newest first"
            );
            assert!(seen.insert(id.clone()), "{id} read twice");
            previous = Some(id.clone());
        }
        if page.len() < 100 {
            break;
        }
        token = page.last().cloned();
    }
    assert_eq!(seen.len(), 100_000);
    assert_eq!(pages, 1_001, "a thousand full pages, then an empty one");
    println!(
        "100,000 activities in {pages} pages: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_page_size_over_100_or_under_1_is_refused_as_the_spec_bounds_it() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    for size in ["101", "0", "ten"] {
        let (status, body) = get(server, &[of(account), ("page_size", size.to_owned())]).await;
        assert_eq!(status, 422, "{size}: {body}");
        assert_eq!(body["code"], 40_010_001);
    }
    let (status, page) = get(server, &[of(account), ("page_size", "100".to_owned())]).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&page).len(), 100);
}

#[tokio::test]
async fn an_unknown_account_is_not_found_and_an_id_that_is_no_uuid_is_refused() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let (status, body) = get(server, &[of(Uuid::new_v4())]).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = get(server, &[("account_id", "not-a-uuid".to_owned())]).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn one_accounts_page_token_is_refused_for_another_account() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let mine = server.default_account_id();
    let theirs = server.seed_account(SeedAccount::default());
    let token = ids(&Value::Array(server.activities(mine)))[10].clone();

    let (status, body) = get(server, &[of(theirs), ("page_token", token.clone())]).await;

    assert_eq!(status, 422, "{body}");
    let (status, _) = get(server, &[of(mine), ("page_token", token)]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn without_an_account_every_accounts_activities_are_merged_newest_first() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let first = server.default_account_id();
    let second = server.seed_account(SeedAccount::default().with_activities(50));
    let (status, page) = get(server, &[("page_size", "100".to_owned())]).await;
    assert_eq!(status, 200);
    let mut expected: Vec<String> = ids(&Value::Array(server.activities(first)));
    expected.extend(ids(&Value::Array(server.activities(second))));
    expected.sort_by(|left, right| right.cmp(left));
    expected.truncate(100);
    assert_eq!(ids(&page), expected);
}

#[tokio::test]
async fn after_and_until_select_by_creation_and_date_returns_a_whole_day() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let history = server.activities(account);
    let day = created(&history[200]).date_naive();
    let that_day: Vec<String> = history
        .iter()
        .filter(|activity| created(activity).date_naive() == day)
        .map(|activity| activity["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!that_day.is_empty());

    // `date`: every activity created that day, with no page size.
    let (status, page) = get(server, &[of(account), ("date", day.to_string())]).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&page), that_day);

    // `after` the day before and `until` the day after: the same day, read whole.
    let (_, page) = get(
        server,
        &[
            of(account),
            ("after", day.pred_opt().unwrap().to_string()),
            ("until", day.succ_opt().unwrap().to_string()),
        ],
    )
    .await;
    assert_eq!(ids(&page), that_day);

    let (status, _) = get(
        server,
        &[
            of(account),
            ("date", day.to_string()),
            ("after", day.to_string()),
        ],
    )
    .await;
    assert_eq!(
        status, 422,
        "date with after is refused: the spec does not say how they combine"
    );
    let (status, _) = get(server, &[of(account), ("after", "last week".to_owned())]).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn activity_types_and_category_filter_and_cannot_be_combined() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.alpaca();
    let account = server.default_account_id();
    let (_, dividends) = get(
        server,
        &[of(account), ("activity_types", "DIV,SPLIT".to_owned())],
    )
    .await;
    let dividends = dividends.as_array().unwrap().clone();
    assert!(!dividends.is_empty());
    assert!(dividends.iter().all(|activity| ["DIV", "SPLIT"].contains(&activity["activity_type"].as_str().unwrap())));
    let (_, trades) = get(
        server,
        &[of(account), ("category", "trade_activity".to_owned())],
    )
    .await;
    assert!(
        trades
            .as_array()
            .unwrap()
            .iter()
            .all(|activity| activity["activity_type"] == "FILL")
    );
    for refused in [
        vec![
            ("activity_types", "DIV".to_owned()),
            ("category", "trade_activity".to_owned()),
        ],
        vec![("activity_types", "DIVIDEND".to_owned())],
        vec![("category", "trades".to_owned())],
        vec![("direction", "up".to_owned())],
        vec![("limit", "10".to_owned())],
    ] {
        let mut query = vec![of(account)];
        query.extend(refused.clone());
        let (status, _) = get(server, &query).await;
        assert_eq!(status, 422, "{refused:?}");
    }
}
