//! The SQLite schema: the seed design's tables and columns (the contract with the web UI and any
//! tool pointed at the database), extended, never renamed; and the migrations that get any older
//! file there.
//!
//! Version history (`PRAGMA user_version`):
//! - 0: an empty file, or one written by the seed design (its tables, no version).
//! - 1: the seed tables with `CREATE INDEX IF NOT EXISTS`, `snmp_messages.community_string`, the
//!   columns below marked *added*, `mutt_checkpoint`, `rule_counters` and `webhook_outbox`.
//! - 2: `messages.raw_bytes` (the bytes as received, where `raw_message` is not them exactly) and
//!   `dead_letters` (records that could not be stored even raw).
//! - 3: one B-tree insert fewer per message. The type-specific columns live in `messages`
//!   (`syslog_*`, `snmp_*`, below), and `syslog_messages` / `snmp_messages` are views over it
//!   with the seed's column names, so every query that reads them still works. An older file's
//!   two tables are copied into those columns and dropped, once, in the migration's transaction.
//!   A new file's time columns are declared `TEXT`: the seed's `DATETIME` has numeric affinity,
//!   so SQLite tried every ISO 8601 string as a number before storing it as text. (An older
//!   file keeps its declarations; the values are the same text.) docs/PERFORMANCE.md has the
//!   figures.
//! - 4: `archives` gains what `mutt archive` needs to finish a run after a crash and to check a
//!   file: message_type, sha256, first_id, last_id, deleted_at (NULL while the archived rows
//!   are still being deleted). Columns only; the migration is the same idempotent pass.
//! - 5: `archives.expired_at`: when the archiver's retention (`storage.archiver.keep_days`,
//!   `max_total_mb`) deleted the file; the row stays as the record of what was archived. One
//!   column; the same idempotent pass.
//! - 6: the device index by blocks of rows (blocks.rs): `device_blocks` and `message_blocks`
//!   instead of `idx_source_ip`, which cost each message an insert at its device's own place in
//!   a large B-tree. The migration fills the two tables from the rows there are (two reads of
//!   `messages`) and drops `idx_source_ip`.

use rusqlite::Connection;

pub const SCHEMA_VERSION: i64 = 6;

/// The tables, with the seed's names and columns, as a new file gets them; `CREATE ... IF NOT
/// EXISTS` keeps an older file's. The columns MUTT adds come after, for both (`ADDED_COLUMNS`).
/// `messages` stays a rowid table: clustered on its text id, every other index would carry the
/// 36-character id instead of an 8-byte rowid, and writing was measured slower.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    hostname TEXT UNIQUE NOT NULL,
    source_ip TEXT UNIQUE NOT NULL,
    last_seen_snmp_version TEXT,
    last_seen_syslog BOOLEAN DEFAULT 0,
    first_seen DATETIME DEFAULT CURRENT_TIMESTAMP,
    last_updated DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS archives (
    id TEXT PRIMARY KEY,
    filename TEXT UNIQUE NOT NULL,
    message_count INTEGER,
    size_bytes INTEGER,
    archived_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    earliest_message_timestamp DATETIME,
    latest_message_timestamp DATETIME
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    source_device TEXT,
    timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL,
    raw_message TEXT,
    validated BOOLEAN DEFAULT 0,
    validation_errors TEXT,
    matched_rule_id TEXT,
    matched_rule_name TEXT,
    match_severity TEXT,
    enriched_data TEXT,
    stored_to_db BOOLEAN DEFAULT 0,
    stored_to_buffer BOOLEAN DEFAULT 0,
    error_message TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS snmpv3_auth_failures (
    id TEXT PRIMARY KEY,
    username TEXT UNIQUE NOT NULL,
    hostname TEXT,
    num_failures INTEGER DEFAULT 1,
    last_failure DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS mutt_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    wal_seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_counters (
    rule_id TEXT PRIMARY KEY,
    rule_name TEXT,
    matched INTEGER NOT NULL DEFAULT 0,
    discarded INTEGER NOT NULL DEFAULT 0,
    last_matched_at TEXT
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    fold_count INTEGER NOT NULL DEFAULT 1,
    fold_key INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wal_seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    source_port INTEGER,
    received_at TEXT NOT NULL,
    raw_bytes BLOB NOT NULL,
    error TEXT NOT NULL,
    created_at TEXT NOT NULL
);
";

/// Columns MUTT adds to the seed's tables: (table, column, declaration). The type-specific ones
/// follow from `SYSLOG_COLUMNS` and `SNMP_COLUMNS`.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("messages", "wal_seq", "INTEGER"),
    ("messages", "source_port", "INTEGER"),
    ("messages", "transport", "TEXT"),
    ("messages", "truncated", "BOOLEAN DEFAULT 0"),
    ("messages", "raw_bytes", "BLOB"),
    ("archives", "message_type", "TEXT"),
    ("archives", "sha256", "TEXT"),
    ("archives", "first_id", "TEXT"),
    ("archives", "last_id", "TEXT"),
    ("archives", "deleted_at", "TEXT"),
    ("archives", "expired_at", "TEXT"),
];

/// A type-specific column: (the seed's name in its view, the column in `messages`, its
/// declaration).
pub type TypedColumn = (&'static str, &'static str, &'static str);

/// `syslog_messages`' columns after `id` and `message_id`.
pub const SYSLOG_COLUMNS: &[TypedColumn] = &[
    ("facility", "syslog_facility", "TEXT"),
    ("level", "syslog_level", "INTEGER"),
    ("program", "syslog_program", "TEXT"),
    ("process_id", "syslog_process_id", "INTEGER"),
    ("tag", "syslog_tag", "TEXT"),
    ("hostname", "syslog_hostname", "TEXT"),
    ("msgid", "syslog_msgid", "TEXT"),
    ("structured_data", "syslog_structured_data", "TEXT"),
    ("format", "syslog_format", "TEXT"),
];

/// `snmp_messages`' columns after `id` and `message_id`, as `SYSLOG_COLUMNS`.
pub const SNMP_COLUMNS: &[TypedColumn] = &[
    ("oid", "snmp_oid", "TEXT"),
    ("trap_type", "snmp_trap_type", "TEXT"),
    ("snmp_version", "snmp_version", "TEXT"),
    ("community_string", "snmp_community_string", "TEXT"),
    ("security_name", "snmp_security_name", "TEXT"),
    ("engine_id", "snmp_engine_id", "TEXT"),
    ("security_level", "snmp_security_level", "TEXT"),
    ("pdu_type", "snmp_pdu_type", "TEXT"),
    ("request_id", "snmp_request_id", "INTEGER"),
    ("varbinds", "snmp_varbinds", "TEXT"),
    ("agent_addr", "snmp_agent_addr", "TEXT"),
    ("uptime", "snmp_uptime", "INTEGER"),
];

/// The two views and the message type each shows: (view, `messages.type`, columns). The one
/// list of message types and their columns (the archive reads it too).
pub const VIEWS: &[(&str, &str, &[TypedColumn])] = &[
    ("syslog_messages", "syslog", SYSLOG_COLUMNS),
    ("snmp_messages", "snmp_trap", SNMP_COLUMNS),
];

/// The seed's indexes, now idempotent, but for `idx_source_ip` (blocks.rs). Rule and severity
/// are partial indexes: most messages match no rule, and a lookup `matched_rule_id = ?` implies
/// NOT NULL, so SQLite still uses them while unmatched rows cost no index insert. (A seed-made
/// file keeps its full indexes.)
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS idx_device_hostname ON devices(hostname);
CREATE INDEX IF NOT EXISTS idx_device_ip ON devices(source_ip);
CREATE INDEX IF NOT EXISTS idx_device_snmp_version ON devices(last_seen_snmp_version);
CREATE INDEX IF NOT EXISTS idx_archive_date ON archives(archived_at);
CREATE INDEX IF NOT EXISTS idx_timestamp ON messages(timestamp);
CREATE INDEX IF NOT EXISTS idx_matched_rule_id ON messages(matched_rule_id)
    WHERE matched_rule_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_severity ON messages(match_severity)
    WHERE match_severity IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_snmpv3_failures_username ON snmpv3_auth_failures(username);
CREATE INDEX IF NOT EXISTS idx_outbox_pending ON webhook_outbox(target, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS idx_outbox_fold ON webhook_outbox(fold_key);
CREATE INDEX IF NOT EXISTS idx_outbox_message ON webhook_outbox(message_id);
";

/// Bring the file to `SCHEMA_VERSION`, in one transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    tx.execute_batch(TABLES)?;
    let typed = VIEWS
        .iter()
        .flat_map(|(_, _, columns)| columns.iter())
        .map(|(_, column, decl)| ("messages", *column, *decl));
    for (table, column, decl) in ADDED_COLUMNS.iter().copied().chain(typed) {
        if !has_column(&tx, table, column)? {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    for (view, kind, columns) in VIEWS {
        if is_table(&tx, view)? {
            move_into_messages(&tx, view, columns)?;
        }
        tx.execute_batch(&view_sql(view, kind, columns))?;
    }
    tx.execute_batch(INDEXES)?;
    tx.execute_batch(super::blocks::TABLES)?;
    super::blocks::rebuild(&tx)?;
    tx.execute_batch("DROP INDEX IF EXISTS idx_source_ip")?;
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()
}

/// Copy an older file's `syslog_messages` or `snmp_messages` table into the columns of
/// `messages`, then drop it. Only the columns it has; its own `id` goes (the view's is the
/// message's).
fn move_into_messages(
    tx: &Connection,
    table: &str,
    columns: &[TypedColumn],
) -> rusqlite::Result<()> {
    let mut set = Vec::new();
    for (name, column, _) in columns {
        if has_column(tx, table, name)? {
            set.push(format!("{column} = t.{name}"));
        }
    }
    if !set.is_empty() {
        tx.execute_batch(&format!(
            "UPDATE messages SET {} FROM {table} AS t WHERE t.message_id = messages.id",
            set.join(", ")
        ))?;
    }
    tx.execute_batch(&format!("DROP TABLE {table}"))
}

/// `CREATE VIEW` for one message type: every message of that type, with the seed's columns.
fn view_sql(view: &str, kind: &str, columns: &[TypedColumn]) -> String {
    let picked: Vec<String> = columns
        .iter()
        .map(|(name, column, _)| format!("{column} AS {name}"))
        .collect();
    format!(
        "CREATE VIEW IF NOT EXISTS {view} AS SELECT id, id AS message_id, {} FROM messages \
         WHERE type = '{kind}';",
        picked.join(", ")
    )
}

fn is_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use crate::store::{MessageRow, MessageSink, Store};
    use rusqlite::Connection;
    use std::time::Duration;

    /// The seed's DDL for the tables a message touches, as the seed wrote them (no version).
    const SEED: &str = "
        CREATE TABLE messages (id TEXT PRIMARY KEY, type TEXT NOT NULL, source_ip TEXT NOT NULL,
            source_device TEXT, timestamp DATETIME NOT NULL, received_at DATETIME NOT NULL,
            raw_message TEXT, validated BOOLEAN DEFAULT 0, validation_errors TEXT,
            matched_rule_id TEXT, matched_rule_name TEXT, match_severity TEXT, enriched_data TEXT,
            stored_to_db BOOLEAN DEFAULT 0, stored_to_buffer BOOLEAN DEFAULT 0,
            error_message TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
        CREATE TABLE syslog_messages (id TEXT PRIMARY KEY, message_id TEXT NOT NULL UNIQUE,
            facility TEXT, level INTEGER, program TEXT, process_id INTEGER, tag TEXT,
            FOREIGN KEY(message_id) REFERENCES messages(id));
        CREATE INDEX idx_timestamp ON messages(timestamp);
        CREATE INDEX idx_source_ip ON messages(source_ip);
        INSERT INTO messages (id, type, source_ip, timestamp, received_at)
            VALUES ('old-1', 'syslog', '10.0.0.1', '2024-01-01 00:00:00', '2024-01-01 00:00:00');
        INSERT INTO syslog_messages (id, message_id, program) VALUES ('s-1', 'old-1', 'sshd');";

    fn declared_type(conn: &Connection, table: &str, column: &str) -> String {
        conn.query_row(
            "SELECT type FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )
        .expect("column")
    }

    fn store_two(path: &std::path::Path) {
        let mut store = Store::open(path, Duration::from_secs(1)).expect("open");
        let rows = [
            MessageRow::test_syslog(1, "10.0.0.2", "rtr-a"),
            MessageRow::test_syslog(2, "10.0.0.3", "rtr-b"),
        ];
        store.write_batch(&rows, 2).expect("write");
    }

    fn kind_of(conn: &Connection, name: &str) -> String {
        conn.query_row(
            "SELECT type FROM sqlite_master WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .expect("in sqlite_master")
    }

    /// What a seed-era query reads: each message with its syslog columns, oldest first.
    fn syslog_joined(conn: &Connection) -> Vec<(String, Option<String>, Option<String>)> {
        conn.prepare(
            "SELECT m.id, s.program, s.facility FROM messages m JOIN syslog_messages s
             ON s.message_id = m.id ORDER BY m.wal_seq",
        )
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }

    #[test]
    fn a_new_file_has_one_table_for_messages_and_the_type_tables_as_views() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        store_two(&path);
        let conn = Connection::open(&path).expect("open");
        assert_eq!(declared_type(&conn, "messages", "timestamp"), "TEXT");
        assert_eq!(declared_type(&conn, "messages", "created_at"), "TEXT");
        assert_eq!(kind_of(&conn, "syslog_messages"), "view");
        assert_eq!(kind_of(&conn, "snmp_messages"), "view");
        let rows = syslog_joined(&conn);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1.as_deref(), Some("app"));
        assert_eq!(rows[0].2.as_deref(), Some("1"));
        let same_id: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM syslog_messages WHERE id = message_id",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(same_id, 2);
        let traps: i64 = conn
            .query_row("SELECT COUNT(*) FROM snmp_messages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(traps, 0);
    }

    #[test]
    fn a_seed_made_file_has_its_type_rows_moved_into_messages_and_takes_new_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seed.db");
        Connection::open(&path)
            .expect("create")
            .execute_batch(SEED)
            .expect("seed schema");
        store_two(&path);
        let conn = Connection::open(&path).expect("open");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, super::SCHEMA_VERSION);
        assert_eq!(declared_type(&conn, "messages", "timestamp"), "DATETIME");
        assert_eq!(kind_of(&conn, "syslog_messages"), "view");
        let rows = syslog_joined(&conn);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            ("old-1".to_string(), Some("sshd".to_string()), None)
        );
        assert_eq!(rows[1].1.as_deref(), Some("app"));
    }

    #[test]
    fn a_version_4_file_gains_expired_at() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::migrate(&mut conn).expect("create");
        conn.execute_batch("ALTER TABLE archives DROP COLUMN expired_at; PRAGMA user_version = 4;")
            .expect("make it version 4");
        super::migrate(&mut conn).expect("migrate");
        assert!(super::has_column(&conn, "archives", "expired_at").expect("columns"));
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, super::SCHEMA_VERSION);
    }

    #[test]
    fn a_version_3_file_gains_the_archive_columns() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::migrate(&mut conn).expect("create");
        conn.execute_batch(
            "ALTER TABLE archives DROP COLUMN message_type; ALTER TABLE archives DROP COLUMN sha256;
             ALTER TABLE archives DROP COLUMN first_id; ALTER TABLE archives DROP COLUMN last_id;
             ALTER TABLE archives DROP COLUMN deleted_at; PRAGMA user_version = 3;",
        )
        .expect("make it version 3");
        super::migrate(&mut conn).expect("migrate");
        for column in [
            "message_type",
            "sha256",
            "first_id",
            "last_id",
            "deleted_at",
        ] {
            assert!(
                super::has_column(&conn, "archives", column).expect("columns"),
                "{column}"
            );
        }
    }
}
