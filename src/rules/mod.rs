//! Alert rules: alert_rules.yaml → one compiled matcher; the first enabled rule that matches wins.
//!
//! The flow follows the files: [`syntax`] turns the YAML into [`Rule`]s (every error names the
//! file, the line and the field), [`compile`] builds one matcher over all enabled rules, and
//! [`eval`] runs it.
//!
//! Semantics (the seed's, kept): every rule looks at `MatchInput::raw` unless it names another
//! `field`, case-insensitively. `regex` searches anywhere; `keyword` matches when any keyword is a
//! substring; `exact` matches when the whole field equals the pattern. The enabled rule that comes
//! first in the file among all that match wins; no match means the message is stored. `types` and
//! `sources` narrow a rule to some message kinds or source networks.
//!
//! Case-insensitivity: keywords and exact patterns compare `str::to_lowercase` of both sides;
//! regexes use the regex crate's Unicode simple case folding (`(?i)`). Regexes follow the regex
//! crate's syntax: no look-around and no back-references (the seed's Python `re` had them), and
//! such a pattern is rejected at load with its line.

mod compile;
mod eval;
mod syntax;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::model::MessageKind;

pub use eval::Scratch;

/// What a matched rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Store,
    Webhook,
    Discard,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Store => "store",
            Action::Webhook => "webhook",
            Action::Discard => "discard",
        }
    }
}

/// How a rule's pattern is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatternType {
    /// `pattern` is a regex searched anywhere in the field.
    Regex,
    /// Any of `keywords` occurs in the field.
    Keyword,
    /// The whole field equals `pattern`.
    Exact,
}

impl PatternType {
    pub fn as_str(self) -> &'static str {
        match self {
            PatternType::Regex => "regex",
            PatternType::Keyword => "keyword",
            PatternType::Exact => "exact",
        }
    }
}

/// Which part of a message a rule looks at. Fields a message kind lacks are empty strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The raw datagram text (`messages.raw_message`), as the seed did.
    #[default]
    Raw,
    Message,
    Program,
    Hostname,
    Oid,
    TrapType,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Raw,
        Field::Message,
        Field::Program,
        Field::Hostname,
        Field::Oid,
        Field::TrapType,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Raw => "raw",
            Field::Message => "message",
            Field::Program => "program",
            Field::Hostname => "hostname",
            Field::Oid => "oid",
            Field::TrapType => "trap_type",
        }
    }

    fn get<'a>(self, input: &MatchInput<'a>) -> &'a str {
        match self {
            Field::Raw => input.raw,
            Field::Message => input.message,
            Field::Program => input.program,
            Field::Hostname => input.hostname,
            Field::Oid => input.oid,
            Field::TrapType => input.trap_type,
        }
    }
}

/// An address block from `sources`: `10.0.0.0/8`, `2001:db8::/32`, or a plain address (a /32 or
/// /128). Host bits below the prefix are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr` or `addr/prefix`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`{text}`: prefix length must be 0..={max}")),
            },
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the block. An IPv4-mapped IPv6 source (`::ffff:10.0.0.1`, what a
    /// dual-stack socket reports) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    (a ^ b) & mask == 0
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One rule as written in the file, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub name: String,
    /// Free text stored with the message; "info" when not given.
    pub severity: String,
    pub action: Action,
    pub pattern_type: PatternType,
    /// The regex or exact text; empty for keyword rules.
    pub pattern: String,
    /// The keywords of a keyword rule, as written; empty otherwise.
    pub keywords: Vec<String>,
    pub enabled: bool,
    pub field: Field,
    /// Message kinds the rule applies to; empty means all.
    pub types: Vec<MessageKind>,
    /// Source networks the rule applies to; empty means all.
    pub sources: Vec<Cidr>,
    /// Name of a webhook target, carried for the output stage.
    pub webhook: Option<String>,
    /// 1-based line of the rule's `- ` item in its file (0 when unknown).
    pub line: usize,
}

impl Rule {
    /// Whether the `types` and `sources` filters let this message through.
    pub fn applies_to(&self, input: &MatchInput<'_>) -> bool {
        (self.types.is_empty() || self.types.contains(&input.kind))
            && (self.sources.is_empty() || self.sources.iter().any(|c| c.contains(input.source)))
    }
}

/// The fields a rule can look at.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput<'a> {
    pub kind: MessageKind,
    pub source: IpAddr,
    /// messages.raw_message: what the seed matches against.
    pub raw: &'a str,
    pub message: &'a str,
    pub program: &'a str,
    pub hostname: &'a str,
    pub oid: &'a str,
    pub trap_type: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        path: String,
        line: usize,
        field: String,
        message: String,
    },
}

/// A compiled rule set. Cheap to share behind an `Arc`; swapped whole on reload.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    matcher: compile::Matcher,
}

impl RuleSet {
    /// No rules: everything is stored unmatched.
    pub fn empty() -> RuleSet {
        RuleSet::default()
    }

    /// Read and compile a rules file.
    pub fn load(path: &Path) -> Result<RuleSet, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        RuleSet::from_yaml(&text, &path.display().to_string())
    }

    /// Compile rules from YAML text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<RuleSet, RulesError> {
        let parsed = syntax::parse(text, origin)?;
        let matcher = compile::Matcher::build(&parsed.rules).map_err(|e| RulesError::Invalid {
            path: origin.to_string(),
            line: parsed.locator.field(e.rule, e.key),
            field: format!("rules[{}].{}", e.rule, e.key),
            message: e.message,
        })?;
        Ok(RuleSet {
            rules: parsed.rules,
            matcher,
        })
    }

    /// Compile rules already in memory (tests, benchmarks, generated sets). Errors carry the
    /// rule's `line` field, which is 0 for rules not read from a file.
    pub fn from_rules(rules: Vec<Rule>) -> Result<RuleSet, RulesError> {
        syntax::check_rules(&rules)?;
        let matcher = compile::Matcher::build(&rules).map_err(|e| RulesError::Invalid {
            path: "<rules>".to_string(),
            line: rules.get(e.rule).map_or(0, |r| r.line),
            field: format!("rules[{}].{}", e.rule, e.key),
            message: e.message,
        })?;
        Ok(RuleSet { rules, matcher })
    }

    /// The first enabled rule that matches, if any.
    pub fn eval(&self, input: &MatchInput<'_>) -> Option<&Rule> {
        eval::with_thread_scratch(|scratch| self.eval_with(input, scratch))
    }

    /// [`eval`](Self::eval) with caller-owned scratch space: no allocation once it has grown.
    pub fn eval_with(&self, input: &MatchInput<'_>, scratch: &mut Scratch) -> Option<&Rule> {
        let index = self.matcher.first_match(&self.rules, input, scratch)?;
        self.rules.get(index)
    }

    /// The rule that decides `input` (for `mutt rules test`); the same answer as `eval`.
    pub fn explain(&self, input: &MatchInput<'_>) -> Option<&Rule> {
        self.eval(input)
    }

    /// Every rule in file order, enabled or not.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// One line for logs: "12 rules (11 enabled): 3 regex, 8 keyword, 1 exact; actions: ...".
    pub fn summary(&self) -> String {
        let enabled: Vec<&Rule> = self.rules.iter().filter(|r| r.enabled).collect();
        let count_type = |t| enabled.iter().filter(|r| r.pattern_type == t).count();
        let count_action = |a| enabled.iter().filter(|r| r.action == a).count();
        format!(
            "{} rules ({} enabled): {} regex, {} keyword, {} exact; actions: {} store, {} webhook, \
             {} discard; {}",
            self.rules.len(),
            enabled.len(),
            count_type(PatternType::Regex),
            count_type(PatternType::Keyword),
            count_type(PatternType::Exact),
            count_action(Action::Store),
            count_action(Action::Webhook),
            count_action(Action::Discard),
            self.matcher.describe(),
        )
    }
}

#[cfg(test)]
mod tests;
