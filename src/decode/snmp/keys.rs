//! The SNMPv3 users as decoding sees them: credentials plus a bounded, thread-safe cache of keys.
//!
//! Turning a password into Ku hashes a mebibyte (about a millisecond), so Ku is computed once per
//! credential, on first use. Localizing Ku to an engine ID is one more hash, and the localized
//! keys are cached per (credential, engine ID) once a message has authenticated with them: keys
//! for engine IDs that never authenticated are not kept, so forged traffic with random engine IDs
//! cannot fill the cache. The cache holds at most `cap` entries and drops an arbitrary one beyond.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use super::credentials::{Credential, Credentials};
use super::privacy;
use super::usm;

/// Default bound of the localized-key cache.
pub const DEFAULT_KEY_CACHE: usize = 100_000;

/// Localized keys of one credential for one engine.
pub struct LocalKeys {
    pub auth: Vec<u8>,
    /// The privacy key, already extended and cut to the cipher's length.
    pub privacy: Option<Vec<u8>>,
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

/// Credentials by user name and the key cache; shared by every decoding thread.
pub struct Usm {
    credentials: Credentials,
    /// Indexed by [`Credential::id`]; None inside when the password cannot make a key.
    master: Vec<OnceLock<Option<MasterKeys>>>,
    localized: RwLock<Cache>,
    cap: usize,
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
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Localized keys entries in the cache.
    pub fn cached(&self) -> usize {
        self.localized.read().map_or(0, |c| c.len)
    }

    /// The keys of `cred` for `engine_id`: from the cache, else computed (not cached: see
    /// [`Usm::remember`]). Second value: true when they came from the cache. None for a
    /// credential without authentication.
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
        let master = self
            .master
            .get(cred.id as usize)?
            .get_or_init(|| master_keys(cred))
            .as_ref()?;
        let privacy = match (&cred.privacy, &master.privacy) {
            (Some((p, _)), Some(ku)) => Some(privacy::privacy_key(*proto, *p, ku, engine_id).ok()?),
            _ => None,
        };
        Some((
            Arc::new(LocalKeys {
                auth: usm::localize_key(*proto, &master.auth, engine_id),
                privacy,
            }),
            false,
        ))
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
        let hex: String = k.auth.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "526f5eed9fcce26f8964c2930787d82b");
        assert_eq!(k.privacy.as_deref(), Some(&k.auth[..]));
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
