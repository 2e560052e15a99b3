//! Rule matching throughput as the rule count grows: 10 to 10,000 generated rules over syslog lines.
//!
//! The rule mix is ~70% keyword rules (1-3 keywords) and ~30% regexes in the shapes operators
//! write (`interface \S+ (down|flap)`, `%FAC-[0-5]-[A-Z_]+`), each with its own literals so the
//! rules are distinct. About one message in ten matches a rule; the rest match nothing, as in a
//! real feed.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mutt::model::MessageKind;
use mutt::rules::{Action, Field, MatchInput, PatternType, Rule, RuleSet, Scratch};

const WORDS: &[&str] = &[
    "linkflap",
    "overheat",
    "fanfail",
    "psu",
    "errdisable",
    "stormctl",
    "bpduguard",
    "loopdetect",
    "authfail",
    "crcerr",
    "lowmem",
    "cpuhog",
    "ospfadj",
    "bgpreset",
    "vrrpmaster",
    "dhcpsnoop",
];
const FACILITIES: &[&str] = &[
    "LINK", "SYS", "OSPF", "BGP", "PLATFORM", "SEC", "ENV", "DOT1X",
];

fn rule(i: usize) -> Rule {
    let (pattern_type, pattern, keywords) = if i % 10 < 7 {
        let n = 1 + i % 3;
        let kws = (0..n)
            .map(|k| format!("{}{}x{}", WORDS[(i + k) % WORDS.len()], i, k))
            .collect();
        (PatternType::Keyword, String::new(), kws)
    } else {
        let fac = FACILITIES[i % FACILITIES.len()];
        let pattern = match i % 3 {
            0 => format!(r"interface \S+ (down{i}|flap{i})"),
            1 => format!(r"%{fac}{i}-[0-5]-[A-Z_]+"),
            _ => format!(r"neighbor \d+\.\d+\.\d+\.\d+ \S+ state{i} (idle|active)"),
        };
        (PatternType::Regex, pattern, Vec::new())
    };
    Rule {
        id: format!("rule_{i}"),
        name: format!("generated {i}"),
        severity: "warning".to_string(),
        action: Action::Store,
        pattern_type,
        pattern,
        keywords,
        enabled: true,
        field: Field::Raw,
        types: Vec::new(),
        sources: Vec::new(),
        webhook: None,
        line: 0,
    }
}

fn rule_set(n: usize) -> RuleSet {
    match RuleSet::from_rules((0..n).map(rule).collect()) {
        Ok(set) => set,
        Err(e) => panic!("generated rules do not compile: {e}"),
    }
}

/// 100 lines: 90 that match nothing, 10 that hit rules spread over the set.
fn messages(n: usize) -> Vec<String> {
    let background = [
        "<189>Jan 12 10:00:01 sw-core-01 %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
        "<30>Jan 12 10:00:02 web01 systemd[1]: Started Session 42 of user root.",
        "<86>Jan 12 10:00:03 bastion sshd[2231]: Accepted publickey for deploy from 10.0.0.5 port 52122 ssh2",
        "<13>1 2026-01-12T10:00:04.123Z fw01 kernel - - - [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.1 PROTO=TCP SPT=443 DPT=51234",
        "<190>Jan 12 10:00:05 rtr-edge-2 %BGP-5-ADJCHANGE: neighbor 192.0.2.33 Up",
        "<29>Jan 12 10:00:06 db02 postgres[881]: LOG:  checkpoint complete: wrote 1123 buffers (6.9%)",
        "<14>Jan 12 10:00:07 app03 nginx: 10.1.2.3 - - \"GET /health HTTP/1.1\" 200 2 \"-\" \"kube-probe/1.29\"",
        "<165>1 2026-01-12T10:00:08Z ap-17 hostapd - - - wlan0: STA 3c:22:fb:01:02:03 IEEE 802.11: associated",
        "<187>Jan 12 10:00:09 sw-acc-114 %SYS-3-CPUHOG: Task is running for (2004)msecs, more than (2000)msecs",
        "<134>Jan 12 10:00:10 lb01 haproxy[77]: 10.9.8.7:41234 [12/Jan/2026:10:00:10.001] fe be/srv1 0/0/1/2/3 200 512",
    ];
    let mut out = Vec::with_capacity(100);
    for i in 0..90 {
        out.push(background[i % background.len()].to_string());
    }
    for k in 0..10 {
        let target = (n * (2 * k + 1)) / 20;
        let line = match rule(target).pattern_type {
            PatternType::Keyword => format!(
                "<187>Jan 12 10:01:{k:02} sw-{k} alert: {}{}x0 detected on port 7",
                WORDS[target % WORDS.len()],
                target
            ),
            _ => match target % 3 {
                0 => format!("<187>Jan 12 10:01:{k:02} sw-{k}: interface Gi1/0/{k} down{target}"),
                1 => format!(
                    "<187>Jan 12 10:01:{k:02} sw-{k}: %{}{target}-3-UPDOWN_X: changed",
                    FACILITIES[target % FACILITIES.len()]
                ),
                _ => format!(
                    "<187>Jan 12 10:01:{k:02} r{k}: neighbor 192.0.2.{k} Gi0/1 state{target} idle"
                ),
            },
        };
        out.push(line);
    }
    out
}

fn input(raw: &str) -> MatchInput<'_> {
    MatchInput {
        kind: MessageKind::Syslog,
        source: std::net::IpAddr::from([192, 0, 2, 1]),
        raw,
        message: "",
        program: "",
        hostname: "",
        oid: "",
        trap_type: "",
    }
}

fn bench_eval(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules_eval");
    for n in [10, 100, 1_000, 10_000] {
        let set = rule_set(n);
        let msgs = messages(n);
        let hits = msgs
            .iter()
            .filter(|m| set.eval(&input(m)).is_some())
            .count();
        assert_eq!(hits, 10, "{n} rules: the matching lines must hit");
        let mut scratch = Scratch::default();
        group.throughput(Throughput::Elements(msgs.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let mut hits = 0usize;
                for m in &msgs {
                    hits += usize::from(set.eval_with(&input(m), &mut scratch).is_some());
                }
                black_box(hits)
            })
        });
    }
    group.finish();
}

fn bench_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules_compile");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let rules: Vec<Rule> = (0..n).map(rule).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| black_box(RuleSet::from_rules(rules.clone()).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_eval, bench_compile);
criterion_main!(benches);
