//! `GET /v2/events/trades` (`subscribeToTradeV2SSE`): the trade event log as server-sent events, history after
//! `since_id` (or from `since`) first, then live events as orders change, until `until`/`until_id` is reached or
//! the client goes away.

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use futures_util::stream;
use tokio::sync::mpsc;

use super::{Ctx, Params, error};
use crate::alpaca::events::TradeEventRecord;
use crate::knobs::lock;
use crate::reply::ApiError;

/// The query, checked as the spec's "Query Params Rules" say.
struct Window {
    since_id: Option<String>,
    until_id: Option<String>,
    since: Option<NaiveDate>,
    until: Option<NaiveDate>,
}

fn bad_request(message: &str) -> ApiError {
    error(400, 40_010_000, message)
}

/// "`since` required if `until` specified; `since_id` required if `until_id` specified; `since` and `since_id`
/// can't be used at the same time". The spec gives no status for a broken rule; the strictest is a 400, as for
/// a malformed id (`format: ulid`) or date (`format: date`, "Format: YYYY-MM-DD").
fn window(Query(params): Params) -> Result<Window, ApiError> {
    let ulid = |name: &str| -> Result<Option<String>, ApiError> {
        params
            .get(name)
            .map(|id| {
                let crockford =
                    |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c));
                if id.len() == 26 && id.chars().all(crockford) && id.as_bytes()[0] <= b'7' {
                    Ok(id.clone())
                } else {
                    Err(bad_request(&format!("invalid {name}: not a ULID")))
                }
            })
            .transpose()
    };
    let date = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
        params
            .get(name)
            .map(|text| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| bad_request(&format!("invalid {name}: expected YYYY-MM-DD")))
            })
            .transpose()
    };
    let window = Window {
        since_id: ulid("since_id")?,
        until_id: ulid("until_id")?,
        since: date("since")?,
        until: date("until")?,
    };
    if window.since.is_some() && window.since_id.is_some() {
        return Err(bad_request(
            "since and since_id can't be used at the same time",
        ));
    }
    if window.until.is_some() && window.since.is_none() {
        return Err(bad_request("since is required if until is specified"));
    }
    if window.until_id.is_some() && window.since_id.is_none() {
        return Err(bad_request("since_id is required if until_id is specified"));
    }
    Ok(window)
}

impl Window {
    /// The event's day, from its `at`.
    fn day(event: &TradeEventRecord) -> Option<NaiveDate> {
        event.data["at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.date_naive())
    }

    /// Whether the stream ends before `event`: "if `until` or `until_id` reached stream will end (status 200)".
    fn ends_before(&self, event: &TradeEventRecord) -> bool {
        self.until_id
            .as_ref()
            .is_some_and(|until| &event.id > until)
            || self
                .until
                .is_some_and(|until| Self::day(event).is_some_and(|day| day > until))
    }

    /// Whether `event` is before the window (`since`, a day).
    fn before_start(&self, event: &TradeEventRecord) -> bool {
        self.since
            .is_some_and(|since| Self::day(event).is_some_and(|day| day < since))
    }
}

pub(super) async fn trade_events(State(shared): Ctx, params: Params) -> Result<Response, ApiError> {
    let window = window(params)?;
    let (mut cursor, drop_after) = {
        let mut state = lock(&shared.state);
        let log = &mut state.trade_events;
        // "if `since` or `since_id` not specified this will not return any historic data".
        let cursor = match (&window.since_id, window.since) {
            (Some(since_id), _) => since_id.clone(),
            (None, Some(_)) => String::new(),
            (None, None) => log
                .events
                .last()
                .map(|event| event.id.clone())
                .unwrap_or_default(),
        };
        (cursor, log.drop_after.take())
    };
    let (sender, receiver) = mpsc::channel::<Result<Bytes, io::Error>>(16);
    let pump_shared = shared.clone();
    tokio::spawn(async move {
        let mut sent = 0_usize;
        loop {
            let changed = pump_shared.trade_events_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let batch: Vec<TradeEventRecord> = lock(&pump_shared.state)
                .trade_events
                .events
                .iter()
                .filter(|event| event.id > cursor)
                .cloned()
                .collect();
            for event in batch {
                if window.ends_before(&event) {
                    return;
                }
                cursor = event.id.clone();
                if window.before_start(&event) {
                    continue;
                }
                if drop_after == Some(sent) {
                    // The knob: the body fails, hyper closes the connection mid-stream.
                    let _ = sender
                        .send(Err(io::Error::other(
                            "the sandbox dropped the event stream",
                        )))
                        .await;
                    return;
                }
                let frame = format!("data: {}\n\n", event.data);
                if sender.send(Ok(Bytes::from(frame))).await.is_err() {
                    return;
                }
                sent += 1;
                if window.until_id.as_deref() == Some(cursor.as_str()) {
                    return;
                }
            }
            tokio::select! {
                () = &mut changed => {}
                () = sender.closed() => return,
            }
        }
    });
    let body = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
