//! The one-line rendering of a decoded message stored in `messages.raw_message`:
//! `IF-MIB::linkDown IF-MIB::ifIndex.3=3 IF-MIB::ifDescr.3="Gi 0/3"`.
//!
//! The head is the trap name (or OID, or the PDU type for non-notifications); then each varbind as
//! `name=value`, skipping sysUpTime.0 and snmpTrapOID.0, which the head and the uptime column
//! already carry. OBJECT IDENTIFIER values are shown by name when one is known. Values with spaces, quotes, `=` or nothing in them are quoted with `\"` and `\\`
//! escaped; control characters are escaped so the line stays one line. The line is cut at
//! [`MAX_LINE`] bytes with a count of the varbinds left out.

use super::names::{self, NameTable};
use super::SnmpMessage;

/// Longest rendering, in bytes (the varbinds stay whole in the JSON column).
pub const MAX_LINE: usize = 4096;

/// sysUpTime.0 and snmpTrapOID.0, dotted as `Varbind::oid` holds them.
const SKIPPED: [&str; 2] = ["1.3.6.1.2.1.1.3.0", "1.3.6.1.6.3.1.1.4.1.0"];

/// [`render_line_with`] the built-in names.
pub fn render_line(msg: &SnmpMessage) -> String {
    render_line_with(msg, names::builtin())
}

/// The line; `names` names an unnamed trap OID by prefix and OBJECT IDENTIFIER values (the
/// varbind names were set by the decoder).
pub fn render_line_with(msg: &SnmpMessage, names: &NameTable) -> String {
    // A 10-varbind linkDown renders to about 300 bytes: sized so that it is not copied again.
    let mut line = String::with_capacity(512);
    line.push_str(&head(msg, names));
    let shown = || {
        msg.varbinds
            .iter()
            .filter(|v| !SKIPPED.contains(&v.oid.as_str()))
    };
    let mut piece = String::with_capacity(128);
    for (i, vb) in shown().enumerate() {
        piece.clear();
        piece.push(' ');
        piece.push_str(vb.name.as_deref().unwrap_or(&vb.oid));
        piece.push('=');
        match oid_value_name(vb, names) {
            Some(name) => piece.push_str(&name),
            None => push_value(&mut piece, &vb.value),
        }
        // Leave room for the "more" marker.
        if line.len() + piece.len() > MAX_LINE - 24 {
            line.push_str(&format!(" ...(+{} more)", shown().count() - i));
            break;
        }
        line.push_str(&piece);
    }
    truncate(&mut line, MAX_LINE);
    line
}

fn head(msg: &SnmpMessage, names: &NameTable) -> String {
    if !msg.trap_type.is_empty() {
        return msg.trap_type.clone();
    }
    if !msg.trap_oid.is_empty() {
        let arcs: Option<Vec<u32>> = msg.trap_oid.split('.').map(|a| a.parse().ok()).collect();
        return arcs
            .and_then(|a| names.name(&a))
            .unwrap_or_else(|| msg.trap_oid.clone());
    }
    if msg.pdu_type.is_empty() {
        return "SNMP".to_owned();
    }
    msg.pdu_type.clone()
}

/// An OBJECT IDENTIFIER value by name, as net-snmp prints it (`NET-SNMP-TC::linux`).
fn oid_value_name(vb: &super::Varbind, names: &NameTable) -> Option<String> {
    if vb.ty != "OBJECT IDENTIFIER" {
        return None;
    }
    let arcs: Option<Vec<u32>> = vb.value.split('.').map(|a| a.parse().ok()).collect();
    names.name(&arcs?)
}

fn push_value(out: &mut String, value: &str) {
    let quote = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '=' | '\\'));
    if quote {
        out.push('"');
    }
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    if quote {
        out.push('"');
    }
}

/// Cut `s` to at most `max` bytes on a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::super::Varbind;
    use super::*;

    fn vb(oid: &str, name: Option<&str>, value: &str) -> Varbind {
        Varbind {
            oid: oid.into(),
            name: name.map(Into::into),
            ty: "OCTET STRING",
            value: value.into(),
        }
    }

    #[test]
    fn the_skipped_oids_are_sysuptime_and_snmptrapoid() {
        use super::super::ber;
        use super::super::pdu::{SNMP_TRAP_OID_0, SYS_UPTIME_0};
        assert_eq!(
            SKIPPED,
            [
                ber::dotted(SYS_UPTIME_0).as_str(),
                ber::dotted(SNMP_TRAP_OID_0).as_str()
            ]
        );
    }

    #[test]
    fn line_starts_with_the_trap_name_and_skips_uptime_and_trap_oid() {
        let msg = SnmpMessage {
            trap_oid: "1.3.6.1.6.3.1.1.5.3".into(),
            trap_type: "IF-MIB::linkDown".into(),
            varbinds: vec![
                vb("1.3.6.1.2.1.1.3.0", Some("SNMPv2-MIB::sysUpTime.0"), "5"),
                vb(
                    "1.3.6.1.6.3.1.1.4.1.0",
                    Some("SNMPv2-MIB::snmpTrapOID.0"),
                    "1.3.6.1.6.3.1.1.5.3",
                ),
                vb("1.3.6.1.2.1.2.2.1.1.3", Some("IF-MIB::ifIndex.3"), "3"),
                vb(
                    "1.3.6.1.2.1.2.2.1.2.3",
                    Some("IF-MIB::ifDescr.3"),
                    "Gi 0/3 \"up\"",
                ),
                vb("1.3.6.1.4.1.9.1", None, ""),
            ],
            ..SnmpMessage::default()
        };
        assert_eq!(
            render_line(&msg),
            r#"IF-MIB::linkDown IF-MIB::ifIndex.3=3 IF-MIB::ifDescr.3="Gi 0/3 \"up\"" 1.3.6.1.4.1.9.1="""#
        );
    }

    #[test]
    fn unnamed_trap_oids_fall_back_to_prefix_names_then_dotted() {
        let mut msg = SnmpMessage {
            trap_oid: "1.3.6.1.4.1.9.0.1".into(),
            ..SnmpMessage::default()
        };
        assert_eq!(render_line(&msg), "SNMPv2-SMI::enterprises.9.0.1");
        msg.trap_oid = "7.1".into();
        assert_eq!(render_line(&msg), "7.1");
        msg.trap_oid.clear();
        msg.pdu_type = "Response".into();
        assert_eq!(render_line(&msg), "Response");
    }

    #[test]
    fn control_characters_never_break_the_line() {
        let msg = SnmpMessage {
            varbinds: vec![vb("1.3", None, "a\nb\u{1}")],
            ..SnmpMessage::default()
        };
        assert_eq!(render_line(&msg), r#"SNMP 1.3="a\nb\u{1}""#);
    }

    #[test]
    fn long_lines_are_bounded_with_a_count_of_what_was_left_out() {
        let big = "x".repeat(1000);
        let msg = SnmpMessage {
            varbinds: (0..10).map(|_| vb("1.3", None, &big)).collect(),
            ..SnmpMessage::default()
        };
        let line = render_line(&msg);
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        assert!(
            line.ends_with(" ...(+6 more)"),
            "{}",
            &line[line.len() - 20..]
        );
    }
}
