//! MIB loading: directories of SMIv1/SMIv2 module files (RFC 1155, 1212, 1215; RFC 2578, 2579,
//! 2580) to a [`NameTable`] that merges their names with the built-in ones.
//!
//! ```text
//! lexer.rs    text -> tokens (comments, strings over lines, signed numbers)
//! parser.rs   tokens -> modules: IMPORTS and every `name MACRO ... ::= { parent n }`
//! resolve.rs  OID values -> numbers across modules, then the built-in table, then `iso`
//! ```
//!
//! Only names are read, not types or access: that is all trap decoding uses. A file with a
//! syntax error is reported (file and line) and skipped whole; a definition whose parent cannot
//! be resolved is reported and dropped, the rest of its module kept. A loaded module replaces a
//! built-in module of the same name; when two modules name the same OID the built-in name is
//! kept, then the first loaded (files in directory order, names sorted), and SMIv1 modules lose
//! to their SMIv2 successors as in the built-in table.
//!
//! Not the `mib-rs` crate: it resolves the whole SMI (types, indexes, diagnostics, a CST) in about
//! 77,000 lines with five more dependencies, and its 0.x releases break the API every minor
//! version; the names alone take the ~800 lines here.

pub mod lexer;
pub mod parser;
pub mod resolve;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::names::{self, NameEntry, NameTable};

/// Largest MIB file read; the biggest vendor MIBs are a few MiB.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// File name endings read as MIB files; a name with no extension (net-snmp's style) is read too.
const MIB_EXTENSIONS: &[&str] = &["txt", "mib", "my", "smi", "mi2", "asn", "asn1", "def"];

/// What went wrong where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MibErrorKind {
    /// A configured directory cannot be listed (missing, not a directory, no permission).
    Directory,
    /// A file cannot be read or is too large.
    File,
    /// The file is not a well-formed MIB module; it was skipped.
    Syntax,
    /// One definition's OID cannot be resolved; it was dropped.
    Unresolved,
    /// A module already loaded from another file; this copy was skipped.
    DuplicateModule,
}

/// One problem found while loading, with its file and line (0 when it concerns the whole file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct MibError {
    pub path: PathBuf,
    pub line: u32,
    pub kind: MibErrorKind,
    pub message: String,
}

/// One name a MIB file gave an OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedName {
    pub module: String,
    pub name: String,
    /// The macro that defined it (`OBJECT-TYPE`, `NOTIFICATION-TYPE`, `TRAP-TYPE`, ...),
    /// `OBJECT IDENTIFIER`, or `implicit` for `org(3)` inside another value.
    pub kind: String,
    pub arcs: Vec<u32>,
}

/// Everything loaded from a set of files.
#[derive(Debug, Clone, Default)]
pub struct MibSet {
    /// Module names loaded, in load order.
    pub modules: Vec<String>,
    pub names: Vec<LoadedName>,
    pub errors: Vec<MibError>,
}

impl MibSet {
    /// The built-in names, less the modules loaded here, plus the loaded names.
    pub fn name_table(&self) -> NameTable {
        let loaded: HashSet<&str> = self.modules.iter().map(String::as_str).collect();
        let builtin = names::builtin_rows().filter(|e| !loaded.contains(e.module()));
        let own = self
            .names
            .iter()
            .map(|n| NameEntry::new(n.arcs.clone().into_boxed_slice(), &n.module, &n.name));
        NameTable::from_rows(builtin.chain(own))
    }
}

/// Load every MIB file of `dirs` and merge the names with the built-in table.
pub fn load_mib_dirs(dirs: &[PathBuf]) -> (NameTable, Vec<MibError>) {
    let set = load_dirs(dirs);
    (set.name_table(), set.errors)
}

/// Load every MIB file of `dirs`: files whose names end in a MIB extension or have none, hidden
/// files skipped, each directory in name order.
pub fn load_dirs(dirs: &[PathBuf]) -> MibSet {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for dir in dirs {
        match mib_files(dir) {
            Ok(paths) => files.extend(paths),
            Err(e) => errors.push(MibError {
                path: dir.clone(),
                line: 0,
                kind: MibErrorKind::Directory,
                message: format!("cannot list the MIB directory: {e}"),
            }),
        }
    }
    let mut texts = Vec::with_capacity(files.len());
    for path in files {
        match read_text(&path) {
            Ok(text) => texts.push((path, text)),
            Err(message) => errors.push(MibError {
                path,
                line: 0,
                kind: MibErrorKind::File,
                message,
            }),
        }
    }
    let mut set = load_texts(&texts);
    errors.append(&mut set.errors);
    set.errors = errors;
    set
}

fn mib_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let ext_ok = match path.extension().and_then(|e| e.to_str()) {
            None => true,
            Some(ext) => MIB_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        };
        // is_file follows symlinks, so linked MIB collections work.
        if !name.starts_with('.') && ext_ok && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn read_text(path: &Path) -> Result<String, String> {
    let len = fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "{len} bytes, more than the {MAX_FILE_BYTES} read from one MIB file"
        ));
    }
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    // Vendor MIBs carry Latin-1 in descriptions; only ASCII matters for names.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Parse and resolve MIB texts (`(path, text)`, the path for messages): pure, no I/O.
pub fn load_texts(files: &[(PathBuf, String)]) -> MibSet {
    let mut errors = Vec::new();
    let mut token_sets = Vec::with_capacity(files.len());
    for (path, text) in files {
        match lexer::tokenize(text) {
            Ok(tokens) => token_sets.push((path, tokens)),
            Err(e) => errors.push(syntax(path, e.line, e.message)),
        }
    }
    let mut modules = Vec::new();
    let mut paths = Vec::new();
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for (path, tokens) in &token_sets {
        let parsed = match parser::parse(tokens) {
            Ok(parsed) => parsed,
            Err(e) => {
                errors.push(syntax(path, e.line, e.message));
                continue;
            }
        };
        for module in parsed {
            if let Some(first) = seen.get(module.name) {
                errors.push(MibError {
                    path: (*path).clone(),
                    line: module.line,
                    kind: MibErrorKind::DuplicateModule,
                    message: format!(
                        "module {} is already loaded from {}",
                        module.name,
                        first.display()
                    ),
                });
                continue;
            }
            seen.insert(module.name, path);
            paths.push(*path);
            modules.push(module);
        }
    }
    let builtin: HashMap<String, Vec<u32>> = names::builtin_rows()
        .map(|e| (e.full, e.arcs.into_vec()))
        .collect();
    let refs: Vec<&parser::Module<'_>> = modules.iter().collect();
    let (resolved, unresolved) = resolve::resolve(&refs, &builtin);
    for u in unresolved {
        errors.push(MibError {
            path: paths
                .get(u.module)
                .map_or_else(PathBuf::new, |p| p.to_path_buf()),
            line: u.line,
            kind: MibErrorKind::Unresolved,
            message: u.message,
        });
    }
    let module_name = |i: usize| modules.get(i).map_or("", |m| m.name).to_owned();
    MibSet {
        modules: modules.iter().map(|m| m.name.to_owned()).collect(),
        names: resolved
            .into_iter()
            .map(|r| LoadedName {
                module: module_name(r.module),
                name: r.name.to_owned(),
                kind: r.kind.to_owned(),
                arcs: r.arcs,
            })
            .collect(),
        errors,
    }
}

fn syntax(path: &Path, line: u32, message: String) -> MibError {
    MibError {
        path: path.to_path_buf(),
        line,
        kind: MibErrorKind::Syntax,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
            .collect()
    }

    const VENDOR: &str = "ACME-MIB DEFINITIONS ::= BEGIN\n\
        IMPORTS enterprises FROM RFC1155-SMI TRAP-TYPE FROM RFC-1215;\n\
        acme OBJECT IDENTIFIER ::= { enterprises 99999 }\n\
        acmeFanFailed TRAP-TYPE ENTERPRISE acme DESCRIPTION \"fan\" ::= 3\n\
        END\n";

    #[test]
    fn a_vendor_module_resolves_against_the_builtin_core_modules() {
        let set = load_texts(&texts(&[("ACME-MIB.txt", VENDOR)]));
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        let table = set.name_table();
        assert_eq!(
            table.exact(&[1, 3, 6, 1, 4, 1, 99999, 0, 3]).as_deref(),
            Some("ACME-MIB::acmeFanFailed")
        );
        assert_eq!(table.len(), names::builtin().len() + 2);
    }

    #[test]
    fn a_broken_file_is_reported_with_its_line_and_the_others_load() {
        let broken = "BROKEN-MIB DEFINITIONS ::= BEGIN\nx OBJECT IDENTIFIER ::= { iso 3 \nEND\n";
        let set = load_texts(&texts(&[("b.txt", broken), ("a.txt", VENDOR)]));
        assert_eq!(set.modules, vec!["ACME-MIB".to_owned()]);
        assert_eq!(set.errors.len(), 1, "{:?}", set.errors);
        let e = &set.errors[0];
        assert_eq!((e.kind.clone(), e.line), (MibErrorKind::Syntax, 3));
        assert!(e.to_string().starts_with("b.txt:3: expected"), "{e}");
    }

    #[test]
    fn a_loaded_module_replaces_the_builtin_module_of_that_name() {
        let mine = "NET-SNMP-MIB DEFINITIONS ::= BEGIN\n\
            IMPORTS enterprises FROM SNMPv2-SMI;\n\
            netSnmpRenamed OBJECT IDENTIFIER ::= { enterprises 8072 }\nEND\n";
        let table = load_texts(&texts(&[("n.txt", mine)])).name_table();
        assert_eq!(
            table.exact(&[1, 3, 6, 1, 4, 1, 8072]).as_deref(),
            Some("NET-SNMP-MIB::netSnmpRenamed")
        );
        // netSnmpAgentOIDs (8072.3) was only in the replaced module.
        assert_eq!(
            table.name(&[1, 3, 6, 1, 4, 1, 8072, 3]).as_deref(),
            Some("NET-SNMP-MIB::netSnmpRenamed.3")
        );
    }

    #[test]
    fn the_second_copy_of_a_module_is_reported_and_skipped() {
        let set = load_texts(&texts(&[("a.txt", VENDOR), ("b.txt", VENDOR)]));
        assert_eq!(set.modules.len(), 1);
        assert_eq!(set.errors.len(), 1);
        assert_eq!(set.errors[0].kind, MibErrorKind::DuplicateModule);
        assert!(set.errors[0].message.contains("already loaded from a.txt"));
    }
}
