//! Counters shared by the stages: every accepted, stored and dropped message, each drop with its
//! reason. Stages count per batch, not per message, where they can.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

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
    /// Datagrams and frames not accepted because the WAL's disk is full (ENOSPC/EDQUOT).
    pub dropped_disk_full: AtomicU64,
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
    /// Rows that failed for a reason of their own and were stored raw, with the reason.
    pub quarantined: AtomicU64,
    /// Records that could not be stored even raw: kept in `dead_letters`.
    pub dead_lettered: AtomicU64,
    /// The last WAL sequence committed to the database.
    pub checkpoint: AtomicU64,
    /// Records found missing at start: above the database's checkpoint, below the oldest WAL
    /// segment (lost data, reported with its range in the log).
    pub wal_gap_records: AtomicU64,
    /// Ingest state that `/health` reports: the WAL is at its budget and new load is shed.
    pub wal_shedding: AtomicBool,
    /// Ingest state that `/health` reports: the last WAL write failed for lack of disk space.
    pub wal_disk_full: AtomicBool,
    /// SNMPv3 messages not trusted (not stored unless `snmpv3.store_unauthenticated`, never
    /// matched), by reason (RFC 3414 section 5's usmStats, plus malformed and discovery).
    pub v3_rejected_unknown_user: AtomicU64,
    pub v3_rejected_wrong_digest: AtomicU64,
    pub v3_rejected_security_level: AtomicU64,
    pub v3_rejected_not_in_time_window: AtomicU64,
    pub v3_rejected_decryption: AtomicU64,
    pub v3_rejected_malformed: AtomicU64,
    pub v3_discovery_probes: AtomicU64,
    /// SNMPv3 failures of users not recorded: snmpv3_auth_failures was at its cap.
    pub v3_auth_failures_over_cap: AtomicU64,
    /// Messages from new addresses left without a device row: the devices table was at its cap.
    pub devices_over_cap: AtomicU64,
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

    /// Every counter: (name, meaning, value), in a fixed order.
    pub fn counters(&self) -> [(&'static str, &'static str, u64); 29] {
        let c = |name, help, v: &AtomicU64| (name, help, v.load(Relaxed));
        [
            c(
                "accepted_syslog_udp",
                "Syslog datagrams accepted into the WAL.",
                &self.accepted_syslog_udp,
            ),
            c(
                "accepted_syslog_tcp",
                "Syslog TCP frames accepted into the WAL.",
                &self.accepted_syslog_tcp,
            ),
            c(
                "accepted_syslog_tls",
                "Syslog TLS frames accepted into the WAL.",
                &self.accepted_syslog_tls,
            ),
            c(
                "accepted_snmp",
                "SNMP datagrams accepted into the WAL.",
                &self.accepted_snmp,
            ),
            c(
                "truncated",
                "Accepted messages cut at the size limit.",
                &self.truncated,
            ),
            c(
                "dropped_wal_full",
                "UDP datagrams dropped: the WAL was at its disk budget.",
                &self.dropped_wal_full,
            ),
            c(
                "dropped_disk_full",
                "Datagrams and frames dropped: the WAL disk was full.",
                &self.dropped_disk_full,
            ),
            c(
                "tcp_refused",
                "TCP/TLS connections refused at the connection cap.",
                &self.tcp_refused,
            ),
            c(
                "tcp_idle_closed",
                "TCP/TLS connections closed for idleness.",
                &self.tcp_idle_closed,
            ),
            c(
                "tls_handshake_failed",
                "TLS connections closed before the handshake completed.",
                &self.tls_handshake_failed,
            ),
            c(
                "informs_acked",
                "Inform Responses sent.",
                &self.informs_acked,
            ),
            c(
                "stored",
                "Messages committed to the database.",
                &self.stored,
            ),
            c(
                "discarded",
                "Messages a discard rule kept out of the database.",
                &self.discarded,
            ),
            c(
                "community_rejected",
                "SNMP v1/v2c messages with a community not accepted.",
                &self.community_rejected,
            ),
            c(
                "invalid",
                "Messages stored with validation errors.",
                &self.invalid,
            ),
            c(
                "store_retries",
                "Failed database commits, each retried.",
                &self.store_retries,
            ),
            c(
                "quarantined",
                "Messages that failed alone and were stored raw with the reason.",
                &self.quarantined,
            ),
            c(
                "dead_lettered",
                "Messages that could not be stored even raw, kept in dead_letters.",
                &self.dead_lettered,
            ),
            c(
                "wal_gap_records",
                "Records missing at start: above the checkpoint, below the oldest WAL segment.",
                &self.wal_gap_records,
            ),
            c(
                "checkpoint",
                "Last WAL sequence stored in the database.",
                &self.checkpoint,
            ),
            c(
                "v3_rejected_unknown_user",
                "SNMPv3 messages from an unknown user (or no users configured).",
                &self.v3_rejected_unknown_user,
            ),
            c(
                "v3_rejected_wrong_digest",
                "SNMPv3 messages whose MAC matches no credential.",
                &self.v3_rejected_wrong_digest,
            ),
            c(
                "v3_rejected_security_level",
                "SNMPv3 messages at a security level their user's credentials do not have.",
                &self.v3_rejected_security_level,
            ),
            c(
                "v3_rejected_not_in_time_window",
                "Authentic SNMPv3 messages older than their engine's clock allows.",
                &self.v3_rejected_not_in_time_window,
            ),
            c(
                "v3_rejected_decryption",
                "SNMPv3 messages with a matching MAC that did not decrypt.",
                &self.v3_rejected_decryption,
            ),
            c(
                "v3_rejected_malformed",
                "SNMPv3 messages whose header or USM parameters do not parse.",
                &self.v3_rejected_malformed,
            ),
            c(
                "v3_discovery_probes",
                "SNMPv3 engine discovery probes (answered by ingest, not stored).",
                &self.v3_discovery_probes,
            ),
            c(
                "v3_auth_failures_over_cap",
                "SNMPv3 failures not recorded per user: snmpv3_auth_failures was at its cap.",
                &self.v3_auth_failures_over_cap,
            ),
            c(
                "devices_over_cap",
                "New device addresses not recorded: the devices table was at its cap.",
                &self.devices_over_cap,
            ),
        ]
    }

    /// One log line with every counter.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (i, (name, _, v)) in self.counters().iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{name}={v}");
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
