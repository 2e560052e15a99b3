//! Alert rules: alert_rules.yaml → one compiled matcher; the first enabled rule that matches wins.
//!
//! STUB: the interface the pipeline programs against; the rules engine replaces the bodies.

use std::net::IpAddr;
use std::path::Path;

use crate::model::MessageKind;

/// What a matched rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
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

/// One rule as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub severity: String,
    pub action: Action,
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
    pub fn from_yaml(_text: &str, _origin: &str) -> Result<RuleSet, RulesError> {
        Ok(RuleSet::empty())
    }

    /// The first enabled rule that matches, if any.
    pub fn eval(&self, _input: &MatchInput<'_>) -> Option<&Rule> {
        None
    }

    /// Every rule in file order, enabled or not.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}
