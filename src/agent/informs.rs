//! What ingest answers to an SNMP datagram: the v2c inform Response (decode/snmp/inform.rs), the
//! SNMPv3 discovery and time-window Reports and the v3 inform Response (`engine.rs`), and which
//! v3 informs are retransmissions not to store again.
//!
//! v2c informs are answered only when their community is accepted (`snmp.communities`; an
//! empty list accepts all): an inform the pipeline will reject must not be acknowledged as if
//! it had been received. It is still appended, so the pipeline counts it.
//!
//! Retransmissions: a sender that misses our Response sends the inform again, with the same
//! request-id (net-snmp also changes the msgID and may change its source port). An authentic v3
//! inform whose (contextEngineID, user, request-id) was accepted within [`RECENT_WINDOW`] is
//! answered again but not appended to the WAL again. The window covers the whole span in which
//! a copy can still pass the engine's time check: a copy is in time up to 150 s either side of
//! our clock, so for up to 300 s after the original was accepted. Keying on the sender's engine
//! ID rather than its address means a copy replayed from elsewhere is not stored again either.
//! The set is bounded ([`RECENT_MAX`], oldest forgotten first) and lives in memory only: after
//! a restart engineBoots has grown, so copies of informs accepted before it fail the time check.
//! v2c informs are not filtered (no authentication: anyone could suppress a sender's informs by
//! guessing request-ids).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{respond_v3, EngineState, ReplyKind, TIME_WINDOW};
use crate::decode::snmp::{inform_response, pdu, SharedUsm, Usm};

/// How long an accepted v3 inform is remembered: both sides of the engine's time window, and a
/// second for rounding.
pub const RECENT_WINDOW: Duration = Duration::from_secs(2 * TIME_WINDOW as u64 + 1);
/// Most informs remembered (about 100 a second over the window).
pub const RECENT_MAX: usize = 32_768;

/// (contextEngineID, user, request-id) of an accepted v3 inform.
type Key = (Vec<u8>, String, i64);

/// What to do with one SNMP datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Append it; once flushed, send `ack` (if any) and remember `key` (if any). `inform`: the
    /// ack is an inform Response (counted), not a Report.
    Store {
        ack: Option<Vec<u8>>,
        key: Option<Key>,
        inform: bool,
    },
    /// Do not append (a retransmission, or a message outside the time window); send `reply`.
    AnswerOnly { reply: Vec<u8>, inform: bool },
}

/// The SNMPv3 engine, the users, and the recently accepted v3 informs.
pub struct Informs {
    engine: Option<Arc<EngineState>>,
    /// v2c communities whose informs are answered; empty: all.
    communities: Vec<String>,
    /// The users in force (swapped on reload).
    usm: SharedUsm,
    started: Instant,
    recent: HashSet<Key>,
    order: VecDeque<(Instant, Key)>,
}

impl Informs {
    pub fn new(
        engine: Option<Arc<EngineState>>,
        communities: Vec<String>,
        usm: SharedUsm,
        started: Instant,
    ) -> Self {
        Informs {
            engine,
            communities,
            usm,
            started,
            recent: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    pub fn decide(&mut self, payload: &[u8], now: Instant) -> Decision {
        if let Some(ack) = inform_response(payload) {
            let accepted = self.community_accepted(payload);
            return Decision::Store {
                ack: accepted.then_some(ack),
                key: None,
                inform: accepted,
            };
        }
        let Some(engine) = &self.engine else {
            return Decision::Store {
                ack: None,
                key: None,
                inform: false,
            };
        };
        let time = u32::try_from(now.duration_since(self.started).as_secs()).unwrap_or(u32::MAX);
        let usm: Option<Arc<Usm>> = match self.usm.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(reply) = respond_v3(payload, engine, time, usm.as_deref()) else {
            return Decision::Store {
                ack: None,
                key: None,
                inform: false,
            };
        };
        match reply.kind {
            ReplyKind::Discovery => Decision::Store {
                ack: Some(reply.datagram),
                key: None,
                inform: false,
            },
            // RFC 3414 section 3.2 step 7: the message is discarded.
            ReplyKind::NotInTimeWindow => Decision::AnswerOnly {
                reply: reply.datagram,
                inform: false,
            },
            ReplyKind::Response {
                context_engine,
                user,
                request_id,
            } => {
                self.expire(now);
                let key = (context_engine, user, request_id);
                if self.recent.contains(&key) {
                    Decision::AnswerOnly {
                        reply: reply.datagram,
                        inform: true,
                    }
                } else {
                    Decision::Store {
                        ack: Some(reply.datagram),
                        key: Some(key),
                        inform: true,
                    }
                }
            }
        }
    }

    /// The inform of `key` is in the WAL: its retransmissions are answered, not stored.
    pub fn accepted(&mut self, key: Key, now: Instant) {
        if self.recent.insert(key.clone()) {
            self.order.push_back((now, key));
        }
        while self.order.len() > RECENT_MAX {
            if let Some((_, k)) = self.order.pop_front() {
                self.recent.remove(&k);
            }
        }
    }

    /// The community of a v1/v2c message is in `communities` (or the list is empty); compared as
    /// the pipeline does, on its lossy UTF-8 text.
    fn community_accepted(&self, payload: &[u8]) -> bool {
        if self.communities.is_empty() {
            return true;
        }
        match pdu::envelope(payload) {
            Ok(Ok(env)) => {
                let community = String::from_utf8_lossy(env.community);
                self.communities.iter().any(|c| *c == community)
            }
            _ => false,
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) < RECENT_WINDOW {
                break;
            }
            if let Some((_, k)) = self.order.pop_front() {
                self.recent.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: i64) -> Key {
        (b"sender".to_vec(), "u".into(), n)
    }

    /// A v2c InformRequest with community `c` and an empty varbind list.
    fn v2c_inform(c: &[u8]) -> Vec<u8> {
        let mut pdu = vec![
            0xa6, 0x0b, 0x02, 0x01, 0x05, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
        ];
        pdu.extend_from_slice(&[0x30, 0x00]);
        let mut body = vec![0x02, 0x01, 0x01, 0x04, c.len() as u8];
        body.extend_from_slice(c);
        body.extend_from_slice(&pdu);
        let mut out = vec![0x30, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn the_recent_set_is_bounded_and_forgets_after_the_whole_window() {
        let t0 = Instant::now();
        let mut i = Informs::new(None, Vec::new(), SharedUsm::default(), t0);
        for n in 0..(RECENT_MAX as i64 + 10) {
            i.accepted(key(n), t0);
        }
        assert_eq!(i.recent.len(), RECENT_MAX);
        assert!(!i.recent.contains(&key(0)));
        assert!(i.recent.contains(&key(RECENT_MAX as i64 + 9)));
        // A copy passes the time check up to 150 s either side of our clock.
        assert!(RECENT_WINDOW >= Duration::from_secs(2 * u64::from(TIME_WINDOW)));
        i.expire(t0 + Duration::from_secs(2 * u64::from(TIME_WINDOW)));
        assert_eq!(i.recent.len(), RECENT_MAX);
        i.expire(t0 + RECENT_WINDOW);
        assert!(i.recent.is_empty() && i.order.is_empty());
    }

    #[test]
    fn informs_are_told_apart_by_sender_engine_user_and_request_id_not_by_address() {
        let t0 = Instant::now();
        let mut i = Informs::new(None, Vec::new(), SharedUsm::default(), t0);
        i.accepted((b"engine-a".to_vec(), "u".into(), 7), t0);
        assert!(i.recent.contains(&(b"engine-a".to_vec(), "u".into(), 7)));
        assert!(!i.recent.contains(&(b"engine-b".to_vec(), "u".into(), 7)));
        assert!(!i.recent.contains(&(b"engine-a".to_vec(), "v".into(), 7)));
        assert!(!i.recent.contains(&(b"engine-a".to_vec(), "u".into(), 8)));
    }

    #[test]
    fn without_an_engine_only_v2c_informs_are_answered() {
        let mut i = Informs::new(None, Vec::new(), SharedUsm::default(), Instant::now());
        assert!(matches!(
            i.decide(&v2c_inform(b"p"), Instant::now()),
            Decision::Store {
                ack: Some(_),
                key: None,
                inform: true
            }
        ));
        assert_eq!(
            i.decide(b"junk", Instant::now()),
            Decision::Store {
                ack: None,
                key: None,
                inform: false
            }
        );
    }

    #[test]
    fn a_v2c_inform_is_answered_only_with_an_accepted_community() {
        let communities = vec!["public".to_owned()];
        let mut i = Informs::new(None, communities, SharedUsm::default(), Instant::now());
        assert!(matches!(
            i.decide(&v2c_inform(b"public"), Instant::now()),
            Decision::Store {
                ack: Some(_),
                inform: true,
                ..
            }
        ));
        // Stored all the same, so the pipeline counts the rejection.
        assert_eq!(
            i.decide(&v2c_inform(b"guessme"), Instant::now()),
            Decision::Store {
                ack: None,
                key: None,
                inform: false
            }
        );
    }
}
