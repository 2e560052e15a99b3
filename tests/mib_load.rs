//! MIB loading against libsmi's reference names for the 16 corpus modules, bad files, and
//! loaded names reaching trap decoding.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use mutt::decode::snmp::mib::{load_dirs, load_mib_dirs, MibErrorKind};
use mutt::decode::snmp::names::{self, NameEntry, NameTable};
use mutt::decode::snmp::{decode, decode_with, render_line_with, DecodeContext};

const NETSNMP_V1_ENTERPRISE: &[u8] = include_bytes!("data/snmp/netsnmp_v1_enterprise_specific.bin");

fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

/// `(module, name) -> dotted OID` of the loaded names.
fn loaded() -> HashMap<(String, String), String> {
    let set = load_dirs(&[data("mibs")]);
    assert!(set.errors.is_empty(), "{:#?}", set.errors);
    assert_eq!(set.modules.len(), 16);
    set.names
        .into_iter()
        .map(|n| {
            let oid = n.arcs.iter().map(u32::to_string).collect::<Vec<_>>();
            ((n.module, n.name), oid.join("."))
        })
        .collect()
}

#[test]
fn the_corpus_modules_give_every_libsmi_name_with_the_same_oid() {
    let got = loaded();
    let reference = fs::read_to_string(data("mibs/reference/oid_names.tsv")).unwrap();
    let mut rows = 0;
    for line in reference.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let key = (cols[0].to_owned(), cols[1].to_owned());
        assert_eq!(got.get(&key), Some(&cols[3].to_owned()), "{line}");
        rows += 1;
    }
    assert_eq!(rows, 525);
    // Nothing beyond the reference either: same modules, same names.
    assert_eq!(got.len(), 525, "extra names loaded");
}

#[test]
fn libsmi_identifier_dumps_of_snmpv2_mib_and_if_mib_agree() {
    let got = loaded();
    for file in [
        "libsmi-identifiers-SNMPv2-MIB.txt",
        "libsmi-identifiers-IF-MIB.txt",
    ] {
        let text = fs::read_to_string(data("mibs/reference").join(file)).unwrap();
        let mut checked = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Types have no OID.
            if let [module, name, _kind, oid] = cols[..] {
                let key = (module.to_owned(), name.to_owned());
                assert_eq!(
                    got.get(&key).map(String::as_str),
                    Some(oid),
                    "{file}: {line}"
                );
                checked += 1;
            }
        }
        assert!(checked > 60, "{file}: {checked}");
    }
}

#[test]
fn the_merged_table_of_the_corpus_modules_equals_the_builtin_table() {
    let (table, errors) = load_mib_dirs(&[data("mibs")]);
    assert!(errors.is_empty());
    let builtin = names::builtin();
    assert_eq!(table.len(), builtin.len());
    for (a, b) in table.entries().iter().zip(builtin.entries()) {
        assert_eq!((&a.full, &a.dotted), (&b.full, &b.dotted));
    }
}

#[test]
fn a_broken_file_and_an_unresolvable_parent_are_reported_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        data("mibs-extra/MUTT-TEST-TRAP-MIB.txt"),
        dir.path().join("MUTT-TEST-TRAP-MIB.txt"),
    )
    .unwrap();
    fs::write(
        dir.path().join("BROKEN-MIB.mib"),
        "BROKEN-MIB DEFINITIONS ::= BEGIN\nbroken OBJECT IDENTIFIER ::= { iso 3\n\nEND\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("ORPHAN-MIB"),
        "ORPHAN-MIB DEFINITIONS ::= BEGIN\nIMPORTS acmeRoot FROM ACME-SMI;\n\
         orphan OBJECT IDENTIFIER ::= { acmeRoot 1 }\n\
         orphanChild OBJECT IDENTIFIER ::= { orphan 1 }\n\
         adopted OBJECT IDENTIFIER ::= { iso 3 6 1 4 1 424242 }\nEND\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("README.md"),
        "not a MIB -- skipped by its name\n",
    )
    .unwrap();
    let set = load_dirs(&[dir.path().to_path_buf()]);
    let errors: Vec<(String, u32, MibErrorKind)> = set
        .errors
        .iter()
        .map(|e| {
            let file = e.path.file_name().unwrap().to_string_lossy().into_owned();
            (file, e.line, e.kind.clone())
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("BROKEN-MIB.mib".to_owned(), 4, MibErrorKind::Syntax),
            ("ORPHAN-MIB".to_owned(), 3, MibErrorKind::Unresolved),
        ],
        "{:#?}",
        set.errors
    );
    assert!(
        set.errors[1].to_string().ends_with(
            "ORPHAN-MIB:3: cannot resolve the OID of `orphan`: `acmeRoot` is imported from \
             ACME-SMI, which is not loaded"
        ),
        "{}",
        set.errors[1]
    );
    assert_eq!(set.modules, vec!["MUTT-TEST-TRAP-MIB", "ORPHAN-MIB"]);
    let names: Vec<&str> = set.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["muttTestLinuxTrap", "adopted"]);
}

#[test]
fn a_missing_directory_is_reported_as_such() {
    let (table, errors) = load_mib_dirs(&[data("no-such-mib-dir")]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, MibErrorKind::Directory);
    assert_eq!(table.len(), names::builtin().len());
}

#[test]
fn the_shipped_config_mib_directory_loads_cleanly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/mibs");
    let set = load_dirs(&[dir]);
    assert!(set.errors.is_empty(), "{:?}", set.errors);
}

/// A v2c SNMPv2-Trap: sysUpTime.0 = 5, snmpTrapOID.0 = `trap` (BER, short lengths only).
fn v2c_trap(trap: &[u8]) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, content.len() as u8];
        v.extend_from_slice(content);
        v
    }
    let uptime = [tlv(0x06, &[0x2b, 6, 1, 2, 1, 1, 3, 0]), tlv(0x43, &[5])].concat();
    let trap_oid = [
        tlv(0x06, &[0x2b, 6, 1, 6, 3, 1, 1, 4, 1, 0]),
        tlv(0x06, trap),
    ]
    .concat();
    let list = [tlv(0x30, &uptime), tlv(0x30, &trap_oid)].concat();
    let pdu = [
        tlv(0x02, &[1]),
        tlv(0x02, &[0]),
        tlv(0x02, &[0]),
        tlv(0x30, &list),
    ]
    .concat();
    let msg = [tlv(0x02, &[1]), tlv(0x04, b"public"), tlv(0xa7, &pdu)].concat();
    tlv(0x30, &msg)
}

#[test]
fn the_net_snmp_examples_mib_names_the_heartbeat_notification() {
    let set = load_dirs(&[data("mibs")]);
    // Only what the files gave: no built-in names help here.
    let table = NameTable::from_rows(
        set.names
            .iter()
            .map(|n| NameEntry::new(n.arcs.clone().into_boxed_slice(), &n.module, &n.name)),
    );
    // 1.3.6.1.4.1.8072.2.3.0.1; 8072 is 0xbf 0x08 in BER.
    let heartbeat = [0x2b, 6, 1, 4, 1, 0xbf, 0x08, 2, 3, 0, 1];
    let msg = decode_with(
        &v2c_trap(&heartbeat),
        &DecodeContext {
            names: &table,
            usm: None,
        },
    );
    assert!(msg.errors.is_empty(), "{:?}", msg.errors);
    assert_eq!(msg.trap_oid, "1.3.6.1.4.1.8072.2.3.0.1");
    assert_eq!(
        msg.trap_type,
        "NET-SNMP-EXAMPLES-MIB::netSnmpExampleHeartbeatNotification"
    );
    assert_eq!(
        render_line_with(&msg, &table),
        "NET-SNMP-EXAMPLES-MIB::netSnmpExampleHeartbeatNotification"
    );
}

#[test]
fn a_loaded_trap_type_names_a_captured_v1_enterprise_specific_trap() {
    // Built-in names only: the trap has no name of its own.
    assert_eq!(decode(NETSNMP_V1_ENTERPRISE).trap_type, "");
    let (table, errors) = load_mib_dirs(&[data("mibs-extra")]);
    assert!(errors.is_empty(), "{errors:?}");
    let msg = decode_with(
        NETSNMP_V1_ENTERPRISE,
        &DecodeContext {
            names: &table,
            usm: None,
        },
    );
    assert_eq!(msg.trap_oid, "1.3.6.1.4.1.8072.3.2.10.0.17");
    assert_eq!(msg.trap_type, "MUTT-TEST-TRAP-MIB::muttTestLinuxTrap");
    assert_eq!(
        render_line_with(&msg, &table),
        "MUTT-TEST-TRAP-MIB::muttTestLinuxTrap IF-MIB::ifIndex.1=1 \
         SNMPv2-MIB::snmpTrapEnterprise.0=NET-SNMP-TC::linux"
    );
}
