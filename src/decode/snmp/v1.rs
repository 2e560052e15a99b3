//! The SNMPv1 Trap-PDU (RFC 1157 section 4.1.6) and its mapping to snmpTrapOID (RFC 3584
//! section 3.1).
//!
//! ```text
//! Trap-PDU ::= [4] IMPLICIT SEQUENCE {
//!     enterprise OBJECT IDENTIFIER, agent-addr NetworkAddress (IpAddress, 4 octets),
//!     generic-trap INTEGER (0..6), specific-trap INTEGER, time-stamp TimeTicks,
//!     variable-bindings VarBindList }
//! ```
//!
//! Mapping: generic-trap 0..=5 gives `snmpTraps.(generic+1)` (1.3.6.1.6.3.1.1.5.x, coldStart ..
//! egpNeighborLoss); 6 (enterpriseSpecific) gives `enterprise.0.specific`. The time-stamp becomes
//! `uptime`, agent-addr `agent_addr`. The enterprise is kept the way RFC 3584 section 3.1
//! keeps it: as a varbind `snmpTrapEnterprise.0` (1.3.6.1.6.3.1.1.4.3.0) appended after the
//! varbinds that were sent, so it is stored, searchable and shown without a new column.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ber::{dotted, tag, uint_u64, BerError, OidBuf, Reader};
use super::names::NameTable;
use super::pdu::{decode_varbinds, set_trap_oid};
use super::{SnmpMessage, Varbind};

/// snmpTraps (RFC 3418): generic traps map below it.
const SNMP_TRAPS: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 5];
/// snmpTrapEnterprise.0 (RFC 3418).
pub const SNMP_TRAP_ENTERPRISE_0: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0];

struct TrapHeader {
    enterprise: OidBuf,
    agent_addr: String,
    generic: i64,
    specific: i64,
    time_stamp: u64,
}

fn header(r: &mut Reader<'_>, errors: &mut Vec<String>) -> Result<TrapHeader, BerError> {
    let mut enterprise = OidBuf::new();
    enterprise.decode(r.expect(tag::OID)?.value)?;
    let addr = r.expect(tag::IP_ADDRESS)?.value;
    let agent_addr = match addr.len() {
        4 => Ipv4Addr::from(<[u8; 4]>::try_from(addr).unwrap_or_default()).to_string(),
        // Some agents put an IPv6 address here although the SMI says 4 octets.
        16 => Ipv6Addr::from(<[u8; 16]>::try_from(addr).unwrap_or_default()).to_string(),
        n => {
            errors.push(format!("agent-addr of {n} octets"));
            crate::hex::spaced(addr)
        }
    };
    let generic = r.integer()?;
    let specific = r.integer()?;
    let time_stamp = uint_u64(r.expect(tag::TIME_TICKS)?.value)?;
    Ok(TrapHeader {
        enterprise,
        agent_addr,
        generic,
        specific,
        time_stamp,
    })
}

/// Decode Trap-PDU content into `msg`.
pub fn decode_trap(
    content: &[u8],
    _community: Option<&[u8]>,
    names: &NameTable,
    msg: &mut SnmpMessage,
) {
    let mut r = Reader::new(content);
    let h = match header(&mut r, &mut msg.errors) {
        Ok(h) => h,
        Err(e) => {
            msg.errors.push(format!("Trap: {e}"));
            return;
        }
    };
    msg.agent_addr = Some(h.agent_addr);
    msg.uptime = Some(h.time_stamp);
    match r.expect(tag::SEQUENCE) {
        Ok(list) => {
            decode_varbinds(list.value, names, msg);
        }
        Err(e) => msg.errors.push(format!("Trap: variable-bindings: {e}")),
    }
    let enterprise = h.enterprise.arcs();
    match mapped_trap_oid(enterprise, h.generic, h.specific) {
        Some(oid) => set_trap_oid(msg, &oid, names),
        None => msg.errors.push(format!(
            "generic-trap {} / specific-trap {} cannot be mapped to snmpTrapOID",
            h.generic, h.specific
        )),
    }
    msg.varbinds.push(Varbind {
        oid: dotted(SNMP_TRAP_ENTERPRISE_0),
        name: names.name(SNMP_TRAP_ENTERPRISE_0),
        ty: "OBJECT IDENTIFIER",
        value: dotted(enterprise),
    });
}

/// RFC 3584 section 3.1 (1) and (2); `None` for a generic-trap outside 0..=6 or a specific-trap
/// that is not a 32-bit sub-identifier.
pub fn mapped_trap_oid(enterprise: &[u32], generic: i64, specific: i64) -> Option<Vec<u32>> {
    match generic {
        0..=5 => {
            let mut oid = SNMP_TRAPS.to_vec();
            oid.push(u32::try_from(generic + 1).ok()?);
            Some(oid)
        }
        6 => {
            let mut oid = Vec::with_capacity(enterprise.len() + 2);
            oid.extend_from_slice(enterprise);
            oid.push(0);
            oid.push(u32::try_from(specific).ok()?);
            Some(oid)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_traps_map_below_snmp_traps() {
        assert_eq!(
            mapped_trap_oid(&[1, 3, 6, 1, 4, 1, 9], 0, 0),
            Some(vec![1, 3, 6, 1, 6, 3, 1, 1, 5, 1])
        );
        assert_eq!(
            mapped_trap_oid(&[1, 3], 5, 0),
            Some(vec![1, 3, 6, 1, 6, 3, 1, 1, 5, 6])
        );
    }

    #[test]
    fn enterprise_specific_traps_map_to_enterprise_zero_specific() {
        assert_eq!(
            mapped_trap_oid(&[1, 3, 6, 1, 4, 1, 9], 6, 17),
            Some(vec![1, 3, 6, 1, 4, 1, 9, 0, 17])
        );
    }

    #[test]
    fn out_of_range_generic_or_specific_does_not_map() {
        assert_eq!(mapped_trap_oid(&[1, 3], 7, 0), None);
        assert_eq!(mapped_trap_oid(&[1, 3], -1, 0), None);
        assert_eq!(mapped_trap_oid(&[1, 3], 6, -5), None);
    }
}
