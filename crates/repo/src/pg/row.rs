//! Reading a row into domain types: every column is checked, and a value the domain refuses is
//! [`RepoError::InvalidData`] naming the column.

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use tributary_domain::DomainError;
use uuid::Uuid;

use crate::RepoError;

/// A row being read, column by column.
pub(crate) struct Columns<'r>(pub(crate) &'r PgRow);

impl<'r> Columns<'r> {
    /// A column as its SQL type.
    pub(crate) fn get<T>(&self, column: &'static str) -> Result<T, RepoError>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        self.0
            .try_get(column)
            .map_err(|error| RepoError::invalid(column, error.to_string()))
    }

    /// A text column parsed into a domain type.
    pub(crate) fn parse<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Result<T, RepoError> {
        let text: String = self.get(column)?;
        parse(&text).map_err(|error| in_column(column, error))
    }

    /// A nullable text column parsed into a domain type.
    pub(crate) fn parse_opt<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Result<Option<T>, RepoError> {
        let text: Option<String> = self.get(column)?;
        text.map(|text| parse(&text).map_err(|error| in_column(column, error)))
            .transpose()
    }

    /// A uuid column as an id newtype.
    pub(crate) fn id<T: From<Uuid>>(&self, column: &'static str) -> Result<T, RepoError> {
        Ok(T::from(self.get::<Uuid>(column)?))
    }

    /// A nullable uuid column as an id newtype.
    pub(crate) fn opt_id<T: From<Uuid>>(
        &self,
        column: &'static str,
    ) -> Result<Option<T>, RepoError> {
        Ok(self.get::<Option<Uuid>>(column)?.map(T::from))
    }

    /// A nullable numeric column as a checked decimal type; NULL is read as the column's default of 0.
    pub(crate) fn decimal_or_zero<T>(
        &self,
        column: &'static str,
        new_for: fn(&'static str, Decimal) -> Result<T, DomainError>,
    ) -> Result<T, RepoError> {
        let value: Option<Decimal> = self.get(column)?;
        new_for(column, value.unwrap_or_default()).map_err(|error| in_column(column, error))
    }

    /// A nullable numeric column as a checked decimal type.
    pub(crate) fn opt_decimal<T>(
        &self,
        column: &'static str,
        new_for: fn(&'static str, Decimal) -> Result<T, DomainError>,
    ) -> Result<Option<T>, RepoError> {
        let value: Option<Decimal> = self.get(column)?;
        value
            .map(|value| new_for(column, value).map_err(|error| in_column(column, error)))
            .transpose()
    }

    /// A JSONB column deserialized into a domain type (which checks its values); NULL is read as `default`.
    pub(crate) fn json_or<T: DeserializeOwned>(
        &self,
        column: &'static str,
        default: impl FnOnce() -> T,
    ) -> Result<T, RepoError> {
        match self.get::<Option<serde_json::Value>>(column)? {
            None => Ok(default()),
            Some(value) => serde_json::from_value(value)
                .map_err(|error| RepoError::invalid(column, error.to_string())),
        }
    }

    /// A nullable JSONB column deserialized into a domain type.
    pub(crate) fn opt_json<T: DeserializeOwned>(
        &self,
        column: &'static str,
    ) -> Result<Option<T>, RepoError> {
        self.json_or(column, || None)
    }
}

/// A domain error found reading `column`, named by the column (the domain names its own field, which for
/// shared types such as names is not always the column).
fn in_column(column: &'static str, error: DomainError) -> RepoError {
    RepoError::invalid(column, error.to_string())
}
