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
    let env = Env::new(Setup {
        extra: "enrichment:\n  reverse_dns: false\n".into(),
        ..Setup::default()
    });
    let config = std::fs::read_to_string(env.config_path()).expect("read config");
    let archiver = format!(
        "storage:\n  archiver:\n    path: {}\n    format: jsonl\n    compress: false\n",
        env.path("archives").display()
    );
    std::fs::write(
        env.config_path(),
        config.replacen("storage:\n", &archiver, 1),
    )
    .expect("write config");
    env
}

/// Fill the database with syslog lines and SNMP traps, then stop the daemon.
fn filled() -> Env {
    let env = env();
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

/// The archive files (not manifests) in the directory, by name; fails on a temporary file.
fn archive_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read archive dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        assert!(!name.ends_with(".tmp"), "temporary file left: {name}");
        if name.ends_with(".jsonl") {
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
}
