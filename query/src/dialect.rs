//! Where SQLite and PostgreSQL truly differ for MUTT's queries, as a short list of named
//! fragments: each query is written once and takes the fragment from its connection's dialect.
//!
//! What is *not* here, because it is the same text on both: `LIMIT`, `max()`, `count(*)`, keyset
//! comparisons of ids (UUIDv7 as lowercase hex text with hyphens at fixed places sort the same
//! bytewise and in any collation PostgreSQL ships, which ranks digits before letters and compares
//! hyphens only to break ties, so the primary key's index in the database's own collation serves
//! them; adding `COLLATE "C"` would keep that index out), and case-insensitive search (the pages
//! test text in Rust, see `mutt-web`'s filter).

/// The SQL dialect of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A column that follows the order rows were stored in: SQLite's `rowid`, which every index
    /// holds, so "a device's rows before this one" is a short walk of `idx_source_ip`;
    /// PostgreSQL has no such column, and ids are in arrival order, so `id`.
    pub fn arrival_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "id",
        }
    }

    /// `column` where the planner should not pick the column's own index: SQLite's unary `+`
    /// (a no-op on the value that hides the index). PostgreSQL has no unary `+` on text and
    /// plans by statistics, so the column as is.
    pub fn unindexed(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("+{column}"),
            Dialect::Postgres => column.to_string(),
        }
    }
}
