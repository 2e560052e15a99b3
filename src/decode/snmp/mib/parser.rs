//! MIB module structure (RFC 2578 sections 3-10, RFC 1155/1212/1215 for SMIv1): modules, their
//! IMPORTS and every assignment that gives a name an OID.
//!
//! Only what names OIDs is kept: `name MACRO clauses ::= { parent n }` for any macro (OBJECT-TYPE,
//! NOTIFICATION-TYPE, MODULE-IDENTITY, OBJECT-IDENTITY, OBJECT-GROUP, NOTIFICATION-GROUP,
//! MODULE-COMPLIANCE, AGENT-CAPABILITIES, vendor macros), `name OBJECT IDENTIFIER ::= {...}`, and
//! SMIv1 `name TRAP-TYPE ENTERPRISE e ... ::= n`. Clauses are skipped with brackets balanced;
//! type assignments (`Name ::= ...`) and MACRO definitions are skipped whole. Named numbers in
//! an OID value (`{ iso org(3) dod(6) 1 }`) define `org` and `dod` too, as libsmi does.

use super::lexer::{Tok, Token};

/// One part of an OID value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component<'a> {
    /// A defined name, first in the value (`ifEntry` in `{ ifEntry 1 }`).
    Name(&'a str),
    Number(u32),
    /// `org(3)`: the number counts; the name is defined as a side effect.
    Named(&'a str, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Oid(Vec<Component<'a>>),
    /// SMIv1 TRAP-TYPE: its OID is `enterprise.0.number` (RFC 3584 section 3.1).
    Trap {
        enterprise: Vec<Component<'a>>,
        number: u32,
    },
}

/// One assignment that names an OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def<'a> {
    pub name: &'a str,
    /// The macro (`OBJECT-TYPE`, ...), `OBJECT IDENTIFIER`, or `implicit` for a named number.
    pub kind: &'a str,
    pub line: u32,
    pub value: Value<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module<'a> {
    pub name: &'a str,
    pub line: u32,
    /// `(symbol, module)` for each imported symbol.
    pub imports: Vec<(&'a str, &'a str)>,
    pub defs: Vec<Def<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub message: String,
}

/// Macros known to assign OID values; a module's imports and its own MACROs add to these.
const VALUE_MACROS: &[&str] = &[
    "OBJECT-TYPE",
    "NOTIFICATION-TYPE",
    "TRAP-TYPE",
    "MODULE-IDENTITY",
    "OBJECT-IDENTITY",
    "OBJECT-GROUP",
    "NOTIFICATION-GROUP",
    "MODULE-COMPLIANCE",
    "AGENT-CAPABILITIES",
];

/// The roots of the OID tree, defined by X.660 rather than by any module.
pub const ROOTS: &[(&str, u32)] = &[("ccitt", 0), ("iso", 1), ("joint-iso-ccitt", 2)];

/// Every module in a file's tokens.
pub fn parse<'a>(tokens: &[Token<'a>]) -> Result<Vec<Module<'a>>, ParseError> {
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        macros: Vec::new(),
    };
    let mut modules = Vec::new();
    while p.pos < tokens.len() {
        modules.push(p.module()?);
    }
    if modules.is_empty() {
        return Err(ParseError {
            line: 1,
            message: "no MIB module in the file".to_owned(),
        });
    }
    Ok(modules)
}

struct Parser<'t, 'a> {
    toks: &'t [Token<'a>],
    pos: usize,
    /// Names known to be macros in the current module besides [`VALUE_MACROS`].
    macros: Vec<&'a str>,
}

fn lowercase_initial(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

fn describe(t: Option<&Token<'_>>) -> String {
    match t.map(|t| t.tok) {
        None => "end of file".to_owned(),
        Some(Tok::Ident(s)) | Some(Tok::Num(s)) | Some(Tok::Punct(s)) => format!("`{s}`"),
        Some(Tok::Lit) => "a string".to_owned(),
    }
}

impl<'a> Parser<'_, 'a> {
    fn tok(&self, k: usize) -> Option<Tok<'a>> {
        self.toks.get(self.pos + k).map(|t| t.tok)
    }

    fn line(&self) -> u32 {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn err<T>(&self, message: String) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line(),
            message,
        })
    }

    fn unexpected<T>(&self, wanted: &str) -> Result<T, ParseError> {
        self.err(format!(
            "expected {wanted}, found {}",
            describe(self.toks.get(self.pos))
        ))
    }

    fn expect(&mut self, tok: Tok<'_>, wanted: &str) -> Result<(), ParseError> {
        if self.tok(0) == Some(tok) {
            self.pos += 1;
            return Ok(());
        }
        self.unexpected(wanted)
    }

    fn is_macro(&self, name: &str) -> bool {
        VALUE_MACROS.contains(&name) || self.macros.contains(&name)
    }

    /// `name MACRO` or `name OBJECT IDENTIFIER` at `pos + k`: a value assignment begins.
    fn starts_definition(&self, k: usize) -> bool {
        match (self.tok(k), self.tok(k + 1)) {
            (Some(Tok::Ident(name)), Some(Tok::Ident(m))) if lowercase_initial(name) => {
                self.is_macro(m)
                    || (m == "OBJECT" && self.tok(k + 2) == Some(Tok::Ident("IDENTIFIER")))
            }
            _ => false,
        }
    }

    /// Where a skipped type assignment ends: another assignment or the module's END.
    fn starts_statement(&self) -> bool {
        match (self.tok(0), self.tok(1)) {
            (Some(Tok::Ident("END")), _) => true,
            (Some(Tok::Ident(_)), Some(Tok::Punct("::="))) => true,
            (Some(Tok::Ident(_)), Some(Tok::Ident("MACRO"))) => true,
            _ => self.starts_definition(0),
        }
    }

    /// `Name [{ oid }] DEFINITIONS [tags] ::= BEGIN body END`.
    fn module(&mut self) -> Result<Module<'a>, ParseError> {
        self.macros.clear();
        let line = self.line();
        let Some(Tok::Ident(name)) = self.tok(0) else {
            return self.unexpected("a module name");
        };
        self.pos += 1;
        if self.tok(0) == Some(Tok::Punct("{")) {
            self.skip_group()?;
        }
        self.expect(Tok::Ident("DEFINITIONS"), "DEFINITIONS")?;
        while !matches!(self.tok(0), Some(Tok::Punct("::=")) | None) {
            self.pos += 1;
        }
        self.expect(Tok::Punct("::="), "`::=`")?;
        self.expect(Tok::Ident("BEGIN"), "BEGIN")?;
        let mut module = Module {
            name,
            line,
            ..Module::default()
        };
        let mut implicit = Vec::new();
        loop {
            match (self.tok(0), self.tok(1)) {
                (None, _) => return self.err(format!("module {name} has no END")),
                (Some(Tok::Ident("END")), _) => {
                    self.pos += 1;
                    break;
                }
                (Some(Tok::Ident("IMPORTS")), _) => self.imports(&mut module)?,
                (Some(Tok::Ident("EXPORTS")), _) => self.skip_past_semicolon()?,
                (Some(Tok::Ident(m)), Some(Tok::Ident("MACRO"))) => {
                    self.macros.push(m);
                    self.skip_macro()?;
                }
                (Some(Tok::Ident(_)), Some(Tok::Punct("::="))) => self.skip_type()?,
                _ if self.starts_definition(0) => {
                    let def = self.definition()?;
                    implicit_defs(&def, &mut implicit);
                    module.defs.push(def);
                }
                // Another ASN.1 value (`max INTEGER ::= 5`): names no OID.
                (Some(Tok::Ident(n)), Some(Tok::Ident(_)))
                    if lowercase_initial(n) && self.tok(2) == Some(Tok::Punct("::=")) =>
                {
                    self.pos += 1;
                    self.skip_type()?;
                }
                _ => return self.unexpected("a definition"),
            }
        }
        // A named number defines its name unless the module defines it itself.
        for def in implicit {
            if !module.defs.iter().any(|d| d.name == def.name) {
                module.defs.push(def);
            }
        }
        Ok(module)
    }

    /// `IMPORTS a, b FROM M1 c FROM M2 ;`
    fn imports(&mut self, module: &mut Module<'a>) -> Result<(), ParseError> {
        self.pos += 1;
        let mut pending: Vec<&'a str> = Vec::new();
        loop {
            match self.tok(0) {
                Some(Tok::Punct(";")) => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(Tok::Punct(",")) => self.pos += 1,
                Some(Tok::Ident("FROM")) => {
                    let Some(Tok::Ident(from)) = self.tok(1) else {
                        self.pos += 1;
                        return self.unexpected("a module name after FROM");
                    };
                    self.pos += 2;
                    for sym in pending.drain(..) {
                        if sym.bytes().all(|b| !b.is_ascii_lowercase()) && sym.contains('-') {
                            self.macros.push(sym);
                        }
                        module.imports.push((sym, from));
                    }
                    if self.tok(0) == Some(Tok::Punct("{")) {
                        self.skip_group()?;
                    }
                }
                Some(Tok::Ident(sym)) => {
                    pending.push(sym);
                    self.pos += 1;
                }
                _ => return self.unexpected("an imported name, FROM or `;`"),
            }
        }
    }

    fn skip_past_semicolon(&mut self) -> Result<(), ParseError> {
        while let Some(t) = self.tok(0) {
            self.pos += 1;
            if t == Tok::Punct(";") {
                return Ok(());
            }
        }
        self.unexpected("`;`")
    }

    /// `NAME MACRO ::= BEGIN ... END`: the body is notation, not definitions.
    fn skip_macro(&mut self) -> Result<(), ParseError> {
        self.pos += 2;
        self.expect(Tok::Punct("::="), "`::=`")?;
        self.expect(Tok::Ident("BEGIN"), "BEGIN")?;
        while let Some(t) = self.tok(0) {
            self.pos += 1;
            if t == Tok::Ident("END") {
                return Ok(());
            }
        }
        self.unexpected("END of the MACRO")
    }

    /// `Name ::= type`: skipped up to the next statement, brackets balanced.
    fn skip_type(&mut self) -> Result<(), ParseError> {
        self.pos += 2;
        let mut depth = 0usize;
        let mut consumed = 0usize;
        loop {
            if depth == 0 && consumed > 0 && self.starts_statement() {
                return Ok(());
            }
            self.bracket(&mut depth)?;
            consumed += 1;
        }
    }

    /// Step over one token, tracking bracket depth; end of file is an error.
    fn bracket(&mut self, depth: &mut usize) -> Result<(), ParseError> {
        match self.tok(0) {
            None => return self.unexpected("the end of the definition"),
            Some(Tok::Punct("{" | "(" | "[")) => *depth += 1,
            Some(Tok::Punct("}" | ")" | "]")) => {
                *depth = match depth.checked_sub(1) {
                    Some(d) => d,
                    None => return self.err("unbalanced closing bracket".to_owned()),
                }
            }
            _ => {}
        }
        self.pos += 1;
        Ok(())
    }

    /// A balanced `{ ... }` (or other bracket) group starting at `pos`.
    fn skip_group(&mut self) -> Result<(), ParseError> {
        let mut depth = 0usize;
        loop {
            self.bracket(&mut depth)?;
            if depth == 0 {
                return Ok(());
            }
        }
    }

    /// `name KIND clauses ::= value`.
    fn definition(&mut self) -> Result<Def<'a>, ParseError> {
        let line = self.line();
        let (Some(Tok::Ident(name)), Some(Tok::Ident(kind))) = (self.tok(0), self.tok(1)) else {
            return self.unexpected("a definition");
        };
        let kind = if kind == "OBJECT" {
            self.pos += 3;
            "OBJECT IDENTIFIER"
        } else {
            self.pos += 2;
            kind
        };
        let mut enterprise = None;
        let mut depth = 0usize;
        while !(depth == 0 && self.tok(0) == Some(Tok::Punct("::="))) {
            if depth == 0 && self.starts_definition(0) {
                return self.err(format!("`{name}` (line {line}) has no `::=`"));
            }
            if depth == 0 && self.tok(0) == Some(Tok::Ident("ENTERPRISE")) {
                self.pos += 1;
                enterprise = Some(match self.tok(0) {
                    Some(Tok::Ident(e)) => {
                        self.pos += 1;
                        vec![Component::Name(e)]
                    }
                    _ => self.oid_value()?,
                });
                continue;
            }
            self.bracket(&mut depth)?;
        }
        self.pos += 1;
        let value = match (self.tok(0), kind) {
            (Some(Tok::Num(n)), "TRAP-TYPE") => {
                let Some(enterprise) = enterprise else {
                    return self.err(format!("TRAP-TYPE `{name}` has no ENTERPRISE"));
                };
                let Ok(number) = n.parse() else {
                    return self.unexpected("a trap number (0..4294967295)");
                };
                self.pos += 1;
                Value::Trap { enterprise, number }
            }
            (_, "TRAP-TYPE") => return self.unexpected("a trap number"),
            (Some(Tok::Punct("{")), _) => Value::Oid(self.oid_value()?),
            _ => return self.unexpected("an OID value `{ ... }`"),
        };
        Ok(Def {
            name,
            kind,
            line,
            value,
        })
    }

    /// `{ first n name(n) ... }`: a name may only come first (or with its number).
    fn oid_value(&mut self) -> Result<Vec<Component<'a>>, ParseError> {
        self.expect(Tok::Punct("{"), "`{`")?;
        let mut parts = Vec::new();
        loop {
            let part = match (self.tok(0), self.tok(1)) {
                (Some(Tok::Punct("}")), _) if !parts.is_empty() => {
                    self.pos += 1;
                    return Ok(parts);
                }
                (Some(Tok::Ident(n)), Some(Tok::Punct("("))) => {
                    self.pos += 2;
                    let number = self.number()?;
                    self.expect(Tok::Punct(")"), "`)`")?;
                    Component::Named(n, number)
                }
                (Some(Tok::Ident(n)), _) if parts.is_empty() => {
                    self.pos += 1;
                    Component::Name(n)
                }
                (Some(Tok::Num(_)), _) => Component::Number(self.number()?),
                _ => return self.unexpected("a number or `name(number)` in the OID value"),
            };
            parts.push(part);
        }
    }

    fn number(&mut self) -> Result<u32, ParseError> {
        match self.tok(0) {
            Some(Tok::Num(n)) => match n.parse() {
                Ok(v) => {
                    self.pos += 1;
                    Ok(v)
                }
                Err(_) => self.err(format!("OID arc {n} is not in 0..4294967295")),
            },
            _ => self.unexpected("a number"),
        }
    }
}

/// The names that `org(3)`-style components of `def`'s value define.
fn implicit_defs<'a>(def: &Def<'a>, out: &mut Vec<Def<'a>>) {
    let parts = match &def.value {
        Value::Oid(p) => p,
        Value::Trap { enterprise, .. } => enterprise,
    };
    for (k, part) in parts.iter().enumerate() {
        let Component::Named(name, n) = *part else {
            continue;
        };
        if ROOTS.iter().any(|(r, _)| *r == name) || out.iter().any(|d| d.name == name) {
            continue;
        }
        let mut value: Vec<Component<'a>> = parts.get(..k).unwrap_or(&[]).to_vec();
        value.push(Component::Number(n));
        out.push(Def {
            name,
            kind: "implicit",
            line: def.line,
            value: Value::Oid(value),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<Module<'_>>, ParseError> {
        // Leaked so the borrowed tokens outlive the call; tests only.
        let tokens = Box::leak(tokenize(text).unwrap().into_boxed_slice());
        parse(tokens)
    }

    const SMIV1: &str = r#"
TEST-MIB DEFINITIONS ::= BEGIN
IMPORTS enterprises FROM RFC1155-SMI
        OBJECT-TYPE FROM RFC-1212
        TRAP-TYPE FROM RFC-1215;
DisplayString ::= OCTET STRING (SIZE (0..255)) -- a type
acme OBJECT IDENTIFIER ::= { enterprises 9999 }
acmeUp OBJECT-TYPE
    SYNTAX INTEGER { up(1), down(2) }
    ACCESS read-only
    STATUS mandatory
    ::= { acme 1 }
acmeFan TRAP-TYPE
    ENTERPRISE acme
    VARIABLES { acmeUp }
    DESCRIPTION "fan
                 failed"
    ::= 7
END
"#;

    #[test]
    fn smiv1_objects_and_traps_are_found_with_their_lines() {
        let m = parse_text(SMIV1).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "TEST-MIB");
        assert_eq!(m[0].imports.len(), 3);
        assert_eq!(m[0].imports[2], ("TRAP-TYPE", "RFC-1215"));
        let names: Vec<_> = m[0].defs.iter().map(|d| (d.name, d.kind, d.line)).collect();
        assert_eq!(
            names,
            vec![
                ("acme", "OBJECT IDENTIFIER", 7),
                ("acmeUp", "OBJECT-TYPE", 8),
                ("acmeFan", "TRAP-TYPE", 13)
            ]
        );
        assert_eq!(
            m[0].defs[2].value,
            Value::Trap {
                enterprise: vec![Component::Name("acme")],
                number: 7
            }
        );
    }

    #[test]
    fn named_numbers_define_their_names() {
        let m = parse_text(
            "A DEFINITIONS ::= BEGIN internet OBJECT IDENTIFIER ::= { iso org(3) dod(6) 1 } END",
        )
        .unwrap();
        let defs: Vec<_> = m[0].defs.iter().map(|d| (d.name, &d.value)).collect();
        assert_eq!(defs.len(), 3);
        assert_eq!(
            defs[2],
            (
                "dod",
                &Value::Oid(vec![
                    Component::Name("iso"),
                    Component::Named("org", 3),
                    Component::Number(6)
                ])
            )
        );
    }

    #[test]
    fn macro_definitions_and_choice_types_are_skipped() {
        let text = r#"S DEFINITIONS ::= BEGIN
OBJECT-TYPE MACRO ::= BEGIN TYPE NOTATION ::= "SYNTAX" type VALUE NOTATION ::= value (VALUE ObjectName) END
ObjectSyntax ::= CHOICE { simple SimpleSyntax, application-wide ApplicationSyntax }
Integer32 ::= INTEGER (-2147483648..2147483647)
zeroDotZero OBJECT-IDENTITY STATUS current DESCRIPTION "x" ::= { 0 0 }
END"#;
        let m = parse_text(text).unwrap();
        assert_eq!(m[0].defs.len(), 1);
        assert_eq!(m[0].defs[0].name, "zeroDotZero");
    }

    #[test]
    fn agent_capabilities_clauses_with_variations_are_skipped_to_the_value() {
        let text = r#"C DEFINITIONS ::= BEGIN
IMPORTS AGENT-CAPABILITIES FROM SNMPv2-CONF caps FROM X-MIB;
agent1 AGENT-CAPABILITIES
    PRODUCT-RELEASE "r1" STATUS current DESCRIPTION ""
    SUPPORTS IF-MIB INCLUDES { ifGeneralGroup }
        VARIATION ifLinkUpDownTrapEnable ACCESS not-implemented DESCRIPTION ""
        VARIATION ifAdminStatus SYNTAX INTEGER { up(1) } DESCRIPTION "x"
    ::= { caps 2 }
compl MODULE-COMPLIANCE STATUS current DESCRIPTION "d"
    MODULE -- this module
        MANDATORY-GROUPS { g1 }
        OBJECT ifAdminStatus MIN-ACCESS read-only DESCRIPTION "e"
    ::= { caps 3 }
END"#;
        let m = parse_text(text).unwrap();
        let defs: Vec<_> = m[0]
            .defs
            .iter()
            .map(|d| (d.name, d.kind, &d.value))
            .collect();
        assert_eq!(
            defs,
            vec![
                (
                    "agent1",
                    "AGENT-CAPABILITIES",
                    &Value::Oid(vec![Component::Name("caps"), Component::Number(2)])
                ),
                (
                    "compl",
                    "MODULE-COMPLIANCE",
                    &Value::Oid(vec![Component::Name("caps"), Component::Number(3)])
                ),
            ]
        );
    }

    #[test]
    fn a_missing_assignment_is_an_error_at_the_next_definition() {
        let text = "A DEFINITIONS ::= BEGIN\na OBJECT IDENTIFIER { b 1 }\nc OBJECT IDENTIFIER ::= { a 2 }\nEND";
        let e = parse_text(text).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("`a` (line 2) has no `::=`"), "{e:?}");
    }

    #[test]
    fn a_module_without_end_is_an_error() {
        let e = parse_text("A DEFINITIONS ::= BEGIN a OBJECT IDENTIFIER ::= { b 1 }").unwrap_err();
        assert!(e.message.contains("has no END"), "{e:?}");
    }

    #[test]
    fn names_after_the_first_arc_are_refused() {
        let e = parse_text("A DEFINITIONS ::= BEGIN a OBJECT IDENTIFIER ::= { b c 1 } END")
            .unwrap_err();
        assert!(e.message.contains("in the OID value"), "{e:?}");
    }

    #[test]
    fn text_that_is_no_module_is_an_error() {
        assert!(parse_text("").is_err());
        assert!(parse_text("hello world").is_err());
    }
}
