//! SNMPv3 USM keys: password to key and key localization (RFC 3414 section 2.6 and appendix
//! A.2; the SHA-2 protocols of RFC 7860 section 9.3 use the same algorithm with their hash).
//!
//! ```text
//! Ku  = H(the password repeated to fill exactly 1,048,576 octets)
//! Kul = H(Ku || snmpEngineID || Ku)
//! ```
//!
//! The localized key is what authenticates (and, cut to size, encrypts) messages from the engine
//! with that snmpEngineID. Computing Ku hashes a mebibyte, so the caller caches Ku per
//! credential and Kul per (credential, engine ID); this module is pure and caches nothing.
//!
//! Message authentication (RFC 3414 sections 6.3.2 and 7.3.2, RFC 7860 section 4.2.2): the MAC
//! is HMAC-H(Kul, wholeMsg with msgAuthenticationParameters set to zeros), cut to
//! [`AuthProtocol::mac_len`] octets, compared in constant time.

use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use thiserror::Error;

/// Octets hashed to turn a password into a key (RFC 3414 appendix A.2).
const EXPANDED_PASSWORD_LEN: usize = 1_048_576;

/// usmHMACMD5AuthProtocol, usmHMACSHAAuthProtocol (RFC 3414) and the RFC 7860 SHA-2 family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl AuthProtocol {
    /// Key length: the digest length of the hash.
    pub fn key_len(self) -> usize {
        match self {
            AuthProtocol::Md5 => 16,
            AuthProtocol::Sha1 => 20,
            AuthProtocol::Sha224 => 28,
            AuthProtocol::Sha256 => 32,
            AuthProtocol::Sha384 => 48,
            AuthProtocol::Sha512 => 64,
        }
    }

    /// Length of msgAuthenticationParameters (HMAC-MD5-96 / HMAC-SHA-96: 12; RFC 7860: 16 to 48).
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsmError {
    /// RFC 3414's algorithm cannot expand an empty password (net-snmp also refuses fewer than 8
    /// octets; that policy belongs to the credential loader).
    #[error("empty USM password")]
    EmptyPassword,
}

/// Ku: the non-localized key for `password`.
pub fn password_to_key(proto: AuthProtocol, password: &[u8]) -> Result<Vec<u8>, UsmError> {
    if password.is_empty() {
        return Err(UsmError::EmptyPassword);
    }
    Ok(match proto {
        AuthProtocol::Md5 => expand::<Md5>(password),
        AuthProtocol::Sha1 => expand::<Sha1>(password),
        AuthProtocol::Sha224 => expand::<Sha224>(password),
        AuthProtocol::Sha256 => expand::<Sha256>(password),
        AuthProtocol::Sha384 => expand::<Sha384>(password),
        AuthProtocol::Sha512 => expand::<Sha512>(password),
    })
}

/// Kul: `ku` localized to `engine_id`.
pub fn localize_key(proto: AuthProtocol, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
    match proto {
        AuthProtocol::Md5 => localize::<Md5>(ku, engine_id),
        AuthProtocol::Sha1 => localize::<Sha1>(ku, engine_id),
        AuthProtocol::Sha224 => localize::<Sha224>(ku, engine_id),
        AuthProtocol::Sha256 => localize::<Sha256>(ku, engine_id),
        AuthProtocol::Sha384 => localize::<Sha384>(ku, engine_id),
        AuthProtocol::Sha512 => localize::<Sha512>(ku, engine_id),
    }
}

/// Kul straight from the password.
pub fn localized_key(
    proto: AuthProtocol,
    password: &[u8],
    engine_id: &[u8],
) -> Result<Vec<u8>, UsmError> {
    Ok(localize_key(
        proto,
        &password_to_key(proto, password)?,
        engine_id,
    ))
}

/// True when `mac` is the MAC of `whole_msg_zeroed` (the message with its authentication
/// parameters zeroed) under the localized key `kul`. A MAC of the wrong length never matches.
pub fn verify_mac(proto: AuthProtocol, kul: &[u8], whole_msg_zeroed: &[u8], mac: &[u8]) -> bool {
    if mac.len() != proto.mac_len() {
        return false;
    }
    match proto {
        AuthProtocol::Md5 => verify::<Hmac<Md5>>(kul, whole_msg_zeroed, mac),
        AuthProtocol::Sha1 => verify::<Hmac<Sha1>>(kul, whole_msg_zeroed, mac),
        AuthProtocol::Sha224 => verify::<Hmac<Sha224>>(kul, whole_msg_zeroed, mac),
        AuthProtocol::Sha256 => verify::<Hmac<Sha256>>(kul, whole_msg_zeroed, mac),
        AuthProtocol::Sha384 => verify::<Hmac<Sha384>>(kul, whole_msg_zeroed, mac),
        AuthProtocol::Sha512 => verify::<Hmac<Sha512>>(kul, whole_msg_zeroed, mac),
    }
}

fn verify<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8], mac: &[u8]) -> bool {
    match <M as Mac>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.verify_truncated_left(mac).is_ok()
        }
        Err(_) => false,
    }
}

fn expand<D: Digest>(password: &[u8]) -> Vec<u8> {
    // Hash in blocks of whole password copies: the same octet stream as appendix A.2's 64-octet
    // loop, with far fewer calls into the hash.
    let copies = (4096 / password.len()).max(1);
    let block = password.repeat(copies);
    let mut hasher = D::new();
    let mut left = EXPANDED_PASSWORD_LEN;
    while left > 0 {
        let n = left.min(block.len());
        hasher.update(block.get(..n).unwrap_or(&block));
        left -= n;
    }
    hasher.finalize().to_vec()
}

fn localize<D: Digest>(ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
    let mut hasher = D::new();
    hasher.update(ku);
    hasher.update(engine_id);
    hasher.update(ku);
    hasher.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::hex::encode as hex;

    fn unhex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).expect("test vectors are hex")
    }

    const RFC_ENGINE: &str = "000000000000000000000002";

    #[test]
    fn rfc3414_a3_1_md5_password_to_key_and_localization() {
        let ku = password_to_key(AuthProtocol::Md5, b"maplesyrup").unwrap();
        assert_eq!(hex(&ku), "9faf3283884e92834ebc9847d8edd963");
        let kul = localize_key(AuthProtocol::Md5, &ku, &unhex(RFC_ENGINE));
        assert_eq!(hex(&kul), "526f5eed9fcce26f8964c2930787d82b");
    }

    #[test]
    fn rfc3414_a3_2_sha1_password_to_key_and_localization() {
        let ku = password_to_key(AuthProtocol::Sha1, b"maplesyrup").unwrap();
        assert_eq!(hex(&ku), "9fb5cc0381497b3793528939ff788d5d79145211");
        let kul = localize_key(AuthProtocol::Sha1, &ku, &unhex(RFC_ENGINE));
        assert_eq!(hex(&kul), "6695febc9288e36282235fc7151f128497b38f3f");
    }

    #[test]
    fn gosnmp_sha224_and_sha512_localized_keys() {
        // gosnmp v3_usm_test.go correctKeySHA224 / correctKeySHA512 (net-snmp traffic).
        let engine = unhex("80004fb805636c6f75644dab22cc");
        let k224 = localized_key(AuthProtocol::Sha224, b"authkey1", &engine).unwrap();
        assert_eq!(
            hex(&k224),
            "f2a2ebaa9677ad286255596286ca4fb7ec22f52405cb0aac334c5f15"
        );
        let k512 = localized_key(AuthProtocol::Sha512, b"authkey1", &engine).unwrap();
        assert_eq!(
            hex(&k512),
            "c336e5e6396926813d623984610e8f0cd7f419da75c82ac50927c84fd92027f7\
             cdd849ce983036dca67bfb1e8fde2a8c2d45cd2f0d3e0b0b929f7dda462a58cf"
        );
    }

    #[test]
    fn sha256_and_sha384_match_an_independent_implementation() {
        // No published vectors exist (corpus README); these were computed with Python hashlib
        // following appendix A.2, which reproduces the RFC and gosnmp vectors above.
        let engine = unhex(RFC_ENGINE);
        let k256 = localized_key(AuthProtocol::Sha256, b"maplesyrup", &engine).unwrap();
        assert_eq!(
            hex(&k256),
            "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b"
        );
        let k384 = localized_key(AuthProtocol::Sha384, b"maplesyrup", &engine).unwrap();
        assert_eq!(
            hex(&k384),
            "3b298f16164a11184279d5432bf169e2d2a48307de02b3d3f7e2b4f36eb6f045\
             5a53689a3937eea07319a633d2ccba78"
        );
    }

    #[test]
    fn key_lengths_follow_the_hash() {
        for proto in [
            AuthProtocol::Md5,
            AuthProtocol::Sha1,
            AuthProtocol::Sha224,
            AuthProtocol::Sha256,
            AuthProtocol::Sha384,
            AuthProtocol::Sha512,
        ] {
            let kul = localized_key(
                proto,
                b"longpassword-with-more-than-64-octets-0123456789-0123456789-0123456789",
                b"e",
            )
            .unwrap();
            assert_eq!(kul.len(), proto.key_len());
            assert!(proto.mac_len() < proto.key_len());
        }
    }

    #[test]
    fn gosnmp_sha224_and_sha512_messages_verify() {
        // usm_vectors.json gosnmp_sha2_auth: whole messages from net-snmp traffic (RFC 7860 MACs).
        let engine = unhex("80004fb805636c6f75644dab22cc");
        let cases = [
            (
                AuthProtocol::Sha224,
                "308184020103300e02025f84020205c0040105020103043f303d040e80004fb805636c6f75644dab22cc02012b0203203ea5040f7573722d7368613232342d6e6f6e650410000000000000000000000000000000000400302e040e80004fb805636c6f75644dab22cc0400a01a02023ced020100020100300e300c06082b060102010101000500",
                "66cd2d9b04cd48b02a9df0c77dc3415d",
            ),
            (
                AuthProtocol::Sha512,
                "3081a4020103300e0202366e020205c0040105020103045f305d040e80004fb805636c6f75644dab22cc02012b0203203eea040f7573722d7368613531322d6e6f6e6504300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000400302e040e80004fb805636c6f75644dab22cc0400a01a020214d9020100020100300e300c06082b060102010101000500",
                "26f8087ced336a394642b8698eba9810929a9bfa44afbf43975a7ad6c4cc55bd279b549a77ec56d791467612747d6f57",
            ),
        ];
        for (proto, zeroed, mac) in cases {
            let kul = localized_key(proto, b"authkey1", &engine).unwrap();
            assert!(verify_mac(proto, &kul, &unhex(zeroed), &unhex(mac)));
            let mut bad = unhex(mac);
            bad[0] ^= 1;
            assert!(!verify_mac(proto, &kul, &unhex(zeroed), &bad));
            assert!(!verify_mac(proto, &kul, &unhex(zeroed), &unhex(mac)[..12]));
        }
    }

    #[test]
    fn john_wholemsg_md5_and_sha1_messages_verify() {
        // usm_vectors.json wholemsg_hmac_vectors john-snmp-1 and john-snmp-2 (snmp_usm.pcap,
        // users pippo and pippo3, password pippoxxx).
        let engine = unhex("80001f888059dc486145a26322");
        let md5_msg = "3081b10201033011020430f6f3d5020300ffe304010702010304373035040d80001f888059dc486145a2632202010802020ab90405706970706f040c00000000000000000000000004080000000103d5321a0460826ecf6443956d4c364bfc6f6ffc8ee0df000ffd0955af12d2c0f3c60fadea417d2bb80c0b2c1fa7a46ce44f9f16e15ee830a49881f60ecfa757d2f04000eb39a94058121d88ca20eeef4e6bf06784c67c15f144915d9bc2c6a0461da92a4abe";
        let kul = localized_key(AuthProtocol::Md5, b"pippoxxx", &engine).unwrap();
        assert!(verify_mac(
            AuthProtocol::Md5,
            &kul,
            &unhex(md5_msg),
            &unhex("19395e67894fda182414849f")
        ));
        let sha_msg = "30820144020103301102043cdca370020300ffe304010302010304383036040d80001f888059dc486145a2632202010802020aba0406706970706f33040c0000000000000000000000000408f9a7cd5639adc7de0481f12d4e0febddef162199aa61bb97f44b84d975d9cef001d31eed660a193c22362c2ba6d203932822baa6c5d0032cc5cd7a8b7ac7b2fc005820ea72d72ffe59d3696be2bc8d5bdffb2de6fc775ed26cbf2d49a513704867665126775b8ffcaf3c07c19f9ecefb20293af7a6beecb6a5f2e3ba812ed9d71d21679007546f3acc6b72aff2baff2688451e74434dc9e6dab2f1b5e149691ced9fb4283fc8f85e3e7ebbe833353076fbdea7a11bc13a8c5ea62385b519e8bd2ab15f646572f487c8eb471eb0b069c5cc500eb8abc0227746d4ee8a5d9f0d6bfd9ece27f3f99ad5937c3e9be08e3074963796d3a13907fa1f17d213";
        let kul = localized_key(AuthProtocol::Sha1, b"pippoxxx", &engine).unwrap();
        assert!(verify_mac(
            AuthProtocol::Sha1,
            &kul,
            &unhex(sha_msg),
            &unhex("3de2a23a91ef278f8277b3f5")
        ));
    }

    #[test]
    fn empty_password_is_refused() {
        assert_eq!(
            password_to_key(AuthProtocol::Sha1, b""),
            Err(UsmError::EmptyPassword)
        );
    }
}
