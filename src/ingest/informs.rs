//! What ingest answers to an SNMP datagram: the v2c inform Response (decode/snmp/inform.rs), the
//! SNMPv3 discovery and time-window Reports and the v3 inform Response (decode/snmp/engine.rs),
//! and which v3 informs are retransmissions not to store again.
//!
//! Retransmissions: a sender that misses our Response sends the inform again, with the same
//! request-id (net-snmp also changes the msgID). An authentic v3 inform whose (source address,
//! user, request-id) was accepted within [`RECENT_WINDOW`] is answered again but not appended to
//! the WAL again. The set is bounded ([`RECENT_MAX`], oldest forgotten first) and lives in memory
//! only: after a restart, a retransmission of an inform accepted before it is stored twice.
//! v2c informs are not filtered (no authentication: anyone could suppress a sender's informs by
//! guessing request-ids).

use crate::pipeline::reload::SharedUsm;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::decode::snmp::engine::{respond_v3, EngineState, ReplyKind};
use crate::decode::snmp::{inform_response, Usm};

/// How long an accepted v3 inform is remembered (net-snmp retries 5 times, 1 s apart, by default).
pub const RECENT_WINDOW: Duration = Duration::from_secs(120);
/// Most informs remembered.
pub const RECENT_MAX: usize = 8192;

type Key = (SocketAddr, String, i64);

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
    /// The users in force (swapped on reload).
    usm: SharedUsm,
    started: Instant,
    recent: HashSet<Key>,
    order: VecDeque<(Instant, Key)>,
}

impl Informs {
    pub fn new(engine: Option<Arc<EngineState>>, usm: SharedUsm, started: Instant) -> Self {
        Informs {
            engine,
            usm,
            started,
            recent: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    pub fn decide(&mut self, payload: &[u8], source: SocketAddr, now: Instant) -> Decision {
        if let Some(ack) = inform_response(payload) {
            return Decision::Store {
                ack: Some(ack),
                key: None,
                inform: true,
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
            ReplyKind::Response { user, request_id } => {
                self.expire(now);
                let key = (source, user, request_id);
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
        ("127.0.0.1:9".parse().unwrap(), "u".into(), n)
    }

    #[test]
    fn the_recent_set_is_bounded_and_forgets_after_the_window() {
        let t0 = Instant::now();
        let mut i = Informs::new(None, SharedUsm::default(), t0);
        for n in 0..(RECENT_MAX as i64 + 10) {
            i.accepted(key(n), t0);
        }
        assert_eq!(i.recent.len(), RECENT_MAX);
        assert!(!i.recent.contains(&key(0)));
        assert!(i.recent.contains(&key(RECENT_MAX as i64 + 9)));
        i.expire(t0 + RECENT_WINDOW);
        assert!(i.recent.is_empty() && i.order.is_empty());
    }

    #[test]
    fn without_an_engine_only_v2c_informs_are_answered() {
        let mut i = Informs::new(None, SharedUsm::default(), Instant::now());
        let src = "127.0.0.1:9".parse().unwrap();
        let trap = [
            0x30, 0x13, 0x02, 0x01, 0x01, 0x04, 0x01, b'p', 0xa6, 0x0b, 0x02, 0x01, 0x05, 0x02,
            0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00,
        ];
        assert!(matches!(
            i.decide(&trap, src, Instant::now()),
            Decision::Store {
                ack: Some(_),
                key: None,
                inform: true
            }
        ));
        assert_eq!(
            i.decide(b"junk", src, Instant::now()),
            Decision::Store {
                ack: None,
                key: None,
                inform: false
            }
        );
    }
}
