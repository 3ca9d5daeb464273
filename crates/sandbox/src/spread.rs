//! Generated history: `count` records, index 0 the newest, spread evenly back in time, so a test can
//! ask for 100,000 transactions and the sandbox only builds the page it is asked for.

use std::ops::Range;

use chrono::{Duration, NaiveDate};

/// The most days generated history reaches back (providers serve about two years).
const MAX_SPAN_DAYS: u64 = 700;

/// `count` records dated from `newest` backwards, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spread {
    pub(crate) count: u64,
    pub(crate) newest: NaiveDate,
}

impl Spread {
    /// The day record `index` is dated.
    pub(crate) fn date(&self, index: u64) -> NaiveDate {
        let count = self.count.max(1);
        let days_back = index * MAX_SPAN_DAYS.min(count) / count;
        self.newest - Duration::days(i64::try_from(days_back).unwrap_or(i64::MAX))
    }

    /// The indices of the records dated within `[start, end]`: contiguous, because dates only fall
    /// as the index grows, and found by bisection.
    pub(crate) fn between(&self, start: NaiveDate, end: NaiveDate) -> Range<u64> {
        let first = self.first_index_where(|date| date <= end);
        let past_last = self.first_index_where(|date| date < start);
        first..past_last.max(first)
    }

    fn first_index_where(&self, holds: impl Fn(NaiveDate) -> bool) -> u64 {
        let (mut low, mut high) = (0, self.count);
        while low < high {
            let middle = low + (high - low) / 2;
            if holds(self.date(middle)) {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_holds_exactly_the_records_dated_inside_it() {
        let spread = Spread {
            count: 1_000,
            newest: NaiveDate::from_ymd_opt(2026, 6, 30).expect("date"),
        };
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        let end = NaiveDate::from_ymd_opt(2026, 3, 31).expect("date");
        let range = spread.between(start, end);
        let expected: Vec<u64> = (0..1_000)
            .filter(|&i| (start..=end).contains(&spread.date(i)))
            .collect();
        assert_eq!(range.collect::<Vec<_>>(), expected);
    }
}
