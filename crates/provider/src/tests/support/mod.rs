//! Test support shared by the provider's unit tests: the spec-example fixtures, exact decimals, a tracing
//! subscriber that captures every log line, and a proxy that drops connections.
//!
//! (`tests/it/support/` holds what the integration tests of the public surface share.)

#![allow(dead_code)] // each feature set uses its own part of this module

use std::fmt::Debug;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The text of `tests/fixtures/{provider}/{name}.json`, an example taken from the provider's spec.
pub fn fixture_text(provider: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/{provider}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The fixture parsed as JSON, to serve from wiremock or to alter first.
pub fn fixture(provider: &str, name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture_text(provider, name)).expect("fixtures are JSON")
}

/// A decimal from its exact text.
pub fn dec(text: &str) -> rust_decimal::Decimal {
    rust_decimal::Decimal::from_str(text).expect("a decimal literal")
}

/// Everything logged on one test's thread: every span (with its fields, including ones recorded later, such
/// as `status` and `latency_ms`) and every event (with its fields and message) in one string, so a test can
/// search everything a deployment would log.
///
/// One global subscriber routes each span and event to the capture of the thread it happens on. A global one,
/// not `tracing::subscriber::set_default`: tracing caches per call site whether anyone listens, and a call site
/// first reached by another test's thread while no scoped subscriber was registered stays cached as "never",
/// silently dropping this test's spans. A global subscriber that listens to everything leaves nothing to race.
#[derive(Clone, Default)]
pub struct LogCapture {
    text: Arc<Mutex<String>>,
}

/// Stops the capture of this thread when dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<Arc<Mutex<String>>>> = const { std::cell::RefCell::new(None) };
}

impl LogCapture {
    /// Captures everything logged on this thread until the guard is dropped. Tests using it run on the
    /// current-thread runtime (`#[tokio::test]`'s default), so the client's spans land here.
    pub fn start() -> (Self, CaptureGuard) {
        static ROUTER: std::sync::Once = std::sync::Once::new();
        ROUTER.call_once(|| {
            tracing::subscriber::set_global_default(Router::default())
                .expect("no other global subscriber in the provider tests");
        });
        let capture = Self::default();
        CURRENT.with(|current| *current.borrow_mut() = Some(Arc::clone(&capture.text)));
        (capture, CaptureGuard(()))
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }
}

/// Appends to the capture of the calling thread, if it has one.
fn write_here(write: impl FnOnce(&Mutex<String>)) {
    CURRENT.with(|current| {
        if let Some(text) = current.borrow().as_ref() {
            write(text);
        }
    });
}

struct FieldWriter<'a>(&'a Mutex<String>);

impl tracing::field::Visit for FieldWriter<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        self.0
            .lock()
            .unwrap()
            .push_str(&format!("{}={:?} ", field.name(), value));
    }
}

/// The global subscriber behind [`LogCapture`].
#[derive(Default)]
struct Router {
    next_id: AtomicU64,
}

impl tracing::Subscriber for Router {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        write_here(|text| {
            text.lock()
                .unwrap()
                .push_str(&format!("\nspan {} ", span.metadata().name()));
            span.record(&mut FieldWriter(text));
        });
        tracing::span::Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        write_here(|text| values.record(&mut FieldWriter(text)));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        write_here(|text| {
            text.lock().unwrap().push_str("\nevent ");
            event.record(&mut FieldWriter(text));
        });
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Fails naming the secret's label when any text contains it.
pub fn assert_no_secret(secrets: &[(&str, &str)], texts: &[String]) {
    for text in texts {
        for (label, secret) in secrets {
            assert!(!text.contains(secret), "the {label} leaked: {text}");
        }
    }
}

/// A provider configuration read from the environment by a test against the real provider. A missing or
/// malformed variable fails the test with the config error, which names the variable: such a test never
/// passes without having run.
pub fn configured<T>(config: Result<T, crate::ProviderError>) -> T {
    config.unwrap_or_else(|error| {
        panic!("{error}: set it to run this test against the real provider")
    })
}

/// A variable only a test against the real provider needs (an account id to read); unset or blank fails
/// the test naming it.
pub fn required_variable(name: &str) -> String {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| {
            panic!("{name} is not set: set it to run this test against the real provider")
        })
}

#[cfg(feature = "alpaca")]
pub mod alpaca;
pub mod dropping_proxy;
#[cfg(any(feature = "plaid", feature = "snaptrade"))]
pub mod transactions;
