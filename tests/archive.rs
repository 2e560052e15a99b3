//! `mutt archive` on the real binary and a database the daemon filled: every archived line equals
//! the row it came from, the manifest and the `archives` row describe the file, the rows are
//! gone, and a second run archives nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{numbered_lines, Env, Setup};
use rusqlite::types::ValueRef;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const SYSLOG_LINES: usize = 3_000;

fn env() -> Env {
    env_with(false)
}

fn env_with(compress: bool) -> Env {
    env_as("jsonl", compress)
}

fn env_as(format: &str, compress: bool) -> Env {
    let env = Env::new(Setup {
        extra: "enrichment:\n  reverse_dns: false\n".into(),
        ..Setup::default()
    });
    let archiver = format!(
        "storage:\n  archiver:\n    enabled: false\n    path: {}\n    format: {format}\n    compress: {compress}\n",
        env.path("archives").display()
    );
    env.config_replace("storage:\n", &archiver);
    env
}

/// Fill the database with syslog lines and SNMP traps, then stop the daemon.
fn filled() -> Env {
    filled_as("jsonl")
}

fn filled_as(format: &str) -> Env {
    let env = env_as(format, false);
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("archive", SYSLOG_LINES));
    env.snmp_marker();
    env.snmp_marker();
    let want = SYSLOG_LINES as i64 + 2;
    assert_eq!(env.wait_rows(want, Duration::from_secs(30)), want);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "mutt run: {stderr}");
    env
}

fn archive(env: &Env, args: &[&str]) -> Output {
    let out = env
        .mutt(&["archive"])
        .args(args)
        .output()
        .expect("run mutt archive");
    assert!(
        out.status.success(),
        "mutt archive {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn now_plus_a_second() -> String {
    mutt::timefmt::iso8601_us(mutt::timefmt::now_us() + 1_000_000)
}

/// Every message as the archive should hold it, by id, written here from the table's own
/// columns: the other type's columns left out, the type's own without their prefix
/// (`snmp_version` as it is), a BLOB as lowercase hex.
fn messages_as_archived(env: &Env) -> BTreeMap<String, Map<String, Value>> {
    let db = env.db();
    let mut stmt = db.prepare("SELECT * FROM messages").expect("select");
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([]).expect("query");
    let mut out = BTreeMap::new();
    while let Some(row) = rows.next().expect("row") {
        let kind: String = row.get("type").expect("type");
        let (own, other) = if kind == "syslog" {
            ("syslog_", "snmp_")
        } else {
            ("snmp_", "syslog_")
        };
        let mut object = Map::new();
        for (i, name) in names.iter().enumerate() {
            if name.starts_with(other) {
                continue;
            }
            let key = match name.strip_prefix(own) {
                Some(rest) if name != "snmp_version" => rest.to_string(),
                _ => name.clone(),
            };
            let value = match row.get_ref(i).expect("value") {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::from(n),
                ValueRef::Real(f) => Value::from(f),
                ValueRef::Text(t) => Value::from(std::str::from_utf8(t).expect("utf-8")),
                ValueRef::Blob(b) => {
                    Value::from(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                }
            };
            object.insert(key, value);
        }
        let id = object["id"].as_str().expect("id").to_string();
        out.insert(id, object);
    }
    out
}

/// The archive files (not manifests, not temporary files) in the directory, by name.
fn archive_files(dir: &Path) -> Vec<PathBuf> {
    files_ending(dir, ".jsonl")
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read archive dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.ends_with(suffix) {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn archiving_everything_moves_each_message_into_one_file_field_for_field_and_a_rerun_does_nothing()
{
    let env = filled();
    let before = messages_as_archived(&env);
    assert_eq!(before.len(), SYSLOG_LINES + 2);
    let cutoff = now_plus_a_second();

    let dry = archive(&env, &["--before", &cutoff, "--dry-run"]);
    let dry = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.contains(&format!("syslog: {SYSLOG_LINES} messages")),
        "{dry}"
    );
    assert!(dry.contains("snmp_trap: 2 messages"), "{dry}");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        before.len() as i64,
        "a dry run deletes nothing"
    );
    assert!(!env.path("archives").exists(), "a dry run writes nothing");

    archive(&env, &["--before", &cutoff]);
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 0);
    let files = archive_files(&env.path("archives"));
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        files_ending(&env.path("archives"), ".tmp"),
        Vec::<PathBuf>::new()
    );
    let mut seen = BTreeMap::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(file).expect("read archive");
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(format!("{}.manifest.json", file.display())).expect("manifest"),
        )
        .expect("manifest JSON");
        let lines: Vec<Map<String, Value>> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("archive line"))
            .collect();
        let kind = lines[0]["type"].as_str().expect("type").to_string();
        assert!(name.starts_with(&format!("{kind}-")), "{name}");
        assert_eq!(manifest["file"], name.as_str());
        assert_eq!(manifest["sha256"], sha256.as_str());
        assert_eq!(manifest["rows"], lines.len());
        assert_eq!(manifest["size_bytes"], bytes.len());
        assert_eq!(manifest["message_type"], kind.as_str());
        assert_eq!(manifest["first_id"], lines[0]["id"]);
        assert_eq!(manifest["last_id"], lines[lines.len() - 1]["id"]);
        let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "lines in id order");

        let db = env.db();
        let (count, size, hash, earliest, latest, deleted): (
            i64,
            i64,
            String,
            String,
            String,
            Option<String>,
        ) = db
            .query_row(
                "SELECT message_count, size_bytes, sha256, earliest_message_timestamp, \
                 latest_message_timestamp, deleted_at FROM archives WHERE filename = ?1",
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
            .expect("archives row");
        assert_eq!(count as usize, lines.len());
        assert_eq!(size as usize, bytes.len());
        assert_eq!(hash, sha256);
        assert_eq!(earliest, manifest["first_received_at"].as_str().unwrap());
        assert_eq!(latest, manifest["last_received_at"].as_str().unwrap());
        assert!(deleted.is_some(), "deletes finished");

        for line in lines {
            let id = line["id"].as_str().unwrap().to_string();
            assert!(seen.insert(id, line).is_none(), "an id in two lines");
        }
    }
    assert_eq!(seen.len(), before.len());
    for (id, row) in &before {
        assert_eq!(seen.get(id), Some(row), "message {id}");
    }

    let again = archive(&env, &["--before", &now_plus_a_second()]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(archive_files(&env.path("archives")), files);
    assert_eq!(env.count("SELECT COUNT(*) FROM archives").unwrap(), 2);

    let list = archive(&env, &["list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("{name} not listed: {list}"));
        assert!(line.ends_with("\tok"), "{line}");
    }
    assert!(
        list.contains(&format!("\t{SYSLOG_LINES} messages\t")),
        "{list}"
    );
    std::fs::remove_file(&files[0]).expect("remove an archive");
    let list = archive(&env, &["list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("file missing"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
}

#[test]
fn archive_without_a_cutoff_is_a_usage_error() {
    let env = env();
    let out = env.mutt(&["archive"]).output().expect("run mutt archive");
    assert_eq!(out.status.code(), Some(2));
    let out = env
        .mutt(&["archive", "--older-than", "soon"])
        .output()
        .expect("run mutt archive");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--older-than"));
}

/// What a killed run left, as the next run will find it.
fn phase(env: &Env) -> &'static str {
    let dir = env.path("archives");
    if env
        .count("SELECT COUNT(*) FROM archives WHERE deleted_at IS NULL")
        .unwrap()
        > 0
    {
        "recorded, deleting"
    } else if !archived_ids(env).1.is_empty() {
        "published, not recorded"
    } else if !files_ending(&dir, ".tmp").is_empty() {
        "writing a temporary file"
    } else {
        "nothing left to repair"
    }
}

/// `n` syslog messages written straight into a new database, one a millisecond from
/// 2026-01-01T00:00:00Z, with ids that sort as they arrive; returns the ids.
fn seeded(env: &Env, n: usize) -> Vec<String> {
    std::fs::create_dir_all(env.path("data")).expect("data dir");
    drop(mutt::store::Store::open(&env.db_path(), Duration::from_secs(5)).expect("create db"));
    let mut db = rusqlite::Connection::open(env.db_path()).expect("open db");
    let tx = db.transaction().expect("begin");
    let base = mutt::timefmt::parse_rfc3339_us("2026-01-01T00:00:00Z").expect("time");
    let mut ids = Vec::with_capacity(n);
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (id, type, source_ip, timestamp, received_at, raw_message, \
                 syslog_program) VALUES (?1, 'syslog', '127.0.0.1', ?2, ?2, ?3, 'app')",
            )
            .expect("prepare");
        for i in 0..n {
            let us = base + i as i64 * 1_000;
            // UUIDv7-shaped: the millisecond received, then the index.
            let id = format!(
                "{}{i:012}",
                &mutt::archive::id_floor(us as u64 / 1_000)[..24]
            );
            let at = mutt::timefmt::iso8601_us(us);
            insert
                .execute(rusqlite::params![id, at, format!("<13>message {i}")])
                .expect("insert");
            ids.push(id);
        }
    }
    tx.commit().expect("commit");
    ids
}

/// The ids in every archive file an `archives` row names, and the files no row names.
fn archived_ids(env: &Env) -> (Vec<String>, Vec<String>) {
    let db = env.db();
    let mut stmt = db.prepare("SELECT filename FROM archives").expect("select");
    let recorded: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut ids = Vec::new();
    for name in &recorded {
        let text = std::fs::read_to_string(env.path("archives").join(name)).expect("archive");
        for line in text.lines() {
            let object: Value = serde_json::from_str(line).expect("line");
            ids.push(object["id"].as_str().expect("id").to_string());
        }
    }
    let unrecorded = archive_files(&env.path("archives"))
        .into_iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .filter(|name| !recorded.contains(name))
        .collect();
    (ids, unrecorded)
}

#[test]
fn kill_9_at_any_moment_and_a_rerun_leave_every_message_exactly_once() {
    const N: usize = 60_000;
    const ROUNDS: usize = 12;
    let env = env();
    let all = seeded(&env, N);
    let cutoff = |round: usize| {
        mutt::timefmt::iso8601_us(
            mutt::timefmt::parse_rfc3339_us("2026-01-01T00:00:00Z").unwrap()
                + ((round + 1) * N / (ROUNDS + 1)) as i64 * 1_000,
        )
    };
    // Round 0 runs to the end and says how long a round's share takes; each later round archives
    // up to a later time and is killed somewhere between a fifth of that and twice it (work left
    // by a killed round adds to the next):
    // in the export, the publishing, the recording or the deletes.
    let started = std::time::Instant::now();
    let mut repairs =
        String::from_utf8_lossy(&archive(&env, &["--before", &cutoff(0)]).stderr).to_string();
    let share = started.elapsed();
    let mut phases = BTreeMap::<&str, usize>::new();
    for round in 1..=ROUNDS {
        let mut child = env
            .mutt(&["archive", "--before", &cutoff(round)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn mutt archive");
        std::thread::sleep(
            share.mul_f64(0.2 + 2.0 * ((round * 7) % ROUNDS) as f64 / ROUNDS as f64),
        );
        let _ = child.kill();
        let out = child.wait_with_output().expect("reap");
        repairs.push_str(&String::from_utf8_lossy(&out.stderr));
        *phases.entry(phase(&env)).or_default() += 1;
        // Between runs no message is lost: each is in the database or a recorded archive.
        let (ids, _) = archived_ids(&env);
        let left = env.count("SELECT COUNT(*) FROM messages").unwrap() as usize;
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert!(
            distinct.len() + left >= N,
            "round {round}: {} archived + {left} stored < {N}",
            distinct.len()
        );
    }
    eprintln!("a share took {share:?}; where the kills left the directory: {phases:?}");
    let done = archive(&env, &["--before", &now_plus_a_second()]);
    repairs.push_str(&String::from_utf8_lossy(&done.stderr));
    eprintln!(
        "{} archives; what the runs repaired:\n{repairs}",
        env.count("SELECT COUNT(*) FROM archives").unwrap()
    );
    let (mut ids, unrecorded) = archived_ids(&env);
    assert_eq!(
        files_ending(&env.path("archives"), ".tmp"),
        Vec::<PathBuf>::new()
    );
    assert!(
        unrecorded.is_empty(),
        "files no archives row names: {unrecorded:?}"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 0);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM archives WHERE deleted_at IS NULL")
            .unwrap(),
        0,
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    ids.sort();
    assert_eq!(
        ids.len(),
        N,
        "every message in exactly one recorded archive"
    );
    assert_eq!(ids, all);
}

#[test]
fn archiving_while_the_daemon_stores_keeps_every_message_exactly_once() {
    let env = env();
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("early", 1_000));
    assert_eq!(env.wait_rows(1_000, Duration::from_secs(30)), 1_000);
    let late = numbered_lines("late", 3_000);
    let sender = {
        let port = env.syslog_port;
        std::thread::spawn(move || {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind sender");
            for chunk in late.chunks(100) {
                for line in chunk {
                    s.send_to(line, ("127.0.0.1", port)).expect("send");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let out = archive(
        &env,
        &[
            "--before",
            &mutt::timefmt::iso8601_us(mutt::timefmt::now_us()),
        ],
    );
    sender.join().expect("sender");
    let total = env.wait_count(
        "SELECT (SELECT COUNT(*) FROM messages) + \
         (SELECT COALESCE(SUM(message_count), 0) FROM archives)",
        Duration::from_secs(30),
        |n| n >= 4_000,
    );
    assert_eq!(total, 4_000, "{}", String::from_utf8_lossy(&out.stdout));
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "mutt run: {stderr}");

    let mut texts: Vec<String> = Vec::new();
    let db = env.db();
    let mut stmt = db
        .prepare("SELECT raw_message FROM messages")
        .expect("select");
    for t in stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
    {
        texts.push(t.expect("row"));
    }
    let in_db = texts.len();
    for file in archive_files(&env.path("archives")) {
        for line in std::fs::read_to_string(file).expect("archive").lines() {
            let object: Value = serde_json::from_str(line).expect("line");
            texts.push(object["raw_message"].as_str().expect("text").to_string());
        }
    }
    assert!(in_db < 4_000, "the run archived something");
    assert!(in_db > 0, "messages received after the cutoff stay");
    texts.sort();
    let mut sent: Vec<String> = numbered_lines("early", 1_000)
        .into_iter()
        .chain(numbered_lines("late", 3_000))
        .map(|l| String::from_utf8(l).expect("utf-8"))
        .collect();
    sent.sort();
    assert_eq!(
        texts, sent,
        "each message once, in the database or an archive"
    );
}

#[test]
fn a_compressed_archive_is_zstd_its_manifest_hashes_the_file_and_it_holds_every_message() {
    let env = env_with(true);
    let ids = seeded(&env, 5_000);
    archive(&env, &["--before", &now_plus_a_second()]);
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 0);
    let files = files_ending(&env.path("archives"), ".jsonl.zst");
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = std::fs::read(&files[0]).expect("read archive");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(format!("{}.manifest.json", files[0].display())).expect("manifest"),
    )
    .expect("manifest JSON");
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    assert_eq!(manifest["compression"], "zstd");
    assert_eq!(manifest["sha256"], sha256.as_str());
    assert_eq!(manifest["size_bytes"], bytes.len());
    let text = zstd::decode_all(&bytes[..]).expect("zstd");
    assert!(
        bytes.len() * 4 < text.len(),
        "{} -> {}",
        text.len(),
        bytes.len()
    );
    let archived: Vec<String> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let object: Value = serde_json::from_slice(l).expect("line");
            object["id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(archived, ids);
    assert_eq!(manifest["rows"], ids.len());
}

#[test]
fn verify_passes_a_sound_archive_and_fails_one_with_a_changed_byte() {
    let env = env();
    seeded(&env, 100);
    archive(&env, &["--before", &now_plus_a_second()]);
    let files = archive_files(&env.path("archives"));
    assert_eq!(files.len(), 1);
    let file = files[0].to_str().expect("path");
    let ok = archive(&env, &["verify", file]);
    let ok = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.contains(": ok, 100 messages"), "{ok}");
    assert!(!ok.contains("no archives row"), "{ok}");

    let mut bytes = std::fs::read(file).expect("read");
    let at = bytes
        .iter()
        .position(|b| *b == b'<')
        .expect("a raw message");
    bytes[at] = b'>';
    std::fs::write(file, &bytes).expect("write");
    let bad = env
        .mutt(&["archive", "verify", file])
        .output()
        .expect("run mutt archive verify");
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("sha256"), "{text}");
    assert!(text.contains("the archives row says"), "{text}");
}

/// How many entries of the device index by blocks differ from what the rows there are imply
/// (store/blocks.rs): entries missing, extra or with other counts.
fn device_blocks_off(env: &Env) -> i64 {
    let implied = "SELECT source_ip, rowid >> 12, sum(type = 'syslog'), sum(type = 'snmp_trap') \
                   FROM messages GROUP BY 1, 2";
    let stored = "SELECT source_ip, block, syslog_rows, snmp_rows FROM device_blocks";
    env.count(&format!(
        "SELECT (SELECT COUNT(*) FROM ({implied} EXCEPT {stored})) \
              + (SELECT COUNT(*) FROM ({stored} EXCEPT {implied}))"
    ))
    .unwrap()
}

#[test]
fn import_puts_archived_messages_back_as_they_were_and_a_bad_line_stores_nothing() {
    let env = filled();
    let before = messages_as_archived(&env);
    assert!(env.count("SELECT COUNT(*) FROM device_blocks").unwrap() > 0);
    assert_eq!(device_blocks_off(&env), 0, "as the writer stored them");
    archive(&env, &["--before", &now_plus_a_second()]);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM device_blocks").unwrap(),
        0,
        "the archived rows are off their devices' counts"
    );
    let files: Vec<String> = archive_files(&env.path("archives"))
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    let out = archive(&env, &args);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("imported {}", before.len())),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(messages_as_archived(&env), before);
    assert_eq!(device_blocks_off(&env), 0, "the imported rows are indexed");

    let bad = env.path("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\":\"new-1\",\"type\":\"syslog\",\"source_ip\":\"10.0.0.1\",\"timestamp\":\"t\",\"received_at\":\"t\"}\n\
         {\"id\":\"new-2\",\"type\":\"syslog\",\"nope\":1}\n",
    )
    .expect("write");
    let out = env
        .mutt(&["archive", "import", bad.to_str().unwrap()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.jsonl: line 2") && err.contains("nope"),
        "{err}"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        before.len() as i64,
        "nothing stored by the failed import"
    );
    // The same files again: each message is stored once.
    let again = env.mutt(&["archive"]).args(&args).output().expect("run");
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!(
            "imported 0 messages from {} files; {} already stored",
            files.len(),
            before.len()
        )),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(messages_as_archived(&env), before, "no duplicates");
}

#[test]
fn migrate_reindex_makes_the_device_index_exact_after_rows_were_deleted_by_hand() {
    let env = filled();
    let conn = rusqlite::Connection::open(env.db_path()).expect("open");
    conn.execute(
        "DELETE FROM messages WHERE rowid % 3 = 0 OR type = 'snmp_trap'",
        [],
    )
    .expect("delete by hand");
    assert!(
        device_blocks_off(&env) > 0,
        "the counts still hold the rows"
    );
    let out = env
        .mutt(&["migrate", "--reindex"])
        .output()
        .expect("run mutt migrate");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = env.count("SELECT COUNT(*) FROM device_blocks").unwrap();
    assert!(
        said.contains(&format!(
            "device index rebuilt: {entries} entries, 1 blocks"
        )),
        "{said}"
    );
    assert_eq!(device_blocks_off(&env), 0);
}

#[test]
fn import_of_a_file_changed_after_its_manifest_was_written_stores_nothing() {
    let env = filled();
    let n = messages_as_archived(&env).len() as i64;
    archive(&env, &["--before", &now_plus_a_second()]);
    let file = archive_files(&env.path("archives"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("syslog-"))
        .expect("a syslog archive");
    // One letter of one line's text changed, still a well-formed message: only the manifest
    // can tell.
    let text = std::fs::read_to_string(&file).expect("read");
    let changed = text.replacen("archive", "archivE", 1);
    assert_ne!(changed, text, "a text to change");
    std::fs::write(&file, changed).expect("write");
    let out = env
        .mutt(&["archive", "import", file.to_str().unwrap()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not match its manifest") && err.contains("sha256"),
        "{err}"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 0);
    assert!(n > 0);
}

#[test]
fn a_csv_archive_imports_back_field_for_field_once_if_run_twice_and_a_bad_row_names_its_line() {
    let env = filled_as("csv");
    let before = messages_as_archived(&env);
    archive(&env, &["--before", &now_plus_a_second()]);
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 0);
    let files: Vec<String> = files_ending(&env.path("archives"), ".csv")
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        let out = archive(&env, &["verify", file]);
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok, "));
        let text = std::fs::read_to_string(file).expect("read");
        assert!(text.starts_with("id,"), "a header first");
        assert!(text.contains("\r\n"), "RFC 4180 line ends");
    }
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    archive(&env, &args);
    assert_eq!(
        messages_as_archived(&env),
        before,
        "NULLs, empty texts, numbers and raw bytes as they were"
    );
    let again = env.mutt(&["archive"]).args(&args).output().expect("run");
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        before.len() as i64,
        "no duplicates"
    );

    let bad = env.path("bad.csv");
    std::fs::write(
        &bad,
        "id,type,source_ip,timestamp,received_at\r\n\
         new-1,syslog,10.0.0.1,t,t\r\n\
         new-2,syslog,10.0.0.1\r\n",
    )
    .expect("write");
    let out = env
        .mutt(&["archive", "import", bad.to_str().unwrap()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv: line 3"), "{err}");
    let foreign = env.path("foreign.csv");
    std::fs::write(&foreign, "id,type,colour\r\nnew-3,syslog,red\r\n").expect("write");
    let out = env
        .mutt(&["archive", "import", foreign.to_str().unwrap()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("foreign.csv: line 2") && err.contains("colour"),
        "{err}"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        before.len() as i64,
        "nothing stored by the failed imports"
    );
}

#[test]
fn import_of_a_truncated_compressed_archive_fails_with_its_file_and_stores_nothing() {
    let env = env_with(true);
    seeded(&env, 5_000);
    archive(&env, &["--before", &now_plus_a_second()]);
    let file = files_ending(&env.path("archives"), ".jsonl.zst")
        .pop()
        .expect("an archive");
    let bytes = std::fs::read(&file).expect("read");
    let cut = env.path("cut.jsonl.zst");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let out = env
        .mutt(&["archive", "import", cut.to_str().unwrap()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.jsonl.zst: line "), "{err}");
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 0);
}
