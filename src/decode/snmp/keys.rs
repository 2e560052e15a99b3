//! The SNMPv3 users as decoding sees them: credentials plus a bounded, thread-safe cache of keys.
//!
//! Turning a password into Ku hashes a mebibyte (about a millisecond), so Ku is computed once per
//! credential, on first use. Localizing Ku to an engine ID is one more hash, and the localized
//! keys are cached per (credential, engine ID) once a message has authenticated with them: keys
//! for engine IDs that never authenticated are not kept, so forged traffic with random engine IDs
//! cannot fill the cache. The cache holds at most `cap` entries and drops an arbitrary one beyond.
//!
//! The privacy key is localized only once the MAC has been checked ([`Usm::privacy_key`]): with
//! the AES-192/256 key extension of Cisco (`aes192c`/`aes256c`) that localization hashes another
//! mebibyte, and a forged packet with a new engine ID must not cost it.
//!
//! The SNMPv3 engine clocks seen in authentic messages ([`EngineClocks`], RFC 3414 section 3.2
//! step 7b) live here too, beside the keys they go with, and are handed on to the next `Usm` when
//! the credentials are reloaded.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use super::clocks::EngineClocks;
use super::credentials::{Credential, Credentials};
use super::privacy;
use super::usm;

/// Default bound of the localized-key cache.
pub const DEFAULT_KEY_CACHE: usize = 100_000;

/// Localized keys of one credential for one engine.
pub struct LocalKeys {
    pub auth: Vec<u8>,
    /// The privacy key, already extended and cut to the cipher's length; set by
    /// [`Usm::privacy_key`] after a MAC matched (inner None: the credential has no privacy).
    privacy: OnceLock<Option<Vec<u8>>>,
}

impl LocalKeys {
    /// The privacy key, once [`Usm::privacy_key`] derived it.
    pub fn privacy(&self) -> Option<&[u8]> {
        self.privacy.get().and_then(|k| k.as_deref())
    }
}

impl fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKeys(***)")
    }
}

/// Ku of the authentication and privacy passwords.
struct MasterKeys {
    auth: Vec<u8>,
    privacy: Option<Vec<u8>>,
}

/// The SNMPv3 users in force (None: no credentials file), shared by ingest (inform answers), the
/// pipeline (decoding) and the reloader; swapped whole on reload, which also starts a fresh key
/// cache. The engine clocks of the timeliness check (`clocks.rs`) live in the `Usm` beside the
/// keys and are handed on to the new one.
pub type SharedUsm = Arc<RwLock<Option<Arc<Usm>>>>;

/// Credentials by user name and the key cache; shared by every decoding thread.
pub struct Usm {
    credentials: Credentials,
    /// Indexed by [`Credential::id`]; None inside when the password cannot make a key.
    master: Vec<OnceLock<Option<MasterKeys>>>,
    localized: RwLock<Cache>,
    cap: usize,
    /// Latest boots/time per sender engine, kept across reloads.
    clocks: Arc<EngineClocks>,
    /// Privacy keys localized so far (each one follows a matching MAC).
    privacy_derived: AtomicU64,
}

#[derive(Default)]
struct Cache {
    by_credential: HashMap<u32, HashMap<Box<[u8]>, Arc<LocalKeys>>>,
    len: usize,
}

impl fmt::Debug for Usm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Usm")
            .field("users", &self.credentials.len())
            .field("cached_keys", &self.cached())
            .finish()
    }
}

impl Usm {
    pub fn new(credentials: Credentials) -> Usm {
        Usm::with_cache_cap(credentials, DEFAULT_KEY_CACHE)
    }

    pub fn with_cache_cap(credentials: Credentials, cap: usize) -> Usm {
        let ids = credentials.max_id().map_or(0, |m| m as usize + 1);
        Usm {
            credentials,
            master: (0..ids).map(|_| OnceLock::new()).collect(),
            localized: RwLock::new(Cache::default()),
            cap: cap.max(1),
            clocks: Arc::default(),
            privacy_derived: AtomicU64::new(0),
        }
    }

    /// Use `clocks` (those of the users this one replaces) instead of a fresh set.
    pub fn with_clocks(mut self, clocks: Arc<EngineClocks>) -> Usm {
        self.clocks = clocks;
        self
    }

    /// The sender engines' clocks seen in authentic messages.
    pub fn clocks(&self) -> &Arc<EngineClocks> {
        &self.clocks
    }

    /// How many privacy keys were localized since these users were loaded.
    pub fn privacy_keys_derived(&self) -> u64 {
        self.privacy_derived.load(Ordering::Relaxed)
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Localized keys entries in the cache.
    pub fn cached(&self) -> usize {
        self.localized.read().map_or(0, |c| c.len)
    }

    /// The keys of `cred` for `engine_id`: from the cache, else the authentication key computed
    /// (not cached: see [`Usm::remember`]; the privacy key waits for [`Usm::privacy_key`]).
    /// Second value: true when they came from the cache. None for a credential without
    /// authentication.
    pub fn keys(&self, cred: &Credential, engine_id: &[u8]) -> Option<(Arc<LocalKeys>, bool)> {
        if let Ok(cache) = self.localized.read() {
            if let Some(k) = cache
                .by_credential
                .get(&cred.id)
                .and_then(|m| m.get(engine_id))
            {
                return Some((k.clone(), true));
            }
        }
        let (proto, _) = cred.auth.as_ref()?;
        let master = self.master(cred)?;
        Some((
            Arc::new(LocalKeys {
                auth: usm::localize_key(*proto, &master.auth, engine_id),
                privacy: OnceLock::new(),
            }),
            false,
        ))
    }

    /// The privacy key of `cred` for `engine_id`, localized on first use and kept in `keys`.
    /// Call it only after `keys.auth` verified the message's MAC. None: the credential has no
    /// privacy password, or it makes no key.
    pub fn privacy_key<'k>(
        &self,
        cred: &Credential,
        keys: &'k LocalKeys,
        engine_id: &[u8],
    ) -> Option<&'k [u8]> {
        keys.privacy
            .get_or_init(|| {
                let (proto, _) = cred.auth.as_ref()?;
                let (p, _) = cred.privacy.as_ref()?;
                let ku = self.master(cred)?.privacy.as_ref()?;
                self.privacy_derived.fetch_add(1, Ordering::Relaxed);
                privacy::privacy_key(*proto, *p, ku, engine_id).ok()
            })
            .as_deref()
    }

    fn master(&self, cred: &Credential) -> Option<&MasterKeys> {
        self.master
            .get(cred.id as usize)?
            .get_or_init(|| master_keys(cred))
            .as_ref()
    }

    /// Keep keys that authenticated a message.
    pub fn remember(&self, cred: &Credential, engine_id: &[u8], keys: Arc<LocalKeys>) {
        let Ok(mut cache) = self.localized.write() else {
            return;
        };
        if cache.len >= self.cap {
            let victim = cache
                .by_credential
                .iter()
                .find_map(|(id, m)| m.keys().next().map(|k| (*id, k.clone())));
            if let Some((id, engine)) = victim {
                if let Some(m) = cache.by_credential.get_mut(&id) {
                    m.remove(&engine);
                }
                cache.len -= 1;
            }
        }
        let added = cache
            .by_credential
            .entry(cred.id)
            .or_default()
            .insert(engine_id.into(), keys)
            .is_none();
        if added {
            cache.len += 1;
        }
    }
}

fn master_keys(cred: &Credential) -> Option<MasterKeys> {
    let (proto, password) = cred.auth.as_ref()?;
    let auth = usm::password_to_key(*proto, password.expose()).ok()?;
    let privacy = match &cred.privacy {
        Some((_, pw)) => Some(usm::password_to_key(*proto, pw.expose()).ok()?),
        None => None,
    };
    Some(MasterKeys { auth, privacy })
}

#[cfg(test)]
mod tests {
    use super::super::credentials::Secret;
    use super::super::privacy::PrivProtocol;
    use super::super::usm::AuthProtocol;
    use super::*;

    fn usm(cap: usize) -> Usm {
        let cred = Credential {
            priority: 1,
            auth: Some((AuthProtocol::Md5, Secret::new("maplesyrup"))),
            privacy: Some((PrivProtocol::Des, Secret::new("maplesyrup"))),
            active: true,
            id: 0,
        };
        Usm::with_cache_cap(Credentials::from_users(vec![("u".into(), vec![cred])]), cap)
    }

    #[test]
    fn keys_match_rfc3414_and_are_cached_only_when_remembered() {
        let usm = usm(10);
        let cred = &usm.credentials().user("u").unwrap()[0];
        let engine = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let (k, cached) = usm.keys(cred, &engine).unwrap();
        assert!(!cached);
        assert_eq!(
            crate::hex::encode(&k.auth),
            "526f5eed9fcce26f8964c2930787d82b"
        );
        assert_eq!(k.privacy(), None, "not derived before a MAC was checked");
        assert_eq!(usm.privacy_key(cred, &k, &engine), Some(&k.auth[..]));
        assert_eq!(k.privacy(), Some(&k.auth[..]));
        assert_eq!(usm.privacy_keys_derived(), 1);
        assert_eq!(usm.cached(), 0);
        usm.remember(cred, &engine, k);
        assert!(usm.keys(cred, &engine).unwrap().1);
        assert_eq!(usm.cached(), 1);
    }

    #[test]
    fn the_cache_never_exceeds_its_cap() {
        let usm = usm(3);
        let cred = usm.credentials().user("u").unwrap()[0].clone();
        for i in 0..10u8 {
            let (k, _) = usm.keys(&cred, &[i]).unwrap();
            usm.remember(&cred, &[i], k);
            assert!(usm.cached() <= 3);
        }
        assert_eq!(usm.cached(), 3);
        assert!(!format!("{usm:?}").contains("maple"));
    }
}
