//! The archiver on PostgreSQL: the real `mutt` binary with `storage.backend: postgresql` on a
//! private PostgreSQL (tests/common/pg.rs). `mutt archive` writes the lines SQLite's run writes
//! for the same input, `verify` passes them, `import` puts them back once; a run killed with
//! SIGKILL and a rerun leave each message in the database or in exactly one archive; a
//! daily-partitioned database loses its old days as whole partitions, archived first, while
//! the collector stores; two archivers at once never export a message twice.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::pg::*;
use common::*;
use serde_json::{Map, Value};

const LINES: usize = 40;
const DAY_US: i64 = 86_400 * 1_000_000;

/// The `storage.archiver` lines of a test: an archive directory in `env`, and `more`.
fn archiver_yaml(env: &Env, more: &str) -> String {
    format!(
        "  archiver:\n    path: {}\n    format: jsonl\n{more}",
        env.path("archives").display()
    )
}

/// A collector on `pg`'s database `db` whose archiver writes into its own directory;
/// `postgresql` and `archiver` lines added under their keys.
fn collector(pg: &PgServer, db: &str, id: &str, postgresql: &str, archiver: &str) -> Env {
    let mut env = pg_env(pg, db, id);
    env.setup.storage_yaml.push_str(postgresql);
    let archiver = archiver_yaml(&env, archiver);
    env.setup.storage_yaml.push_str(&archiver);
    env.setup
        .extra
        .push_str("enrichment:\n  reverse_dns: false\n");
    env.write_config();
    env
}

fn run(env: &Env, args: &[&str]) -> Output {
    env.mutt(args).output().expect("run mutt")
}

fn ok(env: &Env, args: &[&str]) -> String {
    let out = run(env, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mutt {args:?}: {text}");
    assert!(!text.contains(PG_PASSWORD), "the password in {text}");
    text
}

fn now_plus_a_second() -> String {
    mutt::timefmt::iso8601_us(mutt::timefmt::now_us() + 1_000_000)
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).expect(sql).get(0)
}

/// The archive files in `dir` (no manifests, no temporary files), by name.
fn archive_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.to_string_lossy().ends_with(".jsonl"));
    files.sort();
    files
}

fn lines_of(path: &Path) -> Vec<Map<String, Value>> {
    std::fs::read_to_string(path)
        .expect("read archive")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}

/// The ids in the files the `archives` table names, over all the directories given; and the
/// archive files no row names.
fn archived_ids(client: &mut postgres::Client, dirs: &[PathBuf]) -> (Vec<String>, Vec<String>) {
    let recorded: Vec<String> = client
        .query("SELECT filename FROM archives", &[])
        .expect("archives")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut ids = Vec::new();
    let mut unrecorded = Vec::new();
    for dir in dirs {
        for file in archive_files(dir) {
            let name = file
                .file_name()
                .expect("name")
                .to_string_lossy()
                .to_string();
            if !recorded.contains(&name) {
                unrecorded.push(name);
                continue;
            }
            for line in lines_of(&file) {
                ids.push(line["id"].as_str().expect("id").to_string());
            }
        }
    }
    (ids, unrecorded)
}

/// `n` syslog messages straight into PostgreSQL, one a millisecond from `from_us`, with ids
/// that sort as they arrive (UUIDv7-shaped: the millisecond, then the index after `first`).
fn seed(client: &mut postgres::Client, from_us: i64, first: i64, n: i64) {
    client
        .execute(
            "INSERT INTO messages (id, type, source_ip, timestamp, received_at, raw_message,
                 syslog_program, collector_id)
             SELECT lpad(to_hex(ms >> 16), 8, '0') || '-' || lpad(to_hex(ms & 65535), 4, '0')
                        || '-7000-8000-' || lpad(($2::bigint + i)::text, 12, '0'),
                    'syslog', '127.0.0.1', t, t, '<13>message ' || ($2::bigint + i), 'app', 'seed'
             FROM generate_series(0::bigint, $3::bigint - 1) AS i,
                  LATERAL (SELECT $1::bigint / 1000 + i AS ms) AS m,
                  LATERAL (SELECT timestamptz 'epoch' + ms * interval '1 millisecond' AS t) AS tt",
            &[&from_us, &first, &n],
        )
        .expect("seed messages");
}

fn seeded_ids(client: &mut postgres::Client) -> Vec<String> {
    client
        .query("SELECT id FROM messages ORDER BY id", &[])
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `LINES` numbered syslog lines and one SNMP trap through a daemon into `env`'s database;
/// `stored` says how many messages it holds.
fn traffic(env: &Env, stored: impl Fn() -> i64) {
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("pg-archive", LINES));
    env.send_udp(env.snmp_port, &[SNMP_MARKER.to_vec()]);
    let until = Instant::now() + Duration::from_secs(30);
    while stored() < LINES as i64 + 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stored(), LINES as i64 + 1, "{}", daemon.stderr());
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "mutt run: {stderr}");
}

/// The line of `lines` whose raw_message ends with `tail`.
fn line_ending<'a>(lines: &'a [Map<String, Value>], tail: &str) -> &'a Map<String, Value> {
    lines
        .iter()
        .find(|l| l["raw_message"].as_str().is_some_and(|m| m.ends_with(tail)))
        .expect("the line")
}

#[test]
#[ignore = "needs postgresql"]
fn archive_on_postgresql_writes_the_lines_sqlite_writes_and_verify_and_import_take_them_back() {
    let pg = PgServer::start();
    let mut client = pg.create_db("mutt");
    let env = collector(&pg, "mutt", "arch-1", "", "    enabled: false\n");
    let stored = || {
        let mut c = pg.try_connect("mutt").expect("connect");
        count(&mut c, "SELECT count(*) FROM messages")
    };
    traffic(&env, stored);

    // The same input into SQLite.
    let lite = Env::new(Setup {
        extra: "enrichment:\n  reverse_dns: false\n".into(),
        ..Setup::default()
    });
    let mut setup = lite.setup.clone();
    setup.storage_yaml = archiver_yaml(&lite, "    enabled: false\n");
    let lite = Env { setup, ..lite };
    lite.write_config();
    traffic(&lite, || {
        lite.count_when_ready("SELECT COUNT(*) FROM messages")
            .unwrap_or(0)
    });

    let cutoff = now_plus_a_second();
    let dry = ok(&env, &["archive", "--before", &cutoff, "--dry-run"]);
    assert!(dry.contains(&format!("syslog: {LINES} messages")), "{dry}");
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM messages"),
        LINES as i64 + 1
    );
    ok(&env, &["archive", "--before", &cutoff]);
    ok(&lite, &["archive", "--before", &cutoff]);
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM messages"),
        0,
        "archived rows are deleted"
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM archives WHERE deleted_at IS NOT NULL"
        ),
        2,
        "one finished archive per type"
    );

    let pg_files = archive_files(&env.path("archives"));
    let lite_files = archive_files(&lite.path("archives"));
    assert_eq!(pg_files.len(), 2, "{pg_files:?}");
    assert_eq!(lite_files.len(), 2, "{lite_files:?}");
    for (p, l) in pg_files.iter().zip(&lite_files) {
        let (p, l) = (lines_of(p), lines_of(l));
        assert_eq!(p.len(), l.len());
        let (p, l) = if p.len() == 1 {
            (&p[0], &l[0])
        } else {
            (
                line_ending(&p, "message 000007"),
                line_ending(&l, "message 000007"),
            )
        };
        let mut pg_keys: BTreeSet<&String> = p.keys().collect();
        assert!(
            pg_keys.remove(&"collector_id".to_string()),
            "PostgreSQL says which collector"
        );
        assert_eq!(pg_keys, l.keys().collect::<BTreeSet<_>>(), "the same keys");
        assert_eq!(p["collector_id"], "arch-1");
        for (key, lv) in l {
            let pv = &p[key];
            match key.as_str() {
                // Of this run, not of the input.
                "id" | "received_at" | "timestamp" | "created_at" | "source_port" | "wal_seq" => {
                    assert_eq!(
                        std::mem::discriminant(pv),
                        std::mem::discriminant(lv),
                        "{key}: {pv} / {lv}"
                    );
                    if let (Some(pt), Some(lt)) = (pv.as_str(), lv.as_str()) {
                        if key != "created_at" {
                            assert_eq!(pt.len(), lt.len(), "{key}: {pt} / {lt}");
                        }
                    }
                }
                // jsonb: the same JSON value in PostgreSQL's own spacing.
                "structured_data" | "varbinds" | "validation_errors" if !lv.is_null() => {
                    let parse = |v: &Value| -> Value {
                        serde_json::from_str(v.as_str().expect("JSON text")).expect("JSON")
                    };
                    assert_eq!(parse(pv), parse(lv), "{key}");
                }
                _ => assert_eq!(pv, lv, "{key}"),
            }
        }
    }

    let names: Vec<String> = pg_files.iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["archive", "verify"];
    args.extend(names.iter().map(String::as_str));
    let verified = ok(&env, &args);
    assert_eq!(verified.matches(": ok, ").count(), 2, "{verified}");
    assert!(!verified.contains("no archives row"), "{verified}");
    let listed = ok(&env, &["archive", "list"]);
    assert_eq!(listed.matches("\tok\n").count(), 2, "{listed}");

    let mut args = vec!["archive", "import"];
    args.extend(names.iter().map(String::as_str));
    let first = ok(&env, &args);
    assert!(
        first.contains(&format!("imported {} messages", LINES + 1)),
        "{first}"
    );
    let second = ok(&env, &args);
    assert!(
        second.contains(&format!(
            "imported 0 messages from 2 files; {} already stored",
            LINES + 1
        )),
        "{second}"
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM messages"),
        LINES as i64 + 1
    );
    assert_eq!(
        count(&mut client, "SELECT count(DISTINCT id) FROM messages"),
        LINES as i64 + 1
    );

    let vacuum = run(&env, &["archive", "vacuum"]);
    assert!(!vacuum.status.success());
    assert!(
        String::from_utf8_lossy(&vacuum.stderr).contains("autovacuum"),
        "{}",
        String::from_utf8_lossy(&vacuum.stderr)
    );
}

#[test]
#[ignore = "needs postgresql"]
fn kill_9_of_archive_on_postgresql_and_a_rerun_leave_every_message_exactly_once() {
    const N: i64 = 60_000;
    const ROUNDS: i64 = 6;
    let pg = PgServer::start();
    let mut client = pg.create_db("mutt");
    let env = collector(&pg, "mutt", "arch-1", "", "    enabled: false\n");
    ok(&env, &["migrate"]);
    let base = mutt::timefmt::parse_rfc3339_us("2026-01-01T00:00:00Z").expect("time");
    seed(&mut client, base, 0, N);
    let all = seeded_ids(&mut client);
    assert_eq!(all.len() as i64, N);
    let cutoff =
        |round: i64| mutt::timefmt::iso8601_us(base + (round + 1) * N / (ROUNDS + 1) * 1_000);
    let dirs = [env.path("archives")];

    let started = Instant::now();
    ok(&env, &["archive", "--before", &cutoff(0)]);
    let share = started.elapsed();
    for round in 1..=ROUNDS {
        let mut child = env
            .mutt(&["archive", "--before", &cutoff(round)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mutt archive");
        std::thread::sleep(
            share.mul_f64(0.2 + 1.6 * ((round * 5) % ROUNDS) as f64 / ROUNDS as f64),
        );
        let _ = child.kill();
        let _ = child.wait();
        let (ids, _) = archived_ids(&mut client, &dirs);
        let distinct: BTreeSet<&String> = ids.iter().collect();
        let left = count(&mut client, "SELECT count(*) FROM messages");
        assert!(
            distinct.len() as i64 + left >= N,
            "round {round}: {} archived + {left} stored < {N}",
            distinct.len()
        );
    }
    let done = ok(&env, &["archive", "--before", &now_plus_a_second()]);
    let (mut ids, unrecorded) = archived_ids(&mut client, &dirs);
    assert!(
        unrecorded.is_empty(),
        "files no archives row names: {unrecorded:?}\n{done}"
    );
    assert_eq!(count(&mut client, "SELECT count(*) FROM messages"), 0);
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM archives WHERE deleted_at IS NULL"
        ),
        0
    );
    ids.sort();
    assert_eq!(
        ids.len() as i64,
        N,
        "every message in exactly one recorded archive"
    );
    assert_eq!(ids, all);
}

/// The partitions of messages, by name.
fn partitions(client: &mut postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'messages'::regclass ORDER BY 1",
            &[],
        )
        .expect("partitions")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn day_name(us: i64) -> String {
    format!(
        "messages_d{}",
        mutt::timefmt::iso8601_us(us)[..10].replace('-', "")
    )
}

#[test]
#[ignore = "needs postgresql"]
fn a_daily_partitioned_database_loses_its_archived_days_as_whole_partitions_while_storing() {
    const PER_DAY: i64 = 500;
    let pg = PgServer::start();
    let mut client = pg.create_db("mutt");
    let env = collector(
        &pg,
        "mutt",
        "arch-1",
        "    partition: daily\n",
        "    enabled: true\n    time_threshold_days: 1\n    check_interval_minutes: 1\n",
    );
    let migrated = ok(&env, &["migrate"]);
    assert!(
        migrated.contains("messages partitioned by received_at (daily)"),
        "{migrated}"
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'messages'::regclass"
        ),
        1
    );
    let now = mutt::timefmt::now_us();
    let today = now.div_euclid(DAY_US) * DAY_US;
    assert!(
        partitions(&mut client).contains(&day_name(today)),
        "today's is made ahead"
    );
    assert!(partitions(&mut client).contains(&day_name(today + 2 * DAY_US)));
    assert!(partitions(&mut client).contains(&"messages_default".to_string()));
    assert_eq!(
        ok(&env, &["migrate"]).matches("partitions created").count(),
        0
    );
    // The same indexes and views as an unpartitioned table's, on the partitioned one.
    let indexes: Vec<String> = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'messages' ORDER BY 1",
            &[],
        )
        .expect("indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for index in [
        "idx_matched_rule_id",
        "idx_severity",
        "idx_source_ip",
        "idx_timestamp",
        "messages_pkey",
    ] {
        assert!(indexes.iter().any(|i| i == index), "{index} in {indexes:?}");
    }
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM syslog_messages"),
        0
    );
    assert_eq!(count(&mut client, "SELECT count(*) FROM snmp_messages"), 0);

    // Days 5 to 2 before today, as a database running for days would hold them: a partition a
    // day, made as the archiver makes them, and messages at noon; and day 6's messages with no
    // partition (in the default one).
    let mut old = Vec::new();
    for back in 2..=5 {
        let day = today - back * DAY_US;
        client
            .batch_execute(&format!(
                "CREATE TABLE {} PARTITION OF messages FOR VALUES FROM ('{}') TO ('{}')",
                day_name(day),
                mutt::timefmt::iso8601_us(day),
                mutt::timefmt::iso8601_us(day + DAY_US)
            ))
            .expect("an old day's partition");
        seed(&mut client, day + DAY_US / 2, back * PER_DAY, PER_DAY);
        old.push(day_name(day));
    }
    seed(
        &mut client,
        today - 6 * DAY_US + DAY_US / 2,
        6 * PER_DAY,
        10,
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM messages_default"),
        10
    );
    let seeded = seeded_ids(&mut client);
    assert_eq!(seeded.len() as i64, 4 * PER_DAY + 10);

    // The collector stores while its archiver works, and after.
    let daemon = env.start();
    let sender = {
        let (port, lines) = (env.syslog_port, numbered_lines("during", 2_000));
        std::thread::spawn(move || {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            for chunk in lines.chunks(50) {
                for l in chunk {
                    s.send_to(l, ("127.0.0.1", port)).expect("send");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let until = Instant::now() + Duration::from_secs(60);
    while partitions(&mut client).iter().any(|p| old.contains(p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    sender.join().expect("sender");
    let left: Vec<String> = partitions(&mut client);
    for name in &old {
        assert!(
            !left.contains(name),
            "{name} dropped; left: {left:?}\n{}",
            daemon.stderr()
        );
    }
    assert!(left.contains(&day_name(today)), "today's kept: {left:?}");
    assert!(left.contains(&"messages_default".to_string()));
    // The default partition's messages are deleted by id after the drop.
    let old_left = wait_pg(
        &mut client,
        "SELECT count(*) FROM messages WHERE collector_id = 'seed'",
        Duration::from_secs(30),
        |n| n == 0,
    );
    assert_eq!(old_left, 0, "every old message archived and gone");
    let stored = wait_pg(
        &mut client,
        "SELECT count(*) FROM messages",
        Duration::from_secs(30),
        |n| n >= 2_000,
    );
    assert_eq!(stored, 2_000, "today's messages untouched");
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM syslog_messages"),
        2_000,
        "the views read the partitioned table"
    );
    let (mut ids, unrecorded) = archived_ids(&mut client, &[env.path("archives")]);
    assert!(unrecorded.is_empty(), "{unrecorded:?}");
    ids.sort();
    assert_eq!(ids, seeded, "each old message in exactly one archive file");
    let finished = wait_pg(
        &mut client,
        "SELECT count(*) FROM archives WHERE deleted_at IS NULL",
        Duration::from_secs(30),
        |n| n == 0,
    );
    assert_eq!(finished, 0);

    env.send_udp(env.syslog_port, &numbered_lines("after", 100));
    let after = wait_pg(
        &mut client,
        "SELECT count(*) FROM messages",
        Duration::from_secs(30),
        |n| n >= 2_100,
    );
    assert_eq!(after, 2_100, "still storing: {}", daemon.stderr());
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
#[ignore = "needs postgresql"]
fn two_archivers_at_once_on_one_postgresql_never_export_a_message_twice() {
    const N: i64 = 60_000;
    let pg = PgServer::start();
    let mut client = pg.create_db("mutt");
    let a = collector(&pg, "mutt", "arch-a", "", "    enabled: false\n");
    let b = collector(&pg, "mutt", "arch-b", "", "    enabled: false\n");
    ok(&a, &["migrate"]);
    let base = mutt::timefmt::parse_rfc3339_us("2026-01-01T00:00:00Z").expect("time");
    seed(&mut client, base, 0, N);
    let all = seeded_ids(&mut client);
    let cutoff = now_plus_a_second();
    let spawn = |env: &Env| {
        env.mutt(&["archive", "--before", &cutoff])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mutt archive")
    };
    let (first, second) = (spawn(&a), spawn(&b));
    let outs = [
        first.wait_with_output().expect("a"),
        second.wait_with_output().expect("b"),
    ];
    let mut succeeded = 0;
    for out in &outs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            succeeded += 1;
        } else {
            assert!(stderr.contains("another `mutt archive`"), "{stderr}");
        }
    }
    assert!(succeeded >= 1);
    // Whichever waited, runs again: nothing is left for it.
    let again = ok(&b, &["archive", "--before", &cutoff]);
    let again_a = ok(&a, &["archive", "--before", &cutoff]);
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM messages"),
        0,
        "{again}{again_a}"
    );
    let (mut ids, unrecorded) =
        archived_ids(&mut client, &[a.path("archives"), b.path("archives")]);
    assert!(unrecorded.is_empty(), "{unrecorded:?}");
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(total, ids.len(), "a message exported twice");
    assert_eq!(ids, all);
    let by_dir: BTreeMap<&str, usize> = [
        ("a", archive_files(&a.path("archives")).len()),
        ("b", archive_files(&b.path("archives")).len()),
    ]
    .into_iter()
    .collect();
    eprintln!("archive files per collector: {by_dir:?}; runs that succeeded at once: {succeeded}");
}

#[test]
#[ignore = "needs postgresql"]
fn a_weekly_partitioned_database_drops_archived_weeks_and_keeps_one_holding_a_message_not_archived()
{
    let pg = PgServer::start();
    let mut client = pg.create_db("mutt");

    // A database that already holds messages is not partitioned, and migrate says so.
    let mut full = pg.create_db("filled");
    let plain = collector(&pg, "filled", "arch-1", "", "    enabled: false\n");
    ok(&plain, &["migrate"]);
    seed(&mut full, mutt::timefmt::now_us(), 0, 3);
    let weekly = collector(
        &pg,
        "filled",
        "arch-1",
        "    partition: weekly\n",
        "    enabled: false\n",
    );
    let said = ok(&weekly, &["migrate"]);
    assert!(
        said.contains("already holds rows and is not partitioned: left as it is"),
        "{said}"
    );
    assert_eq!(
        count(&mut full, "SELECT count(*) FROM pg_partitioned_table"),
        0
    );
    assert_eq!(count(&mut full, "SELECT count(*) FROM messages"), 3);

    let env = collector(
        &pg,
        "mutt",
        "arch-1",
        "    partition: weekly\n",
        "    enabled: false\n",
    );
    let said = ok(&env, &["migrate"]);
    assert!(
        said.contains("messages partitioned by received_at (weekly)"),
        "{said}"
    );
    let now = mutt::timefmt::now_us();
    let week = |back: i64| {
        mutt::archive::partitions::Part::of(
            mutt::config::Partition::Weekly,
            now - back * 7 * DAY_US,
        )
        .expect("a week")
    };
    for (back, first) in [(2, 0), (3, 1_000)] {
        let w = week(back);
        client
            .batch_execute(&format!(
                "CREATE TABLE {} PARTITION OF messages FOR VALUES FROM ('{}') TO ('{}')",
                w.name,
                mutt::timefmt::iso8601_us(w.from_us),
                mutt::timefmt::iso8601_us(w.to_us)
            ))
            .expect("an old week's partition");
        seed(&mut client, w.from_us + DAY_US, first, 100);
    }
    let seeded = seeded_ids(&mut client);
    let out = ok(&env, &["archive", "--older-than", "7d"]);
    for back in [2, 3] {
        let name = week(back).name;
        assert!(
            out.contains(&format!("dropped the partition {name} (100 messages")),
            "{out}"
        );
        assert!(!partitions(&mut client).contains(&name));
    }
    assert_eq!(count(&mut client, "SELECT count(*) FROM messages"), 0);
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM archives WHERE deleted_at IS NULL"
        ),
        0
    );
    let (mut ids, _) = archived_ids(&mut client, &[env.path("archives")]);
    ids.sort();
    assert_eq!(ids, seeded);

    // A partition that holds a message the files do not (stored after the export read its
    // period) is kept, with its messages.
    let w = week(4);
    client
        .batch_execute(&format!(
            "CREATE TABLE {} PARTITION OF messages FOR VALUES FROM ('{}') TO ('{}')",
            w.name,
            mutt::timefmt::iso8601_us(w.from_us),
            mutt::timefmt::iso8601_us(w.to_us)
        ))
        .expect("partition");
    seed(&mut client, w.from_us + DAY_US, 5_000, 5);
    let mut conn = mutt_query::Conn::postgres(pg.try_connect("mutt").expect("connect"));
    let day = mutt::timefmt::iso8601_us(w.from_us + DAY_US)[..10].to_string();
    let four: BTreeMap<String, u64> = [(day.clone(), 4)].into_iter().collect();
    let kept = mutt::archive::partitions::drop_archived(&mut conn, std::slice::from_ref(&w), &four)
        .expect("drop");
    assert!(kept.dropped.is_empty());
    assert_eq!(kept.kept, [(w.name.clone(), 5, 4)]);
    assert!(partitions(&mut client).contains(&w.name));
    assert_eq!(count(&mut client, "SELECT count(*) FROM messages"), 5);
    let five: BTreeMap<String, u64> = [(day, 5)].into_iter().collect();
    let dropped =
        mutt::archive::partitions::drop_archived(&mut conn, std::slice::from_ref(&w), &five)
            .expect("drop");
    assert_eq!(dropped.dropped, [(w.name.clone(), 5)]);
    assert!(!partitions(&mut client).contains(&w.name));
}
