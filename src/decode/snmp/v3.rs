//! The SNMPv3 message (RFC 3412 section 6) under the User-based Security Model: USM parameters
//! (RFC 3414 section 2.4), authentication (RFC 3414 section 3.2, RFC 7860), decryption (RFC 3414
//! section 8, RFC 3826) and the ScopedPDU.
//!
//! ```text
//! SNMPv3Message ::= SEQUENCE { msgVersion INTEGER (3),
//!     msgGlobalData SEQUENCE { msgID, msgMaxSize, msgFlags OCTET STRING (1), msgSecurityModel },
//!     msgSecurityParameters OCTET STRING (BER of UsmSecurityParameters for model 3),
//!     msgData CHOICE { plaintext ScopedPDU, encryptedPDU OCTET STRING } }
//! UsmSecurityParameters ::= SEQUENCE { msgAuthoritativeEngineID OCTET STRING,
//!     msgAuthoritativeEngineBoots INTEGER, msgAuthoritativeEngineTime INTEGER,
//!     msgUserName OCTET STRING, msgAuthenticationParameters OCTET STRING,
//!     msgPrivacyParameters OCTET STRING }
//! ScopedPDU ::= SEQUENCE { contextEngineID OCTET STRING, contextName OCTET STRING, data PDU }
//! ```
//!
//! msgGlobalData and the USM parameters are read by snmp-parser (`HeaderData`,
//! `parse_usm_security_parameters`); the scoped PDU goes through our PDU decoder.
//!
//! Trust (RFC 3414 section 3.2): the user's active credentials are tried in priority order; the
//! first whose MAC matches (and, for authPriv, whose privacy key yields a well-formed ScopedPDU)
//! wins. The privacy key is localized only after its MAC matched (keys.rs). A noAuthNoPriv
//! message is trusted only from a user none of whose active credentials has authentication.
//! Anything else is untrusted, with an [`Untrusted`] reason.
//!
//! Timeliness (step 7b, as a non-authoritative receiver: a trap's authoritative engine is its
//! sender): an authentic message whose boots are below, or whose time is more than 150 s behind,
//! the latest seen from its engine is untrusted ([`super::clocks`]). An InformRequest is
//! addressed to MUTT's own engine, whose clock ingest checks before it answers (agent/engine.rs), so
//! it is not checked again here. Only a message later than anything seen from its engine, or an
//! inform, may clear its user's failures (`auth_ok_user`): a replay never does.

use std::borrow::Cow;

use snmp_parser::asn1_rs::FromBer;
use snmp_parser::{
    parse_usm_security_parameters, HeaderData, SecurityModel, UsmSecurityParameters,
};

use super::ber::{tag, Reader};
use super::clocks::Timeliness;
use super::credentials::Credential;
use super::names::NameTable;
use super::{pdu, privacy, usm, DecodeContext, SnmpMessage, Usm};

/// Why an SNMPv3 message is not trusted: the usmStats counters of RFC 3414 section 5, plus
/// malformed headers and discovery probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Untrusted {
    /// The header or the USM parameters do not parse (snmpInASNParseErrs).
    Malformed,
    /// An engine discovery probe (RFC 3414 section 4): no user, nothing to keep. Not a failure.
    Discovery,
    /// usmStatsUnknownUserNames: no such user, no active credential, or no users configured.
    UnknownUser,
    /// usmStatsUnsupportedSecLevels: a security level the user's credentials do not have.
    UnsupportedSecLevel,
    /// usmStatsWrongDigests: no credential's MAC matches.
    WrongDigest,
    /// usmStatsDecryptionErrors: the MAC matched, the encryptedPDU did not decrypt.
    DecryptionError,
    /// usmStatsNotInTimeWindows: authentic, but older than the sender engine's clock allows.
    NotInTimeWindow,
}

impl Untrusted {
    /// True when the message counts against its user in snmpv3_auth_failures.
    pub fn is_failure(self) -> bool {
        !matches!(self, Untrusted::Malformed | Untrusted::Discovery)
    }
}

/// Why [`authenticate`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub reason: Untrusted,
    /// For people: names the user and each credential's reason, never a password.
    pub text: String,
}

/// The error on every v3 message when no users are loaded.
pub const NO_USERS: &str = "SNMPv3 message not authenticated: no SNMPv3 users are configured";

/// msgFlags bits (RFC 3412 section 6.4) to the usual level names.
fn security_level(flags: u8) -> Option<&'static str> {
    match flags & 0b011 {
        0b000 => Some("noAuthNoPriv"),
        0b001 => Some("authNoPriv"),
        0b011 => Some("authPriv"),
        _ => None,
    }
}

/// What the header says, borrowed from the datagram.
pub(crate) struct Parts<'a> {
    /// The SNMPv3Message TLV: what the MAC covers.
    pub whole: &'a [u8],
    pub msg_id: u32,
    /// msgFlags: auth 0x01, priv 0x02, reportable 0x04.
    pub flags: u8,
    pub usm: UsmSecurityParameters<'a>,
    /// msgData: the ScopedPDU TLV, or the encryptedPDU OCTET STRING.
    pub data: &'a [u8],
}

/// Decode a whole v3 datagram (the version was already read as 3).
pub fn decode(datagram: &[u8], ctx: &DecodeContext<'_>, msg: &mut SnmpMessage) {
    msg.version = "v3".to_owned();
    let Some(parts) = read_parts(datagram, msg) else {
        msg.untrusted = Some(Untrusted::Malformed);
        return;
    };
    msg.engine_id = Some(crate::hex::encode(parts.usm.msg_authoritative_engine_id));
    let user = parts.usm.msg_user_name.clone();
    msg.security_name = Some(user.clone());
    let encrypted = parts.flags & 0b010 != 0;
    if is_discovery(&parts) {
        // RFC 3414 section 4: the empty-user probe before an inform is no failed login.
        msg.errors.push(DISCOVERY.to_owned());
        msg.untrusted = Some(Untrusted::Discovery);
        decode_scoped(parts.data, ctx.names, msg);
        return;
    }
    let authentic = match ctx.usm {
        None => Err(AuthError {
            reason: Untrusted::UnknownUser,
            text: NO_USERS.to_owned(),
        }),
        Some(usm) => authenticate(usm, &parts).map(|(scoped, cred)| (usm, scoped, cred)),
    };
    let (usm, scoped, cred) = match authentic {
        Ok(ok) => ok,
        Err(e) => {
            msg.errors.push(e.text);
            msg.untrusted = Some(e.reason);
            msg.auth_failure = Some(user);
            if !encrypted {
                // Plaintext: show what was sent, marked by the error above as untrusted.
                decode_scoped(parts.data, ctx.names, msg);
            }
            return;
        }
    };
    decode_scoped(&scoped, ctx.names, msg);
    if cred.is_none() {
        // noAuthNoPriv from a user without keys: trusted, but proves nothing about the sender.
        return;
    }
    let timeliness = if msg.pdu_type == pdu::pdu_name(pdu::INFORM_REQUEST) {
        Timeliness::Fresh
    } else {
        usm.clocks().check(
            parts.usm.msg_authoritative_engine_id,
            parts.usm.msg_authoritative_engine_boots,
            parts.usm.msg_authoritative_engine_time,
        )
    };
    match timeliness {
        Timeliness::Fresh => msg.auth_ok_user = Some(user),
        Timeliness::Timely => {}
        Timeliness::NotInTimeWindow => {
            msg.errors.push(format!(
                "SNMPv3 message from user {user:?} not in time window: engine boots {} time {} \
                 is older than the latest seen from engine {} (RFC 3414 section 3.2 step 7b)",
                parts.usm.msg_authoritative_engine_boots,
                parts.usm.msg_authoritative_engine_time,
                msg.engine_id.as_deref().unwrap_or(""),
            ));
            msg.untrusted = Some(Untrusted::NotInTimeWindow);
            msg.auth_failure = Some(user);
        }
    }
}

/// The error on an engine discovery probe (stored, never counted as a failure).
pub const DISCOVERY: &str = "SNMPv3 engine discovery probe (RFC 3414 section 4)";

/// An RFC 3414 section 4 discovery probe: reportable, noAuthNoPriv, no user name.
pub(crate) fn is_discovery(p: &Parts<'_>) -> bool {
    p.flags & 0b111 == 0b100 && p.usm.msg_user_name.is_empty()
}

/// Header, flags and USM parameters; None (with errors in `msg`) when they cannot be read.
pub(crate) fn read_parts<'a>(datagram: &'a [u8], msg: &mut SnmpMessage) -> Option<Parts<'a>> {
    let mut outer = Reader::new(datagram);
    let seq = match outer.expect(tag::SEQUENCE) {
        Ok(s) => s,
        Err(e) => {
            msg.errors.push(format!("message: {e}"));
            return None;
        }
    };
    let mut r = Reader::new(seq.value);
    if let Err(e) = r.integer() {
        msg.errors.push(format!("msgVersion: {e}"));
        return None;
    }
    let (after, header) = match HeaderData::from_ber(r.rest()) {
        Ok(ok) => ok,
        Err(e) => {
            msg.errors.push(format!("msgGlobalData: {e}"));
            return None;
        }
    };
    let mut r = Reader::new(after);
    match security_level(header.msg_flags) {
        Some(level) => msg.security_level = Some(level.to_owned()),
        None => {
            msg.errors.push(format!(
                "msgFlags 0x{:02x}: privacy without authentication",
                header.msg_flags
            ));
            return None;
        }
    }
    let params = match r.expect(tag::OCTET_STRING) {
        Ok(p) => p,
        Err(e) => {
            msg.errors.push(format!("msgSecurityParameters: {e}"));
            return None;
        }
    };
    if header.msg_security_model != SecurityModel::USM {
        msg.errors.push(format!(
            "security model {} is not USM",
            header.msg_security_model.0
        ));
        return None;
    }
    match parse_usm_security_parameters(params.value) {
        Ok((_, usm)) => Some(Parts {
            whole: seq.raw,
            msg_id: header.msg_id,
            flags: header.msg_flags,
            usm,
            data: r.rest(),
        }),
        Err(e) => {
            msg.errors.push(format!("USM security parameters: {e}"));
            None
        }
    }
}

/// The ScopedPDU octets of an authentic message and the credential that authenticated it (None:
/// noAuthNoPriv), or why it is not one.
pub(crate) fn authenticate<'a, 'u>(
    usm: &'u Usm,
    p: &Parts<'a>,
) -> Result<(Cow<'a, [u8]>, Option<&'u Credential>), AuthError> {
    use Untrusted::*;
    let user = &p.usm.msg_user_name;
    let fail = |reason, why: String| AuthError {
        reason,
        text: format!("SNMPv3 authentication failed for user {user:?}: {why}"),
    };
    let creds = usm.credentials().user(user).ok_or_else(|| AuthError {
        reason: UnknownUser,
        text: format!("SNMPv3 authentication failed: unknown user {user:?}"),
    })?;
    let active: Vec<&Credential> = creds.iter().filter(|c| c.active).collect();
    if active.is_empty() {
        return Err(fail(UnknownUser, "no active credential".into()));
    }
    if p.flags & 0b001 == 0 {
        if active.iter().any(|c| c.auth.is_some()) {
            return Err(fail(
                UnsupportedSecLevel,
                "noAuthNoPriv message, but the user has authentication keys".into(),
            ));
        }
        return Ok((Cow::Borrowed(p.data), None));
    }
    let zeroed = zero_auth_params(p)
        .ok_or_else(|| fail(WrongDigest, "bad msgAuthenticationParameters".into()))?;
    let engine = p.usm.msg_authoritative_engine_id;
    let mut reasons = Vec::new();
    // The reason of the credential that got furthest: a matching MAC tells more than a wrong one.
    let mut furthest = (0, UnsupportedSecLevel);
    for c in active {
        let mut refuse = |stage: u8, reason: Untrusted, why: String| {
            reasons.push(format!("priority {}: {why}", c.priority));
            if stage > furthest.0 {
                furthest = (stage, reason);
            }
        };
        let Some((proto, _)) = &c.auth else {
            refuse(0, UnsupportedSecLevel, "no authentication".into());
            continue;
        };
        let mac = p.usm.msg_authentication_parameters;
        if mac.len() != proto.mac_len() {
            let why = format!(
                "{} octets of MAC, {proto:?} uses {}",
                mac.len(),
                proto.mac_len()
            );
            refuse(1, WrongDigest, why);
            continue;
        }
        let Some((keys, cached)) = usm.keys(c, engine) else {
            refuse(1, WrongDigest, "no key".into());
            continue;
        };
        if !usm::verify_mac(*proto, &keys.auth, &zeroed, mac) {
            refuse(1, WrongDigest, format!("wrong {proto:?} MAC"));
            continue;
        }
        // The MAC matched: only now may the privacy key be localized.
        let scoped = if p.flags & 0b010 == 0 {
            Cow::Borrowed(p.data)
        } else if c.privacy.is_none() {
            let why = "the message is encrypted, the credential has no privacy key";
            refuse(2, UnsupportedSecLevel, why.into());
            continue;
        } else {
            match decrypt(c, usm.privacy_key(c, &keys, engine), p) {
                Ok(plain) => Cow::Owned(plain),
                Err(why) => {
                    refuse(2, DecryptionError, why);
                    continue;
                }
            }
        };
        if !cached {
            usm.remember(c, engine, keys);
        }
        return Ok((scoped, Some(c)));
    }
    Err(fail(furthest.1, reasons.join("; ")))
}

/// The message with msgAuthenticationParameters set to zeros (RFC 3414 section 6.3.2 step 1).
pub(crate) fn zero_auth_params(p: &Parts<'_>) -> Option<Vec<u8>> {
    let params = p.usm.msg_authentication_parameters;
    // The parameters are a sub-slice of the message; find where.
    let start = (params.as_ptr() as usize).checked_sub(p.whole.as_ptr() as usize)?;
    let end = start.checked_add(params.len())?;
    let mut zeroed = p.whole.to_vec();
    zeroed.get_mut(start..end)?.fill(0);
    Some(zeroed)
}

/// Decrypt the encryptedPDU and check that it holds one ScopedPDU.
fn decrypt(c: &Credential, key: Option<&[u8]>, p: &Parts<'_>) -> Result<Vec<u8>, String> {
    let (Some((proto, _)), Some(key)) = (&c.privacy, key) else {
        return Err("the message is encrypted, the credential has no privacy key".into());
    };
    let encrypted = Reader::new(p.data)
        .expect(tag::OCTET_STRING)
        .map_err(|e| format!("encryptedPDU: {e}"))?;
    let plain = privacy::decrypt(
        *proto,
        key,
        p.usm.msg_authoritative_engine_boots,
        p.usm.msg_authoritative_engine_time,
        p.usm.msg_privacy_parameters,
        encrypted.value,
    )
    .map_err(|e| e.to_string())?;
    if !looks_scoped(&plain) {
        return Err(format!(
            "{proto:?} decryption gave no ScopedPDU (wrong privacy password or protocol?)"
        ));
    }
    Ok(plain)
}

/// A ScopedPDU TLV followed by less than one cipher block of padding (DES pads; AES does not).
fn looks_scoped(plain: &[u8]) -> bool {
    let mut r = Reader::new(plain);
    let Ok(seq) = r.expect(tag::SEQUENCE) else {
        return false;
    };
    let mut s = Reader::new(seq.value);
    r.rest().len() < 16
        && s.expect(tag::OCTET_STRING).is_ok()
        && s.expect(tag::OCTET_STRING).is_ok()
        && s.any().is_ok_and(|pdu| pdu.tag & 0xe0 == 0xa0)
}

/// contextEngineID, contextName, then the PDU through the common decoder.
fn decode_scoped(data: &[u8], names: &NameTable, msg: &mut SnmpMessage) {
    let scoped = match Reader::new(data).expect(tag::SEQUENCE) {
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
        Ok(p) => pdu::decode_pdu_with(p, None, names, msg),
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

    #[test]
    fn garbage_is_not_a_scoped_pdu() {
        assert!(!looks_scoped(&[0x30, 0x02, 0x04, 0x00]));
        assert!(!looks_scoped(&[0xff; 40]));
        assert!(looks_scoped(&[
            0x30, 0x06, 0x04, 0x00, 0x04, 0x00, 0xa7, 0x00, 0, 0, 0
        ]));
    }
}
