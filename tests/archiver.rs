//! The daemon's archiver (`storage.archiver.enabled`) on the real binary and a real database:
//! by age and by size, with and without compression, each file read back line by line against
//! the rows it came from and against its `archives` row; a kill -9 in the middle of a large
//! archive; a full archive disk.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Env, Setup, Tmpfs};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A message as seeded: what its archive line must say.
#[derive(Debug, Clone, PartialEq)]
struct Seeded {
    received_at: String,
    raw_message: String,
    program: String,
}

/// An env whose daemon archives into `archives/` with `archiver` (lines under
/// `storage.archiver:`, indented four spaces) added.
fn env_with(archiver: &str) -> Env {
    let env = Env::new(Setup {
        extra: "enrichment:\n  reverse_dns: false\n".into(),
        ..Setup::default()
    });
    let enabled = if archiver.contains("enabled:") {
        ""
    } else {
        "    enabled: true\n"
    };
    let section = format!(
        "storage:\n  archiver:\n{enabled}    path: {}\n{archiver}",
        env.path("archives").display()
    );
    env.config_replace("storage:\n", &section);
    env
}

/// Poll until the daemon has archived every message (within `timeout`) and finished each
/// archive's deletes (within 60 s more).
fn wait_all_archived(env: &Env, timeout: Duration) {
    env.wait_count("SELECT COUNT(*) FROM messages", timeout, |n| n == 0);
    env.wait_count(
        "SELECT COUNT(*) FROM archives WHERE deleted_at IS NULL",
        Duration::from_secs(60),
        |n| n == 0,
    );
}

/// `n` syslog messages written straight into a new database (made as the daemon makes it),
/// received one a millisecond from `start_us`, with UUIDv7-shaped ids in that order and
/// `pad` bytes of text each.
fn seed(env: &Env, start_us: i64, n: usize, pad: usize) -> BTreeMap<String, Seeded> {
    std::fs::create_dir_all(env.path("data")).expect("data dir");
    drop(mutt::store::Store::open(&env.db_path(), Duration::from_secs(5)).expect("create db"));
    let mut db = rusqlite::Connection::open(env.db_path()).expect("open db");
    let tx = db.transaction().expect("begin");
    let mut out = BTreeMap::new();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (id, type, source_ip, timestamp, received_at, raw_message, \
                 syslog_program, syslog_level) VALUES (?1, 'syslog', '127.0.0.1', ?2, ?2, ?3, ?4, 5)",
            )
            .expect("prepare");
        let filler = "x".repeat(pad);
        for i in 0..n {
            let us = start_us + i as i64 * 1_000;
            let id = format!(
                "{}{:012}",
                &mutt::archive::id_floor(us as u64 / 1_000)[..24],
                i
            );
            let s = Seeded {
                received_at: mutt::timefmt::iso8601_us(us),
                raw_message: format!("<13>message {i} {filler}"),
                // Texts a CSV cell must mark: NULL's spelling, empty, formulas.
                program: match i % 11 {
                    0 => "\\N".to_string(),
                    1 => String::new(),
                    2 => "=HYPERLINK(\"http://x\",\"y\")".to_string(),
                    3 => "-1".to_string(),
                    4 => "'quoted".to_string(),
                    _ => format!("app{}", i % 7),
                },
            };
            insert
                .execute(rusqlite::params![
                    id,
                    s.received_at,
                    s.raw_message,
                    s.program
                ])
                .expect("insert");
            out.insert(id, s);
        }
    }
    tx.commit().expect("commit");
    out
}

fn days_ago_us(days: i64) -> i64 {
    mutt::timefmt::now_us() - days * 86_400 * 1_000_000
}

/// Archive files (not manifests, not temporary files) in `dir`.
fn archive_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().expect("name").to_string_lossy().to_string();
            !name.starts_with('.')
                && [".jsonl", ".jsonl.zst", ".csv", ".csv.zst"]
                    .iter()
                    .any(|s| name.ends_with(s))
        })
        .collect();
    files.sort();
    files
}

/// The messages of an archive file as key → value, decompressed when it is `.zst`: a JSON
/// line's object, or a CSV row under its header read by the rules README states (`\N` is NULL,
/// a leading `'` before a formula character or `'` is dropped, `\\N` is the text `\N`).
fn lines_of(path: &Path) -> Vec<Map<String, Value>> {
    let file = std::fs::File::open(path).expect("open archive");
    let name = path.to_string_lossy().to_string();
    let reader: Box<dyn BufRead> = if name.ends_with(".zst") {
        Box::new(BufReader::new(
            zstd::stream::read::Decoder::new(file).expect("zstd"),
        ))
    } else {
        Box::new(BufReader::new(file))
    };
    if !name.contains(".csv") {
        return reader
            .lines()
            .map(|l| serde_json::from_str(&l.expect("line")).expect("JSON line"))
            .collect();
    }
    let mut csv = csv::Reader::from_reader(reader);
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    csv.records()
        .map(|row| {
            let row = row.expect("CSV row");
            assert_eq!(row.len(), header.len());
            header
                .iter()
                .zip(row.iter())
                .map(|(k, cell)| {
                    let value = match cell {
                        "\\N" => Value::Null,
                        c if c.starts_with('\'')
                            && c[1..].starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) =>
                        {
                            Value::from(&c[1..])
                        }
                        c if c.starts_with("\\\\") && c.ends_with('N') => Value::from(&c[1..]),
                        c => {
                            assert!(
                                !c.starts_with(['=', '+', '-', '@', '\'']),
                                "a cell a spreadsheet would run: {c:?}"
                            );
                            Value::from(c)
                        }
                    };
                    (k.clone(), value)
                })
                .collect()
        })
        .collect()
}

/// A value as text: CSV has no numbers.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every archive file read back: each line equals its seeded message field by field, each
/// file matches its `archives` row (rows, size, SHA-256, ids, deletes finished), and no id is
/// in two files. Returns the archived ids.
fn check_archives(env: &Env, seeded: &BTreeMap<String, Seeded>) -> Vec<String> {
    let db = env.db();
    let mut ids = Vec::new();
    for file in archive_files(&env.path("archives")) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&file).expect("read");
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let lines = lines_of(&file);
        let (count, size, hash, first, last, deleted): (
            i64,
            i64,
            String,
            String,
            String,
            Option<String>,
        ) = db
            .query_row(
                "SELECT message_count, size_bytes, sha256, first_id, last_id, deleted_at \
                 FROM archives WHERE filename = ?1",
                [&name],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap_or_else(|e| panic!("{name}: no archives row: {e}"));
        assert_eq!(count as usize, lines.len(), "{name}");
        assert_eq!(size as usize, bytes.len(), "{name}");
        assert_eq!(hash, sha256, "{name}");
        assert!(deleted.is_some(), "{name}: deletes finished");
        assert_eq!(lines[0]["id"], first.as_str());
        assert_eq!(lines[lines.len() - 1]["id"], last.as_str());
        for line in &lines {
            let id = line["id"].as_str().expect("id").to_string();
            let want = seeded
                .get(&id)
                .unwrap_or_else(|| panic!("{id} was not seeded"));
            assert_eq!(line["received_at"], want.received_at.as_str(), "{id}");
            assert_eq!(line["raw_message"], want.raw_message.as_str(), "{id}");
            assert_eq!(line["program"], want.program.as_str(), "{id}");
            assert_eq!(text(&line["level"]), "5", "{id}");
            assert_eq!(line["type"], "syslog", "{id}");
            assert_eq!(line["hostname"], Value::Null, "{id}: NULL stays null");
            ids.push(id);
        }
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an id in two archive files");
    ids
}

fn by_age(format: &str, compress: bool) {
    let env = env_with(&format!(
        "    format: {format}\n    compress: {compress}\n    time_threshold_days: 7\n"
    ));
    let mut seeded = seed(&env, days_ago_us(30), 3_000, 100);
    let recent = seed(&env, days_ago_us(1), 500, 100);
    seeded.extend(recent.clone());
    let daemon = env.start();
    let left = env.wait_count(
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(60),
        |n| n == 500,
    );
    assert_eq!(left, 500, "{}", daemon.stderr());
    assert_eq!(
        daemon.wait_metric("mutt_archived_rows_total", Duration::from_secs(10), |n| n
            == 3_000),
        3_000
    );
    assert_eq!(daemon.metric("mutt_archive_failures_total"), 0);
    assert!(daemon.metric("mutt_archive_runs_total") >= 1);
    assert!(daemon.metric("mutt_archive_last_run_timestamp_seconds") > 1_700_000_000);
    daemon.wait_for_log("archiver: check done", Duration::from_secs(10));
    let ids = check_archives(&env, &seeded);
    assert_eq!(ids.len(), 3_000);
    for id in recent.keys() {
        assert!(
            ids.binary_search(id).is_err(),
            "a recent message was archived"
        );
    }
    let files = archive_files(&env.path("archives"));
    assert_eq!(files.len(), 1, "{files:?}");
    let suffix = format!(".{format}{}", if compress { ".zst" } else { "" });
    assert!(files[0].to_string_lossy().ends_with(&suffix), "{files:?}");
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
fn the_daemon_archives_messages_older_than_time_threshold_days_and_keeps_the_rest() {
    by_age("jsonl", false);
}

#[test]
fn the_daemon_archives_by_age_into_zstd_files_with_compress_true() {
    by_age("jsonl", true);
}

#[test]
fn the_daemon_archives_by_age_into_csv_files() {
    by_age("csv", false);
}

#[test]
fn the_daemon_archives_by_age_into_zstd_csv_files() {
    by_age("csv", true);
}

#[test]
fn the_daemon_archives_the_oldest_messages_while_the_database_is_over_its_size_threshold() {
    let env = env_with("    format: csv\n    compress: true\n    size_threshold_mb: 8\n");
    // Recent (under the 7 days), about 24 MB of pages.
    let seeded = seed(&env, days_ago_us(1), 16_000, 1_000);
    let daemon = env.start();
    daemon.wait_for_log("archiver: check done", Duration::from_secs(120));
    let db = env.db();
    let pragma = |name: &str| -> i64 {
        db.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .expect("pragma")
    };
    let page = pragma("page_size");
    let used = (pragma("page_count") - pragma("freelist_count")) * page;
    let file = pragma("page_count") * page;
    assert!(used <= 8 << 20, "pages in use {used}: {}", daemon.stderr());
    assert!(used >= 4 << 20, "not much more than needed: {used}");
    assert!(file <= 8 << 20, "the freed pages went back: {file}");
    let ids = check_archives(&env, &seeded);
    let left = env.count("SELECT COUNT(*) FROM messages").unwrap() as usize;
    assert_eq!(ids.len() + left, seeded.len());
    let oldest_left: String = db
        .query_row("SELECT MIN(id) FROM messages", [], |r| r.get(0))
        .expect("min");
    assert!(
        ids.last().is_some_and(|newest| *newest < oldest_left),
        "the oldest were archived"
    );
    assert_eq!(
        daemon.metric("mutt_archived_rows_total") as usize,
        ids.len()
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
fn a_daemon_killed_while_archiving_200000_messages_then_restarted_leaves_each_exactly_once() {
    const N: usize = 200_000;
    let env = env_with("    format: jsonl\n    compress: false\n    time_threshold_days: 7\n");
    let seeded = seed(&env, days_ago_us(30), N, 0);
    // Killed at spread moments of the first checks, wherever they are: exporting, publishing,
    // recording or deleting; then a SIGTERM, which must stop the check promptly.
    for (round, after_ms) in [300u64, 1_500, 4_000, 9_000].into_iter().enumerate() {
        let daemon = env.start();
        std::thread::sleep(Duration::from_millis(after_ms));
        if round == 3 {
            let started = std::time::Instant::now();
            let (status, stderr) = daemon.terminate();
            assert!(status.success(), "{stderr}");
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "stopped in {:?}",
                started.elapsed()
            );
        } else {
            daemon.kill9();
        }
        let archived: usize = archive_files(&env.path("archives"))
            .iter()
            .map(|f| lines_of(f).len())
            .sum();
        let left = env.count("SELECT COUNT(*) FROM messages").unwrap() as usize;
        assert!(archived + left >= N, "round {round}: {archived} + {left}");
    }
    let daemon = env.start();
    wait_all_archived(&env, Duration::from_secs(300));
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    let ids = check_archives(&env, &seeded);
    assert_eq!(
        ids.len(),
        N,
        "every message in exactly one recorded archive"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.path("archives"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
#[ignore = "needs root to mount a tmpfs"]
fn a_full_archive_disk_fails_the_check_deletes_nothing_and_the_next_start_recovers() {
    let env = env_with("    format: jsonl\n    compress: false\n    time_threshold_days: 7\n");
    let seeded = seed(&env, days_ago_us(30), 4_000, 200);
    let disk = Tmpfs::mount(&env.path("archives"), 256 * 1024);
    let daemon = env.start();
    assert_eq!(
        daemon.wait_metric(
            "mutt_archive_failures_total",
            Duration::from_secs(60),
            |n| n >= 1
        ),
        1
    );
    daemon.wait_for_log("archiver: the check stopped", Duration::from_secs(10));
    assert_eq!(daemon.metric("mutt_archived_rows_total"), 0);
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 4_000);
    assert_eq!(env.count("SELECT COUNT(*) FROM archives").unwrap(), 0);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    drop(disk);
    let daemon = env.start();
    env.wait_count(
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(60),
        |n| n == 0,
    );
    assert_eq!(check_archives(&env, &seeded).len(), 4_000);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
fn archive_vacuum_switches_an_older_file_to_incremental_and_refuses_beside_the_daemon() {
    let env = env_with("    enabled: false\n    format: jsonl\n");
    std::fs::create_dir_all(env.path("data")).expect("data dir");
    {
        // Made as before auto_vacuum = INCREMENTAL: WAL mode set before any table.
        let db = rusqlite::Connection::open(env.db_path()).expect("create");
        db.pragma_update(None, "journal_mode", "WAL").expect("wal");
    }
    let migrate = env.mutt(&["archive", "list"]).output().expect("list");
    assert!(migrate.status.success(), "{migrate:?}");
    seed(&env, days_ago_us(30), 3_000, 1_000);
    let db = rusqlite::Connection::open(env.db_path()).expect("open");
    db.execute("DELETE FROM messages WHERE rowid % 4 != 0", [])
        .expect("delete");
    let mode = |db: &rusqlite::Connection| -> i64 {
        db.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .expect("mode")
    };
    assert_eq!(mode(&db), 0, "an older file");
    drop(db);
    let before = std::fs::metadata(env.db_path()).expect("size").len();

    let daemon = env.start();
    let out = env.mutt(&["archive", "vacuum"]).output().expect("vacuum");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`mutt run` is running"),
        "{out:?}"
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");

    let out = env.mutt(&["archive", "vacuum"]).output().expect("vacuum");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("switched to auto_vacuum = INCREMENTAL"),
        "{out:?}"
    );
    let after = std::fs::metadata(env.db_path()).expect("size").len();
    assert!(after < before / 2, "{before} -> {after}");
    assert_eq!(mode(&env.db()), 2);
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 750);
}

#[test]
fn retention_deletes_the_archive_files_past_keep_days_and_marks_their_rows() {
    let env = env_with("    format: jsonl\n    time_threshold_days: 7\n");
    // Three runs, three files.
    for age in [60, 45, 20] {
        seed(&env, days_ago_us(age), 1_000, 50);
        let daemon = env.start();
        wait_all_archived(&env, Duration::from_secs(60));
        let (status, stderr) = daemon.terminate();
        assert!(status.success(), "{stderr}");
    }
    let files = archive_files(&env.path("archives"));
    assert_eq!(files.len(), 3, "{files:?}");
    {
        // The first two were written 40 and 35 days ago, as far as the archives rows say.
        let db = rusqlite::Connection::open(env.db_path()).expect("open");
        for (name, days) in files.iter().zip([40, 35]) {
            let name = name.file_name().unwrap().to_string_lossy().to_string();
            db.execute(
                "UPDATE archives SET archived_at = ?2 WHERE filename = ?1",
                rusqlite::params![name, mutt::timefmt::iso8601_us(days_ago_us(days))],
            )
            .expect("age");
        }
    }
    env.config_replace(
        "    time_threshold_days: 7\n",
        "    time_threshold_days: 7\n    keep_days: 30\n",
    );
    let daemon = env.start();
    assert_eq!(
        daemon.wait_metric(
            "mutt_archives_expired_total",
            Duration::from_secs(60),
            |n| n == 2
        ),
        2
    );
    daemon.wait_for_log("deleted by retention", Duration::from_secs(10));
    let left = archive_files(&env.path("archives"));
    assert_eq!(left, files[2..].to_vec());
    for gone in &files[..2] {
        let manifest = format!("{}.manifest.json", gone.display());
        assert!(!Path::new(&manifest).exists(), "{manifest}");
    }
    assert_eq!(
        env.count("SELECT COUNT(*) FROM archives WHERE expired_at IS NOT NULL")
            .unwrap(),
        2
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM archives").unwrap(), 3);
    let list = env.mutt(&["archive", "list"]).output().expect("list");
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.matches("\texpired ").count(), 2, "{list}");
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}
