//! Running an example's binary from a test: `cargo test` builds the examples beside the test binaries.

use std::path::PathBuf;
use std::process::{Command, Output};

/// What the examples read from the environment: cleared, so a test sees only what it sets.
const READ_BY_EXAMPLES: &[&str] = &[
    "DATABASE_URL",
    "TRIBUTARY_SECRET_KEY",
    "TRIBUTARY_SECRET_KEY_ID",
    "TRIBUTARY_SECRET_KEYS_PREVIOUS",
    "SNAPTRADE_CLIENT_ID",
    "SNAPTRADE_CONSUMER_KEY",
    "SNAPTRADE_BASE_URL",
    "PLAID_CLIENT_ID",
    "PLAID_SECRET",
    "PLAID_ENV",
    "PLAID_BASE_URL",
    "ALPACA_BROKER_API_KEY",
    "ALPACA_BROKER_API_SECRET",
    "ALPACA_BROKER_BASE_URL",
    "ALPACA_ACCOUNT_ID",
    "FF_BROKERAGE_MODE",
    "FF_AGGREGATION_MODE",
    "FF_PLAID_INVESTMENT_SYNC",
    "FF_SNAPTRADE_INVESTMENT_SYNC",
];

/// target/<profile>/examples/<name>, next to target/<profile>/deps/<this test>.
fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a target/<profile>/deps layout");
    profile_dir.join("examples").join(name)
}

/// Runs example `name` with `args`, `stdin` and only the variables in `env` among those the examples read.
pub fn run(name: &str, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    use std::io::Write as _;
    let mut command = Command::new(path(name));
    command.args(args);
    for variable in READ_BY_EXAMPLES {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!(
            "the {name} example binary ({e}): a plain `cargo test` builds it; with `--test` alone, run \
             `cargo build --example {name}` first"
        )
    });
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin)
        .expect("writing the example's stdin");
    child.wait_with_output().expect("the example runs")
}

/// The output's stdout and stderr as text.
pub fn texts(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts the example failed as every example must: a non-zero exit and exactly one line on stderr,
/// `<name>: <reason>`. Returns the reason.
pub fn one_line_failure(name: &str, output: &Output) -> String {
    let (_, stderr) = texts(output);
    assert!(
        !output.status.success(),
        "{name} succeeded; stderr: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let prefix = format!("{name}: ");
    stderr
        .trim_end()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("stderr starts with {prefix:?}: {stderr:?}"))
        .to_owned()
}

/// The URL of the database `pool` is connected to, on the server `DATABASE_URL` names.
pub async fn url_of(pool: &sqlx::PgPool) -> String {
    let database: String = sqlx::query_scalar("select current_database()::text")
        .fetch_one(pool)
        .await
        .expect("the database's name");
    let base = std::env::var("DATABASE_URL").expect("require_database! checked it");
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL ends in /<database>");
    format!("{server}/{database}")
}

/// A 32-byte key in base64, as `TRIBUTARY_SECRET_KEY` holds one (for tests only).
pub const SECRET_KEY: &str = "dHJpYnV0YXJ5LXRlc3Qta2V5LTMyLWJ5dGVzLWxvbmc=";
