//! An account's activities (alpaca-broker-api.yaml `components.schemas.Activity`), generated on demand: activity
//! `k` of an account is a function of the account and `k` alone, so a history of 100,000 is served a page at a
//! time without being held, and reads the same on every request.
//!
//! The history spans the two years before the account was opened, on weekdays, during the New York session
//! (14:30–21:00 UTC): deposits and withdrawals, fills of the account's held securities, their dividends,
//! interest, regulatory fees, a journal now and then, one forward split and one cancelled deposit.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::state::{Account, AlpacaState};
use crate::reply::decimal_text;

/// Milliseconds of each day's window (14:30 to 21:00 UTC).
const WINDOW_MS: i64 = 6 * 3_600_000 + 30 * 60_000;

/// One account's history, ready to render any of its activities.
pub(crate) struct History {
    account: Uuid,
    count: usize,
    /// The weekdays it spans, oldest first.
    days: Vec<NaiveDate>,
    /// The most activities one day holds.
    per_day: usize,
    /// The securities it trades: the account's holdings (symbol, price).
    securities: Vec<(String, Decimal)>,
}

impl History {
    /// The history of `account`, as [`Account::activities`] sizes it.
    pub(crate) fn of(state: &AlpacaState, account: &Account) -> Self {
        let last = account.created.date_naive() - Duration::days(1);
        let first = last - Duration::days(730);
        let days: Vec<NaiveDate> = first
            .iter_days()
            .take_while(|day| *day <= last)
            .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
            .collect();
        let count = account.activities;
        let per_day = count.div_ceil(days.len().max(1)).max(1);
        let mut securities: Vec<(String, Decimal)> = account
            .positions
            .iter()
            .filter_map(|position| state.asset(position.asset))
            .map(|asset| (asset.symbol.clone(), asset.price))
            .collect();
        if securities.is_empty() {
            securities = state
                .assets
                .iter()
                .take(2)
                .map(|asset| (asset.symbol.clone(), asset.price))
                .collect();
        }
        Self {
            account: account.id,
            count,
            days,
            per_day,
            securities,
        }
    }

    /// How many activities it holds.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The day activity `k` falls on (its index in `days`).
    fn day_index(&self, k: usize) -> usize {
        k * self.days.len() / self.count.max(1)
    }

    /// The first activity of day `d`.
    fn first_of_day(&self, d: usize) -> usize {
        (d * self.count).div_ceil(self.days.len().max(1))
    }

    /// When Alpaca created activity `k`: strictly later for each next `k`.
    pub(crate) fn created(&self, k: usize) -> DateTime<Utc> {
        let d = self.day_index(k);
        let slot = (k - self.first_of_day(d)) as i64;
        let spacing = WINDOW_MS / self.per_day as i64;
        let jitter = (k as i64 * 7_919) % (spacing / 2).max(1);
        let open = self.days[d]
            .and_time(NaiveTime::from_hms_opt(14, 30, 0).unwrap_or(NaiveTime::MIN))
            .and_utc();
        open + Duration::milliseconds(slot * spacing + jitter)
    }

    /// Activity `k`'s id: its creation time in New York to the millisecond, `::`, a UUID (as the spec's
    /// `20220208125959696::88b5f678-fef5-447b-af15-f21e367e6d8c`, whose time the Trading API's example fill shows
    /// to be New York's: `20220202135509981` for `transaction_time: 2022-02-02T18:55:09.981482Z`). Ids grow with
    /// `k`, so they sort as the activities were created.
    pub(crate) fn id(&self, k: usize) -> String {
        let local = new_york(self.created(k));
        format!("{}::{}", local.format("%Y%m%d%H%M%S%3f"), self.uuid(k, 1))
    }

    /// The activity whose id is `id`, if it is this history's.
    pub(crate) fn position_of(&self, id: &str) -> Option<usize> {
        let k = self.first_id_not_before(id);
        (k < self.count && self.id(k) == id).then_some(k)
    }

    /// The first activity whose id sorts at or after `id`.
    pub(crate) fn first_id_not_before(&self, id: &str) -> usize {
        partition(self.count, |k| self.id(k).as_str() < id)
    }

    /// The first activity created at or after `at`.
    pub(crate) fn first_at_or_after(&self, at: DateTime<Utc>) -> usize {
        partition(self.count, |k| self.created(k) < at)
    }

    /// The first activity created after `at`.
    pub(crate) fn first_after(&self, at: DateTime<Utc>) -> usize {
        partition(self.count, |k| self.created(k) <= at)
    }

    /// A UUID of its own for activity `k` (`salt` tells apart the ids one activity carries).
    fn uuid(&self, k: usize, salt: u128) -> Uuid {
        let spread = (k as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        let mixed = self.account.as_u128() ^ spread ^ (salt << 64);
        uuid::Builder::from_random_bytes(mixed.to_be_bytes()).into_uuid()
    }

    /// Activity `k` as the Broker API renders it.
    pub(crate) fn render(&self, k: usize) -> Value {
        let created = self.created(k);
        let base = json!({
            "id": self.id(k),
            "account_id": self.account,
        });
        let body = match self.kind(k) {
            Kind::Fill { buy } => self.fill(k, created, buy),
            Kind::Cash(entry) => self.cash(k, created, entry),
        };
        merge(base, body)
    }

    /// What activity `k` is.
    fn kind(&self, k: usize) -> Kind {
        if k == 0 {
            return Kind::Cash(Entry::Deposit);
        }
        if self.count >= 10 && k == self.count / 2 {
            return Kind::Cash(Entry::Split);
        }
        if self.count >= 10 && k == self.count * 3 / 4 {
            return Kind::Cash(Entry::CancelledDeposit);
        }
        match k % 25 {
            3 | 16 => Kind::Cash(Entry::Dividend),
            7 => Kind::Cash(Entry::Fee),
            11 => Kind::Cash(Entry::Interest),
            15 => Kind::Cash(Entry::Deposit),
            19 if k % 50 == 19 => Kind::Cash(Entry::Withdrawal),
            19 => Kind::Cash(Entry::Journal),
            _ => Kind::Fill { buy: k % 4 != 2 },
        }
    }

    fn security(&self, k: usize) -> &(String, Decimal) {
        &self.securities[k % self.securities.len()]
    }

    /// A fill (`components.schemas.TradeActivity`): unsigned `qty`, `price`, `side`, `transaction_time`.
    fn fill(&self, k: usize, created: DateTime<Utc>, buy: bool) -> Value {
        let (symbol, price) = self.security(k);
        // The price wanders ±20 % around today's over the history, to the cent.
        let swing = Decimal::new(80 + ((k * 37) % 41) as i64, 2);
        let price = (price * swing).round_dp(2);
        // Whole shares mostly; every fifth a fractional one (Alpaca fills to 9 decimals).
        let qty = if k.is_multiple_of(5) {
            Decimal::new(((k % 97) as i64 + 1) * 12_345, 6)
        } else {
            Decimal::from((k % 9) as u64 + 1)
        };
        let partial = k.is_multiple_of(11);
        let (cum, leaves) = if partial {
            (qty, qty)
        } else {
            (qty, Decimal::ZERO)
        };
        json!({
            "activity_type": "FILL",
            "cum_qty": decimal_text(cum),
            "leaves_qty": decimal_text(leaves),
            "order_id": self.uuid(k, 2),
            "order_status": if partial { "partially_filled" } else { "filled" },
            "price": decimal_text(price),
            "qty": decimal_text(qty),
            "side": if buy { "buy" } else { "sell" },
            "symbol": symbol,
            "transaction_time": created.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "type": if partial { "partial_fill" } else { "fill" }
        })
    }

    /// A non-trade activity (`components.schemas.NonTradeActivity`), dated the weekday before it was created
    /// (the spec's `date` parameter: "For non-trade activities such as fees, the creation date is typically the
    /// day after the trade date").
    fn cash(&self, k: usize, created: DateTime<Utc>, entry: Entry) -> Value {
        let d = self.day_index(k);
        let date = if d == 0 {
            self.days[0] - Duration::days(1)
        } else {
            self.days[d - 1]
        };
        let (symbol, price) = self.security(k);
        let cents = |value: i64| Decimal::new(value, 2);
        let (kind, sub, net, extra) = match entry {
            Entry::Deposit => (
                "CSD",
                None,
                if k == 0 {
                    cents(5_000_000)
                } else {
                    cents(100_000 + (k % 7) as i64 * 25_000)
                },
                json!({"description": "ACH deposit"}),
            ),
            Entry::CancelledDeposit => (
                "CSD",
                None,
                cents(250_000),
                json!({"description": "ACH deposit returned", "status": "canceled"}),
            ),
            Entry::Withdrawal => (
                "CSW",
                None,
                cents(-(50_000 + (k % 3) as i64 * 10_000)),
                json!({"description": "ACH withdrawal"}),
            ),
            Entry::Journal => (
                "JNLC",
                None,
                cents(2_500),
                json!({"description": "Promotional credit from the firm account"}),
            ),
            Entry::Dividend => {
                let held = Decimal::from((k % 40) as u64 + 5);
                let per_share = Decimal::new(((k % 50) as i64 + 10) * 1_000, 5).round_dp(4);
                (
                    "DIV",
                    Some("CDIV"),
                    (held * per_share).round_dp(2),
                    json!({
                        "symbol": symbol,
                        "qty": decimal_text(held),
                        "per_share_amount": decimal_text(per_share),
                        "description": format!("Cash dividend {symbol}"),
                    }),
                )
            }
            Entry::Interest => (
                "INT",
                Some("CDT"),
                cents((k % 400) as i64 + 17),
                json!({"description": "Credit interest"}),
            ),
            Entry::Fee => (
                "FEE",
                Some(if k.is_multiple_of(2) { "REG" } else { "TAF" }),
                cents(-((k % 12) as i64 + 1)),
                json!({"symbol": symbol, "description": "Regulatory fee on a sale"}),
            ),
            Entry::Split => (
                "SPLIT",
                Some("FSPLIT"),
                Decimal::ZERO,
                json!({
                    "symbol": symbol,
                    "qty": decimal_text(Decimal::from(15)),
                    "per_share_amount": decimal_text((price / Decimal::from(4)).round_dp(2)),
                    "description": format!("Forward split 4:1 {symbol}: 15 new shares"),
                }),
            ),
        };
        let mut rendered = json!({
            "activity_type": kind,
            "created_at": created.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "currency": "USD",
            "date": date.to_string(),
            "net_amount": decimal_text(net),
            "status": "executed",
        });
        if let Some(sub) = sub {
            rendered["activity_sub_type"] = json!(sub);
        }
        merge(rendered, extra)
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Fill { buy: bool },
    Cash(Entry),
}

#[derive(Debug, Clone, Copy)]
enum Entry {
    Deposit,
    CancelledDeposit,
    Withdrawal,
    Journal,
    Dividend,
    Interest,
    Fee,
    Split,
}

/// `base` with `extra`'s fields added (and overriding).
fn merge(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}

/// The first `k` in `0..count` for which `before(k)` is false (`before` holds for a prefix).
fn partition(count: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        if before(middle) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

/// `at` as New York's wall-clock time, by the IANA time zone database's `America/New_York`.
fn new_york(at: DateTime<Utc>) -> chrono::NaiveDateTime {
    at.with_timezone(&chrono_tz::America::New_York)
        .naive_local()
}
