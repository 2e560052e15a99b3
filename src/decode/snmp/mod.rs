//! SNMP decoding: v1 Trap-PDU, v2c SNMPv2-Trap and InformRequest into trap fields.
//!
//! STUB: the interface the pipeline, ingest and store program against; the decoder replaces the
//! bodies.

use serde::Serialize;

/// One variable binding, ready to store as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Varbind {
    /// Dotted OID.
    pub oid: String,
    /// `MODULE::name.index` when known.
    pub name: Option<String>,
    /// The SMI type: INTEGER, OCTET STRING, OBJECT IDENTIFIER, IpAddress, Counter32, ...
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Printable rendering (text, hex for binary octets, dotted OIDs, decimal numbers).
    pub value: String,
}

/// Everything stored about one SNMP datagram.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SnmpMessage {
    /// `v1`, `v2c`, `v3`, or empty when the version could not be read.
    pub version: String,
    pub community: Option<String>,
    /// `Trap`, `SNMPv2-Trap`, `InformRequest`, ... (the PDU type name).
    pub pdu_type: String,
    pub request_id: Option<i64>,
    /// snmpTrapOID in dotted form (v1 mapped per RFC 3584).
    pub trap_oid: String,
    /// `MODULE::name` of the trap OID when known, else empty.
    pub trap_type: String,
    /// v1 only: agent-addr as sent.
    pub agent_addr: Option<String>,
    /// sysUpTime (v2c) or time-stamp (v1), in hundredths of a second.
    pub uptime: Option<u64>,
    pub varbinds: Vec<Varbind>,
    /// v3 only.
    pub security_name: Option<String>,
    pub engine_id: Option<String>,
    pub security_level: Option<String>,
    /// Why the datagram did not decode cleanly; empty when it did.
    pub errors: Vec<String>,
}

/// Decode one datagram.
pub fn decode(datagram: &[u8]) -> SnmpMessage {
    SnmpMessage {
        errors: vec![format!(
            "SNMP decoder not built yet ({} bytes)",
            datagram.len()
        )],
        ..SnmpMessage::default()
    }
}

/// The one-line readable rendering stored in `messages.raw_message`
/// (`IF-MIB::linkDown ifIndex.3=3 ...`).
pub fn render_line(msg: &SnmpMessage) -> String {
    msg.trap_oid.clone()
}

/// For an InformRequest, the Response datagram to send back; None for anything else.
pub fn inform_response(_datagram: &[u8]) -> Option<Vec<u8>> {
    None
}

/// The `mutt decode snmp` object: the stored fields plus `valid` and `validation_errors`.
pub fn to_json(msg: &SnmpMessage) -> serde_json::Value {
    serde_json::json!({
        "snmp_version": msg.version,
        "community_string": msg.community,
        "pdu_type": msg.pdu_type,
        "request_id": msg.request_id,
        "oid": msg.trap_oid,
        "trap_type": msg.trap_type,
        "varbinds": msg.varbinds,
        "valid": msg.errors.is_empty(),
        "validation_errors": msg.errors,
    })
}
