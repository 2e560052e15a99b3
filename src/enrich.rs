//! Reverse DNS off the hot path: the pipeline asks a bounded cache and never waits; misses go to a
//! few resolver threads (getnameinfo, bounded by the system resolver's own timeout) whose answers
//! the next message from that address sees. Positive and negative answers expire separately.

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use serde::Deserialize;
use tracing::debug;

/// `enrichment:` in mutt_config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichmentSection {
    /// Resolve source addresses to names for `source_device`.
    pub reverse_dns: bool,
    /// Most addresses remembered (answers and failures).
    pub dns_cache_size: usize,
    pub dns_positive_ttl_seconds: u64,
    pub dns_negative_ttl_seconds: u64,
    /// Lookups running at once.
    pub dns_threads: usize,
}

impl Default for EnrichmentSection {
    fn default() -> Self {
        EnrichmentSection {
            reverse_dns: true,
            dns_cache_size: 100_000,
            dns_positive_ttl_seconds: 3600,
            dns_negative_ttl_seconds: 300,
            dns_threads: 2,
        }
    }
}

#[derive(Clone)]
enum Entry {
    /// Asked, no answer yet.
    Pending,
    Known {
        name: Option<Arc<str>>,
        expires: Instant,
    },
}

struct Inner {
    cache: RwLock<HashMap<IpAddr, Entry>>,
    capacity: usize,
    positive_ttl: Duration,
    negative_ttl: Duration,
    stop: AtomicBool,
}

/// The cache and its resolver threads. Cheap to clone; threads end when the last clone is dropped
/// or `stop` is called.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
    requests: Sender<IpAddr>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl Resolver {
    pub fn start(cfg: &EnrichmentSection) -> Resolver {
        Resolver::with_lookup(cfg, reverse_lookup)
    }

    /// With another lookup function (tests).
    pub fn with_lookup(cfg: &EnrichmentSection, lookup: fn(IpAddr) -> Option<String>) -> Resolver {
        let inner = Arc::new(Inner {
            cache: RwLock::new(HashMap::new()),
            capacity: cfg.dns_cache_size.max(1),
            positive_ttl: Duration::from_secs(cfg.dns_positive_ttl_seconds),
            negative_ttl: Duration::from_secs(cfg.dns_negative_ttl_seconds),
            stop: AtomicBool::new(false),
        });
        let (requests, rx) = bounded::<IpAddr>(1024);
        for i in 0..cfg.dns_threads.max(1) {
            let (inner, rx) = (Arc::downgrade(&inner), rx.clone());
            let _ = thread::Builder::new()
                .name(format!("mutt-dns-{i}"))
                .spawn(move || resolve_loop(inner, rx, lookup));
        }
        Resolver { inner, requests }
    }

    /// The name for `ip` if known now; otherwise None, and a lookup is queued (at most one per
    /// address at a time; dropped when the queue is full).
    pub fn lookup(&self, ip: IpAddr, now: Instant) -> Option<Arc<str>> {
        if let Ok(cache) = self.inner.cache.read() {
            match cache.get(&ip) {
                Some(Entry::Known { name, expires }) if *expires > now => return name.clone(),
                Some(Entry::Pending) => return None,
                _ => {}
            }
        }
        let Ok(mut cache) = self.inner.cache.write() else {
            return None;
        };
        if cache.len() >= self.inner.capacity {
            cache.retain(|_, e| matches!(e, Entry::Known { expires, .. } if *expires > now));
            if cache.len() >= self.inner.capacity {
                // Still full of fresh answers: forget them all rather than grow.
                cache.clear();
            }
        }
        if self.requests.try_send(ip).is_ok() {
            cache.insert(ip, Entry::Pending);
        }
        None
    }

    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Relaxed);
    }
}

fn resolve_loop(
    inner: std::sync::Weak<Inner>,
    rx: Receiver<IpAddr>,
    lookup: fn(IpAddr) -> Option<String>,
) {
    loop {
        let ip = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(ip) => ip,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => match inner.upgrade() {
                Some(i) if !i.stop.load(Ordering::Relaxed) => continue,
                _ => return,
            },
            Err(_) => return,
        };
        let name = lookup(ip);
        let Some(shared) = inner.upgrade() else {
            return;
        };
        debug!(%ip, name = name.as_deref().unwrap_or("-"), "reverse DNS");
        let ttl = if name.is_some() {
            shared.positive_ttl
        } else {
            shared.negative_ttl
        };
        let entry = Entry::Known {
            name: name.map(Arc::from),
            expires: Instant::now() + ttl,
        };
        if let Ok(mut cache) = shared.cache.write() {
            // The ask may have been evicted meanwhile; an answer never grows a full cache.
            if cache.contains_key(&ip) || cache.len() < shared.capacity {
                cache.insert(ip, entry);
            }
        };
    }
}

/// getnameinfo with NI_NAMEREQD: a name, or None when the address has none.
pub fn reverse_lookup(ip: IpAddr) -> Option<String> {
    let addr: socket2::SockAddr = std::net::SocketAddr::new(ip, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: addr points at a valid sockaddr of the given length; host is a writable buffer of
    // the given size; no service buffer is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            addr.as_ptr().cast(),
            addr.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo NUL-terminates the host buffer on success.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    name.to_str()
        .ok()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(ip: IpAddr) -> Option<String> {
        match ip {
            IpAddr::V4(v4) if v4.octets()[3] == 1 => Some(format!("host-{v4}")),
            _ => None,
        }
    }

    fn wait_known(r: &Resolver, ip: IpAddr) -> Option<Arc<str>> {
        for _ in 0..200 {
            if let Ok(c) = r.inner.cache.read() {
                if let Some(Entry::Known { name, .. }) = c.get(&ip) {
                    return name.clone();
                }
            }
            thread::sleep(Duration::from_millis(5));
        }
        panic!("no answer for {ip}");
    }

    #[test]
    fn the_first_ask_never_waits_and_the_answer_is_there_next_time() {
        let r = Resolver::with_lookup(&EnrichmentSection::default(), fake);
        let ip = IpAddr::from([10, 0, 0, 1]);
        let now = Instant::now();
        assert_eq!(r.lookup(ip, now), None);
        assert_eq!(wait_known(&r, ip).as_deref(), Some("host-10.0.0.1"));
        assert_eq!(
            r.lookup(ip, Instant::now()).as_deref(),
            Some("host-10.0.0.1")
        );
        r.stop();
    }

    static ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn counting(ip: IpAddr) -> Option<String> {
        ASKED.fetch_add(1, Ordering::SeqCst);
        fake(ip)
    }

    #[test]
    fn failures_are_remembered_until_their_shorter_ttl_expires() {
        let cfg = EnrichmentSection {
            dns_negative_ttl_seconds: 60,
            ..EnrichmentSection::default()
        };
        let r = Resolver::with_lookup(&cfg, counting);
        let ip = IpAddr::from([10, 0, 0, 2]);
        assert_eq!(r.lookup(ip, Instant::now()), None);
        assert_eq!(wait_known(&r, ip), None);
        let asked = ASKED.load(Ordering::SeqCst);
        assert_eq!(r.lookup(ip, Instant::now()), None);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            ASKED.load(Ordering::SeqCst),
            asked,
            "a fresh failure is not asked again"
        );
        // Expired: asked again.
        assert_eq!(r.lookup(ip, Instant::now() + Duration::from_secs(61)), None);
        for _ in 0..200 {
            if ASKED.load(Ordering::SeqCst) > asked {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(ASKED.load(Ordering::SeqCst), asked + 1);
        r.stop();
    }

    #[test]
    fn the_cache_never_grows_past_its_size() {
        let cfg = EnrichmentSection {
            dns_cache_size: 8,
            ..EnrichmentSection::default()
        };
        let r = Resolver::with_lookup(&cfg, fake);
        for i in 0..100u8 {
            r.lookup(IpAddr::from([10, 0, 1, i]), Instant::now());
            assert!(r.inner.cache.read().unwrap().len() <= 8);
        }
        r.stop();
    }

    #[test]
    fn loopback_resolves_through_the_system_resolver() {
        // /etc/hosts names 127.0.0.1 on every system this runs on.
        assert!(reverse_lookup(IpAddr::from([127, 0, 0, 1])).is_some());
    }
}
