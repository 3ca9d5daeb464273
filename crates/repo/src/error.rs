//! The crate's one error type, and how database failures are sorted into it.

use tributary_domain::DomainError;

use crate::secret::SecretError;

/// Why a repository call failed, sorted into what a caller can act on. No `sqlx` type appears here: the
/// database's errors are classified where they happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The row does not exist for this user (or a row it refers to does not).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `"account"`, `"order"`, `"user"`.
        entity: &'static str,
    },
    /// The write collides with a unique key held by another row (often another user's).
    #[error("conflict on {constraint}")]
    Conflict {
        /// The constraint that refused the write, e.g. `"snaptrade_users_snaptrade_user_id_key"`.
        constraint: String,
    },
    /// Not allowed: row-level security, a missing privilege (SQLSTATE 42501), or a user-scoped store asked to
    /// act for another user.
    #[error("forbidden: {reason}")]
    Forbidden {
        /// What was refused.
        reason: String,
    },
    /// A value the domain or the schema does not accept, on the way in or on the way out of the database.
    #[error("invalid {field}: {reason}")]
    InvalidData {
        /// The field (column) at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be reached or used: pool timeout, closed pool, I/O, TLS, a server shutting down,
    /// a serialization failure or deadlock. Retrying later may succeed.
    #[error("database unavailable: {reason}")]
    Unavailable {
        /// What failed.
        reason: String,
    },
    /// A database URL [`PgStore::connect`](crate::PgStore::connect) cannot use. The reason names the part at
    /// fault and never repeats the URL, which may hold a password. Not retryable: the configuration is wrong.
    #[error("bad database URL: {reason}")]
    BadDatabaseUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// A sealed secret could not be sealed or opened (unknown key, wrong key, tampered value).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A store was asked to bind itself ([`crate::LockRepository::within`]) to a user lock it did not take: one
    /// of another store, or of another kind of store. A bug in the caller, not retryable.
    #[error("the user lock was not taken from this store ({store})")]
    ForeignLock {
        /// The store that refused it, e.g. `"postgres"`, `"memory"`.
        store: &'static str,
    },
    /// Anything else the database reported: a schema that does not match the code, a bug. Not retryable.
    #[error("unexpected database error: {reason}")]
    Internal {
        /// What the database said.
        reason: String,
    },
}

impl RepoError {
    /// An [`RepoError::InvalidData`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidData {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A [`RepoError::Forbidden`] with the reason.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::Forbidden {
            reason: reason.into(),
        }
    }
}

/// A domain value that cannot be built is invalid data, named by the domain's field.
impl From<DomainError> for RepoError {
    fn from(error: DomainError) -> Self {
        let field = match &error {
            DomainError::InvalidUuid { field, .. }
            | DomainError::InvalidText { field, .. }
            | DomainError::UnknownValue { field, .. }
            | DomainError::NumericOverflow { field, .. }
            | DomainError::Negative { field, .. }
            | DomainError::InvalidDecimal { field, .. }
            | DomainError::Invalid { field, .. } => *field,
            DomainError::InvalidFlag { variable, .. } => *variable,
            _ => "value",
        };
        Self::invalid(field, error.to_string())
    }
}

/// Sorts a `sqlx` error into a [`RepoError`]. Crate-private so `sqlx` never shows in the public API.
pub(crate) fn classify(error: sqlx::Error) -> RepoError {
    match error {
        sqlx::Error::Database(database) => classify_database(database.as_ref()),
        sqlx::Error::RowNotFound => RepoError::NotFound { entity: "row" },
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::BeginFailed => RepoError::Unavailable {
            reason: error.to_string(),
        },
        sqlx::Error::ColumnDecode { index, source } => {
            RepoError::invalid(index.trim_matches('"'), source.to_string())
        }
        sqlx::Error::Decode(source) => RepoError::invalid("value", source.to_string()),
        sqlx::Error::Encode(source) => RepoError::invalid("value", source.to_string()),
        other => RepoError::Internal {
            reason: other.to_string(),
        },
    }
}

/// Sorts an error the server returned by its SQLSTATE class.
fn classify_database(error: &dyn sqlx::error::DatabaseError) -> RepoError {
    let code = error
        .code()
        .map(|code| code.into_owned())
        .unwrap_or_default();
    let constraint = error.constraint().map(str::to_owned);
    match code.as_str() {
        "23505" | "23P01" => RepoError::Conflict {
            constraint: constraint.unwrap_or_else(|| "unique key".to_owned()),
        },
        "23503" => RepoError::NotFound {
            entity: referenced_entity(constraint.as_deref().unwrap_or_default()),
        },
        "42501" => RepoError::forbidden(error.message()),
        "23514" | "23502" => RepoError::invalid(
            offending_field(error, constraint.as_deref()),
            error.message(),
        ),
        "40001" | "40P01" | "57014" | "57P01" | "57P02" | "57P03" | "53300" => {
            RepoError::Unavailable {
                reason: error.message().to_owned(),
            }
        }
        class if class.starts_with("22") => RepoError::invalid(
            offending_field(error, constraint.as_deref()),
            error.message(),
        ),
        class if class.starts_with("08") || class.starts_with("53") => RepoError::Unavailable {
            reason: error.message().to_owned(),
        },
        _ => RepoError::Internal {
            reason: format!("{code}: {}", error.message()),
        },
    }
}

/// The row a foreign key points at, from the schema's constraint names (`<table>_<column>_fkey`).
fn referenced_entity(constraint: &str) -> &'static str {
    if constraint.ends_with("account_id_fkey") {
        "account"
    } else if constraint.ends_with("user_id_fkey") {
        "user"
    } else {
        "referenced row"
    }
}

/// The column at fault: PostgreSQL names it for NOT NULL violations; for CHECKs the schema's constraint names are
/// `<table>_<column>_check`, so the column is what lies between.
fn offending_field(error: &dyn sqlx::error::DatabaseError, constraint: Option<&str>) -> String {
    if let Some(column) = error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.column())
    {
        return column.to_owned();
    }
    let Some(constraint) = constraint else {
        return "value".to_owned();
    };
    let without_table = error
        .table()
        .and_then(|table| constraint.strip_prefix(table)?.strip_prefix('_'))
        .unwrap_or(constraint);
    without_table
        .strip_suffix("_check")
        .unwrap_or(without_table)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::error::Error as StdError;
    use std::fmt;

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// A server error as the driver reports it, for the codes the classification looks at.
    #[derive(Debug)]
    struct ServerError {
        code: &'static str,
        message: &'static str,
        constraint: Option<&'static str>,
        table: Option<&'static str>,
    }

    impl ServerError {
        fn new(code: &'static str, message: &'static str) -> Self {
            Self {
                code,
                message,
                constraint: None,
                table: None,
            }
        }

        fn on(mut self, table: &'static str, constraint: &'static str) -> sqlx::Error {
            self.table = Some(table);
            self.constraint = Some(constraint);
            sqlx::Error::Database(Box::new(self))
        }

        fn into_sqlx(self) -> sqlx::Error {
            sqlx::Error::Database(Box::new(self))
        }
    }

    impl fmt::Display for ServerError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl StdError for ServerError {}

    impl DatabaseError for ServerError {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn constraint(&self) -> Option<&str> {
            self.constraint
        }
        fn table(&self) -> Option<&str> {
            self.table
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    #[test]
    fn a_unique_violation_is_a_conflict_naming_the_constraint() {
        let error = ServerError::new("23505", "duplicate key")
            .on("snaptrade_users", "snaptrade_users_snaptrade_user_id_key");
        assert!(matches!(
            classify(error),
            RepoError::Conflict { constraint } if constraint == "snaptrade_users_snaptrade_user_id_key"
        ));
    }

    #[test]
    fn a_missing_account_or_user_behind_a_foreign_key_is_not_found() {
        let account = ServerError::new("23503", "fk")
            .on("snaptrade_orders", "snaptrade_orders_account_id_fkey");
        let user = ServerError::new("23503", "fk").on(
            "snaptrade_brokerage_connections",
            "snaptrade_brokerage_connections_user_id_fkey",
        );
        assert!(matches!(
            classify(account),
            RepoError::NotFound { entity: "account" }
        ));
        assert!(matches!(
            classify(user),
            RepoError::NotFound { entity: "user" }
        ));
    }

    #[test]
    fn insufficient_privilege_and_row_level_security_are_forbidden() {
        let rls = ServerError::new(
            "42501",
            "new row violates row-level security policy for table \"snaptrade_orders\"",
        );
        let error = classify(rls.into_sqlx());
        assert!(
            matches!(&error, RepoError::Forbidden { reason } if reason.contains("row-level security")),
            "{error:?}"
        );
    }

    #[test]
    fn a_check_violation_is_invalid_data_naming_the_column() {
        let error = ServerError::new("23514", "violates check constraint").on(
            "user_investment_accounts",
            "user_investment_accounts_institution_name_check",
        );
        assert!(matches!(
            classify(error),
            RepoError::InvalidData { field, .. } if field == "institution_name"
        ));
    }

    #[test]
    fn a_data_exception_is_invalid_data() {
        let overflow = ServerError::new("22003", "numeric field overflow").into_sqlx();
        assert!(matches!(
            classify(overflow),
            RepoError::InvalidData { reason, .. } if reason == "numeric field overflow"
        ));
    }

    #[test]
    fn pool_io_and_shutdown_failures_are_unavailable() {
        let failures = [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            ServerError::new("57P01", "terminating connection").into_sqlx(),
            ServerError::new("08006", "connection failure").into_sqlx(),
            ServerError::new("40001", "could not serialize access").into_sqlx(),
        ];
        for failure in failures {
            let shown = failure.to_string();
            assert!(
                matches!(classify(failure), RepoError::Unavailable { .. }),
                "{shown}"
            );
        }
    }

    #[test]
    fn an_unknown_server_error_is_internal_with_its_code() {
        let error = classify(ServerError::new("42P01", "relation does not exist").into_sqlx());
        assert!(
            matches!(&error, RepoError::Internal { reason } if reason.starts_with("42P01")),
            "{error:?}"
        );
    }

    #[test]
    fn a_domain_error_is_invalid_data_naming_the_domain_field() {
        let error = RepoError::from(tributary_domain::UserId::parse("not-a-uuid").unwrap_err());
        assert!(matches!(
            error,
            RepoError::InvalidData { field, reason } if field == "user_id" && reason.contains("not-a-uuid")
        ));
    }
}
