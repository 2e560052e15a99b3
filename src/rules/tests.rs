//! Behaviour of a whole rule set: the seed file, semantics, filters, error lines, and a model test
//! against a rule-by-rule evaluator.

use std::net::IpAddr;

use proptest::prelude::*;
use regex::RegexBuilder;

use super::*;

const SEED: &str = include_str!("../../config/alert_rules.yaml");

fn syslog(raw: &str) -> MatchInput<'_> {
    MatchInput {
        kind: MessageKind::Syslog,
        source: "192.0.2.1".parse().unwrap(),
        raw,
        message: "",
        program: "",
        hostname: "",
        oid: "",
        trap_type: "",
    }
}

fn set(yaml: &str) -> RuleSet {
    RuleSet::from_yaml(yaml, "test.yaml").unwrap()
}

fn hit<'a>(rules: &'a RuleSet, input: &MatchInput<'_>) -> Option<&'a str> {
    rules.eval(input).map(|r| r.id.as_str())
}

fn error(yaml: &str) -> String {
    match RuleSet::from_yaml(yaml, "r.yaml") {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_seed_file_loads_with_its_three_rules() {
    let rules = RuleSet::from_yaml(SEED, "config/alert_rules.yaml").unwrap();
    let ids: Vec<&str> = rules.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["rule_001", "rule_002", "rule_003"]);
    let r = &rules.rules()[1];
    assert_eq!(r.name, "Interface Down");
    assert_eq!(r.severity, "warning");
    assert_eq!(r.action, Action::Webhook);
    assert_eq!(r.keywords, ["down", "unreachable"]);
    assert_eq!((r.enabled, r.field, r.line), (true, Field::Raw, 25));
    assert_eq!(rules.rules()[2].action, Action::Store);
}

#[test]
fn the_seed_rules_match_as_the_seed_did() {
    let rules = set(SEED);
    let cases = [
        ("<2>sensor: Temperature is CRITICAL", Some("rule_001")),
        ("<3>link Gi0/1 is DOWN", Some("rule_002")),
        ("host unreachable", Some("rule_002")),
        ("Low memory on slot 2", Some("rule_003")),
        ("memory is low", Some("rule_003")),
        ("temperature normal", None),
        ("", None),
    ];
    for (raw, want) in cases {
        assert_eq!(hit(&rules, &syslog(raw)), want, "{raw}");
    }
}

#[test]
fn exact_rules_match_the_whole_field_only() {
    let rules = set("rules:\n  - id: e\n    pattern_type: exact\n    pattern: Heartbeat OK\n");
    assert_eq!(hit(&rules, &syslog("heartbeat ok")), Some("e"));
    assert_eq!(hit(&rules, &syslog("HEARTBEAT OK")), Some("e"));
    assert_eq!(hit(&rules, &syslog("heartbeat ok!")), None);
    assert_eq!(hit(&rules, &syslog(" heartbeat ok")), None);
}

#[test]
fn the_first_rule_in_file_order_wins_over_a_later_match() {
    let yaml = "rules:
  - {id: late_kw_first, pattern_type: keyword, keywords: [zzz]}
  - {id: regex, pattern_type: regex, pattern: 'link \\S+ down'}
  - {id: keyword, pattern_type: keyword, keywords: [down]}
  - {id: exact, pattern_type: exact, pattern: 'link x down'}
";
    let rules = set(yaml);
    assert_eq!(hit(&rules, &syslog("link x down")), Some("regex"));
    assert_eq!(hit(&rules, &syslog("link down")), Some("keyword"));
    assert_eq!(
        hit(&rules, &syslog("zzz link x down")),
        Some("late_kw_first")
    );
}

#[test]
fn disabled_rules_are_skipped() {
    let yaml = "rules:
  - {id: off, pattern_type: keyword, keywords: [down], enabled: false}
  - {id: on, pattern_type: regex, pattern: 'down', action: discard}
";
    let rules = set(yaml);
    assert_eq!(hit(&rules, &syslog("down")), Some("on"));
    assert_eq!(rules.rules().len(), 2);
    assert_eq!(rules.eval(&syslog("down")).unwrap().action, Action::Discard);
}

#[test]
fn matching_ignores_case_including_non_ascii() {
    let yaml = "rules:
  - {id: kw, pattern_type: keyword, keywords: [ÉCHEC]}
  - {id: re, pattern_type: regex, pattern: 'straße'}
  - {id: ex, pattern_type: exact, pattern: 'ÜBER'}
  - {id: kelvin, pattern_type: regex, pattern: 'disk full'}
";
    let rules = set(yaml);
    assert_eq!(hit(&rules, &syslog("connexion en échec")), Some("kw"));
    assert_eq!(hit(&rules, &syslog("STRASSE")), None);
    assert_eq!(hit(&rules, &syslog("Straße 1")), Some("re"));
    assert_eq!(hit(&rules, &syslog("über")), Some("ex"));
    // U+017F and U+212A fold to s and k in the regex engine: the literal gate must let them by.
    assert_eq!(hit(&rules, &syslog("DIſK FULL")), Some("kelvin"));
    assert_eq!(hit(&rules, &syslog("DIS\u{212A} FULL")), Some("kelvin"));
}

#[test]
fn rules_can_look_at_another_field() {
    let yaml = "rules:
  - {id: prog, pattern_type: exact, pattern: sshd, field: program}
  - {id: oid, pattern_type: keyword, keywords: ['1.3.6.1.6.3.1.1.5.3'], field: oid}
  - {id: raw, pattern_type: regex, pattern: 'fail(ed|ure)'}
";
    let rules = set(yaml);
    let mut input = syslog("<4>sshd[1]: Failed password");
    assert_eq!(hit(&rules, &input), Some("raw"));
    input.program = "SSHD";
    assert_eq!(hit(&rules, &input), Some("prog"));
    input.program = "";
    input.oid = "1.3.6.1.6.3.1.1.5.3";
    assert_eq!(hit(&rules, &input), Some("oid"));
}

#[test]
fn types_and_sources_narrow_a_rule() {
    let yaml = "rules:
  - {id: traps, pattern_type: keyword, keywords: [down], types: [snmp_trap]}
  - {id: lab, pattern_type: keyword, keywords: [down], sources: ['10.0.0.0/8', '2001:db8::/32']}
  - {id: host, pattern_type: regex, pattern: down, sources: ['192.0.2.9']}
  - {id: rest, pattern_type: keyword, keywords: [down]}
";
    let rules = set(yaml);
    let mut input = syslog("link down");
    let at = |s: &str| -> IpAddr { s.parse().unwrap() };
    assert_eq!(hit(&rules, &input), Some("rest"));
    input.source = at("10.1.2.3");
    assert_eq!(hit(&rules, &input), Some("lab"));
    input.source = at("::ffff:10.1.2.3");
    assert_eq!(hit(&rules, &input), Some("lab"));
    input.source = at("2001:db8:1::1");
    assert_eq!(hit(&rules, &input), Some("lab"));
    input.source = at("192.0.2.9");
    assert_eq!(hit(&rules, &input), Some("host"));
    input.kind = MessageKind::SnmpTrap;
    assert_eq!(hit(&rules, &input), Some("traps"));
}

#[test]
fn extensions_are_carried_on_the_rule() {
    let yaml = "rules:
  - id: w
    pattern_type: keyword
    keywords: [x]
    action: webhook
    webhook: noc
    field: message
    types: [syslog]
    sources: ['10.0.0.0/8']
";
    let rules = set(yaml);
    let r = &rules.rules()[0];
    assert_eq!(r.webhook.as_deref(), Some("noc"));
    assert_eq!(r.field, Field::Message);
    assert_eq!(r.types, [MessageKind::Syslog]);
    assert_eq!(r.sources[0].to_string(), "10.0.0.0/8");
}

#[test]
fn empty_files_and_empty_lists_give_no_rules() {
    for yaml in ["", "# nothing\n", "rules:\n", "rules: []\n"] {
        let rules = set(yaml);
        assert!(rules.rules().is_empty());
        assert_eq!(hit(&rules, &syslog("anything")), None);
    }
    assert_eq!(hit(&RuleSet::empty(), &syslog("x")), None);
}

#[test]
fn a_bad_regex_names_file_line_and_field() {
    let e = error(include_str!("../../tests/data/rules/bad_regex.yaml"));
    assert!(
        e.starts_with("r.yaml:8: rules[1].pattern: regex parse error: "),
        "{e}"
    );
}

#[test]
fn a_bad_regex_in_a_disabled_rule_is_still_an_error() {
    let e =
        error("rules:\n  - id: a\n    enabled: false\n    pattern_type: regex\n    pattern: '('\n");
    assert!(
        e.starts_with("r.yaml:5: rules[0].pattern: regex parse error"),
        "{e}"
    );
}

#[test]
fn a_duplicate_id_names_the_second_use() {
    let e = error(include_str!("../../tests/data/rules/duplicate_id.yaml"));
    assert_eq!(
        e,
        "r.yaml:8: rules[2].id: duplicate id `a` (first used by rules[0])"
    );
}

#[test]
fn an_unknown_key_is_an_error_with_its_line() {
    let e = error(include_str!("../../tests/data/rules/unknown_key.yaml"));
    assert!(e.starts_with("r.yaml:7: rules[1]"), "{e}");
    assert!(e.contains("unknown field `patern`"), "{e}");
}

#[test]
fn an_empty_keyword_points_at_its_list_element() {
    let e = error(include_str!("../../tests/data/rules/empty_keyword.yaml"));
    assert_eq!(
        e,
        "r.yaml:6: rules[0].keywords[1]: empty keyword (it would match every message)"
    );
}

#[test]
fn a_bad_cidr_points_at_its_list_element() {
    let e = error(include_str!("../../tests/data/rules/bad_cidr.yaml"));
    assert_eq!(
        e,
        "r.yaml:7: rules[0].sources[1]: `10.0.0.0/33`: prefix length must be 0..=32"
    );
}

#[test]
fn a_missing_pattern_points_at_the_rule() {
    let e = error(include_str!("../../tests/data/rules/missing_pattern.yaml"));
    assert_eq!(
        e,
        "r.yaml:5: rules[1].pattern: exact rules need a non-empty `pattern`"
    );
}

#[test]
fn missing_and_empty_keyword_lists_are_errors() {
    let e = error("rules:\n  - id: a\n    pattern_type: keyword\n");
    assert_eq!(
        e,
        "r.yaml:2: rules[0].keywords: keyword rules need a non-empty `keywords` list"
    );
    let e = error("rules:\n  - id: a\n    pattern_type: keyword\n    keywords: []\n");
    assert!(e.starts_with("r.yaml:4: rules[0].keywords: "), "{e}");
}

#[test]
fn unknown_enum_values_are_errors_with_their_line() {
    let cases = [
        (
            "    pattern_type: glob\n",
            "pattern_type",
            "unknown variant `glob`",
        ),
        (
            "    pattern_type: regex\n    pattern: x\n    action: page\n",
            "action",
            "`page`",
        ),
        (
            "    pattern_type: regex\n    pattern: x\n    field: body\n",
            "field",
            "`body`",
        ),
        (
            "    pattern_type: regex\n    pattern: x\n    types: [mail]\n",
            "types",
            "`mail`",
        ),
    ];
    for (body, field, needle) in cases {
        let yaml = format!("rules:\n  - id: a\n{body}");
        let e = error(&yaml);
        let line = yaml
            .lines()
            .position(|l| l.contains(&format!("{field}:")))
            .unwrap()
            + 1;
        assert!(
            e.starts_with(&format!("r.yaml:{line}: rules[0].{field}")),
            "{e}"
        );
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn yaml_syntax_errors_carry_their_line() {
    let e = error("rules:\n  - id: a\n    keywords: [x\n    pattern_type: keyword\n");
    assert!(e.starts_with("r.yaml:"), "{e}");
    assert!(!e.starts_with("r.yaml:0:"), "{e}");
}

#[test]
fn summary_counts_types_and_actions() {
    let s = set(SEED).summary();
    assert!(s.starts_with("3 rules (3 enabled): 2 regex, 1 keyword, 0 exact; actions: 1 store, 2 webhook, 0 discard"), "{s}");
}

#[test]
fn from_rules_checks_what_the_file_parser_checks() {
    let mut rules = set(SEED).rules().to_vec();
    assert!(RuleSet::from_rules(rules.clone()).is_ok());
    rules[2].id = "rule_001".into();
    let e = RuleSet::from_rules(rules).unwrap_err().to_string();
    assert!(e.contains("duplicate id"), "{e}");
}

#[test]
fn eval_with_and_eval_agree() {
    let rules = set(SEED);
    let mut scratch = Scratch::default();
    for raw in ["temperature critical", "down", "nothing", "ÉCHEC"] {
        let a = rules.eval(&syslog(raw)).map(|r| &r.id);
        let b = rules.eval_with(&syslog(raw), &mut scratch).map(|r| &r.id);
        assert_eq!(a, b);
    }
}

/// The seed's semantics, one rule at a time.
fn naive<'a>(rules: &'a [Rule], input: &MatchInput<'_>) -> Option<&'a str> {
    rules
        .iter()
        .find(|r| r.enabled && r.applies_to(input) && naive_match(r, r.field.get(input)))
        .map(|r| r.id.as_str())
}

fn naive_match(rule: &Rule, text: &str) -> bool {
    let lower = text.to_lowercase();
    match rule.pattern_type {
        PatternType::Regex => RegexBuilder::new(&rule.pattern)
            .case_insensitive(true)
            .build()
            .unwrap()
            .is_match(text),
        PatternType::Keyword => rule
            .keywords
            .iter()
            .any(|k| lower.contains(&k.to_lowercase())),
        PatternType::Exact => lower == rule.pattern.to_lowercase(),
    }
}

const REGEXES: &[&str] = &[
    "abc",
    "ab+c",
    "^ab",
    "ba$",
    "a.*b",
    "(abc|bca)d?",
    "[a-c]{3}",
    "ſk",
    "disk",
    "xyz|abcd",
    "(?i)ABC",
    "a?",
    "éa+",
    r"\bab\b",
    "(ab)+ca",
    "kab|sab",
];
const WORDS: &[&str] = &["ab", "abc", "B", "cab", "é", "É", "k", "s", "ab c", "Σ"];

fn arb_rule() -> impl Strategy<Value = Rule> {
    let pattern = prop_oneof![
        prop::sample::select(REGEXES).prop_map(|p| (PatternType::Regex, p.to_string(), vec![])),
        prop::collection::vec(prop::sample::select(WORDS), 1..3).prop_map(|k| (
            PatternType::Keyword,
            String::new(),
            k.iter().map(|s| s.to_string()).collect()
        )),
        prop::sample::select(WORDS).prop_map(|p| (PatternType::Exact, p.to_string(), vec![])),
    ];
    let field = prop::sample::select(vec![Field::Raw, Field::Raw, Field::Message]);
    let types = prop::sample::select(vec![vec![], vec![], vec![MessageKind::SnmpTrap]]);
    let sources = prop::sample::select(vec!["", "", "10.0.0.0/8"]);
    (pattern, any::<u8>(), field, types, sources).prop_map(
        |((t, p, k), bits, field, types, src)| Rule {
            id: String::new(),
            name: String::new(),
            severity: "info".into(),
            action: Action::Store,
            pattern_type: t,
            pattern: p,
            keywords: k,
            enabled: bits % 5 != 0,
            field,
            types,
            sources: if src.is_empty() {
                vec![]
            } else {
                vec![Cidr::parse(src).unwrap()]
            },
            webhook: None,
            line: 0,
        },
    )
}

fn arb_text() -> impl Strategy<Value = String> {
    let tokens = vec![
        "a",
        "b",
        "c",
        "A",
        "B",
        "C",
        "d",
        " ",
        "é",
        "É",
        "k",
        "K",
        "\u{212A}",
        "ſ",
        "S",
        "x",
        "y",
        "z",
        "Σ",
        "ab",
        "abc",
        "ſab",
        "\u{212A}AB",
        "ba",
        "cab",
        "ÉA",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..10).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn eval_agrees_with_a_rule_by_rule_evaluator(
        mut rules in prop::collection::vec(arb_rule(), 0..10),
        inputs in prop::collection::vec((arb_text(), arb_text(), any::<bool>(), any::<bool>()), 1..8),
    ) {
        for (i, r) in rules.iter_mut().enumerate() {
            r.id = format!("r{i}");
        }
        let set = RuleSet::from_rules(rules.clone()).unwrap();
        for (raw, message, trap, lab) in &inputs {
            let input = MatchInput {
                kind: if *trap { MessageKind::SnmpTrap } else { MessageKind::Syslog },
                source: if *lab { "10.9.8.7".parse().unwrap() } else { "192.0.2.1".parse().unwrap() },
                raw,
                message,
                program: "",
                hostname: "",
                oid: "",
                trap_type: "",
            };
            prop_assert_eq!(set.eval(&input).map(|r| r.id.as_str()), naive(&rules, &input), "raw={:?} message={:?}", raw, message);
        }
    }
}
