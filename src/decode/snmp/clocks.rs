//! The timeliness check of a non-authoritative SNMPv3 receiver (RFC 3414 section 3.2 step 7b):
//! for each sender engine, the latest snmpEngineBoots and snmpEngineTime seen in an authentic
//! message, and the verdict on the next one.
//!
//! A trap's authoritative engine is its sender, so MUTT cannot check the sender's clock against
//! its own. What it can do is refuse to go back: a message is *not in time window* when
//!
//! ```text
//! boots == 2^31-1                      (the sender's clock is latched)
//! boots <  latest boots
//! boots == latest boots and time < latest time - 150 s
//! ```
//!
//! and otherwise it moves the latest values forward when it is newer. A replay of a message
//! MUTT has seen inside those 150 s passes this check (USM allows it); it is never *fresh*, which
//! is what lets a success clear a user's failures ([`Timeliness::Fresh`]).
//!
//! The state is bounded: at most `cap` engines (default [`DEFAULT_ENGINES`]), the least
//! recently seen forgotten first. Only authentic messages reach it, so forged traffic cannot
//! fill it. It is split into shards, each behind its own mutex held for one map lookup, so the
//! decoding threads rarely wait on each other.

use std::collections::HashMap;
use std::sync::Mutex;

/// RFC 3414 section 3.2 step 7: the time window, in seconds.
pub const TIME_WINDOW: u32 = 150;
/// Default bound of the engines remembered.
pub const DEFAULT_ENGINES: usize = 10_000;
/// snmpEngineBoots at its maximum: the engine must be reconfigured (RFC 3414 section 2.2.2).
const BOOTS_LATCHED: u32 = i32::MAX as u32;
const SHARDS: usize = 16;

/// The verdict on one authentic message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeliness {
    /// Later than anything seen from its engine (or the engine's first message).
    Fresh,
    /// Inside the window but not later than the latest seen: a message sent close to another,
    /// or a replay.
    Timely,
    /// Outside the window: discarded (usmStatsNotInTimeWindows).
    NotInTimeWindow,
}

/// The latest (boots, time) of one engine and when it was last seen (a tick, for eviction).
#[derive(Debug, Clone, Copy)]
struct Latest {
    boots: u32,
    time: u32,
    seen: u64,
}

#[derive(Debug, Default)]
struct Shard {
    engines: HashMap<Box<[u8]>, Latest>,
    tick: u64,
}

/// Latest boots/time per sender engine ID; shared by every decoding thread.
#[derive(Debug)]
pub struct EngineClocks {
    shards: Vec<Mutex<Shard>>,
    /// Most engines per shard.
    per_shard: usize,
}

impl Default for EngineClocks {
    fn default() -> Self {
        EngineClocks::with_cap(DEFAULT_ENGINES)
    }
}

impl EngineClocks {
    pub fn with_cap(cap: usize) -> EngineClocks {
        EngineClocks {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: cap.div_ceil(SHARDS).max(1),
        }
    }

    /// Judge an authentic message from `engine_id` sent at (`boots`, `time`), and remember it
    /// when it is the engine's latest.
    pub fn check(&self, engine_id: &[u8], boots: u32, time: u32) -> Timeliness {
        let Some(shard) = self.shards.get(shard_of(engine_id)) else {
            return Timeliness::NotInTimeWindow;
        };
        let mut shard = match shard.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        shard.tick += 1;
        let tick = shard.tick;
        let latest = shard.engines.get(engine_id).copied();
        let verdict = judge(latest.map(|l| (l.boots, l.time)), boots, time);
        if verdict == Timeliness::NotInTimeWindow {
            return verdict;
        }
        let next = match (verdict, latest) {
            (Timeliness::Timely, Some(l)) => Latest { seen: tick, ..l },
            _ => Latest {
                boots,
                time,
                seen: tick,
            },
        };
        if latest.is_none() && shard.engines.len() >= self.per_shard {
            let oldest = shard
                .engines
                .iter()
                .min_by_key(|(_, l)| l.seen)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                shard.engines.remove(&k);
            }
        }
        shard.engines.insert(engine_id.into(), next);
        verdict
    }

    /// Engines remembered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.engines.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// RFC 3414 section 3.2 step 7b against the engine's `latest` (boots, time), if any.
pub fn judge(latest: Option<(u32, u32)>, boots: u32, time: u32) -> Timeliness {
    if boots >= BOOTS_LATCHED {
        return Timeliness::NotInTimeWindow;
    }
    let Some((lb, lt)) = latest else {
        return Timeliness::Fresh;
    };
    if boots < lb || (boots == lb && time < lt.saturating_sub(TIME_WINDOW)) {
        Timeliness::NotInTimeWindow
    } else if boots > lb || time > lt {
        Timeliness::Fresh
    } else {
        Timeliness::Timely
    }
}

/// FNV-1a of the engine ID, to pick a shard.
fn shard_of(engine_id: &[u8]) -> usize {
    let h = engine_id.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % SHARDS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use Timeliness::*;

    #[test]
    fn the_window_follows_rfc3414_step_7b() {
        assert_eq!(judge(None, 5, 2000), Fresh);
        assert_eq!(judge(Some((5, 2000)), 5, 2001), Fresh);
        assert_eq!(judge(Some((5, 2000)), 6, 0), Fresh);
        assert_eq!(judge(Some((5, 2000)), 5, 2000), Timely);
        assert_eq!(judge(Some((5, 2000)), 5, 1850), Timely);
        assert_eq!(judge(Some((5, 2000)), 5, 1849), NotInTimeWindow);
        assert_eq!(judge(Some((5, 2000)), 5, 1000), NotInTimeWindow);
        assert_eq!(judge(Some((5, 2000)), 4, 9999), NotInTimeWindow);
        assert_eq!(judge(Some((5, 100)), 5, 0), Timely);
        assert_eq!(judge(None, i32::MAX as u32, 1), NotInTimeWindow);
    }

    #[test]
    fn the_latest_time_moves_forward_only_and_per_engine() {
        let c = EngineClocks::default();
        assert_eq!(c.check(b"a", 5, 2000), Fresh);
        assert_eq!(c.check(b"a", 5, 1000), NotInTimeWindow);
        assert_eq!(
            c.check(b"b", 5, 1000),
            Fresh,
            "another engine has its own clock"
        );
        assert_eq!(c.check(b"a", 5, 1900), Timely);
        // The timely message did not pull the latest time back.
        assert_eq!(c.check(b"a", 5, 1849), NotInTimeWindow);
        assert_eq!(c.check(b"a", 5, 2000), Timely, "a replay is never fresh");
        assert_eq!(c.check(b"a", 6, 3), Fresh);
        assert_eq!(c.check(b"a", 5, 2500), NotInTimeWindow);
    }

    #[test]
    fn the_engines_remembered_stay_within_the_cap_least_recent_first() {
        let c = EngineClocks::with_cap(SHARDS * 2);
        for i in 0..1000u32 {
            c.check(&i.to_be_bytes(), 1, 100);
        }
        assert!(c.len() <= SHARDS * 2, "{}", c.len());
        assert_eq!(EngineClocks::default().per_shard * SHARDS, DEFAULT_ENGINES);
        // An engine seen again stays; its clock still says no to the past.
        let c = EngineClocks::with_cap(1);
        c.check(b"x", 3, 500);
        assert_eq!(c.check(b"x", 2, 500), NotInTimeWindow);
    }
}
