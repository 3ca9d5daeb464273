//! The `portfolio_mode`, `place_order` and `webhook` examples as a user runs them, without a database: what
//! they print, and one line on stderr with a non-zero exit for every bad input.

use serde_json::json;

use crate::example_binary::{one_line_failure, run, texts};

#[test]
fn portfolio_mode_without_a_user_id_prints_its_usage() {
    let reason = one_line_failure("portfolio_mode", &run("portfolio_mode", &[], &[], b""));
    assert!(
        reason.starts_with("usage: cargo run --example portfolio_mode"),
        "{reason}"
    );
}

#[test]
fn portfolio_mode_refuses_a_user_id_that_is_not_a_uuid() {
    let output = run("portfolio_mode", &["not-a-uuid"], &[], b"");
    let reason = one_line_failure("portfolio_mode", &output);
    assert!(
        reason.contains("\"not-a-uuid\" is not a user id"),
        "{reason}"
    );
}

#[test]
fn portfolio_mode_needs_database_url() {
    let user = uuid::Uuid::new_v4().to_string();
    let output = run("portfolio_mode", &[&user], &[], b"");
    let reason = one_line_failure("portfolio_mode", &output);
    assert_eq!(
        reason,
        "DATABASE_URL is not set: the mode is read from PostgreSQL"
    );
}

#[test]
fn place_order_on_the_embedded_default_records_an_accepted_limit_order() {
    let output = run("place_order", &["MSFT", "2", "250.5"], &[], b"");
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("store:     MemoryStore"), "{stdout}");
    assert!(
        stdout.contains("impact checked first: estimated value 501.00"),
        "{stdout}"
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("{name} in:\n{stdout}"))
            .to_owned()
    };
    assert_eq!(field("symbol "), "MSFT");
    assert_eq!(field("action "), "BUY");
    assert_eq!(field("units "), "2");
    assert_eq!(field("limit_price "), "250.50");
    assert_eq!(field("status "), "ACCEPTED");
    assert!(field("raw_order_data ").starts_with('{'));
}

#[test]
fn place_order_refuses_units_that_are_not_a_number_naming_the_field() {
    let output = run("place_order", &["AAPL", "lots"], &[], b"");
    let reason = one_line_failure("place_order", &output);
    assert!(reason.starts_with("units:"), "{reason}");
    assert_eq!(texts(&output).0, "", "nothing is placed or printed");
}

#[test]
fn place_order_refuses_units_with_more_decimals_than_an_order_holds_instead_of_rounding() {
    // Eleven decimals: one more than the `units` column (numeric(24, 10)) keeps.
    let output = run("place_order", &["AAPL", "1.00000000001"], &[], b"");
    let reason = one_line_failure("place_order", &output);
    assert!(reason.starts_with("units:"), "{reason}");
    assert!(reason.contains("1.00000000001"), "{reason}");
    assert_eq!(texts(&output).0, "", "nothing is placed or printed");
}

#[test]
fn place_order_needs_user_and_account_together() {
    let account = uuid::Uuid::new_v4().to_string();
    let output = run("place_order", &["--account", &account], &[], b"");
    let reason = one_line_failure("place_order", &output);
    assert!(
        reason.starts_with("--user and --account go together"),
        "{reason}"
    );
}

fn connection_broken() -> Vec<u8> {
    let payload = json!({
        "webhookId": uuid::Uuid::new_v4().to_string(),
        "eventType": "CONNECTION_BROKEN",
        "eventTimestamp": chrono::Utc::now().to_rfc3339(),
        "userId": uuid::Uuid::new_v4().to_string(),
        "brokerageAuthorizationId": uuid::Uuid::new_v4().to_string(),
    });
    serde_json::to_vec(&payload).unwrap()
}

#[test]
fn webhook_signed_with_the_sandbox_key_is_verified_and_acknowledged() {
    let output = run("webhook", &["--sign"], &[], &connection_broken());
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("verifying: with the sandbox's consumer key"),
        "{stdout}"
    );
    assert!(
        stdout.contains("whom this database does not know: acknowledged, nothing written"),
        "an empty MemoryStore knows no user: {stdout}"
    );
}

#[test]
fn webhook_with_a_forged_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.json");
    std::fs::write(&file, connection_broken()).unwrap();
    let output = run(
        "webhook",
        &[file.to_str().unwrap(), "--signature", "Zm9yZ2Vk"],
        &[],
        b"",
    );
    let reason = one_line_failure("webhook", &output);
    assert!(reason.contains("does not match the payload"), "{reason}");
}

#[test]
fn webhook_without_a_signature_is_refused() {
    let output = run("webhook", &[], &[], &connection_broken());
    let reason = one_line_failure("webhook", &output);
    assert!(
        reason.contains("the Signature header is missing"),
        "{reason}"
    );
}

#[test]
fn webhook_reading_a_missing_file_says_which() {
    let output = run(
        "webhook",
        &["/nonexistent/payload.json", "--sign"],
        &[],
        b"",
    );
    let reason = one_line_failure("webhook", &output);
    assert!(
        reason.starts_with("reading the payload from /nonexistent/payload.json"),
        "{reason}"
    );
}
