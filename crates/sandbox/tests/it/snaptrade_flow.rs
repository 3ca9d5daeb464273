//! The SnapTrade sandbox's portal, connections, accounts, positions and orders behave like SnapTrade's.

use crate::support::{call, json};
use reqwest::Method;
use serde_json::{Value, json};
use tributary_sandbox::{MarketFill, Sandbox, SeedConnection, SeededUser, SnapTradeSandbox};
use uuid::Uuid;

async fn get(server: &SnapTradeSandbox, user: &SeededUser, path: &str, query: &str) -> Value {
    json(
        call(server, Method::GET, path, Some(user), query, None).await,
        200,
    )
    .await
}

async fn post(
    server: &SnapTradeSandbox,
    user: &SeededUser,
    path: &str,
    body: Value,
) -> reqwest::Response {
    call(server, Method::POST, path, Some(user), "", Some(body)).await
}

fn market_buy(server: &SnapTradeSandbox, account: Uuid, units: u32) -> Value {
    json!({"account_id": account, "action": "BUY", "universal_symbol_id": server.symbol_id("AAPL"),
           "order_type": "Market", "time_in_force": "Day", "units": units})
}

#[tokio::test]
async fn fetching_the_portal_url_creates_a_connection_with_accounts_and_an_option_position() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let login = json(
        post(
            server,
            &user,
            "/snapTrade/login",
            json!({"broker": "ALPACA", "connectionType": "trade"}),
        )
        .await,
        200,
    )
    .await;
    let portal = login["redirectURI"]
        .as_str()
        .expect("a portal URL")
        .to_owned();
    assert!(portal.starts_with(&server.base_url()));
    assert_eq!(get(server, &user, "/authorizations", "").await, json!([]));

    assert_eq!(
        reqwest::get(&portal)
            .await
            .expect("portal answers")
            .status(),
        200
    );

    let authorizations = get(server, &user, "/authorizations", "").await;
    assert_eq!(authorizations[0]["type"], "trade");
    assert_eq!(authorizations[0]["brokerage"]["slug"], "ALPACA");
    assert_eq!(authorizations[0]["disabled"], false);
    let accounts = get(server, &user, "/accounts", "").await;
    assert_eq!(accounts.as_array().map(Vec::len), Some(2));
    assert_eq!(
        accounts[0]["brokerage_authorization"],
        authorizations[0]["id"]
    );

    let account = accounts[0]["id"].as_str().expect("an id");
    let positions = get(
        server,
        &user,
        &format!("/accounts/{account}/positions/all"),
        "",
    )
    .await;
    let kinds: Vec<&str> = positions["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|p| p["instrument"]["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"stock") && kinds.contains(&"etf") && kinds.contains(&"option"),
        "{kinds:?}"
    );
    assert!(positions["results"][0]["units"].is_string());
    let balances = get(server, &user, &format!("/accounts/{account}/balances"), "").await;
    assert_eq!(balances[0]["currency"]["code"], "USD");

    assert_eq!(
        reqwest::get(&portal).await.expect("answer").status(),
        404,
        "a portal link works once"
    );
}

#[tokio::test]
async fn a_read_only_connection_refuses_to_trade() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let connection = server.seed_connection(&user.user_id, SeedConnection::new(1, 2).read_only());
    let account = connection.account_ids[0];
    let refusal = json(
        post(
            server,
            &user,
            "/trade/impact",
            market_buy(server, account, 1),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(refusal["code"], "1141");
    let mut force = market_buy(server, account, 1);
    force["client_order_id"] = json!(Uuid::new_v4());
    json(post(server, &user, "/trade/place", force).await, 403).await;
    assert!(server.orders(account).is_empty());
}

#[tokio::test]
async fn impact_then_place_fills_a_market_order_once() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let impact = json(
        post(
            server,
            &user,
            "/trade/impact",
            market_buy(server, account, 2),
        )
        .await,
        200,
    )
    .await;
    let trade_id = impact["trade"]["id"]
        .as_str()
        .expect("a trade id")
        .to_owned();
    assert!(impact["trade_impacts"][0]["remaining_cash"].is_number());

    let placed = json(
        post(
            server,
            &user,
            &format!("/trade/{trade_id}"),
            json!({"wait_to_confirm": false}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(placed["status"], "EXECUTED");
    assert_eq!(placed["filled_quantity"], "2");
    assert_eq!(placed["execution_price"], "190.5");

    json(
        post(server, &user, &format!("/trade/{trade_id}"), json!({})).await,
        400,
    )
    .await;
    assert_eq!(server.orders(account).len(), 1);
}

/// snaptrade-openapi.yaml, `components.schemas.ClientOrderID`: "SnapTrade forwards this value to the broker
/// but does not enforce uniqueness server-side."
#[tokio::test]
async fn snaptrade_sandbox_places_a_second_order_for_a_reused_client_order_id_as_the_spec_says() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let mut form = market_buy(server, account, 1);
    let id = Uuid::new_v4().to_string();
    form["client_order_id"] = json!(id);
    let first = json(post(server, &user, "/trade/place", form.clone()).await, 200).await;
    let second = json(post(server, &user, "/trade/place", form).await, 200).await;
    assert_ne!(first["brokerage_order_id"], second["brokerage_order_id"]);
    assert_eq!(server.order_count(account), 2);
    assert_eq!(
        server.client_order_ids(account),
        vec![Some(id.clone()), Some(id)]
    );
}

/// snaptrade-openapi.yaml, `components.schemas.ClientOrderID`: "Must be a canonical 36-character UUID"
/// (`format: uuid`); `/trade/place` answers 400 "Trade could not be placed".
#[tokio::test]
async fn snaptrade_sandbox_refuses_a_client_order_id_that_is_not_a_canonical_uuid_as_the_spec_says()
{
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let canonical = Uuid::new_v4();
    for bad in [
        json!("order-1"),
        json!(canonical.simple().to_string()),
        json!(format!("{{{canonical}}}")),
        json!(format!("urn:uuid:{canonical}")),
        json!(""),
        json!(42),
    ] {
        let mut form = market_buy(server, account, 1);
        form["client_order_id"] = bad.clone();
        let refused = json(post(server, &user, "/trade/place", form).await, 400).await;
        assert!(
            refused["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("client_order_id")),
            "{bad}: {refused}"
        );
    }
    assert_eq!(server.order_count(account), 0);
    let mut form = market_buy(server, account, 1);
    form["client_order_id"] = json!(canonical.to_string().to_uppercase());
    json(post(server, &user, "/trade/place", form).await, 200).await;
    assert_eq!(server.order_count(account), 1);
}

/// A user's credentials reach only that user's accounts: another user's account answers exactly as an
/// unknown one, snaptrade-openapi.yaml `404FailedRequestResponse` ("The requested resource does not exist.",
/// code 1011), so it cannot even be told to exist.
#[tokio::test]
async fn snaptrade_sandbox_answers_another_users_account_as_an_unknown_one() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let alice = server.seed_user("alice");
    let mallory = server.seed_user("mallory");
    let victim = server
        .seed_connection(&alice.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    server.seed_connection(&mallory.user_id, SeedConnection::new(1, 1));
    let unknown = Uuid::new_v4();

    for account in [victim, unknown] {
        for path in [
            format!("/accounts/{account}"),
            format!("/accounts/{account}/balances"),
            format!("/accounts/{account}/positions/all"),
            format!("/accounts/{account}/orders"),
            format!("/accounts/{account}/activities"),
        ] {
            let response = call(server, Method::GET, &path, Some(&mallory), "", None).await;
            let body = json(response, 404).await;
            assert_eq!(body["code"], "1011", "{path}");
            assert_eq!(body["detail"], "The requested resource does not exist.");
        }
        let trade = json!({"account_id": account, "action": "BUY", "symbol": "AAPL",
                           "order_type": "Market", "time_in_force": "Day", "units": 1});
        for path in ["/trade/place", "/trade/impact"] {
            let body = json(post(server, &mallory, path, trade.clone()).await, 404).await;
            assert_eq!(body["code"], "1011", "{path}");
        }
        let cancel = json!({"brokerage_order_id": Uuid::new_v4()});
        let path = format!("/accounts/{account}/trading/cancel");
        json(post(server, &mallory, &path, cancel).await, 404).await;
    }
    assert_eq!(server.order_count(victim), 0);
}

#[tokio::test]
async fn a_limit_order_stays_open_until_cancelled() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let form = json!({"account_id": account, "action": "BUY", "symbol": "MSFT", "order_type": "Limit",
                      "time_in_force": "GTC", "price": "100.00", "units": "1.5"});
    let order = json(post(server, &user, "/trade/place", form).await, 200).await;
    assert_eq!(order["status"], "ACCEPTED");
    let open = get(
        server,
        &user,
        &format!("/accounts/{account}/orders"),
        "state=open&days=1",
    )
    .await;
    assert_eq!(open.as_array().map(Vec::len), Some(1));

    let cancel = json!({"brokerage_order_id": order["brokerage_order_id"]});
    let cancelled = json(
        post(
            server,
            &user,
            &format!("/accounts/{account}/trading/cancel"),
            cancel.clone(),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(cancelled["brokerage_order_id"], order["brokerage_order_id"]);
    json(
        post(
            server,
            &user,
            &format!("/accounts/{account}/trading/cancel"),
            cancel,
        )
        .await,
        400,
    )
    .await;
    let open = get(
        server,
        &user,
        &format!("/accounts/{account}/orders"),
        "state=open",
    )
    .await;
    assert_eq!(open, json!([]));
    let all = get(
        server,
        &user,
        &format!("/accounts/{account}/orders"),
        "state=all",
    )
    .await;
    assert_eq!(all[0]["status"], "CANCELED");
}

#[tokio::test]
async fn on_step_market_orders_stay_pending_until_stepped() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    server.set_market_fill(MarketFill::OnStep);
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let mut form = market_buy(server, account, 1);
    form["client_order_id"] = json!(Uuid::new_v4());
    assert_eq!(
        json(post(server, &user, "/trade/place", form).await, 200).await["status"],
        "PENDING"
    );
    assert_eq!(server.step(), 1);
    let executed = get(
        server,
        &user,
        &format!("/accounts/{account}/orders"),
        "state=executed",
    )
    .await;
    assert_eq!(executed.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_disabled_connection_refuses_refresh_and_trading_until_reconnected() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let connection = server.seed_connection(&user.user_id, SeedConnection::new(1, 1));
    let id = connection.authorization_id;
    assert!(server.disable_connection(id));
    let detail = get(server, &user, &format!("/authorizations/{id}"), "").await;
    assert_eq!(detail["disabled"], true);
    let refresh = post(
        server,
        &user,
        &format!("/authorizations/{id}/refresh"),
        json!({}),
    )
    .await;
    assert_eq!(json(refresh, 402).await["code"], "3003");
    let trade = post(
        server,
        &user,
        "/trade/impact",
        market_buy(server, connection.account_ids[0], 1),
    )
    .await;
    assert_eq!(json(trade, 402).await["code"], "3003");
    get(
        server,
        &user,
        &format!("/accounts/{}/positions/all", connection.account_ids[0]),
        "",
    )
    .await;

    let login = json(
        post(server, &user, "/snapTrade/login", json!({"reconnect": id})).await,
        200,
    )
    .await;
    reqwest::get(login["redirectURI"].as_str().expect("url"))
        .await
        .expect("portal");
    assert_eq!(
        get(server, &user, &format!("/authorizations/{id}"), "").await["disabled"],
        false
    );
    json(
        post(
            server,
            &user,
            &format!("/authorizations/{id}/refresh"),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(server.refresh_count(id), 1);
    assert_eq!(
        server.authorizations(&user.user_id).len(),
        1,
        "reconnect repairs, it does not add"
    );
}

#[tokio::test]
async fn deleting_a_connection_removes_its_accounts() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let connection = server.seed_connection(&user.user_id, SeedConnection::new(2, 1));
    let path = format!("/connection/{}", connection.authorization_id);
    let deleted = json(
        call(server, Method::DELETE, &path, Some(&user), "", None).await,
        200,
    )
    .await;
    assert_eq!(
        deleted["connection_id"],
        connection.authorization_id.to_string()
    );
    assert_eq!(get(server, &user, "/accounts", "").await, json!([]));
}

#[tokio::test]
async fn another_users_account_is_not_found() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let alice = server.seed_user("alice");
    let bob = server.seed_user("bob");
    let account = server
        .seed_connection(&alice.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let response = call(
        server,
        Method::GET,
        &format!("/accounts/{account}"),
        Some(&bob),
        "",
        None,
    )
    .await;
    assert_eq!(json(response, 404).await["code"], "1011");
}

#[tokio::test]
async fn seeding_many_positions_serves_them_all() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let connection = server.seed_connection(&user.user_id, SeedConnection::new(3, 40));
    for account in &connection.account_ids {
        let positions = get(
            server,
            &user,
            &format!("/accounts/{account}/positions/all"),
            "",
        )
        .await;
        assert!(
            positions["results"]
                .as_array()
                .is_some_and(|all| all.len() >= 40)
        );
    }
}

#[tokio::test]
async fn symbol_search_finds_by_ticker_and_name() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let found = json(
        call(
            server,
            Method::POST,
            "/symbols",
            None,
            "",
            Some(json!({"substring": "vanguard"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(found[0]["symbol"], "VTI");
    let by_ticker = json(
        call(server, Method::GET, "/symbols/AAPL", None, "", None).await,
        200,
    )
    .await;
    assert_eq!(
        by_ticker["id"],
        server
            .symbol_id("AAPL")
            .map(|id| id.to_string())
            .unwrap_or_default()
    );
}

#[tokio::test]
async fn legacy_holdings_endpoints_are_gone() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let response = call(
        server,
        Method::GET,
        &format!("/accounts/{account}/holdings"),
        Some(&user),
        "",
        None,
    )
    .await;
    assert_eq!(
        json(response, 410).await["detail"],
        "This endpoint is no longer available for your account."
    );
}

#[tokio::test]
async fn activities_page_by_offset_to_their_total_with_executed_orders_first() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let seed = SeedConnection::new(1, 2).with_activities(2_500);
    let account = server.seed_connection(&user.user_id, seed).account_ids[0];
    let mut form = market_buy(server, account, 4);
    form["client_order_id"] = json!(Uuid::new_v4());
    json(post(server, &user, "/trade/place", form).await, 200).await;

    let path = format!("/accounts/{account}/activities");
    let (mut offset, mut ids, mut total) = (0u64, std::collections::HashSet::new(), u64::MAX);
    while offset < total {
        let page = get(server, &user, &path, &format!("offset={offset}&limit=5000")).await;
        total = page["pagination"]["total"].as_u64().expect("a total");
        assert_eq!(
            page["pagination"]["limit"], 1000,
            "SnapTrade caps a page at 1000"
        );
        let data = page["data"].as_array().expect("data").clone();
        if offset == 0 {
            assert_eq!(
                (data[0]["type"].as_str(), data[0]["units"].as_f64()),
                (Some("BUY"), Some(4.0))
            );
        }
        offset += data.len() as u64;
        ids.extend(
            data.iter()
                .filter_map(|activity| activity["id"].as_str().map(str::to_owned)),
        );
    }
    assert_eq!(total, 2_501);
    assert_eq!(ids.len(), 2_501);

    let dividends = get(server, &user, &path, "type=DIVIDEND&limit=10").await;
    // Three dividends in each twenty of the generated history's cycle.
    assert_eq!(dividends["pagination"]["total"], 375);
    assert!(
        dividends["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|activity| activity["type"] == "DIVIDEND")
    );
}

#[tokio::test]
async fn an_order_is_found_by_its_brokerage_order_id() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let mut form = market_buy(server, account, 1);
    form["client_order_id"] = json!(Uuid::new_v4());
    let placed = json(post(server, &user, "/trade/place", form).await, 200).await;
    let path = format!("/accounts/{account}/orders/details");
    let lookup = json!({"brokerage_order_id": placed["brokerage_order_id"]});
    let found = json(post(server, &user, &path, lookup).await, 200).await;
    assert_eq!(found, placed);
    let unknown = json!({"brokerage_order_id": Uuid::new_v4()});
    json(post(server, &user, &path, unknown).await, 404).await;
}

/// snaptrade-openapi.yaml, `AccountInformation_getUserAccountOrders.days`: "Values greater than 90 will be
/// capped at 90" (`minimum: 1`).
#[tokio::test]
async fn snaptrade_sandbox_caps_the_order_window_at_90_days_as_the_spec_says() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    let path = format!("/accounts/{account}/orders");
    get(server, &user, &path, "days=365").await;
    let refused = call(server, Method::GET, &path, Some(&user), "days=0", None).await;
    assert_eq!(refused.status(), 400);
}

/// snaptrade-openapi.yaml, `NotionalValue`: "Can only work with `Market` for `order_type` and `Day` for
/// `time_in_force`"; a zero price is refused (spec silent: the strictest plausible).
#[tokio::test]
async fn snaptrade_sandbox_takes_notional_only_for_market_day_orders_and_no_zero_price() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 1))
        .account_ids[0];
    for refused in [
        json!({"account_id": account, "action": "BUY", "symbol": "AAPL", "order_type": "Market",
               "time_in_force": "GTC", "notional_value": "100"}),
        json!({"account_id": account, "action": "BUY", "symbol": "AAPL", "order_type": "Limit",
               "time_in_force": "Day", "price": 0, "units": 1}),
    ] {
        json(post(server, &user, "/trade/place", refused).await, 400).await;
    }
    let day = json!({"account_id": account, "action": "BUY", "symbol": "AAPL", "order_type": "Market",
                     "time_in_force": "Day", "notional_value": "100"});
    json(post(server, &user, "/trade/place", day).await, 200).await;
    assert_eq!(server.order_count(account), 1);
}

/// The newer shapes that win over `specs/snaptrade-openapi.yaml`, checked against the SDK's model and put back
/// in the spec's form, so the rest of the answer is still checked against the spec as it stands:
/// `BrokerageAuthorization.data_freshness_mode` is an object in snaptrade-python-sdk 13.0.49
/// (`BrokerageAuthorizationDataFreshnessMode`, `required: [institution, snaptrade]`, each `realtime` or
/// `delayed`) where the spec has a string ("realtime" or "delayed": the effective mode, delayed if either is).
fn in_the_specs_older_shape(authorization: &mut Value) {
    let mode = &authorization["data_freshness_mode"];
    let sides = [&mode["institution"], &mode["snaptrade"]];
    assert!(
        mode.as_object().is_some_and(|mode| mode.len() == 2)
            && sides
                .iter()
                .all(|side| *side == "realtime" || *side == "delayed"),
        "data_freshness_mode is not the SDK's object: {mode}"
    );
    let effective = if sides.iter().any(|side| *side == "delayed") {
        "delayed"
    } else {
        "realtime"
    };
    authorization["data_freshness_mode"] = json!(effective);
}

/// Every path the SnapTrade sandbox serves (those the client calls, and the others), answered by the sandbox and
/// checked against the response schema of `specs/snaptrade-openapi.yaml` for the status it answers with
/// (required fields, types, formats, enums, nullability), errors included.
#[tokio::test]
async fn every_answer_of_every_path_satisfies_the_specs_response_schema() {
    let spec = tributary_spec::Spec::load("snaptrade-openapi.yaml");
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let mut failures = Vec::new();
    let mut checked = std::collections::BTreeSet::new();
    let mut check = |method: &str, template: &str, status: u16, body: &Value| {
        checked.insert(format!("{method} {template} {status}"));
        if let Err(error) = spec.validate_response(method, template, status, body) {
            failures.push(format!("{error}\n  answer: {body}"));
        }
    };
    let answer = |response: reqwest::Response, status: u16| json(response, status);

    let online = answer(
        reqwest::get(format!("{}/", server.base_url()))
            .await
            .unwrap(),
        200,
    )
    .await;
    check("get", "/", 200, &online);
    let registered = answer(
        call(
            server,
            Method::POST,
            "/snapTrade/registerUser",
            None,
            "",
            Some(json!({"userId": "spec-registered"})),
        )
        .await,
        200,
    )
    .await;
    check("post", "/snapTrade/registerUser", 200, &registered);
    let user = server.seed_user("spec-user");
    let users = answer(
        call(server, Method::GET, "/snapTrade/listUsers", None, "", None).await,
        200,
    )
    .await;
    check("get", "/snapTrade/listUsers", 200, &users);
    let login = answer(
        post(
            server,
            &user,
            "/snapTrade/login",
            json!({"broker": "ALPACA"}),
        )
        .await,
        200,
    )
    .await;
    check("post", "/snapTrade/login", 200, &login);

    let connection = server.seed_connection(&user.user_id, SeedConnection::new(1, 3));
    let authorization = connection.authorization_id;
    let account = connection.account_ids[0];
    let mut authorizations = get(server, &user, "/authorizations", "").await;
    authorizations
        .as_array_mut()
        .expect("a list")
        .iter_mut()
        .for_each(in_the_specs_older_shape);
    check("get", "/authorizations", 200, &authorizations);
    let mut detail = get(
        server,
        &user,
        &format!("/authorizations/{authorization}"),
        "",
    )
    .await;
    in_the_specs_older_shape(&mut detail);
    check("get", "/authorizations/{authorizationId}", 200, &detail);
    for (template, path, query) in [
        (
            "/authorizations/{authorizationId}/accounts",
            format!("/authorizations/{authorization}/accounts"),
            "",
        ),
        ("/accounts", "/accounts".to_owned(), ""),
        ("/accounts/{accountId}", format!("/accounts/{account}"), ""),
        (
            "/accounts/{accountId}/balances",
            format!("/accounts/{account}/balances"),
            "",
        ),
        (
            "/accounts/{accountId}/positions/all",
            format!("/accounts/{account}/positions/all"),
            "",
        ),
        (
            "/accounts/{accountId}/activities",
            format!("/accounts/{account}/activities"),
            "startDate=2000-01-01&endDate=2100-01-01&offset=0&limit=1000",
        ),
        ("/symbols/{query}", "/symbols/AAPL".to_owned(), ""),
    ] {
        check(
            "get",
            template,
            200,
            &get(server, &user, &path, query).await,
        );
    }
    let unknown_symbol = answer(
        call(server, Method::GET, "/symbols/NOSUCHTICKER", None, "", None).await,
        404,
    )
    .await;
    check("get", "/symbols/{query}", 404, &unknown_symbol);
    let symbols = answer(
        call(
            server,
            Method::POST,
            "/symbols",
            None,
            "",
            Some(json!({"substring": "AAPL"})),
        )
        .await,
        200,
    )
    .await;
    check("post", "/symbols", 200, &symbols);
    let account_symbols = answer(
        post(
            server,
            &user,
            &format!("/accounts/{account}/symbols"),
            json!({"substring": "AAPL"}),
        )
        .await,
        200,
    )
    .await;
    check(
        "post",
        "/accounts/{accountId}/symbols",
        200,
        &account_symbols,
    );

    let impact = answer(
        post(
            server,
            &user,
            "/trade/impact",
            market_buy(server, account, 1),
        )
        .await,
        200,
    )
    .await;
    check("post", "/trade/impact", 200, &impact);
    let trade_id = impact["trade"]["id"].as_str().expect("a trade id");
    let placed = answer(
        post(server, &user, &format!("/trade/{trade_id}"), json!({})).await,
        200,
    )
    .await;
    check("post", "/trade/{tradeId}", 200, &placed);
    let limit = json!({"account_id": account, "action": "BUY", "symbol": "MSFT", "order_type": "Limit",
                       "time_in_force": "GTC", "price": 100, "units": 1.5,
                       "client_order_id": Uuid::new_v4()});
    let working = answer(
        post(server, &user, "/trade/place", limit.clone()).await,
        200,
    )
    .await;
    check("post", "/trade/place", 200, &working);
    let mut not_a_uuid = limit;
    not_a_uuid["client_order_id"] = json!("order-1");
    let refused = answer(post(server, &user, "/trade/place", not_a_uuid).await, 400).await;
    check("post", "/trade/place", 400, &refused);
    let orders = get(
        server,
        &user,
        &format!("/accounts/{account}/orders"),
        "state=all&days=90",
    )
    .await;
    check("get", "/accounts/{accountId}/orders", 200, &orders);
    let details = format!("/accounts/{account}/orders/details");
    let found = answer(
        post(
            server,
            &user,
            &details,
            json!({"brokerage_order_id": working["brokerage_order_id"]}),
        )
        .await,
        200,
    )
    .await;
    check("post", "/accounts/{accountId}/orders/details", 200, &found);
    let missing = answer(
        post(
            server,
            &user,
            &details,
            json!({"brokerage_order_id": Uuid::new_v4()}),
        )
        .await,
        404,
    )
    .await;
    check(
        "post",
        "/accounts/{accountId}/orders/details",
        404,
        &missing,
    );
    let cancelled = answer(
        post(
            server,
            &user,
            &format!("/accounts/{account}/trading/cancel"),
            json!({"brokerage_order_id": working["brokerage_order_id"]}),
        )
        .await,
        200,
    )
    .await;
    check(
        "post",
        "/accounts/{accountId}/trading/cancel",
        200,
        &cancelled,
    );
    let refreshed = answer(
        post(
            server,
            &user,
            &format!("/authorizations/{authorization}/refresh"),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    check(
        "post",
        "/authorizations/{authorizationId}/refresh",
        200,
        &refreshed,
    );

    // A read-only connection refuses trading (403); disabling it twice is 402; an unknown one is 404; a bad
    // signature is 401.
    let read_only = server.seed_connection(&user.user_id, SeedConnection::new(1, 1).read_only());
    let refused = answer(
        post(
            server,
            &user,
            "/trade/place",
            market_buy(server, read_only.account_ids[0], 1),
        )
        .await,
        403,
    )
    .await;
    check("post", "/trade/place", 403, &refused);
    let disable = format!("/authorizations/{}/disable", read_only.authorization_id);
    let disabled = answer(post(server, &user, &disable, json!({})).await, 200).await;
    check(
        "post",
        "/authorizations/{authorizationId}/disable",
        200,
        &disabled,
    );
    let twice = answer(post(server, &user, &disable, json!({})).await, 402).await;
    check(
        "post",
        "/authorizations/{authorizationId}/disable",
        402,
        &twice,
    );
    let unknown = format!("/authorizations/{}/disable", Uuid::new_v4());
    let nowhere = answer(post(server, &user, &unknown, json!({})).await, 404).await;
    check(
        "post",
        "/authorizations/{authorizationId}/disable",
        404,
        &nowhere,
    );
    let forged = answer(
        crate::support::call_with_key(
            server,
            "not-the-consumer-key",
            Method::POST,
            &disable,
            Some(&user),
            "",
            Some(json!({})),
        )
        .await,
        401,
    )
    .await;
    check(
        "post",
        "/authorizations/{authorizationId}/disable",
        401,
        &forged,
    );

    let deleted = answer(
        call(
            server,
            Method::DELETE,
            &format!("/connection/{authorization}"),
            Some(&user),
            "",
            None,
        )
        .await,
        200,
    )
    .await;
    check("delete", "/connection/{connectionId}", 200, &deleted);
    let reset = answer(
        post(
            server,
            &user,
            "/snapTrade/resetUserSecret",
            json!({"userId": user.user_id, "userSecret": user.user_secret}),
        )
        .await,
        200,
    )
    .await;
    check("post", "/snapTrade/resetUserSecret", 200, &reset);
    let gone = answer(
        call(
            server,
            Method::DELETE,
            "/snapTrade/deleteUser",
            None,
            "userId=spec-user",
            None,
        )
        .await,
        200,
    )
    .await;
    check("delete", "/snapTrade/deleteUser", 200, &gone);

    // A brokerage that reports opening and funding dates (Tastytrade) sends them as date-times.
    let dated = server.seed_user("spec-dated");
    let mut seed = SeedConnection::new(1, 1);
    seed.broker = "TASTYTRADE".to_owned();
    server.seed_connection(&dated.user_id, seed);
    let accounts = get(server, &dated, "/accounts", "").await;
    assert!(accounts[0]["opening_date"].is_string(), "{accounts}");
    check("get", "/accounts", 200, &accounts);

    let paths: std::collections::BTreeSet<String> = checked
        .iter()
        .map(|key| {
            key.rsplit_once(' ')
                .map_or(key.as_str(), |(route, _)| route)
                .to_owned()
        })
        .collect();
    assert_eq!(paths.len(), 26, "{paths:#?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// SnapTrade's server writes `type: number` fields as Python floats (`10000.0`), and snaptrade-python-sdk
/// 13.0.49 refuses an integer literal there; `type: integer` fields stay integers.
#[tokio::test]
async fn number_fields_are_written_as_floats_and_integer_fields_as_integers() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let account = server
        .seed_connection(&user.user_id, SeedConnection::new(1, 2))
        .account_ids[0];
    let float = |value: &Value| value.is_number() && value.to_string().contains(['.', 'e', 'E']);
    let balances = get(server, &user, &format!("/accounts/{account}/balances"), "").await;
    assert_eq!(balances[0]["cash"].to_string(), "10000.0");
    assert!(float(&balances[0]["buying_power"]), "{balances}");
    let described = get(server, &user, &format!("/accounts/{account}"), "").await;
    assert!(
        float(&described["balance"]["total"]["amount"]),
        "{described}"
    );
    let activities = get(
        server,
        &user,
        &format!("/accounts/{account}/activities"),
        "limit=8",
    )
    .await;
    for activity in activities["data"].as_array().expect("data") {
        for field in ["price", "units", "amount", "fee"] {
            assert!(float(&activity[field]), "{field}: {activity}");
        }
    }
    assert!(activities["pagination"]["total"].is_u64(), "{activities}");
    let impact = json(
        post(
            server,
            &user,
            "/trade/impact",
            market_buy(server, account, 2),
        )
        .await,
        200,
    )
    .await;
    for number in [
        &impact["trade"]["units"],
        &impact["trade"]["price"],
        &impact["trade_impacts"][0]["remaining_cash"],
        &impact["trade_impacts"][0]["estimated_commission"],
        &impact["trade_impacts"][0]["forex_fees"],
        &impact["combined_remaining_balance"]["cash"],
    ] {
        assert!(float(number), "{impact}");
    }
}

/// snaptrade-python-sdk 13.0.49 `BrokerageAuthorizationDataFreshnessMode`: an object of two independent sides,
/// where the shared spec still has a string.
#[tokio::test]
async fn an_authorization_states_its_data_freshness_as_the_sdks_object() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let connection = server.seed_connection(&user.user_id, SeedConnection::new(1, 1));
    let listed = get(server, &user, "/authorizations", "").await;
    let detail = get(
        server,
        &user,
        &format!("/authorizations/{}", connection.authorization_id),
        "",
    )
    .await;
    for authorization in [&listed[0], &detail] {
        assert_eq!(
            authorization["data_freshness_mode"],
            json!({"institution": "realtime", "snaptrade": "realtime"})
        );
    }
}

/// snaptrade-openapi.yaml's `Symbol` examples (VAB.TO, "VANGUARD CDN AGGREGATE BOND INDEX ETF") held in a
/// US-dollar account: the position, its trades and its dividends are in Canadian dollars
/// (`AccountPosition.currency`, `AccountUniversalActivity.currency`); the account's total is in its own currency.
#[tokio::test]
async fn a_connection_of_three_positions_holds_the_specs_canadian_etf_in_its_own_currency() {
    let sandbox = Sandbox::start().await;
    let server = sandbox.snaptrade();
    let user = server.seed_user("alice");
    let mut seed = SeedConnection::new(1, 3).with_activities(12);
    seed.with_option = false;
    let account = server.seed_connection(&user.user_id, seed).account_ids[0];
    let positions = get(
        server,
        &user,
        &format!("/accounts/{account}/positions/all"),
        "",
    )
    .await;
    let held: Vec<(&str, &str)> = positions["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|position| {
            (
                position["instrument"]["symbol"].as_str().unwrap(),
                position["currency"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(held, [("AAPL", "USD"), ("VTI", "USD"), ("VAB.TO", "CAD")]);
    let vab = &positions["results"][2];
    assert_eq!(vab["instrument"]["raw_symbol"], "VAB");
    assert_eq!(
        vab["instrument"]["description"],
        "VANGUARD CDN AGGREGATE BOND INDEX ETF"
    );

    // AAPL 10.5 × 190.50 + VTI 11.5 × 265.10 in USD, VAB.TO 12.5 × 23.21 CAD at 0.73, and 10,000 cash.
    let described = get(server, &user, &format!("/accounts/{account}"), "").await;
    assert_eq!(
        described["balance"]["total"],
        json!({"amount": 15260.69, "currency": "USD"})
    );
    let activities = get(
        server,
        &user,
        &format!("/accounts/{account}/activities"),
        "limit=12",
    )
    .await;
    let of_vab: Vec<&Value> = activities["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|activity| activity["symbol"]["symbol"] == "VAB.TO")
        .collect();
    assert!(!of_vab.is_empty(), "{activities}");
    assert!(
        of_vab
            .iter()
            .all(|activity| activity["currency"]["code"] == "CAD"),
        "{of_vab:?}"
    );
}
