//! SNMPv3 USM privacy: decrypting the encryptedPDU (RFC 3414 section 8 CBC-DES, RFC 3826
//! AES-128-CFB, and AES-192/256-CFB as net-snmp and Cisco extend the key).
//!
//! ```text
//! DES     key = Kul[0..8], pre-IV = Kul[8..16], IV = pre-IV XOR salt (msgPrivacyParameters, 8 octets)
//!         CBC over 8-octet blocks; the plaintext ScopedPDU is followed by padding
//! AES-n   key = Kul'[0..n/8], IV = engineBoots (4, big-endian) || engineTime (4) || salt (8)
//!         CFB-128; no padding (the ciphertext is as long as the ScopedPDU)
//! ```
//!
//! Kul is the privacy password localized with the user's authentication hash (usm.rs). When it is
//! shorter than the cipher key (AES-192/256 with MD5 or SHA-1), it is extended:
//!
//! * Blumenthal (draft-blumenthal-aes-usm-04, net-snmp's `AES-192`/`AES-256`):
//!   `Kul' = Kul || H(Kul)`, repeated on the whole key so far, until long enough.
//! * Reeder (draft-reeder-snmpv3-usm-3desede-00, Cisco's `aes 192`/`aes 256`):
//!   `Kul' = Kul || localize(password_to_key(Kul), engineID)`, repeated likewise.

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use des::Des;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::usm::{self, AuthProtocol, UsmError};

/// usmDESPrivProtocol, usmAesCfb128Protocol and the two AES-192/256 key extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivProtocol {
    Des,
    Aes128,
    /// AES-192 with the Blumenthal key extension (net-snmp).
    Aes192,
    /// AES-256 with the Blumenthal key extension (net-snmp).
    Aes256,
    /// AES-192 with the Reeder key extension (Cisco).
    Aes192Cisco,
    /// AES-256 with the Reeder key extension (Cisco).
    Aes256Cisco,
}

impl PrivProtocol {
    /// Octets of localized key the protocol uses (DES: key and pre-IV).
    pub fn key_len(self) -> usize {
        match self {
            PrivProtocol::Des | PrivProtocol::Aes128 => 16,
            PrivProtocol::Aes192 | PrivProtocol::Aes192Cisco => 24,
            PrivProtocol::Aes256 | PrivProtocol::Aes256Cisco => 32,
        }
    }
}

/// The privacy key for `password` at `engine_id`: localized with the authentication hash, extended
/// when the cipher needs more, cut to [`PrivProtocol::key_len`].
pub fn privacy_key(
    auth: AuthProtocol,
    privacy: PrivProtocol,
    ku: &[u8],
    engine_id: &[u8],
) -> Result<Vec<u8>, UsmError> {
    let mut key = usm::localize_key(auth, ku, engine_id);
    let need = privacy.key_len();
    while key.len() < need {
        let more = match privacy {
            PrivProtocol::Aes192Cisco | PrivProtocol::Aes256Cisco => {
                usm::localized_key(auth, &key, engine_id)?
            }
            _ => hash(auth, &key),
        };
        key.extend_from_slice(&more);
    }
    key.truncate(need);
    Ok(key)
}

fn hash(proto: AuthProtocol, data: &[u8]) -> Vec<u8> {
    match proto {
        AuthProtocol::Md5 => Md5::digest(data).to_vec(),
        AuthProtocol::Sha1 => Sha1::digest(data).to_vec(),
        AuthProtocol::Sha224 => Sha224::digest(data).to_vec(),
        AuthProtocol::Sha256 => Sha256::digest(data).to_vec(),
        AuthProtocol::Sha384 => Sha384::digest(data).to_vec(),
        AuthProtocol::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// Why a PDU could not be decrypted (before any check of the plaintext).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivError {
    #[error("msgPrivacyParameters must be 8 octets, got {0}")]
    Salt(usize),
    #[error("DES ciphertext of {0} octets is not a whole number of 8-octet blocks")]
    Blocks(usize),
    #[error("privacy key of {0} octets is too short")]
    Key(usize),
}

/// Decrypt `ciphertext` with the localized privacy `key`.
pub fn decrypt(
    proto: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    salt: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, PrivError> {
    let salt: &[u8; 8] = salt.try_into().map_err(|_| PrivError::Salt(salt.len()))?;
    let short = || PrivError::Key(key.len());
    match proto {
        PrivProtocol::Des => {
            let k = key.get(..8).ok_or_else(short)?;
            let pre_iv = key.get(8..16).ok_or_else(short)?;
            let mut iv = [0u8; 8];
            for (i, b) in iv.iter_mut().enumerate() {
                *b = pre_iv.get(i).copied().unwrap_or(0) ^ salt[i];
            }
            let cipher = Des::new_from_slice(k).map_err(|_| short())?;
            des_cbc(&cipher, iv, ciphertext)
        }
        _ => {
            let mut iv = [0u8; 16];
            iv[..4].copy_from_slice(&boots.to_be_bytes());
            iv[4..8].copy_from_slice(&time.to_be_bytes());
            iv[8..].copy_from_slice(salt);
            let k = key.get(..proto.key_len()).ok_or_else(short)?;
            Ok(match proto.key_len() {
                16 => cfb128(
                    &Aes128::new_from_slice(k).map_err(|_| short())?,
                    iv,
                    ciphertext,
                ),
                24 => cfb128(
                    &Aes192::new_from_slice(k).map_err(|_| short())?,
                    iv,
                    ciphertext,
                ),
                _ => cfb128(
                    &Aes256::new_from_slice(k).map_err(|_| short())?,
                    iv,
                    ciphertext,
                ),
            })
        }
    }
}

/// Encrypt a ScopedPDU for sending (RFC 3414 section 8.1.1.1, RFC 3826 section 3.1.3). `counter`
/// makes the salt unique per message: DES salt = `boots` (4 octets) || low 32 bits of `counter`,
/// AES salt = the 64-bit `counter`. Returns (ciphertext, msgPrivacyParameters).
pub fn encrypt(
    proto: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    counter: u64,
    plaintext: &[u8],
) -> Result<(Vec<u8>, [u8; 8]), PrivError> {
    let short = || PrivError::Key(key.len());
    match proto {
        PrivProtocol::Des => {
            let mut salt = [0u8; 8];
            salt[..4].copy_from_slice(&boots.to_be_bytes());
            salt[4..].copy_from_slice(&(counter as u32).to_be_bytes());
            let k = key.get(..8).ok_or_else(short)?;
            let pre_iv = key.get(8..16).ok_or_else(short)?;
            let mut iv = [0u8; 8];
            for (i, b) in iv.iter_mut().enumerate() {
                *b = pre_iv.get(i).copied().unwrap_or(0) ^ salt[i];
            }
            let cipher = Des::new_from_slice(k).map_err(|_| short())?;
            Ok((des_cbc_encrypt(&cipher, iv, plaintext), salt))
        }
        _ => {
            let salt = counter.to_be_bytes();
            let mut iv = [0u8; 16];
            iv[..4].copy_from_slice(&boots.to_be_bytes());
            iv[4..8].copy_from_slice(&time.to_be_bytes());
            iv[8..].copy_from_slice(&salt);
            let k = key.get(..proto.key_len()).ok_or_else(short)?;
            let out = match proto.key_len() {
                16 => cfb128_encrypt(
                    &Aes128::new_from_slice(k).map_err(|_| short())?,
                    iv,
                    plaintext,
                ),
                24 => cfb128_encrypt(
                    &Aes192::new_from_slice(k).map_err(|_| short())?,
                    iv,
                    plaintext,
                ),
                _ => cfb128_encrypt(
                    &Aes256::new_from_slice(k).map_err(|_| short())?,
                    iv,
                    plaintext,
                ),
            };
            Ok((out, salt))
        }
    }
}

/// CBC; the plaintext is padded with zeros to whole blocks (RFC 3414 section 8.1.1.2: the
/// receiver ignores what follows the ScopedPDU).
fn des_cbc_encrypt(cipher: &Des, iv: [u8; 8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + 8);
    let mut prev = iv;
    for block in plaintext.chunks(8) {
        let mut b = GenericArray::from([0u8; 8]);
        for (i, x) in b.iter_mut().enumerate() {
            *x = block.get(i).copied().unwrap_or(0) ^ prev[i];
        }
        cipher.encrypt_block(&mut b);
        prev.copy_from_slice(&b);
        out.extend_from_slice(&b);
    }
    out
}

/// CFB-128 encryption: the feedback is the ciphertext just produced.
fn cfb128_encrypt<C: BlockEncrypt<BlockSize = aes::cipher::consts::U16>>(
    cipher: &C,
    iv: [u8; 16],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len());
    let mut feedback = GenericArray::from(iv);
    for block in plaintext.chunks(16) {
        cipher.encrypt_block(&mut feedback);
        let start = out.len();
        out.extend(block.iter().zip(feedback.iter()).map(|(p, k)| p ^ k));
        if block.len() == 16 {
            if let Some(c) = out.get(start..) {
                feedback.copy_from_slice(c);
            }
        }
    }
    out
}

fn des_cbc(cipher: &Des, iv: [u8; 8], ciphertext: &[u8]) -> Result<Vec<u8>, PrivError> {
    if ciphertext.len() % 8 != 0 {
        return Err(PrivError::Blocks(ciphertext.len()));
    }
    let mut out = Vec::with_capacity(ciphertext.len());
    let mut prev = iv;
    for block in ciphertext.chunks_exact(8) {
        let mut b = GenericArray::clone_from_slice(block);
        cipher.decrypt_block(&mut b);
        out.extend(b.iter().zip(prev).map(|(p, v)| p ^ v));
        prev.copy_from_slice(block);
    }
    Ok(out)
}

/// CFB with a 128-bit segment: keystream block i = E(ciphertext block i-1), E(IV) first; the last
/// block may be partial.
fn cfb128<C: BlockEncrypt<BlockSize = aes::cipher::consts::U16>>(
    cipher: &C,
    iv: [u8; 16],
    ciphertext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(ciphertext.len());
    let mut feedback = GenericArray::from(iv);
    for block in ciphertext.chunks(16) {
        cipher.encrypt_block(&mut feedback);
        out.extend(block.iter().zip(feedback.iter()).map(|(c, k)| c ^ k));
        if block.len() == 16 {
            feedback.copy_from_slice(block);
        }
    }
    out
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

    #[test]
    fn des_privacy_key_is_the_localized_md5_key() {
        // usm_vectors.json snmp_usm-pippo-md5-des: PIPPOxxx at 80001f888059dc486145a26322.
        let ku = usm::password_to_key(AuthProtocol::Md5, b"PIPPOxxx").unwrap();
        let key = privacy_key(
            AuthProtocol::Md5,
            PrivProtocol::Des,
            &ku,
            &unhex("80001f888059dc486145a26322"),
        )
        .unwrap();
        assert_eq!(hex(&key), "23cb857c24884007daaae25b64ea89cb");
    }

    #[test]
    fn blumenthal_extension_appends_the_hash_of_the_key_so_far() {
        let ku = usm::password_to_key(AuthProtocol::Md5, b"myprivacy2").unwrap();
        let engine = b"engine";
        let kul = usm::localize_key(AuthProtocol::Md5, &ku, engine);
        let k256 = privacy_key(AuthProtocol::Md5, PrivProtocol::Aes256, &ku, engine).unwrap();
        let mut want = kul.clone();
        want.extend_from_slice(&Md5::digest(&kul));
        assert_eq!(k256, want);
        let k192 = privacy_key(AuthProtocol::Md5, PrivProtocol::Aes192, &ku, engine).unwrap();
        assert_eq!(k192, want[..24]);
    }

    #[test]
    fn reeder_extension_localizes_the_key_as_a_password() {
        let ku = usm::password_to_key(AuthProtocol::Sha1, b"myprivacy2").unwrap();
        let engine = b"engine";
        let kul = usm::localize_key(AuthProtocol::Sha1, &ku, engine);
        let k = privacy_key(AuthProtocol::Sha1, PrivProtocol::Aes256Cisco, &ku, engine).unwrap();
        let more = usm::localized_key(AuthProtocol::Sha1, &kul, engine).unwrap();
        assert_eq!(k[..20], kul[..]);
        assert_eq!(k[20..], more[..12]);
    }

    #[test]
    fn long_hashes_need_no_extension() {
        let ku = usm::password_to_key(AuthProtocol::Sha256, b"myprivacy2").unwrap();
        let kul = usm::localize_key(AuthProtocol::Sha256, &ku, b"e");
        for p in [PrivProtocol::Aes256, PrivProtocol::Aes256Cisco] {
            assert_eq!(
                privacy_key(AuthProtocol::Sha256, p, &ku, b"e").unwrap(),
                kul
            );
        }
    }

    #[test]
    fn encryption_round_trips_through_decryption_for_every_cipher() {
        let key: Vec<u8> = (0u8..32).collect();
        let plain: Vec<u8> = (0u8..45).collect();
        for p in [
            PrivProtocol::Des,
            PrivProtocol::Aes128,
            PrivProtocol::Aes192,
            PrivProtocol::Aes256,
        ] {
            let (ct, salt) = encrypt(p, &key, 7, 1234, 99, &plain).unwrap();
            assert_ne!(ct[..16], plain[..16]);
            let back = decrypt(p, &key, 7, 1234, &salt, &ct).unwrap();
            assert_eq!(back[..plain.len()], plain[..], "{p:?}");
            let (ct2, salt2) = encrypt(p, &key, 7, 1234, 100, &plain).unwrap();
            assert_ne!((ct2, salt2), (ct, salt), "a new counter gives a new salt");
        }
        let (ct, salt) = encrypt(PrivProtocol::Des, &key, 7, 0, 1, &plain).unwrap();
        assert_eq!(ct.len(), 48);
        assert_eq!(salt, [0, 0, 0, 7, 0, 0, 0, 1]);
    }

    #[test]
    fn bad_salt_and_block_lengths_are_errors_not_panics() {
        let key = [0u8; 16];
        assert_eq!(
            decrypt(PrivProtocol::Aes128, &key, 0, 0, &[1, 2], &[0; 5]),
            Err(PrivError::Salt(2))
        );
        assert_eq!(
            decrypt(PrivProtocol::Des, &key, 0, 0, &[0; 8], &[0; 7]),
            Err(PrivError::Blocks(7))
        );
        assert_eq!(
            decrypt(PrivProtocol::Aes256, &key, 0, 0, &[0; 8], &[0; 7]),
            Err(PrivError::Key(16))
        );
    }
}
