//! The web UI on PostgreSQL: the real `mutt run` with `storage.backend: postgresql` and
//! `web.enabled` stores what util-linux `logger` and net-snmp `snmptrap` send into a private
//! PostgreSQL (tests/common/pg.rs), and its pages show it as an operator reads them: the list and
//! its filters, search and paging, a message with its varbinds and neighbours, the tables, the
//! live tail, text escaped. Below the pages, the query layer's sessions on PostgreSQL: read-only,
//! stopped at their deadline, each type read back as SQLite gives it.

mod common;

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::*;
use common::web::{agent, get, Page};
use common::*;
use mutt_query::{Pool, Session, Source, Value};

const RULES: &str = r#"
rules:
  - id: "r-link"
    name: "Link down"
    pattern_type: "keyword"
    keywords: ["flapped"]
    severity: "critical"
    action: "store"
"#;

/// A private PostgreSQL, the daemon storing into it with its UI on, and a client to look.
struct Site {
    env: Env,
    daemon: Daemon,
    base: String,
    client: postgres::Client,
    _pg: PgServer,
}

impl Site {
    fn start() -> Site {
        need_tool("logger");
        need_tool("snmptrap");
        let pg = PgServer::start();
        let client = pg.create_db("mutt");
        let mut env = pg_env(&pg, "mutt", "web-1");
        env.setup.rules = RULES.into();
        env.setup
            .extra
            .push_str("web:\n  enabled: true\n  listen: 127.0.0.1:0\n");
        env.write_config();
        let daemon = env.start();
        let base = daemon.web_base();
        Site {
            env,
            daemon,
            base,
            client,
            _pg: pg,
        }
    }

    fn get(&self, path: &str) -> Page {
        let p = get(&format!("{}{path}", self.base));
        assert!(!p.body.contains(PG_PASSWORD), "the password on {path}");
        p
    }

    fn wait_messages(&mut self, n: i64) {
        let got = wait_pg(
            &mut self.client,
            "SELECT count(*) FROM messages",
            Duration::from_secs(20),
            |c| c >= n,
        );
        assert_eq!(got, n, "messages stored; stderr:\n{}", self.daemon.stderr());
    }

    /// `lines` through one `logger` run (one message per stdin line), tagged `tag`.
    fn logger_lines(&self, tag: &str, lines: &[String]) {
        let mut child = Command::new("logger")
            .args(["-n", "127.0.0.1", "-P", &self.env.syslog_port.to_string()])
            .args(["-d", "-t", tag])
            .stdin(Stdio::piped())
            .spawn()
            .expect("run logger");
        let mut stdin = child.stdin.take().expect("logger's stdin");
        for l in lines {
            writeln!(stdin, "{l}").expect("write to logger");
            // Datagrams on loopback are not lost, but a burst can outrun the socket buffer.
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(stdin);
        assert!(child.wait().expect("logger").success());
    }
}

/// The rows of the list as (id, row text), in page order.
fn rows(p: &Page) -> Vec<String> {
    let table = p
        .body
        .split("<tbody>")
        .nth(1)
        .and_then(|t| t.split("</tbody>").next())
        .unwrap_or("");
    table.split("<tr").skip(1).map(str::to_string).collect()
}

/// The message counts in the histogram bars' titles ("… : N syslog, M snmp_trap").
fn histogram_total(p: &Page) -> u64 {
    p.body
        .split("<title>")
        .skip(1)
        .filter_map(|t| {
            let counts = t.split("</title>").next()?.rsplit(": ").next()?;
            let mut n = counts.split(' ');
            let syslog: u64 = n.next()?.parse().ok()?;
            let traps: u64 = counts.split(", ").nth(1)?.split(' ').next()?.parse().ok()?;
            Some(syslog + traps)
        })
        .sum()
}

#[test]
#[ignore = "needs postgresql, logger and snmptrap"]
fn the_messages_page_lists_filters_searches_and_pages_what_mutt_stored_in_postgresql() {
    let mut site = Site::start();
    site.env.send_xss();
    site.env.logger("linkmon", "interface eth0 flapped");
    let bulk: Vec<String> = (0..120).map(|i| format!("bulk line {i}")).collect();
    site.logger_lines("bulk", &bulk);
    let other = std::net::UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    other
        .send_to(
            b"<13>Nov 27 10:00:00 edge-7 probe: from another address",
            ("127.0.0.1", site.env.syslog_port),
        )
        .expect("send");
    site.wait_messages(124);

    let xss = site.get("/?program=xss");
    assert_eq!(xss.ids().len(), 1);
    assert!(xss
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(!xss.body.contains("<script>alert") && !xss.body.contains("<img src=x"));
    let first = site.get("/?range=15m");
    assert_eq!(first.status, 200);
    let ids = first.ids();
    assert_eq!(ids.len(), 100, "a full page");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(first.body.contains("bulk line 119"), "the newest bulk line");
    // The fields each row shows, read from PostgreSQL's types: the time as SQLite's text.
    let row = rows(&first)
        .into_iter()
        .find(|r| r.contains("bulk line 119"))
        .expect("its row");
    for link in ["type=syslog\"", "device=127.0.0.1\"", "program=bulk\""] {
        assert!(row.contains(link), "{link} in {row}");
    }
    let time = row
        .split("<td class=\"time\"><a href=\"/messages/")
        .nth(1)
        .and_then(|t| t.split("\">").nth(1))
        .and_then(|t| t.split('<').next())
        .unwrap_or("");
    assert!(
        time.len() == 27 && time.ends_with('Z') && time.as_bytes()[19] == b'.',
        "received_at as 2026-11-27T03:43:02.123456Z: {time:?} in {row}"
    );
    // Paging: the older page holds the rest, without overlap or gap.
    let next = first.next().expect("an older page");
    let second = site.get(&next);
    let older = second.ids();
    assert_eq!(older.len(), 24, "{}", second.body);
    assert!(older[0] < ids[99]);
    assert!(second.body.contains("End of the range."));

    let traps = site.get("/?type=snmp_trap");
    assert_eq!(traps.ids().len(), 1);
    assert!(
        traps.body.contains("oid=1.3.6.1.6.3.1.1.5.3\""),
        "{}",
        traps.body
    );
    let critical = site.get("/?severity=critical");
    assert_eq!(critical.ids().len(), 1);
    assert!(critical.body.contains("interface eth0 flapped"));
    assert_eq!(site.get("/?rule=r-link").ids(), critical.ids());
    let elsewhere = site.get("/?device=127.0.0.2");
    assert_eq!(elsewhere.ids().len(), 1, "{}", elsewhere.body);
    assert!(elsewhere.body.contains("from another address"));
    let search = site.get("/?q=%22bulk+line+42%22");
    assert_eq!(search.ids().len(), 1);
    assert!(search.body.contains("bulk line 42"));
    let search = site.get("/?q=FLAPPED+-eth1");
    assert_eq!(search.ids(), critical.ids(), "letters match either case");
    assert_eq!(site.get("/?program=bulk").ids().len(), 100);
    // Integers bound to PostgreSQL's integer and boolean columns.
    assert_eq!(site.get("/?level=5&program=bulk").ids().len(), 100);
    assert_eq!(site.get("/?validated=no&program=bulk").ids().len(), 0);
    assert!(!site.get("/?validated=yes").ids().is_empty());

    assert_eq!(
        histogram_total(&first),
        124,
        "the histogram counts them all"
    );
    let csv = site.get("/export?range=15m&format=csv");
    assert_eq!(csv.header("x-mutt-truncated"), Some("false"));
    assert_eq!(csv.body.lines().count(), 125, "a header and every message");

    let devices = site.get("/devices");
    assert_eq!(devices.status, 200);
    assert!(devices.body.contains(">127.0.0.1<") && devices.body.contains(">127.0.0.2<"));
    let rules = site.get("/rules");
    assert!(
        rules.body.contains("href=\"/?rule=r-link&amp;range=7d\""),
        "{}",
        rules.body
    );
    assert!(
        rules.body.contains("<td>Link down</td><td>1</td>"),
        "{}",
        rules.body
    );
    for page in [
        "/alerts",
        "/snmpv3",
        "/archives",
        "/devices/127.0.0.1",
        "/tail",
    ] {
        assert_eq!(site.get(page).status, 200, "{page}");
    }
}

#[test]
#[ignore = "needs postgresql, logger and snmptrap"]
fn a_message_page_on_postgresql_shows_its_fields_varbinds_and_neighbours() {
    let mut site = Site::start();
    site.env.logger("ctx", "before one");
    site.env.logger("ctx", "before two");
    site.wait_messages(2);
    site.env.send_xss();
    site.wait_messages(4);
    site.env.logger("ctx", "after one");
    site.wait_messages(5);
    let trap = site.get("/?type=snmp_trap").ids().pop().expect("the trap");
    let p = site.get(&format!("/messages/{trap}"));
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("IF-MIB::linkDown") && p.body.contains("IF-MIB::ifIndex.2"),
        "{}",
        p.body
    );
    assert!(p.body.contains("id=\"varbinds\""));
    assert!(
        p.body.contains("&lt;script&gt;alert(1)"),
        "the varbind, escaped"
    );
    assert!(!p.body.contains("<script>alert"));
    assert!(!p.body.contains(">public<"), "the community is not shown");
    assert!(
        p.body.contains("<th>Validated</th><td>yes</td>"),
        "a boolean as yes"
    );
    let received: String = site
        .client
        .query_one(
            "SELECT to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
             FROM messages WHERE id = $1",
            &[&trap],
        )
        .expect("received_at")
        .get(0);
    assert!(
        p.body
            .contains(&format!("<th>Received</th><td>{received}</td>")),
        "received_at as SQLite's text {received}: {}",
        p.body
    );
    let context = p
        .body
        .split("Same device, around it")
        .nth(1)
        .expect("the context");
    let at = |text: &str| {
        context
            .find(text)
            .unwrap_or_else(|| panic!("{text} in {context}"))
    };
    assert!(at("after one") < at("this message"));
    assert!(at("this message") < at("before two"));
    assert!(at("before two") < at("before one"));
}

#[test]
#[ignore = "needs postgresql, logger and snmptrap"]
fn the_live_tail_on_postgresql_streams_a_message_sent_after_it_opened() {
    let mut site = Site::start();
    site.env.logger("livetail", "stored before");
    site.wait_messages(1);
    let url = format!("{}/events?program=livetail", site.base);
    let r = agent().get(&url).call().expect("open the stream");
    assert_eq!(r.status().as_u16(), 200);
    let mut lines = std::io::BufReader::new(r.into_body().into_reader()).lines();
    assert_eq!(lines.next().expect("a line").expect("read"), "event: ready");
    site.env.logger("someone-else", "not this one");
    site.env.logger("livetail", &format!("live {XSS}"));
    let until = Instant::now() + Duration::from_secs(15);
    let mut data = None;
    while Instant::now() < until {
        let line = lines.next().expect("the stream goes on").expect("read");
        assert!(!line.contains("not this one"), "filtered");
        assert!(!line.contains("stored before"), "only what came after");
        if let Some(d) = line.strip_prefix("data: ") {
            if d.starts_with('{') {
                data = Some(d.to_string());
                break;
            }
        }
    }
    let row: serde_json::Value = serde_json::from_str(&data.expect("an event")).expect("JSON");
    let text = row["text"].as_str().expect("the text");
    assert!(
        text.ends_with(&format!(" live {XSS}")),
        "the line as stored, for textContent: {text}"
    );
    assert_eq!(row["validated"], true);
    assert_eq!(row["source_ip"], "127.0.0.1");
}

/// `mutt web` alone over PostgreSQL: what it shows, and, with a wrong password, a page that says
/// the database cannot be reached without ever showing the password.
#[test]
#[ignore = "needs postgresql and logger"]
fn mutt_web_alone_reads_postgresql_and_never_shows_the_password() {
    let mut site = Site::start();
    site.env.logger("alone", "read by mutt web");
    site.wait_messages(1);
    let port = free_port();
    site.env.config_replace(
        "web:\n  enabled: true\n  listen: 127.0.0.1:0\n",
        &format!("web:\n  listen: 127.0.0.1:{port}\n"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let serve = |env: &Env| {
        let mut child = env
            .mutt(&["web"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mutt web");
        let until = Instant::now() + Duration::from_secs(20);
        while agent().get(&format!("{base}/health")).call().is_err() {
            assert!(Instant::now() < until, "mutt web never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        let page = get(&format!("{base}/?range=15m"));
        signal(child.id(), libc::SIGTERM);
        assert!(wait_timeout(&mut child, Duration::from_secs(10)).success());
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
            .expect("read stderr");
        (page, stderr)
    };
    let (page, stderr) = serve(&site.env);
    assert_eq!(page.status, 200);
    assert!(
        !stderr.contains("panicked"),
        "idle sessions close at stop: {stderr}"
    );
    assert!(page.body.contains("read by mutt web"));

    std::fs::write(site.env.path("pgpass"), "not-the-password\n").expect("write pgpass");
    let (page, stderr) = serve(&site.env);
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("Database unavailable"), "{}", page.body);
    assert!(
        page.body.contains("password authentication failed"),
        "{}",
        page.body
    );
    for text in [&page.body, &stderr] {
        assert!(!text.contains("not-the-password") && !text.contains(PG_PASSWORD));
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The query layer's PostgreSQL sessions, without the pages: read-only, stopped at the
/// deadline, and each column type read back as SQLite gives the same column.
#[test]
#[ignore = "needs postgresql"]
fn postgresql_sessions_are_read_only_stop_at_their_deadline_and_read_as_sqlite() {
    let pg = PgServer::start();
    let mut admin = pg.create_db("layer");
    admin
        .batch_execute(
            "CREATE TABLE t (i int4, b boolean, at timestamptz, j jsonb, raw bytea, s text);
             INSERT INTO t VALUES (7, true, '2026-11-27T03:43:02.123456Z', '{\"a\": [1]}',
                 '\\x00ff', 'x'), (NULL, false, NULL, NULL, NULL, NULL);",
        )
        .expect("the table");
    let port = pg.port;
    let source = Source::Postgres(mutt_query::PgSource::new(
        "postgres@test/layer",
        move || {
            postgres::Config::new()
                .host("127.0.0.1")
                .port(port)
                .user("postgres")
                .password(PG_PASSWORD)
                .dbname("layer")
                .connect(postgres::NoTls)
                .map_err(|e| e.to_string())
        },
    ));
    let session = Session {
        read_only: true,
        statement_timeout: Some(Duration::from_millis(300)),
        busy_timeout: Duration::from_secs(1),
    };
    let pool = Pool::new(source, session, 2);
    let mut conn = pool.get().expect("a session");
    let rows = conn
        .rows(
            "SELECT i, b, at, j, raw, s FROM t ORDER BY i NULLS LAST",
            &[],
        )
        .expect("select");
    assert_eq!(
        rows,
        vec![
            vec![
                Value::Integer(7),
                Value::Integer(1),
                Value::Text("2026-11-27T03:43:02.123456Z".into()),
                Value::Text("{\"a\": [1]}".into()),
                Value::Blob(vec![0, 0xff]),
                Value::Text("x".into()),
            ],
            vec![
                Value::Null,
                Value::Integer(0),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null
            ],
        ]
    );
    // Parameters take the placeholder's type: text to timestamptz, integers to int4 and bool.
    let found = conn
        .rows(
            "SELECT s FROM t WHERE at = ? AND i = ? AND b = ? AND s <> '?'",
            &[
                Value::from("2026-11-27T04:43:02.123456+01:00"),
                Value::Integer(7),
                Value::Integer(1),
            ],
        )
        .expect("select with parameters");
    assert_eq!(found, vec![vec![Value::Text("x".into())]]);
    let write = conn.execute("DELETE FROM t", &[]).expect_err("read-only");
    assert!(write.to_string().contains("read-only"), "{write}");
    let slow = conn
        .rows("SELECT pg_sleep(2)", &[])
        .expect_err("stopped at the deadline");
    assert!(slow.is_deadline(), "{slow}");
    drop(conn);
    // The session is reused after both errors.
    let mut again = pool.get().expect("a session");
    let n = again
        .first("SELECT count(*) FROM t", &[], |r| r.get::<i64>(0))
        .expect("count");
    assert_eq!(n, Some(2));
}
