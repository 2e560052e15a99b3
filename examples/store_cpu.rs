use mutt::decode::syslog::{parse, ParseContext};
use mutt::model::{MessageKind, Transport};
use mutt::store::{Detail, MessageRow, MessageSink, Store};
use std::net::IpAddr;
use std::time::Duration;

fn cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_utime.tv_sec as f64
        + ru.ru_utime.tv_usec as f64 / 1e6
        + ru.ru_stime.tv_sec as f64
        + ru.ru_stime.tv_usec as f64 / 1e6
}

fn main() {
    let batch: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let total: u64 = 300_000;
    let ctx = ParseContext {
        received_at_us: 1_764_000_000_000_000,
        default_utc_offset_secs: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("b.db"), Duration::from_secs(5)).unwrap();
    let mut line = Vec::new();
    let mut all = Vec::new();
    for i in 0..total {
        mutt::loadgen::line(0, i, &mut line);
        let msg = parse(&line, &ctx);
        all.push(MessageRow {
            seq: i + 1,
            id: uuid::Uuid::now_v7().to_string(),
            kind: MessageKind::Syslog,
            source_ip: IpAddr::from([127, 0, 0, 1]),
            source_port: 514,
            transport: Transport::Udp,
            source_device: msg.hostname.clone().unwrap_or_default(),
            timestamp_us: ctx.received_at_us + i as i64,
            received_at_us: ctx.received_at_us + i as i64,
            raw_message: String::from_utf8_lossy(&line).into_owned(),
            validation_errors: vec![],
            truncated: false,
            rule: None,
            detail: Detail::Syslog(msg),
        });
    }
    let c0 = cpu();
    let t0 = std::time::Instant::now();
    for chunk in all.chunks(batch) {
        store.write_batch(chunk, chunk.last().unwrap().seq).unwrap();
    }
    let c = cpu() - c0;
    println!(
        "batch {batch}: {:.0} rows/s CPU, {:.0} rows/s wall, {:.2} us CPU/row",
        total as f64 / c,
        total as f64 / t0.elapsed().as_secs_f64(),
        c * 1e6 / total as f64
    );
}
