//! One VarBind value (RFC 3416 section 3, RFC 2578 section 7.1) to its SMI type name and a
//! printable rendering.
//!
//! The SMI application types (IpAddress, Counter32, Gauge32/Unsigned32, TimeTicks, Opaque,
//! Counter64, ...) are decoded by snmp-parser (`ObjectSyntax::try_from(Any)`). The universal
//! types are read here: INTEGER and OCTET STRING because they are most varbinds and the generic
//! path cost a third of value decoding, and snmp-parser folds a zero-length OCTET STRING into
//! `Empty` (losing its type); OIDs so the SMI limits are enforced; NULL and the exceptions
//! noSuchObject / noSuchInstance / endOfMibView because they carry no content.

use std::fmt::Write as _;

use snmp_parser::asn1_rs::{Any, FromBer};
use snmp_parser::{NetworkAddress, ObjectSyntax};

use crate::hex::spaced;

use super::ber::{dotted, int_i64, push_u64, BerError, OidBuf, Tlv};

/// The decoded value: SMI type name and rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub ty: &'static str,
    pub text: String,
    /// The numeric value, when the type has one (TimeTicks for sysUpTime.0).
    pub number: Option<u64>,
}

impl Value {
    fn new(ty: &'static str, text: String) -> Self {
        Value {
            ty,
            text,
            number: None,
        }
    }

    fn num(ty: &'static str, n: u64) -> Self {
        let mut text = String::with_capacity(10);
        push_u64(&mut text, n);
        Value {
            ty,
            text,
            number: Some(n),
        }
    }
}

/// Decode the value TLV of one varbind. An `Err` carries a hex rendering to keep anyway.
pub fn decode(tlv: Tlv<'_>, oid: &mut OidBuf) -> Result<Value, (String, Value)> {
    match tlv.tag {
        0x80 => return Ok(Value::new("noSuchObject", String::new())),
        0x81 => return Ok(Value::new("noSuchInstance", String::new())),
        0x82 => return Ok(Value::new("endOfMibView", String::new())),
        0x05 => return Ok(Value::new("NULL", String::new())),
        // The two commonest types skip the generic path (a third of value decoding time).
        0x04 => return Ok(Value::new("OCTET STRING", octets(tlv.value))),
        0x02 => {
            return match int_i64(tlv.value).ok().and_then(|n| i32::try_from(n).ok()) {
                Some(n) => {
                    let mut text = String::with_capacity(11);
                    if n < 0 {
                        text.push('-');
                    }
                    push_u64(&mut text, u64::from(n.unsigned_abs()));
                    Ok(Value {
                        ty: "INTEGER",
                        text,
                        number: u64::try_from(n).ok(),
                    })
                }
                None => Err((
                    "INTEGER is not an Integer32".to_owned(),
                    Value::new("INTEGER", spaced(tlv.value)),
                )),
            };
        }
        0x06 => {
            // Our own OID decoder enforces the SMI limits (32-bit arcs, at most 128 of them).
            return match oid.decode(tlv.value) {
                Ok(()) => Ok(Value::new("OBJECT IDENTIFIER", dotted(oid.arcs()))),
                Err(e) => Err((
                    e.to_string(),
                    Value::new("OBJECT IDENTIFIER", spaced(tlv.value)),
                )),
            };
        }
        _ => {}
    }
    let syntax = Any::from_ber(tlv.raw)
        .map_err(|e| e.to_string())
        .and_then(|(_, any)| ObjectSyntax::try_from(any).map_err(|e| e.to_string()));
    match syntax {
        Ok(s) => Ok(from_syntax(s, tlv)),
        Err(e) => Err((
            format!("bad value with tag 0x{:02x}: {e}", tlv.tag),
            Value::new(type_name(tlv.tag), spaced(tlv.value)),
        )),
    }
}

fn from_syntax(s: ObjectSyntax<'_>, tlv: Tlv<'_>) -> Value {
    match s {
        ObjectSyntax::Number(n) => {
            let mut text = String::with_capacity(11);
            let _ = write!(text, "{n}");
            Value {
                ty: "INTEGER",
                text,
                number: u64::try_from(n).ok(),
            }
        }
        ObjectSyntax::String(b) => Value::new("OCTET STRING", octets(b)),
        ObjectSyntax::IpAddress(NetworkAddress::IPv4(ip)) => {
            Value::new("IpAddress", ip.to_string())
        }
        ObjectSyntax::Counter32(n) => Value::num("Counter32", u64::from(n)),
        ObjectSyntax::Gauge32(n) => Value::num("Gauge32", u64::from(n)),
        ObjectSyntax::TimeTicks(n) => Value::num("TimeTicks", u64::from(n)),
        ObjectSyntax::Counter64(n) => Value::num("Counter64", n),
        ObjectSyntax::UInteger32(n) => Value::num("UInteger32", u64::from(n)),
        ObjectSyntax::Opaque(b) => Value::new("Opaque", spaced(b)),
        ObjectSyntax::NsapAddress(b) => Value::new("NsapAddress", spaced(b)),
        ObjectSyntax::Empty => Value::new("NULL", String::new()),
        // Not SMI types, but keep what was sent.
        ObjectSyntax::BitString(_) | ObjectSyntax::Object(_) => {
            Value::new(type_name(tlv.tag), spaced(tlv.value))
        }
        ObjectSyntax::UnknownSimple(_) | ObjectSyntax::UnknownApplication(_) => {
            Value::new(type_name(tlv.tag), spaced(tlv.value))
        }
    }
}

/// The SMI name of a tag, for values kept as hex.
fn type_name(tag: u8) -> &'static str {
    match tag {
        0x02 => "INTEGER",
        0x03 => "BIT STRING",
        0x04 => "OCTET STRING",
        0x06 => "OBJECT IDENTIFIER",
        0x40 => "IpAddress",
        0x41 => "Counter32",
        0x42 => "Gauge32",
        0x43 => "TimeTicks",
        0x44 => "Opaque",
        0x45 => "NsapAddress",
        0x46 => "Counter64",
        0x47 => "UInteger32",
        _ => "unknown",
    }
}

/// Text when the octets are printable UTF-8 (tabs and line breaks allowed), else hex.
pub fn octets(b: &[u8]) -> String {
    // Many agents NUL-terminate DisplayStrings; one trailing NUL does not make a string binary.
    let body = match b.split_last() {
        Some((0, rest)) if !rest.is_empty() => rest,
        _ => b,
    };
    match std::str::from_utf8(body) {
        Ok(s)
            if s.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')) =>
        {
            s.to_owned()
        }
        _ => spaced(b),
    }
}

/// Decode a whole value from raw bytes (tests and callers outside a varbind list).
pub fn decode_raw(raw: &[u8]) -> Result<Value, String> {
    let tlv = super::ber::Reader::new(raw)
        .any()
        .map_err(|e: BerError| e.to_string())?;
    decode(tlv, &mut OidBuf::new()).map_err(|(e, _)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(raw: &[u8]) -> (&'static str, String) {
        let value = decode_raw(raw).unwrap();
        (value.ty, value.text)
    }

    #[test]
    fn every_smi_type_gets_its_name_and_rendering() {
        assert_eq!(v(&[0x02, 0x01, 0xfe]), ("INTEGER", "-2".into()));
        assert_eq!(v(&[0x04, 0x02, b'u', b'p']), ("OCTET STRING", "up".into()));
        assert_eq!(v(&[0x04, 0x00]), ("OCTET STRING", "".into()));
        assert_eq!(v(&[0x05, 0x00]), ("NULL", "".into()));
        assert_eq!(
            v(&[0x06, 0x03, 0x2b, 0x06, 0x01]),
            ("OBJECT IDENTIFIER", "1.3.6.1".into())
        );
        assert_eq!(
            v(&[0x40, 0x04, 10, 0, 0, 1]),
            ("IpAddress", "10.0.0.1".into())
        );
        assert_eq!(
            v(&[0x41, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]),
            ("Counter32", "4294967295".into())
        );
        assert_eq!(v(&[0x42, 0x01, 0x03]), ("Gauge32", "3".into()));
        assert_eq!(v(&[0x43, 0x02, 0x01, 0x00]), ("TimeTicks", "256".into()));
        assert_eq!(v(&[0x44, 0x02, 0x9f, 0x78]), ("Opaque", "9f 78".into()));
        assert_eq!(
            v(&[0x46, 0x03, 0x17, 0x50, 0x87]),
            ("Counter64", "1527943".into())
        );
        assert_eq!(v(&[0x80, 0x00]), ("noSuchObject", "".into()));
        assert_eq!(v(&[0x81, 0x00]), ("noSuchInstance", "".into()));
        assert_eq!(v(&[0x82, 0x00]), ("endOfMibView", "".into()));
    }

    #[test]
    fn binary_octets_render_as_spaced_hex() {
        assert_eq!(octets(&[0x0a, 0x1b, 0xff]), "0a 1b ff");
        assert_eq!(octets(b"eth0\0"), "eth0");
        assert_eq!(octets(&[0]), "00");
        assert_eq!(octets(b"a\tb"), "a\tb");
        assert_eq!(octets(&[0x00, 0x15, 0x99]), "00 15 99");
    }

    #[test]
    fn undecodable_values_are_kept_as_hex_with_a_reason() {
        let tlv = super::super::ber::Reader::new(&[0x41, 0x01, 0xff])
            .any()
            .unwrap();
        let (reason, kept) = decode(tlv, &mut OidBuf::new()).unwrap_err();
        assert!(reason.contains("0x41"), "{reason}");
        assert_eq!((kept.ty, kept.text.as_str()), ("Counter32", "ff"));
    }
}
