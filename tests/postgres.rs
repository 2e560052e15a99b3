//! `storage.backend: postgresql` against a real, private PostgreSQL that each test starts (Debian's
//! `postgresql` package; .ci/run installs it): every field as SQLite stores it, bytes that
//! PostgreSQL text cannot hold, two collectors killed with -9 into one database, an outage of the
//! database (also for 30 s under 50,000 msg/s), webhook alerts queued and sent from PostgreSQL,
//! and a refused password at start.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pg::*;
use common::*;

/// One datagram as a real client sends it: `run` gets the port of a socket here, and the first
/// datagram that arrives on it is returned.
fn capture_udp(run: impl FnOnce(u16)) -> Vec<u8> {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let port = s.local_addr().expect("addr").port();
    run(port);
    let mut buf = vec![0u8; 65_536];
    let n = s.recv(&mut buf).expect("a datagram from the client");
    buf.truncate(n);
    buf
}

/// What a TCP client writes on one connection until it closes.
fn capture_tcp(run: impl FnOnce(u16)) -> Vec<u8> {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut c, _) = l.accept().expect("accept");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut bytes = Vec::new();
        c.read_to_end(&mut bytes).expect("read");
        bytes
    });
    run(port);
    handle.join().expect("capture thread")
}

fn logger(args: &[&str], port: u16, tag: &str, text: &str) {
    let status = Command::new("logger")
        .args(["-n", "127.0.0.1", "-P", &port.to_string()])
        .args(args)
        .args(["-t", tag, text])
        .status()
        .expect("run logger");
    assert!(status.success(), "logger failed");
}

/// The columns compared between the two backends: (name, SQLite expression, PostgreSQL
/// expression), both giving text or NULL. JSON columns are compared parsed (jsonb orders keys).
const COMPARED: &[(&str, &str, &str)] = &[
    ("type", "type", "type"),
    ("source_ip", "source_ip", "source_ip"),
    ("source_device", "source_device", "source_device"),
    ("raw_message", "raw_message", "raw_message"),
    (
        "validated",
        "CAST(validated AS TEXT)",
        "(validated::int)::text",
    ),
    ("matched_rule_id", "matched_rule_id", "matched_rule_id"),
    (
        "matched_rule_name",
        "matched_rule_name",
        "matched_rule_name",
    ),
    ("match_severity", "match_severity", "match_severity"),
    (
        "stored_to_db",
        "CAST(stored_to_db AS TEXT)",
        "(stored_to_db::int)::text",
    ),
    ("transport", "transport", "transport"),
    (
        "truncated",
        "CAST(truncated AS TEXT)",
        "(truncated::int)::text",
    ),
    (
        "raw_bytes",
        "CASE WHEN raw_bytes IS NOT NULL THEN lower(hex(raw_bytes)) END",
        "encode(raw_bytes, 'hex')",
    ),
    ("syslog_facility", "syslog_facility", "syslog_facility"),
    (
        "syslog_level",
        "CAST(syslog_level AS TEXT)",
        "syslog_level::text",
    ),
    ("syslog_program", "syslog_program", "syslog_program"),
    (
        "syslog_process_id",
        "CAST(syslog_process_id AS TEXT)",
        "syslog_process_id::text",
    ),
    ("syslog_tag", "syslog_tag", "syslog_tag"),
    ("syslog_hostname", "syslog_hostname", "syslog_hostname"),
    ("syslog_msgid", "syslog_msgid", "syslog_msgid"),
    ("syslog_format", "syslog_format", "syslog_format"),
    ("snmp_oid", "snmp_oid", "snmp_oid"),
    ("snmp_trap_type", "snmp_trap_type", "snmp_trap_type"),
    ("snmp_version", "snmp_version", "snmp_version"),
    (
        "snmp_community_string",
        "snmp_community_string",
        "snmp_community_string",
    ),
    (
        "snmp_security_name",
        "snmp_security_name",
        "snmp_security_name",
    ),
    ("snmp_engine_id", "snmp_engine_id", "snmp_engine_id"),
    (
        "snmp_security_level",
        "snmp_security_level",
        "snmp_security_level",
    ),
    ("snmp_pdu_type", "snmp_pdu_type", "snmp_pdu_type"),
    (
        "snmp_request_id",
        "CAST(snmp_request_id AS TEXT)",
        "snmp_request_id::text",
    ),
    ("snmp_agent_addr", "snmp_agent_addr", "snmp_agent_addr"),
    (
        "snmp_uptime",
        "CAST(snmp_uptime AS TEXT)",
        "snmp_uptime::text",
    ),
];

const JSON_COMPARED: &[&str] = &[
    "validation_errors",
    "syslog_structured_data",
    "snmp_varbinds",
];

type Stored = Vec<(Vec<Option<String>>, Vec<Option<serde_json::Value>>)>;

fn parse_json(text: Option<String>) -> Option<serde_json::Value> {
    text.map(|t| serde_json::from_str(&t).expect("stored JSON parses"))
}

fn sqlite_rows(env: &Env) -> Stored {
    let columns: Vec<&str> = COMPARED.iter().map(|c| c.1).collect();
    let sql = format!(
        "SELECT {}, {} FROM messages ORDER BY type, raw_message",
        columns.join(", "),
        JSON_COMPARED.join(", ")
    );
    let db = env.db();
    let mut stmt = db.prepare(&sql).expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            let plain = (0..COMPARED.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()?;
            let json = (0..JSON_COMPARED.len())
                .map(|i| {
                    r.get::<_, Option<String>>(COMPARED.len() + i)
                        .map(parse_json)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((plain, json))
        })
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

fn pg_rows(client: &mut postgres::Client) -> Stored {
    let columns: Vec<&str> = COMPARED.iter().map(|c| c.2).collect();
    let json: Vec<String> = JSON_COMPARED.iter().map(|c| format!("{c}::text")).collect();
    let sql = format!(
        "SELECT {}, {} FROM messages ORDER BY type, raw_message",
        columns.join(", "),
        json.join(", ")
    );
    client
        .query(&sql, &[])
        .expect("query")
        .iter()
        .map(|r| {
            let plain = (0..COMPARED.len()).map(|i| r.get(i)).collect();
            let json = (0..JSON_COMPARED.len())
                .map(|i| parse_json(r.get(COMPARED.len() + i)))
                .collect();
            (plain, json)
        })
        .collect()
}

#[test]
#[ignore = "needs postgresql, logger and snmptrap"]
fn logger_and_snmptrap_traffic_is_stored_with_every_field_as_sqlite_stores_it() {
    need_tool("logger");
    need_tool("snmptrap");
    let pg = PgServer::start();
    let mut client = pg.create_db("fields");
    // The same bytes to both daemons: captured once from the real clients.
    let udp = capture_udp(|p| logger(&["-d"], p, "pgudp", "link down on Gi0/1 (udp)"));
    let tcp = capture_tcp(|p| logger(&["-T"], p, "pgtcp", "config changed by admin (tcp)"));
    let trap = capture_udp(|port| snmptrap_linkdown(port, "core-sw1 Gi0/2 \"down\""));
    let rfc5424 = b"<165>1 2026-11-27T10:00:00.123456+02:00 core-sw1 ifmgr 4711 LINK \
        [origin ip=\"192.0.2.1\"][meta seq=\"7\"] link flap on Gi0/3"
        .to_vec();

    // Reverse DNS of 127.0.0.1 may answer either of two names from one lookup to the next:
    // off, so source_device is the address (or the syslog HOSTNAME) on both.
    let no_dns = "enrichment:\n  reverse_dns: false\n";
    let sqlite = Env::new(Setup {
        extra: no_dns.into(),
        ..Setup::default()
    });
    let postgres = pg_env(&pg, "fields", "fields-1");
    let mut setup = postgres.setup.clone();
    setup.extra.push_str(no_dns);
    let postgres = Env { setup, ..postgres };
    postgres.write_config();
    for env in [&sqlite, &postgres] {
        let daemon = env.start();
        env.send_udp(env.syslog_port, &[udp.clone(), rfc5424.clone()]);
        env.send_tcp(&tcp);
        env.send_udp(env.snmp_port, std::slice::from_ref(&trap));
        daemon.wait_metric("mutt_stored_total", Duration::from_secs(30), |n| n >= 4);
        let (status, stderr) = daemon.terminate();
        assert!(status.success(), "{stderr}");
    }
    let a = sqlite_rows(&sqlite);
    let b = pg_rows(&mut client);
    assert_eq!(a.len(), 4, "four messages in SQLite");
    assert_eq!(b.len(), 4, "four messages in PostgreSQL");
    for (x, y) in a.iter().zip(&b) {
        for (i, (name, _, _)) in COMPARED.iter().enumerate() {
            assert_eq!(x.0[i], y.0[i], "column {name}");
        }
        for (i, name) in JSON_COMPARED.iter().enumerate() {
            assert_eq!(x.1[i], y.1[i], "column {name}");
        }
    }
    // The views read as in SQLite, and the times are the same instants.
    let trap_type: String = client
        .query_one("SELECT trap_type FROM snmp_messages", &[])
        .expect("snmp view")
        .get(0);
    assert!(!trap_type.is_empty());
    let stamp: String = client
        .query_one(
            "SELECT to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
             FROM messages WHERE raw_message LIKE '%link flap%'",
            &[],
        )
        .expect("timestamp")
        .get(0);
    assert_eq!(stamp, "2026-11-27T08:00:00.123456Z");
    let sqlite_stamp: String = sqlite
        .db()
        .query_row(
            "SELECT timestamp FROM messages WHERE raw_message LIKE '%link flap%'",
            [],
            |r| r.get(0),
        )
        .expect("sqlite timestamp");
    assert_eq!(stamp, sqlite_stamp);
    let devices = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM devices",
        Duration::ZERO,
        |_| true,
    );
    assert_eq!(devices, 1, "one device (127.0.0.1)");
    let checkpoint = wait_pg(
        &mut client,
        "SELECT wal_seq FROM mutt_checkpoint WHERE collector_id = 'fields-1'",
        Duration::ZERO,
        |_| true,
    );
    assert!(
        checkpoint >= 4,
        "the collector's checkpoint row: {checkpoint}"
    );
}

#[test]
#[ignore = "needs postgresql"]
fn a_syslog_line_with_a_nul_byte_and_invalid_utf8_round_trips_byte_exact() {
    let pg = PgServer::start();
    let mut client = pg.create_db("bytes");
    let env = pg_env(&pg, "bytes", "bytes-1");
    let daemon = env.start();
    let nul = b"<13>Nov 27 10:00:00 host1 app: before\0after nul".to_vec();
    let latin1 = b"<13>Nov 27 10:00:00 host1 app: caf\xe9 \xff\xfe latin-1".to_vec();
    // A NUL inside structured data: jsonb refuses the escape \u0000 as text refuses NUL.
    let sd = b"<13>1 2026-11-27T10:00:00Z host1 app - - [x@1 k=\"a\0b\"] sd nul".to_vec();
    env.send_udp(env.syslog_port, &[nul.clone(), latin1.clone(), sd.clone()]);
    wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(30),
        |n| n >= 3,
    );
    let rows = client
        .query(
            "SELECT raw_bytes, raw_message, error_message, syslog_structured_data::text
             FROM messages ORDER BY wal_seq",
            &[],
        )
        .expect("query");
    let stored: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| r.get::<_, Option<Vec<u8>>>(0).expect("raw_bytes kept"))
        .collect();
    assert_eq!(stored, vec![nul, latin1, sd]);
    let text: String = rows[0].get(1);
    assert!(text.contains("before\u{FFFD}after nul"), "{text:?}");
    // Stored as a decoded message, not quarantined raw.
    for r in &rows {
        assert_eq!(r.get::<_, Option<String>>(2), None, "error_message");
    }
    let sd_json: String = rows[2]
        .get::<_, Option<String>>(3)
        .expect("structured data");
    assert!(sd_json.contains("a\u{FFFD}b"), "{sd_json}");
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

/// Wait until ingest has put `n` syslog datagrams in the WAL (a kill -9 no longer loses them).
fn wait_accepted(daemon: &Daemon, n: u64) {
    let accepted = daemon.wait_metric(
        "mutt_accepted_syslog_udp_total",
        Duration::from_secs(30),
        |a| a >= n,
    );
    assert_eq!(accepted, n, "datagrams accepted into the WAL");
}

#[test]
#[ignore = "needs postgresql"]
fn two_collectors_killed_mid_burst_store_every_message_exactly_once() {
    let pg = PgServer::start();
    let mut client = pg.create_db("shared");
    let envs = [pg_env(&pg, "shared", "dc1"), pg_env(&pg, "shared", "dc2")];
    let n = 10_000;
    // Both at once: each gets a burst, each is killed with -9 as soon as its WAL holds it.
    let killed: Vec<_> = envs
        .iter()
        .enumerate()
        .map(|(i, env)| {
            let daemon = env.start();
            let lines = numbered_lines(&format!("c{i}"), n);
            (env, daemon, lines)
        })
        .collect();
    std::thread::scope(|s| {
        for (env, daemon, lines) in killed {
            s.spawn(move || {
                env.send_udp(env.syslog_port, &lines);
                wait_accepted(&daemon, n as u64);
                daemon.kill9();
            });
        }
    });
    let at_kill = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::ZERO,
        |_| true,
    );
    eprintln!("{at_kill} of {} stored at the kills", 2 * n);
    let daemons: Vec<Daemon> = envs.iter().map(|e| e.start()).collect();
    let total = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(120),
        |c| c >= 2 * n as i64,
    );
    for d in daemons {
        let (status, stderr) = d.terminate();
        assert!(status.success(), "{stderr}");
    }
    assert_eq!(total, 2 * n as i64, "every message stored");
    let distinct = wait_pg(
        &mut client,
        "SELECT COUNT(DISTINCT raw_message) FROM messages",
        Duration::ZERO,
        |_| true,
    );
    assert_eq!(distinct, 2 * n as i64, "no message stored twice");
    for (i, id) in ["dc1", "dc2"].iter().enumerate() {
        let mine = client
            .query_one(
                "SELECT COUNT(*), MAX(wal_seq) FROM messages WHERE collector_id = $1
                 AND raw_message LIKE $2",
                &[id, &format!("%c{i} message%")],
            )
            .expect("per collector");
        assert_eq!(mine.get::<_, i64>(0), n as i64, "{id}'s messages");
        let checkpoint: i64 = client
            .query_one(
                "SELECT wal_seq FROM mutt_checkpoint WHERE collector_id = $1",
                &[id],
            )
            .expect("checkpoint row")
            .get(0);
        assert!(
            checkpoint >= mine.get::<_, i64>(1),
            "{id}'s checkpoint covers its rows"
        );
    }
}

#[test]
#[ignore = "needs postgresql"]
fn postgresql_stopped_during_a_stream_loses_nothing_and_the_collector_catches_up() {
    let pg = PgServer::start();
    let mut pg = pg;
    let mut client = pg.create_db("outage");
    let env = pg_env(&pg, "outage", "outage-1");
    // /health reports the outage after two seconds without progress.
    let mut setup = env.setup.clone();
    setup.metrics_yaml = "  stall_after_seconds: 2\n".into();
    let env = Env { setup, ..env };
    env.write_config();
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("before", 2000));
    wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(30),
        |n| n >= 2000,
    );
    drop(client);
    pg.stop();
    env.send_udp(env.syslog_port, &numbered_lines("during", 3000));
    wait_accepted(&daemon, 5000);
    daemon.wait_metric("mutt_store_retries_total", Duration::from_secs(30), |n| {
        n >= 1
    });
    let body = daemon.wait_health(503, Duration::from_secs(30));
    assert!(body.contains("storage_stalled"), "{body}");
    pg.run();
    let mut client = pg.try_connect("outage").expect("reconnect");
    let stored = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(60),
        |n| n >= 5000,
    );
    assert_eq!(
        stored, 5000,
        "every message stored once the database is back"
    );
    let distinct = wait_pg(
        &mut client,
        "SELECT COUNT(DISTINCT raw_message) FROM messages",
        Duration::ZERO,
        |_| true,
    );
    assert_eq!(distinct, 5000, "none twice");
    daemon.wait_health(200, Duration::from_secs(30));
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

/// The issue's figure: PostgreSQL stopped for 30 s while the collector is offered 50,000 syslog
/// lines a second (the project's paced generator, `mutt::loadgen`) for 45 s, then started again:
/// every line sent is stored exactly once, nothing is counted lost, and /health said 503 while
/// the database was down. The load takes 45 s; the catch-up after it is bound by the writer's
/// speed, which in a debug build on two cores is 20,000-35,000 rows/s into PostgreSQL as the
/// box's other load allows (a release build writes several times that), so the test takes
/// 90-150 s.
#[test]
#[ignore = "needs postgresql; long: 90-150 s in a debug build"]
fn long_postgresql_stopped_for_30_s_under_50000_msgs_per_s_loses_nothing() {
    const RATE: u64 = 50_000;
    const SECONDS: u64 = 45;
    let mut pg = PgServer::start();
    let client = pg.create_db("load");
    let env = pg_env(&pg, "load", "load-1");
    let mut setup = env.setup.clone();
    setup.metrics_yaml = "  stall_after_seconds: 2\n".into();
    setup.batch_write_size = 1000;
    setup.extra.push_str("enrichment:\n  reverse_dns: false\n");
    let env = Env { setup, ..env };
    env.write_config();
    // The WAL holds the outage: 30 s at 50,000 lines/s of ~130 bytes is about 200 MB.
    env.config_replace("max_size_mb: 64", "max_size_mb: 2048");
    env.config_replace("segment_size_mb: 1", "segment_size_mb: 32");
    let daemon = env.start();
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], env.syslog_port));
    let kernel_drops_before = mutt::metrics::udp_rcvbuf_errors();
    let run = std::process::id();
    let sender = std::thread::spawn(move || {
        mutt::loadgen::send_syslog_udp(target, RATE, RATE * SECONDS, run, 20).expect("send")
    });
    // Five seconds in, the database goes away.
    daemon.wait_metric(
        "mutt_accepted_syslog_udp_total",
        Duration::from_secs(30),
        |n| n >= 5 * RATE,
    );
    drop(client);
    pg.stop();
    let down = std::time::Instant::now();
    let body = daemon.wait_health(503, Duration::from_secs(20));
    assert!(body.contains("storage_stalled"), "{body}");
    assert!(daemon.metric("mutt_store_retries_total") >= 1);
    // The outage lasts 30 s whatever the checks took; nothing is proven by this wait.
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down.elapsed()));
    pg.run();
    let report = sender.join().expect("the sender");
    let sent = report.sent;
    let kernel_drops = mutt::metrics::udp_rcvbuf_errors()
        .zip(kernel_drops_before)
        .map(|(a, b)| a.saturating_sub(b));
    eprintln!(
        "sent {sent} at {:.0}/s; kernel receive-buffer drops on this host: {kernel_drops:?}",
        report.rate()
    );
    assert!(
        sent >= RATE * SECONDS * 99 / 100,
        "the generator sent {sent}"
    );
    // The last datagrams may still be in the socket's buffer when the sender returns.
    let accepted = daemon.wait_metric(
        "mutt_accepted_syslog_udp_total",
        Duration::from_secs(30),
        |n| n >= sent,
    );
    assert_eq!(accepted, sent, "every line sent was accepted into the WAL");
    let stored = daemon.wait_metric("mutt_stored_total", Duration::from_secs(180), |n| n >= sent);
    assert_eq!(
        stored, sent,
        "the collector caught up within 3 minutes of the send"
    );
    for lost in [
        "mutt_dropped_wal_full_total",
        "mutt_dropped_disk_full_total",
        "mutt_wal_gap_records_total",
        "mutt_quarantined_total",
        "mutt_dead_lettered_total",
    ] {
        assert_eq!(daemon.metric(lost), 0, "{lost}");
    }
    let mut client = pg.try_connect("load").expect("reconnect");
    let row = client
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT raw_message) FROM messages
             WHERE raw_message LIKE $1",
            &[&format!("% r{run} n%")],
        )
        .expect("count");
    assert_eq!(row.get::<_, i64>(0), sent as i64, "every line stored");
    assert_eq!(row.get::<_, i64>(1), sent as i64, "none twice");
    daemon.wait_health(200, Duration::from_secs(30));
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
#[ignore = "needs postgresql and snmptrap"]
fn snmpv3_traps_with_a_wrong_password_are_counted_per_user_in_postgresql() {
    need_tool("snmptrap");
    let pg = PgServer::start();
    let mut client = pg.create_db("v3");
    let env = pg_env(&pg, "v3", "v3-1");
    let creds = env.path("snmpv3_credentials.yaml");
    std::fs::write(
        &creds,
        "snmpv3_credentials:\n  - username: u-sha\n    credentials:\n      - priority: 1\n        \
         auth_type: SHA\n        auth_password: auth-u-sha\n        priv_type: none\n        \
         active: true\n",
    )
    .expect("write credentials");
    let mut setup = env.setup.clone();
    setup.extra.push_str(&format!(
        "snmpv3:\n  credentials_file: {}\n",
        creds.display()
    ));
    let env = Env { setup, ..env };
    env.write_config();
    let daemon = env.start();
    let trap =
        |password: &str, engine: &str| env.snmptrap_v3("u-sha", "SHA", password, "none", engine);
    trap("a-wrong-password", "31");
    trap("a-wrong-password", "31");
    let failures = wait_pg(
        &mut client,
        "SELECT COALESCE(SUM(num_failures), 0)::bigint FROM snmpv3_auth_failures
         WHERE username = 'u-sha'",
        Duration::from_secs(20),
        |n| n >= 2,
    );
    assert_eq!(failures, 2, "both failures counted");
    assert_eq!(
        wait_pg(
            &mut client,
            "SELECT COUNT(*) FROM messages",
            Duration::ZERO,
            |_| true
        ),
        0,
        "an unauthenticated trap is no message"
    );
    // The authentic trap is stored and clears the user's row.
    trap("auth-u-sha", "32");
    let stored = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM snmp_messages WHERE security_name = 'u-sha'",
        Duration::from_secs(20),
        |n| n >= 1,
    );
    assert_eq!(stored, 1);
    let rows = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM snmpv3_auth_failures",
        Duration::ZERO,
        |_| true,
    );
    assert_eq!(rows, 0, "the authentic trap cleared u-sha");
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
#[ignore = "needs postgresql"]
fn the_devices_table_stays_within_max_devices_and_the_overflow_is_counted() {
    let pg = PgServer::start();
    let mut client = pg.create_db("devices");
    let env = pg_env(&pg, "devices", "devices-1");
    let mut setup = env.setup.clone();
    // Continues `storage.database:`, which the harness writes just before these lines.
    setup.storage_yaml = format!("    max_devices: 2\n{}", setup.storage_yaml);
    let env = Env { setup, ..env };
    env.write_config();
    let daemon = env.start();
    for host in 1..=3 {
        let s = UdpSocket::bind(format!("127.0.0.{host}:0")).expect("bind a loopback address");
        s.send_to(
            format!("<13>Nov 27 10:00:00 dev{host} app: hello from {host}").as_bytes(),
            ("127.0.0.1", env.syslog_port),
        )
        .expect("send");
        // One address per batch, so which two get rows is the order they came in.
        daemon.wait_metric("mutt_stored_total", Duration::from_secs(20), |n| n >= host);
    }
    let devices: Vec<(String, String)> = client
        .query(
            "SELECT source_ip, hostname FROM devices ORDER BY source_ip",
            &[],
        )
        .expect("devices")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        devices,
        vec![
            ("127.0.0.1".to_string(), "dev1".to_string()),
            ("127.0.0.2".to_string(), "dev2".to_string())
        ]
    );
    assert_eq!(daemon.metric("mutt_devices_over_cap_total"), 1);
    let stored = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::ZERO,
        |_| true,
    );
    assert_eq!(
        stored, 3,
        "the third device's message is stored all the same"
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
#[ignore = "needs postgresql"]
fn two_new_addresses_with_one_name_in_one_batch_get_two_device_rows() {
    let pg = PgServer::start();
    let mut client = pg.create_db("twins");
    let env = pg_env(&pg, "twins", "twins-1");
    let mut setup = env.setup.clone();
    setup.extra.push_str("enrichment:\n  reverse_dns: false\n");
    let env = Env { setup, ..env };
    env.write_config();
    let daemon = env.start();
    for host in [4, 5] {
        let s = UdpSocket::bind(format!("127.0.0.{host}:0")).expect("bind a loopback address");
        s.send_to(
            b"<13>Nov 27 10:00:00 twin app: same name",
            ("127.0.0.1", env.syslog_port),
        )
        .expect("send");
    }
    daemon.wait_metric("mutt_stored_total", Duration::from_secs(20), |n| n >= 2);
    let devices: Vec<(String, String)> = client
        .query(
            "SELECT source_ip, hostname FROM devices ORDER BY source_ip",
            &[],
        )
        .expect("devices")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        devices,
        vec![
            ("127.0.0.4".to_string(), "twin".to_string()),
            ("127.0.0.5".to_string(), "twin@127.0.0.5".to_string())
        ]
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

/// A throwaway CA: its PEM and the issuer that signs with it.
fn test_ca() -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), rcgen::Issuer::new(params, key))
}

#[test]
#[ignore = "needs postgresql"]
fn verify_full_stores_over_tls_and_a_server_signed_by_another_ca_exits_2_naming_sslmode() {
    let (ca_pem, issuer) = test_ca();
    let pg = PgServer::start_tls(&issuer);
    let mut client = pg.create_db("tls");
    let env = pg_env(&pg, "tls", "tls-1");
    let ca = env.path("db-ca.pem");
    std::fs::write(&ca, &ca_pem).expect("write CA");
    let mut setup = env.setup.clone();
    setup.storage_yaml = setup.storage_yaml.replace(
        "sslmode: disable\n",
        &format!("sslmode: verify-full\n    ca_file: {}\n", ca.display()),
    );
    let env = Env { setup, ..env };
    env.write_config();
    let daemon = env.start();
    env.send_udp(env.syslog_port, &numbered_lines("tls", 10));
    let stored = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(20),
        |n| n >= 10,
    );
    assert_eq!(stored, 10);
    let encrypted = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
         WHERE application_name = 'mutt' AND ssl",
        Duration::ZERO,
        |_| true,
    );
    assert!(encrypted >= 1, "mutt's session is TLS");
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");

    // The same server, but the collector trusts another CA.
    let (other_pem, _) = test_ca();
    std::fs::write(&ca, other_pem).expect("write the other CA");
    let (code, stderr) = run_fails(&env);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("storage.postgresql.sslmode"), "{stderr}");
    eprintln!("{}", stderr.lines().last().unwrap_or(""));

    // require: encrypted, the certificate not checked (libpq's meaning).
    let mut setup = env.setup.clone();
    setup.storage_yaml = setup
        .storage_yaml
        .replace("sslmode: verify-full\n", "sslmode: require\n");
    let env = Env { setup, ..env };
    env.write_config();
    let out = env.mutt(&["migrate"]).output().expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_fails(env: &Env) -> (i32, String) {
    let out = env
        .mutt(&["run"])
        .stdin(Stdio::null())
        .output()
        .expect("run mutt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs postgresql"]
fn a_wrong_password_or_port_exits_2_naming_the_key_and_never_the_password() {
    let pg = PgServer::start();
    drop(pg.create_db("wrong"));
    let env = pg_env(&pg, "wrong", "wrong-1");
    std::fs::write(env.path("pgpass"), "not-the-password-0815\n").expect("write pgpass");
    let (code, stderr) = run_fails(&env);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("storage.postgresql.password_file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password-0815"), "{stderr}");
    assert!(!file_text(&env.log_path()).contains("not-the-password-0815"));

    // The right password, a port nothing listens on.
    let closed = free_port();
    let mut setup = env.setup.clone();
    setup.storage_yaml = pg
        .storage_yaml(&env, "wrong")
        .replace(&format!(":{}/", pg.port), &format!(":{closed}/"));
    let env = Env { setup, ..env };
    env.write_config();
    let (code, stderr) = run_fails(&env);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("storage.postgresql.url"), "{stderr}");
    assert!(!stderr.contains(PG_PASSWORD), "{stderr}");
}

#[test]
#[ignore = "needs postgresql"]
fn migrate_creates_the_schema_once_and_a_newer_schema_is_refused_with_exit_2() {
    let pg = PgServer::start();
    let mut client = pg.create_db("migrations");
    let env = pg_env(&pg, "migrations", "m-1");
    for expected in ["schema 0 -> 2", "schema 2 (up to date)"] {
        let out = env.mutt(&["migrate"]).output().expect("migrate");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expected), "{stdout}");
    }
    client
        .batch_execute("INSERT INTO mutt_schema_migrations (version) VALUES (3)")
        .expect("pretend a newer MUTT migrated");
    let (code, stderr) = run_fails(&env);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("schema is version 3, newer"), "{stderr}");
}

#[test]
#[ignore = "needs postgresql"]
fn a_version_1_database_migrates_to_2_keeping_its_outbox_rows() {
    let pg = PgServer::start();
    let mut client = pg.create_db("from_v1");
    // The database as the first MUTT with PostgreSQL left it, with an outbox row written by hand
    // (that MUTT never queued any).
    let m = mutt::store::postgres::schema::migrate_to(&mut client, "test", 1).expect("version 1");
    assert_eq!((m.from, m.to), (0, 1));
    client
        .batch_execute(
            "INSERT INTO webhook_outbox (message_id, rule_id, target, body, next_attempt_at,
                 created_at, fold_key) VALUES ('m1', 'r1', 'default', '{}', now(), now(), 7)",
        )
        .expect("a version 1 outbox row");
    let env = pg_env(&pg, "from_v1", "m-1");
    let out = env.mutt(&["migrate"]).output().expect("migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("schema 1 -> 2"), "{stdout}");
    let kept = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM webhook_outbox WHERE collector_id = '' AND fold_key = 7",
        Duration::ZERO,
        |_| true,
    );
    assert_eq!(kept, 1, "the old row, owned by no collector");
    // A new row must name its collector: the default is gone.
    let refused = client.batch_execute(
        "INSERT INTO webhook_outbox (message_id, rule_id, target, body, next_attempt_at,
             created_at, fold_key) VALUES ('m2', 'r1', 'default', '{}', now(), now(), 8)",
    );
    assert!(refused.is_err(), "collector_id has no default");
}

/// Rules for the webhook tests: `overheat` raises an alert to the default target.
const WEBHOOK_RULES: &str = r#"rules:
  - id: hot
    name: Overheat
    pattern_type: keyword
    keywords: ["overheat"]
    severity: critical
    action: webhook
"#;

/// A collector storing into `db` as `collector`, posting alerts to `127.0.0.1:<endpoint>/alerts`
/// with short backoff (so a test sees a retry within a second), reverse DNS off.
fn pg_webhook_env(pg: &PgServer, db: &str, collector: &str, endpoint: u16, rules: &str) -> Env {
    let env = pg_env(pg, db, collector);
    let mut setup = env.setup.clone();
    setup.rules = rules.into();
    setup.extra.push_str(&format!(
        "enrichment:\n  reverse_dns: false\noutputs:\n  webhook:\n    \
         url: http://127.0.0.1:{endpoint}/alerts\n    timeout_seconds: 2\n    \
         backoff: {{initial_seconds: 0.2, max_seconds: 1}}\n  storm_window_seconds: 60\n"
    ));
    let env = Env { setup, ..env };
    env.write_config();
    env
}

fn raw_of(p: &Post) -> String {
    p.json()["message"]["raw_message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message.raw_message in {}", p.body))
        .to_string()
}

#[test]
#[ignore = "needs postgresql and logger"]
fn a_webhook_rule_posts_each_alert_once_from_postgresql_and_marks_its_row_delivered() {
    need_tool("logger");
    let pg = PgServer::start();
    let mut client = pg.create_db("alerts");
    let port = free_port();
    let endpoint = Endpoint::start(port);
    let env = pg_webhook_env(&pg, "alerts", "alerts-1", port, WEBHOOK_RULES);
    let daemon = env.start();
    assert!(
        !daemon.stderr().contains("webhook alerts are not"),
        "{}",
        daemon.stderr()
    );
    for i in 0..3 {
        logger(
            &["-d"],
            env.syslog_port,
            "envmon",
            &format!("overheat sensor {i}"),
        );
    }
    logger(&["-d"], env.syslog_port, "envmon", "all fine");
    // Five identical alerts (logger stamps each line with its own time, so these are sent as
    // one device repeats a line): one row, the rest folded into it.
    let repeat = b"<130>Nov 27 10:00:00 rack7 envmon: overheat fan tray".to_vec();
    env.send_udp(env.syslog_port, &vec![repeat; 5]);
    let stored = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM messages",
        Duration::from_secs(30),
        |n| n >= 9,
    );
    assert_eq!(stored, 9);
    // The sender marks a row delivered after the endpoint's 2xx, which follows its recording
    // of the POST: once every row is delivered, every POST there will be is in.
    let delivered = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'delivered'
         AND delivered_at IS NOT NULL AND last_error IS NULL",
        Duration::from_secs(30),
        |n| n >= 4,
    );
    assert_eq!(delivered, 4, "three alerts and the folded one, delivered");
    let rows = client
        .query(
            "SELECT o.id, o.message_id, o.fold_count, o.collector_id, m.raw_message
             FROM webhook_outbox o JOIN messages m ON m.id = o.message_id ORDER BY o.id",
            &[],
        )
        .expect("outbox rows");
    assert_eq!(rows.len(), 4);
    let folded: Vec<i32> = rows.iter().map(|r| r.get(2)).collect();
    assert_eq!(
        folded,
        [1, 1, 1, 5],
        "the repeats are counted on the first row"
    );
    let posts = endpoint.posts();
    assert_eq!(posts.len(), 4, "one POST per outbox row, no more");
    for (p, row) in posts.iter().zip(&rows) {
        let body = p.json();
        let id: i64 = row.get(0);
        let message_id: String = row.get(1);
        let collector: String = row.get(3);
        let raw: String = row.get(4);
        assert_eq!(p.path, "/alerts");
        assert_eq!(p.header("Content-Type"), Some("application/json"));
        assert_eq!(p.header("X-MUTT-Alert-Id"), Some(id.to_string().as_str()));
        assert_eq!(body["alert_id"], id);
        assert_eq!(body["rule"]["id"], "hot");
        assert_eq!(body["rule"]["name"], "Overheat");
        assert_eq!(body["rule"]["severity"], "critical");
        assert_eq!(body["device"]["ip"], "127.0.0.1");
        assert_eq!(body["message"]["id"], message_id.as_str());
        assert_eq!(body["message"]["source_ip"], "127.0.0.1");
        assert_eq!(body["message"]["syslog"]["program"], "envmon");
        assert_eq!(raw_of(p), raw);
        assert!(raw.contains("overheat"), "{raw}");
        assert!(body["fold_count"].as_i64().is_some_and(|n| n >= 1));
        assert_eq!(collector, "alerts-1");
    }
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
#[ignore = "needs postgresql"]
fn two_collectors_killed_mid_burst_post_every_alert_exactly_once() {
    let pg = PgServer::start();
    let mut client = pg.create_db("alerts2");
    let port = free_port();
    // Every numbered line raises an alert with its own text (no folding).
    let rules = "rules:\n  - {id: all, name: Every line, pattern_type: keyword, \
                 keywords: [\"message\"], severity: warning, action: webhook}\n";
    let envs = [
        pg_webhook_env(&pg, "alerts2", "dc1", port, rules),
        pg_webhook_env(&pg, "alerts2", "dc2", port, rules),
    ];
    let n = 2000;
    // The endpoint is down until both are killed: a kill between an endpoint's 2xx and the
    // `delivered` update sends that alert again with the same id (delivery is at least once,
    // see output/webhook.rs), which would make the count below a matter of luck.
    std::thread::scope(|s| {
        for (i, env) in envs.iter().enumerate() {
            let daemon = env.start();
            s.spawn(move || {
                env.send_udp(env.syslog_port, &numbered_lines(&format!("c{i}"), n));
                wait_accepted(&daemon, n as u64);
                daemon.kill9();
            });
        }
    });
    let at_kill = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM webhook_outbox",
        Duration::ZERO,
        |_| true,
    );
    eprintln!("{at_kill} of {} alerts queued at the kills", 2 * n);
    let daemons: Vec<Daemon> = envs.iter().map(|e| e.start()).collect();
    let endpoint = Endpoint::start(port);
    let delivered = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'delivered'",
        Duration::from_secs(120),
        |d| d >= 2 * n as i64,
    );
    assert_eq!(delivered, 2 * n as i64, "every alert delivered");
    let posts = endpoint.posts();
    for d in daemons {
        let (status, stderr) = d.terminate();
        assert!(status.success(), "{stderr}");
    }
    let mut per_id: HashMap<String, usize> = HashMap::new();
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for p in &posts {
        let id = p.header("X-MUTT-Alert-Id").expect("X-MUTT-Alert-Id");
        *per_id.entry(id.to_string()).or_default() += 1;
        *per_message.entry(raw_of(p)).or_default() += 1;
    }
    assert_eq!(posts.len(), 2 * n, "one POST per alert");
    assert_eq!(per_id.len(), 2 * n, "no alert id posted twice");
    assert_eq!(per_message.len(), 2 * n, "no message alerted twice");
    for (i, id) in ["dc1", "dc2"].iter().enumerate() {
        let mine = per_message
            .keys()
            .filter(|raw| raw.contains(&format!("c{i} message")))
            .count();
        assert_eq!(mine, n, "{id}'s alerts");
        // Each collector queued (and so sent) exactly the alerts of its own messages.
        let own = client
            .query_one(
                "SELECT COUNT(*) FROM webhook_outbox o JOIN messages m ON m.id = o.message_id
                 WHERE o.collector_id = $1 AND m.collector_id = $1 AND m.raw_message LIKE $2",
                &[id, &format!("%c{i} message%")],
            )
            .expect("own alerts")
            .get::<_, i64>(0);
        assert_eq!(own, n as i64, "{id}'s outbox rows");
    }
}

#[test]
#[ignore = "needs postgresql"]
fn on_postgresql_an_unconfigured_target_dies_with_the_reason_and_only_own_finished_rows_are_pruned()
{
    let pg = PgServer::start();
    let mut client = pg.create_db("outbox_rules");
    let port = free_port();
    let rules = format!(
        "{WEBHOOK_RULES}  - {{id: lost, name: Nowhere, pattern_type: keyword, \
         keywords: [\"orphan\"], action: webhook, webhook: pager}}\n"
    );
    let env = pg_webhook_env(&pg, "outbox_rules", "own-1", port, &rules);
    let out = env.mutt(&["migrate"]).output().expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two rows delivered 30 days ago (past the default 7 days): this collector's and another's.
    for collector in ["own-1", "other-1"] {
        client
            .execute(
                "INSERT INTO webhook_outbox (collector_id, message_id, rule_id, target, body,
                     state, next_attempt_at, created_at, delivered_at, fold_key)
                 VALUES ($1, 'old', 'hot', 'default', '{}', 'delivered',
                         now() - interval '31 days', now() - interval '31 days',
                         now() - interval '30 days', 1)",
                &[&collector],
            )
            .expect("an old delivered row");
    }
    let endpoint = Endpoint::start(port);
    let daemon = env.start();
    let pruned = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM webhook_outbox WHERE message_id = 'old'",
        Duration::from_secs(20),
        |n| n <= 1,
    );
    assert_eq!(
        pruned, 1,
        "this collector's old row deleted, the other's kept"
    );
    let kept: String = client
        .query_one(
            "SELECT collector_id FROM webhook_outbox WHERE message_id = 'old'",
            &[],
        )
        .expect("the other collector's row")
        .get(0);
    assert_eq!(kept, "other-1");
    env.send_udp(
        env.syslog_port,
        &[b"<130>Nov 27 10:00:00 rack7 envmon: orphan alert".to_vec()],
    );
    let dead = wait_pg(
        &mut client,
        "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'dead' AND target = 'pager'
         AND collector_id = 'own-1'
         AND last_error = 'no webhook target ''pager'' is configured (outputs.webhooks.pager)'",
        Duration::from_secs(20),
        |n| n >= 1,
    );
    assert_eq!(dead, 1, "dead at once, with the key to configure");
    assert!(endpoint.posts().is_empty(), "nothing was sent for it");
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
}
