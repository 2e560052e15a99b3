//! The YAML loaders: alert_rules.yaml (`RuleSet::from_yaml`), mutt_config.yaml
//! (`Config::from_yaml`) and snmpv3_credentials.yaml (`Credentials::from_yaml`); `load` reads the
//! file and calls these. The first byte picks the loader, the rest is the file text.
//!
//! Checks: no panic; errors carry a line inside the file; a loaded config answers its derived
//! settings; a compiled rule set picks, for every probe message, the same rule as evaluating its
//! rules one at a time in file order (the combined matcher and its literal prefilter against the
//! plain definition "the first enabled rule that matches wins").

#![no_main]

use std::net::IpAddr;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mutt::config::Config;
use mutt::decode::snmp::credentials::Credentials;
use mutt::model::MessageKind;
use mutt::rules::{MatchInput, RuleSet, RulesError};

fuzz_target!(|data: &[u8]| {
    let [which, text @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let lines = yaml_lines(text);
    match which % 3 {
        0 => rules(text, lines),
        1 => match Config::from_yaml(text, Path::new("mutt_config.yaml")) {
            Ok(cfg) => {
                let _ = cfg.wal_config(None);
                let _ = cfg.wal_max_size_mb();
                let _ = cfg.default_utc_offset_secs();
                let _ = cfg.source_utc_offsets();
                let _ = cfg.log_filter();
            }
            Err(e) => {
                if let Some(line) = e.line {
                    assert!(line <= lines + 1, "error on line {line} of {lines}: {e}");
                }
                let _ = e.to_string();
            }
        },
        _ => match Credentials::from_yaml(text, Path::new("snmpv3_credentials.yaml")) {
            Ok(c) => {
                let _ = c.len();
                let _ = c.max_id();
            }
            Err(e) => {
                if let Some(line) = e.line {
                    assert!(line <= lines + 1, "error on line {line} of {lines}: {e:?}");
                }
            }
        },
    }
});

fn rules(text: &str, lines: usize) {
    let set = match RuleSet::from_yaml(text, "alert_rules.yaml") {
        Ok(set) => set,
        Err(RulesError::Invalid { line, .. }) => {
            assert!(line <= lines + 1, "error on line {line} of {lines}");
            return;
        }
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = set.summary();
    let rules = set.rules();
    if rules.len() > 8 {
        return;
    }
    let singles: Vec<RuleSet> = rules
        .iter()
        .map(|r| {
            RuleSet::from_rules(vec![r.clone()])
                .expect("a rule that compiled in a set compiles alone")
        })
        .collect();
    // Probe texts: every pattern and keyword (so rules do match), mixed in case, plus a few lines.
    let mut probes: Vec<String> = vec![String::new(), "temperature critical".into()];
    for r in rules {
        probes.push(r.pattern.clone());
        probes.push(format!("x {} y", r.pattern.to_uppercase()));
        probes.extend(r.keywords.iter().cloned());
        probes.extend(
            r.keywords
                .iter()
                .map(|k| format!("<13>{} {}", k.to_uppercase(), k)),
        );
    }
    probes.truncate(24);
    let sources: [IpAddr; 2] = [[10, 1, 2, 3].into(), "2001:db8::1".parse().unwrap()];
    for (i, p) in probes.iter().enumerate() {
        let input = MatchInput {
            kind: if i % 2 == 0 {
                MessageKind::Syslog
            } else {
                MessageKind::SnmpTrap
            },
            source: sources[i % 2],
            raw: p,
            message: p,
            program: p,
            hostname: p,
            oid: p,
            trap_type: p,
        };
        let combined = set.eval(&input).map(|r| r.id.as_str());
        let one_by_one = rules
            .iter()
            .zip(&singles)
            .find(|(_, s)| s.eval(&input).is_some())
            .map(|(r, _)| r.id.as_str());
        assert_eq!(combined, one_by_one, "probe {p:?}");
    }
}

/// Lines as the YAML parser counts them: CR LF, LF, a lone CR and the Unicode breaks NEL, LS and
/// PS each end one (`str::lines` knows only LF).
fn yaml_lines(text: &str) -> usize {
    let mut n = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                n += 1;
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => n += 1,
            _ => {}
        }
    }
    n
}
