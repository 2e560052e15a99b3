//! OID → `MODULE::name` lookup by longest prefix over the built-in table of core MIB names.
//!
//! The table is `oid_names.tsv` (module, name, kind, dotted OID; derived with libsmi `smidump` from
//! the MIB modules in the test corpus and cross-checked with net-snmp `snmptranslate`), compiled in
//! with `include_str!` and parsed once into a Vec sorted by OID arcs. Where two modules name the
//! same OID (RFC1213-MIB and its SMIv2 successors IF-MIB / SNMPv2-MIB), the SMIv2 module wins, as
//! net-snmp prints it (`IF-MIB::ifIndex`, not `RFC1213-MIB::ifIndex`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::ber::push_u64;

const BUILTIN_TSV: &str = include_str!("oid_names.tsv");

/// One named node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    pub arcs: Box<[u32]>,
    /// `MODULE::name`.
    pub full: String,
    pub module_len: usize,
    /// The OID dotted, so a varbind's OID text is this plus its index.
    pub dotted: String,
}

impl NameEntry {
    pub fn new(arcs: Box<[u32]>, module: &str, name: &str) -> Self {
        NameEntry {
            dotted: super::ber::dotted(&arcs),
            arcs,
            full: format!("{module}::{name}"),
            module_len: module.len(),
        }
    }

    pub fn module(&self) -> &str {
        self.full.get(..self.module_len).unwrap_or("")
    }
}

/// A set of names sorted by OID, one per OID, with a hash index over them for lookups.
#[derive(Debug, Clone, Default)]
pub struct NameTable {
    entries: Vec<NameEntry>,
    index: HashMap<Box<[u32]>, u32, BuildHasherDefault<ArcHasher>>,
    /// Arcs of the longest named OID: no prefix longer than this can match.
    max_len: usize,
}

/// FxHash-style multiply-rotate hashing: the keys are short trusted-length OIDs from our own
/// table, SipHash's flooding resistance buys nothing here and cost a third of decode time.
#[derive(Default)]
pub struct ArcHasher(u64);

impl Hasher for ArcHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word.iter_mut().zip(chunk).for_each(|(w, b)| *w = *b);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

impl ArcHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// SMIv1 modules superseded by SMIv2 ones; their names lose ties.
fn module_rank(module: &str) -> u8 {
    match module {
        "RFC1155-SMI" | "RFC1213-MIB" | "RFC-1212" | "RFC-1215" => 1,
        _ => 0,
    }
}

impl NameTable {
    /// Build from `(module, name, arcs)` rows; on duplicate OIDs the better-ranked module, then
    /// the first row, wins.
    pub fn from_rows(rows: impl IntoIterator<Item = NameEntry>) -> Self {
        let mut entries: Vec<NameEntry> = rows.into_iter().collect();
        // Stable sort: among equal OIDs the preferred module comes first and survives dedup.
        entries.sort_by(|a, b| {
            a.arcs
                .cmp(&b.arcs)
                .then(module_rank(a.module()).cmp(&module_rank(b.module())))
        });
        entries.dedup_by(|later, first| later.arcs == first.arcs);
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.arcs.clone(), i as u32))
            .collect();
        let max_len = entries.iter().map(|e| e.arcs.len()).max().unwrap_or(0);
        NameTable {
            entries,
            index,
            max_len,
        }
    }

    /// Parse the TSV format of `oid_names.tsv`; `#` lines, the header and bad rows are skipped.
    pub fn from_tsv(text: &str) -> Self {
        Self::from_rows(tsv_rows(text))
    }

    /// Every entry, sorted by OID.
    pub fn entries(&self) -> &[NameEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry whose OID is the longest prefix of `arcs`, and how many arcs it covers.
    /// Varbind names are a named column or scalar plus a short index, so the first or second
    /// probe usually hits; at most `max_len` probes are made.
    pub fn longest_prefix(&self, arcs: &[u32]) -> Option<(&NameEntry, usize)> {
        (1..=arcs.len().min(self.max_len)).rev().find_map(|n| {
            let i = *self.index.get(arcs.get(..n)?)?;
            Some((self.entries.get(i as usize)?, n))
        })
    }

    /// `MODULE::name` when `arcs` is exactly a named node.
    pub fn exact(&self, arcs: &[u32]) -> Option<String> {
        match self.longest_prefix(arcs) {
            Some((e, n)) if n == arcs.len() => Some(e.full.clone()),
            _ => None,
        }
    }

    /// `MODULE::name.index` for the longest named prefix of `arcs` (`IF-MIB::ifIndex.3`).
    pub fn name(&self, arcs: &[u32]) -> Option<String> {
        self.oid_and_name(arcs).1
    }

    /// The dotted OID and its `MODULE::name.index`, sharing one lookup: the named prefix's
    /// dotted text is copied instead of formatting every arc again.
    pub fn oid_and_name(&self, arcs: &[u32]) -> (String, Option<String>) {
        let Some((e, n)) = self.longest_prefix(arcs) else {
            return (super::ber::dotted(arcs), None);
        };
        let suffix = arcs.get(n..).unwrap_or(&[]);
        let mut oid = String::with_capacity(e.dotted.len() + suffix.len() * 4);
        let mut name = String::with_capacity(e.full.len() + suffix.len() * 4);
        oid.push_str(&e.dotted);
        name.push_str(&e.full);
        for &arc in suffix {
            let start = name.len();
            name.push('.');
            push_u64(&mut name, u64::from(arc));
            oid.push_str(name.get(start..).unwrap_or(""));
        }
        (oid, Some(name))
    }
}

/// The rows of the TSV format of `oid_names.tsv` (module, name, kind, dotted OID), in file order,
/// duplicates kept.
pub fn tsv_rows(text: &str) -> impl Iterator<Item = NameEntry> + '_ {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let (module, name, _kind, oid) =
                (cols.next()?, cols.next()?, cols.next()?, cols.next()?);
            let arcs: Option<Vec<u32>> = oid.trim().split('.').map(|a| a.parse().ok()).collect();
            Some(NameEntry::new(arcs?.into_boxed_slice(), module, name))
        })
}

/// Every row of the built-in table, the names that lost OID ties included (`RFC1213-MIB::ifIndex`):
/// MIB files importing from a built-in module resolve against these.
pub fn builtin_rows() -> impl Iterator<Item = NameEntry> {
    tsv_rows(BUILTIN_TSV)
}

/// The built-in table, parsed on first use.
pub fn builtin() -> &'static NameTable {
    static TABLE: OnceLock<NameTable> = OnceLock::new();
    TABLE.get_or_init(|| NameTable::from_tsv(BUILTIN_TSV))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_loads_every_distinct_oid() {
        // 525 rows name 452 distinct OIDs (corpus README).
        assert_eq!(builtin().len(), 452);
    }

    #[test]
    fn smiv2_modules_win_over_rfc1213() {
        assert_eq!(
            builtin()
                .name(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 3])
                .as_deref(),
            Some("IF-MIB::ifIndex.3")
        );
        assert_eq!(
            builtin().name(&[1, 3, 6, 1, 2, 1, 1, 3, 0]).as_deref(),
            Some("SNMPv2-MIB::sysUpTime.0")
        );
    }

    #[test]
    fn exact_lookup_names_notifications_only_when_whole() {
        assert_eq!(
            builtin().exact(&[1, 3, 6, 1, 6, 3, 1, 1, 5, 3]).as_deref(),
            Some("IF-MIB::linkDown")
        );
        assert_eq!(builtin().exact(&[1, 3, 6, 1, 6, 3, 1, 1, 5, 3, 7]), None);
    }

    #[test]
    fn longest_prefix_backs_off_past_unrelated_neighbours() {
        // 1.3.6.1.4.1.9.9 sorts after many 1.3.6.1.4.1.8072 entries but only enterprises matches.
        assert_eq!(
            builtin().name(&[1, 3, 6, 1, 4, 1, 9, 9, 41]).as_deref(),
            Some("SNMPv2-SMI::enterprises.9.9.41")
        );
        assert_eq!(builtin().name(&[7, 7]), None);
        assert_eq!(builtin().name(&[]), None);
    }

    #[test]
    fn longest_prefix_matches_a_brute_force_search() {
        let t = builtin();
        let probes: [&[u32]; 5] = [
            &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 12],
            &[1, 3, 6, 1, 4, 1, 8072, 2, 3, 0, 1],
            &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0],
            &[1, 3, 6, 1, 2, 1, 2, 2, 1, 99],
            &[0, 0],
        ];
        for q in probes {
            let brute = t
                .entries
                .iter()
                .filter(|e| q.starts_with(&e.arcs))
                .max_by_key(|e| e.arcs.len());
            assert_eq!(t.longest_prefix(q).map(|(e, _)| e), brute, "{q:?}");
        }
    }
}
