//! Many idle TCP connections do not starve the WAL: with 1,000 clients connected and silent,
//! 100,000 UDP syslog messages arrive, the WAL rotates through many segments, and every message
//! is stored; the connections are still served afterwards.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;

#[test]
fn a_thousand_idle_connections_leave_the_wal_rotating_and_every_datagram_stored() {
    let env = Env::new(Setup {
        batch_write_size: 1000,
        ..Setup::default()
    });
    let daemon = env.start();
    let mut conns: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(("127.0.0.1", env.syslog_port)).expect("connect"))
        .collect();

    // Sent in chunks the receive buffer holds, each once the last is accepted: the test is about
    // descriptors and rotation, not about how fast a loaded machine schedules the receiver.
    let lines = numbered_lines("udp", 100_000);
    for (i, chunk) in lines.chunks(5_000).enumerate() {
        env.send_udp(env.syslog_port, chunk);
        let sent = ((i + 1) * 5_000) as u64;
        daemon.wait_metric(
            "mutt_accepted_syslog_udp_total",
            Duration::from_secs(30),
            |n| n >= sent,
        );
    }
    let rows = env.wait_rows(100_000, Duration::from_secs(180));
    let accepted = daemon.metric("mutt_accepted_syslog_udp_total");
    assert_eq!(
        accepted, 100_000,
        "the kernel dropped datagrams: pace the sender"
    );
    assert_eq!(rows, 100_000);
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT raw_message) FROM messages")
            .unwrap(),
        100_000
    );
    assert_eq!(daemon.metric("mutt_tcp_refused_total"), 0);
    // About 11 MiB through 1 MiB segments: the first segment is long released.
    let first = env.segments().first().cloned().expect("a live segment");
    assert_ne!(
        first.file_name().and_then(|n| n.to_str()),
        Some("00000000000000000001.wal"),
        "the WAL never rotated"
    );

    // Every connection is still served.
    for (i, c) in conns.iter_mut().enumerate() {
        writeln!(c, "<134>Nov 27 10:00:00 host app: tcp message {i:04}").expect("write");
    }
    drop(conns);
    assert_eq!(env.wait_rows(101_000, Duration::from_secs(60)), 101_000);
    assert_eq!(daemon.metric("mutt_accepted_syslog_tcp_total"), 1000);
    drop(daemon);
}
