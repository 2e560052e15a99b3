//! The v1/v2c message envelope and the PDUs inside it (RFC 1157 section 4, RFC 3416 section 3).
//!
//! ```text
//! Message ::= SEQUENCE { version INTEGER, community OCTET STRING, data PDU }
//! PDU     ::= [n] IMPLICIT SEQUENCE { request-id INTEGER, error-status INTEGER,
//!                                     error-index INTEGER, variable-bindings VarBindList }
//! VarBindList ::= SEQUENCE (SIZE (0..max-bindings)) OF SEQUENCE { name OID, value CHOICE }
//! ```
//!
//! Read with our own BER reader because snmp-parser refuses a negative request-id and a
//! community that is not UTF-8 (both sent by real agents); values go through snmp-parser.

use super::ber::{tag, BerError, OidBuf, Reader, Tlv};
use super::names::{self, NameTable};
use super::{v1, value, SnmpMessage, Varbind, MAX_VARBINDS};

/// sysUpTime.0 (RFC 3418).
pub const SYS_UPTIME_0: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
/// snmpTrapOID.0 (RFC 3418).
pub const SNMP_TRAP_OID_0: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];

/// PDU tags (RFC 3416 section 3; 4 is the SNMPv1 Trap-PDU of RFC 1157).
pub const GET_REQUEST: u8 = 0xa0;
pub const RESPONSE: u8 = 0xa2;
pub const TRAP_V1: u8 = 0xa4;
pub const INFORM_REQUEST: u8 = 0xa6;
pub const SNMPV2_TRAP: u8 = 0xa7;

pub fn pdu_name(pdu_tag: u8) -> String {
    let known = match pdu_tag {
        0xa0 => "GetRequest",
        0xa1 => "GetNextRequest",
        0xa2 => "Response",
        0xa3 => "SetRequest",
        0xa4 => "Trap",
        0xa5 => "GetBulkRequest",
        0xa6 => "InformRequest",
        0xa7 => "SNMPv2-Trap",
        0xa8 => "Report",
        other => return format!("unknown(0x{other:02x})"),
    };
    known.to_owned()
}

/// The parts of a v1/v2c message, borrowed from the datagram.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub version: i64,
    pub community: &'a [u8],
    pub pdu: Tlv<'a>,
}

/// Read `version` then, for v1/v2c, community and PDU. `Ok(Err(reader))` hands a v3 message (or
/// an unknown version) back positioned after the version.
pub fn envelope(datagram: &[u8]) -> Result<Result<Envelope<'_>, (i64, Reader<'_>)>, BerError> {
    let seq = Reader::new(datagram).expect(tag::SEQUENCE)?;
    let mut r = Reader::new(seq.value);
    let version = r.integer()?;
    if version != 0 && version != 1 {
        return Ok(Err((version, r)));
    }
    let community = r.expect(tag::OCTET_STRING)?.value;
    let pdu = r.any()?;
    Ok(Ok(Envelope {
        version,
        community,
        pdu,
    }))
}

/// The generic PDU header and the VarBindList TLV.
pub struct GenericPdu<'a> {
    pub request_id: i64,
    pub error_status: i64,
    pub error_index: i64,
    pub varbinds: Tlv<'a>,
}

pub fn generic(content: &[u8]) -> Result<GenericPdu<'_>, BerError> {
    let mut r = Reader::new(content);
    Ok(GenericPdu {
        request_id: r.integer()?,
        error_status: r.integer()?,
        error_index: r.integer()?,
        varbinds: r.expect(tag::SEQUENCE)?,
    })
}

/// Values picked out of the varbinds while walking them.
#[derive(Default)]
pub struct Specials {
    pub uptime: Option<u64>,
    /// snmpTrapOID.0 dotted, and its `MODULE::name` when known.
    pub trap_oid: Option<(String, String)>,
}

/// [`decode_pdu_with`] the built-in names.
pub fn decode_pdu(pdu: Tlv<'_>, community: Option<&[u8]>, msg: &mut SnmpMessage) {
    decode_pdu_with(pdu, community, names::builtin(), msg);
}

/// Decode a PDU (any type) into `msg`: pdu_type, request_id, varbinds, and for notifications
/// uptime, trap_oid and trap_type; OIDs are named from `names`.
pub fn decode_pdu_with(
    pdu: Tlv<'_>,
    community: Option<&[u8]>,
    names: &NameTable,
    msg: &mut SnmpMessage,
) {
    msg.pdu_type = pdu_name(pdu.tag);
    if pdu.tag == TRAP_V1 {
        v1::decode_trap(pdu.value, community, names, msg);
        return;
    }
    if !(GET_REQUEST..=0xa8).contains(&pdu.tag) {
        msg.errors
            .push(format!("unknown PDU tag 0x{:02x}", pdu.tag));
        return;
    }
    let g = match generic(pdu.value) {
        Ok(g) => g,
        Err(e) => {
            msg.errors.push(format!("{}: {e}", msg.pdu_type));
            return;
        }
    };
    msg.request_id = Some(g.request_id);
    let specials = decode_varbinds(g.varbinds.value, names, msg);
    if pdu.tag != SNMPV2_TRAP && pdu.tag != INFORM_REQUEST {
        msg.errors.push("not a notification".to_owned());
        return;
    }
    msg.uptime = specials.uptime;
    if msg.uptime.is_none() {
        msg.errors
            .push("no sysUpTime.0 TimeTicks varbind".to_owned());
    }
    match specials.trap_oid {
        Some((oid, name)) => {
            msg.trap_oid = oid;
            msg.trap_type = name;
        }
        None => msg
            .errors
            .push("no snmpTrapOID.0 OBJECT IDENTIFIER varbind".to_owned()),
    }
}

pub fn set_trap_oid(msg: &mut SnmpMessage, arcs: &[u32], names: &NameTable) {
    msg.trap_oid = super::ber::dotted(arcs);
    msg.trap_type = names.exact(arcs).unwrap_or_default();
}

/// Walk a VarBindList's content, appending to `msg.varbinds` (at most [`MAX_VARBINDS`]).
/// A varbind whose value is bad is kept as hex; one whose framing or name is bad is dropped.
pub fn decode_varbinds(list: &[u8], table: &NameTable, msg: &mut SnmpMessage) -> Specials {
    let mut specials = Specials::default();
    let mut r = Reader::new(list);
    let mut name = OidBuf::new();
    let mut scratch = OidBuf::new();
    msg.varbinds.reserve(list.len().min(MAX_VARBINDS * 8) / 24);
    let mut index = 0usize;
    while !r.is_empty() {
        index += 1;
        if msg.varbinds.len() >= MAX_VARBINDS {
            msg.errors.push(format!(
                "more than {MAX_VARBINDS} varbinds; the rest were dropped"
            ));
            break;
        }
        let (oid_tlv, value_tlv) = match varbind_parts(&mut r) {
            Ok(parts) => parts,
            Err(e) => {
                msg.errors.push(format!("varbind {index}: {e}"));
                break;
            }
        };
        if let Err(e) = name.decode(oid_tlv.value) {
            msg.errors.push(format!("varbind {index}: name: {e}"));
            continue;
        }
        let v = match value::decode(value_tlv, &mut scratch) {
            Ok(v) => v,
            Err((e, kept)) => {
                msg.errors.push(format!("varbind {index}: {e}"));
                kept
            }
        };
        let arcs = name.arcs();
        if arcs == SYS_UPTIME_0 && v.ty == "TimeTicks" {
            specials.uptime = v.number;
        } else if arcs == SNMP_TRAP_OID_0 && v.ty == "OBJECT IDENTIFIER" {
            specials.trap_oid = Some((
                v.text.clone(),
                table.exact(scratch.arcs()).unwrap_or_default(),
            ));
        }
        let (oid, name) = table.oid_and_name(arcs);
        msg.varbinds.push(Varbind {
            oid,
            name,
            ty: v.ty,
            value: v.text,
        });
    }
    specials
}

/// One `SEQUENCE { name OID, value }`; the value is any single TLV.
pub fn varbind_parts<'a>(r: &mut Reader<'a>) -> Result<(Tlv<'a>, Tlv<'a>), BerError> {
    let seq = r.expect(tag::SEQUENCE)?;
    let mut inner = Reader::new(seq.value);
    let oid = inner.expect(tag::OID)?;
    let value = inner.any()?;
    Ok((oid, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_pdu_tags_are_named_by_number() {
        assert_eq!(pdu_name(0xa9), "unknown(0xa9)");
        assert_eq!(pdu_name(SNMPV2_TRAP), "SNMPv2-Trap");
    }

    #[test]
    fn a_bad_varbind_name_drops_only_that_varbind() {
        // [ {1.3.6 = 1}, {1.3.<0x80 pad> = NULL}, {1.3.7 = 2} ]
        let list = [
            0x30, 0x07, 0x06, 0x02, 0x2b, 0x06, 0x02, 0x01, 0x01, //
            0x30, 0x07, 0x06, 0x03, 0x2b, 0x80, 0x01, 0x05, 0x00, //
            0x30, 0x07, 0x06, 0x02, 0x2b, 0x07, 0x02, 0x01, 0x02,
        ];
        let mut msg = SnmpMessage::default();
        decode_varbinds(&list, names::builtin(), &mut msg);
        assert_eq!(msg.varbinds.len(), 2);
        assert_eq!(msg.varbinds[1].oid, "1.3.7");
        assert_eq!(msg.errors.len(), 1);
        assert!(
            msg.errors[0].starts_with("varbind 2: name: OID sub-identifier"),
            "{:?}",
            msg.errors
        );
    }

    #[test]
    fn varbind_count_is_capped() {
        let one = [0x30, 0x05, 0x06, 0x01, 0x2b, 0x05, 0x00];
        let list: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * (MAX_VARBINDS + 5))
            .collect();
        let mut msg = SnmpMessage::default();
        decode_varbinds(&list, names::builtin(), &mut msg);
        assert_eq!(msg.varbinds.len(), MAX_VARBINDS);
        assert_eq!(
            msg.errors,
            vec![format!(
                "more than {MAX_VARBINDS} varbinds; the rest were dropped"
            )]
        );
    }
}
