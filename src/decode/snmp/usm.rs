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
//! Message authentication and privacy come later.

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

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
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
    fn empty_password_is_refused() {
        assert_eq!(
            password_to_key(AuthProtocol::Sha1, b""),
            Err(UsmError::EmptyPassword)
        );
    }
}
