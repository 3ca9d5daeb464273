//! Alpaca's trade event stream (`GET /v2/events/trades`, `subscribeToTradeV2SSE` in alpaca-broker-api.yaml):
//! server-sent events, one `TradeUpdateEventV2` per order change, read with `eventsource-stream` over the
//! response's chunks.
//!
//! The spec: "Historical events are streamed immediately if queried, and updates are pushed as events occur";
//! "if `since` or `since_id` not specified this will not return any historic data". So a consumer resumes from
//! the last event id it applied ([`AlpacaClient::trade_events`] with `since_id`), and an event at or before that
//! id, should the server send it again, is skipped here. Event ids are ULIDs, "lexically sortable,
//! monotonically increasing", so they compare as text.
//!
//! One malformed event never sinks the rest: an event whose JSON or order does not read is a
//! [`TradeStreamItem::Refused`] naming the field, and the stream goes on. A broken connection, or an event
//! larger than the client's response cap, ends the stream with an error; the caller reconnects from its last id.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt, stream};
use reqwest::Method;
use reqwest::header::ACCEPT;
use rust_decimal::Decimal;
use tributary_domain::{BrokerageOrderId, NewOrder, Provider, ProviderAccountId};

use super::{AlpacaClient, convert, into_error, wire};
use crate::capability::AccountRef;
use crate::error::ProviderError;
use crate::http::{Endpoint, Failure, StatusFailure, retry_after, transport_error};

/// The operation, as logs and errors name it.
const ENDPOINT: &str = "subscribeToTradeV2SSE";

/// How long one connection to the stream is kept before the stream ends and the caller reconnects from its
/// last id. The client's request timeout is for answers, not for a stream that never ends; this bounds a
/// connection that went silent without closing (TCP keepalive catches a dead peer sooner).
pub const TRADE_EVENTS_CONNECTION_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// An Alpaca trade event id: a ULID (26 characters of Crockford base32), kept in capitals so ids compare in
/// the order Alpaca issued them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TradeEventId(String);

impl TradeEventId {
    /// Reads an event id (`TradeUpdateEventV2.event_id`, `format: ulid`).
    ///
    /// # Errors
    /// [`ProviderError::InvalidInput`] (`"event_id"`) when it is not a ULID.
    pub fn parse(text: &str) -> Result<Self, ProviderError> {
        let id = text.trim().to_ascii_uppercase();
        let crockford =
            |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c));
        // A ULID's first character is at most 7: 26 base-32 digits hold 130 bits, the ULID 128.
        if id.len() != 26 || !id.chars().all(crockford) || id.as_bytes()[0] > b'7' {
            return Err(ProviderError::invalid_input(
                "event_id",
                "is not a ULID (26 characters of Crockford base32)",
            ));
        }
        Ok(Self(id))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TradeEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What happened to the order (`TradeUpdateEventType`): an open vocabulary, a new kind is data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TradeEventKind {
    /// "Sent when an order is received and accepted by Alpaca".
    Accepted,
    /// Routed to the exchanges, not yet accepted for execution.
    PendingNew,
    /// "Sent when an order has been routed to exchanges for execution".
    New,
    /// "Sent when your order has been completely filled".
    Fill,
    /// Part of the remaining quantity filled.
    PartialFill,
    /// A requested cancellation was processed.
    Canceled,
    /// The order reached the end of its time in force.
    Expired,
    /// Done for the day; no updates until the next trading day.
    DoneForDay,
    /// A requested replacement was processed.
    Replaced,
    /// The order was rejected.
    Rejected,
    /// A multi-leg order's secondary order, waiting to be triggered.
    Held,
    /// Stopped: a trade is guaranteed but has not occurred.
    Stopped,
    /// Awaiting cancellation.
    PendingCancel,
    /// Awaiting replacement.
    PendingReplace,
    /// Completed for the day, settlement calculations pending.
    Calculated,
    /// Suspended, not eligible for trading.
    Suspended,
    /// A replacement was rejected.
    OrderReplaceRejected,
    /// A cancellation was rejected.
    OrderCancelRejected,
    /// A reported execution was canceled by the exchange.
    TradeBust,
    /// A reported execution was corrected.
    TradeCorrect,
    /// The order was modified by hand.
    Restated,
    /// A kind this version does not know, as Alpaca spelled it.
    Other(String),
}

impl TradeEventKind {
    /// Reads Alpaca's word for it.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "accepted" => Self::Accepted,
            "pending_new" => Self::PendingNew,
            "new" => Self::New,
            "fill" => Self::Fill,
            "partial_fill" => Self::PartialFill,
            "canceled" => Self::Canceled,
            "expired" => Self::Expired,
            "done_for_day" => Self::DoneForDay,
            "replaced" => Self::Replaced,
            "rejected" => Self::Rejected,
            "held" => Self::Held,
            "stopped" => Self::Stopped,
            "pending_cancel" => Self::PendingCancel,
            "pending_replace" => Self::PendingReplace,
            "calculated" => Self::Calculated,
            "suspended" => Self::Suspended,
            "order_replace_rejected" => Self::OrderReplaceRejected,
            "order_cancel_rejected" => Self::OrderCancelRejected,
            "trade_bust" => Self::TradeBust,
            "trade_correct" => Self::TradeCorrect,
            "restated" => Self::Restated,
            _ => Self::Other(text.trim().to_owned()),
        }
    }
}

/// One trade event: what happened, to which order of which customer account, and the order as it now stands.
#[derive(Debug, Clone)]
pub struct TradeEvent {
    /// The event's id, the position to resume from.
    pub id: TradeEventId,
    /// What happened.
    pub kind: TradeEventKind,
    /// The customer account the order belongs to.
    pub account: ProviderAccountId,
    /// Alpaca's order id.
    pub order_id: BrokerageOrderId,
    /// When the event happened.
    pub at: DateTime<Utc>,
    /// `fill`/`partial_fill`: the price of this fill.
    pub price: Option<Decimal>,
    /// `fill`/`partial_fill`/`trade_bust`/`trade_correct`: the shares of this execution.
    pub qty: Option<Decimal>,
    order: wire::Order,
    raw_order: serde_json::Value,
}

impl TradeEvent {
    /// The order as the rows Tributary records for `account` (the stored account the event's `account` is):
    /// the order, then each of its legs, through the same conversion as every other Alpaca order, Alpaca's
    /// JSON kept as `raw_order_data`.
    ///
    /// # Errors
    /// [`ProviderError::InvalidInput`] when `account` is not the event's account;
    /// [`ProviderError::InvalidData`] naming the field when the order cannot be recorded (checked on arrival, so
    /// an event that reached the caller converts).
    pub fn order_rows(&self, account: &AccountRef) -> Result<Vec<NewOrder>, ProviderError> {
        if account.provider_account_id != self.account {
            return Err(ProviderError::invalid_input(
                "account",
                "is not the account the event names",
            ));
        }
        order_rows(account, &self.order, &self.raw_order)
    }
}

fn order_rows(
    account: &AccountRef,
    order: &wire::Order,
    raw: &serde_json::Value,
) -> Result<Vec<NewOrder>, ProviderError> {
    let mut rows = vec![convert::row_of(account, order, raw, None)?];
    for (index, leg) in order.legs.iter().flatten().enumerate() {
        rows.push(convert::row_of(
            account,
            leg,
            &raw["legs"][index],
            Some(order),
        )?);
    }
    Ok(rows)
}

/// An event refused on arrival: what could be read of it and why it was refused. The stream goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedTradeEvent {
    /// Its id, when that much could be read: a consumer moves past it.
    pub id: Option<TradeEventId>,
    /// The field that could not be read (`*` when the event is not JSON at all).
    pub field: String,
    /// Why.
    pub reason: String,
}

/// One item of the trade event stream.
#[derive(Debug, Clone)]
pub enum TradeStreamItem {
    /// An event, read and checked.
    Event(Box<TradeEvent>),
    /// An event that does not read; reported, the stream goes on.
    Refused(RefusedTradeEvent),
}

/// The trade event stream: items in Alpaca's order until the connection ends. An `Err` item (the connection
/// broke, the stream did not parse, an event passed the size cap) is the last one.
pub type TradeEventStream =
    Pin<Box<dyn Stream<Item = Result<TradeStreamItem, ProviderError>> + Send>>;

impl AlpacaClient {
    /// Connects to the trade event stream (`GET /v2/events/trades`) and streams its events: those after
    /// `since_id` first (the spec: "Historical events are streamed immediately if queried"), then live ones;
    /// without `since_id`, live ones only. The connection is kept for at most
    /// [`TRADE_EVENTS_CONNECTION_LIFETIME`]; then the stream ends and the caller reconnects from its last id.
    ///
    /// # Errors
    /// The call's, when Alpaca refuses the connection (401, 403, 429, 5xx…) or cannot be reached.
    pub async fn trade_events(
        &self,
        since_id: Option<&TradeEventId>,
    ) -> Result<TradeEventStream, ProviderError> {
        let endpoint = Endpoint::new(Provider::Alpaca, ENDPOINT);
        let mut request = self
            .request(Method::GET, "/v2/events/trades")
            .header(ACCEPT, "text/event-stream")
            .timeout(TRADE_EVENTS_CONNECTION_LIFETIME);
        if let Some(since) = since_id {
            request = request.query(&[("since_id", since.as_str())]);
        }
        let response = request
            .send()
            .await
            .map_err(|error| transport_error(endpoint, &error))?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = read_capped(response, self.config.max_response_bytes).await;
            let failure = Failure::Status(StatusFailure {
                status,
                retry_after: retry_after(status, &headers),
                request_id: None,
                body,
                headers,
            });
            return Err(into_error(ENDPOINT, failure));
        }
        let cap = self.config.max_response_bytes;
        let since = since_id.cloned();
        let events = capped_chunks(response, cap).eventsource();
        let items = events
            .map(move |event| match event {
                Ok(event) => Some(Ok(read_event(&event.data))),
                Err(EventStreamError::Transport(error)) => Some(Err(error)),
                Err(error) => Some(Err(ProviderError::Decode {
                    provider: Provider::Alpaca,
                    endpoint: ENDPOINT,
                    message: format!("the event stream does not parse: {error}"),
                    raw_body: String::new(),
                })),
            })
            // The first error ends the stream: what follows a broken frame cannot be trusted.
            .scan(false, |ended, item| {
                if *ended {
                    return std::future::ready(None);
                }
                *ended = matches!(item, Some(Err(_)));
                std::future::ready(item)
            })
            .filter(move |item| std::future::ready(!already_seen(item, since.as_ref())));
        Ok(Box::pin(items))
    }
}

/// An event at or before `since`: a server that resends it must not have it applied twice.
fn already_seen(
    item: &Result<TradeStreamItem, ProviderError>,
    since: Option<&TradeEventId>,
) -> bool {
    let Some(since) = since else { return false };
    let id = match item {
        Ok(TradeStreamItem::Event(event)) => Some(&event.id),
        Ok(TradeStreamItem::Refused(refused)) => refused.id.as_ref(),
        Err(_) => None,
    };
    id.is_some_and(|id| id <= since)
}

/// Reads one event's `data`; what does not read is refused with its id when the id reads.
fn read_event(data: &str) -> TradeStreamItem {
    let refused = |id: Option<TradeEventId>, field: String, reason: String| {
        TradeStreamItem::Refused(RefusedTradeEvent { id, field, reason })
    };
    let json: serde_json::Value = match serde_json::from_str(data) {
        Ok(json) => json,
        Err(error) => return refused(None, "*".to_owned(), format!("not JSON: {error}")),
    };
    let id = match json["event_id"].as_str().map(TradeEventId::parse) {
        Some(Ok(id)) => id,
        Some(Err(error)) => return refused(None, "event_id".to_owned(), error.to_string()),
        None => return refused(None, "event_id".to_owned(), "is missing".to_owned()),
    };
    let event = match serde_json::from_value::<wire::TradeUpdateEvent>(json) {
        Ok(event) => event,
        Err(error) => {
            return refused(Some(id), convert::serde_field(&error), error.to_string());
        }
    };
    match checked(id.clone(), event) {
        Ok(event) => TradeStreamItem::Event(Box::new(event)),
        Err(ProviderError::InvalidData { field, reason, .. }) => refused(Some(id), field, reason),
        Err(error) => refused(Some(id), "*".to_owned(), error.to_string()),
    }
}

/// The event, its order read and converted once, so an event that reaches the caller can be recorded.
fn checked(id: TradeEventId, event: wire::TradeUpdateEvent) -> Result<TradeEvent, ProviderError> {
    let invalid = |field: &str| {
        let field = field.to_owned();
        move |error: tributary_domain::DomainError| {
            ProviderError::invalid_data(Provider::Alpaca, field, error)
        }
    };
    let account =
        ProviderAccountId::parse(&event.account_id.to_string()).map_err(invalid("account_id"))?;
    let order = serde_json::from_value::<wire::Order>(event.order.clone()).map_err(|error| {
        ProviderError::invalid_data(
            Provider::Alpaca,
            format!("order.{}", convert::serde_field(&error)),
            error,
        )
    })?;
    let order_id = BrokerageOrderId::parse(&order.id.to_string()).map_err(invalid("order.id"))?;
    // The conversion's owner is only a placeholder here: the rows are made again for the stored account.
    let probe = AccountRef {
        user_id: tributary_domain::UserId::generate(),
        account_id: tributary_domain::AccountId::generate(),
        provider_account_id: account.clone(),
    };
    order_rows(&probe, &order, &event.order).map_err(|error| match error {
        ProviderError::InvalidData { field, reason, .. } => {
            ProviderError::invalid_data(Provider::Alpaca, format!("order.{field}"), reason)
        }
        other => other,
    })?;
    Ok(TradeEvent {
        id,
        kind: TradeEventKind::parse(&event.event),
        account,
        order_id,
        at: event.at,
        price: event.price,
        qty: event.qty,
        order,
        raw_order: event.order,
    })
}

/// The response's chunks, ended with an error once more than `cap` bytes arrive without an event boundary (a
/// blank line): an event may be as large as an answer, no larger, so a server that never ends its event cannot
/// grow our memory without bound.
///
/// Also ended, after the bytes before it, by Alpaca's slow-reader comment (the spec: "The server sends a comment
/// when the client is not consuming messages fast enough. Example: `: you are reading too slowly, dropped 10000
/// messages`"): events are missing from this connection, and a new one from the last applied id reads them as
/// history. The SSE parser drops comments, so they are looked for here.
fn capped_chunks(
    response: reqwest::Response,
    cap: usize,
) -> impl Stream<Item = Result<Vec<u8>, ProviderError>> + Send {
    struct State {
        response: Option<reqwest::Response>,
        pending: usize,
        last: u8,
        cap: usize,
        /// The start of the current line (enough to tell a slow-reader comment).
        line: Vec<u8>,
        /// A slow-reader comment seen: the error that ends the stream next.
        gap: Option<String>,
    }
    const LINE_PREFIX: usize = 120;
    let state = State {
        response: Some(response),
        pending: 0,
        last: 0,
        cap,
        line: Vec::new(),
        gap: None,
    };
    stream::unfold(state, |mut state| async move {
        if let Some(comment) = state.gap.take() {
            state.response = None;
            let error = ProviderError::Transport {
                provider: Provider::Alpaca,
                endpoint: ENDPOINT,
                message: format!("Alpaca dropped events on this connection ({comment})"),
            };
            return Some((Err(error), state));
        }
        let response = state.response.as_mut()?;
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let mut keep = chunk.len();
                let mut line_start = 0;
                for (index, &byte) in chunk.iter().enumerate() {
                    // `\n\n` ends an event (`\r\n\r\n` too: its `\r` resets nothing, its second `\n` follows one).
                    if byte == b'\n' && state.last == b'\n' {
                        state.pending = 0;
                    } else if byte != b'\r' {
                        state.pending += 1;
                    }
                    if byte != b'\r' {
                        state.last = byte;
                    }
                    if byte == b'\n' || byte == b'\r' {
                        if let Some(comment) = slow_reader_comment(&state.line) {
                            // The bytes before the comment's line are passed on; the rest is not read.
                            keep = line_start;
                            state.gap = Some(comment);
                            break;
                        }
                        state.line.clear();
                        line_start = index + 1;
                    } else if state.line.len() < LINE_PREFIX {
                        state.line.push(byte);
                    }
                }
                if state.pending > state.cap && state.gap.is_none() {
                    state.response = None;
                    let error = ProviderError::ResponseTooLarge {
                        provider: Provider::Alpaca,
                        endpoint: ENDPOINT,
                        limit: state.cap,
                    };
                    return Some((Err(error), state));
                }
                Some((Ok(chunk[..keep].to_vec()), state))
            }
            Ok(None) => None,
            Err(error) => {
                state.response = None;
                let endpoint = Endpoint::new(Provider::Alpaca, ENDPOINT);
                Some((Err(transport_error(endpoint, &error)), state))
            }
        }
    })
}

/// The comment on `line` if it is Alpaca's slow-reader notice (`: you are reading too slowly, dropped N
/// messages`).
fn slow_reader_comment(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let comment = text.strip_prefix(':')?.trim();
    comment.contains("dropped").then(|| comment.to_owned())
}

/// An error answer's body, cut at `cap` (it is only read for Alpaca's message).
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk[..chunk.len().min(cap.saturating_sub(body.len()))]);
        if body.len() >= cap {
            break;
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_a_ulid_kept_in_capitals() {
        let id = TradeEventId::parse("01g112ntt0xaxkdzk3aabk68th").unwrap();
        assert_eq!(id.as_str(), "01G112NTT0XAXKDZK3AABK68TH");
        for bad in [
            "",
            "01G112NTT0XAXKDZK3AABK68T",
            "01G112NTT0XAXKDZK3AABK68TU",
            "81G112NTT0XAXKDZK3AABK68TH",
        ] {
            assert!(TradeEventId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_ids_compare_in_the_order_alpaca_issued_them() {
        let earlier = TradeEventId::parse("01G112NTT0XAXKDZK3AABK68TH").unwrap();
        let later = TradeEventId::parse("01G112NTT1000000000000000Z").unwrap();
        assert!(earlier < later);
    }

    #[test]
    fn an_unknown_event_kind_is_kept_as_data() {
        assert_eq!(
            TradeEventKind::parse("partial_fill"),
            TradeEventKind::PartialFill
        );
        assert_eq!(
            TradeEventKind::parse("margin_call"),
            TradeEventKind::Other("margin_call".to_owned())
        );
    }
}
