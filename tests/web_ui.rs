//! The web UI over HTTP, as a browser's user sees it: pages built from a database made with the
//! collector's own schema (`store::schema::migrate`), served by `mutt_web::start` on
//! `127.0.0.1:0`; and the real `mutt run` / `mutt web` serving what they stored.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::web::{agent, get, Page};
use common::{need_tool, wait_timeout, Env, Setup, XSS};
use mutt::store::blocks::index_rows_from;
use mutt_web::filter::query_string;
use rusqlite::{params, Connection};

/// A database with the collector's schema, and the UI over it.
struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    web: mutt_web::WebHandle,
    seq: std::cell::Cell<u64>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("messages.db");
        let mut conn = Connection::open(&db).expect("create database");
        conn.pragma_update(None, "journal_mode", "wal")
            .expect("wal");
        mutt::store::schema::migrate(&mut conn).expect("schema");
        let web = start(&db, None);
        Fixture {
            _dir: dir,
            db,
            web,
            seq: std::cell::Cell::new(1),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web.addr())
    }

    fn get(&self, path: &str) -> Page {
        get(&self.url(path))
    }

    fn conn(&self) -> Connection {
        Connection::open(&self.db).expect("open database")
    }

    /// Store a message received `ago_ms` before now; returns its id.
    fn insert(&self, m: Msg) -> String {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let ms = now_ms() - m.ago_ms;
        let id = id_at(ms, seq);
        let received = fmt_ms(ms);
        let conn = self.conn();
        conn.execute(
            "INSERT INTO messages (id, type, source_ip, source_device, timestamp, \
             received_at, raw_message, raw_bytes, validated, validation_errors, \
             matched_rule_id, matched_rule_name, match_severity, syslog_facility, \
             syslog_level, syslog_program, snmp_oid, snmp_version, snmp_varbinds, \
             snmp_community_string, snmp_security_name, snmp_security_level) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, \
             ?15, ?16, ?17, ?18, ?19, ?20)",
            params![
                id,
                m.kind,
                m.ip,
                m.device,
                received,
                m.text,
                m.bytes,
                m.validated,
                m.errors,
                m.rule,
                m.severity,
                m.facility,
                m.level,
                m.program,
                m.oid,
                m.version,
                m.varbinds,
                m.community,
                m.security_name,
                m.security_level,
            ],
        )
        .expect("insert message");
        index_rows_from(&conn, conn.last_insert_rowid()).expect("index the row's device");
        id
    }

    /// Store `rows` (received at ms, source_ip, type) in the order given, in one transaction,
    /// and index them as the collector's writer would.
    fn insert_many(&self, rows: &[(i64, String, &str)]) {
        let mut conn = self.conn();
        let tx = conn.transaction().expect("tx");
        let first = next_rowid(&tx);
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO messages (id, type, source_ip, timestamp, received_at, \
                     raw_message) VALUES (?1, ?2, ?3, ?4, ?4, 'bulk')",
                )
                .expect("prepare");
            for (ms, ip, kind) in rows {
                let seq = self.seq.get();
                self.seq.set(seq + 1);
                stmt.execute(params![id_at(*ms, seq), kind, ip, fmt_ms(*ms)])
                    .expect("insert");
            }
        }
        index_rows_from(&tx, first).expect("index the rows");
        tx.commit().expect("commit");
    }
}

/// The rowid the next row inserted gets (rows are indexed from there, each once).
fn next_rowid(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT coalesce(max(rowid), 0) + 1 FROM messages",
        [],
        |r| r.get(0),
    )
    .expect("next rowid")
}

fn start(db: &Path, metrics_url: Option<String>) -> mutt_web::WebHandle {
    mutt_web::start(mutt_web::WebConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        database: mutt_web::Source::Sqlite(db.to_path_buf()),
        metrics_url,
        users: None,
    })
    .expect("start the web UI")
}

#[derive(Clone)]
struct Msg {
    ago_ms: i64,
    kind: &'static str,
    ip: String,
    device: Option<String>,
    text: String,
    bytes: Option<Vec<u8>>,
    validated: bool,
    errors: Option<String>,
    rule: Option<String>,
    severity: Option<String>,
    facility: Option<String>,
    level: Option<i64>,
    program: Option<String>,
    oid: Option<String>,
    version: Option<String>,
    varbinds: Option<String>,
    community: Option<String>,
    security_name: Option<String>,
    security_level: Option<String>,
}

fn syslog(ago_ms: i64, text: &str) -> Msg {
    Msg {
        ago_ms,
        kind: "syslog",
        ip: "10.0.0.1".into(),
        device: Some("core-sw1".into()),
        text: text.into(),
        bytes: None,
        validated: true,
        errors: None,
        rule: None,
        severity: None,
        facility: Some("4".into()),
        level: Some(6),
        program: Some("sshd".into()),
        oid: None,
        version: None,
        varbinds: None,
        community: None,
        security_name: None,
        security_level: None,
    }
}

/// `ms`'s UUIDv7 as MUTT makes them: the millisecond, then (here) zero sub-millisecond bits and
/// `seq` where the WAL sequence goes.
fn id_at(ms: i64, seq: u64) -> String {
    let ms = ms as u64;
    format!(
        "{:08x}-{:04x}-7000-8{:03x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        (seq >> 48) & 0xfff,
        seq & 0xffff_ffff_ffff
    )
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn fmt_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .expect("time")
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

fn q(pairs: &[(&str, &str)]) -> String {
    format!("/?{}", query_string(pairs))
}

#[test]
fn the_list_is_newest_first_escaped_and_every_device_rule_and_oid_links_to_its_filter() {
    let f = Fixture::new();
    f.insert(syslog(60_000, "older line"));
    f.insert(Msg {
        rule: Some("r-link".into()),
        severity: Some("critical".into()),
        ..syslog(1_000, &format!("newer {XSS}"))
    });
    f.insert(Msg {
        kind: "snmp_trap",
        oid: Some("1.3.6.1.6.3.1.1.5.3".into()),
        program: None,
        ..syslog(2_000, "IF-MIB::linkDown")
    });
    let p = f.get("/");
    assert_eq!(p.status, 200);
    let (newer, older) = (
        p.body
            .find("newer &lt;script&gt;")
            .expect("newer row, escaped"),
        p.body.find("older line").expect("older row"),
    );
    assert!(newer < older, "newest first");
    assert!(!p.body.contains("<script>alert"), "the text is escaped");
    assert!(!p.body.contains("<img src=x"));
    for link in [
        "/?device=10.0.0.1",
        "/?device=core-sw1",
        "/?rule=r-link",
        "/?severity=critical",
        "/?oid=1.3.6.1.6.3.1.1.5.3",
        "/?program=sshd",
    ] {
        assert!(p.body.contains(&format!("href=\"{link}\"")), "{link}");
    }
    let only_trap = f.get("/?oid=1.3.6.1.6.3.1.1.5.3");
    assert_eq!(only_trap.ids().len(), 1);
    assert!(only_trap.body.contains("IF-MIB::linkDown"));
}

#[test]
fn every_filter_takes_quotes_percent_underscore_and_backslash_as_plain_values() {
    let f = Fixture::new();
    let odd = "'%_\\";
    let base = syslog(5_000, "");
    let rows: Vec<(&str, Msg)> = vec![
        (
            "device",
            Msg {
                device: Some(odd.into()),
                ..base.clone()
            },
        ),
        (
            "severity",
            Msg {
                severity: Some(odd.into()),
                ..base.clone()
            },
        ),
        (
            "rule",
            Msg {
                rule: Some(odd.into()),
                ..base.clone()
            },
        ),
        (
            "facility",
            Msg {
                facility: Some(odd.into()),
                ..base.clone()
            },
        ),
        (
            "program",
            Msg {
                program: Some(odd.into()),
                ..base.clone()
            },
        ),
        (
            "oid",
            Msg {
                oid: Some(odd.into()),
                ..base.clone()
            },
        ),
    ];
    for (key, m) in &rows {
        f.insert(Msg {
            text: format!("hit-{key}"),
            ..m.clone()
        });
    }
    f.insert(Msg {
        text: "plain-row".into(),
        program: Some("x".into()),
        ..base
    });
    for (key, _) in &rows {
        for v in ["'", "%", "_", "\\", "%%", "' OR '1'='1", odd] {
            let p = f.get(&q(&[(key, v)]));
            assert_eq!(p.status, 200, "{key}={v}: {}", p.body);
            assert_eq!(
                p.body.contains(&format!("hit-{key}")),
                v == odd,
                "{key}={v}"
            );
            assert!(!p.body.contains("plain-row"), "{key}={v}");
        }
    }
    // In a search too they are plain characters.
    f.insert(syslog(1_000, "rate 100%_ of \\ 'quoted'"));
    let p = f.get(&q(&[("q", "100%_ \\ 'quoted'")]));
    assert_eq!(p.ids().len(), 1, "{}", p.body);
    assert_eq!(f.get(&q(&[("q", "100%x")])).ids().len(), 0);
}

#[test]
fn bad_queries_are_400_pages_that_say_what_to_fix() {
    let f = Fixture::new();
    let long = "a".repeat(10 * 1024);
    let cases: Vec<(String, &str)> = vec![
        (q(&[("from", "yesterday")]), "from"),
        (q(&[("from", "2026-13-45T99:00:00Z")]), "from"),
        (q(&[("range", "2h")]), "range"),
        (q(&[("colour", "red")]), "colour"),
        (q(&[("q", &long)]), "10240 bytes"),
        (format!("/?{long}=1"), "unknown parameter"),
        (q(&[("before", "'; DROP TABLE messages; --")]), "before"),
        (
            q(&[("before", "0190C0DE-1234-7ABC-8DEF-0123456789AB")]),
            "before",
        ),
        (q(&[("level", "debug")]), "level"),
        (q(&[("validated", "1")]), "validated"),
        (q(&[("type", "<b>")]), "type"),
        ("/?range=1h&range=7d".into(), "given twice"),
        (
            q(&[
                ("from", "2026-11-27T04:00:00Z"),
                ("to", "2026-11-27T03:00:00Z"),
            ]),
            "after from",
        ),
        (
            format!("/tail{}", q(&[("level", "9")]).trim_start_matches('/')),
            "level",
        ),
        (
            format!("/export{}", q(&[("format", "xls")]).trim_start_matches('/')),
            "format",
        ),
        ("/events?after=nope".into(), "after"),
        ("/alerts?state=lost".into(), "state"),
    ];
    for (path, says) in cases {
        let p = f.get(&path);
        assert_eq!(p.status, 400, "{path}: {}", p.body);
        assert!(p.body.contains("Bad query"), "{path}");
        assert!(
            p.body.contains(says),
            "{path} should say {says:?}: {}",
            p.body
        );
        assert!(!p.body.contains(&long), "the input is not echoed whole");
    }
    for path in [
        "/messages/not-an-id",
        "/messages/0190c0de-1234-7abc-8def-0123456789ab",
        "/nope",
        "/devices/not-an-address",
    ] {
        let p = f.get(path);
        assert_eq!(p.status, 404, "{path}");
        assert!(p.body.contains("Not found"), "{path}");
    }
}

#[test]
fn older_links_page_through_the_range_without_overlap_or_gap() {
    let f = Fixture::new();
    let mut ids = Vec::new();
    for i in 0..250 {
        ids.push(f.insert(syslog(250_000 - i * 1000, &format!("line {i}"))));
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/?range=1h".to_string();
    let mut pages = 0;
    loop {
        let p = f.get(&path);
        assert_eq!(p.status, 200);
        pages += 1;
        seen.extend(p.ids());
        match p.next() {
            Some(next) => {
                assert!(next.contains("before="), "{next}");
                assert!(
                    next.contains("range=1h"),
                    "the link keeps the query: {next}"
                );
                path = next;
            }
            None => {
                assert!(p.body.contains("End of the range."));
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every message once, newest first");
}

#[test]
fn an_absolute_range_shows_only_the_messages_received_in_it() {
    let f = Fixture::new();
    let now = now_ms();
    f.insert(syslog(2 * 3_600_000, "two hours ago"));
    f.insert(syslog(3_600_000, "one hour ago"));
    f.insert(syslog(0, "just now"));
    let from = fmt_ms(now - 90 * 60_000);
    let to = fmt_ms(now - 30 * 60_000);
    let p = f.get(&q(&[("from", &from), ("to", &to)]));
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.ids().len(), 1);
    assert!(p.body.contains("one hour ago"));
    let p = f.get("/?range=15m");
    assert!(p.body.contains("just now") && !p.body.contains("one hour ago"));
    assert!(f.get("/?range=7d").ids().len() == 3);
}

#[test]
fn a_search_matches_words_phrases_and_exclusions_and_says_when_its_cap_stopped_it() {
    let f = Fixture::new();
    f.insert(syslog(3_000_000, "needle in the haystack"));
    f.insert(syslog(2_000, "link down on eth0"));
    f.insert(syslog(1_000, "LINK is down on eth1"));
    let p = f.get(&q(&[("q", "link \"down on\" -eth0")]));
    assert_eq!(p.ids().len(), 1, "{}", p.body);
    assert!(p.body.contains("LINK is down on eth1"));
    assert!(
        p.body.contains("Search syntax"),
        "the syntax is on the page"
    );
    // More messages than a search reads, all newer than the needle.
    {
        let mut conn = f.conn();
        let tx = conn.transaction().expect("tx");
        // The rows above are indexed already: index the filler's alone, each row once.
        let first = next_rowid(&tx);
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO messages (id, type, source_ip, timestamp, received_at, \
                     raw_message) VALUES (?1, 'syslog', '10.0.0.9', ?2, ?2, 'filler')",
                )
                .expect("prepare");
            let base = now_ms() - 60_000;
            for i in 0..(mutt_web::SCAN_CAP + 10) {
                let ms = base + (i as i64) / 1000;
                stmt.execute(params![id_at(ms, 1_000_000 + i as u64), fmt_ms(ms)])
                    .expect("filler");
            }
        }
        index_rows_from(&tx, first).expect("index the filler");
        tx.commit().expect("commit");
    }
    let p = f.get(&q(&[("q", "needle"), ("range", "7d")]));
    assert_eq!(p.status, 200);
    assert!(p.ids().is_empty());
    assert!(
        p.body.contains(&format!(
            "The search stopped after reading {} messages",
            mutt_web::SCAN_CAP
        )),
        "{}",
        &p.body[..2000.min(p.body.len())]
    );
    let older = p
        .body
        .split("<a href=\"")
        .find_map(|s| {
            s.split_once("\">Search older messages")
                .map(|(h, _)| h.replace("&amp;", "&"))
        })
        .expect("a link to search older messages");
    let p = f.get(&older);
    assert!(p.body.contains("needle in the haystack"), "{}", p.body);
}

#[test]
fn a_message_page_shows_fields_varbinds_bytes_errors_alerts_and_its_neighbours() {
    let f = Fixture::new();
    let before = f.insert(syslog(10_000, "the one before"));
    let varbinds = serde_json::json!([
        {"oid": "1.3.6.1.2.1.2.2.1.1.2", "name": "IF-MIB::ifIndex.2", "type": "INTEGER", "value": "2"},
        {"oid": "1.3.6.1.2.1.1.5.0", "name": "SNMPv2-MIB::sysName.0", "type": "OCTET STRING", "value": XSS},
    ]);
    let trap = f.insert(Msg {
        kind: "snmp_trap",
        program: None,
        facility: None,
        level: None,
        oid: Some("1.3.6.1.6.3.1.1.5.3".into()),
        version: Some("v3".into()),
        varbinds: Some(varbinds.to_string()),
        community: Some("s3cret-community".into()),
        security_name: Some("monitor-user".into()),
        security_level: Some("authPriv".into()),
        validated: false,
        errors: Some(serde_json::json!(["missing field: sysUpTime", XSS]).to_string()),
        rule: Some("r-down".into()),
        severity: Some("major".into()),
        ..syslog(5_000, "IF-MIB::linkDown")
    });
    let after = f.insert(syslog(1_000, "the one after"));
    f.conn()
        .execute(
            "INSERT INTO webhook_outbox (message_id, rule_id, target, body, state, attempts, \
             next_attempt_at, last_error, created_at, fold_key) VALUES (?1, 'r-down', 'ops', \
             '{}', 'dead', 5, '2026-11-27T03:00:00Z', 'HTTP 503 from ops', \
             '2026-11-27T03:00:00Z', 7)",
            [&trap],
        )
        .expect("outbox");
    let p = f.get(&format!("/messages/{trap}"));
    assert_eq!(p.status, 200, "{}", p.body);
    for shown in [
        "IF-MIB::ifIndex.2",
        "SNMPv2-MIB::sysName.0",
        "OCTET STRING",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "monitor-user",
        "authPriv",
        "missing field: sysUpTime",
        "r-down",
        "major",
        "HTTP 503 from ops",
        ">dead<",
        &format!("/messages/{before}"),
        &format!("/messages/{after}"),
    ] {
        assert!(p.body.contains(shown), "{shown} is on the page");
    }
    assert!(!p.body.contains("<script>alert"), "escaped");
    assert!(!p.body.contains("s3cret-community"), "never the community");
    // Bytes that are not UTF-8 are shown escaped.
    let binary = f.insert(Msg {
        bytes: Some(b"bad \xff\xfe byte".to_vec()),
        ..syslog(500, "bad \u{fffd}\u{fffd} byte")
    });
    let p = f.get(&format!("/messages/{binary}"));
    assert!(p.body.contains("bad \\xff\\xfe byte"), "{}", p.body);
}

#[test]
fn a_missing_database_is_a_page_that_says_so_not_an_error_500() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = start(
        &dir.path().join("nothing.db"),
        Some("http://127.0.0.1:9/metrics".into()),
    );
    let base = format!("http://{}", web.addr());
    for path in [
        "/",
        "/tail",
        "/devices",
        "/alerts",
        "/export",
        "/messages/0190c0de-1234-7abc-8def-0123456789ab",
    ] {
        let p = get(&format!("{base}{path}"));
        assert_eq!(p.status, 503, "{path}");
        assert!(p.body.contains("does not exist yet"), "{path}: {}", p.body);
    }
    assert!(
        !dir.path().join("nothing.db").exists(),
        "the UI never creates it"
    );
    let p = get(&format!("{base}/health"));
    assert_eq!(p.status, 200);
    assert!(p.body.contains("The daemon is not answering"), "{}", p.body);
}

#[test]
fn every_response_carries_the_security_headers() {
    let f = Fixture::new();
    let id = f.insert(syslog(1_000, "x"));
    for path in [
        "/".to_string(),
        format!("/messages/{id}"),
        "/nope".into(),
        "/?from=bad".into(),
        "/assets/style.css".into(),
        "/assets/tail.js".into(),
        "/health".into(),
        "/export?format=csv".into(),
        "/devices".into(),
    ] {
        let p = f.get(&path);
        assert_eq!(
            p.header("content-security-policy"),
            Some(mutt_web::CSP),
            "{path}"
        );
        assert_eq!(
            p.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(p.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert!(
            !p.body.contains("<script>") && !p.body.contains(" style="),
            "{path}: no inline script or style"
        );
    }
    assert!(mutt_web::CSP.contains("script-src 'self'") && !mutt_web::CSP.contains("unsafe"));
}

#[test]
fn export_gives_the_view_as_csv_with_formulas_defused_or_as_json_lines() {
    let f = Fixture::new();
    f.insert(syslog(2_000, "=HYPERLINK(\"http://evil\",\"x\")"));
    f.insert(syslog(1_000, "@SUM(A1), \"quoted\""));
    f.insert(Msg {
        program: Some("other".into()),
        ..syslog(500, "-not exported")
    });
    let p = f.get("/export?format=csv&program=sshd");
    assert_eq!(p.status, 200);
    assert!(p
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/csv"));
    assert_eq!(p.header("x-mutt-truncated"), Some("false"));
    let lines: Vec<&str> = p.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", p.body);
    assert!(
        lines[1].ends_with(",\"'@SUM(A1), \"\"quoted\"\"\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""),
        "{}",
        lines[2]
    );
    assert!(!p.body.contains("not exported"));
    let p = f.get("/export?format=jsonl&program=sshd");
    let rows: Vec<serde_json::Value> = p
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows[0]["text"], "@SUM(A1), \"quoted\"");
    assert_eq!(rows.len(), 2);
}

#[test]
fn the_live_stream_sends_the_matching_rows_stored_after_it_opened() {
    let f = Fixture::new();
    let old = f.insert(Msg {
        program: Some("tailer".into()),
        ..syslog(1_000, "stored before")
    });
    let url = f.url(&format!("/events?program=tailer&after={old}"));
    let r = agent().get(&url).call().expect("open the stream");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .starts_with("text/event-stream"));
    let mut lines = std::io::BufReader::new(r.into_body().into_reader()).lines();
    assert_eq!(lines.next().expect("a line").expect("read"), "event: ready");
    f.insert(Msg {
        program: Some("someone-else".into()),
        ..syslog(0, "not this one")
    });
    let new = f.insert(Msg {
        program: Some("tailer".into()),
        ..syslog(0, &format!("live {XSS}"))
    });
    let until = Instant::now() + Duration::from_secs(10);
    let mut data = None;
    while Instant::now() < until {
        let line = lines.next().expect("the stream goes on").expect("read");
        assert!(!line.contains("not this one"), "filtered");
        if let Some(d) = line.strip_prefix("data: ") {
            if d.starts_with('{') {
                data = Some(d.to_string());
                break;
            }
        }
    }
    let row: serde_json::Value = serde_json::from_str(&data.expect("an event")).expect("JSON");
    assert_eq!(row["id"], new.as_str());
    assert_eq!(
        row["text"],
        format!("live {XSS}"),
        "the text as stored, for textContent"
    );
}

#[test]
fn the_tables_show_devices_alerts_rules_snmpv3_failures_and_archives() {
    let f = Fixture::new();
    let id = f.insert(syslog(1_000, "a line"));
    let c = f.conn();
    c.execute_batch(&format!(
        "INSERT INTO devices (id, hostname, source_ip, last_seen_syslog) VALUES ('d1', 'core-sw1', '10.0.0.1', 1);
         INSERT INTO rule_counters (rule_id, rule_name, matched, discarded, last_matched_at) VALUES ('r-bgp', 'BGP down', 42, 3, '2026-11-27T03:00:00Z');
         INSERT INTO snmpv3_auth_failures (id, username, hostname, num_failures) VALUES ('f1', 'intruder', '10.9.9.9', 17);
         INSERT INTO archives (id, filename, message_count, size_bytes, message_type, sha256) VALUES ('a1', 'messages-2026-11.jsonl.zst', 1234, 5678, 'syslog', 'abc123');
         INSERT INTO archives (id, filename, message_count, size_bytes, message_type, sha256, expired_at) VALUES ('a0', 'messages-2025-01.jsonl.zst', 99, 100, 'syslog', 'def456', '2026-11-30T00:00:00Z');
         INSERT INTO webhook_outbox (message_id, rule_id, target, body, state, attempts, next_attempt_at, created_at, fold_key) VALUES ('{id}', 'r-bgp', 'pager', '{{}}', 'pending', 2, 'x', 'y', 1);"
    ))
    .expect("rows");
    for (path, shown) in [
        ("/devices", vec!["core-sw1", "href=\"/devices/10.0.0.1\""]),
        ("/devices/10.0.0.1", vec!["core-sw1", "a line"]),
        (
            "/rules",
            vec!["BGP down", "42", "href=\"/?rule=r-bgp&amp;range=7d\""],
        ),
        ("/snmpv3", vec!["intruder", "17"]),
        (
            "/archives",
            vec![
                "messages-2026-11.jsonl.zst",
                "1234",
                "abc123",
                "File expired",
                "2026-11-30T00:00:00Z",
            ],
        ),
        (
            "/alerts",
            vec!["pager", "pending", &format!("/messages/{id}")],
        ),
        ("/alerts?state=pending", vec!["pager"]),
    ] {
        let p = f.get(path);
        assert_eq!(p.status, 200, "{path}");
        for s in shown {
            assert!(p.body.contains(s), "{path} shows {s}: {}", p.body);
        }
    }
    assert!(!f.get("/alerts?state=dead").body.contains("pager"));
}

#[test]
fn the_histogram_counts_by_type_and_its_bars_narrow_the_range() {
    let f = Fixture::new();
    for i in 0..5 {
        f.insert(syslog(60_000 + i, "s"));
    }
    f.insert(Msg {
        kind: "snmp_trap",
        ..syslog(30_000, "t")
    });
    let p = f.get("/?range=1h");
    assert!(p.body.contains("<svg"), "{}", p.body);
    assert!(
        p.body.contains(": 5 syslog, 0 snmp_trap") || p.body.contains(": 5 syslog, 1 snmp_trap")
    );
    assert!(
        p.body.contains(": 0 syslog, 1 snmp_trap") || p.body.contains(": 5 syslog, 1 snmp_trap")
    );
    let bar = p
        .body
        .split("<a href=\"/?")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or("").replace("&amp;", "&"))
        .find(|h| h.contains("from=") && h.contains("to="))
        .expect("bars link to a narrower range");
    assert!(!bar.contains("range="), "{bar}");
    assert_eq!(f.get(&format!("/?{bar}")).status, 200);
    // A device's rows are counted in one pass, into the same slices.
    f.insert(Msg {
        ip: "10.0.0.2".into(),
        ..syslog(60_000, "elsewhere")
    });
    let p = f.get("/?range=1h&device=10.0.0.1");
    let apart =
        p.body.contains(": 5 syslog, 0 snmp_trap") && p.body.contains(": 0 syslog, 1 snmp_trap");
    assert!(
        apart || p.body.contains(": 5 syslog, 1 snmp_trap"),
        "the device's counts"
    );
    assert!(!p.body.contains(": 6 syslog"), "not the other device's");
}

/// A device's ids in `[from, to)`, below `before`, as a plain `ORDER BY id DESC` over the file
/// gives them.
fn plain_ids(f: &Fixture, ip: &str, from: i64, to: i64, before: Option<&str>) -> Vec<String> {
    let hi = id_at(to, 0);
    let hi = before.map_or(hi.clone(), |b| hi.min(b.to_string()));
    let conn = f.conn();
    let mut stmt = conn
        .prepare(
            "SELECT id FROM messages WHERE source_ip = ?1 AND id >= ?2 AND id < ?3 \
             ORDER BY id DESC",
        )
        .expect("prepare");
    let ids = stmt
        .query_map(params![ip, id_at(from, 0), hi], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("ids");
    ids
}

/// Every page of the list from `path` on, following its Older links: the ids shown, in order.
fn every_page(f: &Fixture, path: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = path.to_string();
    loop {
        let p = f.get(&path);
        assert_eq!(p.status, 200, "{}", p.body);
        seen.extend(p.ids());
        match p.next() {
            Some(next) => path = next,
            None => return seen,
        }
    }
}

/// The ids an export of `query` (JSON lines) gives, in order.
fn exported(f: &Fixture, query: &str) -> Vec<String> {
    let p = f.get(&format!("/export?{query}&format=jsonl"));
    assert_eq!(p.status, 200, "{}", p.body);
    p.body
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            row["id"].as_str().expect("an id").to_string()
        })
        .collect()
}

/// The list, its pages, a cursor in the middle and the export of each device in `ips` are what
/// a plain query over the same file gives, in the same order.
fn assert_device_lists_match(f: &Fixture, ips: &[&str], from: i64, to: i64) {
    let range = [("from", fmt_ms(from)), ("to", fmt_ms(to))];
    for ip in ips {
        let want = plain_ids(f, ip, from, to, None);
        assert!(want.len() > 150, "{ip}: enough rows for pages");
        let query = query_string(&[("device", ip), ("from", &range[0].1), ("to", &range[1].1)]);
        assert!(
            every_page(f, &format!("/?{query}")) == want,
            "{ip}: every page, each row once, newest first"
        );
        let cursor = &want[want.len() / 2];
        let page = f.get(&format!("/?{query}&before={cursor}")).ids();
        let below = plain_ids(f, ip, from, to, Some(cursor));
        assert_eq!(
            page,
            below[..below.len().min(mutt_web::PAGE)],
            "{ip}: before="
        );
        let all = exported(f, &query);
        assert_eq!(all.len(), want.len().min(10_000), "{ip}: the export");
        assert!(all == want[..all.len()], "{ip}: the export's order");
    }
}

const DEVICES: [&str; 7] = [
    "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.4", "10.0.0.2",
];

#[test]
fn a_devices_list_across_many_blocks_is_the_plain_querys_in_the_same_order() {
    let f = Fixture::new();
    let base = now_ms() - 3 * 3_600_000;
    // 14,000 rows: more than three blocks of 4,096, four devices sending unevenly.
    let rows: Vec<_> = (0..14_000)
        .map(|i| {
            let kind = if i % 5 == 0 { "snmp_trap" } else { "syslog" };
            (base + i * 500, DEVICES[i as usize % 7].to_string(), kind)
        })
        .collect();
    f.insert_many(&rows);
    let to = base + 14_000 * 500;
    assert_device_lists_match(&f, &["10.0.0.3", "10.0.0.1"], base, to);
    // A type filter on top of the device.
    let query = query_string(&[
        ("device", "10.0.0.2"),
        ("type", "snmp_trap"),
        ("from", &fmt_ms(base)),
        ("to", &fmt_ms(to)),
    ]);
    let traps: Vec<String> = plain_ids(&f, "10.0.0.2", base, to, None)
        .into_iter()
        .filter(|id| {
            let kind: String = f
                .conn()
                .query_row("SELECT type FROM messages WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .expect("type");
            kind == "snmp_trap"
        })
        .collect();
    assert!(every_page(&f, &format!("/?{query}")) == traps);
}

/// Rows whose ids are not in rowid order: a batch stores its syslog rows before its traps (ids
/// interleaved), then rows with older ids are stored after newer ones, as an archive import
/// stores them.
fn unordered_rows(base: i64) -> Vec<(i64, String, &'static str)> {
    let mut rows = Vec::new();
    let newer = base + 3_600_000;
    for batch in 0..60 {
        let t = newer + batch * 50_000;
        for (kind, odd) in [("syslog", 0), ("snmp_trap", 1)] {
            for j in 0..50 {
                let ms = t + (2 * j + odd) * 400;
                let ip = DEVICES[(batch * 50 + j) as usize % 7].to_string();
                rows.push((ms, ip, kind));
            }
        }
    }
    for i in 0..6_000 {
        // The import: older ids, newer rowids, and not in id order either.
        let ms = base + (i * 7_919) % 3_000_000;
        rows.push((ms, DEVICES[(i as usize * 3) % 7].to_string(), "syslog"));
    }
    rows
}

#[test]
fn a_devices_list_stays_in_exact_id_order_when_ids_are_not_in_rowid_order() {
    let f = Fixture::new();
    let base = now_ms() - 6 * 3_600_000;
    f.insert_many(&unordered_rows(base));
    let to = base + 2 * 3_600_000;
    assert_device_lists_match(&f, &["10.0.0.3", "10.0.0.1", "10.0.0.4"], base, to);
    // A range that starts and ends inside blocks.
    assert_device_lists_match(&f, &["10.0.0.2"], base + 1_000_000, base + 4_500_000);
}

/// The device histogram of `query` (a device `ip`, maybe a type, a range) against a plain
/// count of each slice: every slice counted, each count exact. Returns how many of the device's
/// blocks lie inside one slice (counted from the collector's counts) and how many cross a
/// slice's edge or the range's (their rows read one by one), and the rows counted.
fn assert_device_histogram(f: &Fixture, ip: &str, query: &[(&str, &str)]) -> (usize, usize, i64) {
    let mut pairs = vec![("device", ip)];
    pairs.extend_from_slice(query);
    let p = f.get(&format!("/?{}", query_string(&pairs)));
    assert_eq!(p.status, 200, "{}", p.body);
    let only = query.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v);
    let conn = f.conn();
    let svg = p.body.split("<svg").nth(1).expect("the histogram");
    let mut edges = Vec::new();
    let mut total = 0;
    for title in svg.split("<title>").skip(1) {
        let title = title.split("</title>").next().unwrap_or("");
        let (times, counts) = title.split_once(": ").expect("times: counts");
        let (lo, hi) = times.split_once(" – ").expect("lo – hi");
        let ms = |t: &str| {
            t.parse::<jiff::Timestamp>()
                .expect("a time")
                .as_millisecond()
        };
        let (lo, hi) = (id_at(ms(lo), 0), id_at(ms(hi), 0));
        let count = |kind: &str| -> i64 {
            if only.is_some_and(|k| k != kind) {
                return 0;
            }
            conn.query_row(
                "SELECT count(*) FROM messages WHERE source_ip = ?1 AND type = ?2 \
                 AND id >= ?3 AND id < ?4",
                params![ip, kind, lo, hi],
                |r| r.get(0),
            )
            .expect("count")
        };
        let (syslog, traps) = (count("syslog"), count("snmp_trap"));
        assert_eq!(
            counts,
            format!("{syslog} syslog, {traps} snmp_trap"),
            "{query:?}: slice {times}"
        );
        total += syslog + traps;
        edges.push(lo);
        edges.push(hi);
    }
    edges.dedup();
    assert_eq!(edges.len(), 49, "{query:?}: 48 slices");
    let (from, to) = (&edges[0], &edges[48]);
    let mut stmt = conn
        .prepare(
            "SELECT b.min_id, b.max_id FROM device_blocks AS d \
             JOIN message_blocks AS b ON b.block = d.block \
             WHERE d.source_ip = ?1 AND b.max_id >= ?2 AND b.min_id < ?3",
        )
        .expect("prepare");
    let bounds = stmt
        .query_map(params![ip, from, to], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .expect("blocks")
        .collect::<Result<Vec<_>, _>>()
        .expect("bounds");
    let slice = |id: &str| edges.partition_point(|e| e.as_str() <= id);
    let inside = bounds
        .iter()
        .filter(|(min, max)| min >= from && max < to && slice(min) == slice(max))
        .count();
    (inside, bounds.len() - inside, total)
}

/// Delete `ids` as the archiver does: in one transaction, 500 at a time, each chunk's rows
/// taken off the block counts before they are deleted.
fn delete_as_the_archiver(f: &Fixture, ids: &[String]) {
    let mut conn = f.conn();
    let tx = conn.transaction().expect("tx");
    for part in ids.chunks(500) {
        let marks = vec!["?"; part.len()].join(", ");
        let params = rusqlite::params_from_iter(part.iter());
        for sql in mutt::store::blocks::subtract_ids(&marks) {
            tx.execute(&sql, params.clone()).expect("subtract");
        }
        tx.execute(
            &format!("DELETE FROM messages WHERE id IN ({marks})"),
            params,
        )
        .expect("delete");
    }
    tx.commit().expect("commit");
}

#[test]
fn the_histogram_of_a_device_counts_what_a_plain_count_gives() {
    let f = Fixture::new();
    let base = now_ms() - 6 * 3_600_000;
    let mut rows = unordered_rows(base);
    // Then a busy stretch: 20,000 rows 10 ms apart, about 41 s a block. In the 2-hour range
    // below (150 s slices) three of its blocks lie inside the last slice and one crosses the
    // range's end; in the 62-minute one (77 s slices) slice edges cut some and miss others.
    let busy = base + 2 * 3_600_000 - 150_000;
    rows.extend((0..20_000_i64).map(|i| {
        let kind = if i % 5 == 0 { "snmp_trap" } else { "syslog" };
        (busy + i * 10, DEVICES[i as usize % 7].to_string(), kind)
    }));
    f.insert_many(&rows);
    let ip = "10.0.0.2";
    let ranges = [
        (base, base + 2 * 3_600_000),
        (busy - 3_600_000, busy + 100_000),
    ];
    let cases = |ranges: &[(i64, i64)]| -> Vec<Vec<(&'static str, String)>> {
        let mut cases = Vec::new();
        for (from, to) in ranges {
            let range = vec![("from", fmt_ms(*from)), ("to", fmt_ms(*to))];
            cases.push(range.clone());
            for kind in ["syslog", "snmp_trap"] {
                let mut typed = range.clone();
                typed.push(("type", kind.to_string()));
                cases.push(typed);
            }
        }
        cases
    };
    let check = |what: &str| {
        let (mut inside, mut across) = (0, 0);
        for case in cases(&ranges) {
            let query: Vec<(&str, &str)> = case.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (i, a, total) = assert_device_histogram(&f, ip, &query);
            assert!(total > 300, "{what} {query:?}: {total} rows");
            inside += i;
            across += a;
        }
        assert!(
            inside >= 6 && across >= 6,
            "{what}: both ways, {inside} blocks inside a slice, {across} across an edge"
        );
    };
    check("as stored");
    // The archiver deletes the oldest rows, and here a third of the busy stretch too.
    let conn = f.conn();
    let ids: Vec<String> = conn
        .prepare(
            "SELECT id FROM messages WHERE id < ?1 \
             UNION ALL SELECT id FROM messages WHERE id >= ?2 AND rowid % 3 = 0",
        )
        .expect("prepare")
        .query_map(params![id_at(base + 1_000_000, 0), id_at(busy, 0)], |r| {
            r.get(0)
        })
        .expect("ids")
        .collect::<Result<_, _>>()
        .expect("ids");
    assert!(ids.len() > 6_000, "{}", ids.len());
    delete_as_the_archiver(&f, &ids);
    check("after a delete");
}

#[test]
fn a_messages_neighbours_cross_block_boundaries_in_arrival_order() {
    let f = Fixture::new();
    let base = now_ms() - 3_600_000;
    let device: [i64; 12] = [
        1_000, 2_000, 3_000, 4_000, 4_090, 4_097, 4_100, 6_000, 8_191, 8_192, 9_000, 12_000,
    ];
    // Rowids 1 to 12,288 (the file is new); the device's rows at those rowids, the target at
    // 4,100 in the second block, and one row before it with an id newer than the target's.
    let rows: Vec<_> = (1..=12_288)
        .map(|rowid| {
            let ms = if rowid == 4_090 {
                base + 4_200 * 100
            } else {
                base + rowid * 100
            };
            let ip = if device.contains(&rowid) {
                "10.0.9.9"
            } else {
                "10.0.0.1"
            };
            (ms, ip.to_string(), "syslog")
        })
        .collect();
    f.insert_many(&rows);
    let conn = f.conn();
    let id_of = |rowid: i64| -> String {
        conn.query_row("SELECT id FROM messages WHERE rowid = ?1", [rowid], |r| {
            r.get(0)
        })
        .expect("the row")
    };
    let target = id_of(4_100);
    let p = f.get(&format!("/messages/{target}"));
    assert_eq!(p.status, 200, "{}", p.body);
    let context = p
        .body
        .split("class=\"messages context\"")
        .nth(1)
        .expect("the context table");
    let shown: Vec<&str> = context
        .split("href=\"/messages/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    // After it (farthest first), then before it (nearest first).
    let want: Vec<String> = [
        12_000, 9_000, 8_192, 8_191, 6_000, 4_097, 4_090, 4_000, 3_000, 2_000,
    ]
    .into_iter()
    .map(id_of)
    .collect();
    assert_eq!(shown, want);
    // At the ends of the device's rows: what there is, one way only.
    let p = f.get(&format!("/messages/{}", id_of(1_000)));
    let context = p
        .body
        .split("class=\"messages context\"")
        .nth(1)
        .unwrap_or("");
    assert_eq!(context.matches("href=\"/messages/").count(), 5);
    assert!(context.contains(&id_of(4_097)) && !context.contains(&id_of(4_100)));
}

/// The real daemon: what `logger` and `snmptrap` send shows on its UI, escaped; the health page
/// reads its counters.
#[test]
#[ignore = "needs logger and snmptrap"]
fn mutt_run_serves_the_ui_over_what_it_stored() {
    need_tool("logger");
    need_tool("snmptrap");
    let env = Env::new(Setup {
        extra: "web:\n  enabled: true\n  listen: 127.0.0.1:0\n".into(),
        ..Setup::default()
    });
    let daemon = env.start();
    let base = daemon.web_base();
    env.send_xss();
    env.wait_rows(2, Duration::from_secs(10));
    let p = get(&format!("{base}/?range=15m"));
    assert_eq!(p.status, 200);
    assert!(p
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(!p.body.contains("<script>alert"));
    let trap = get(&format!("{base}/?type=snmp_trap"))
        .ids()
        .pop()
        .expect("the trap's row");
    let p = get(&format!("{base}/messages/{trap}"));
    assert!(
        p.body.contains("IF-MIB::linkDown") && p.body.contains("IF-MIB::ifIndex.2"),
        "{}",
        p.body
    );
    assert!(!p.body.contains("<script>alert"));
    assert!(!p.body.contains("public"), "the community is not shown");
    let p = get(&format!("{base}/health"));
    assert!(p.body.contains("The daemon is running"), "{}", p.body);
    drop(daemon);
}

/// `mutt web` alone: no database yet and no daemon, each said on its page; SIGTERM stops it.
#[test]
fn mutt_web_serves_alone_and_says_when_the_database_and_the_daemon_are_missing() {
    let port = common::free_port();
    let env = Env::new(Setup {
        extra: format!("web:\n  listen: 127.0.0.1:{port}\n"),
        ..Setup::default()
    });
    let mut child = env
        .mutt(&["web"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mutt web");
    let base = format!("http://127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(20);
    let page = loop {
        match agent().get(&format!("{base}/")).call() {
            Ok(mut r) => {
                break (
                    r.status().as_u16(),
                    r.body_mut().read_to_string().unwrap_or_default(),
                )
            }
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("mutt web never answered: {e}"),
        }
    };
    assert_eq!(page.0, 503);
    assert!(page.1.contains("does not exist yet"), "{}", page.1);
    let p = get(&format!("{base}/health"));
    assert!(p.body.contains("The daemon is not answering"), "{}", p.body);
    common::signal(child.id(), libc::SIGTERM);
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn with_web_auth_every_page_asks_for_a_user_and_lets_the_right_password_in() {
    let f = Fixture::new();
    f.insert(syslog(1_000, "behind the login"));
    let web = mutt_web::start(mutt_web::WebConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        database: mutt_web::Source::Sqlite(f.db.clone()),
        metrics_url: None,
        // `printf %s 'correct horse' | argon2 mutt-test-salt -id -t 1 -m 6 -p 1 -e`
        users: Some(vec![mutt_web::auth::WebUser {
            name: "ops".into(),
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$bXV0dC10ZXN0LXNhbHQ$\
                            iQisuIqe+G77/mbHZpwsCJnKkcD0sso0EIePr6xN1NU"
                .into(),
        }]),
    })
    .expect("start");
    let base = format!("http://{}", web.addr());
    let with = |path: &str, credentials: Option<&str>| {
        let mut req = agent().get(&format!("{base}{path}"));
        if let Some(c) = credentials {
            req = req.header("authorization", &format!("Basic {c}"));
        }
        let mut r = req.call().expect("request");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let csp = r.headers().contains_key("content-security-policy");
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (r.status().as_u16(), challenge, csp, body)
    };
    for path in ["/", "/export", "/events", "/assets/tail.js", "/nope"] {
        for creds in [None, Some("b3BzOndyb25n"), Some("not base64!")] {
            let (status, challenge, csp, body) = with(path, creds);
            assert_eq!(status, 401, "{path} {creds:?}");
            assert_eq!(
                challenge.as_deref(),
                Some("Basic realm=\"MUTT\", charset=\"UTF-8\"")
            );
            assert!(csp);
            assert!(!body.contains("behind the login"));
        }
    }
    // "ops:correct horse"
    let (status, _, _, body) = with("/", Some("b3BzOmNvcnJlY3QgaG9yc2U="));
    assert_eq!(status, 200);
    assert!(body.contains("behind the login"));
}

#[test]
fn the_health_page_counts_what_the_kernel_dropped_on_mutts_own_socket() {
    let env = Env::new(Setup {
        extra: "web:\n  enabled: true\n  listen: 127.0.0.1:0\n".into(),
        ..Setup::default()
    });
    env.config_replace(
        "protocol: [udp, tcp]\n",
        "protocol: [udp, tcp]\n    socket_receive_buffer_mb: 1\n",
    );
    let daemon = env.start();
    let base = daemon.web_base();
    // Stopped, the daemon reads nothing: what its 1 MB receive buffer cannot hold is dropped by
    // the kernel on its socket, and counted there.
    const SENT: u64 = 20_000;
    let line = |i: u64| format!("<13>drop test {i:06} {}", "x".repeat(900)).into_bytes();
    let lines: Vec<Vec<u8>> = (0..SENT).map(line).collect();
    common::signal(daemon.pid(), libc::SIGSTOP);
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    for l in &lines {
        sender
            .send_to(l, ("127.0.0.1", env.syslog_port))
            .expect("send");
    }
    common::signal(daemon.pid(), libc::SIGCONT);
    let drops = r#"mutt_udp_socket_drops_total{listener="syslog"}"#;
    let until = Instant::now() + Duration::from_secs(60);
    let (stored, dropped) = loop {
        let dropped = daemon.metric(drops);
        let stored = daemon.metric("mutt_stored_total");
        if stored + dropped == SENT {
            break (stored, dropped);
        }
        assert!(
            Instant::now() < until,
            "stored {stored} + dropped {dropped} never made {SENT}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        dropped > 0 && stored > 0,
        "stored {stored}, dropped {dropped}"
    );
    assert_eq!(
        daemon.metric(r#"mutt_udp_socket_drops_total{listener="snmp"}"#),
        0
    );
    let p = get(&format!("{base}/health"));
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains(&format!(
            "Dropped by the kernel on MUTT's UDP sockets</th><td>{dropped}<"
        )),
        "{}",
        p.body
    );
    assert!(p.body.contains("id=\"health-chart\""), "the chart");
    assert!(
        p.body.contains("<rect class=\"lost\""),
        "the lost part drawn: {}",
        p.body
    );
}
