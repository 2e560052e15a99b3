//! A prepared statement whose text and blob parameters are bound without a copy.
//!
//! rusqlite binds every text and blob with `SQLITE_TRANSIENT`: SQLite mallocs and copies each
//! value, and frees the copy when the parameter is bound again. For the writer's INSERT of a
//! message (about 25 values, half of them text) that was a fifth of the writer's instructions
//! (docs/PERFORMANCE.md). rusqlite has no way to bind with `SQLITE_STATIC`, so this module calls
//! SQLite's C API for the one statement that needs it, and keeps that unsafe code small:
//!
//! - `StaticStatement` owns a `sqlite3_stmt` prepared on a connection and finalizes it on drop.
//!   Its owner drops it before the connection (the `Store` declares it first).
//! - `Bind<'a>` borrows every value it binds for `'a`, so the borrow checker keeps them alive
//!   until the statement has run; its drop resets the statement and clears the bindings, so no
//!   pointer outlives the values, whether the statement ran, failed or never ran.

use std::ffi::{c_char, c_int, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

use rusqlite::{ffi, Connection};

pub(super) struct StaticStatement {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
    params: c_int,
}

// SAFETY: the statement is used only through `&mut self`, by the thread that owns the `Store`
// and its connection, and moves with them; SQLite allows a connection and its statements to
// move between threads when they are not used by two at once.
unsafe impl Send for StaticStatement {}

impl StaticStatement {
    /// Prepare `sql` (one statement, no trailing text) on `conn`, which must outlive the result.
    pub(super) fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<StaticStatement> {
        // SAFETY: `handle` is the open connection's pointer; it is only passed to SQLite.
        let db = unsafe { conn.handle() };
        let db = NonNull::new(db).ok_or(rusqlite::Error::InvalidQuery)?;
        let len = c_int::try_from(sql.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `sql` is valid for `len` bytes; SQLite writes the new statement into `stmt`.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast::<c_char>(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        let stmt = NonNull::new(stmt).ok_or(rusqlite::Error::InvalidQuery)?;
        // SAFETY: `stmt` was just prepared.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) };
        Ok(StaticStatement { stmt, db, params })
    }

    /// Start binding parameter 1, 2, … for one run.
    pub(super) fn bind<'a>(&mut self) -> Bind<'_, 'a> {
        Bind {
            stmt: self,
            next: 1,
            values: PhantomData,
        }
    }
}

impl Drop for StaticStatement {
    fn drop(&mut self) {
        // SAFETY: the statement is finalized once, here, before its connection closes.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// One run of a `StaticStatement`: every parameter bound in order, then `execute`.
pub(super) struct Bind<'s, 'a> {
    stmt: &'s mut StaticStatement,
    next: c_int,
    values: PhantomData<&'a [u8]>,
}

impl<'a> Bind<'_, 'a> {
    pub(super) fn text(&mut self, value: &'a str) -> rusqlite::Result<()> {
        let (ptr, len) = (value.as_ptr().cast::<c_char>(), value.len() as u64);
        // SAFETY: `value` is borrowed for 'a, which outlives this Bind, whose drop clears the
        // binding; SQLITE_STATIC tells SQLite not to free it.
        self.checked(|stmt, i| unsafe {
            ffi::sqlite3_bind_text64(
                stmt,
                i,
                ptr,
                len,
                ffi::SQLITE_STATIC(),
                ffi::SQLITE_UTF8 as u8,
            )
        })
    }

    pub(super) fn opt_text(&mut self, value: Option<&'a str>) -> rusqlite::Result<()> {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub(super) fn opt_blob(&mut self, value: Option<&'a [u8]>) -> rusqlite::Result<()> {
        let Some(value) = value else {
            return self.null();
        };
        let (ptr, len) = (value.as_ptr().cast(), value.len() as u64);
        // SAFETY: as in `text`.
        self.checked(|stmt, i| unsafe {
            ffi::sqlite3_bind_blob64(stmt, i, ptr, len, ffi::SQLITE_STATIC())
        })
    }

    pub(super) fn int(&mut self, value: i64) -> rusqlite::Result<()> {
        // SAFETY: an integer is copied into the statement.
        self.checked(|stmt, i| unsafe { ffi::sqlite3_bind_int64(stmt, i, value) })
    }

    pub(super) fn opt_int(&mut self, value: Option<i64>) -> rusqlite::Result<()> {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// Leave the next parameter NULL. Every parameter is NULL when a `Bind` starts (a new
    /// statement's are; the last `Bind`'s drop cleared them), so nothing is called: a syslog
    /// row leaves a third of its parameters NULL.
    pub(super) fn null(&mut self) -> rusqlite::Result<()> {
        self.checked(|_, _| ffi::SQLITE_OK)
    }

    /// Run the statement to completion, once every parameter is bound.
    pub(super) fn execute(self) -> rusqlite::Result<()> {
        if self.next != self.stmt.params + 1 {
            return Err(rusqlite::Error::InvalidParameterCount(
                (self.next - 1) as usize,
                self.stmt.params as usize,
            ));
        }
        // SAFETY: every parameter is bound to a value that outlives `self`.
        match unsafe { ffi::sqlite3_step(self.stmt.stmt.as_ptr()) } {
            ffi::SQLITE_DONE => Ok(()),
            ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
            rc => Err(error(self.stmt.db, rc)),
        }
    }

    /// Bind the next parameter with `f(stmt, index)`.
    fn checked(
        &mut self,
        f: impl FnOnce(*mut ffi::sqlite3_stmt, c_int) -> c_int,
    ) -> rusqlite::Result<()> {
        if self.next > self.stmt.params {
            return Err(rusqlite::Error::InvalidParameterCount(
                self.next as usize,
                self.stmt.params as usize,
            ));
        }
        let rc = f(self.stmt.stmt.as_ptr(), self.next);
        self.next += 1;
        match rc {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(error(self.stmt.db, rc)),
        }
    }
}

impl Drop for Bind<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: after these two calls the statement holds no pointer to the borrowed values.
        unsafe {
            ffi::sqlite3_reset(self.stmt.stmt.as_ptr());
            ffi::sqlite3_clear_bindings(self.stmt.stmt.as_ptr());
        }
    }
}

/// The connection's error for a failed call, as rusqlite reports it (so `is_transient` sees the
/// same codes: disk full, busy, I/O).
fn error(db: NonNull<ffi::sqlite3>, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is open; sqlite3_errmsg returns a NUL-terminated string it owns.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db.as_ptr());
        let message = ffi::sqlite3_errmsg(db.as_ptr());
        let message =
            (!message.is_null()).then(|| CStr::from_ptr(message).to_string_lossy().into_owned());
        (code, message)
    };
    // A step's primary code is in `rc`; the connection's extended code refines it when it agrees.
    let code = if code & 0xff == rc & 0xff { code } else { rc };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_left_null_is_null_even_where_the_last_run_bound_a_value() {
        let conn = Connection::open_in_memory().expect("memory database");
        conn.execute_batch("CREATE TABLE t (a TEXT, b TEXT, c INTEGER)")
            .expect("table");
        let mut stmt =
            StaticStatement::prepare(&conn, "INSERT INTO t VALUES (?1, ?2, ?3)").expect("prepare");
        let (one, two) = ("one".to_string(), "two".to_string());
        let mut bind = stmt.bind();
        bind.text(&one).expect("bind");
        bind.opt_text(Some(&two)).expect("bind");
        bind.int(7).expect("bind");
        bind.execute().expect("first row");
        let mut bind = stmt.bind();
        bind.text(&two).expect("bind");
        bind.opt_text(None).expect("bind");
        bind.opt_int(None).expect("bind");
        bind.execute().expect("second row");
        let rows: Vec<(String, Option<String>, Option<i64>)> = conn
            .prepare("SELECT a, b, c FROM t ORDER BY rowid")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            vec![
                ("one".into(), Some("two".into()), Some(7)),
                ("two".into(), None, None)
            ]
        );
    }

    #[test]
    fn too_few_or_too_many_parameters_are_errors_not_a_run() {
        let conn = Connection::open_in_memory().expect("memory database");
        conn.execute_batch("CREATE TABLE t (a TEXT)")
            .expect("table");
        let mut stmt =
            StaticStatement::prepare(&conn, "INSERT INTO t VALUES (?1)").expect("prepare");
        assert!(stmt.bind().execute().is_err());
        let mut bind = stmt.bind();
        bind.null().expect("first parameter");
        assert!(bind.null().is_err());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 0);
    }
}
