//! Why a query did not run: the backend's own error, a value of the wrong type, a database that
//! is not there, or a connection that could not be made. No variant holds a password: the
//! PostgreSQL connector's errors name the server as `user@host:port/dbname`, and the driver's
//! texts never repeat one.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the database {} does not exist yet", .0.display())]
    Missing(PathBuf),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {}", error_chain(.0))]
    Postgres(#[from] postgres::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("column {index}: expected {expected}, found {found}")]
    Type {
        index: usize,
        expected: &'static str,
        found: &'static str,
    },
}

impl QueryError {
    /// True when the query was stopped at its deadline: interrupted (SQLite) or cancelled by
    /// `statement_timeout` (PostgreSQL's `query_canceled`).
    pub fn is_deadline(&self) -> bool {
        match self {
            QueryError::Sqlite(e) => {
                e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
            }
            QueryError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED),
            _ => false,
        }
    }
}

/// The driver's error with its causes (`db error: ERROR: relation "x" does not exist`,
/// `error connecting to server: Connection refused ...`): its own text names only the kind. The
/// server never repeats a password, and the driver's texts hold none.
pub fn error_chain(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
