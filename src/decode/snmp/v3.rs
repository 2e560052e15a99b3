//! The SNMPv3 message header (RFC 3412 section 6) and USM security parameters (RFC 3414
//! section 2.4), read without keys: version, engine ID, user and security level.
//!
//! ```text
//! SNMPv3Message ::= SEQUENCE { msgVersion INTEGER (3),
//!     msgGlobalData SEQUENCE { msgID, msgMaxSize, msgFlags OCTET STRING (1), msgSecurityModel },
//!     msgSecurityParameters OCTET STRING (BER of UsmSecurityParameters for model 3),
//!     msgData CHOICE { plaintext ScopedPDU, encryptedPDU OCTET STRING } }
//! ScopedPDU ::= SEQUENCE { contextEngineID OCTET STRING, contextName OCTET STRING, data PDU }
//! ```
//!
//! msgGlobalData and the USM parameters are read by snmp-parser (`HeaderData`,
//! `parse_usm_security_parameters`); the scoped PDU goes through our PDU decoder. Authentication
//! is not checked yet, so every v3 message carries the error "SNMPv3 USM not supported yet".

use snmp_parser::asn1_rs::FromBer;
use snmp_parser::{parse_usm_security_parameters, HeaderData, SecurityModel};

use super::ber::{tag, Reader};
use super::{pdu, value, SnmpMessage};

pub const USM_NOT_SUPPORTED: &str = "SNMPv3 USM not supported yet";

/// msgFlags bits (RFC 3412 section 6.4) to the usual level names.
fn security_level(flags: u8) -> Option<&'static str> {
    match flags & 0b011 {
        0b000 => Some("noAuthNoPriv"),
        0b001 => Some("authNoPriv"),
        0b011 => Some("authPriv"),
        _ => None,
    }
}

/// Continue decoding after msgVersion; `r` is positioned at msgGlobalData.
pub fn decode(r: Reader<'_>, msg: &mut SnmpMessage) {
    msg.version = "v3".to_owned();
    let rest = r.rest();
    let (after, header) = match HeaderData::from_ber(rest) {
        Ok(ok) => ok,
        Err(e) => {
            msg.errors.push(format!("msgGlobalData: {e}"));
            msg.errors.push(USM_NOT_SUPPORTED.to_owned());
            return;
        }
    };
    let mut r = Reader::new(after);
    match security_level(header.msg_flags) {
        Some(level) => msg.security_level = Some(level.to_owned()),
        None => msg.errors.push(format!(
            "msgFlags 0x{:02x}: privacy without authentication",
            header.msg_flags
        )),
    }
    match r.expect(tag::OCTET_STRING) {
        Ok(params) if header.msg_security_model == SecurityModel::USM => {
            match parse_usm_security_parameters(params.value) {
                Ok((_, usm)) => {
                    msg.engine_id =
                        Some(value::hex(usm.msg_authoritative_engine_id).replace(' ', ""));
                    msg.security_name = Some(usm.msg_user_name);
                }
                Err(e) => msg.errors.push(format!("USM security parameters: {e}")),
            }
        }
        Ok(_) => msg.errors.push(format!(
            "security model {} is not USM",
            header.msg_security_model.0
        )),
        Err(e) => msg.errors.push(format!("msgSecurityParameters: {e}")),
    }
    msg.errors.push(USM_NOT_SUPPORTED.to_owned());
    if header.is_encrypted() {
        return;
    }
    // Plaintext: show what was sent, marked by the error above as not authenticated.
    let scoped = match r.expect(tag::SEQUENCE) {
        Ok(s) => s,
        Err(e) => {
            msg.errors.push(format!("ScopedPDU: {e}"));
            return;
        }
    };
    let mut s = Reader::new(scoped.value);
    let pdu = s
        .expect(tag::OCTET_STRING)
        .and_then(|_| s.expect(tag::OCTET_STRING))
        .and_then(|_| s.any());
    match pdu {
        Ok(p) => pdu::decode_pdu(p, None, msg),
        Err(e) => msg.errors.push(format!("ScopedPDU: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_levels_follow_the_flag_bits() {
        assert_eq!(security_level(0x04), Some("noAuthNoPriv"));
        assert_eq!(security_level(0x05), Some("authNoPriv"));
        assert_eq!(security_level(0x07), Some("authPriv"));
        assert_eq!(security_level(0x02), None);
    }
}
