//! SnapTrade request signing: the canonical JSON of `{content, path, query}`, HMAC-SHA256 with the consumer
//! key, base64 — what every SnapTrade call costs before it leaves the process. Target: ≤ 5 µs for a typical
//! 200-byte body.
//!
//! ```sh
//! cargo bench --bench signing
//! ```

// criterion_group! defines an undocumented `pub fn benches`; nothing outside this binary can see it.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use serde_json::{Value, json};
use tributary::provider::snaptrade::signing::request_signature;

/// A place-order body as the client sends it: about 200 bytes of JSON.
fn order_body() -> Value {
    json!({
        "account_id": "917c8734-8470-4a3e-a18f-57c3f2ee6631",
        "action": "BUY",
        "order_type": "Limit",
        "price": 150.5,
        "time_in_force": "Day",
        "units": 10,
        "universal_symbol_id": "2bcd7cc3-e922-4976-bce1-9858296801c3",
        "client_order_id": "b6d1f0c4"
    })
}

const PATH: &str = "/api/v1/trade/place";
const QUERY: &str = "clientId=TRIBUTARY-BENCH&timestamp=1764000000&userId=5f0c2a4e-0e9a-4bb0-9a55-3d8d7a0f6b1e\
                     &userSecret=8a1f0b2c3d4e5f60718293a4b5c6d7e8";

fn signing(c: &mut Criterion) {
    let key = SecretString::from("sandbox-consumer-key-0123456789abcdef0123456789abcdef");
    let body = order_body();
    let bytes = body.to_string().len();
    assert!(
        (180..=260).contains(&bytes),
        "the body is about 200 bytes, not {bytes}"
    );
    let mut group = c.benchmark_group("snaptrade_signing");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("request_with_200_byte_body", |b| {
        b.iter(|| {
            request_signature(
                black_box(&key),
                black_box(PATH),
                black_box(QUERY),
                Some(black_box(&body)),
            )
        })
    });
    group.bench_function("request_without_body", |b| {
        b.iter(|| {
            request_signature(
                black_box(&key),
                black_box("/accounts"),
                black_box(QUERY),
                None,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
