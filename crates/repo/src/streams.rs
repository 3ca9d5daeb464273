//! The names and ids of providers' event streams, as the store keeps them (`event_stream_positions`).

use std::fmt;

use crate::RepoError;

/// The name of a consumed event stream (`alpaca/trade-events`): chosen by the service, 1–100 printable
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

impl StreamName {
    /// Checks a stream's name.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"stream_name"`) when it is empty, longer than 100 characters or holds a
    /// control character.
    pub fn parse(name: &str) -> Result<Self, RepoError> {
        checked("stream_name", name, 100).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event's id in its stream, as the provider issued it. Ids of one stream compare as text in the order they
/// were issued (Alpaca's are ULIDs, "lexically sortable, monotonically increasing"); the store relies on it to
/// move a position only forward.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamEventId(String);

impl StreamEventId {
    /// Checks an event id.
    ///
    /// # Errors
    /// [`RepoError::InvalidData`] (`"last_event_id"`) when it is empty, longer than 200 characters or holds a
    /// control character.
    pub fn parse(id: &str) -> Result<Self, RepoError> {
        checked("last_event_id", id, 200).map(Self)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The column's check (migration 0020), before any SQL runs.
fn checked(field: &'static str, text: &str, max: usize) -> Result<String, RepoError> {
    if text.is_empty() || text.chars().count() > max {
        return Err(RepoError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(RepoError::invalid(field, "holds a control character"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_name_is_short_printable_text() {
        assert_eq!(
            StreamName::parse("alpaca/trade-events").unwrap().as_str(),
            "alpaca/trade-events"
        );
        for bad in ["", "a\0b", "a\nb", &"x".repeat(101)] {
            assert!(StreamName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn event_ids_compare_as_text() {
        let earlier = StreamEventId::parse("01G112NTT0XAXKDZK3AABK68TH").unwrap();
        let later = StreamEventId::parse("01G112NTT0XAXKDZK3AABK68TJ").unwrap();
        assert!(earlier < later);
        assert!(StreamEventId::parse(&"x".repeat(201)).is_err());
    }
}
