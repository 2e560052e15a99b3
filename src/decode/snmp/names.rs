//! OID → `MODULE::name` lookup by longest prefix over the built-in table of core MIB names.
//!
//! The table is `oid_names.tsv` (module, name, kind, dotted OID; derived with libsmi `smidump` from
//! the MIB modules in the test corpus and cross-checked with net-snmp `snmptranslate`), compiled in
//! with `include_str!` and parsed once into a Vec sorted by OID arcs. Where two modules name the
//! same OID (RFC1213-MIB and its SMIv2 successors IF-MIB / SNMPv2-MIB), the SMIv2 module wins, as
//! net-snmp prints it (`IF-MIB::ifIndex`, not `RFC1213-MIB::ifIndex`).

use std::sync::OnceLock;

use super::ber::push_u64;

const BUILTIN_TSV: &str = include_str!("oid_names.tsv");

/// One named node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    pub arcs: Box<[u32]>,
    pub module: String,
    pub name: String,
}

/// A set of names sorted by OID, one per OID.
#[derive(Debug, Clone, Default)]
pub struct NameTable {
    entries: Vec<NameEntry>,
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
                .then(module_rank(&a.module).cmp(&module_rank(&b.module)))
        });
        entries.dedup_by(|later, first| later.arcs == first.arcs);
        NameTable { entries }
    }

    /// Parse the TSV format of `oid_names.tsv`; `#` lines, the header and bad rows are skipped.
    pub fn from_tsv(text: &str) -> Self {
        let rows = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let mut cols = line.split('\t');
                let (module, name, _kind, oid) =
                    (cols.next()?, cols.next()?, cols.next()?, cols.next()?);
                let arcs: Option<Vec<u32>> =
                    oid.trim().split('.').map(|a| a.parse().ok()).collect();
                Some(NameEntry {
                    arcs: arcs?.into_boxed_slice(),
                    module: module.to_owned(),
                    name: name.to_owned(),
                })
            });
        Self::from_rows(rows)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry whose OID is the longest prefix of `arcs`, and how many arcs it covers.
    pub fn longest_prefix(&self, arcs: &[u32]) -> Option<(&NameEntry, usize)> {
        // Any prefix of `q` sorts at or before `q`, and so at or before `q`'s predecessor `p`;
        // when `p` is not itself a prefix, every candidate is also a prefix of the part `p` and
        // `q` share, so search again for that shorter key. Each round shortens the key.
        let mut q = arcs;
        loop {
            let i = self.entries.partition_point(|e| &*e.arcs <= q);
            let p = self.entries.get(i.checked_sub(1)?)?;
            if q.starts_with(&p.arcs) {
                return Some((p, p.arcs.len()));
            }
            let common = p.arcs.iter().zip(q).take_while(|(a, b)| a == b).count();
            if common == 0 {
                return None;
            }
            q = q.get(..common)?;
        }
    }

    /// `MODULE::name` when `arcs` is exactly a named node.
    pub fn exact(&self, arcs: &[u32]) -> Option<String> {
        match self.longest_prefix(arcs) {
            Some((e, n)) if n == arcs.len() => Some(format!("{}::{}", e.module, e.name)),
            _ => None,
        }
    }

    /// `MODULE::name.index` for the longest named prefix of `arcs` (`IF-MIB::ifIndex.3`).
    pub fn name(&self, arcs: &[u32]) -> Option<String> {
        let (e, n) = self.longest_prefix(arcs)?;
        let suffix = arcs.get(n..).unwrap_or(&[]);
        let mut s = String::with_capacity(e.module.len() + e.name.len() + 2 + suffix.len() * 4);
        s.push_str(&e.module);
        s.push_str("::");
        s.push_str(&e.name);
        for &arc in suffix {
            s.push('.');
            push_u64(&mut s, u64::from(arc));
        }
        Some(s)
    }
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
