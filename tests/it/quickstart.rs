//! `cargo run --example quickstart` as a user runs it: with nothing configured it walks the whole flow on the
//! embedded default and exits 0; misconfigured, it exits non-zero with one line on stderr; with a provider's own
//! sandbox credentials (pointed here at sandbox servers the test runs) it does what that provider allows
//! without a browser and says what needs one.

use sqlx::PgPool;
use tributary_sandbox::{Sandbox, SeedAccount};

use crate::example_binary::{SECRET_KEY, one_line_failure, run, texts, url_of};

/// Asserts each of `expected` appears in `stdout`, in this order.
fn in_order(stdout: &str, expected: &[&str]) {
    let mut rest = stdout;
    for expected in expected {
        let at = rest
            .find(expected)
            .unwrap_or_else(|| panic!("{expected:?} (in this order) in:\n{stdout}"));
        rest = &rest[at + expected.len()..];
    }
}

/// Runs the quickstart with `variables` off the async runtime (the sandbox the test holds serves meanwhile);
/// asserts it succeeded and printed no secret of `sandbox`; its stdout.
async fn quickstart_with(sandbox: &Sandbox, variables: Vec<(&'static str, String)>) -> String {
    let output = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run("quickstart", &[], &env, b"")
    })
    .await
    .unwrap();
    let (stdout, stderr) = texts(&output);
    assert!(
        output.status.success(),
        "exit {}: {stderr}\n{stdout}",
        output.status
    );
    for secret in [
        sandbox.snaptrade().consumer_key(),
        sandbox.plaid().secret(),
        sandbox.alpaca().secret(),
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a configured secret was printed"
        );
    }
    stdout
}

fn plaid_variables(sandbox: &Sandbox, environment: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PLAID_CLIENT_ID", sandbox.plaid().client_id().to_owned()),
        ("PLAID_SECRET", sandbox.plaid().secret().to_owned()),
        ("PLAID_ENV", environment.to_owned()),
        ("PLAID_BASE_URL", sandbox.plaid_base_url()),
    ]
}

fn alpaca_variables_without_an_account(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        (
            "ALPACA_BROKER_API_KEY",
            sandbox.alpaca().key_id().to_owned(),
        ),
        (
            "ALPACA_BROKER_API_SECRET",
            sandbox.alpaca().secret().to_owned(),
        ),
        ("ALPACA_BROKER_BASE_URL", sandbox.alpaca_base_url()),
    ]
}

fn snaptrade_variables(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        (
            "SNAPTRADE_CLIENT_ID",
            sandbox.snaptrade().client_id().to_owned(),
        ),
        (
            "SNAPTRADE_CONSUMER_KEY",
            sandbox.snaptrade().consumer_key().to_owned(),
        ),
        ("SNAPTRADE_BASE_URL", sandbox.snaptrade_base_url()),
    ]
}

#[test]
fn with_nothing_configured_the_quickstart_runs_on_memory_and_the_sandbox() {
    let output = run("quickstart", &[], &[], b"");
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "exit {}: {stderr}", output.status);
    assert_eq!(stderr, "");
    let expected_in_order = [
        "store:     MemoryStore",
        "snaptrade: sandbox at http://127.0.0.1:",
        "plaid:     sandbox at http://127.0.0.1:",
        "alpaca:    sandbox at http://127.0.0.1:",
        "snaptrade: registered, connection portal completed (trade access)",
        "plaid:     Item linked",
        "alpaca:    brokerage account recorded",
        "sync:      plaid synced, snaptrade synced, alpaca synced; 5 accounts,",
        "portfolio mode: hybrid (alpaca: true, plaid: true, snaptrade: true, active accounts: 5)",
        "provider   institution",
        "symbol",
        "latest transactions (amount: cash into the account is positive):",
        "traded      provider",
        "value over the last 30 days (a point per day synced; none invented between):",
        "day         account   currency",
        "order:     limit buy 1 AAPL at 1.00 in snaptrade",
        ": ACCEPTED, brokerage order id",
        "cancel:    CANCELED",
        "webhook:   ACCOUNT_HOLDINGS_UPDATED verified and applied: resynced, 0 holdings rewritten, 0 removed",
        "webhook:   the same delivery again: acknowledged as a replay, not applied twice",
    ];
    in_order(&stdout, &expected_in_order);
}

#[test]
fn the_holdings_table_lines_up_its_columns() {
    let output = run("quickstart", &[], &[], b"");
    let (stdout, _) = texts(&output);
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("symbol"))
        .take_while(|line| !line.is_empty())
        .collect();
    assert!(table.len() > 2, "a header and holdings:\n{stdout}");
    let header = table[0];
    let quantity_end = header.find("quantity").unwrap() + "quantity".len();
    for row in &table[1..] {
        let before = &row[..quantity_end];
        assert!(
            before.ends_with(|c: char| c.is_ascii_digit()),
            "quantities end under their header: {row:?}"
        );
    }
}

/// The rows of the table whose header starts with `header`.
fn table_rows<'a>(stdout: &'a str, header: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|line| !line.starts_with(header))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_history_shows_transactions_and_one_days_value_per_account_and_total() {
    let output = run("quickstart", &[], &[], b"");
    let (stdout, _) = texts(&output);
    let latest = table_rows(&stdout, "traded ");
    assert_eq!(latest.len(), 10, "the ten latest:\n{stdout}");
    let today = chrono::Utc::now().date_naive().to_string();
    let series = table_rows(&stdout, "day ");
    assert!(
        series.iter().all(|row| row.starts_with(&today)),
        "one sync, one day: nothing invented before it:\n{stdout}"
    );
    for currency in ["USD", "CAD", "BTC"] {
        let totals = series
            .iter()
            .filter(|row| row.contains(" total ") && row.contains(currency))
            .count();
        assert_eq!(
            totals, 1,
            "one total in {currency}, never summed across:\n{stdout}"
        );
    }
}

#[test]
fn a_database_url_that_cannot_be_reached_fails_with_one_line() {
    let output = run(
        "quickstart",
        &[],
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
            ("TRIBUTARY_SECRET_KEY", SECRET_KEY),
        ],
        b"",
    );
    let reason = one_line_failure("quickstart", &output);
    assert!(
        reason.starts_with("cannot connect to DATABASE_URL"),
        "{reason}"
    );
    assert_eq!(
        texts(&output).0,
        "",
        "nothing printed before the store is known"
    );
}

#[test]
fn a_malformed_database_url_fails_with_one_line() {
    let output = run(
        "quickstart",
        &[],
        &[
            ("DATABASE_URL", "not a url"),
            ("TRIBUTARY_SECRET_KEY", SECRET_KEY),
        ],
        b"",
    );
    let reason = one_line_failure("quickstart", &output);
    assert!(
        reason.starts_with("DATABASE_URL is not a PostgreSQL URL"),
        "{reason}"
    );
}

#[test]
fn a_database_url_without_a_secret_key_fails_naming_the_key() {
    let output = run(
        "quickstart",
        &[],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")],
        b"",
    );
    let reason = one_line_failure("quickstart", &output);
    assert!(
        reason.starts_with("TRIBUTARY_SECRET_KEY is not set"),
        "{reason}"
    );
}

#[test]
fn a_provider_half_configured_fails_naming_the_missing_variable() {
    let output = run("quickstart", &[], &[("PLAID_CLIENT_ID", "someone")], b"");
    let reason = one_line_failure("quickstart", &output);
    assert!(reason.contains("PLAID_SECRET"), "{reason}");
    assert!(
        !reason.contains("someone"),
        "no configured value is echoed: {reason}"
    );
}

/// The variables that make the quickstart use each provider's real client, pointed at a sandbox this test
/// runs (so the real clients' configuration path is exercised without leaving 127.0.0.1).
fn real_provider_variables(sandbox: &tributary_sandbox::Sandbox) -> Vec<(&'static str, String)> {
    vec![
        (
            "SNAPTRADE_CLIENT_ID",
            sandbox.snaptrade().client_id().to_owned(),
        ),
        (
            "SNAPTRADE_CONSUMER_KEY",
            sandbox.snaptrade().consumer_key().to_owned(),
        ),
        ("SNAPTRADE_BASE_URL", sandbox.snaptrade_base_url()),
        ("PLAID_CLIENT_ID", sandbox.plaid().client_id().to_owned()),
        ("PLAID_SECRET", sandbox.plaid().secret().to_owned()),
        ("PLAID_BASE_URL", sandbox.plaid_base_url()),
        (
            "ALPACA_BROKER_API_KEY",
            sandbox.alpaca().key_id().to_owned(),
        ),
        (
            "ALPACA_BROKER_API_SECRET",
            sandbox.alpaca().secret().to_owned(),
        ),
        ("ALPACA_BROKER_BASE_URL", sandbox.alpaca_base_url()),
        (
            "ALPACA_ACCOUNT_ID",
            sandbox.alpaca().default_account_id().to_string(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_provider_configured_the_quickstart_uses_their_clients_and_skips_the_browser_steps()
 {
    let providers = tributary_sandbox::Sandbox::start().await;
    let variables = real_provider_variables(&providers);
    let output = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run("quickstart", &[], &env, b"")
    })
    .await
    .unwrap();

    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "exit {}: {stderr}", output.status);
    for expected in [
        "snaptrade: configured by its environment variables, at http://127.0.0.1:",
        "plaid:     configured by its environment variables, at http://127.0.0.1:",
        "alpaca:    configured by its environment variables, at http://127.0.0.1:",
        "snaptrade: skipped: open the connection portal in a browser to connect a brokerage: http://127.0.0.1:",
        "plaid:     skipped: linking an Item in production needs Plaid Link in a browser: start Link with link token",
        "alpaca:    brokerage account recorded in the user's onboarding",
        "portfolio mode: brokerage (alpaca: true, plaid: false, snaptrade: false, active accounts: 1)",
        "order:     skipped: no sandbox account to trade in",
        "webhook:   ACCOUNT_HOLDINGS_UPDATED verified and applied",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    let secrets = [
        providers.snaptrade().consumer_key(),
        providers.plaid().secret(),
        providers.alpaca().secret(),
    ];
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a configured secret was printed"
        );
    }
    assert_eq!(
        providers.snaptrade().users().len(),
        1,
        "the user was registered at the configured SnapTrade"
    );
    assert_eq!(
        providers
            .alpaca()
            .orders(providers.alpaca().default_account_id()),
        Vec::<serde_json::Value>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_plaid_sandbox_credentials_the_quickstart_makes_a_test_item_and_syncs_it() {
    let sandbox = Sandbox::start().await;
    let stdout = quickstart_with(&sandbox, plaid_variables(&sandbox, "sandbox")).await;
    in_order(
        &stdout,
        &[
            "plaid:     configured by its environment variables, at http://127.0.0.1:",
            "plaid:     Item linked: a test Item at First Platypus Bank (ins_109508) made by \
             /sandbox/public_token/create",
            "sync:      plaid synced",
            "portfolio mode: hybrid (alpaca: true, plaid: true,",
            "plaid      First Platypus Bank",
        ],
    );
    assert_eq!(
        sandbox.plaid().item_count(),
        1,
        "the test Item was made at the configured Plaid"
    );
    let calls: Vec<String> = sandbox
        .plaid()
        .log()
        .all()
        .into_iter()
        .map(|entry| entry.path)
        .collect();
    for path in [
        "/sandbox/public_token/create",
        "/item/public_token/exchange",
        "/investments/holdings/get",
    ] {
        assert!(
            calls.iter().any(|called| called == path),
            "{path} in {calls:?}"
        );
    }
    assert!(
        !calls.iter().any(|called| called == "/link/token/create"),
        "no Link token on the sandbox: nothing opens Link"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_plaid_production_credentials_the_quickstart_says_linking_needs_plaid_link_in_a_browser()
 {
    let sandbox = Sandbox::start().await;
    let stdout = quickstart_with(&sandbox, plaid_variables(&sandbox, "production")).await;
    in_order(
        &stdout,
        &[
            "plaid:     skipped: linking an Item in production needs Plaid Link in a browser: start Link \
             with link token link-",
            "portfolio mode: hybrid (alpaca: true, plaid: false,",
        ],
    );
    assert_eq!(sandbox.plaid().item_count(), 0, "no Item without Link");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_alpaca_credentials_and_no_account_id_the_quickstart_lists_the_accounts_to_pick_from()
{
    let sandbox = Sandbox::start().await;
    let mut ids = vec![sandbox.alpaca().default_account_id()];
    for _ in 0..6 {
        ids.push(
            sandbox
                .alpaca()
                .seed_account(SeedAccount::new(rust_decimal::Decimal::from(1_000), 1)),
        );
    }
    let stdout = quickstart_with(&sandbox, alpaca_variables_without_an_account(&sandbox)).await;
    let first_five: Vec<String> = ids[..5].iter().map(|id| format!("{id}  ACTIVE")).collect();
    let mut expected = vec![
        "alpaca:    configured by its environment variables, at http://127.0.0.1:",
        "alpaca:    skipped: no ALPACA_ACCOUNT_ID set; your Broker API holds 7 accounts (the first 5, oldest first):",
    ];
    expected.extend(first_five.iter().map(String::as_str));
    expected.extend([
        "pick one and re-run with ALPACA_ACCOUNT_ID=<id>",
        "alpaca skipped (",
        "portfolio mode: aggregation (alpaca: false, plaid: true, snaptrade: true,",
    ]);
    in_order(&stdout, &expected);
    for hidden in &ids[5..] {
        assert!(
            !stdout.contains(&hidden.to_string()),
            "only the first five: {stdout}"
        );
    }
    for id in &ids {
        assert_eq!(
            sandbox.alpaca().orders(*id),
            Vec::<serde_json::Value>::new()
        );
    }
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn with_snaptrade_credentials_a_rerun_after_the_portal_syncs_the_connected_brokerage(
    pool: PgPool,
) {
    let sandbox = Sandbox::start().await;
    let url = url_of(&pool).await;
    // Plaid on the test's sandbox too: the first run's Item is stored in PostgreSQL (issue 16) and must outlive
    // the quickstart's process at Plaid, as a real Item does; the quickstart's own in-process sandbox would not.
    let variables = || {
        let mut variables = snaptrade_variables(&sandbox);
        variables.extend(plaid_variables(&sandbox, "sandbox"));
        variables.push(("DATABASE_URL", url.clone()));
        variables.push(("TRIBUTARY_SECRET_KEY", SECRET_KEY.to_owned()));
        variables
    };

    let first = quickstart_with(&sandbox, variables()).await;
    in_order(
        &first,
        &[
            "snaptrade: configured by its environment variables, at http://127.0.0.1:",
            "signed up",
            "snaptrade: skipped: open the connection portal in a browser to connect a brokerage: http://127.0.0.1:",
            "then re-run the quickstart: the registration is stored in PostgreSQL",
            "portfolio mode: hybrid (alpaca: true, plaid: true, snaptrade: false,",
        ],
    );
    let user = first
        .lines()
        .find_map(|line| line.strip_prefix("user ")?.strip_suffix(" signed up"))
        .expect("the new user's id")
        .to_owned();
    let portal = first
        .lines()
        .find_map(|line| line.split("connect a brokerage: ").nth(1))
        .expect("the portal URL")
        .trim()
        .to_owned();

    // The user opens the portal in a browser and connects a brokerage.
    let opened = reqwest::get(&portal).await.expect("the portal answers");
    assert!(opened.status().is_success(), "{}", opened.status());

    let second = quickstart_with(&sandbox, variables()).await;
    in_order(
        &second,
        &[
            &format!("user {user} from an earlier run: its SnapTrade registration is stored"),
            "snaptrade: skipped: open the connection portal in a browser to connect a brokerage:",
            "(for another brokerage; then re-run to sync it too)",
            "snaptrade synced",
            "portfolio mode: hybrid (alpaca: true, plaid: true, snaptrade: true,",
            "snaptrade  Alpaca",
        ],
    );
    assert!(!second.contains("signed up"), "no second user: {second}");
    assert_eq!(
        second.matches("Plaid 401K").count(),
        2,
        "the first run's Item is stored and synced again beside the one the re-run linked: {second}"
    );
    assert!(second.contains("inactive accounts not shown"), "{second}");
    assert_eq!(sandbox.snaptrade().users().len(), 1, "registered once");
    let users: i64 = sqlx::query_scalar("select count(*) from auth.users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1, "one user across the two runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_snaptrade_credentials_in_memory_the_quickstart_says_a_rerun_needs_database_url() {
    let sandbox = Sandbox::start().await;
    let stdout = quickstart_with(&sandbox, snaptrade_variables(&sandbox)).await;
    in_order(
        &stdout,
        &[
            "snaptrade: skipped: open the connection portal in a browser to connect a brokerage: http://127.0.0.1:",
            "then re-run with DATABASE_URL set from the first run",
        ],
    );
}

/// A Broker API that holds no accounts yet, as a new partner's sandbox does: answers every request `[]`
/// (alpaca-broker-api.yaml `getAllAccounts`: a list of `AccountExtended`, here empty). Its URL.
fn broker_api_without_accounts() -> String {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            let _ = (&stream).write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\
                  connection: close\r\n\r\n[]",
            );
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn with_alpaca_credentials_and_no_accounts_yet_the_quickstart_says_opening_one_needs_kyc() {
    let sandbox = Sandbox::start().await;
    let mut variables = alpaca_variables_without_an_account(&sandbox);
    variables.retain(|(name, _)| *name != "ALPACA_BROKER_BASE_URL");
    variables.push(("ALPACA_BROKER_BASE_URL", broker_api_without_accounts()));
    let stdout = quickstart_with(&sandbox, variables).await;
    in_order(
        &stdout,
        &[
            "alpaca:    skipped: no ALPACA_ACCOUNT_ID set, and your Broker API holds no accounts yet: opening \
             one needs the customer's KYC details",
            "re-run with ALPACA_ACCOUNT_ID=<its id>",
            "alpaca skipped (",
        ],
    );
}
