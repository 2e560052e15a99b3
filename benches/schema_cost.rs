//! What each part of the message schema costs to write: the seed's layout (a `messages` table plus
//! a `syslog_messages` table with its own key and a UNIQUE index on `message_id`), MUTT's schema 2
//! (the same, `syslog_messages` clustered on its key), schema 3 (one row per message, the type
//! tables as views), schema 3 without each of its indexes in turn, and schema 3 with
//! `idx_source_ip` on an integer device key instead of the address text. Every layout has the rule
//! and severity indexes as MUTT makes them (partial: an unmatched row costs nothing there). Plain SQL through rusqlite,
//! no MUTT code, so the figures are SQLite's alone: syslog rows from MUTT_SCHEMA_DEVICES (1,000)
//! devices whose clocks are a few seconds apart, in transactions of MUTT_SCHEMA_BATCH (10,000)
//! rows, MUTT_SCHEMA_ROWS (500,000) rows a run, 16 KiB pages, WAL journal, synchronous=NORMAL.
//!
//! Reports, per layout, the median of MUTT_SCHEMA_RUNS (3) runs of rows/s and CPU µs per row
//! (user + system, getrusage). Under `valgrind --tool=callgrind` with MUTT_SCHEMA_ONLY=<layout>
//! the instruction count per row repeats exactly whatever else the machine does (the kernel's
//! share, writing the SQLite WAL, is not in it).
//!
//! Run: `cargo bench --bench schema_cost`.

use std::time::Instant;

use rusqlite::{params, Connection};

/// The `messages` columns every layout has (the seed's and MUTT's added ones).
const MESSAGE_COLUMNS: &str = "id TEXT PRIMARY KEY, type TEXT NOT NULL, source_ip TEXT NOT NULL,
    source_device TEXT, timestamp {T} NOT NULL, received_at {T} NOT NULL, raw_message TEXT,
    validated BOOLEAN DEFAULT 0, validation_errors TEXT, matched_rule_id TEXT,
    matched_rule_name TEXT, match_severity TEXT, enriched_data TEXT,
    stored_to_db BOOLEAN DEFAULT 0, stored_to_buffer BOOLEAN DEFAULT 0, error_message TEXT,
    created_at {T} DEFAULT CURRENT_TIMESTAMP, wal_seq INTEGER, source_port INTEGER,
    transport TEXT, truncated BOOLEAN DEFAULT 0, raw_bytes BLOB";

const SYSLOG_COLUMNS: &str = "facility TEXT, level INTEGER, program TEXT, process_id INTEGER,
    tag TEXT, hostname TEXT, msgid TEXT, structured_data TEXT, format TEXT";

const INSERT_COMMON: &str = "id, type, source_ip, source_device, timestamp, received_at,
    raw_message, validated, validation_errors, matched_rule_id, matched_rule_name,
    match_severity, stored_to_db, wal_seq, source_port, transport, truncated, raw_bytes";

struct Layout {
    name: &'static str,
    /// DDL.
    schema: String,
    /// One statement per message, or two (seed: messages, then syslog_messages).
    inserts: Vec<String>,
}

fn layouts() -> Vec<Layout> {
    let seed_messages = MESSAGE_COLUMNS.replace("{T}", "DATETIME");
    let text_messages = MESSAGE_COLUMNS.replace("{T}", "TEXT");
    let prefixed: String = SYSLOG_COLUMNS
        .split(',')
        .map(|c| format!("syslog_{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let indexes = [
        "CREATE INDEX idx_timestamp ON messages(timestamp);",
        "CREATE INDEX idx_source_ip ON messages(source_ip);",
        "CREATE INDEX idx_matched_rule_id ON messages(matched_rule_id) WHERE matched_rule_id IS NOT NULL;",
        "CREATE INDEX idx_severity ON messages(match_severity) WHERE match_severity IS NOT NULL;",
    ];
    let indexes = indexes.as_slice();
    let values =
        "?1, 'syslog', ?2, ?3, ?4, ?5, ?6, 1, NULL, NULL, NULL, NULL, 1, ?7, 514, 'udp', 0, NULL";
    let typed_values =
        "'23', 5, 'LINK-3-UPDOWN', NULL, '%LINK-3-UPDOWN', ?3, NULL, NULL, 'rfc3164'";
    let one_row = format!(
        "INSERT INTO messages ({INSERT_COMMON}, syslog_facility, syslog_level, syslog_program,
             syslog_process_id, syslog_tag, syslog_hostname, syslog_msgid,
             syslog_structured_data, syslog_format) VALUES ({values}, {typed_values})"
    );
    let mutt = |skip: &str| Layout {
        name: "",
        schema: format!(
            "CREATE TABLE messages ({text_messages}, {prefixed});\n{}",
            indexes
                .iter()
                .filter(|i| skip.is_empty() || !i.contains(skip))
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        ),
        inserts: vec![one_row.clone()],
    };
    vec![
        two_tables(
            "seed (messages + syslog_messages)",
            &seed_messages,
            "",
            indexes,
            values,
            typed_values,
        ),
        two_tables(
            "schema 2 (syslog_messages WITHOUT ROWID)",
            &seed_messages,
            "WITHOUT ROWID",
            indexes,
            values,
            typed_values,
        ),
        Layout {
            name: "MUTT schema 3 (one row)",
            ..mutt("")
        },
        Layout {
            name: "  without idx_source_ip",
            ..mutt("idx_source_ip")
        },
        Layout {
            name: "  without idx_timestamp",
            ..mutt("idx_timestamp")
        },
        Layout {
            name: "  without any secondary index",
            ..mutt("CREATE INDEX")
        },
        // What an integer device key would save: the same layout with `idx_source_ip` on an
        // added `source_key INTEGER` (the device's number) instead of the address text.
        Layout {
            name: "  idx_source_ip on an integer key",
            schema: format!(
                "CREATE TABLE messages ({text_messages}, {prefixed}, source_key INTEGER);\n{}",
                indexes
                    .iter()
                    .map(|i| i.replace("ON messages(source_ip)", "ON messages(source_key)"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            inserts: vec![one_row
                .replace("syslog_format)", "syslog_format, source_key)")
                .replace("'rfc3164')", "'rfc3164', ?8)")],
        },
    ]
}

/// The seed's two tables: `messages`, and `syslog_messages` keyed by its own id with a UNIQUE
/// `message_id`; `clustering` is "" (a rowid table, as the seed) or "WITHOUT ROWID" (schema 2).
fn two_tables(
    name: &'static str,
    messages: &str,
    clustering: &str,
    indexes: &[&str],
    values: &str,
    typed_values: &str,
) -> Layout {
    Layout {
        name,
        schema: format!(
            "CREATE TABLE messages ({messages});
             CREATE TABLE syslog_messages (id TEXT PRIMARY KEY,
                 message_id TEXT NOT NULL UNIQUE, {SYSLOG_COLUMNS}) {clustering};\n{}",
            indexes.join("\n")
        ),
        inserts: vec![
            format!("INSERT INTO messages ({INSERT_COMMON}) VALUES ({values})"),
            format!(
                "INSERT INTO syslog_messages (id, message_id, facility, level, program,
                     process_id, tag, hostname, msgid, structured_data, format)
                 VALUES (?1, ?1, {typed_values})"
            ),
        ],
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// ISO 8601 with microseconds, as MUTT stores times.
fn iso(us: i64) -> String {
    mutt::timefmt::iso8601_us(us)
}

/// One run: (rows/s, CPU µs per row).
fn run(layout: &Layout, rows: u64, batch: u64, devices: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conn = Connection::open(dir.path().join("cost.db")).expect("open");
    conn.pragma_update(None, "page_size", 16_384)
        .expect("page_size");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn.pragma_update(None, "cache_size", -65_536)
        .expect("cache");
    conn.pragma_update(None, "wal_autocheckpoint", 8192)
        .expect("checkpoint");
    conn.execute_batch(&layout.schema).expect("schema");
    let raw = "<189>Dec  1 10:00:00 rtr0042 %LINK-3-UPDOWN: Interface GigabitEthernet0/1, \
               changed state to down seq 000000";
    let base_us: i64 = 1_764_547_200_000_000;
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let mut n = 0u64;
    while n < rows {
        let tx = conn.transaction().expect("begin");
        {
            let mut stmts: Vec<_> = layout
                .inserts
                .iter()
                .map(|sql| tx.prepare_cached(sql).expect("prepare"))
                .collect();
            for _ in 0..batch {
                n += 1;
                // 100,000 messages a second; device d's clock is off by (d % 7) - 3 seconds.
                let received_us = base_us + n as i64 * 10;
                let device = (n * 7919) % devices;
                let device_us = (received_us / 1_000_000 + (device % 7) as i64 - 3) * 1_000_000;
                let ip = format!(
                    "10.{}.{}.{}",
                    device >> 16,
                    (device >> 8) & 255,
                    device & 255
                );
                let name = format!("rtr{device:05}");
                let us = received_us as u64;
                let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    us / 1_000_000,
                    (us % 1_000_000 * 1000) as u32,
                ))
                .to_string();
                let (device_time, received) = (iso(device_us), iso(received_us));
                if stmts[0].parameter_count() == 8 {
                    stmts[0].execute(params![
                        id,
                        ip,
                        name,
                        device_time,
                        received,
                        raw,
                        n as i64,
                        device as i64
                    ])
                } else {
                    stmts[0].execute(params![id, ip, name, device_time, received, raw, n as i64])
                }
                .expect("insert");
                if let Some(second) = stmts.get_mut(1) {
                    second.execute(params![id, name, name]).expect("insert");
                }
            }
        }
        tx.commit().expect("commit");
    }
    let wall = start.elapsed().as_secs_f64();
    (
        rows as f64 / wall,
        (cpu_seconds() - cpu) * 1e6 / rows as f64,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rows = env_u64("MUTT_SCHEMA_ROWS", 500_000);
    let batch = env_u64("MUTT_SCHEMA_BATCH", 10_000).max(1);
    let devices = env_u64("MUTT_SCHEMA_DEVICES", 1000).max(1);
    let runs = env_u64("MUTT_SCHEMA_RUNS", 3).max(1);
    let only = std::env::var("MUTT_SCHEMA_ONLY").ok();
    println!(
        "{rows} syslog rows from {devices} devices, {batch} rows per transaction, median of {runs}"
    );
    println!("{:<44} {:>10} {:>12}", "layout", "rows/s", "CPU us/row");
    for layout in layouts() {
        if only.as_deref().is_some_and(|o| !layout.name.contains(o)) {
            continue;
        }
        let results: Vec<(f64, f64)> = (0..runs)
            .map(|_| run(&layout, rows, batch, devices))
            .collect();
        let rate = median(results.iter().map(|r| r.0).collect());
        let cpu = median(results.iter().map(|r| r.1).collect());
        println!("{:<44} {:>10.0} {:>12.2}", layout.name, rate, cpu);
    }
}
