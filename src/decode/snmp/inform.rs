//! The Response-PDU that acknowledges a v2c InformRequest (RFC 3416 section 4.2.7).
//!
//! The response repeats the version, community and request-id, and the variable-bindings octet
//! for octet (copied, not re-encoded), with error-status noError(0) and error-index 0:
//!
//! ```text
//! 30 len  02 01 01  04 len community  a2 len  02 len request-id  02 01 00  02 01 00  30 len ...
//! ```
//!
//! If that would not fit in one UDP datagram, the RFC's tooBig(1) answer with an empty
//! variable-bindings list is sent instead. A request whose varbind framing does not parse gets no
//! answer (RFC 3412 section 7.2: ASN.1 parse errors are dropped).

use super::ber::{self, tag, Reader};
use super::pdu::{self, INFORM_REQUEST, RESPONSE};

/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

const TOO_BIG: i64 = 1;

pub fn inform_response(datagram: &[u8]) -> Option<Vec<u8>> {
    let env = pdu::envelope(datagram).ok()?.ok()?;
    if env.version != 1 || env.pdu.tag != INFORM_REQUEST {
        return None;
    }
    let g = pdu::generic(env.pdu.value).ok()?;
    let mut r = Reader::new(g.varbinds.value);
    while !r.is_empty() {
        pdu::varbind_parts(&mut r).ok()?;
    }
    let response = encode_response(env.community, g.request_id, 0, g.varbinds.raw);
    if response.len() <= MAX_UDP_PAYLOAD {
        return Some(response);
    }
    Some(encode_response(
        env.community,
        g.request_id,
        TOO_BIG,
        &[tag::SEQUENCE, 0x00],
    ))
}

/// Append a PDU TLV (RFC 3416: request-id, error-status, error-index 0, VarBindList) around an
/// already encoded VarBindList TLV.
pub fn write_pdu(
    out: &mut Vec<u8>,
    pdu_tag: u8,
    request_id: i64,
    error_status: i64,
    varbind_list: &[u8],
) {
    let mut pdu_body = Vec::with_capacity(varbind_list.len() + 16);
    ber::write_integer(&mut pdu_body, request_id);
    ber::write_integer(&mut pdu_body, error_status);
    ber::write_integer(&mut pdu_body, 0);
    pdu_body.extend_from_slice(varbind_list);
    ber::write_tlv(out, pdu_tag, &pdu_body);
}

/// A v2c Response message around an already encoded VarBindList TLV.
pub fn encode_response(
    community: &[u8],
    request_id: i64,
    error_status: i64,
    varbind_list: &[u8],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(varbind_list.len() + community.len() + 32);
    ber::write_integer(&mut body, 1);
    ber::write_tlv(&mut body, tag::OCTET_STRING, community);
    write_pdu(&mut body, RESPONSE, request_id, error_status, varbind_list);

    let mut out = Vec::with_capacity(body.len() + 6);
    ber::write_tlv(&mut out, tag::SEQUENCE, &body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_encoding_matches_the_rfc_layout_byte_for_byte() {
        let vbl = [0x30, 0x05, 0x30, 0x03, 0x06, 0x01, 0x2b];
        let got = encode_response(b"pub", -1, 0, &vbl);
        let want = [
            0x30, 0x1a, 0x02, 0x01, 0x01, 0x04, 0x03, b'p', b'u', b'b', 0xa2, 0x10, 0x02, 0x01,
            0xff, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x05, 0x30, 0x03, 0x06, 0x01, 0x2b,
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn traps_and_v1_messages_get_no_response() {
        // v2c SNMPv2-Trap with an empty varbind list.
        let trap = [
            0x30, 0x13, 0x02, 0x01, 0x01, 0x04, 0x01, b'p', 0xa7, 0x0b, 0x02, 0x01, 0x05, 0x02,
            0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00,
        ];
        assert_eq!(inform_response(&trap[..]), None);
        let mut inform = trap;
        inform[8] = INFORM_REQUEST;
        assert!(inform_response(&inform).is_some());
        inform[4] = 0x00;
        assert_eq!(inform_response(&inform), None);
    }
}
