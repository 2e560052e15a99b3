//! Where a configuration error is: the file, the line and the key path, found in the YAML text.

use std::fmt;
use std::path::PathBuf;

/// A configuration error with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Dotted key path, e.g. `listeners.syslog.port`; empty for whole-file errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// yaml_serde writes `path: message at line N column M`; the path and line are shown separately.
pub(super) fn strip_yaml_decoration(message: &str) -> String {
    let mut m = message;
    if let Some(cut) = m.find(" at line ") {
        m = &m[..cut];
    }
    // A leading `a.b.c: ` is the parser's own path (no spaces in it).
    if let Some((head, rest)) = m.split_once(": ") {
        if !head.is_empty() && !head.contains(' ') {
            m = rest;
        }
    }
    m.to_string()
}

/// The 1-based line where a dotted key path is written, found by following indentation: each
/// segment is a key of the mapping the previous one opened (the first at the top level). None
/// when the key is not in the text (a default).
pub fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let mut want = dotted.split('.');
    let mut target = want.next()?;
    // Indent of the mapping being searched; None until its first key sets it.
    let mut level: Option<usize> = Some(0);
    let mut parent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if parent.is_some_and(|p| indent <= p) {
            return None;
        }
        let at = *level.get_or_insert(indent);
        if indent != at {
            continue;
        }
        let key = body
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if key == target && body.contains(':') {
            match want.next() {
                None => return Some(i + 1),
                Some(next) => {
                    target = next;
                    parent = Some(indent);
                    level = None;
                }
            }
        }
    }
    None
}
