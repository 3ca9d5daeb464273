//! Account activities: `GET /v1/accounts/activities` (alpaca-broker-api.yaml `getAccountActivities`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{Ctx, account_not_found, invalid};
use crate::alpaca::history::History;
use crate::knobs::lock;
use crate::reply::{ApiError, Reply};

/// The spec's `ActivityType` enum (`components.schemas.ActivityType`), the values `activity_types` may name.
const ACTIVITY_TYPES: [&str; 30] = [
    "FILL", "ACATC", "ACATS", "CGD", "CIL", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS", "DIVNRA",
    "DIVROC", "DIVTXEX", "FEE", "INT", "JNLC", "JNLS", "MA", "OPASN", "OPCA", "OPCSH", "OPEXC",
    "OPEXP", "OPTRD", "PTC", "REORG", "SPIN", "SPLIT", "FOPT", "OCT",
];

/// The query parameters the spec lists for `getAccountActivities`; any other is refused (strict where the spec
/// is silent: a misspelt filter would otherwise read as no filter, and another account's activities with it).
const PARAMETERS: [&str; 10] = [
    "account_id",
    "activity_types",
    "category",
    "order_id",
    "date",
    "until",
    "after",
    "direction",
    "page_size",
    "page_token",
];

/// A time bound of a query: `after`/`until`/`date` take "Both formats YYYY-MM-DD and YYYY-MM-DDTHH:MM:SSZ".
#[derive(Debug, Clone, Copy)]
enum Bound {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

fn bound(params: &HashMap<String, String>, name: &str) -> Result<Option<Bound>, ApiError> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Some(Bound::Day(day)));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| Some(Bound::Instant(at.to_utc())))
        .map_err(|_| {
            invalid(&format!(
                "{name} must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
            ))
        })
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// `GET /v1/accounts/activities`, as the spec defines it:
///
/// * `account_id` "id of a single account to filter by" (`format: uuid`): not a UUID is 422; a UUID the
///   correspondent does not hold is 404 (`components.responses.NotFound`, "Resource does not exist.", as every
///   other account path answers; the operation itself lists only 200). Without it, every account's activities,
///   merged newest first.
/// * `activity_types` "A comma-separated list of activity types" (`ActivityType`); `category` `trade_activity` or
///   `non_trade_activity`, which "Cannot be used with "activity_types" parameter" (both: 422).
/// * `order_id`: only the fills of that order.
/// * `after` / `until`: "Get activities created after / before this date", compared with each activity's creation
///   (a fill's `transaction_time`, a non-trade activity's `created_at`), both exclusive; a bare date is that day
///   in UTC (the `date` parameter's "(in UTC)") and is read whole: `after=D` starts the day after `D`, `until=D`
///   ends before `D` begins. The strictest reading of the spec's words.
/// * `date`: "Filter activities by their creation date (created_at)": the activities created that UTC day; "If
///   `date` is specified, the default behavior is to return all results, and there is no maximum page size".
///   With `after` or `until` as well it is refused (the spec does not say how they combine).
/// * `direction` (`components.parameters.Direction`, "asc or desc. Defaults to desc."), by creation (ids sort so).
/// * `page_size`: "default: 100, maximum: 100, minimum: 1" unless `date` is given; outside that, 422.
/// * `page_token`: "the ID of the last item on your current page of results"; "If specified with a `direction` of
///   `desc` … the results will end before the activity with the specified ID. If specified with a `direction` of
///   `asc`, results will begin with the activity immediately after the one specified." A token that is no
///   activity of the accounts asked about is refused (422): one account's token never pages another's.
pub(super) async fn list_activities(
    State(shared): Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Reply {
    if let Some(unknown) = params
        .keys()
        .find(|name| !PARAMETERS.contains(&name.as_str()))
    {
        return Err(invalid(&format!("unknown query parameter {unknown}")));
    }
    let types: Option<Vec<String>> = params
        .get("activity_types")
        .map(|list| list.split(',').map(|kind| kind.trim().to_owned()).collect());
    if let Some(types) = &types
        && let Some(unknown) = types
            .iter()
            .find(|kind| !ACTIVITY_TYPES.contains(&kind.as_str()))
    {
        return Err(invalid(&format!(
            "activity_types: unknown activity type {unknown}"
        )));
    }
    let category = params.get("category").map(String::as_str);
    if !matches!(
        category,
        None | Some("trade_activity" | "non_trade_activity")
    ) {
        return Err(invalid(
            "category must be trade_activity or non_trade_activity",
        ));
    }
    if category.is_some() && types.is_some() {
        return Err(invalid("category cannot be used with activity_types"));
    }
    let order = params
        .get("order_id")
        .map(|text| Uuid::parse_str(text).map_err(|_| invalid("order_id must be a UUID")))
        .transpose()?;
    let ascending = match params.get("direction").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(invalid("direction must be asc or desc")),
    };
    let (after, until, date) = (
        bound(&params, "after")?,
        bound(&params, "until")?,
        bound(&params, "date")?,
    );
    if date.is_some() && (after.is_some() || until.is_some()) {
        return Err(invalid("date cannot be used with after or until"));
    }
    let page_size = match params.get("page_size") {
        None if date.is_some() => usize::MAX,
        None => 100,
        Some(text) => {
            let size = text
                .parse::<usize>()
                .map_err(|_| invalid("page_size must be an integer"))?;
            if size == 0 || (date.is_none() && size > 100) {
                return Err(invalid("page_size must be between 1 and 100"));
            }
            size
        }
    };
    // Created strictly after `low`, strictly before `high`.
    let (low, high) = match date {
        Some(Bound::Day(day)) => (
            Some(midnight(day) - Duration::nanoseconds(1)),
            Some(midnight(day + Duration::days(1))),
        ),
        // A timestamp names its UTC day.
        Some(Bound::Instant(at)) => {
            let day = at.date_naive();
            (
                Some(midnight(day) - Duration::nanoseconds(1)),
                Some(midnight(day + Duration::days(1))),
            )
        }
        None => (
            after.map(|after| match after {
                Bound::Day(day) => midnight(day + Duration::days(1)) - Duration::nanoseconds(1),
                Bound::Instant(at) => at,
            }),
            until.map(|until| match until {
                Bound::Day(day) => midnight(day),
                Bound::Instant(at) => at,
            }),
        ),
    };

    let state = lock(&shared.state);
    let accounts: Vec<_> = match params.get("account_id") {
        Some(text) => {
            let id = Uuid::parse_str(text).map_err(|_| invalid("account_id must be a UUID"))?;
            vec![state.account(id).ok_or_else(account_not_found)?]
        }
        None => state.accounts.iter().collect(),
    };
    let histories: Vec<History> = accounts
        .iter()
        .map(|account| History::of(&state, account))
        .collect();
    let token = params.get("page_token");
    if let Some(token) = token
        && !histories
            .iter()
            .any(|history| history.position_of(token).is_some())
    {
        return Err(invalid(
            "page_token is not an activity of the account asked about",
        ));
    }
    let wanted = |rendered: &Value| {
        let kind = rendered["activity_type"].as_str().unwrap_or_default();
        let trade = kind == "FILL";
        types
            .as_ref()
            .is_none_or(|types| types.iter().any(|wanted| wanted == kind))
            && match category {
                Some("trade_activity") => trade,
                Some("non_trade_activity") => !trade,
                _ => true,
            }
            && order.is_none_or(|order| {
                rendered["order_id"].as_str() == Some(order.to_string().as_str())
            })
    };
    let mut page: Vec<(String, Value)> = Vec::new();
    for history in &histories {
        // The span of this history inside the time bounds and past the token.
        let mut start = low.map_or(0, |low| history.first_after(low));
        let mut end = high.map_or(history.len(), |high| history.first_at_or_after(high));
        if let Some(token) = token {
            let split = partition_by_id(history, token);
            if ascending {
                start = start.max(split.1);
            } else {
                end = end.min(split.0);
            }
        }
        let mut taken = 0;
        let indices: Box<dyn Iterator<Item = usize>> = if ascending {
            Box::new(start..end.max(start))
        } else {
            Box::new((start..end.max(start)).rev())
        };
        for k in indices {
            if taken == page_size {
                break;
            }
            let rendered = history.render(k);
            if wanted(&rendered) {
                page.push((history.id(k), rendered));
                taken += 1;
            }
        }
    }
    page.sort_by(|(left, _), (right, _)| {
        if ascending {
            left.cmp(right)
        } else {
            right.cmp(left)
        }
    });
    Ok(Json(Value::Array(
        page.into_iter()
            .take(page_size)
            .map(|(_, rendered)| rendered)
            .collect(),
    )))
}

/// Where `token` falls in `history`: the activities before it end at `.0`, those after it start at `.1`.
fn partition_by_id(history: &History, token: &str) -> (usize, usize) {
    match history.position_of(token) {
        Some(k) => (k, k + 1),
        None => {
            let k = history.first_id_not_before(token);
            (k, k)
        }
    }
}
