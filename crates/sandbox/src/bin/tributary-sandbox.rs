//! Serves the three sandboxes on 127.0.0.1 for a program outside Rust (the official SDKs' model check in
//! `scripts/sdk-models/`), until its standard input closes.
//!
//! ```sh
//! cargo run -q -p tributary-sandbox
//! ```
//!
//! Once every server listens it prints one line of JSON to stdout: each provider's base URL and the fixed
//! sandbox credentials it accepts (the public constants of `tributary_sandbox`, not secrets of anyone), e.g.
//! `{"snaptrade":{"base_url":"http://127.0.0.1:41234","client_id":…,"consumer_key":…},"plaid":{…},"alpaca":{…}}`.
//! It then serves until stdin reaches its end — the caller closes the pipe, or presses Ctrl-D — so a driver
//! that dies never leaves a server behind.

use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::json;
use tributary_sandbox::Sandbox;

#[tokio::main]
async fn main() -> ExitCode {
    let sandbox = match Sandbox::try_start().await {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("tributary-sandbox: cannot listen on 127.0.0.1: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (snaptrade, plaid, alpaca) = (sandbox.snaptrade(), sandbox.plaid(), sandbox.alpaca());
    let ready = json!({
        "snaptrade": {
            "base_url": snaptrade.base_url(),
            "client_id": snaptrade.client_id(),
            "consumer_key": snaptrade.consumer_key(),
        },
        "plaid": {
            "base_url": plaid.base_url(),
            "client_id": plaid.client_id(),
            "secret": plaid.secret(),
        },
        "alpaca": {
            "base_url": alpaca.base_url(),
            "key_id": alpaca.key_id(),
            "secret": alpaca.secret(),
            "default_account_id": alpaca.default_account_id(),
        },
    });
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{ready}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        // Nobody reads the addresses: there is no one to serve.
        return ExitCode::FAILURE;
    }
    drop(stdout);
    // Reads (and drops) whatever arrives until the end of input; the servers run on the runtime meanwhile.
    let closed = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(read) if read > 0) {}
    });
    let _ = closed.await;
    drop(sandbox);
    ExitCode::SUCCESS
}
