//! SNMPv3 USM privacy: decrypting the encryptedPDU and encrypting inform Responses (RFC 3414
//! section 8 CBC-DES, RFC 3826 AES-128-CFB, and AES-192/256-CFB as net-snmp and Cisco extend the
//! key). The cipher modes are RustCrypto's `cbc` and `cfb-mode` over its `des` and `aes`; what is
//! SNMP's own is here: the keys, their extension, the IVs and the salts.
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

use aes::cipher::block_padding::{NoPadding, ZeroPadding};
use aes::cipher::{AsyncStreamCipher, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes::{Aes128, Aes192, Aes256};
use cfb_mode as cfb;
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
            let (k, iv) = des_key_iv(key, salt).ok_or_else(short)?;
            cbc::Decryptor::<Des>::new_from_slices(k, &iv)
                .map_err(|_| short())?
                .decrypt_padded_vec_mut::<NoPadding>(ciphertext)
                .map_err(|_| PrivError::Blocks(ciphertext.len()))
        }
        _ => {
            let iv = aes_iv(boots, time, salt);
            let k = key.get(..proto.key_len()).ok_or_else(short)?;
            let mut out = ciphertext.to_vec();
            match proto.key_len() {
                16 => {
                    cfb::Decryptor::<Aes128>::new_from_slices(k, &iv).map(|c| c.decrypt(&mut out))
                }
                24 => {
                    cfb::Decryptor::<Aes192>::new_from_slices(k, &iv).map(|c| c.decrypt(&mut out))
                }
                _ => cfb::Decryptor::<Aes256>::new_from_slices(k, &iv).map(|c| c.decrypt(&mut out)),
            }
            .map_err(|_| short())?;
            Ok(out)
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
            let (k, iv) = des_key_iv(key, &salt).ok_or_else(short)?;
            // Zeros pad the last block (RFC 3414 section 8.1.1.2: the receiver ignores what
            // follows the ScopedPDU).
            let out = cbc::Encryptor::<Des>::new_from_slices(k, &iv)
                .map_err(|_| short())?
                .encrypt_padded_vec_mut::<ZeroPadding>(plaintext);
            Ok((out, salt))
        }
        _ => {
            let salt = counter.to_be_bytes();
            let iv = aes_iv(boots, time, &salt);
            let k = key.get(..proto.key_len()).ok_or_else(short)?;
            let mut out = plaintext.to_vec();
            match proto.key_len() {
                16 => {
                    cfb::Encryptor::<Aes128>::new_from_slices(k, &iv).map(|c| c.encrypt(&mut out))
                }
                24 => {
                    cfb::Encryptor::<Aes192>::new_from_slices(k, &iv).map(|c| c.encrypt(&mut out))
                }
                _ => cfb::Encryptor::<Aes256>::new_from_slices(k, &iv).map(|c| c.encrypt(&mut out)),
            }
            .map_err(|_| short())?;
            Ok((out, salt))
        }
    }
}

/// DES key = Kul[0..8], IV = Kul[8..16] XOR salt; None when the key is shorter than 16 octets.
fn des_key_iv<'k>(key: &'k [u8], salt: &[u8; 8]) -> Option<(&'k [u8], [u8; 8])> {
    let k = key.get(..8)?;
    let pre_iv = key.get(8..16)?;
    let mut iv = *salt;
    iv.iter_mut().zip(pre_iv).for_each(|(v, p)| *v ^= p);
    Some((k, iv))
}

/// AES IV = engineBoots || engineTime || salt (RFC 3826 section 3.1.2.1).
fn aes_iv(boots: u32, time: u32, salt: &[u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::hex::encode as hex;

    fn unhex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).expect("test vectors are hex")
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
    fn aes_cfb_matches_the_nist_sp800_38a_vector_with_the_iv_from_boots_time_and_salt() {
        // SP 800-38A F.3.13 CFB128-AES128: IV 000102..0f = boots 00010203, time 04050607, salt
        // 08090a0b0c0d0e0f. 20 octets: the last block is partial, as ScopedPDUs end.
        let key = unhex("2b7e151628aed2a6abf7158809cf4f3c");
        let plain = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a57");
        let (ct, salt) = encrypt(
            PrivProtocol::Aes128,
            &key,
            0x0001_0203,
            0x0405_0607,
            0x0809_0a0b_0c0d_0e0f,
            &plain,
        )
        .unwrap();
        assert_eq!(hex(&ct), "3b3fd92eb72dad20333449f8e83cfb4ac8a64537");
        let back = decrypt(
            PrivProtocol::Aes128,
            &key,
            0x0001_0203,
            0x0405_0607,
            &salt,
            &ct,
        );
        assert_eq!(back.unwrap(), plain);
    }

    #[test]
    fn des_cbc_matches_the_fips_81_vector_with_the_iv_from_pre_iv_and_salt() {
        // FIPS 81 appendix C: key 0123456789abcdef, IV 1234567890abcdef = pre-IV 0 XOR salt
        // (boots 12345678, counter 90abcdef).
        let key = unhex("0123456789abcdef0000000000000000");
        let plain = b"Now is the time for all ";
        let (ct, salt) =
            encrypt(PrivProtocol::Des, &key, 0x1234_5678, 0, 0x90ab_cdef, plain).unwrap();
        assert_eq!(hex(&salt), "1234567890abcdef");
        assert_eq!(hex(&ct), "e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6");
        let back = decrypt(PrivProtocol::Des, &key, 0x1234_5678, 0, &salt, &ct).unwrap();
        assert_eq!(back, plain);
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
