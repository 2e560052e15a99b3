//! alert_rules.yaml → [`Rule`]s, with every error pinned to a file line and a field path.
//!
//! Structural errors (bad YAML, unknown keys, wrong types, unknown enum values) come from the YAML
//! deserializer, which knows the line, wrapped in `serde_path_to_error` for the field path. The
//! deserializer keeps no positions for values that parse fine, so semantic errors (a missing
//! pattern, a duplicate id, a bad CIDR, a regex that fails to compile) find their line with
//! [`Locator`], a light scan of the text for the N-th `- ` item under `rules:` and its keys. The
//! scan understands block style, the style the file is written in; for flow style
//! (`rules: [{...}]`) it falls back to the line of `rules:`.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Action, Cidr, Field, PatternType, Rule, RulesError};
use crate::model::MessageKind;

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Option<Vec<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    name: Option<String>,
    pattern_type: PatternType,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    keywords: Option<Vec<String>>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    action: Action,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    field: Field,
    #[serde(default)]
    types: Vec<KindName>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    webhook: Option<String>,
}

/// `types` entries: the `messages.type` values.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum KindName {
    Syslog,
    SnmpTrap,
}

impl KindName {
    fn kind(self) -> MessageKind {
        match self {
            KindName::Syslog => MessageKind::Syslog,
            KindName::SnmpTrap => MessageKind::SnmpTrap,
        }
    }
}

/// Rules read from a file and the means to point back into it.
pub(super) struct Parsed {
    pub rules: Vec<Rule>,
    pub locator: Locator,
}

pub(super) fn parse(text: &str, origin: &str) -> Result<Parsed, RulesError> {
    let locator = Locator::new(text);
    let raw = deserialize(text, origin)?;
    let invalid = |rule: usize, key: &str, element: Option<usize>, message: String| {
        let (line, field) = match element {
            Some(j) => (
                locator.element(rule, key, j),
                format!("rules[{rule}].{key}[{j}]"),
            ),
            None => (locator.field(rule, key), format!("rules[{rule}].{key}")),
        };
        RulesError::Invalid {
            path: origin.to_string(),
            line,
            field,
            message,
        }
    };
    let mut rules = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let rule =
            to_rule(r, locator.rule(i)).map_err(|e| invalid(i, e.key, e.element, e.message))?;
        rules.push(rule);
    }
    duplicate_id(&rules).map_or(Ok(()), |(i, first)| {
        let message = format!(
            "duplicate id `{}` (first used by rules[{first}])",
            rules[i].id
        );
        Err(invalid(i, "id", None, message))
    })?;
    Ok(Parsed { rules, locator })
}

/// The checks `parse` makes, for rules built in code. Lines are the rules' own `line` fields.
pub(super) fn check_rules(rules: &[Rule]) -> Result<(), RulesError> {
    let invalid = |i: usize, key: &str, message: String| RulesError::Invalid {
        path: "<rules>".to_string(),
        line: rules.get(i).map_or(0, |r| r.line),
        field: format!("rules[{i}].{key}"),
        message,
    };
    for (i, rule) in rules.iter().enumerate() {
        check_pattern(rule.pattern_type, &rule.pattern, &rule.keywords)
            .map_err(|e| invalid(i, e.key, e.message))?;
    }
    match duplicate_id(rules) {
        Some((i, first)) => {
            let message = format!(
                "duplicate id `{}` (first used by rules[{first}])",
                rules[i].id
            );
            Err(invalid(i, "id", message))
        }
        None => Ok(()),
    }
}

fn deserialize(text: &str, origin: &str) -> Result<Vec<RawRule>, RulesError> {
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Vec::new());
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, RulesFile>(de) {
        Ok(file) => Ok(file.rules.unwrap_or_default()),
        Err(e) => {
            let field = match e.path().to_string() {
                p if p == "." || p.is_empty() => "rules".to_string(),
                p => p,
            };
            let inner = e.into_inner();
            let line = inner.location().map_or(0, |l| l.line());
            Err(RulesError::Invalid {
                path: origin.to_string(),
                line,
                field,
                message: bare_message(&inner.to_string()),
            })
        }
    }
}

/// The YAML error's text without the path and position we report in our own fields:
/// "rules[1]: unknown field `x`, expected ... at line 3 column 5" → "unknown field `x`, ...".
fn bare_message(text: &str) -> String {
    let text = match text.rfind(" at line ") {
        Some(at) if text[at..].contains(" column ") => &text[..at],
        _ => text,
    };
    match text.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && (path.starts_with("rules") || path == ".") => {
            rest.to_string()
        }
        _ => text.to_string(),
    }
}

/// A semantic problem with one rule, before it is given a line.
struct FieldError {
    key: &'static str,
    element: Option<usize>,
    message: String,
}

impl FieldError {
    fn new(key: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            key,
            element: None,
            message: message.into(),
        }
    }
}

fn to_rule(r: RawRule, line: usize) -> Result<Rule, FieldError> {
    if r.id.trim().is_empty() {
        return Err(FieldError::new("id", "must not be empty"));
    }
    let keywords = r.keywords.unwrap_or_default();
    let pattern = match (r.pattern_type, r.pattern) {
        (PatternType::Keyword, Some(_)) => {
            return Err(FieldError::new(
                "pattern",
                "keyword rules take `keywords`, not `pattern`",
            ))
        }
        (_, p) => p,
    };
    if r.pattern_type != PatternType::Keyword && !keywords.is_empty() {
        return Err(FieldError::new(
            "keywords",
            "only keyword rules take `keywords`",
        ));
    }
    let pattern = pattern.unwrap_or_default();
    check_pattern(r.pattern_type, &pattern, &keywords)?;
    let mut sources = Vec::with_capacity(r.sources.len());
    for (j, s) in r.sources.iter().enumerate() {
        let cidr = Cidr::parse(s).map_err(|message| FieldError {
            key: "sources",
            element: Some(j),
            message,
        })?;
        sources.push(cidr);
    }
    if let Some(w) = &r.webhook {
        if w.trim().is_empty() {
            return Err(FieldError::new("webhook", "must name a webhook target"));
        }
    }
    Ok(Rule {
        name: r.name.unwrap_or_else(|| r.id.clone()),
        id: r.id,
        severity: r.severity.unwrap_or_else(|| "info".to_string()),
        action: r.action,
        pattern_type: r.pattern_type,
        pattern,
        keywords,
        enabled: r.enabled.unwrap_or(true),
        field: r.field,
        types: r.types.iter().map(|k| k.kind()).collect(),
        sources,
        webhook: r.webhook,
        line,
    })
}

/// The pattern checks that need no compiling: what each type requires.
fn check_pattern(kind: PatternType, pattern: &str, keywords: &[String]) -> Result<(), FieldError> {
    match kind {
        PatternType::Regex | PatternType::Exact if pattern.is_empty() => Err(FieldError::new(
            "pattern",
            format!("{} rules need a non-empty `pattern`", kind.as_str()),
        )),
        PatternType::Keyword if keywords.is_empty() => Err(FieldError::new(
            "keywords",
            "keyword rules need a non-empty `keywords` list",
        )),
        PatternType::Keyword => match keywords.iter().position(|k| k.is_empty()) {
            Some(j) => Err(FieldError {
                key: "keywords",
                element: Some(j),
                message: "empty keyword (it would match every message)".to_string(),
            }),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The first rule whose id was used before, and the index of that earlier rule.
fn duplicate_id(rules: &[Rule]) -> Option<(usize, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        if let Some(&first) = seen.get(rule.id.as_str()) {
            return Some((i, first));
        }
        seen.insert(&rule.id, i);
    }
    None
}

/// Where each rule and each of its keys starts in the text (1-based lines).
#[derive(Debug, Default)]
pub(super) struct Locator {
    rules_line: usize,
    items: Vec<Item>,
}

#[derive(Debug)]
struct Item {
    line: usize,
    /// (key, line of `key:`, lines of its block-list elements)
    keys: Vec<(String, usize, Vec<usize>)>,
}

impl Locator {
    pub(super) fn new(text: &str) -> Locator {
        let mut loc = Locator::default();
        let mut in_rules = false;
        let mut item_indent: Option<usize> = None;
        let mut key_indent: Option<usize> = None;
        for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l)) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if !in_rules {
                if indent == 0 && key_of(trimmed) == Some("rules") {
                    in_rules = true;
                    loc.rules_line = n;
                }
                continue;
            }
            let dash = trimmed == "-" || trimmed.starts_with("- ");
            if indent == 0 && !dash {
                break; // the next top-level key ends the list
            }
            if dash && *item_indent.get_or_insert(indent) == indent {
                let rest = trimmed[1..].trim_start();
                key_indent = (!rest.is_empty()).then(|| line.len() - rest.len());
                let keys = key_of(rest).map(|k| (k.to_string(), n, Vec::new()));
                loc.items.push(Item {
                    line: n,
                    keys: keys.into_iter().collect(),
                });
                continue;
            }
            let Some(item) = loc.items.last_mut() else {
                continue;
            };
            if dash {
                if let Some(key) = item.keys.last_mut() {
                    key.2.push(n);
                }
            } else if *key_indent.get_or_insert(indent) == indent {
                if let Some(k) = key_of(trimmed) {
                    item.keys.push((k.to_string(), n, Vec::new()));
                }
            }
        }
        loc
    }

    /// The line of rule `i`'s `- ` item, else of `rules:`, else 1.
    pub(super) fn rule(&self, i: usize) -> usize {
        self.items
            .get(i)
            .map_or(self.rules_line.max(1), |it| it.line)
    }

    /// The line of rule `i`'s `key:`, else of the rule.
    pub(super) fn field(&self, i: usize, key: &str) -> usize {
        self.key(i, key).map_or(self.rule(i), |k| k.1)
    }

    /// The line of element `j` of rule `i`'s block list `key`, else of the key.
    pub(super) fn element(&self, i: usize, key: &str, j: usize) -> usize {
        self.key(i, key)
            .and_then(|k| k.2.get(j).copied())
            .unwrap_or_else(|| self.field(i, key))
    }

    fn key(&self, i: usize, key: &str) -> Option<&(String, usize, Vec<usize>)> {
        self.items.get(i)?.keys.iter().find(|k| k.0 == key)
    }
}

/// `name` from `name:` or `name: value` (also quoted `"name":`).
fn key_of(s: &str) -> Option<&str> {
    let (key, rest) = s.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# header
rules:
  - id: a
    keywords:
      - x
      # a comment
      - y
    pattern_type: keyword
  -
    id: b
    pattern: \"p: q\"
other: 1
";

    #[test]
    fn locator_finds_items_keys_and_list_elements() {
        let loc = Locator::new(TEXT);
        assert_eq!(loc.rule(0), 3);
        assert_eq!(loc.field(0, "id"), 3);
        assert_eq!(loc.element(0, "keywords", 1), 7);
        assert_eq!(loc.field(0, "pattern_type"), 8);
        assert_eq!(loc.rule(1), 9);
        assert_eq!(loc.field(1, "pattern"), 11);
    }

    #[test]
    fn locator_falls_back_to_the_rule_then_the_rules_key() {
        let loc = Locator::new(TEXT);
        assert_eq!(loc.field(1, "severity"), 9);
        assert_eq!(loc.rule(7), 2);
        assert_eq!(Locator::new("rules: [{id: a}]").rule(0), 1);
    }

    #[test]
    fn bare_message_drops_path_and_position() {
        let m = "rules[1]: unknown field `x`, expected `id` at line 3 column 5";
        assert_eq!(bare_message(m), "unknown field `x`, expected `id`");
        assert_eq!(bare_message("invalid type: map"), "invalid type: map");
    }
}
