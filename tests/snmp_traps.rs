//! SNMP traps and informs from net-snmp's real `snmptrap` and `snmpinform` (v1, v2c).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Run a net-snmp client against the test daemon; numeric OIDs, so no MIB files are needed.
fn net_snmp(tool: &str, args: &[&str]) -> std::process::Output {
    Command::new(tool)
        .env("MIBS", "")
        .args(["-M", "/nonexistent", "-t", "2", "-r", "2"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"))
}

#[test]
#[ignore = "needs snmptrap"]
fn v1_and_v2c_traps_are_stored_with_trap_oid_names_and_varbinds() {
    need_tool("snmptrap");
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let target = format!("127.0.0.1:{}", env.snmp_port);
    // v2c linkDown (IF-MIB) with ifIndex, ifAdminStatus, ifOperStatus.
    let out = net_snmp(
        "snmptrap",
        &[
            "-v",
            "2c",
            "-c",
            "public",
            &target,
            "12345",
            "1.3.6.1.6.3.1.1.5.3",
            "1.3.6.1.2.1.2.2.1.1.7",
            "i",
            "7",
            "1.3.6.1.2.1.2.2.1.7.7",
            "i",
            "2",
            "1.3.6.1.2.1.2.2.1.8.7",
            "i",
            "2",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // v1 enterprise-specific trap 6/17 from the net-snmp enterprise.
    let out = net_snmp(
        "snmptrap",
        &[
            "-v",
            "1",
            "-c",
            "private",
            &target,
            "1.3.6.1.4.1.8072.2.3",
            "127.0.0.1",
            "6",
            "17",
            "4242",
            "1.3.6.1.4.1.8072.2.3.2.1",
            "i",
            "60",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.wait_rows(2, Duration::from_secs(10)), 2);
    let db = env.db();
    let (oid, trap_type, community, raw, varbinds): (String, String, String, String, String) = db
        .query_row(
            "SELECT s.oid, s.trap_type, s.community_string, m.raw_message, s.varbinds
             FROM snmp_messages s JOIN messages m ON m.id = s.message_id
             WHERE s.snmp_version = 'v2c'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("v2c row");
    assert_eq!(oid, "1.3.6.1.6.3.1.1.5.3");
    assert_eq!(trap_type, "IF-MIB::linkDown");
    assert_eq!(community, "public");
    assert!(raw.starts_with("IF-MIB::linkDown"), "{raw}");
    assert!(raw.contains("IF-MIB::ifIndex.7=7"), "{raw}");
    let vb: serde_json::Value = serde_json::from_str(&varbinds).expect("varbinds JSON");
    assert!(
        vb.as_array()
            .expect("array")
            .iter()
            .any(|v| v["name"] == "IF-MIB::ifAdminStatus.7"
                && v["type"] == "INTEGER"
                && v["value"] == "2"),
        "{vb}"
    );
    let (oid, version, uptime, agent): (String, String, i64, String) = db
        .query_row(
            "SELECT oid, snmp_version, uptime, agent_addr FROM snmp_messages WHERE snmp_version = 'v1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("v1 row");
    // RFC 3584 3.1: enterprise.0.specific.
    assert_eq!(oid, "1.3.6.1.4.1.8072.2.3.0.17");
    assert_eq!(version, "v1");
    assert_eq!(uptime, 4242);
    assert_eq!(agent, "127.0.0.1");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE type = 'snmp_trap' AND validated = 1")
            .unwrap(),
        2
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM devices WHERE last_seen_snmp_version IS NOT NULL")
            .unwrap(),
        1
    );
    drop(daemon);
}

#[test]
#[ignore = "needs snmpinform"]
fn a_v2c_inform_is_acknowledged_and_stored_once() {
    need_tool("snmpinform");
    let env = Env::new(Setup::default());
    let daemon = env.start();
    let target = format!("127.0.0.1:{}", env.snmp_port);
    let out = net_snmp(
        "snmpinform",
        &[
            "-v",
            "2c",
            "-c",
            "public",
            &target,
            "",
            "1.3.6.1.6.3.1.1.5.4",
            "1.3.6.1.2.1.2.2.1.1.3",
            "i",
            "3",
        ],
    );
    assert!(
        out.status.success(),
        "snmpinform got no Response: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    // snmpinform has exited, so anything more it sent was sent before the marker.
    env.snmp_marker();
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        2,
        "the inform and the marker"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM snmp_messages WHERE pdu_type = 'InformRequest' AND trap_type = 'IF-MIB::linkUp'").unwrap(),
        1
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("informs_acked=1 "), "{stderr}");
}

#[test]
#[ignore = "needs snmptrap"]
fn a_community_not_in_the_list_is_counted_and_not_stored() {
    need_tool("snmptrap");
    let env = Env::new(Setup {
        extra: "snmp:\n  communities: [public]\n".into(),
        ..Setup::default()
    });
    let daemon = env.start();
    let target = format!("127.0.0.1:{}", env.snmp_port);
    for community in ["public", "guessme"] {
        let out = net_snmp(
            "snmptrap",
            &[
                "-v",
                "2c",
                "-c",
                community,
                &target,
                "",
                "1.3.6.1.6.3.1.1.5.1",
            ],
        );
        assert!(out.status.success());
    }
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 1);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM snmp_messages WHERE community_string = 'public'")
            .unwrap(),
        1
    );
    assert!(stderr.contains("community_rejected=1"), "{stderr}");
}

#[test]
#[ignore = "needs snmpinform"]
fn a_v2c_inform_with_a_community_not_in_the_list_is_not_acknowledged() {
    need_tool("snmpinform");
    let env = Env::new(Setup {
        extra: "snmp:\n  communities: [public]\n".into(),
        ..Setup::default()
    });
    let daemon = env.start();
    let target = format!("127.0.0.1:{}", env.snmp_port);
    let inform = |community: &str| {
        net_snmp(
            "snmpinform",
            &[
                "-v",
                "2c",
                "-c",
                community,
                &target,
                "",
                "1.3.6.1.6.3.1.1.5.1",
            ],
        )
    };
    assert!(inform("public").status.success());
    assert!(
        !inform("guessme").status.success(),
        "no Response for a community MUTT rejects"
    );
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    let (status, stderr) = daemon.terminate();
    assert!(status.success(), "{stderr}");
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 1);
    assert!(stderr.contains("informs_acked=1 "), "{stderr}");
    // Each try of the refused inform (-r 2: three) reached the pipeline and was counted.
    assert!(stderr.contains("community_rejected=3"), "{stderr}");
}
