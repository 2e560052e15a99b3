//! Reverse DNS off the hot path: the pipeline asks a bounded cache and never waits; misses go to a
//! few resolver threads (`dns_lookup::lookup_addr`: getnameinfo, bounded by the system resolver's
//! own timeout) whose answers the next message from that address sees. Positive and negative
//! answers expire separately.
//!
//! The cache is `quick_cache`'s concurrent one: when full it evicts one entry, chosen by S3-FIFO,
//! so a burst of new addresses (a scan, spoofed sources) passes through its small probation queue
//! and the devices that keep sending stay. A hit takes a shared read lock and marks the entry
//! with an atomic, so decoding threads do not queue behind each other. `lru` would have needed an
//! exclusive lock around every hit, and its releases without RustSec advisories need a newer Rust
//! than ours; `moka` brings a much larger tree for a per-entry expiry we keep in the value
//! ourselves.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, UnitWeighter};
use tracing::debug;

use crate::config::EnrichmentSection;

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
    cache: Cache<IpAddr, Entry>,
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
            cache: bounded_cache(cfg.dns_cache_size.max(1)),
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

    /// The name for `ip` if known now; otherwise None, and a lookup is queued (one per address at
    /// a time, unless two threads miss it at the same instant; dropped when the queue is full).
    pub fn lookup(&self, ip: IpAddr, now: Instant) -> Option<Arc<str>> {
        let cache = &self.inner.cache;
        match cache.get(&ip) {
            Some(Entry::Known { name, expires }) if expires > now => return name,
            Some(Entry::Pending) => return None,
            _ => {}
        }
        // Marked before it is queued, so the answer always lands after the mark.
        cache.insert(ip, Entry::Pending);
        if self.requests.try_send(ip).is_err() {
            cache.remove_if(&ip, |e| matches!(e, Entry::Pending));
        }
        None
    }

    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Relaxed);
    }
}

/// One shard, so the bound is exact (shards would each take a share of it and fill unevenly);
/// hits share its read lock and only misses and answers write.
fn bounded_cache(capacity: usize) -> Cache<IpAddr, Entry> {
    let options = OptionsBuilder::new()
        .estimated_items_capacity(capacity)
        .weight_capacity(capacity as u64)
        .shards(1)
        .build();
    match options {
        Ok(o) => Cache::with_options(o, UnitWeighter, Default::default(), Default::default()),
        Err(_) => Cache::new(capacity),
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
        // Only where the ask still is: an ask evicted meanwhile does not push out another entry
        // for its answer (the next message from that address asks again). Soft: an answer is no
        // second message, so an address seen once stays first in line for eviction.
        let _ = shared.cache.replace(ip, entry, true);
    }
}

/// The name of `ip` (getnameinfo with NI_NAMEREQD), or None when the address has none.
pub fn reverse_lookup(ip: IpAddr) -> Option<String> {
    dns_lookup::lookup_addr(&ip).ok().filter(|s| !s.is_empty())
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
            if let Some(Entry::Known { name, .. }) = r.inner.cache.get(&ip) {
                return name;
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
            assert!(r.inner.cache.len() <= 8);
        }
        r.stop();
    }

    #[test]
    fn one_device_over_capacity_does_not_evict_everyone() {
        let cfg = EnrichmentSection {
            dns_cache_size: 64,
            ..EnrichmentSection::default()
        };
        let r = Resolver::with_lookup(&cfg, fake);
        let devices: Vec<IpAddr> = (0..64u8).map(|i| IpAddr::from([10, 0, i, 1])).collect();
        for &ip in &devices {
            r.lookup(ip, Instant::now());
            wait_known(&r, ip);
        }
        // Each keeps sending.
        for &ip in &devices {
            assert!(r.lookup(ip, Instant::now()).is_some(), "{ip}");
        }
        let newcomer = IpAddr::from([10, 9, 9, 1]);
        r.lookup(newcomer, Instant::now());
        assert!(r.inner.cache.len() <= 64);
        let still = devices
            .iter()
            .filter(|&&ip| r.lookup(ip, Instant::now()).is_some())
            .count();
        assert!(still >= 63, "only {still} of 64 devices kept their names");
        r.stop();
    }

    #[test]
    fn a_sweep_of_new_addresses_leaves_the_devices_that_keep_sending() {
        let cfg = EnrichmentSection {
            dns_cache_size: 64,
            ..EnrichmentSection::default()
        };
        let r = Resolver::with_lookup(&cfg, fake);
        let devices: Vec<IpAddr> = (0..32u8).map(|i| IpAddr::from([10, 0, i, 1])).collect();
        for &ip in &devices {
            r.lookup(ip, Instant::now());
            wait_known(&r, ip);
            r.lookup(ip, Instant::now());
        }
        // A thousand one-off sources, ten times the cache.
        for i in 0..1000u16 {
            let [hi, lo] = i.to_be_bytes();
            r.lookup(IpAddr::from([172, 16, hi, lo]), Instant::now());
            assert!(r.inner.cache.len() <= 64);
        }
        let still = devices
            .iter()
            .filter(|&&ip| r.lookup(ip, Instant::now()).is_some())
            .count();
        assert_eq!(still, devices.len(), "the sweep pushed out devices");
        r.stop();
    }

    #[test]
    fn loopback_resolves_through_the_system_resolver() {
        // /etc/hosts names 127.0.0.1 on every system this runs on.
        assert!(reverse_lookup(IpAddr::from([127, 0, 0, 1])).is_some());
    }
}
