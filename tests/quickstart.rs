//! `cargo run --example quickstart` as a user runs it: with nothing configured it walks the whole flow on the
//! embedded default and exits 0; misconfigured, it exits non-zero with one line on stderr.

mod example_binary;

use example_binary::{SECRET_KEY, one_line_failure, run, texts};

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
        "order:     limit buy 1 AAPL at 1.00 in snaptrade",
        ": ACCEPTED, brokerage order id",
        "cancel:    CANCELED",
        "webhook:   ACCOUNT_HOLDINGS_UPDATED verified and applied: resynced, 0 holdings rewritten, 0 removed",
        "webhook:   the same delivery again: acknowledged as a replay, not applied twice",
    ];
    let mut rest = stdout.as_str();
    for expected in expected_in_order {
        let at = rest
            .find(expected)
            .unwrap_or_else(|| panic!("{expected:?} (in this order) in:\n{stdout}"));
        rest = &rest[at + expected.len()..];
    }
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
        "plaid:     skipped: Plaid Link runs in a browser: start it with link token",
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
