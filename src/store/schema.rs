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

use rusqlite::Connection;

pub const SCHEMA_VERSION: i64 = 2;

/// Tables as the seed defines them, with the columns MUTT adds. `syslog_messages` rows are small,
/// so a new file makes it WITHOUT ROWID: clustered on its id, one B-tree fewer per message. `CREATE ... IF NOT EXISTS` keeps a
/// seed-made file's tables; `add_missing_columns` then brings them up to date.
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
    timestamp DATETIME NOT NULL,
    received_at DATETIME NOT NULL,
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
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS snmp_messages (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    oid TEXT,
    trap_type TEXT,
    snmp_version TEXT,
    FOREIGN KEY(message_id) REFERENCES messages(id)
);
CREATE TABLE IF NOT EXISTS syslog_messages (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
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
