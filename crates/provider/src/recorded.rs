//! A list item of a provider's answer, read twice: as the JSON it was, kept as the record of what the provider
//! said, and as its typed wire shape. An item whose shape is wrong carries the reason instead of its typed
//! value, so one odd item is left out and reported while the rest of the page is read.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::Value;
use tributary_domain::{DomainError, RawRecord};

/// One item of a list, with the JSON it arrived as.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recorded<T> {
    /// The item exactly as received.
    pub json: Value,
    /// The item in its wire shape, or why it does not fit it.
    pub item: Result<T, String>,
}

impl<T> Recorded<T> {
    /// The received JSON as a stored raw record.
    pub fn raw(&self) -> Result<RawRecord, DomainError> {
        RawRecord::parse(self.json.clone())
    }

    /// The string field `name` of the received JSON, when it is one: an item's id, to name it when its shape
    /// is wrong.
    pub fn text(&self, name: &str) -> Option<String> {
        self.json
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Recorded<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(deserializer)?;
        let item = T::deserialize(&json).map_err(|error| error.to_string());
        Ok(Self { json, item })
    }
}
