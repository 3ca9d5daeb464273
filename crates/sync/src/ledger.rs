//! Which webhook deliveries were applied, so a replay is acknowledged and not applied twice.
//!
//! The verifier refuses events older than `MAX_EVENT_AGE` (5 minutes), so remembering ids for twice that
//! long covers every replay the verifier would let through, in this process. Across processes the
//! repository would have to record ids (see the crate docs).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// How long an applied id is remembered.
const REMEMBER_FOR: Duration = Duration::minutes(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Being applied now: a concurrent duplicate is a replay.
    InFlight,
    /// Applied; the event's time.
    Applied(DateTime<Utc>),
}

/// Applied (and in-flight) webhook ids.
#[derive(Debug, Default)]
pub(crate) struct WebhookLedger {
    seen: Mutex<HashMap<String, State>>,
}

impl WebhookLedger {
    /// Claims `key`: true the first time, false for a replay or a duplicate still being applied.
    pub(crate) fn begin(&self, key: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let horizon = Utc::now() - REMEMBER_FOR;
        seen.retain(|_, state| !matches!(state, State::Applied(at) if *at < horizon));
        if seen.contains_key(key) {
            return false;
        }
        seen.insert(key.to_owned(), State::InFlight);
        true
    }

    /// Marks `key` applied.
    pub(crate) fn finish(&self, key: &str, at: DateTime<Utc>) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.insert(key.to_owned(), State::Applied(at));
    }

    /// Forgets `key`, so the provider's retry of a delivery that failed is applied.
    pub(crate) fn abandon(&self, key: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_claimed_once_until_abandoned() {
        let ledger = WebhookLedger::default();
        assert!(ledger.begin("id:1"));
        assert!(!ledger.begin("id:1"), "in flight");
        ledger.abandon("id:1");
        assert!(ledger.begin("id:1"));
        ledger.finish("id:1", Utc::now());
        assert!(!ledger.begin("id:1"), "applied");
    }

    #[test]
    fn an_old_applied_key_is_forgotten() {
        let ledger = WebhookLedger::default();
        assert!(ledger.begin("id:old"));
        ledger.finish("id:old", Utc::now() - Duration::minutes(11));
        assert!(ledger.begin("id:old"));
    }
}
