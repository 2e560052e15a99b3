//! All enabled rules → one matcher per field used: an Aho-Corasick automaton, regexes gated by a
//! required literal, a RegexSet for the rest, and a hash of exact patterns.
//!
//! Why the regexes are gated: a `RegexSet` over thousands of patterns must find *every* pattern
//! that matches, which defeats the lazy DFA's early exit and thrashes its cache, so its cost grows
//! with the rule count. Instead each regex's HIR is searched for literals that any match must
//! contain ("interface \S+ (down|flap)" requires "interface " and one of {"down", "flap"}, and
//! regex-syntax's extractor adds what every match starts or ends with); the
//! literal most specific to that rule within the set goes into the same Aho-Corasick automaton as
//! the keywords, and a regex runs only when its literal was seen. Regexes with no usable literal
//! (shorter than [`MIN_LITERAL`], or inline flags that turn letters into classes) share a
//! `RegexSet`, which answers the common "nothing matches" with one `is_match` scan.
//!
//! The gate is exact, not a heuristic: the automaton matches ASCII case-insensitively and runs on
//! the lowercased text when the text is not ASCII. The one character whose simple case fold is an
//! ASCII letter but whose lowercase is not, `ſ` (U+017F, folds to `s`), sends all gated regexes
//! to the slow path for that message.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use regex_syntax::hir::{Hir, HirKind};

use super::{Field, PatternType, Rule};

/// Shorter required literals match too often to be worth a gate.
const MIN_LITERAL: usize = 3;
/// An alternation with more branches than this is not turned into a literal set.
const MAX_ALTERNATES: usize = 16;
/// Keyword and literal bytes up to which the automaton is a DFA (about one state a byte, a few
/// hundred bytes a state).
const DFA_PATTERN_BYTES: usize = 32 * 1024;

/// A rule that did not compile: which rule, which key, why.
pub(super) struct CompileError {
    pub rule: usize,
    pub key: &'static str,
    pub message: String,
}

/// What an automaton pattern stands for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    /// A keyword of this rule.
    Keyword(usize),
    /// A literal required by this gated regex (index into `FieldMatcher::gated`).
    Literal(usize),
}

#[derive(Debug)]
pub(super) struct Gated {
    pub rule: usize,
    pub regex: Regex,
}

/// Everything that looks at one field.
#[derive(Debug)]
pub(super) struct FieldMatcher {
    pub field: Field,
    pub automaton: Option<AhoCorasick>,
    pub targets: Vec<Target>,
    /// In rule order, so a sorted list of indexes is a list in rule order.
    pub gated: Vec<Gated>,
    pub ungated: Option<RegexSet>,
    /// Rule of each `ungated` pattern, ascending.
    pub ungated_rules: Vec<usize>,
    /// Lowercased pattern → first rule with it.
    /// Lowercased pattern → every exact rule with it, in file order (a `types` or `sources` filter
    /// can rule out the first).
    pub exact: HashMap<String, Vec<usize>>,
}

/// The compiled form of a rule set.
#[derive(Debug, Default)]
pub(super) struct Matcher {
    pub fields: Vec<FieldMatcher>,
    /// Rules with a `types` or `sources` filter (indexed by rule).
    pub filtered: Vec<bool>,
}

impl Matcher {
    pub(super) fn build(rules: &[Rule]) -> Result<Matcher, CompileError> {
        let mut fields = Vec::new();
        for field in Field::ALL {
            let used: Vec<(usize, &Rule)> = rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.enabled && r.field == field)
                .collect();
            if !used.is_empty() {
                fields.push(FieldMatcher::build(field, &used)?);
            }
        }
        // Disabled rules are not compiled, but a bad regex in one is still an error: it would
        // fail the day someone enables it.
        for (i, r) in rules.iter().enumerate() {
            if !r.enabled && r.pattern_type == PatternType::Regex {
                compile_regex(i, &r.pattern)?;
            }
        }
        let filtered = rules
            .iter()
            .map(|r| !r.types.is_empty() || !r.sources.is_empty())
            .collect();
        Ok(Matcher { fields, filtered })
    }

    /// For `RuleSet::summary`: how the rules were compiled.
    pub(super) fn describe(&self) -> String {
        let gated: usize = self.fields.iter().map(|f| f.gated.len()).sum();
        let ungated: usize = self.fields.iter().map(|f| f.ungated_rules.len()).sum();
        let patterns: usize = self.fields.iter().map(|f| f.targets.len()).sum();
        let names: Vec<&str> = self.fields.iter().map(|f| f.field.as_str()).collect();
        let bytes: usize = self
            .fields
            .iter()
            .filter_map(|f| f.automaton.as_ref())
            .map(AhoCorasick::memory_usage)
            .sum();
        format!(
            "fields [{}], {patterns} automaton patterns ({} KiB), {gated} literal-gated and \
             {ungated} ungated regexes",
            names.join(", "),
            bytes.div_ceil(1024)
        )
    }
}

impl FieldMatcher {
    fn build(field: Field, rules: &[(usize, &Rule)]) -> Result<FieldMatcher, CompileError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut targets = Vec::new();
        let mut exact = HashMap::new();
        let mut regexes = Vec::new();
        for &(i, rule) in rules {
            match rule.pattern_type {
                PatternType::Keyword => {
                    for k in &rule.keywords {
                        patterns.push(k.to_lowercase());
                        targets.push(Target::Keyword(i));
                    }
                }
                PatternType::Exact => {
                    exact
                        .entry(rule.pattern.to_lowercase())
                        .or_insert_with(Vec::new)
                        .push(i);
                }
                PatternType::Regex => regexes.push((i, compile_regex(i, &rule.pattern)?)),
            }
        }
        let options: Vec<Vec<Vec<String>>> = regexes
            .iter()
            .map(|(_, re)| literal_options(re.as_str()))
            .collect();
        let chosen = choose_literals(&options);
        let mut gated = Vec::new();
        let mut ungated = Vec::new();
        let mut ungated_rules = Vec::new();
        for ((i, regex), literals) in regexes.into_iter().zip(chosen) {
            match literals {
                Some(set) => {
                    for lit in set {
                        patterns.push(lit);
                        targets.push(Target::Literal(gated.len()));
                    }
                    gated.push(Gated { rule: i, regex });
                }
                None => {
                    ungated.push(regex.as_str().to_string());
                    ungated_rules.push(i);
                }
            }
        }
        let automaton = build_automaton(&patterns)?;
        let ungated = build_set(&ungated, &ungated_rules)?;
        Ok(FieldMatcher {
            field,
            automaton,
            targets,
            gated,
            ungated,
            ungated_rules,
            exact,
        })
    }
}

fn compile_regex(rule: usize, pattern: &str) -> Result<Regex, CompileError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| CompileError {
            rule,
            key: "pattern",
            message: format!("regex parse error: {}", one_line(&e.to_string())),
        })
}

/// The regex crate's errors draw a caret diagram over several lines; keep the message line.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.iter().find_map(|l| l.strip_prefix("error: ")) {
        Some(msg) => format!(
            "{} (in `{}`)",
            msg,
            lines.get(1).copied().unwrap_or_default()
        ),
        None => lines.join(" "),
    }
}

fn build_automaton(patterns: &[String]) -> Result<Option<AhoCorasick>, CompileError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    // A DFA takes one table lookup a byte where the default (a contiguous NFA, for this many
    // patterns) follows failure links; its table grows with the patterns' bytes, so it is used up
    // to DFA_PATTERN_BYTES of them (docs/PERFORMANCE.md has both figures).
    let bytes: usize = patterns.iter().map(String::len).sum();
    let kind = (bytes <= DFA_PATTERN_BYTES).then_some(AhoCorasickKind::DFA);
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(kind)
        .build(patterns)
        .map(Some)
        .map_err(|e| CompileError {
            rule: 0,
            key: "keywords",
            message: format!("keyword automaton: {e}"),
        })
}

fn build_set(patterns: &[String], rules: &[usize]) -> Result<Option<RegexSet>, CompileError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    RegexSetBuilder::new(patterns)
        .case_insensitive(true)
        .build()
        .map(Some)
        .map_err(|e| CompileError {
            rule: rules.first().copied().unwrap_or(0),
            key: "pattern",
            message: format!("regex set: {}", one_line(&e.to_string())),
        })
}

/// Sets of lowercase ASCII literals such that every match of `pattern` contains at least one
/// literal of each set. Empty when nothing can be said.
pub(super) fn literal_options(pattern: &str) -> Vec<Vec<String>> {
    // Parsed case-sensitively so letters stay literals; the gate itself is case-insensitive.
    match regex_syntax::ParserBuilder::new().build().parse(pattern) {
        Ok(hir) => {
            let mut all = options(&hir);
            all.extend(affix_options(&hir));
            all
        }
        Err(_) => Vec::new(),
    }
}

/// The sets every match starts with (and ends with), as regex-syntax's literal extractor finds
/// them: these see across a concatenation where `options` sees its parts one by one, so
/// "interface \S+ (down|flap)7" ends with one of {"down7", "flap7"}, which few rules share,
/// where its parts give "interface " and {"down", "flap"}, which many do. Each literal stands
/// by its longest ASCII run, lowercased (the gate is ASCII case-insensitive).
fn affix_options(hir: &Hir) -> Vec<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .filter_map(|kind| {
            let seq = Extractor::new().kind(kind).extract(hir);
            let mut set = Vec::new();
            for literal in seq.literals()? {
                let run = ascii_runs(literal.as_bytes())
                    .into_iter()
                    .max_by_key(String::len)?;
                set.push(run);
            }
            set.sort();
            set.dedup();
            (!set.is_empty() && set.len() <= MAX_ALTERNATES).then_some(set)
        })
        .collect()
}

fn options(hir: &Hir) -> Vec<Vec<String>> {
    match hir.kind() {
        HirKind::Literal(lit) => ascii_runs(&lit.0).into_iter().map(|r| vec![r]).collect(),
        HirKind::Concat(subs) => subs.iter().flat_map(options).collect(),
        HirKind::Capture(c) => options(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => options(&r.sub),
        HirKind::Alternation(branches) => {
            let mut set: Vec<String> = Vec::new();
            for b in branches {
                let Some(best) = options(b).into_iter().max_by_key(|s| shortest(s)) else {
                    return Vec::new();
                };
                set.extend(best);
            }
            set.sort();
            set.dedup();
            if set.len() > MAX_ALTERNATES {
                return Vec::new();
            }
            vec![set]
        }
        _ => Vec::new(),
    }
}

/// Maximal runs of ASCII bytes in a literal, lowercased, at least `MIN_LITERAL` long.
fn ascii_runs(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| !b.is_ascii())
        .filter(|run| run.len() >= MIN_LITERAL)
        .map(|run| String::from_utf8_lossy(run).to_ascii_lowercase())
        .collect()
}

fn shortest(set: &[String]) -> usize {
    set.iter().map(String::len).min().unwrap_or(0)
}

/// For each regex, the option whose literals the fewest other regexes of the set also use
/// (longer first on ties): "interface " is required by many generated rules, the rule's own
/// "down17" by one. `None` for a regex with no usable option.
fn choose_literals(options: &[Vec<Vec<String>>]) -> Vec<Option<Vec<String>>> {
    let mut users: HashMap<&str, usize> = HashMap::new();
    for regex_options in options {
        let mut lits: Vec<&str> = regex_options.iter().flatten().map(String::as_str).collect();
        lits.sort_unstable();
        lits.dedup();
        for lit in lits {
            *users.entry(lit).or_default() += 1;
        }
    }
    let cost = |set: &Vec<String>| {
        let shared = set
            .iter()
            .map(|l| users.get(l.as_str()).copied().unwrap_or(0))
            .max();
        (shared.unwrap_or(0), usize::MAX - shortest(set), set.len())
    };
    options
        .iter()
        .map(|regex_options| {
            regex_options
                .iter()
                .filter(|s| shortest(s) >= MIN_LITERAL)
                .min_by_key(|s| cost(s))
                .cloned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_options_find_required_literals() {
        let opts = literal_options(r"interface \S+ (down|flap)");
        assert!(opts.contains(&vec!["interface ".to_string()]));
        assert!(opts.contains(&vec!["down".to_string(), "flap".to_string()]));
        assert!(literal_options("memory.*low|low.*memory").contains(&vec!["memory".to_string()]));
    }

    #[test]
    fn optional_parts_and_classes_give_no_literal() {
        assert!(literal_options("(abc)?x").is_empty());
        assert!(literal_options("abc|.*").is_empty());
        assert!(literal_options("ab").is_empty());
    }

    #[test]
    fn prefixes_and_suffixes_see_across_a_concatenation() {
        let opts = literal_options(r"interface \S+ (down|flap)7");
        assert!(opts.contains(&vec![" down7".to_string(), " flap7".to_string()]));
        // Case variants are one literal to a case-insensitive gate.
        assert!(literal_options("(?i)abc").contains(&vec!["abc".to_string()]));
        // A variant whose ASCII run is too short (the long s folds to s) leaves no gate.
        assert!(!literal_options("(?i)sys")
            .iter()
            .any(|o| o.contains(&"sys".to_string())));
        let rules: Vec<_> = (0..300)
            .map(|i| literal_options(&format!(r"interface \S+ (down|flap){i}")))
            .collect();
        let chosen = choose_literals(&rules);
        assert_eq!(
            chosen[17],
            Some(vec![" down17".to_string(), " flap17".to_string()])
        );
    }

    #[test]
    fn the_rarest_literal_is_chosen() {
        let opts = [
            literal_options(r"interface \S+ (down1|flap1)"),
            literal_options(r"interface \S+ (down2|flap2)"),
        ];
        let chosen = choose_literals(&opts);
        assert_eq!(
            chosen[0],
            Some(vec![" down1".to_string(), " flap1".to_string()])
        );
    }

    #[test]
    fn regex_errors_fit_on_one_line() {
        let Err(e) = compile_regex(0, "a(b") else {
            panic!("a(b compiled");
        };
        assert!(!e.message.contains('\n'), "{}", e.message);
        assert!(
            e.message.starts_with("regex parse error: "),
            "{}",
            e.message
        );
    }
}
