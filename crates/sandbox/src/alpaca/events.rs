//! The trade event log behind `GET /v2/events/trades`: every change of a sandbox order (placed, filled,
//! canceled) is recorded as a `TradeUpdateEventV2` with a ULID `event_id`, "lexically sortable, monotonically
//! increasing" (alpaca-broker-api.yaml, `TradeUpdateEventV2.event_id`), and pushed to the open streams.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::state::{AlpacaState, order_json};

/// One recorded event: its id and its JSON (`data:` of one server-sent event).
#[derive(Debug, Clone)]
pub(crate) struct TradeEventRecord {
    pub(crate) id: String,
    pub(crate) data: Value,
}

/// The log and the clock its ids come from.
#[derive(Debug, Default)]
pub(crate) struct TradeEventLog {
    pub(crate) events: Vec<TradeEventRecord>,
    /// The last id's value: a new id is past it even within one millisecond.
    last: u128,
    /// What the next connection does (the knobs).
    pub(crate) drop_after: Option<usize>,
}

impl TradeEventLog {
    /// A fresh ULID, past every earlier one: 48 bits of milliseconds, then 80 bits counting within them.
    pub(crate) fn next_id(&mut self, now: DateTime<Utc>) -> String {
        let millis = u128::try_from(now.timestamp_millis()).unwrap_or(0) << 80;
        self.last = if millis > self.last {
            millis
        } else {
            self.last + 1
        };
        ulid_text(self.last)
    }

    /// Records an event with `data`, giving it its id.
    pub(crate) fn push(&mut self, now: DateTime<Utc>, mut data: Value) -> String {
        let id = self.next_id(now);
        data["event_id"] = Value::String(id.clone());
        self.events.push(TradeEventRecord {
            id: id.clone(),
            data,
        });
        id
    }
}

/// Crockford base32, 26 characters, most significant first (the ULID text form).
fn ulid_text(value: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26)
        .rev()
        .map(|digit| ALPHABET[((value >> (digit * 5)) & 0x1f) as usize] as char)
        .collect()
}

impl AlpacaState {
    /// Records that order `index` changed as `event` says (`new`, `fill`, `canceled`), with the order as it now
    /// stands, shaped as the spec's `TradeUpdateEventV2New` example.
    pub(crate) fn record_trade_event(&mut self, index: usize, event: &str) {
        let now = Utc::now();
        let order = &self.orders[index];
        let mut data = json!({
            "account_id": order.account,
            "at": now.to_rfc3339_opts(SecondsFormat::Micros, true),
            "event": event,
            "order": order_json(self, order),
            "timestamp": now.to_rfc3339_opts(SecondsFormat::Nanos, true),
        });
        // `price`, `qty`, `position_qty`: "Only present when event is either `fill` or `partial_fill`";
        // `execution_id` is the fill's execution.
        if event == "fill" {
            let position = order
                .asset()
                .and_then(|asset| {
                    self.account(order.account).and_then(|account| {
                        account
                            .positions
                            .iter()
                            .find(|p| p.asset == asset)
                            .map(|p| p.qty)
                    })
                })
                .unwrap_or(Decimal::ZERO);
            data["execution_id"] = json!(Uuid::new_v4());
            data["price"] = json!(
                order
                    .filled_avg_price
                    .map(|price| price.normalize().to_string())
            );
            data["qty"] = json!(order.filled_qty.normalize().to_string());
            data["position_qty"] = json!(position.normalize().to_string());
        }
        self.trade_events.push(now, data);
    }

    /// An event whose order does not read (a quantity that is no number), for the "malformed event" knob: it
    /// has an id and takes its place in the log like any other.
    pub(crate) fn record_malformed_trade_event(&mut self, account: Uuid) -> String {
        let now = Utc::now();
        let data = json!({
            "account_id": account,
            "at": now.to_rfc3339_opts(SecondsFormat::Micros, true),
            "event": "fill",
            "order": {"id": Uuid::new_v4(), "symbol": "AAPL", "qty": "a lot", "status": "filled"},
        });
        self.trade_events.push(now, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ulids_that_sort_in_the_order_they_were_issued() {
        let mut log = TradeEventLog::default();
        let now = Utc::now();
        let ids: Vec<String> = (0..100).map(|_| log.next_id(now)).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            ids.iter()
                .all(|id| id.len() == 26 && id.as_bytes()[0] <= b'7')
        );
        let later = log.next_id(now + chrono::Duration::milliseconds(5));
        assert!(later > ids[99]);
    }
}
