//! SnapTrade's payloads as domain types, and SnapTrade as an [`Aggregation`], [`Trading`],
//! [`BrokerageAccounts`] and [`ConnectionPortal`] provider.
//!
//! [`Aggregation`]: crate::capability::Aggregation
//! [`Trading`]: crate::capability::Trading
//! [`BrokerageAccounts`]: crate::capability::BrokerageAccounts
//! [`ConnectionPortal`]: crate::capability::ConnectionPortal

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// A SnapTrade timestamp as UTC. SnapTrade writes them several ways: RFC 3339
/// (`2024-08-20T21:56:19Z`), Python's `str(datetime)` (`2024-08-20 21:56:19.123935+00:00`), a naive
/// time (taken as UTC) or a bare date (midnight UTC).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snaptrades_timestamp_spellings_all_read_as_utc() {
        let expected = DateTime::parse_from_rfc3339("2024-08-20T21:56:19.123935Z").unwrap();
        for text in [
            "2024-08-20 21:56:19.123935+00:00",
            "2024-08-20T21:56:19.123935Z",
            "2024-08-20T17:56:19.123935-04:00",
            "2024-08-20 21:56:19.123935",
        ] {
            assert_eq!(
                parse_timestamp(text),
                Some(expected.with_timezone(&Utc)),
                "{text}"
            );
        }
        assert_eq!(
            parse_timestamp("2024-08-20").unwrap().to_rfc3339(),
            "2024-08-20T00:00:00+00:00"
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
