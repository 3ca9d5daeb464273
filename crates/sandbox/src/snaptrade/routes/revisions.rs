//! Test knobs on `GET /accounts/{id}/activities`: an activity SnapTrade revised, one it withdrew, and pages that
//! fail, applied around the generated history so the generation itself stays as it is.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::Value;

use super::{Ctx, Params, accounts, error};
use crate::knobs::lock;
use crate::reply::Reply;
use crate::snaptrade::SnapTradeSandbox;

/// What the knobs change in the answers.
#[derive(Debug, Default)]
pub(crate) struct Revisions {
    /// Activity `id` → the `amount` SnapTrade now reports for it.
    amounts: HashMap<String, Value>,
    /// Activity `id`s SnapTrade no longer returns.
    withdrawn: HashSet<String>,
    /// Requests whose `offset` is at least this answer a 500.
    failing_from: Option<u64>,
}

/// `GET /accounts/{id}/activities` with the knobs applied.
pub(super) async fn account_activities(
    State(shared): Ctx,
    Query(params): Params,
    Path(id): Path<String>,
) -> Reply {
    let offset = params
        .get("offset")
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(0);
    let failing = lock(&shared.revisions)
        .failing_from
        .is_some_and(|from| offset >= from);
    if failing {
        // SnapTrade's error body for its own failure (`{detail, status_code, code}`), as the sandbox's injected
        // 5xx answers it.
        return Err(error(
            500,
            Some("1000"),
            "An internal error occurred. Please try again later.",
        ));
    }
    let Json(mut body) =
        accounts::account_activities(State(shared.clone()), Query(params), Path(id)).await?;
    let revisions = lock(&shared.revisions);
    if let Some(Value::Array(data)) = body.get_mut("data") {
        let before = data.len();
        data.retain(|activity| {
            !activity["id"]
                .as_str()
                .is_some_and(|id| revisions.withdrawn.contains(id))
        });
        let gone = (before - data.len()) as u64;
        for activity in data.iter_mut() {
            let id = activity["id"].as_str().map(str::to_owned);
            if let Some(amount) = id.and_then(|id| revisions.amounts.get(&id)) {
                // `AccountUniversalActivity.amount`: "transactions that positively affect the account balance
                // (like sell, deposits, dividends, etc) will have a positive amount".
                activity["amount"] = amount.clone();
            }
        }
        // `PaginationDetails.total`: the activities the query matches — a withdrawn one no longer does.
        if let Some(total) = body.pointer("/pagination/total").and_then(Value::as_u64) {
            body["pagination"]["total"] = Value::from(total.saturating_sub(gone));
        }
    }
    Ok(Json(body))
}

impl SnapTradeSandbox {
    /// From now on, the activities report `amount` (positive: cash into the account) for the activity `id`:
    /// a revision.
    pub fn revise_activity(&self, id: &str, amount: Value) {
        lock(&self.shared.revisions)
            .amounts
            .insert(id.to_owned(), amount);
    }

    /// From now on, the activities no longer include `id`: SnapTrade withdrew it.
    pub fn withdraw_activity(&self, id: &str) {
        lock(&self.shared.revisions).withdrawn.insert(id.to_owned());
    }

    /// Until `None` is set, every activities request asking from an `offset` of at least `offset` answers a 500:
    /// the pages before it are served, the rest fail.
    pub fn fail_activities_from_offset(&self, offset: Option<u64>) {
        lock(&self.shared.revisions).failing_from = offset;
    }
}
