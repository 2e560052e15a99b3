//! Syslog parser throughput: realistic RFC 3164 lines (~120 bytes, a mix of Linux daemons,
//! Cisco, Juniper and firewalls) and RFC 5424 lines with structured data.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mutt::decode::syslog::{parse, ParseContext};

const RFC3164: &[&str] = &[
    "<38>Jun 14 10:32:02 web-01 sshd[20312]: Accepted publickey for deploy from 10.20.30.40 port 52114 ssh2: RSA SHA256:x",
    "<86>Jun 14 10:32:03 web-01 sudo: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/systemctl reload x",
    "<189>1432: core-sw1: Jun 14 10:32:04.172: %LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/2, changed state to down",
    "<28>Jun 14 10:32:05  vmx01 rpd[2902]: RPD_BGP_NEIGHBOR_STATE_CHANGED: BGP peer 192.0.2.1 (External AS 65001) changed",
    "<14>Jun 14 10:32:06 fw01 kernel: [50028442.088484] IN=eth0 OUT= MAC=00:08:a2:0c:1f:12 SRC=198.51.100.7 DST=203.0.113.9",
    "<190>2025 Jun 14 10:32:07 nexus-1 %ETHPORT-5-IF_DOWN_LINK_FAILURE: Interface Ethernet1/33 is down (Link failure) x",
    "<30>Jun 14 10:32:08 db-02 systemd[1]: Started Session 4121 of user postgres; unit session-4121.scope is active now.",
    "<166>Jun 14 10:32:09 asa-fw : %ASA-6-302013: Built outbound TCP connection 1234 for outside:198.51.100.7/443 (x)",
];

const RFC5424: &[&str] = &[
    "<165>1 2025-06-14T10:32:02.003Z mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry",
    "<38>1 2025-06-14T10:32:03.123456+02:00 OPNsense.localdomain sshd 44255 - [meta sequenceId=\"1\"] Invalid user tutu from 192.0.2.4 port 33166",
    "<29>1 2025-06-14T10:32:04Z web1 someservice - - [origin x-service=\"someservice\"][meta sequenceId=\"14125553\"] 127.0.0.1 - - \"GET /v1/ok HTTP/1.1\" 200 145",
    "<134>1 2025-06-14T10:32:05.868451+00:00 firewall.lan filterlog 92653 - [meta esc=\"a\\\"b\\]c\"] 7,,,1000000102,vtnet0.5,match,block,in,4,0x0,,64",
];

fn ctx() -> ParseContext {
    ParseContext {
        received_at_us: 1_749_897_000_000_000,
        default_utc_offset_secs: 0,
    }
}

fn bench_lines(c: &mut Criterion, name: &str, lines: &[&str]) {
    let ctx = ctx();
    let mut g = c.benchmark_group("decode_syslog");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            for line in lines {
                black_box(parse(black_box(line.as_bytes()), &ctx));
            }
        })
    });
    g.finish();
}

fn rfc3164(c: &mut Criterion) {
    let avg = RFC3164.iter().map(|l| l.len()).sum::<usize>() / RFC3164.len();
    assert!((100..=140).contains(&avg), "average line {avg} bytes");
    bench_lines(c, "rfc3164_lines", RFC3164);
}

fn rfc5424(c: &mut Criterion) {
    bench_lines(c, "rfc5424_lines_with_sd", RFC5424);
}

criterion_group!(benches, rfc3164, rfc5424);
criterion_main!(benches);
