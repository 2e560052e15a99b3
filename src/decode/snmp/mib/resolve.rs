//! OID values of parsed modules resolved to numbers: local names, IMPORTS across the loaded
//! modules, then the built-in core modules, then the X.660 roots (`iso`).
//!
//! Resolution goes in passes over all definitions until one makes no progress: a definition
//! resolves once its parent has, so files and definitions may come in any order and nothing
//! recurses (a hostile chain of parents cannot exhaust the stack). A definition whose parent is
//! missing is reported where the name is missing; definitions hanging below it fail silently
//! with it, so one missing import gives one error, not one per object.

use std::collections::HashMap;

use super::parser::{Component, Module, Value, ROOTS};

/// Most IMPORTS hops followed for one name (a module passing on what it imported).
const MAX_HOPS: usize = 16;

/// A resolved name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// Index of the module in the slice given to [`resolve`].
    pub module: usize,
    pub name: &'a str,
    pub kind: &'a str,
    pub arcs: Vec<u32>,
}

/// A definition whose OID could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub module: usize,
    pub line: u32,
    pub message: String,
}

#[derive(Debug, Clone)]
enum State {
    Todo,
    Done(Vec<u32>),
    Failed,
}

/// What a parent lookup found.
enum Step {
    Ready(Vec<u32>),
    /// The parent is defined but not resolved yet.
    Wait,
    /// The cause, reported at this definition.
    Fail(String),
    /// The parent failed and was reported already.
    ParentFailed,
}

struct Resolver<'m, 'a> {
    modules: &'m [&'m Module<'a>],
    by_name: HashMap<&'a str, usize>,
    defs: Vec<HashMap<&'a str, usize>>,
    imports: Vec<HashMap<&'a str, &'a str>>,
    state: Vec<Vec<State>>,
    /// `MODULE::name` to OID for the built-in core modules.
    builtin: &'m HashMap<String, Vec<u32>>,
}

/// Resolve every definition of `modules` (module names are unique here); `builtin` answers
/// imports from modules that are not loaded.
pub fn resolve<'a>(
    modules: &[&Module<'a>],
    builtin: &HashMap<String, Vec<u32>>,
) -> (Vec<Resolved<'a>>, Vec<Unresolved>) {
    let mut r = Resolver {
        modules,
        by_name: modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name, i))
            .collect(),
        defs: modules
            .iter()
            .map(|m| {
                m.defs
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.name, i))
                    .collect()
            })
            .collect(),
        imports: modules
            .iter()
            .map(|m| m.imports.iter().copied().collect())
            .collect(),
        state: modules
            .iter()
            .map(|m| vec![State::Todo; m.defs.len()])
            .collect(),
        builtin,
    };
    let mut errors = Vec::new();
    while r.pass(&mut errors) {}
    let mut out = Vec::new();
    for (mi, m) in modules.iter().enumerate() {
        for (di, def) in m.defs.iter().enumerate() {
            match r.state.get_mut(mi).and_then(|s| s.get_mut(di)) {
                Some(State::Done(arcs)) => out.push(Resolved {
                    module: mi,
                    name: def.name,
                    kind: def.kind,
                    arcs: std::mem::take(arcs),
                }),
                Some(State::Todo) => errors.push(Unresolved {
                    module: mi,
                    line: def.line,
                    message: format!(
                        "cannot resolve the OID of `{}`: its parents form a cycle",
                        def.name
                    ),
                }),
                _ => {}
            }
        }
    }
    (out, errors)
}

impl Resolver<'_, '_> {
    /// One pass over the unresolved definitions; whether any of them changed state.
    fn pass(&mut self, errors: &mut Vec<Unresolved>) -> bool {
        let mut progress = false;
        let modules = self.modules;
        for (mi, m) in modules.iter().enumerate() {
            for (di, def) in m.defs.iter().enumerate() {
                if !matches!(
                    self.state.get(mi).and_then(|s| s.get(di)),
                    Some(State::Todo)
                ) {
                    continue;
                }
                let (parts, trap) = match &def.value {
                    Value::Oid(parts) => (parts, None),
                    Value::Trap { enterprise, number } => (enterprise, Some(*number)),
                };
                let new = match self.arcs(mi, parts) {
                    Step::Wait => continue,
                    Step::Ready(mut arcs) => {
                        // RFC 3584 section 3.1: enterprise-specific trap n of E is E.0.n.
                        if let Some(n) = trap {
                            arcs.extend([0, n]);
                        }
                        State::Done(arcs)
                    }
                    Step::ParentFailed => State::Failed,
                    Step::Fail(why) => {
                        errors.push(Unresolved {
                            module: mi,
                            line: def.line,
                            message: format!("cannot resolve the OID of `{}`: {why}", def.name),
                        });
                        State::Failed
                    }
                };
                if let Some(slot) = self.state.get_mut(mi).and_then(|s| s.get_mut(di)) {
                    *slot = new;
                }
                progress = true;
            }
        }
        progress
    }

    fn arcs(&self, mi: usize, parts: &[Component<'_>]) -> Step {
        let mut arcs = Vec::with_capacity(parts.len() + 12);
        for (k, part) in parts.iter().enumerate() {
            match *part {
                Component::Name(sym) if k == 0 => match self.symbol(mi, sym) {
                    Step::Ready(a) => arcs = a,
                    other => return other,
                },
                Component::Name(sym) => return Step::Fail(format!("`{sym}` inside the OID value")),
                Component::Number(n) | Component::Named(_, n) => arcs.push(n),
            }
        }
        Step::Ready(arcs)
    }

    /// The OID of `sym` as seen from module `mi`.
    fn symbol(&self, mut mi: usize, sym: &str) -> Step {
        for _ in 0..MAX_HOPS {
            if let Some(&di) = self.defs.get(mi).and_then(|d| d.get(sym)) {
                return match self.state.get(mi).and_then(|s| s.get(di)) {
                    Some(State::Done(arcs)) => Step::Ready(arcs.clone()),
                    Some(State::Todo) => Step::Wait,
                    _ => Step::ParentFailed,
                };
            }
            let Some(&from) = self.imports.get(mi).and_then(|i| i.get(sym)) else {
                return match ROOTS.iter().find(|(root, _)| *root == sym) {
                    Some((_, n)) => Step::Ready(vec![*n]),
                    None => Step::Fail(format!("`{sym}` is neither defined nor imported")),
                };
            };
            match self.by_name.get(from) {
                Some(&other) if self.passes_on(other, sym) => mi = other,
                loaded => {
                    return match self.builtin.get(&format!("{from}::{sym}")) {
                        Some(arcs) => Step::Ready(arcs.clone()),
                        None if loaded.is_some() => {
                            Step::Fail(format!("{from} does not define `{sym}`"))
                        }
                        None => Step::Fail(format!(
                            "`{sym}` is imported from {from}, which is not loaded"
                        )),
                    };
                }
            }
        }
        Step::Fail(format!("`{sym}` is imported in a circle"))
    }

    /// Whether module `mi` defines `sym` or passes on an import of it.
    fn passes_on(&self, mi: usize, sym: &str) -> bool {
        self.defs.get(mi).is_some_and(|d| d.contains_key(sym))
            || self.imports.get(mi).is_some_and(|i| i.contains_key(sym))
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::super::parser::parse;
    use super::*;

    fn run(texts: &[&'static str]) -> (Vec<(String, Vec<u32>)>, Vec<Unresolved>) {
        let mut modules = Vec::new();
        for t in texts {
            let tokens = Box::leak(tokenize(t).unwrap().into_boxed_slice());
            modules.extend(parse(tokens).unwrap());
        }
        let refs: Vec<&Module<'_>> = modules.iter().collect();
        let mut builtin = HashMap::new();
        builtin.insert("SNMPv2-SMI::enterprises".to_owned(), vec![1, 3, 6, 1, 4, 1]);
        let (names, errors) = resolve(&refs, &builtin);
        let names = names
            .into_iter()
            .map(|r| (format!("{}::{}", refs[r.module].name, r.name), r.arcs))
            .collect();
        (names, errors)
    }

    #[test]
    fn imports_resolve_across_modules_and_against_the_builtin_table() {
        let (names, errors) = run(&[
            "A DEFINITIONS ::= BEGIN IMPORTS enterprises FROM SNMPv2-SMI; \
             acme OBJECT IDENTIFIER ::= { enterprises 99 } END",
            "B DEFINITIONS ::= BEGIN IMPORTS acme FROM A; \
             box OBJECT IDENTIFIER ::= { acme 2 } END",
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            names,
            vec![
                ("A::acme".to_owned(), vec![1, 3, 6, 1, 4, 1, 99]),
                ("B::box".to_owned(), vec![1, 3, 6, 1, 4, 1, 99, 2]),
            ]
        );
    }

    #[test]
    fn a_missing_parent_is_reported_once_and_the_rest_is_kept() {
        let (names, errors) = run(&["A DEFINITIONS ::= BEGIN IMPORTS nowhere FROM GONE-MIB;\n\
             lost OBJECT IDENTIFIER ::= { nowhere 1 }\n\
             lostChild OBJECT IDENTIFIER ::= { lost 1 }\n\
             kept OBJECT IDENTIFIER ::= { iso 3 }\nEND"]);
        assert_eq!(names, vec![("A::kept".to_owned(), vec![1, 3])]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 2);
        assert!(
            errors[0]
                .message
                .contains("imported from GONE-MIB, which is not loaded"),
            "{errors:?}"
        );
    }

    #[test]
    fn cycles_fail_without_looping() {
        let (names, errors) = run(&["A DEFINITIONS ::= BEGIN\n\
             a OBJECT IDENTIFIER ::= { b 1 }\nb OBJECT IDENTIFIER ::= { a 1 }\nEND"]);
        assert!(names.is_empty());
        assert_eq!(errors.len(), 2);
        assert!(errors[0].message.contains("form a cycle"), "{errors:?}");
    }

    #[test]
    fn trap_type_maps_to_enterprise_zero_number() {
        let (names, errors) = run(&["A DEFINITIONS ::= BEGIN\n\
             acme OBJECT IDENTIFIER ::= { iso 3 6 1 4 1 99 }\n\
             fan TRAP-TYPE ENTERPRISE acme DESCRIPTION \"x\" ::= 7\nEND"]);
        assert!(errors.is_empty());
        assert_eq!(
            names[1],
            ("A::fan".to_owned(), vec![1, 3, 6, 1, 4, 1, 99, 0, 7])
        );
    }

    #[test]
    fn definitions_may_come_before_their_parents_at_any_depth() {
        let mut text = String::from("A DEFINITIONS ::= BEGIN\n");
        for i in (1..1000).rev() {
            text.push_str(&format!("n{i} OBJECT IDENTIFIER ::= {{ n{} 1 }}\n", i - 1));
        }
        text.push_str("n0 OBJECT IDENTIFIER ::= { iso 1 }\nEND");
        let text: &'static str = Box::leak(text.into_boxed_str());
        let (names, errors) = run(&[text]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(names.len(), 1000);
        assert_eq!(names[0].1.len(), 1001);
    }
}
