//! One connection over either backend, and the rows it reads. A query is one SQL text with `?`
//! placeholders and a slice of [`Value`]s, run as it is on SQLite and with `$n` placeholders
//! (`placeholders`) and typed parameters (`pg_types`) on PostgreSQL. Rows are read one at a
//! time into a callback that says whether to go on, so a page that tests rows in Rust can stop
//! early, and nothing holds a whole result it does not want.

use std::collections::HashMap;
use std::ops::ControlFlow;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;

use crate::dialect::Dialect;
use crate::error::QueryError;
use crate::pg_types::{Cell, Param};
use crate::placeholders;
use crate::value::{FromValue, Value};

/// Prepared statements a PostgreSQL connection keeps (the pages use a few dozen texts); past
/// this the cache starts again, closing the old ones.
const STATEMENT_CACHE: usize = 128;

/// A connection to the collector's database.
pub struct Conn {
    backend: Backend,
}

enum Backend {
    Sqlite(rusqlite::Connection),
    // Boxed: a PostgreSQL client is several times a SQLite connection's size.
    Postgres(Box<PgConn>),
}

struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conn({:?})", self.dialect())
    }
}

/// Stops a SQLite query from another thread; PostgreSQL's deadline is its session's
/// `statement_timeout`, so there is nothing to call.
pub enum Interrupter {
    Sqlite(rusqlite::InterruptHandle),
    None,
}

impl Interrupter {
    pub fn interrupt(&self) {
        if let Interrupter::Sqlite(h) = self {
            h.interrupt();
        }
    }
}

/// One row, read by column index.
pub struct Row<'a>(RowRef<'a>);

enum RowRef<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    /// The number of columns.
    pub fn len(&self) -> usize {
        match &self.0 {
            RowRef::Sqlite(r) => r.as_ref().column_count(),
            RowRef::Postgres(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Column `index` as a [`Value`].
    pub fn value(&self, index: usize) -> Result<Value, QueryError> {
        Ok(match &self.0 {
            RowRef::Sqlite(r) => Value::from(r.get_ref(index)?),
            RowRef::Postgres(r) => r.try_get::<_, Cell>(index)?.0,
        })
    }

    /// False when column `index` is SQLite text that is not UTF-8 (which [`Row::value`] reads
    /// with U+FFFD in place of the bad bytes); PostgreSQL text is always UTF-8 in a UTF8
    /// database. For a reader that must stop rather than alter a value (the archiver).
    pub fn is_utf8(&self, index: usize) -> bool {
        match &self.0 {
            RowRef::Sqlite(r) => match r.get_ref(index) {
                Ok(rusqlite::types::ValueRef::Text(t)) => std::str::from_utf8(t).is_ok(),
                _ => true,
            },
            RowRef::Postgres(_) => true,
        }
    }

    /// Column `index` as `T` (`String`, `i64`, `bool`, `Option<…>`, …).
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T, QueryError> {
        let v = self.value(index)?;
        let found = v.kind();
        T::from_value(v).map_err(|expected| QueryError::Type {
            index,
            expected,
            found,
        })
    }
}

impl Conn {
    /// A SQLite connection the caller opened (read-only or not, as it chose).
    pub fn sqlite(conn: rusqlite::Connection) -> Conn {
        Conn {
            backend: Backend::Sqlite(conn),
        }
    }

    /// A PostgreSQL client the caller connected.
    pub fn postgres(client: postgres::Client) -> Conn {
        Conn {
            backend: Backend::Postgres(Box::new(PgConn {
                client,
                statements: HashMap::new(),
            })),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// What stops this connection's query from another thread.
    pub fn interrupter(&self) -> Interrupter {
        match &self.backend {
            Backend::Sqlite(c) => Interrupter::Sqlite(c.get_interrupt_handle()),
            Backend::Postgres(_) => Interrupter::None,
        }
    }

    /// True when the connection can be used again (a PostgreSQL client whose socket closed
    /// cannot).
    pub fn is_usable(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => true,
            Backend::Postgres(pg) => !pg.client.is_closed(),
        }
    }

    /// Run statements without parameters or results (session settings).
    pub fn batch(&mut self, sql: &str) -> Result<(), QueryError> {
        match &mut self.backend {
            Backend::Sqlite(c) => c.execute_batch(sql)?,
            Backend::Postgres(pg) => pg.client.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Run `sql` with `params`, handing each row to `each` until it breaks or the rows end.
    pub fn for_each<F>(
        &mut self,
        sql: &str,
        params: &[Value],
        mut each: F,
    ) -> Result<(), QueryError>
    where
        F: FnMut(&Row<'_>) -> Result<ControlFlow<()>, QueryError>,
    {
        match &mut self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
                while let Some(r) = rows.next()? {
                    if each(&Row(RowRef::Sqlite(r)))?.is_break() {
                        break;
                    }
                }
            }
            Backend::Postgres(pg) => {
                let stmt = pg.prepare(sql)?;
                let bound = params.iter().map(Param);
                let mut rows = pg.client.query_raw(&stmt, bound)?;
                // Rows left unread when `each` breaks are discarded by the driver; every query
                // here has a LIMIT, so they are few.
                while let Some(r) = rows.next()? {
                    if each(&Row(RowRef::Postgres(&r)))?.is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every row of `sql` as values (for results known to be small).
    pub fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, QueryError> {
        let mut out = Vec::new();
        self.for_each(sql, params, |r| {
            let row = (0..r.len()).map(|i| r.value(i)).collect::<Result<_, _>>()?;
            out.push(row);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    /// The first row of `sql` read by `read`, or None.
    pub fn first<T, F>(
        &mut self,
        sql: &str,
        params: &[Value],
        read: F,
    ) -> Result<Option<T>, QueryError>
    where
        F: FnOnce(&Row<'_>) -> Result<T, QueryError>,
    {
        let mut read = Some(read);
        let mut out = None;
        self.for_each(sql, params, |r| {
            if let Some(f) = read.take() {
                out = Some(f(r)?);
            }
            Ok(ControlFlow::Break(()))
        })?;
        Ok(out)
    }

    /// Run a statement that returns no rows; the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, QueryError> {
        match &mut self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
            }
            Backend::Postgres(pg) => {
                let stmt = pg.prepare(sql)?;
                let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
                let refs: Vec<&(dyn ToSql + Sync)> =
                    bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                Ok(pg.client.execute(&stmt, &refs)?)
            }
        }
    }
}

impl Conn {
    /// Run `f` in one transaction: committed when it returns `Ok`, rolled back when it returns
    /// `Err` (the error is `f`'s, not the rollback's). SQLite's `BEGIN` is deferred, as
    /// rusqlite's `transaction()`: the write lock is taken by the first write.
    pub fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        E: From<QueryError>,
        F: FnOnce(&mut Conn) -> Result<T, E>,
    {
        self.batch("BEGIN")?;
        match f(self) {
            Ok(out) => {
                self.batch("COMMIT")?;
                Ok(out)
            }
            Err(e) => {
                // The connection may be gone (the cause of `e`); then there is nothing to undo.
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

impl PgConn {
    /// `sql` prepared on the server once per connection, with PostgreSQL's placeholders; the
    /// statement knows the type the server inferred for each parameter.
    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement, QueryError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.prepare(&placeholders::to_postgres(sql))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Conn {
        let mut conn = Conn::sqlite(rusqlite::Connection::open_in_memory().expect("open"));
        conn.batch("CREATE TABLE t (a INTEGER)").expect("create");
        conn
    }

    fn count(conn: &mut Conn) -> i64 {
        conn.first("SELECT count(*) FROM t", &[], |r| r.get(0))
            .expect("count")
            .expect("a row")
    }

    #[test]
    fn a_transaction_commits_on_ok_and_rolls_back_on_err() {
        let mut conn = table();
        conn.transaction(|c| c.execute("INSERT INTO t VALUES (?)", &[Value::Integer(1)]))
            .expect("commit");
        let failed: Result<(), QueryError> = conn.transaction(|c| {
            c.execute("INSERT INTO t VALUES (?)", &[Value::Integer(2)])?;
            c.execute("INSERT INTO nowhere VALUES (1)", &[])?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(count(&mut conn), 1, "the second insert was rolled back");
        conn.transaction(|c| c.execute("INSERT INTO t VALUES (3)", &[]))
            .expect("usable after a rollback");
        assert_eq!(count(&mut conn), 2);
    }

    #[test]
    fn sqlite_text_that_is_not_utf8_is_seen_as_such() {
        let mut conn = table();
        conn.batch("CREATE TABLE s (x TEXT); INSERT INTO s VALUES (CAST(x'ff41' AS TEXT)), ('ok')")
            .expect("insert");
        let mut seen = Vec::new();
        conn.for_each("SELECT x FROM s ORDER BY rowid", &[], |r| {
            seen.push(r.is_utf8(0));
            Ok(ControlFlow::Continue(()))
        })
        .expect("read");
        assert_eq!(seen, [false, true]);
    }
}
