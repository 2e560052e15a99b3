//! MUTT as the authoritative SNMPv3 engine of InformRequests (RFC 3414 sections 3.1, 3.2 and 4,
//! RFC 3412 section 7.1, RFC 3826 section 3.1.3): the Reports and Responses to send back.
//!
//! For an inform the receiver is authoritative, so the sender first discovers MUTT's engine:
//!
//! ```text
//! probe     reportable, noAuthNoPriv, empty user and engine ID, GetRequest with no varbinds
//!   <- Report usmStatsUnknownEngineIDs.0 (Counter32), our engine ID, boots and time, noAuth
//! inform    our engine ID, boots, time; authenticated with keys localized to our engine ID
//!   <- Report usmStatsNotInTimeWindows.0, authNoPriv, when boots differ or |time| > 150 s
//!   <- Response-PDU: same msgID, request-id and varbinds, same security level, MAC over the
//!      whole message with the MAC field zeroed, ScopedPDU encrypted for authPriv
//! ```
//!
//! A message that fails authentication or decryption (wrong password, unknown user) gets no
//! answer: RFC 3414 would send usmStatsWrongDigests / usmStatsUnknownUserNames Reports, but an
//! unauthenticated answer to forged traffic only helps reflection, and the sender fails either
//! way. Pure code: the engine time comes in as an argument; counters and the salt are atomics.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use crate::decode::snmp::ber::{self, tag, Reader};
use crate::decode::snmp::credentials::Credential;
use crate::decode::snmp::keys::LocalKeys;
use crate::decode::snmp::pdu::{self, INFORM_REQUEST, RESPONSE};
use crate::decode::snmp::usm::AuthProtocol;
use crate::decode::snmp::v3::{self, Parts};
use crate::decode::snmp::{inform, privacy, SnmpMessage, Usm};

/// Largest message we say we accept (msgMaxSize): a UDP payload over IPv4.
const MAX_SIZE: i64 = 65_507;
/// RFC 3414 section 3.2 step 7: the time window, in seconds.
pub const TIME_WINDOW: u32 = 150;
/// Report-PDU tag (RFC 3416 section 3).
const REPORT: u8 = 0xa8;
/// Counter32 tag (RFC 2578).
const COUNTER32: u8 = 0x41;
/// usmStatsUnknownEngineIDs.0 and usmStatsNotInTimeWindows.0 (RFC 3414 section 5), BER content.
const UNKNOWN_ENGINE_IDS: &[u8] = &[0x2b, 6, 1, 6, 3, 15, 1, 1, 4, 0];
const NOT_IN_TIME_WINDOWS: &[u8] = &[0x2b, 6, 1, 6, 3, 15, 1, 1, 2, 0];

/// msgFlags bits (RFC 3412 section 6.4).
pub const FLAG_AUTH: u8 = 0x01;
pub const FLAG_PRIV: u8 = 0x02;
pub const FLAG_REPORTABLE: u8 = 0x04;

/// snmpEngineID and snmpEngineBoots of this MUTT, the usmStats counters it reports, and the
/// counter behind the privacy salts. Shared by reference; all counters are atomics.
#[derive(Debug)]
pub struct EngineState {
    pub engine_id: Vec<u8>,
    pub boots: u32,
    salt: AtomicU64,
    unknown_engine_ids: AtomicU32,
    not_in_time_windows: AtomicU32,
}

impl EngineState {
    /// `salt_seed`: a random start for the salt counter, so that salts are not reused across
    /// restarts within one boots value (RFC 3826 section 3.1.2.1).
    pub fn new(engine_id: Vec<u8>, boots: u32, salt_seed: u64) -> EngineState {
        EngineState {
            engine_id,
            boots,
            salt: AtomicU64::new(salt_seed),
            unknown_engine_ids: AtomicU32::new(0),
            not_in_time_windows: AtomicU32::new(0),
        }
    }

    fn next_salt(&self) -> u64 {
        self.salt.fetch_add(1, Ordering::Relaxed)
    }
}

/// What [`respond_v3`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// Report usmStatsUnknownEngineIDs: may be sent at once, nothing was accepted.
    Discovery,
    /// Report usmStatsNotInTimeWindows: may be sent at once, the inform was not accepted.
    NotInTimeWindow,
    /// The Response to an authentic InformRequest: send only once its datagram is in the WAL.
    /// `context_engine`: the contextEngineID, the sender's own snmpEngineID (RFC 3413 section
    /// 3.2), which with user and request-id tells a retransmission from a new inform.
    Response {
        context_engine: Vec<u8>,
        user: String,
        request_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub datagram: Vec<u8>,
}

/// The datagram to send back for a v3 message to MUTT (`time`: seconds since this engine
/// started, snmpEngineTime), or None: not v3, not for us, not authentic, not an inform.
pub fn respond_v3(
    datagram: &[u8],
    engine: &EngineState,
    time: u32,
    usm: Option<&Usm>,
) -> Option<Reply> {
    if !matches!(pdu::envelope(datagram), Ok(Err((3, _)))) {
        return None;
    }
    let mut scratch = SnmpMessage::default();
    let parts = v3::read_parts(datagram, &mut scratch)?;
    let out = Out {
        engine,
        time,
        msg_id: parts.msg_id,
        user: parts.usm.msg_user_name.as_bytes(),
    };
    if parts.usm.msg_authoritative_engine_id != engine.engine_id.as_slice() {
        // Step 3 of RFC 3414 section 3.2; only a plaintext probe can be answered in plaintext.
        if parts.flags & (FLAG_REPORTABLE | FLAG_AUTH) != FLAG_REPORTABLE {
            return None;
        }
        let n = engine.unknown_engine_ids.fetch_add(1, Ordering::Relaxed) + 1;
        let request_id = scoped_pdu(parts.data).map_or(0, |(_, _, g)| g.request_id);
        let datagram = out.report(UNKNOWN_ENGINE_IDS, n, request_id, None)?;
        return Some(Reply {
            kind: ReplyKind::Discovery,
            datagram,
        });
    }
    let usm = usm?;
    let (scoped, cred) = v3::authenticate(usm, &parts).ok()?;
    let keys = match cred {
        Some(c) => {
            let k = usm.keys(c, &engine.engine_id)?.0;
            if parts.flags & FLAG_PRIV != 0 {
                // Authentic (checked above): the Response is encrypted with this key.
                usm.privacy_key(c, &k, &engine.engine_id)?;
            }
            Some((c, k))
        }
        None => None,
    };
    if let Some((c, k)) = &keys {
        if !in_time_window(&parts, engine, time) {
            let n = engine.not_in_time_windows.fetch_add(1, Ordering::Relaxed) + 1;
            let request_id = scoped_pdu(&scoped).map_or(0, |(_, _, g)| g.request_id);
            let datagram = out.report(NOT_IN_TIME_WINDOWS, n, request_id, Some((c, k)))?;
            return Some(Reply {
                kind: ReplyKind::NotInTimeWindow,
                datagram,
            });
        }
    }
    let response_scoped = inform_response_scoped(&scoped)?;
    let level = parts.flags & (FLAG_AUTH | FLAG_PRIV);
    let keys_ref = keys.as_ref().map(|(c, k)| (*c, k.as_ref()));
    let (context_engine, _, pdu) = scoped_pdu(&scoped)?;
    let datagram = out.message(level, &response_scoped, keys_ref)?;
    Some(Reply {
        kind: ReplyKind::Response {
            context_engine: context_engine.to_vec(),
            user: parts.usm.msg_user_name.clone(),
            request_id: pdu.request_id,
        },
        datagram,
    })
}

/// RFC 3414 section 3.2 step 7 (a), as the authoritative engine.
fn in_time_window(p: &Parts<'_>, engine: &EngineState, time: u32) -> bool {
    engine.boots < i32::MAX as u32
        && p.usm.msg_authoritative_engine_boots == engine.boots
        && p.usm.msg_authoritative_engine_time.abs_diff(time) <= TIME_WINDOW
}

/// contextEngineID, contextName and the PDU header of a ScopedPDU.
fn scoped_pdu(data: &[u8]) -> Option<(&[u8], &[u8], PduParts<'_>)> {
    let seq = Reader::new(data).expect(tag::SEQUENCE).ok()?;
    let mut s = Reader::new(seq.value);
    let context_engine = s.expect(tag::OCTET_STRING).ok()?.value;
    let context_name = s.expect(tag::OCTET_STRING).ok()?.value;
    let pdu = s.any().ok()?;
    let g = pdu::generic(pdu.value).ok()?;
    Some((
        context_engine,
        context_name,
        PduParts {
            tag: pdu.tag,
            request_id: g.request_id,
            varbinds: g.varbinds.raw,
            varbinds_value: g.varbinds.value,
        },
    ))
}

struct PduParts<'a> {
    tag: u8,
    request_id: i64,
    /// The VarBindList TLV, copied into the Response octet for octet.
    varbinds: &'a [u8],
    varbinds_value: &'a [u8],
}

/// The ScopedPDU of the Response: same context, request-id and varbinds (RFC 3416 section 4.2.7).
fn inform_response_scoped(scoped: &[u8]) -> Option<Vec<u8>> {
    let (context_engine, context_name, p) = scoped_pdu(scoped)?;
    if p.tag != INFORM_REQUEST {
        return None;
    }
    let mut r = Reader::new(p.varbinds_value);
    while !r.is_empty() {
        pdu::varbind_parts(&mut r).ok()?;
    }
    Some(scoped_bytes(
        context_engine,
        context_name,
        RESPONSE,
        p.request_id,
        p.varbinds,
    ))
}

/// A ScopedPDU (RFC 3412 section 6): contextEngineID, contextName and a PDU around an already
/// encoded VarBindList TLV.
pub fn scoped_bytes(
    context_engine: &[u8],
    context_name: &[u8],
    pdu_tag: u8,
    request_id: i64,
    varbind_list: &[u8],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(varbind_list.len() + context_engine.len() + 32);
    ber::write_tlv(&mut body, tag::OCTET_STRING, context_engine);
    ber::write_tlv(&mut body, tag::OCTET_STRING, context_name);
    inform::write_pdu(&mut body, pdu_tag, request_id, 0, varbind_list);
    let mut out = Vec::with_capacity(body.len() + 4);
    ber::write_tlv(&mut out, tag::SEQUENCE, &body);
    out
}

/// A whole SNMPv3Message around the ScopedPDU `scoped`, sent by `engine` (its ID and boots, and
/// `time`, go into the USM parameters) as `user` with msgFlags `flags`: signed and, for authPriv,
/// encrypted with `keys`, localized to `engine`'s ID. None when the flags need keys or a protocol
/// that `keys` lacks. MUTT's Reports and Responses are built the same way; the load generator
/// sends traps with it, as the authoritative engine of its own messages.
pub fn encode_message(
    engine: &EngineState,
    time: u32,
    msg_id: u32,
    user: &[u8],
    flags: u8,
    scoped: &[u8],
    keys: Option<(&Credential, &LocalKeys)>,
) -> Option<Vec<u8>> {
    Out {
        engine,
        time,
        msg_id,
        user,
    }
    .message(flags, scoped, keys)
}

/// What every outgoing message of one exchange shares.
struct Out<'a> {
    engine: &'a EngineState,
    time: u32,
    msg_id: u32,
    user: &'a [u8],
}

impl Out<'_> {
    /// A Report with one Counter32 varbind; authNoPriv with `keys`, else noAuthNoPriv.
    fn report(
        &self,
        oid: &[u8],
        count: u32,
        request_id: i64,
        keys: Option<(&Credential, &std::sync::Arc<LocalKeys>)>,
    ) -> Option<Vec<u8>> {
        let mut value = Vec::new();
        ber::write_integer(&mut value, i64::from(count));
        *value.first_mut()? = COUNTER32;
        let mut vb = Vec::new();
        ber::write_tlv(&mut vb, tag::OID, oid);
        vb.extend_from_slice(&value);
        let mut vbs = Vec::new();
        ber::write_tlv(&mut vbs, tag::SEQUENCE, &vb);
        let mut list = Vec::new();
        ber::write_tlv(&mut list, tag::SEQUENCE, &vbs);
        let scoped = scoped_bytes(&self.engine.engine_id, b"", REPORT, request_id, &list);
        let level = if keys.is_some() { FLAG_AUTH } else { 0 };
        self.message(level, &scoped, keys.map(|(c, k)| (c, k.as_ref())))
    }

    /// The whole SNMPv3Message with msgFlags `flags`, signed and encrypted as its auth and priv
    /// bits say. None when they need keys or a protocol the credential lacks.
    fn message(
        &self,
        flags: u8,
        scoped: &[u8],
        keys: Option<(&Credential, &LocalKeys)>,
    ) -> Option<Vec<u8>> {
        let e = self.engine;
        let level = flags & (FLAG_AUTH | FLAG_PRIV);
        let auth = match (level & FLAG_AUTH != 0, keys) {
            (false, _) => None,
            (true, Some((c, k))) => Some((c.auth.as_ref()?.0, c, k)),
            (true, None) => return None,
        };
        let (msg_data, priv_params) = if level & FLAG_PRIV != 0 {
            let (_, c, k) = auth?;
            let (proto, _) = c.privacy.as_ref()?;
            let key = k.privacy()?;
            let (ct, salt) =
                privacy::encrypt(*proto, key, e.boots, self.time, e.next_salt(), scoped).ok()?;
            let mut d = Vec::with_capacity(ct.len() + 4);
            ber::write_tlv(&mut d, tag::OCTET_STRING, &ct);
            (Cow::Owned(d), salt.to_vec())
        } else {
            (Cow::Borrowed(scoped), Vec::new())
        };
        let mac_len = auth.map_or(0, |(p, _, _)| p.mac_len());
        let mut usm = Vec::with_capacity(64 + self.user.len() + e.engine_id.len());
        ber::write_tlv(&mut usm, tag::OCTET_STRING, &e.engine_id);
        ber::write_integer(&mut usm, i64::from(e.boots));
        ber::write_integer(&mut usm, i64::from(self.time));
        ber::write_tlv(&mut usm, tag::OCTET_STRING, self.user);
        ber::write_tlv(&mut usm, tag::OCTET_STRING, &vec![0u8; mac_len]);
        ber::write_tlv(&mut usm, tag::OCTET_STRING, &priv_params);
        let mut usm_seq = Vec::with_capacity(usm.len() + 4);
        ber::write_tlv(&mut usm_seq, tag::SEQUENCE, &usm);

        let mut global = Vec::with_capacity(24);
        ber::write_integer(&mut global, i64::from(self.msg_id));
        ber::write_integer(&mut global, MAX_SIZE);
        ber::write_tlv(&mut global, tag::OCTET_STRING, &[flags]);
        ber::write_integer(&mut global, 3);

        let mut body = Vec::with_capacity(usm_seq.len() + msg_data.len() + 40);
        ber::write_integer(&mut body, 3);
        ber::write_tlv(&mut body, tag::SEQUENCE, &global);
        ber::write_tlv(&mut body, tag::OCTET_STRING, &usm_seq);
        body.extend_from_slice(&msg_data);
        let mut whole = Vec::with_capacity(body.len() + 4);
        ber::write_tlv(&mut whole, tag::SEQUENCE, &body);
        if let Some((proto, _, k)) = auth {
            sign(&mut whole, proto, &k.auth)?;
        }
        Some(whole)
    }
}

/// Fill msgAuthenticationParameters (all zeros now) with the MAC of the whole message.
fn sign(whole: &mut [u8], proto: AuthProtocol, key: &[u8]) -> Option<()> {
    let mac = mac(proto, key, whole)?;
    let mut scratch = SnmpMessage::default();
    let (start, len) = {
        let parts = v3::read_parts(whole, &mut scratch)?;
        let field = parts.usm.msg_authentication_parameters;
        let start = (field.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
        (start, field.len())
    };
    whole
        .get_mut(start..start.checked_add(len)?)?
        .copy_from_slice(mac.get(..len)?);
    Some(())
}

/// HMAC-H(key, msg) (RFC 3414 sections 6.3.1 and 7.3.1, RFC 7860 section 4.2.1), untruncated.
fn mac(proto: AuthProtocol, key: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    fn h<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
        let mut m = <M as Mac>::new_from_slice(key).ok()?;
        m.update(msg);
        Some(m.finalize().into_bytes().to_vec())
    }
    match proto {
        AuthProtocol::Md5 => h::<Hmac<Md5>>(key, msg),
        AuthProtocol::Sha1 => h::<Hmac<Sha1>>(key, msg),
        AuthProtocol::Sha224 => h::<Hmac<Sha224>>(key, msg),
        AuthProtocol::Sha256 => h::<Hmac<Sha256>>(key, msg),
        AuthProtocol::Sha384 => h::<Hmac<Sha384>>(key, msg),
        AuthProtocol::Sha512 => h::<Hmac<Sha512>>(key, msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::snmp::credentials::{Credentials, Secret};
    use crate::decode::snmp::privacy::PrivProtocol;
    use crate::decode::snmp::{decode_with, DecodeContext};

    const OURS: &[u8] = &[0x80, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8];

    fn usm() -> Usm {
        let cred = |auth: Option<AuthProtocol>, privacy: Option<PrivProtocol>| Credential {
            priority: 1,
            auth: auth.map(|a| (a, Secret::new("auth-password"))),
            privacy: privacy.map(|p| (p, Secret::new("priv-password"))),
            active: true,
            id: 0,
        };
        Usm::new(Credentials::from_users(vec![
            (
                "sha-aes".into(),
                vec![cred(Some(AuthProtocol::Sha1), Some(PrivProtocol::Aes128))],
            ),
            (
                "md5-des".into(),
                vec![cred(Some(AuthProtocol::Md5), Some(PrivProtocol::Des))],
            ),
            (
                "sha256".into(),
                vec![cred(Some(AuthProtocol::Sha256), None)],
            ),
            ("open".into(), vec![cred(None, None)]),
        ]))
    }

    /// An InformRequest as net-snmp sends it once it knows our engine: varbinds sysUpTime.0,
    /// snmpTrapOID.0 = linkUp.
    fn inform(usm: &Usm, user: &str, level: u8, boots: u32, time: u32) -> Vec<u8> {
        let mut vb1 = Vec::new();
        ber::write_tlv(&mut vb1, tag::OID, &[0x2b, 6, 1, 2, 1, 1, 3, 0]);
        ber::write_tlv(&mut vb1, tag::TIME_TICKS, &[0x2a]);
        let mut vb2 = Vec::new();
        ber::write_tlv(&mut vb2, tag::OID, &[0x2b, 6, 1, 6, 3, 1, 1, 4, 1, 0]);
        ber::write_tlv(&mut vb2, tag::OID, &[0x2b, 6, 1, 6, 3, 1, 1, 5, 4]);
        let mut list = Vec::new();
        ber::write_tlv(&mut list, tag::SEQUENCE, &vb1);
        ber::write_tlv(&mut list, tag::SEQUENCE, &vb2);
        let mut vbl_tlv = Vec::new();
        ber::write_tlv(&mut vbl_tlv, tag::SEQUENCE, &list);
        let scoped = scoped_bytes(OURS, b"", INFORM_REQUEST, 4242, &vbl_tlv);
        let sender = EngineState::new(OURS.to_vec(), boots, 7);
        let out = Out {
            engine: &sender,
            time,
            msg_id: 99,
            user: user.as_bytes(),
        };
        let keys = usm.credentials().user(user).map(|c| {
            let c = &c[0];
            let k = usm.keys(c, OURS).map(|k| k.0);
            if let Some(k) = &k {
                usm.privacy_key(c, k, OURS);
            }
            (c, k)
        });
        let keys = match &keys {
            Some((c, Some(k))) => Some((*c, k.as_ref())),
            _ => None,
        };
        out.message(level | FLAG_REPORTABLE, &scoped, keys).unwrap()
    }

    fn decode(datagram: &[u8], usm: &Usm) -> SnmpMessage {
        let ctx = DecodeContext {
            usm: Some(usm),
            ..Default::default()
        };
        decode_with(datagram, &ctx)
    }

    #[test]
    fn a_forged_mac_costs_no_privacy_key_even_with_the_cisco_key_extension() {
        let users = || {
            Usm::new(Credentials::from_users(vec![(
                "cisco".into(),
                vec![Credential {
                    priority: 1,
                    auth: Some((AuthProtocol::Sha1, Secret::new("auth-password"))),
                    privacy: Some((PrivProtocol::Aes256Cisco, Secret::new("priv-password"))),
                    active: true,
                    id: 0,
                }],
            )]))
        };
        let good = inform(&users(), "cisco", FLAG_AUTH | FLAG_PRIV, 1, 100);
        let mut scratch = SnmpMessage::default();
        let p = v3::read_parts(&good, &mut scratch).unwrap();
        let at = |field: &[u8]| field.as_ptr() as usize - good.as_ptr() as usize;
        let (mac_at, engine_at) = (
            at(p.usm.msg_authentication_parameters),
            at(p.usm.msg_authoritative_engine_id),
        );
        let usm = users();
        for i in 0..5u8 {
            // A new engine ID each time, and a MAC that cannot match.
            let mut forged = good.clone();
            forged[engine_at + OURS.len() - 1] = 0xf0 + i;
            forged[mac_at] ^= 0x55;
            let msg = decode(&forged, &usm);
            assert_eq!(msg.untrusted, Some(v3::Untrusted::WrongDigest));
            assert_eq!(msg.auth_failure.as_deref(), Some("cisco"));
        }
        assert_eq!(usm.privacy_keys_derived(), 0);
        // The authentic message: one privacy key, after its MAC matched, and it decrypts.
        let msg = decode(&good, &usm);
        assert_eq!(msg.untrusted, None, "{:?}", msg.errors);
        assert_eq!(msg.pdu_type, "InformRequest");
        assert_eq!(usm.privacy_keys_derived(), 1);
    }

    #[test]
    fn a_discovery_probe_gets_an_unknown_engine_ids_report_with_our_engine() {
        // net-snmp's probe: msgID 1, reportable noAuth, empty USM fields, empty GetRequest.
        let usm = usm();
        let mut scoped = Vec::new();
        ber::write_tlv(&mut scoped, tag::SEQUENCE, &[]);
        let scoped = scoped_bytes(b"", b"", pdu::GET_REQUEST, 77, &scoped);
        let nobody = EngineState::new(Vec::new(), 0, 0);
        let probe = Out {
            engine: &nobody,
            time: 0,
            msg_id: 1,
            user: b"",
        }
        .message(FLAG_REPORTABLE, &scoped, None)
        .unwrap();
        assert_eq!(decode(&probe, &usm).auth_failure, None);

        let engine = EngineState::new(OURS.to_vec(), 3, 0);
        let reply = respond_v3(&probe, &engine, 17, Some(&usm)).unwrap();
        assert_eq!(reply.kind, ReplyKind::Discovery);
        let msg = decode(&reply.datagram, &usm);
        assert_eq!(msg.pdu_type, "Report");
        assert_eq!(msg.request_id, Some(77));
        assert_eq!(msg.engine_id.as_deref(), Some("80000000050102030405060708"));
        assert_eq!(msg.security_level.as_deref(), Some("noAuthNoPriv"));
        let vb = &msg.varbinds[0];
        assert_eq!(
            (vb.oid.as_str(), vb.ty, vb.value.as_str()),
            ("1.3.6.1.6.3.15.1.1.4.0", "Counter32", "1")
        );
        let mut scratch = SnmpMessage::default();
        let p = v3::read_parts(&reply.datagram, &mut scratch).unwrap();
        assert_eq!(
            (
                p.msg_id,
                p.usm.msg_authoritative_engine_boots,
                p.usm.msg_authoritative_engine_time
            ),
            (1, 3, 17)
        );
        // Without the reportable flag (a trap), no answer.
        let mut quiet = probe.clone();
        let i = quiet
            .windows(3)
            .position(|w| w == [0x04, 0x01, 0x04])
            .unwrap()
            + 2;
        quiet[i] = 0;
        assert_eq!(respond_v3(&quiet, &engine, 17, Some(&usm)), None);
    }

    #[test]
    fn authentic_informs_get_a_response_at_their_level_that_decodes_back() {
        let usm = usm();
        let engine = EngineState::new(OURS.to_vec(), 3, 1000);
        for (user, level, name) in [
            ("sha-aes", 3, "authPriv"),
            ("md5-des", 3, "authPriv"),
            ("sha256", 1, "authNoPriv"),
            ("open", 0, "noAuthNoPriv"),
        ] {
            let req = inform(&usm, user, level, 3, 100);
            let sent = decode(&req, &usm);
            assert_eq!(sent.untrusted, None, "{:?}", sent.errors);
            assert_eq!(sent.errors, Vec::<String>::new());
            assert_eq!(sent.pdu_type, "InformRequest");
            let reply = respond_v3(&req, &engine, 120, Some(&usm)).unwrap();
            assert_eq!(
                reply.kind,
                ReplyKind::Response {
                    context_engine: OURS.to_vec(),
                    user: user.into(),
                    request_id: 4242
                }
            );
            let got = decode(&reply.datagram, &usm);
            assert_eq!(got.untrusted, None, "{:?}", got.errors);
            assert_eq!(got.security_level.as_deref(), Some(name));
            assert_eq!(got.pdu_type, "Response");
            assert_eq!(got.request_id, Some(4242));
            assert_eq!(got.varbinds, sent.varbinds);
            assert_eq!(sent.trap_oid, "1.3.6.1.6.3.1.1.5.4");
        }
    }

    #[test]
    fn tampered_or_foreign_informs_get_nothing() {
        let usm = usm();
        let engine = EngineState::new(OURS.to_vec(), 3, 0);
        let req = inform(&usm, "sha-aes", 3, 3, 100);
        for i in [req.len() - 1, req.len() / 2] {
            let mut bad = req.clone();
            bad[i] ^= 0x40;
            assert_eq!(
                respond_v3(&bad, &engine, 100, Some(&usm)),
                None,
                "octet {i}"
            );
        }
        let other = EngineState::new(vec![0x80, 0, 0, 0, 5, 9, 9, 9, 9], 3, 0);
        assert_eq!(respond_v3(&req, &other, 100, Some(&usm)), None);
        assert_eq!(respond_v3(&req, &engine, 100, None), None);
        assert_eq!(respond_v3(&req[..40], &engine, 100, Some(&usm)), None);
        assert_eq!(
            respond_v3(b"\x30\x03\x02\x01\x01", &engine, 100, Some(&usm)),
            None
        );
    }

    #[test]
    fn an_inform_outside_the_time_window_gets_an_authenticated_report() {
        let usm = usm();
        let engine = EngineState::new(OURS.to_vec(), 3, 0);
        for (boots, time) in [(2, 100), (3, 100 + TIME_WINDOW + 1)] {
            let req = inform(&usm, "md5-des", 3, boots, time);
            let reply = respond_v3(&req, &engine, 100, Some(&usm)).unwrap();
            assert_eq!(reply.kind, ReplyKind::NotInTimeWindow);
            let got = decode(&reply.datagram, &usm);
            assert_eq!(got.untrusted, None, "{:?}", got.errors);
            assert_eq!(got.security_level.as_deref(), Some("authNoPriv"));
            assert_eq!(got.pdu_type, "Report");
            assert_eq!(got.varbinds[0].oid, "1.3.6.1.6.3.15.1.1.2.0");
        }
        let req = inform(&usm, "md5-des", 3, 3, 100 + TIME_WINDOW);
        assert!(matches!(
            respond_v3(&req, &engine, 100, Some(&usm)).unwrap().kind,
            ReplyKind::Response { .. }
        ));
    }
}
