//! Counters shared by the stages: every accepted, stored and dropped message, each drop with its
//! reason. Stages count per batch, not per message, where they can.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    /// Records appended to the WAL, by listener and transport.
    pub accepted_syslog_udp: AtomicU64,
    pub accepted_syslog_tcp: AtomicU64,
    pub accepted_syslog_tls: AtomicU64,
    pub accepted_snmp: AtomicU64,
    /// Accepted cut at the size limit (also counted as accepted).
    pub truncated: AtomicU64,
    /// UDP datagrams received but not accepted: the WAL was at its disk budget.
    pub dropped_wal_full: AtomicU64,
    /// TCP and TLS connections refused at their listener's connection cap.
    pub tcp_refused: AtomicU64,
    /// TCP and TLS connections closed for idleness.
    pub tcp_idle_closed: AtomicU64,
    /// TLS connections closed before their handshake completed: protocol errors, refused client
    /// certificates, plain-text clients, peers that hung up or went idle mid-handshake.
    pub tls_handshake_failed: AtomicU64,
    /// Inform Responses sent.
    pub informs_acked: AtomicU64,
    /// Rows committed to the database.
    pub stored: AtomicU64,
    /// Records a discard rule dropped (the checkpoint still advances).
    pub discarded: AtomicU64,
    /// v1/v2c traps whose community is not in `snmp.communities` (not stored).
    pub community_rejected: AtomicU64,
    /// Stored with validation errors.
    pub invalid: AtomicU64,
    /// Failed batch commits (each retried until it succeeds).
    pub store_retries: AtomicU64,
    /// The last WAL sequence committed to the database.
    pub checkpoint: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    /// One log line with every counter.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let fields: [(&str, &AtomicU64); 16] = [
            ("accepted_syslog_udp", &self.accepted_syslog_udp),
            ("accepted_syslog_tcp", &self.accepted_syslog_tcp),
            ("accepted_syslog_tls", &self.accepted_syslog_tls),
            ("accepted_snmp", &self.accepted_snmp),
            ("truncated", &self.truncated),
            ("dropped_wal_full", &self.dropped_wal_full),
            ("tcp_refused", &self.tcp_refused),
            ("tcp_idle_closed", &self.tcp_idle_closed),
            ("tls_handshake_failed", &self.tls_handshake_failed),
            ("informs_acked", &self.informs_acked),
            ("stored", &self.stored),
            ("discarded", &self.discarded),
            ("community_rejected", &self.community_rejected),
            ("invalid", &self.invalid),
            ("store_retries", &self.store_retries),
            ("checkpoint", &self.checkpoint),
        ];
        for (i, (name, v)) in fields.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{name}={}", v.load(Relaxed));
        }
        s
    }
}

/// The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets), from
/// /proc/net/snmp `Udp: ... RcvbufErrors`. None where the file is not there.
pub fn udp_rcvbuf_errors() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let header = udp.next()?;
    let values = udp.next()?;
    let col = header
        .split_whitespace()
        .position(|h| h == "RcvbufErrors")?;
    values.split_whitespace().nth(col)?.parse().ok()
}
