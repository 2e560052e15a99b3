//! MUTT's SNMPv3 engine identity on disk: snmpEngineID and snmpEngineBoots (RFC 3414 section 2.2),
//! in the file `engine` of the WAL directory, rewritten (and fsynced) at every start.
//!
//! ```text
//! engine_id 80000000050123456789abcdef    hex, 5 to 32 octets (RFC 3411 SnmpEngineID)
//! boots 7                                 decimal, 1 to 2147483647
//! ```
//!
//! A generated ID follows RFC 3411 section 5: `80 00 00 00` (enterprise 0 with the high bit:
//! MUTT has no IANA enterprise number of its own), format 5 (administratively assigned octets),
//! then 8 random octets. A configured `snmpv3.engine_id` replaces the stored one; when it differs,
//! boots starts again at 1 (the new engine has never booted).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use crate::agent::engine::EngineState;

pub const FILE_NAME: &str = "engine";
/// RFC 3414 section 2.2.2: snmpEngineBoots stops here.
const MAX_BOOTS: u32 = i32::MAX as u32;

/// Read the stored identity, count this boot, write it back durably; the engine to run with.
pub fn start(wal_dir: &Path, configured: Option<&[u8]>) -> io::Result<EngineState> {
    let path = wal_dir.join(FILE_NAME);
    let stored = match fs::read_to_string(&path) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let (engine_id, boots) = match (stored, configured) {
        (Some((id, boots)), None) => (id, boots.saturating_add(1).min(MAX_BOOTS)),
        (Some((id, boots)), Some(c)) if id == c => (id, boots.saturating_add(1).min(MAX_BOOTS)),
        (_, Some(c)) => (c.to_vec(), 1),
        (None, None) => (generate(), 1),
    };
    let tmp = wal_dir.join(format!("{FILE_NAME}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(format(&engine_id, boots).as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    File::open(wal_dir)?.sync_all()?;
    let seed = u64::from_be_bytes(random::<8>());
    Ok(EngineState::new(engine_id, boots, seed))
}

pub fn format(engine_id: &[u8], boots: u32) -> String {
    let hex = crate::hex::encode(engine_id);
    format!("engine_id {hex}\nboots {boots}\n")
}

/// The stored (engine ID, boots); None for a file that does not parse (then a new ID is made).
pub fn parse(text: &str) -> Option<(Vec<u8>, u32)> {
    let mut id = None;
    let mut boots = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("engine_id", v)) => id = parse_hex(v.trim()),
            Some(("boots", v)) => boots = v.trim().parse::<u32>().ok(),
            _ => {}
        }
    }
    Some((id?, boots?.min(MAX_BOOTS)))
}

/// An RFC 3411 SnmpEngineID in hex (5 to 32 octets, not all zeros); None otherwise.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    crate::hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .filter(|b| (5..=32).contains(&b.len()) && b.iter().any(|&x| x != 0))
}

fn generate() -> Vec<u8> {
    let mut id = vec![0x80, 0, 0, 0, 5];
    id.extend_from_slice(&random::<8>());
    id
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let ok = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if ok.is_err() {
        // No /dev/urandom: a v7 UUID's random bits (and its clock) are unique enough here.
        let u = uuid::Uuid::now_v7();
        for (o, b) in out.iter_mut().zip(u.as_bytes().iter().rev()) {
            *o = *b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boots_count_up_across_starts_and_the_id_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = start(dir.path(), None).unwrap();
        assert_eq!(a.boots, 1);
        assert_eq!(a.engine_id.len(), 13);
        assert_eq!(a.engine_id[..5], [0x80, 0, 0, 0, 5]);
        let b = start(dir.path(), None).unwrap();
        assert_eq!((b.engine_id.clone(), b.boots), (a.engine_id.clone(), 2));
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(parse(&text), Some((a.engine_id, 2)));
    }

    #[test]
    fn a_configured_id_wins_and_a_new_one_restarts_boots() {
        let dir = tempfile::tempdir().unwrap();
        let id = parse_hex("8000000005aabbccdd").unwrap();
        assert_eq!(start(dir.path(), None).unwrap().boots, 1);
        let c = start(dir.path(), Some(&id)).unwrap();
        assert_eq!((c.engine_id.clone(), c.boots), (id.clone(), 1));
        assert_eq!(start(dir.path(), Some(&id)).unwrap().boots, 2);
    }

    #[test]
    fn hex_engine_ids_are_checked() {
        assert_eq!(parse_hex("0x8000000001"), Some(vec![0x80, 0, 0, 0, 1]));
        assert_eq!(parse_hex("80000000"), None);
        assert_eq!(parse_hex("0000000000"), None);
        assert_eq!(parse_hex("800000000g"), None);
        assert_eq!(parse_hex("80000000012"), None);
        assert_eq!(parse_hex(&"ab".repeat(33)), None);
        assert_eq!(parse("boots 3\n"), None);
        assert_eq!(parse("engine_id 8000000001\nboots x\n"), None);
    }
}
