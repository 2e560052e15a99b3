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
//! - 3: a new file's layout is cheaper to write, with the same tables and columns: its time
//!   columns are declared `TEXT` (the seed's `DATETIME` has numeric affinity, so SQLite tried to
//!   read every ISO 8601 string as a number before storing it as text), and `syslog_messages` /
//!   `snmp_messages` are clustered on `message_id`, one B-tree each instead of a table plus a
//!   UNIQUE index. A file made before keeps its layout (changing a key means rebuilding the
//!   table); MUTT's statements work on both. docs/PERFORMANCE.md has the figures.

use rusqlite::Connection;

pub const SCHEMA_VERSION: i64 = 3;

/// Tables with the seed's names and columns, plus the columns MUTT adds, in the layout a new file
/// gets (version 3, above). `CREATE ... IF NOT EXISTS` keeps an older file's tables; the
/// missing columns are then added to them.
///
/// In a new file `syslog_messages.id` and `snmp_messages.id` hold the message's id, as
/// `message_id` does (MUTT has always written them so); the key is `message_id`, the join column.
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
CREATE TABLE IF NOT EXISTS snmp_messages (
    id TEXT NOT NULL,
    message_id TEXT NOT NULL PRIMARY KEY,
    oid TEXT,
    trap_type TEXT,
    snmp_version TEXT,
    FOREIGN KEY(message_id) REFERENCES messages(id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS syslog_messages (
    id TEXT NOT NULL,
    message_id TEXT NOT NULL PRIMARY KEY,
    facility TEXT,
    level INTEGER,
    program TEXT,
    process_id INTEGER,
    tag TEXT,
    FOREIGN KEY(message_id) REFERENCES messages(id)
) WITHOUT ROWID;
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

/// Columns MUTT adds to the seed's tables: (table, column, declaration).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("messages", "wal_seq", "INTEGER"),
    ("messages", "source_port", "INTEGER"),
    ("messages", "transport", "TEXT"),
    ("messages", "truncated", "BOOLEAN DEFAULT 0"),
    ("messages", "raw_bytes", "BLOB"),
    ("snmp_messages", "community_string", "TEXT"),
    ("snmp_messages", "security_name", "TEXT"),
    ("snmp_messages", "engine_id", "TEXT"),
    ("snmp_messages", "security_level", "TEXT"),
    ("snmp_messages", "pdu_type", "TEXT"),
    ("snmp_messages", "request_id", "INTEGER"),
    ("snmp_messages", "varbinds", "TEXT"),
    ("snmp_messages", "agent_addr", "TEXT"),
    ("snmp_messages", "uptime", "INTEGER"),
    ("syslog_messages", "hostname", "TEXT"),
    ("syslog_messages", "msgid", "TEXT"),
    ("syslog_messages", "structured_data", "TEXT"),
    ("syslog_messages", "format", "TEXT"),
];

/// The seed's indexes, now idempotent. Rule and severity are partial indexes: most messages match
/// no rule, and a lookup `matched_rule_id = ?` implies NOT NULL, so SQLite still uses them while
/// unmatched rows cost no index insert. (A seed-made file keeps its full indexes.)
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS idx_device_hostname ON devices(hostname);
CREATE INDEX IF NOT EXISTS idx_device_ip ON devices(source_ip);
CREATE INDEX IF NOT EXISTS idx_device_snmp_version ON devices(last_seen_snmp_version);
CREATE INDEX IF NOT EXISTS idx_archive_date ON archives(archived_at);
CREATE INDEX IF NOT EXISTS idx_timestamp ON messages(timestamp);
CREATE INDEX IF NOT EXISTS idx_source_ip ON messages(source_ip);
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
    for (table, column, decl) in ADDED_COLUMNS {
        if !has_column(&tx, table, column)? {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    tx.execute_batch(INDEXES)?;
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()
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

    fn key_columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
            .expect("pragma");
        let names = stmt.query_map([table], |r| r.get(0)).expect("query");
        names.collect::<Result<_, _>>().expect("names")
    }

    fn store_two(path: &std::path::Path) {
        let mut store = Store::open(path, Duration::from_secs(1)).expect("open");
        let rows = [
            MessageRow::test_syslog(1, "10.0.0.2", "rtr-a"),
            MessageRow::test_syslog(2, "10.0.0.3", "rtr-b"),
        ];
        store.write_batch(&rows, 2).expect("write");
    }

    #[test]
    fn a_new_file_gets_text_times_and_type_tables_keyed_by_message_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        store_two(&path);
        let conn = Connection::open(&path).expect("open");
        assert_eq!(declared_type(&conn, "messages", "timestamp"), "TEXT");
        assert_eq!(declared_type(&conn, "messages", "created_at"), "TEXT");
        assert_eq!(key_columns(&conn, "syslog_messages"), ["message_id"]);
        assert_eq!(key_columns(&conn, "snmp_messages"), ["message_id"]);
        // One B-tree for each type table: no index besides its key.
        let extra: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_index_list('syslog_messages') WHERE origin != 'pk'",
                [],
                |r| r.get(0),
            )
            .expect("index list");
        assert_eq!(extra, 0);
        let joined: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM messages m JOIN syslog_messages s ON s.message_id = m.id
                 WHERE s.id = m.id",
                [],
                |r| r.get(0),
            )
            .expect("join");
        assert_eq!(joined, 2);
    }

    #[test]
    fn a_seed_made_file_keeps_its_layout_and_rows_and_takes_new_ones() {
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
        assert_eq!(key_columns(&conn, "syslog_messages"), ["id"]);
        let rows: Vec<(String, Option<String>)> = conn
            .prepare(
                "SELECT m.id, s.program FROM messages m JOIN syslog_messages s
                 ON s.message_id = m.id ORDER BY m.wal_seq",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], ("old-1".to_string(), Some("sshd".to_string())));
        assert_eq!(rows[1].1.as_deref(), Some("app"));
    }
}
