//! SNMP v1/v2c/v3 decoding with a fixed set of SNMPv3 users, so USM authentication and
//! decryption are reached, plus the two answers ingest builds from untrusted datagrams (the v2c
//! inform Response and MUTT's v3 engine replies).
//!
//! The first byte picks how the rest is used:
//! - 0: a datagram, decoded as received (captures from the corpus authenticate as they are).
//! - 1: a datagram whose MAC the target recomputes for the user it names, so a mutated message
//!   still authenticates and the fuzzer reaches decryption and the ScopedPDU behind it.
//! - 2: `[user, level, engine, boots x4, time x4, msgID x4]` then a ScopedPDU in plaintext: the
//!   target encrypts and signs it as that user would.
//! - 3: the same header, then a PDU: the target wraps it in a ScopedPDU first.
//!
//! Checks: no panic, bounded output (varbinds, rendered line, errors), and for messages the target
//! signed itself: they authenticate, and an inform to MUTT's engine gets a Response that decodes
//! back, authenticated, with the same request-id.

#![no_main]

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use mutt::agent::engine::{respond_v3, EngineState, ReplyKind};
use mutt::decode::snmp::ber::{self, tag, Reader};
use mutt::decode::snmp::credentials::{Credential, Credentials, Secret};
use mutt::decode::snmp::privacy::{self, PrivProtocol};
use mutt::decode::snmp::usm::AuthProtocol;
use mutt::decode::snmp::{self as snmp, render, DecodeContext, SnmpMessage, Usm, MAX_VARBINDS};

/// MUTT's own engine ID in this target.
const OURS: &[u8] = &[0x80, 0, 0, 0x1f, 0x88, 0x80, 0x01, 0x02, 0x03, 0x04];
/// Engine IDs the built messages use: ours, the gosnmp SHA-2 vector's, net-snmp style, empty,
/// and the longest RFC 3411 allows.
const ENGINES: &[&[u8]] = &[
    OURS,
    &[
        0x80, 0x00, 0x4f, 0xb8, 0x05, 0x63, 0x6c, 0x6f, 0x75, 0x64, 0x4d, 0xab, 0x22, 0xcc,
    ],
    &[
        0x80, 0x00, 0x1f, 0x88, 0x80, 0x59, 0xdc, 0x48, 0x61, 0x45, 0xa2, 0x63, 0x22,
    ],
    &[],
    &[0xaa; 32],
];
const BOOTS: u32 = 3;
const TIME: u32 = 1_000;

/// Users as MUTT would load them from snmpv3_credentials.yaml. The first three match corpus
/// captures (gosnmp trap_test.go and the Wireshark wiki snmp_usm.pcap, see the corpus README).
fn users() -> Vec<(String, Vec<Credential>)> {
    let c =
        |priority, auth: Option<(AuthProtocol, &str)>, privacy: Option<(PrivProtocol, &str)>| {
            Credential {
                priority,
                auth: auth.map(|(p, pw)| (p, Secret::new(pw))),
                privacy: privacy.map(|(p, pw)| (p, Secret::new(pw))),
                active: true,
                id: 0,
            }
        };
    use AuthProtocol::*;
    use PrivProtocol::*;
    let mut inactive = c(1, Some((Md5, "mypassword")), None);
    inactive.active = false;
    vec![
        ("myuser".into(), vec![c(1, Some((Md5, "mypassword")), None)]),
        (
            "myuser2".into(),
            vec![c(
                1,
                Some((Md5, "mypassword2")),
                Some((Aes128, "myprivacy2")),
            )],
        ),
        (
            "pippo".into(),
            vec![c(1, Some((Md5, "pippoxxx")), Some((Des, "PIPPOxxx")))],
        ),
        (
            "pippo3".into(),
            vec![c(1, Some((Sha1, "pippoxxx")), Some((Aes128, "PIPPOxxx")))],
        ),
        (
            "sha256".into(),
            vec![c(
                1,
                Some((Sha256, "fuzz-auth-256")),
                Some((Aes256, "fuzz-priv-256")),
            )],
        ),
        (
            "sha512".into(),
            vec![c(
                1,
                Some((Sha512, "fuzz-auth-512")),
                Some((Aes192, "fuzz-priv-192")),
            )],
        ),
        (
            "cisco".into(),
            vec![c(
                1,
                Some((Sha384, "fuzz-auth-384")),
                Some((Aes256Cisco, "fuzz-priv-c256")),
            )],
        ),
        (
            "sha224".into(),
            vec![c(
                1,
                Some((Sha224, "fuzz-auth-224")),
                Some((Aes192Cisco, "fuzz-priv-c192")),
            )],
        ),
        // A wrong first credential: the second, by priority, must still authenticate.
        (
            "rotated".into(),
            vec![
                c(1, Some((Sha1, "the-old-password")), None),
                c(2, Some((Md5, "mypassword")), None),
            ],
        ),
        ("open".into(), vec![c(1, None, None)]),
        ("inactive".into(), vec![inactive]),
    ]
}

struct World {
    /// What the decoder uses; its key cache is small so eviction is exercised too.
    usm: Usm,
    /// The target's own keys for signing (a separate cache).
    signer: Usm,
    names: Vec<String>,
    engine: EngineState,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World {
        usm: Usm::with_cache_cap(Credentials::from_users(users()), 16),
        signer: Usm::new(Credentials::from_users(users())),
        names: users().into_iter().map(|(n, _)| n).collect(),
        engine: EngineState::new(OURS.to_vec(), BOOTS, 1),
    })
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let w = world();
    match mode % 4 {
        0 => check_datagram(w, rest, None),
        1 => {
            let mut datagram = rest.to_vec();
            let signed_as = resign(w, &mut datagram);
            check_datagram(w, &datagram, signed_as);
        }
        _ => {
            if let Some((datagram, expect)) = build(w, rest, mode % 4 == 3) {
                check_datagram(w, &datagram, expect);
            }
        }
    }
});

/// Decode and answer one datagram; `expect_user`: the target signed it correctly as this user.
fn check_datagram(w: &World, datagram: &[u8], expect_user: Option<String>) {
    let ctx = DecodeContext {
        names: snmp::names::builtin(),
        usm: Some(&w.usm),
    };
    let msg = snmp::decode_with(datagram, &ctx);
    check_bounds(&msg, datagram);
    if let Some(user) = &expect_user {
        assert_eq!(
            msg.auth_ok_user.as_deref(),
            Some(user.as_str()),
            "a correctly signed message did not authenticate: {:?}",
            msg.errors
        );
        assert!(msg.auth_failure.is_none());
    }
    // Without users, as a collector with no credentials file decodes.
    let bare = snmp::decode(datagram);
    check_bounds(&bare, datagram);

    if let Some(response) = snmp::inform_response(datagram) {
        let back = snmp::decode(&response);
        assert_eq!(back.pdu_type, "Response", "{:?}", back.errors);
    }
    if let Some(reply) = respond_v3(datagram, &w.engine, TIME, Some(&w.usm)) {
        let back = snmp::decode_with(&reply.datagram, &ctx);
        check_bounds(&back, &reply.datagram);
        if let ReplyKind::Response {
            user, request_id, ..
        } = &reply.kind
        {
            assert_eq!(back.auth_ok_user.as_ref(), Some(user), "{:?}", back.errors);
            assert_eq!(back.request_id, Some(*request_id));
            assert_eq!(back.pdu_type, "Response");
        }
    }
}

fn check_bounds(msg: &SnmpMessage, datagram: &[u8]) {
    assert!(msg.varbinds.len() <= MAX_VARBINDS);
    assert!(msg.errors.len() <= 64, "{} errors", msg.errors.len());
    let line = snmp::render_line(msg);
    assert!(
        line.len() <= render::MAX_LINE,
        "rendered line of {} bytes",
        line.len()
    );
    let _ = snmp::to_json(msg);
    // Each varbind costs at least 4 octets on the wire (SEQUENCE, OID, value headers); a decoder
    // that produced more would be inventing them.
    assert!(msg.varbinds.len() <= datagram.len() / 4 + 2);
}

/// Where msgAuthenticationParameters sit in a v3 message, with the engine ID and user name.
fn auth_params(msg: &[u8]) -> Option<(std::ops::Range<usize>, &[u8], &[u8], &[u8])> {
    let whole = Reader::new(msg).expect(tag::SEQUENCE).ok()?;
    let mut r = Reader::new(whole.value);
    r.integer().ok()?;
    r.expect(tag::SEQUENCE).ok()?;
    let params = r.expect(tag::OCTET_STRING).ok()?;
    let usm = Reader::new(params.value).expect(tag::SEQUENCE).ok()?;
    let mut r = Reader::new(usm.value);
    let engine = r.expect(tag::OCTET_STRING).ok()?.value;
    r.integer().ok()?;
    r.integer().ok()?;
    let user = r.expect(tag::OCTET_STRING).ok()?.value;
    let auth = r.expect(tag::OCTET_STRING).ok()?.value;
    let start = auth.as_ptr() as usize - msg.as_ptr() as usize;
    Some((start..start + auth.len(), engine, user, whole.raw))
}

/// Put the right MAC into a v3 message for the first credential of the user it names. Returns
/// nothing to expect: a mutated message may still fail for other reasons (flags, decryption).
fn resign(w: &World, msg: &mut Vec<u8>) -> Option<String> {
    let (range, engine, user, whole) = auth_params(msg)?;
    let user = std::str::from_utf8(user).ok()?.to_owned();
    let cred = w.signer.credentials().user(&user)?.first()?.clone();
    let (proto, _) = cred.auth.as_ref()?;
    if range.len() != proto.mac_len() {
        return None;
    }
    let keys = w.signer.keys(&cred, engine)?.0;
    let whole_range = {
        let s = whole.as_ptr() as usize - msg.as_ptr() as usize;
        s..s + whole.len()
    };
    msg[range.clone()].fill(0);
    let mac = hmac(*proto, &keys.auth, &msg[whole_range]);
    msg[range].copy_from_slice(&mac[..proto.mac_len()]);
    None
}

/// Build a v3 message as a sender with these credentials would. Returns it and, when the
/// decoder must accept it, the user.
fn build(w: &World, input: &[u8], wrap_pdu: bool) -> Option<(Vec<u8>, Option<String>)> {
    let (head, body) = input.split_at_checked(15)?;
    let user = &w.names[usize::from(head[0]) % w.names.len()];
    let engine = ENGINES[usize::from(head[2]) % ENGINES.len()];
    let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let (boots, time) = if head[1] & 0x80 != 0 {
        // Raw values: outside the time window, or beyond 2^31 - 1.
        (word(3), word(7))
    } else {
        (BOOTS, TIME)
    };
    let msg_id = word(11) & 0x7fff_ffff;
    // The last active credential: for "rotated" the decoder must fall back to it.
    let cred = w
        .signer
        .credentials()
        .user(user)?
        .iter()
        .rev()
        .find(|c| c.active)
        .cloned();

    let scoped = if wrap_pdu {
        let mut inner = Vec::new();
        ber::write_tlv(&mut inner, tag::OCTET_STRING, engine);
        ber::write_tlv(&mut inner, tag::OCTET_STRING, b"");
        inner.extend_from_slice(body);
        let mut s = Vec::new();
        ber::write_tlv(&mut s, tag::SEQUENCE, &inner);
        s
    } else {
        body.to_vec()
    };

    let keys = cred
        .as_ref()
        .and_then(|c| w.signer.keys(c, engine))
        .map(|k| k.0);
    let auth = cred.as_ref().and_then(|c| c.auth.as_ref().map(|(p, _)| *p));
    let privacy = cred
        .as_ref()
        .and_then(|c| c.privacy.as_ref().map(|(p, _)| *p));
    // The user's own level, unless the selector asks for noAuthNoPriv regardless.
    let own_level = head[1] & 0x40 == 0;
    let (flags, data, priv_params) = match (own_level, auth, privacy, &keys) {
        (true, Some(_), Some(p), Some(k)) => {
            let key = w.signer.privacy_key(cred.as_ref()?, k, engine)?;
            let (ct, salt) =
                privacy::encrypt(p, key, boots, time, u64::from(msg_id), &scoped).ok()?;
            let mut data = Vec::new();
            ber::write_tlv(&mut data, tag::OCTET_STRING, &ct);
            (0x03, data, salt.to_vec())
        }
        (true, Some(_), None, Some(_)) => (0x01, scoped.clone(), Vec::new()),
        _ => (0x00, scoped.clone(), Vec::new()),
    };
    let flags = flags | (head[1] & 0x04);
    let mac_len = match (flags & 1, auth) {
        (1, Some(p)) => p.mac_len(),
        _ => 0,
    };

    let mut global = Vec::new();
    ber::write_integer(&mut global, i64::from(msg_id));
    ber::write_integer(&mut global, 65_507);
    ber::write_tlv(&mut global, tag::OCTET_STRING, &[flags]);
    ber::write_integer(&mut global, 3);
    let mut usm = Vec::new();
    ber::write_tlv(&mut usm, tag::OCTET_STRING, engine);
    ber::write_integer(&mut usm, i64::from(boots));
    ber::write_integer(&mut usm, i64::from(time));
    ber::write_tlv(&mut usm, tag::OCTET_STRING, user.as_bytes());
    ber::write_tlv(&mut usm, tag::OCTET_STRING, &vec![0; mac_len]);
    ber::write_tlv(&mut usm, tag::OCTET_STRING, &priv_params);
    let mut usm_seq = Vec::new();
    ber::write_tlv(&mut usm_seq, tag::SEQUENCE, &usm);
    let mut content = Vec::new();
    ber::write_integer(&mut content, 3);
    ber::write_tlv(&mut content, tag::SEQUENCE, &global);
    ber::write_tlv(&mut content, tag::OCTET_STRING, &usm_seq);
    content.extend_from_slice(&data);
    let mut msg = Vec::new();
    ber::write_tlv(&mut msg, tag::SEQUENCE, &content);

    if mac_len > 0 {
        let (range, ..) = auth_params(&msg)?;
        let mac = hmac(auth?, &keys?.auth, &msg);
        msg[range].copy_from_slice(&mac[..mac_len]);
    }

    // The decoder must accept what a correct sender built: signed at the user's level, with
    // boots and time it can read, and (when encrypted) a plaintext that is one ScopedPDU.
    let expect = (flags & 1 == 1
        && boots <= i32::MAX as u32
        && time <= i32::MAX as u32
        && (flags & 2 == 0 || is_scoped(&scoped)))
    .then(|| user.clone());
    Some((msg, expect))
}

/// A ScopedPDU and nothing after it: SEQUENCE { OCTET STRING, OCTET STRING, PDU, ... }.
fn is_scoped(b: &[u8]) -> bool {
    let mut r = Reader::new(b);
    let Ok(seq) = r.expect(tag::SEQUENCE) else {
        return false;
    };
    let mut s = Reader::new(seq.value);
    r.rest().is_empty()
        && s.expect(tag::OCTET_STRING).is_ok()
        && s.expect(tag::OCTET_STRING).is_ok()
        && s.any().is_ok_and(|pdu| pdu.tag & 0xe0 == 0xa0)
}

fn hmac(proto: AuthProtocol, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn h<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }
    match proto {
        AuthProtocol::Md5 => h::<Hmac<md5::Md5>>(key, msg),
        AuthProtocol::Sha1 => h::<Hmac<sha1::Sha1>>(key, msg),
        AuthProtocol::Sha224 => h::<Hmac<sha2::Sha224>>(key, msg),
        AuthProtocol::Sha256 => h::<Hmac<sha2::Sha256>>(key, msg),
        AuthProtocol::Sha384 => h::<Hmac<sha2::Sha384>>(key, msg),
        AuthProtocol::Sha512 => h::<Hmac<sha2::Sha512>>(key, msg),
    }
}
