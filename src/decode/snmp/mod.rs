//! SNMP decoding: v1 Trap-PDU, v2c SNMPv2-Trap and InformRequest into trap fields (RFC 1157,
//! RFC 3416, RFC 3584 section 3.1 for the v1 mapping; v3 header per RFC 3412/3414).
//!
//! `decode` never fails and never panics: whatever cannot be read is described in
//! `SnmpMessage::errors` and everything read before it is kept. Layout of the module:
//!
//! ```text
//! ber.rs     BER TLV reader, INTEGER/OID decoding, the small encoder for Responses
//! pdu.rs     v1/v2c envelope, PDU header, VarBindList walk (cap: MAX_VARBINDS)
//! v1.rs      Trap-PDU and its snmpTrapOID mapping (RFC 3584 section 3.1)
//! v3.rs      v3 header, USM parameters, authentication and decryption, ScopedPDU
//! credentials.rs  snmpv3_credentials.yaml (users, protocols, passwords as Secret)
//! keys.rs    Usm: credentials by user plus the bounded localized-key cache
//! clocks.rs  latest boots/time per sender engine: the RFC 3414 timeliness check for traps
//! privacy.rs DES-CBC and AES-CFB decryption, AES-192/256 key extension
//! value.rs   one varbind value to SMI type name and text
//! names.rs   OID -> MODULE::name by longest prefix (built-in table oid_names.tsv)
//! mib/       MIB files (SMIv1/SMIv2) -> names merged with the built-in table
//! render.rs  the one-line rendering for messages.raw_message
//! inform.rs  the Response to a v2c InformRequest
//! usm.rs     USM key derivation (password to key, localization) and HMAC verification
//! ```
//!
//! # What comes from snmp-parser 0.11 and what is our own
//!
//! snmp-parser decodes the SMI application types of varbind values (`ObjectSyntax`: IpAddress,
//! Counter32, Gauge32, TimeTicks, Opaque, Counter64, ...), the v3 msgGlobalData (`HeaderData`)
//! and the USM parameters. Our own BER code reads the rest, because snmp-parser's message
//! parsers reject whole messages that real agents send:
//!
//! * request-id is read as `u32`, so a negative Integer32 request-id (SharpSnmpLib sends them)
//!   fails the message; ours reads it as i64.
//! * the community must be UTF-8 (`str::from_utf8`), so a binary community fails the message;
//!   ours keeps the bytes (lossy UTF-8 in `community`, the exact bytes in an inform Response).
//! * the varbind list is collected without a bound; ours stops at [`MAX_VARBINDS`].
//! * OBJECT IDENTIFIERs are decoded here so that sub-identifiers over 32 bits, padded with 0x80
//!   or more than 128 of them are refused (RFC 2578), and the arcs feed the name lookup without
//!   a second pass.
//! * snmp-parser turns a zero-length OCTET STRING into `Empty`; value.rs reads OCTET STRING and
//!   INTEGER itself (also the hot path: they are most varbinds).
//!
//! # Field conventions
//!
//! * `version` `v1`/`v2c`/`v3`; `pdu_type` as in [`pdu::pdu_name`] (`Trap` is the v1 Trap-PDU).
//! * v1: `uptime` = time-stamp, `agent_addr` = agent-addr, the enterprise is appended as the
//!   varbind `SNMPv2-MIB::snmpTrapEnterprise.0` (RFC 3584 section 3.1), `request_id` is None.
//! * v2c/v3 notifications: `uptime` from sysUpTime.0, `trap_oid` from snmpTrapOID.0; the
//!   varbinds are kept as sent, those two included.
//! * Other PDUs decode fully, with the error "not a notification".
//! * Values: INTEGER and the unsigned types in decimal, OCTET STRING as text when it is
//!   printable UTF-8 (one trailing NUL ignored) and otherwise as spaced hex `0a 1b ff`, OIDs
//!   dotted, IpAddress dotted quad, Opaque as hex, NULL and the three exceptions as "".
//! * v3: `engine_id` is the msgAuthoritativeEngineID in hex (no spaces), `security_name` the USM
//!   user, `security_level` noAuthNoPriv/authNoPriv/authPriv. With users loaded
//!   ([`DecodeContext::usm`]) the message is authenticated, decrypted and checked for
//!   timeliness (v3.rs). A v3 message is trusted only when it authenticated with an active
//!   credential, or came at noAuthNoPriv from a user configured without authentication; any
//!   other sets `untrusted` to the reason and carries it in `errors`, and (when it names a user)
//!   `auth_failure` to the user. A trusted message that is later than anything seen from its
//!   engine sets `auth_ok_user`. Without users, every v3 message carries [`v3::NO_USERS`].

pub mod ber;
pub mod clocks;
pub mod credentials;
pub mod inform;
pub mod keys;
pub mod mib;
pub mod names;
pub mod pdu;
pub mod privacy;
pub mod render;
pub mod usm;
pub mod v1;
pub mod v3;
pub mod value;
mod varbinds_json;

use serde::Serialize;

pub use keys::{SharedUsm, Usm};
pub use v3::Untrusted;
pub use varbinds_json::varbinds_json;

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
    /// v3: why the message is not trusted (None: trusted, or not v3). Untrusted messages are
    /// never matched against rules.
    pub untrusted: Option<Untrusted>,
    /// v3: the user whose message is untrusted (unknown user included), counted as a failure.
    pub auth_failure: Option<String>,
    /// v3: the user whose message authenticated, was timely and later than anything seen from
    /// its engine (so not a replay): clears that user's failure count.
    pub auth_ok_user: Option<String>,
    /// Why the datagram did not decode cleanly; empty when it did.
    pub errors: Vec<String>,
}

/// Most varbinds decoded from one PDU; the rest are dropped with an error. A 64 KiB datagram
/// could carry about 9,000 empty varbinds; real traps carry tens.
pub const MAX_VARBINDS: usize = 1024;

/// What decoding needs besides the datagram; built once, shared by every worker.
#[derive(Clone, Copy)]
pub struct DecodeContext<'a> {
    /// OID names: the built-in table, plus MIB files once loaded.
    pub names: &'a names::NameTable,
    /// SNMPv3 users and their keys; None: v3 messages are not authenticated.
    pub usm: Option<&'a Usm>,
}

impl Default for DecodeContext<'static> {
    fn default() -> Self {
        DecodeContext {
            names: names::builtin(),
            usm: None,
        }
    }
}

/// Decode one datagram with the built-in names and no SNMPv3 users.
pub fn decode(datagram: &[u8]) -> SnmpMessage {
    decode_with(datagram, &DecodeContext::default())
}

/// Decode one datagram.
pub fn decode_with(datagram: &[u8], ctx: &DecodeContext<'_>) -> SnmpMessage {
    let mut msg = SnmpMessage::default();
    match pdu::envelope(datagram) {
        Err(e) => msg.errors.push(format!("message: {e}")),
        Ok(Ok(env)) => {
            msg.version = if env.version == 0 { "v1" } else { "v2c" }.to_owned();
            msg.community = Some(String::from_utf8_lossy(env.community).into_owned());
            pdu::decode_pdu_with(env.pdu, Some(env.community), ctx.names, &mut msg);
        }
        Ok(Err((3, _))) => v3::decode(datagram, ctx, &mut msg),
        Ok(Err((version, _))) => msg.errors.push(format!("unknown SNMP version {version}")),
    }
    msg
}

/// The one-line readable rendering stored in `messages.raw_message`
/// (`IF-MIB::linkDown IF-MIB::ifIndex.3=3 ...`), at most [`render::MAX_LINE`] bytes.
pub fn render_line(msg: &SnmpMessage) -> String {
    render::render_line(msg)
}

/// [`render_line`] with the names a [`DecodeContext`] decoded with.
pub fn render_line_with(msg: &SnmpMessage, names: &names::NameTable) -> String {
    render::render_line_with(msg, names)
}

/// For a v2c InformRequest, the Response datagram to send back; None for anything else.
pub fn inform_response(datagram: &[u8]) -> Option<Vec<u8>> {
    inform::inform_response(datagram)
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
        "agent_addr": msg.agent_addr,
        "uptime": msg.uptime,
        "security_name": msg.security_name,
        "engine_id": msg.engine_id,
        "security_level": msg.security_level,
        "varbinds": msg.varbinds,
        "valid": msg.errors.is_empty(),
        "validation_errors": msg.errors,
    })
}
