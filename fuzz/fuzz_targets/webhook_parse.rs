//! SnapTrade webhook verification and parsing on arbitrary bytes: never a panic, whatever arrives.
//!
//! Every input is delivered twice: once as a body signed with the right key, so the fuzzer explores the
//! event parser behind the signature check (a plain JSON webhook is a useful seed, see `fuzz/seeds`), and
//! once as `signature\nbody`, as an attacker would send it.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use tributary_provider::snaptrade::signing::{canonical_json, sign};
use tributary_provider::snaptrade::webhook::verify_webhook_at;

const CONSUMER_KEY: &str = "fuzz-consumer-key";

/// 2026-11-18T11:06:40Z, the clock the seeds' `eventTimestamp`s are fresh against.
const NOW: i64 = 1_795_000_000;

fuzz_target!(|data: &[u8]| {
    let key = SecretString::from(CONSUMER_KEY);
    let now = DateTime::<Utc>::from_timestamp(NOW, 0).expect("a valid instant");

    // Signed as SnapTrade signs: over the canonical form of the parsed payload.
    let signature = serde_json::from_slice(data)
        .ok()
        .map(|payload| sign(&key, &canonical_json(&payload)));
    let _ = verify_webhook_at(&key, signature.as_deref(), data, now);

    let split = data
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(data.len());
    let (signature, body) = data.split_at(split);
    let signature = String::from_utf8_lossy(signature);
    let _ = verify_webhook_at(
        &key,
        Some(&signature),
        body.get(1..).unwrap_or_default(),
        now,
    );
});
