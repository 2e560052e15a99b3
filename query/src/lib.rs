//! MUTT's query layer: each query that reads (or, for the archiver, writes) the collector's
//! database is written once, as SQLite SQL with `?` placeholders and bound [`Value`]s, and runs
//! on either backend.
//!
//! The map: [`Value`] is SQLite's five storage classes; [`Conn`] runs one SQL text on a SQLite
//! connection as is, or on a PostgreSQL client with `$n` placeholders (`placeholders`), each
//! parameter converted to the type PostgreSQL inferred for it and each cell converted back to
//! what SQLite gives for that column (`pg_types`: times as SQLite's ISO 8601 text, booleans as
//! 0/1, jsonb as text). Where the dialects truly differ, [`Dialect`] names the fragment.
//! [`Pool`] opens connections to a [`Source`] (the SQLite file, or a PostgreSQL connector that
//! mutt hands in) with a [`Session`]'s settings: read-only, and a deadline.
//!
//! Below mutt and its web UI: it knows no table, only how to run SQL on both.

mod conn;
mod dialect;
mod error;
mod pg_types;
mod placeholders;
mod pool;
mod value;

pub use conn::{Conn, Interrupter, Row};
pub use dialect::Dialect;
pub use error::{error_chain, QueryError};
pub use pool::{Connect, PgSource, Pool, Pooled, Session, Source};
pub use value::{FromValue, Value};

/// The PostgreSQL client this layer runs on, for the crate that connects it.
pub use postgres;
