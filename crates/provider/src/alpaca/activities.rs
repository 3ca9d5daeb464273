//! An account's activities (`GET /v1/accounts/activities`, `getAccountActivities` in alpaca-broker-api.yaml) as
//! transactions, signed as Tributary stores them.
//!
//! # Paging
//!
//! Newest first (`direction=desc`), 100 at a time (`page_size`: "maximum: 100"), each next page named by the last
//! activity's id: the spec's "`page_token` represents the ID of the last item on your current page of results",
//! and "If specified with a `direction` of `desc` … the results will end before the activity with the specified
//! ID". Read newest first, an activity booked while a history is being paged lands before the first page, never
//! between two pages already read. A page shorter than 100 is the last.
//!
//! # Which activities a range selects
//!
//! Alpaca selects by when it *created* an activity: `after` and `until` "Get activities created after / before
//! this date", and `date` "Filter activities by their creation date (created_at), not the activity's settlement
//! date. For non-trade activities such as fees, the creation date is typically the day after the trade date (in
//! UTC)". The spec says neither whether the day named is included nor in which zone a bare date is read, so the
//! range is asked a day wider each side (`after` the day before `from`, `until` two days after `to`): the fills
//! of an evening session on `to` (past midnight in UTC) and the fees booked the next day are in it whichever
//! way Alpaca reads it. Every activity returned is kept with its own trade date, which may fall a day or two
//! outside the range: nothing Alpaca sent is dropped, and a re-read stores it once (its id is the key).
//!
//! # Trade date
//!
//! A fill's trade date is the day of its `transaction_time` in New York: US equities trade by the New York
//! session (pre-market from 04:00 to after-hours until 20:00, Eastern), so a fill at 20:30 UTC in winter or at
//! 00:30 UTC after an evening session belongs to the New York day, which UTC would put a day later. Alpaca
//! dates its own ids so: the Trading API's example fill `20220202135509981::…` has `transaction_time:
//! 2022-02-02T18:55:09.981482Z`, 13:55:09.981 in New York (UTC−5 in February). A non-trade activity's trade
//! date is its `date` ("The date on which the activity occurred or on which the transaction associated with the
//! activity settled"), else the New York day of its `created_at`.
//!
//! # Signs
//!
//! A fill carries an unsigned `qty` and a `side`: a buy's units come in and its cash goes out, a sell's the
//! reverse. Its cash is `qty × price`, worked out here and rounded to the amount column as a product Tributary
//! computes (see [`SignedAmount::new`]); an option trade (`OPTRD`) is never worked out so, since a contract's
//! cash is its price times its multiplier, and without a `net_amount` it is left out. A non-trade activity's
//! `net_amount` is signed by Alpaca as stored ("The net amount of money (positive or negative) associated with
//! the activity") and kept exactly. A dividend's `qty` is "the number of shares that contributed to the payment"
//! (the Trading API's `NonTradeActivities.qty`), the holding that earned it, not units that moved: it is not a
//! quantity here (it stays in the raw record); any other non-trade activity's `qty` is units moved, as signed.
//!
//! # Cancelled and corrected activities
//!
//! A non-trade activity's `status` is `executed`, `correct` or `canceled`. The listing carries no `previous_id`
//! (only the activity event stream does: "Previous ID is presented if this activity corrects or cancels a
//! previous trade or non trade activity"), so an activity is read on its own: `executed` and `correct` are what
//! happened, with their own type; `canceled` is stored as a [`TransactionType::Cancel`], its Alpaca type kept
//! as the subtype (`DIV.CDIV`, as Alpaca writes a type with its sub-type in `OPCA`'s), its figures as sent. So a
//! cancelled deposit never counts as a contribution nor a cancelled dividend as income, and one stored earlier as
//! executed under the same id becomes a cancel when it is read again.
//!
//! # Whose
//!
//! Every call names the account (`account_id`); an activity that says it is another account's is left out,
//! never stored under this one.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use tributary_domain::{
    Currency, DomainError, Provider, ProviderAccountId, ProviderTransactionId, SignedAmount,
    Symbol, TransactionDescription, TransactionSubtype, TransactionType,
};

use super::wire::Activity;
use super::{AlpacaClient, BrokerAccountId, decode, into_error};
use crate::capability::{
    CursorAt, Listing, PageCursor, Transaction, TransactionPage, currency_code,
};
use crate::error::ProviderError;
use crate::recorded::Recorded;

/// The operation that lists activities.
pub(super) const ACTIVITIES_ENDPOINT: &str = "getAccountActivities";

/// Activities per page: the spec's `page_size` "maximum: 100".
pub(crate) const PAGE_SIZE: usize = 100;

impl AlpacaClient {
    /// One page of the account's activities created between `after` and `until`, newest first, after the
    /// activity `page_token` when given.
    pub(crate) async fn activities_page(
        &self,
        account: &BrokerAccountId,
        after: NaiveDate,
        until: NaiveDate,
        page_token: Option<&str>,
    ) -> Result<Vec<Recorded<Activity>>, ProviderError> {
        let mut query = vec![
            ("account_id", account.to_string()),
            ("after", after.to_string()),
            ("until", until.to_string()),
            ("direction", "desc".to_owned()),
            ("page_size", PAGE_SIZE.to_string()),
        ];
        if let Some(token) = page_token {
            query.push(("page_token", token.to_owned()));
        }
        let bytes = self
            .read_with_retries(
                ACTIVITIES_ENDPOINT,
                "/v1/accounts/activities".to_owned(),
                &query,
            )
            .await
            .map_err(|failure| into_error(ACTIVITIES_ENDPOINT, failure))?;
        decode(ACTIVITIES_ENDPOINT, &bytes)
    }
}

/// [`BrokerageAccounts::account_transactions`](crate::capability::BrokerageAccounts) for Alpaca (see the
/// module's docs).
pub(super) async fn account_transactions(
    client: &AlpacaClient,
    account: &ProviderAccountId,
    from: NaiveDate,
    to: NaiveDate,
    page: Option<PageCursor>,
) -> Result<TransactionPage, ProviderError> {
    let broker = BrokerAccountId::parse(account.as_str())?;
    let token = match page.map(|cursor| cursor.0) {
        None | Some(CursorAt::Offset(0)) => None,
        Some(CursorAt::Token(token)) => Some(token),
        Some(CursorAt::Offset(_)) => {
            return Err(ProviderError::invalid_input(
                "page",
                "is not a cursor Alpaca's pages gave",
            ));
        }
    };
    let after = from - Duration::days(1);
    let until = to + Duration::days(2);
    let activities = client
        .activities_page(&broker, after, until, token.as_deref())
        .await?;
    let next = next_cursor(&activities, token.as_deref())?;
    let listing = Listing::each(
        Provider::Alpaca,
        "activity",
        activities.iter().enumerate(),
        |(_, recorded)| recorded.text("id"),
        |(at, recorded)| transaction(account, &broker, recorded, &format!("activities[{at}]")),
    );
    Ok(TransactionPage {
        transactions: listing.items,
        left_out: listing.left_out,
        next,
    })
}

/// The next page's cursor: the last activity's id after a full page, none after a short one. A full page whose
/// last activity has no id, or ends on the token it started from, cannot be paged on and is an error rather than
/// a history cut short.
fn next_cursor(
    activities: &[Recorded<Activity>],
    token: Option<&str>,
) -> Result<Option<PageCursor>, ProviderError> {
    if activities.len() < PAGE_SIZE {
        return Ok(None);
    }
    let last = activities
        .last()
        .and_then(|recorded| recorded.text("id"))
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            ProviderError::invalid_data(
                Provider::Alpaca,
                format!("activities[{}].id", PAGE_SIZE - 1),
                "the last activity of a full page has no id to ask for the next page with",
            )
        })?;
    if token == Some(last.as_str()) {
        return Err(ProviderError::invalid_data(
            Provider::Alpaca,
            "page_token",
            "the page ends on the activity it was asked to start after: paging would not advance",
        ));
    }
    Ok(Some(PageCursor(CursorAt::Token(last))))
}

/// One activity of `account` as a transaction (see the module's docs for its date, signs and status).
pub(super) fn transaction(
    account: &ProviderAccountId,
    broker: &BrokerAccountId,
    recorded: &Recorded<Activity>,
    at: &str,
) -> Result<Transaction, ProviderError> {
    let field = |name: &str| format!("{at}.{name}");
    let activity = recorded.item.as_ref().map_err(|reason| {
        let culprit = culprit(&recorded.json, reason);
        ProviderError::invalid_data(Provider::Alpaca, field(&culprit), reason)
    })?;
    if let Some(owner) = activity.account_id
        && owner != broker.as_uuid()
    {
        return Err(ProviderError::invalid_data(
            Provider::Alpaca,
            field("account_id"),
            "names another account than the one asked for: it is not stored under this one",
        ));
    }
    let id = ProviderTransactionId::parse(&activity.id).map_err(invalid(field("id")))?;
    let kind = activity.activity_type.trim();
    if kind.is_empty() {
        return Err(missing(field("activity_type")));
    }
    let currency = currency_code(
        Provider::Alpaca,
        &field("currency"),
        [activity.currency.as_deref()],
    )?
    .unwrap_or_else(Currency::usd);
    let symbol = activity
        .symbol
        .as_deref()
        .map(|symbol| Symbol::parse(symbol).map_err(invalid(field("symbol"))))
        .transpose()?;
    let traded = kind.eq_ignore_ascii_case("FILL") || activity.side.is_some();
    let reading = if traded {
        trade(activity, kind, &field)?
    } else {
        non_trade(activity, kind, &field)?
    };
    let canceled = activity
        .status
        .as_deref()
        .is_some_and(|status| status.trim().eq_ignore_ascii_case("canceled"));
    let (transaction_type, subtype) = if canceled {
        let alpaca_kind = match activity.activity_sub_type.as_deref() {
            Some(sub) => format!("{kind}.{}", sub.trim()),
            None => kind.to_owned(),
        };
        (TransactionType::Cancel, Some(alpaca_kind))
    } else {
        (reading.transaction_type, reading.subtype)
    };
    Ok(Transaction {
        provider_account_id: account.clone(),
        provider_transaction_id: id,
        trade_date: reading.trade_date,
        settlement_date: None,
        transaction_type,
        subtype: subtype
            .map(|text| {
                TransactionSubtype::parse(&text).map_err(invalid(field("activity_sub_type")))
            })
            .transpose()?,
        symbol,
        security_id: None,
        quantity: reading.quantity,
        price: reading.price,
        amount: reading.amount,
        fees: None,
        currency,
        description: TransactionDescription::from_optional(activity.description.as_deref()),
        raw: recorded.raw().map_err(invalid(field("*")))?,
    })
}

/// What an activity's kind decides: its type and subtype, date, units, price and cash.
struct Reading {
    transaction_type: TransactionType,
    subtype: Option<String>,
    trade_date: NaiveDate,
    quantity: Option<Decimal>,
    price: Option<Decimal>,
    amount: SignedAmount,
}

/// A fill (or an option trade with a side): the direction is the side's.
fn trade(
    activity: &Activity,
    kind: &str,
    field: &dyn Fn(&str) -> String,
) -> Result<Reading, ProviderError> {
    let side = activity
        .side
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| missing(field("side")))?;
    // `OrderSide`: buy, buy_minus (units in); sell, sell_plus, sell_short, sell_short_exempt (units out).
    // `undisclosed`, `cross` and `cross_short` say no direction for this account.
    let buy = match side {
        "buy" | "buy_minus" => true,
        "sell" | "sell_plus" | "sell_short" | "sell_short_exempt" => false,
        other => {
            return Err(ProviderError::invalid_data(
                Provider::Alpaca,
                field("side"),
                format!("`{other}` says no direction for the account's units"),
            ));
        }
    };
    let qty = activity.qty.ok_or_else(|| missing(field("qty")))?;
    if qty.is_sign_negative() || qty.is_zero() {
        return Err(ProviderError::invalid_data(
            Provider::Alpaca,
            field("qty"),
            "a fill's qty is unsigned and more than zero",
        ));
    }
    let price = activity.price.ok_or_else(|| missing(field("price")))?;
    // A fill has its `transaction_time`; an option trade listed in the non-trade shape has its `date`.
    let trade_date = match (activity.transaction_time, activity.date.as_deref()) {
        (Some(at), _) => new_york_day(at),
        (None, Some(text)) => day_of(text).ok_or_else(|| {
            ProviderError::invalid_data(
                Provider::Alpaca,
                field("date"),
                "is neither a date nor a timestamp",
            )
        })?,
        (None, None) => activity
            .created_at
            .map(new_york_day)
            .ok_or_else(|| missing(field("transaction_time")))?,
    };
    let units = if buy { qty } else { -qty };
    let amount = match activity.net_amount {
        Some(net) => {
            SignedAmount::exact_for("amount", net).map_err(invalid(field("net_amount")))?
        }
        None if kind.eq_ignore_ascii_case("FILL") => {
            let cash = units
                .checked_mul(price)
                .map(|value| -value)
                .ok_or_else(|| {
                    ProviderError::invalid_data(
                        Provider::Alpaca,
                        field("qty"),
                        "qty × price does not fit a number",
                    )
                })?;
            SignedAmount::new_for("amount", cash).map_err(invalid(field("price")))?
        }
        None => {
            return Err(ProviderError::invalid_data(
                Provider::Alpaca,
                field("net_amount"),
                "is missing, and an option trade's cash is not qty × price (the contract's multiplier)",
            ));
        }
    };
    Ok(Reading {
        transaction_type: if buy {
            TransactionType::Buy
        } else {
            TransactionType::Sell
        },
        subtype: Some(kind.to_owned()),
        trade_date,
        quantity: Some(units),
        price: Some(price),
        amount,
    })
}

/// A non-trade activity: Alpaca's own sign, date and kind.
fn non_trade(
    activity: &Activity,
    kind: &str,
    field: &dyn Fn(&str) -> String,
) -> Result<Reading, ProviderError> {
    let transaction_type = TransactionType::parse(kind).map_err(invalid(field("activity_type")))?;
    let net = activity
        .net_amount
        .ok_or_else(|| missing(field("net_amount")))?;
    let amount = SignedAmount::exact_for("amount", net).map_err(invalid(field("net_amount")))?;
    let trade_date = match activity.date.as_deref() {
        Some(text) => day_of(text).ok_or_else(|| {
            ProviderError::invalid_data(
                Provider::Alpaca,
                field("date"),
                "is neither a date nor a timestamp",
            )
        })?,
        None => activity
            .created_at
            .map(new_york_day)
            .ok_or_else(|| missing(field("date")))?,
    };
    let dividend = kind.to_ascii_uppercase().starts_with("DIV");
    Ok(Reading {
        transaction_type,
        subtype: activity
            .activity_sub_type
            .as_deref()
            .map(str::trim)
            .map(str::to_owned),
        trade_date,
        quantity: activity.qty.filter(|qty| !dividend && !qty.is_zero()),
        price: None,
        amount,
    })
}

/// `2021-05-21` (the Broker API's `format: date`) or `2019-08-01T00:00:00Z` (the Trading API's `date-time`).
fn day_of(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| at.date_naive())
        })
}

/// The calendar day in New York (US Eastern time) at `at`, by the IANA time zone database's
/// `America/New_York`.
pub(crate) fn new_york_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&chrono_tz::America::New_York).date_naive()
}

/// The field that keeps `json` from reading as an [`Activity`]: the one serde's message names (`missing field
/// `id``), else the one without which it reads (a decimal that is no number names no field), else `*`.
fn culprit(json: &serde_json::Value, message: &str) -> String {
    let named = named_field(message);
    if named != "*" {
        return named;
    }
    let Some(fields) = json.as_object() else {
        return named;
    };
    fields
        .keys()
        .find(|key| {
            let mut without = fields.clone();
            without.remove(key.as_str());
            serde_json::from_value::<Activity>(serde_json::Value::Object(without)).is_ok()
        })
        .cloned()
        .unwrap_or(named)
}

/// The field a serde message names (`missing field `id``), or `*`.
fn named_field(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field"))
        .unwrap_or("*")
        .to_owned()
}

fn missing(field: String) -> ProviderError {
    ProviderError::invalid_data(Provider::Alpaca, field, "is missing or empty")
}

fn invalid(field: String) -> impl FnOnce(DomainError) -> ProviderError {
    move |error| ProviderError::invalid_data(Provider::Alpaca, field, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_fill_after_the_new_york_evening_session_is_dated_the_new_york_day() {
        // 20:30 New York (EST) on 2022-02-02 is 01:30 UTC on the 3rd.
        assert_eq!(new_york_day(utc("2022-02-03T01:30:00Z")), day("2022-02-02"));
        // 20:30 New York (EDT) on 2021-05-10 is 00:30 UTC on the 11th.
        assert_eq!(new_york_day(utc("2021-05-11T00:30:00Z")), day("2021-05-10"));
        assert_eq!(
            new_york_day(utc("2021-05-10T14:01:04.650275Z")),
            day("2021-05-10")
        );
    }

    #[test]
    fn new_york_changes_its_offset_on_the_second_sunday_of_march_and_the_first_of_november() {
        // 2024: DST from 2024-03-10 07:00 UTC to 2024-11-03 06:00 UTC.
        assert_eq!(new_york_day(utc("2024-03-10T04:30:00Z")), day("2024-03-09")); // 23:30 EST
        assert_eq!(new_york_day(utc("2024-03-10T07:00:00Z")), day("2024-03-10")); // 03:00 EDT
        assert_eq!(new_york_day(utc("2024-03-11T03:59:59Z")), day("2024-03-10")); // 23:59 EDT
        assert_eq!(new_york_day(utc("2024-11-03T05:59:59Z")), day("2024-11-03")); // 01:59 EDT
        assert_eq!(new_york_day(utc("2024-11-04T04:59:59Z")), day("2024-11-03")); // 23:59 EST
        assert_eq!(new_york_day(utc("2024-11-04T05:00:00Z")), day("2024-11-04"));
    }

    #[test]
    fn the_spec_example_ids_carry_the_new_york_time_of_their_fills() {
        // alpaca-trading-api.json `TradingActivities` x-example: id 20220202135509981 at 18:55:09.981482Z.
        let at = utc("2022-02-02T18:55:09.981482Z");
        assert_eq!(
            (at - Duration::hours(5))
                .format("%Y%m%d%H%M%S%3f")
                .to_string(),
            "20220202135509981"
        );
        assert_eq!(new_york_day(at), day("2022-02-02"));
    }

    #[test]
    fn a_non_trade_date_reads_as_a_date_or_a_timestamp() {
        assert_eq!(day_of("2021-05-21"), Some(day("2021-05-21")));
        assert_eq!(day_of("2019-08-01T00:00:00Z"), Some(day("2019-08-01")));
        assert_eq!(day_of("yesterday"), None);
    }

    #[test]
    fn a_serde_message_names_its_field() {
        assert_eq!(
            named_field("missing field `activity_type`"),
            "activity_type"
        );
        assert_eq!(
            named_field("invalid type: integer `7`, expected a string"),
            "*"
        );
    }
}
