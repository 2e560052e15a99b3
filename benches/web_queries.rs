//! The web UI's pages on a large database: builds a file of `MUTT_WEB_BENCH_ROWS` messages
//! (default 1,000,000; the figures in docs/ARCHITECTURE.md are for 10,000,000) with the
//! collector's schema, spread over the last 7 days from 1,000 devices (80 % syslog, 20 % traps
//! of 50 OIDs, 1 % matched by one of 20 rules), in one transaction, indexed by device blocks as
//! the collector's writer would index them (`store::blocks::index_rows_from`); then serves it with
//! `mutt_web::start` and times each page over HTTP, as a browser would wait for it: p50, p95 and
//! max of 20 requests after one warm-up.
//!
//!     MUTT_WEB_BENCH_ROWS=10000000 MUTT_WEB_BENCH_DB=/tmp/mutt-web-bench.db \
//!         cargo bench --bench web_queries
//!
//! An existing file at `MUTT_WEB_BENCH_DB` with the right row count is reused.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

const DAY_MS: i64 = 86_400_000;
/// The device the device pages ask for: one of the 1,000, with a thousandth of the rows.
const DEVICE: &str = "10.0.3.7";

fn main() {
    let rows: i64 = std::env::var("MUTT_WEB_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let path = std::env::var("MUTT_WEB_BENCH_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join(format!("mutt-web-bench-{rows}.db")));
    let now = jiff::Timestamp::now().as_millisecond();
    let existing = Connection::open(&path)
        .and_then(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0)))
        .unwrap_or(0);
    if existing != rows {
        let _ = std::fs::remove_file(&path);
        let t = Instant::now();
        build(&path, rows, now);
        println!(
            "built {} with {rows} messages in {:.1} s ({} MiB)",
            path.display(),
            t.elapsed().as_secs_f64(),
            std::fs::metadata(&path).map(|m| m.len() >> 20).unwrap_or(0)
        );
    }
    let conn = Connection::open(&path).expect("open");
    // The cursor 1,000 pages down, and the span the file covers.
    let deep: String = conn
        .query_row(
            "SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET 99999",
            [],
            |r| r.get(0),
        )
        .expect("a deep cursor");
    // Below the device's oldest row, its list is empty at once and its page is the histogram.
    let oldest: String = conn
        .query_row(
            "SELECT min(id) FROM messages WHERE source_ip = ?1",
            [DEVICE],
            |r| r.get(0),
        )
        .expect("the device's oldest id");
    let web = mutt_web::start(mutt_web::WebConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        database: mutt_web::Source::Sqlite(path.clone()),
        metrics_url: None,
        users: None,
    })
    .expect("start the UI");
    let base = format!("http://{}", web.addr());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let cases = [
        ("last hour", "/?range=1h".to_string()),
        ("one device, 7 days", format!("/?range=7d&device={DEVICE}")),
        ("one device, 24h", format!("/?range=24h&device={DEVICE}")),
        (
            "one device, histogram alone",
            format!("/?range=7d&device={DEVICE}&before={oldest}"),
        ),
        ("one rule, 7 days", "/?range=7d&rule=rule-07".into()),
        (
            "one trap OID, 7 days",
            "/?range=7d&oid=1.3.6.1.4.1.9.9.41.2.0.10".into(),
        ),
        (
            "an OID no message has, 7 days",
            "/?range=7d&oid=1.3.6.1.4.1.9.9.41.2.0.17".into(),
        ),
        ("page 1,000", format!("/?range=7d&before={deep}")),
        (
            "text search, first page, 24h",
            "/?range=24h&q=%22Gi0%2F7+changed%22".into(),
        ),
        (
            "text search matching nothing, 24h",
            "/?range=24h&q=needle-that-is-rare".into(),
        ),
        ("message page", format!("/messages/{deep}")),
        (
            "one device, export, 7 days",
            format!("/export?range=7d&device={DEVICE}&format=jsonl"),
        ),
    ];
    println!(
        "{:<32} {:>9} {:>9} {:>9}  rows / status, histogram slices not counted",
        "page", "p50 ms", "p95 ms", "max ms"
    );
    for (name, path) in cases {
        let url = format!("{base}{path}");
        let mut times = Vec::new();
        let mut shown = 0;
        let mut uncounted = 0;
        let mut last_status = 0;
        for i in 0..21 {
            let t = Instant::now();
            let mut r = agent.get(&url).call().expect("request");
            let status = r.status().as_u16();
            let body = r
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .expect("body");
            let took = t.elapsed();
            // Only the filter that matches nothing may run into the query deadline.
            assert!(
                status == 200 || (status == 503 && body.contains("Query stopped")),
                "{name}: {body}"
            );
            shown = if path.starts_with("/export") {
                body.lines().count()
            } else {
                body.matches("<td class=\"time\">").count()
            };
            uncounted = body.matches("class=\"uncounted\"").count();
            last_status = status;
            if i > 0 {
                times.push(took);
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<32} {:>9.1} {:>9.1} {:>9.1}  {shown} / {last_status}, {uncounted}",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100]),
            ms(times[times.len() - 1]),
        );
    }
    web.stop();
}

fn build(path: &std::path::Path, rows: i64, now: i64) {
    let mut conn = Connection::open(path).expect("create");
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")
        .expect("pragmas");
    mutt::store::schema::migrate(&mut conn).expect("schema");
    let tx = conn.transaction().expect("transaction");
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO messages (id, type, source_ip, source_device, timestamp, received_at, \
                 raw_message, validated, matched_rule_id, matched_rule_name, match_severity, \
                 syslog_facility, syslog_level, syslog_program, snmp_oid, snmp_version) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, 1, ?7, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .expect("prepare");
        let start = now - 7 * DAY_MS;
        let step = (7 * DAY_MS * 1000) / rows; // microseconds between messages
        for n in 0..rows as u64 {
            let us = start * 1000 + n as i64 * step;
            let ms = us / 1000;
            let id = format!(
                "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
                (ms as u64) >> 16,
                ms as u64 & 0xffff,
                (us % 1000) as u64 * 4096 / 1000,
                (n >> 48) & 0xfff,
                n & 0xffff_ffff_ffff
            );
            let received = jiff::Timestamp::from_microsecond(us)
                .expect("time")
                .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
                .to_string();
            let device = (n * 7919) % 1000;
            let ip = format!("10.0.{}.{}", device / 250, device % 250);
            let name = format!("dev-{device:03}");
            let trap = n % 5 == 0;
            let rule = (n % 100 == 7).then(|| format!("rule-{:02}", n % 20));
            let severity = rule.as_ref().map(|_| "major");
            let text = if trap {
                format!(
                    "IF-MIB::linkDown IF-MIB::ifIndex.{0}={0} message {n}",
                    n % 48
                )
            } else {
                format!(
                    "<134>1 {received} {name} app{} - - - interface Gi0/{} changed state, message {n}",
                    n % 30,
                    n % 48
                )
            };
            stmt.execute(params![
                id,
                if trap { "snmp_trap" } else { "syslog" },
                ip,
                name,
                received,
                text,
                rule,
                severity,
                (!trap).then_some("16"),
                (!trap).then_some(6),
                (!trap).then(|| format!("app{}", n % 30)),
                trap.then(|| format!("1.3.6.1.4.1.9.9.41.2.0.{}", n % 50)),
                trap.then_some("v2c"),
            ])
            .expect("insert");
        }
    }
    mutt::store::blocks::index_rows_from(&tx, 0).expect("index the device blocks");
    tx.commit().expect("commit");
}
