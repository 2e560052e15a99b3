//! Syslog from real clients, checking the stored fields: util-linux `logger` in every mode it has,
//! and a real rsyslog forwarding to MUTT over TCP in both framings.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// The stored syslog fields of the one message whose text ends with `marker`.
#[derive(Debug)]
struct Stored {
    format: String,
    facility: String,
    level: i64,
    program: Option<String>,
    process_id: Option<i64>,
    tag: Option<String>,
    hostname: Option<String>,
    msgid: Option<String>,
    structured_data: Option<String>,
    transport: String,
    timestamp: String,
}

fn stored(env: &Env, marker: &str) -> Stored {
    env.db()
        .query_row(
            "SELECT s.format, s.facility, s.level, s.program, s.process_id, s.tag, s.hostname,
                    s.msgid, s.structured_data, m.transport, m.timestamp
             FROM messages m JOIN syslog_messages s ON s.message_id = m.id
             WHERE m.raw_message LIKE '%' || ?1",
            [marker],
            |r| {
                Ok(Stored {
                    format: r.get(0)?,
                    facility: r.get(1)?,
                    level: r.get(2)?,
                    program: r.get(3)?,
                    process_id: r.get(4)?,
                    tag: r.get(5)?,
                    hostname: r.get(6)?,
                    msgid: r.get(7)?,
                    structured_data: r.get(8)?,
                    transport: r.get(9)?,
                    timestamp: r.get(10)?,
                })
            },
        )
        .unwrap_or_else(|e| panic!("no stored row ending with {marker:?}: {e}"))
}

fn logger(port: u16, args: &[&str]) {
    let out = Command::new("logger")
        .args(["-n", "127.0.0.1", "-P", &port.to_string()])
        .args(args)
        .output()
        .expect("run logger");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs logger"]
fn logger_in_every_mode_stores_the_fields_it_sent() {
    need_tool("logger");
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let p = env.syslog_port;
    logger(
        p,
        &[
            "-d",
            "--rfc3164",
            "-t",
            "edge",
            "--id=4242",
            "-p",
            "local3.warning",
            "m-3164-udp",
        ],
    );
    logger(
        p,
        &[
            "-T",
            "--rfc3164",
            "-t",
            "edge",
            "-p",
            "auth.err",
            "m-3164-tcp",
        ],
    );
    logger(
        p,
        &[
            "-d",
            "--rfc5424",
            "-t",
            "app5424",
            "--id=77",
            "-p",
            "daemon.info",
            "--msgid",
            "LINK42",
            "--sd-id",
            "zoo@32473",
            "--sd-param",
            "tiger=\"hungry\"",
            "--sd-param",
            "eagle=\"a\\\"b\"",
            "m-5424-udp",
        ],
    );
    logger(
        p,
        &[
            "-T",
            "--octet-count",
            "--rfc5424",
            "-t",
            "oc",
            "-p",
            "local7.debug",
            "m-5424-oc",
        ],
    );
    logger(
        p,
        &["-T", "--rfc5424=notq,notime", "-t", "bare", "m-5424-notime"],
    );
    assert_eq!(env.wait_rows(5, Duration::from_secs(10)), 5);

    let s = stored(&env, "m-3164-udp");
    assert_eq!(s.format, "rfc3164");
    assert_eq!((s.facility.as_str(), s.level), ("19", 4), "local3.warning");
    assert_eq!(s.program.as_deref(), Some("edge"));
    assert_eq!(s.process_id, Some(4242));
    assert_eq!(s.tag.as_deref(), Some("edge[4242]"));
    assert!(s.hostname.is_some());
    assert_eq!(s.transport, "udp");

    let s = stored(&env, "m-3164-tcp");
    assert_eq!((s.facility.as_str(), s.level), ("4", 3), "auth.err");
    assert_eq!(s.transport, "tcp");

    let s = stored(&env, "m-5424-udp");
    assert_eq!(s.format, "rfc5424");
    assert_eq!((s.facility.as_str(), s.level), ("3", 6), "daemon.info");
    assert_eq!(s.program.as_deref(), Some("app5424"));
    assert_eq!(s.process_id, Some(77));
    assert_eq!(s.msgid.as_deref(), Some("LINK42"));
    let sd: serde_json::Value =
        serde_json::from_str(s.structured_data.as_deref().expect("structured data")).expect("json");
    assert_eq!(sd["zoo@32473"]["tiger"], "hungry");
    assert_eq!(sd["zoo@32473"]["eagle"], "a\"b", "escaped quote unescaped");
    // logger's own timeQuality element comes along.
    assert!(sd.get("timeQuality").is_some(), "{sd}");
    // RFC 5424 stamps carry microseconds and a zone: stored as UTC with fixed precision.
    assert!(
        s.timestamp.ends_with('Z') && s.timestamp.len() == 27,
        "{}",
        s.timestamp
    );

    let s = stored(&env, "m-5424-oc");
    assert_eq!(
        (s.facility.as_str(), s.level, s.transport.as_str()),
        ("23", 7, "tcp")
    );

    let s = stored(&env, "m-5424-notime");
    assert_eq!(s.format, "rfc5424");
    assert_eq!(s.program.as_deref(), Some("bare"));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE validated = 1")
            .unwrap(),
        5,
        "every logger line is valid"
    );
    drop(daemon);
}

/// A private rsyslogd (no system sockets, its own work directory) receiving on UDP and forwarding
/// to MUTT over TCP.
struct Rsyslog(std::process::Child);

impl Rsyslog {
    fn start(env: &Env, in_port: u16, framing: &str, template: &str) -> Rsyslog {
        let dir = env.path(&format!("rsyslog-{in_port}"));
        std::fs::create_dir_all(&dir).expect("rsyslog dir");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{d}\")\n\
                 module(load=\"imudp\")\n\
                 input(type=\"imudp\" address=\"127.0.0.1\" port=\"{in_port}\")\n\
                 action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{out}\" protocol=\"tcp\" \
                 TCP_Framing=\"{framing}\" template=\"{template}\")\n",
                d = dir.display(),
                out = env.syslog_port,
            ),
        )
        .expect("write rsyslog.conf");
        let mut child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        wait_udp_bound(&mut child, in_port, Duration::from_secs(20));
        Rsyslog(child)
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs rsyslogd and logger"]
fn rsyslog_forwarding_over_tcp_in_both_framings_is_stored_with_its_fields() {
    need_tool("rsyslogd");
    need_tool("logger");
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let (octet_in, lf_in) = (free_port(), free_port());
    let _octet = Rsyslog::start(
        &env,
        octet_in,
        "octet-counted",
        "RSYSLOG_SyslogProtocol23Format",
    );
    let _lf = Rsyslog::start(&env, lf_in, "traditional", "RSYSLOG_ForwardFormat");
    for i in 0..50 {
        logger(
            octet_in,
            &[
                "-d",
                "--rfc3164",
                "-t",
                "fwd",
                "-p",
                "local0.notice",
                &format!("oc-{i:03}"),
            ],
        );
        logger(
            lf_in,
            &[
                "-d",
                "--rfc3164",
                "-t",
                "fwd",
                "-p",
                "local1.err",
                &format!("lf-{i:03}"),
            ],
        );
    }
    assert_eq!(env.wait_rows(100, Duration::from_secs(30)), 100);
    // One more line through each rsyslogd: each forwards in order over its one connection, so
    // once both are stored everything forwarded before them is too.
    logger(octet_in, &["-d", "--rfc3164", "-t", "fwd", "oc-end"]);
    logger(lf_in, &["-d", "--rfc3164", "-t", "fwd", "lf-end"]);
    assert_eq!(
        env.wait_count(
            "SELECT COUNT(*) FROM messages WHERE raw_message LIKE '%-end'",
            Duration::from_secs(30),
            |n| n >= 2
        ),
        2,
        "the end lines came through"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        102,
        "each line once"
    );
    let s = stored(&env, "oc-007");
    assert_eq!(
        s.format, "rfc5424",
        "RSYSLOG_SyslogProtocol23Format is RFC 5424"
    );
    assert_eq!((s.facility.as_str(), s.level), ("16", 5));
    assert_eq!(s.program.as_deref(), Some("fwd"));
    assert_eq!(s.transport, "tcp");
    let s = stored(&env, "lf-007");
    assert_eq!(s.format, "rfc3164");
    assert_eq!((s.facility.as_str(), s.level), ("17", 3));
    assert_eq!(s.program.as_deref(), Some("fwd"));
    drop(daemon);
}

#[test]
fn a_per_source_time_zone_applies_to_zoneless_stamps_from_that_source() {
    let env = Env::new(Setup {
        extra: "syslog:\n  default_timezone: UTC\n  source_timezones:\n    - sources: [127.0.0.0/8]\n      timezone: \"+02:00\"\n".into(),
        ..Setup::default()
    });
    let daemon = env.start();
    let now = mutt::timefmt::now_us() / 1_000_000;
    // The device's clock says local time two hours east of UTC, without saying so.
    let stamp = mutt::loadgen::rfc3164_stamp(now + 7200);
    env.send_udp(
        env.syslog_port,
        &[format!("<13>{stamp} edge app: tz-check").into_bytes()],
    );
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    drop(daemon);
    let s = stored(&env, "tz-check");
    assert_eq!(s.timestamp, mutt::timefmt::iso8601_us(now * 1_000_000));
}
